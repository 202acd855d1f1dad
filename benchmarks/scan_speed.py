"""Scan speed and memory: `pitfalls scan` against CleanVision's `find_issues` on the same folder.

    python benchmarks/scan_speed.py --sizes 1000,4000,16000

For each N it generates N realistic 512x384 JPEGs (fruit on a conveyor belt, drawn like the demo's,
in four class folders), then runs, each in its own subprocess and on the same folder:

- a cold `pitfalls scan` (fresh feature cache, default workers, the full report written), and
- CleanVision's `Imagelab(data_path=...).find_issues()` (skipped with a message when CleanVision
  is not installed: `pip install ".[bench]"`),

measuring wall time, images per second and the peak resident memory of the whole process tree
(the sum over the process and all its children, polled with psutil), and prints a table. Both
packages are byte-compiled first, as `pip install` leaves them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil

SIZE = (512, 384)
CLASSES = ("apple", "lemon", "lime", "plum")

CLEANVISION_JOB = """
import sys
from cleanvision import Imagelab
lab = Imagelab(data_path=sys.argv[1])
lab.find_issues()
"""


def _draw(args: tuple[int, Path]) -> None:
    from pitfalls.demo import draw_scene

    i, path = args
    rng = np.random.default_rng((7, i))
    label = CLASSES[i % len(CLASSES)]
    draw_scene(rng, label, SIZE).save(path, "JPEG", quality=int(rng.integers(82, 95)))


def make_images(pool_dir: Path, n: int, workers: int) -> list[Path]:
    """Images 0..n-1 in `pool_dir/<class>/` (reusing those already drawn)."""
    paths = [pool_dir / CLASSES[i % len(CLASSES)] / f"img_{i:06d}.jpg" for i in range(n)]
    for c in CLASSES:
        (pool_dir / c).mkdir(parents=True, exist_ok=True)
    todo = [(i, p) for i, p in enumerate(paths) if not p.exists()]
    if todo:
        with ProcessPoolExecutor(workers) as ex:
            list(ex.map(_draw, todo, chunksize=32))
    return paths


def dataset(pool: list[Path], pool_dir: Path, folder: Path) -> Path:
    """A folder holding exactly these images (hard links where possible, else copies)."""
    if folder.exists():
        shutil.rmtree(folder)
    for p in pool:
        target = folder / p.relative_to(pool_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(p, target)
        except OSError:
            shutil.copy2(p, target)
    return folder


def byte_compile(*packages: str) -> None:
    """Write the packages' byte-code where it is missing, as `pip install` does. An editable
    install run with PYTHONDONTWRITEBYTECODE set never gets any and recompiles every module on
    every run (about 0.4 s of CPU for pitfalls), a cost no installed copy has."""
    import compileall

    for name in packages:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(location, quiet=1)


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run `cmd`; return wall seconds, peak tree RSS (MiB) and the exit code.

    Its stderr goes to a file, not a pipe: a tool that writes progress bars for minutes (as
    CleanVision does) would fill a pipe nobody reads and stall."""
    with tempfile.TemporaryFile() as log:
        return _measure(cmd, env, log)


def _measure(cmd: list[str], env: dict[str, str] | None, log: Any) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            rss = 0
            for p in tree:
                with contextlib.suppress(psutil.Error):  # a child may exit meanwhile
                    rss += p.memory_info().rss
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    log.seek(0)
    stderr = log.read().decode(errors="replace")
    if proc.returncode != 0:
        print(f"  ! {cmd[2] if len(cmd) > 2 else cmd} exited {proc.returncode}:\n{stderr[-2000:]}",
              file=sys.stderr)
    return {"wall_s": wall, "peak_rss_mb": peak / 2**20, "rc": proc.returncode}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,4000", help="comma-separated image counts")
    ap.add_argument("--workdir", type=Path, default=None, help="keep images here (default: temp)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--no-cleanvision", action="store_true", help="time pitfalls only")
    args = ap.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pitfalls-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    have_cv = not args.no_cleanvision and importlib.util.find_spec("cleanvision") is not None
    if not args.no_cleanvision and not have_cv:
        print("CleanVision is not installed (pip install '.[bench]'): pitfalls only.")
    byte_compile("pitfalls", *(["cleanvision"] if have_cv else []))
    cpus = os.cpu_count() or 1
    print(f"machine: {cpus} CPU(s), {psutil.virtual_memory().total / 2**30:.1f} GiB RAM; "
          f"images {SIZE[0]}x{SIZE[1]} JPEG; work folder {work}")
    results = []
    pool_dir = work / "pool"
    for n in sizes:
        t0 = time.perf_counter()
        pool = make_images(pool_dir, n, cpus)
        folder = dataset(pool, pool_dir, work / f"data_{n}")
        print(f"N={n}: images ready in {time.perf_counter() - t0:.1f}s", flush=True)
        cache = work / f"cache_{n}"
        shutil.rmtree(cache, ignore_errors=True)
        row = {"n": n, "pitfalls": measure(  # the console command, as a user runs it
            [sys.executable, "-m", "pitfalls", "scan", str(folder), "--out",
             str(work / f"report_{n}"), "--cache", str(cache), "--fail-on", "never"])}
        print(f"  pitfalls    {row['pitfalls']['wall_s']:8.1f}s", flush=True)
        if have_cv:
            row["cleanvision"] = measure([sys.executable, "-c", CLEANVISION_JOB, str(folder)])
            print(f"  cleanvision {row['cleanvision']['wall_s']:8.1f}s", flush=True)
        results.append(row)
    print()
    print(f"{'N':>7} | {'tool':<11} | {'wall s':>8} | {'images/s':>9} | {'peak RSS MiB':>12}")
    print("-" * 60)
    for row in results:
        for tool in ("pitfalls", "cleanvision"):
            if tool in row:
                m = row[tool]
                m["images_per_s"] = row["n"] / m["wall_s"]
                print(f"{row['n']:>7} | {tool:<11} | {m['wall_s']:8.1f} | "
                      f"{m['images_per_s']:9.1f} | {m['peak_rss_mb']:12.0f}")
        if "cleanvision" in row:
            row["speed_ratio"] = (row["pitfalls"]["images_per_s"]
                                  / row["cleanvision"]["images_per_s"])
            row["memory_ratio"] = row["pitfalls"]["peak_rss_mb"] / row["cleanvision"]["peak_rss_mb"]
            print(f"{'':>7} | speed pitfalls/CleanVision: {row['speed_ratio']:.1f}x; "
                  f"memory pitfalls/CleanVision: {row['memory_ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"cpus": cpus, "rows": results}, indent=2))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
