"""Scale: throughput, memory against N, duplicate-search cost against N, and a cluster projection.

    python benchmarks/scale.py --sizes 10000,50000,100000
    python benchmarks/scale.py --quick            # 2,000 and 5,000 images, a few minutes

It generates N small realistic JPEGs (160x120 scenes in four class folders under train/ and test/,
with a near-duplicate planted every 500 images), then measures, each scan in its own subprocess:

1. images/s of feature extraction with 1 and 2 local worker processes (at the first size);
2. the peak resident memory of the driver (the scanning process) and of the largest worker process
   (psutil polls the process tree every 50 ms) during a full cold `pitfalls.scan` with 2 workers at
   every size;
3. the duplicate-search time (neighbour index + exact verification of the candidates, on clustered
   131-d unit vectors like the default embedding, with planted near-copies) against N, for the
   approximate index, the exact one and `auto` (what a scan uses), with the exponent fitted on a
   log-log scale;

and prints a projection of time and cost for 1M and 10M images on a cluster from these figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import psutil

SIZE = (160, 120)
CLASSES = ("bolt", "nut", "washer", "screw")
DUP_EVERY = 500

SCAN_JOB = """
import json, sys, time
import pitfalls
folder, cache, workers, mode, out = sys.argv[1:6]
marks = {"start": time.perf_counter()}
def progress(phase, done, total):
    if phase == "features":
        marks.setdefault("features_first", time.perf_counter())
        if done >= total:
            marks["features_done"] = time.perf_counter()
if mode == "features":
    from pitfalls.pipeline import build_context
    from pitfalls.config import find_config
    cfg = find_config().merged(workers=int(workers))
    ctx = build_context(folder, cfg, cache=False, progress=progress)
    n_findings = None
else:
    report = pitfalls.scan(folder, workers=int(workers), cache=cache, progress=progress,
                           fail_on="never")
    n_findings = len(report.findings)
marks["end"] = time.perf_counter()
json.dump({"features_s": marks.get("features_done", marks["end"]) - marks["start"],
           "total_s": marks["end"] - marks["start"], "n_findings": n_findings},
          open(out, "w"))
"""


def _draw(args: tuple[int, str]) -> None:
    """One scene: a lit background, a few parts (ellipses and bars), sensor noise, JPEG."""
    from PIL import Image, ImageDraw

    i, path = args
    if i % DUP_EVERY == DUP_EVERY - 1:  # a near-duplicate: re-encoded, slightly cropped copy
        src = Path(path).parent.parent.parent / _rel(i - DUP_EVERY // 2)
        with Image.open(src) as im:
            w, h = im.size
            im.convert("RGB").crop((3, 2, w - 3, h - 2)).resize(SIZE).save(path, "JPEG",
                                                                            quality=70)
        return
    r = np.random.default_rng((11, i))
    base = r.uniform(60, 200, 3)
    ramp = np.linspace(0.8, 1.2, SIZE[0])[None, :, None] * np.linspace(1.1, 0.9, SIZE[1])[:, None,
                                                                                         None]
    img = Image.fromarray(np.clip(base * ramp, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(int(r.integers(2, 6))):
        x, y = r.integers(0, SIZE[0]), r.integers(0, SIZE[1])
        w, h = r.integers(10, 50), r.integers(10, 40)
        colour = tuple(int(c) for c in r.integers(0, 255, 3))
        if (i + _) % 2:
            d.ellipse((x, y, x + w, y + h), fill=colour)
        else:
            d.rectangle((x, y, x + w, y + h // 3), fill=colour)
    arr = np.asarray(img, dtype=np.int16) + r.normal(0, 4, (SIZE[1], SIZE[0], 3)).astype(np.int16)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(
        path, "JPEG", quality=int(r.integers(80, 95)))


def _rel(i: int) -> str:
    split = "test" if i % 5 == 0 else "train"
    return f"{split}/{CLASSES[i % len(CLASSES)]}/img_{i:07d}.jpg"


def make_images(pool_dir: Path, n: int, workers: int) -> None:
    """Images 0..n-1 under `pool_dir` (reusing those already drawn); copies after their sources."""
    for split in ("train", "test"):
        for c in CLASSES:
            (pool_dir / split / c).mkdir(parents=True, exist_ok=True)
    todo = [(i, str(pool_dir / _rel(i))) for i in range(n) if not (pool_dir / _rel(i)).exists()]
    originals = [t for t in todo if t[0] % DUP_EVERY != DUP_EVERY - 1]
    copies = [t for t in todo if t[0] % DUP_EVERY == DUP_EVERY - 1]
    if workers <= 1:
        for job in originals + copies:
            _draw(job)
        return
    with ProcessPoolExecutor(workers) as ex:
        list(ex.map(_draw, originals, chunksize=256))
        list(ex.map(_draw, copies, chunksize=64))


def dataset(pool_dir: Path, n: int, folder: Path) -> Path:
    """A folder holding images 0..n-1 (hard links where possible, else copies)."""
    if folder.exists():
        shutil.rmtree(folder)
    for i in range(n):
        rel = _rel(i)
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(pool_dir / rel, target)
        except OSError:
            shutil.copy2(pool_dir / rel, target)
    return folder


def measure(cmd: list[str]) -> dict[str, float]:
    """Run `cmd`; peak RSS (MiB) of the driver and of the largest child, the largest child's own
    memory (USS), and the tree (driver RSS + children's USS, so shared pages count once)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    driver = worker = worker_own = tree = 0
    while proc.poll() is None:
        total = 0
        with contextlib.suppress(psutil.Error):
            rss = root.memory_info().rss
            driver, total = max(driver, rss), rss
            for child in root.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # a child may exit meanwhile
                    # RSS counts the pages a forked worker still shares with the driver (its
                    # copy of the input table, which grows with N); USS is what the worker
                    # itself allocated.
                    info = child.memory_full_info()
                    worker, total = max(worker, info.rss), total + info.uss
                    worker_own = max(worker_own, info.uss)
        tree = max(tree, total)
        time.sleep(0.05)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        print(f"  ! scan exited {proc.returncode}:\n{err[-3000:]}", file=sys.stderr)
    mib = 2**20
    return {"driver_mib": driver / mib, "worker_mib": worker / mib,
            "worker_own_mib": worker_own / mib, "tree_mib": tree / mib,
            "rc": proc.returncode}


def run_scan(folder: Path, work: Path, workers: int, mode: str) -> dict[str, float]:
    cache = work / f"cache_{folder.name}_{workers}_{mode}"
    shutil.rmtree(cache, ignore_errors=True)
    out = work / f"times_{folder.name}_{workers}_{mode}.json"
    mem = measure([sys.executable, "-c", SCAN_JOB, str(folder), str(cache), str(workers), mode,
                   str(out)])
    shutil.rmtree(cache, ignore_errors=True)
    times = json.loads(out.read_text()) if out.exists() else {}
    return {**mem, **times}


def embeddings(n: int, seed: int = 0, d: int = 131) -> np.ndarray:
    """Clustered unit vectors (many scenes, each photographed many times) with planted copies."""
    r = np.random.default_rng(seed)
    centres = r.standard_normal((max(8, n // 100), d)).astype(np.float32)
    x = centres[r.integers(0, len(centres), n)] * 0.45 + r.standard_normal((n, d), np.float32)
    k = n // DUP_EVERY
    x[r.choice(n, k, replace=False)] = x[r.choice(n, k, replace=False)] + 0.03 * r.standard_normal(
        (k, d), np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def dup_search(x: np.ndarray, method: str, threshold: float = 0.90) -> tuple[float, int]:
    """CPU seconds (all threads of this process: steadier than wall time on a shared machine) for
    candidates + exact part-wise verification (as the near-duplicate links do), and the pairs."""
    from pitfalls.features.embedding import LUMA_DIMS
    from pitfalls.neighbors import make_index, pair_scores

    t0 = time.process_time()
    i, j, s = make_index(x, method).pairs(threshold, 50)
    luma = x[:, :LUMA_DIMS] / np.linalg.norm(x[:, :LUMA_DIMS], axis=1, keepdims=True)
    chroma = x[:, LUMA_DIMS:] / np.linalg.norm(x[:, LUMA_DIMS:], axis=1, keepdims=True)
    ok = (s >= threshold) & (pair_scores(luma, i, j) >= 0.88) & (pair_scores(chroma, i, j) >= 0.85)
    return time.process_time() - t0, int(ok.sum())


def fit_exponent(ns: list[int], ts: list[float]) -> float:
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0]) if len(ns) >= 2 else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,50000,100000", help="image counts to scan")
    ap.add_argument("--search-sizes", default=None,
                    help="embedding counts for the duplicate search (default: the --sizes, plus "
                         "intermediate points)")
    ap.add_argument("--quick", action="store_true", help="2,000 and 5,000 images")
    ap.add_argument("--skip-scan", action="store_true", help="only the duplicate search")
    ap.add_argument("--skip-search", action="store_true", help="only the scans")
    ap.add_argument("--no-throughput", action="store_true",
                    help="skip the 1- and 2-worker feature runs at the first size")
    ap.add_argument("--workdir", type=Path, default=None, help="keep images here (default: temp)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--cores", type=int, default=256, help="projection: cluster cores")
    ap.add_argument("--price", type=float, default=0.04, help="projection: $ per core-hour")
    ap.add_argument("--per-core", type=float, default=None,
                    help="projection: images/s of one worker (default: measured with 1 worker)")
    args = ap.parse_args(argv)
    sizes = [2000, 5000] if args.quick else sorted({int(s) for s in args.sizes.split(",") if s})
    if args.search_sizes:
        search = sorted({int(s) for s in args.search_sizes.split(",") if s})
    else:
        lo, hi = sizes[0], sizes[-1]
        search = sorted({int(v) for v in np.geomspace(lo, hi, 5).round(-2)} | set(sizes))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pitfalls-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cpus} CPU(s), {psutil.virtual_memory().total / 2**30:.1f} GiB RAM; "
          f"images {SIZE[0]}x{SIZE[1]} JPEG; work folder {work}", flush=True)
    res: dict = {"machine": {"cpus": cpus}, "scan": [], "search": []}

    if not args.skip_scan:
        pool_dir = work / "pool"
        for k, n in enumerate(sizes):
            t0 = time.perf_counter()
            make_images(pool_dir, n, cpus or 1)
            folder = dataset(pool_dir, n, work / f"data_{n}")
            print(f"N={n:,}: images ready in {time.perf_counter() - t0:.0f} s", flush=True)
            if k == 0 and not args.no_throughput:
                for w in (1, 2):
                    r = run_scan(folder, work, w, "features")
                    r.update(n=n, workers=w, mode="features")
                    res["scan"].append(r)
                    print(f"  features, {w} worker(s): {r.get('features_s', float('nan')):.0f} s,"
                          f" {n / r.get('features_s', float('nan')):.0f} images/s", flush=True)
            r = run_scan(folder, work, 2, "scan")
            r.update(n=n, workers=2, mode="scan")
            res["scan"].append(r)
            print(f"  full scan, 2 workers: {r.get('total_s', float('nan')):.0f} s (features "
                  f"{r.get('features_s', float('nan')):.0f} s), driver {r['driver_mib']:.0f} MiB, "
                  f"largest worker {r['worker_mib']:.0f} MiB RSS / "
                  f"{r['worker_own_mib']:.0f} MiB own "
                  f"(USS), tree {r['tree_mib']:.0f} MiB, "
                  f"{r.get('n_findings')} findings", flush=True)
            shutil.rmtree(folder, ignore_errors=True)

    from pitfalls.neighbors import ANN_MIN, have_faiss

    methods = ["hnsw", "auto", "exact"] if have_faiss() else ["exact"]
    for n in [] if args.skip_search else search:
        x = embeddings(n)
        row = {"n": n}
        for m in methods:
            if m == "exact" and n > 100_000:
                continue
            w0 = time.perf_counter()
            row[m], row[f"{m}_pairs"] = dup_search(x, m)
            row[f"{m}_wall"] = time.perf_counter() - w0
        res["search"].append(row)
        print(f"  search N={n:>8,}: " + ", ".join(
            f"{m} {row[m]:.2f} CPU s / {row[m + '_wall']:.2f} s wall ({row[m + '_pairs']} pairs)"
            for m in methods if m in row), flush=True)
    fits = {}
    for m in methods:
        pts = [(r["n"], r[m]) for r in res["search"] if m in r and r["n"] >= min(search)]
        fits[m] = fit_exponent([p[0] for p in pts], [p[1] for p in pts])
    res["exponent"] = fits
    res["ann_min"] = ANN_MIN

    print("\nDuplicate search (neighbours + exact verification), CPU seconds:")
    print(f"{'N':>9} | " + " | ".join(f"{m:>8}" for m in methods) + " | pairs")
    for r in res["search"]:
        print(f"{r['n']:>9,} | " + " | ".join(f"{r.get(m, float('nan')):8.2f}" for m in methods)
              + f" | {r.get(methods[0] + '_pairs')}")
    print(f"fitted exponent (t ~ N^b) between {min(search):,} and {max(search):,}: "
          + ", ".join(f"{m} b={b:.2f}" for m, b in fits.items()))

    scans = [r for r in res["scan"] if r["mode"] == "scan" and r.get("rc") == 0]
    if scans:
        print("\nFull cold scan (2 workers):")
        print(f"{'N':>9} | {'total s':>8} | {'feat. s':>8} | {'img/s':>6} | {'driver MiB':>10} | "
              f"{'worker MiB':>10} | {'own (USS)':>9}")
        for r in scans:
            print(f"{r['n']:>9,} | {r['total_s']:8.0f} | {r['features_s']:8.0f} | "
                  f"{r['n'] / r['features_s']:6.0f} | {r['driver_mib']:10.0f} | "
                  f"{r['worker_mib']:10.0f} | {r['worker_own_mib']:9.0f}")
        lo, hi = scans[0], scans[-1]
        if hi["n"] > lo["n"]:
            print(f"worker peak at {hi['n']:,} vs {lo['n']:,}: "
                  f"{100 * (hi['worker_mib'] / lo['worker_mib'] - 1):+.0f}% RSS, "
                  f"{100 * (hi['worker_own_mib'] / lo['worker_own_mib'] - 1):+.0f}% own (USS); "
                  "driver at "
                  f"{hi['n']:,}: {hi['driver_mib'] / 1024:.2f} GiB")
    project(res, args.cores, args.price, args.per_core)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


def project(res: dict, cores: int, price: float, per_core: float | None = None) -> None:
    """Time and cost for 1M and 10M images from the measured per-core rate and search exponent."""
    one = [r for r in res["scan"] if r["mode"] == "features" and r["workers"] == 1
           and r.get("rc") == 0]
    hnsw = [r for r in res["search"] if "hnsw" in r]
    if not (one or per_core) or not hnsw:
        return
    per_core = per_core or one[0]["n"] / one[0]["features_s"]
    b = res["exponent"].get("hnsw", 1.0)
    last = hnsw[-1]
    print(f"\nProjection (assumptions: {cores} worker cores like this machine's, each at the "
          f"measured {per_core:.0f} images/s for {SIZE[0]}x{SIZE[1]} JPEGs; 90% parallel "
          f"efficiency; ${price:.3f} per core-hour; the duplicate search as CPU time on the driver "
          f"extrapolated as N^{b:.2f} from {last['n']:,}; full-size photos decode ~10-20x "
          f"slower, so scale the feature time accordingly):")
    for n in (1_000_000, 10_000_000):
        feat_h = n / (per_core * cores * 0.9) / 3600
        search_h = last["hnsw"] * (n / last["n"]) ** b / 3600
        cost = (feat_h * cores + search_h) * price
        emb_gib = n * 131 * 4 * 2 / 2**30  # vectors + the HNSW copy and graph, roughly
        print(f"  {n:>10,} images: features {feat_h * 60:6.1f} min on {cores} cores, duplicate "
              f"search {search_h * 60:6.1f} min, about ${cost:,.2f}; driver holds ~{emb_gib:.1f} "
              f"GiB of embeddings and index")


if __name__ == "__main__":
    raise SystemExit(main())
