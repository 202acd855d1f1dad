"""Scanning images stored in shards: speed and memory against the same images in a folder.

    python benchmarks/shards_scan.py --sizes 500,5000

For each N it draws N JPEGs (as `scan_speed.py` does), lays them out as a folder and as
Parquet shards of 500 images each (the `datasets` layout: `image` a struct of bytes and path,
row groups of 100), WebDataset `.tar` shards and one zip, and runs a cold `pitfalls scan` on each
in its own subprocess, measuring wall time and the peak resident memory of the process tree. The
folder is the baseline measured in the same run; memory should stay flat as N grows tenfold
(images are read a row group or a member at a time, never unpacked).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_speed import dataset, make_images, measure  # noqa: E402

SHARD = 500


def to_parquet(folder: Path, out: Path) -> Path:
    files = sorted(folder.rglob("*.jpg"))
    out.mkdir(parents=True, exist_ok=True)
    for k in range(0, len(files), SHARD):
        part = files[k:k + SHARD]
        table = pa.table({"image": [{"bytes": p.read_bytes(), "path": p.name} for p in part],
                          "label": [p.parent.name for p in part]})
        pq.write_table(table, out / f"train-{k // SHARD:05d}.parquet", row_group_size=100)
    return out


def to_tars(folder: Path, out: Path) -> Path:
    files = sorted(folder.rglob("*.jpg"))
    out.mkdir(parents=True, exist_ok=True)
    for k in range(0, len(files), SHARD):
        with tarfile.open(out / f"train-{k // SHARD:06d}.tar", "w") as tar:
            for p in files[k:k + SHARD]:
                for ext, data in (("jpg", p.read_bytes()), ("cls", p.parent.name.encode())):
                    info = tarfile.TarInfo(f"{p.stem}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return out


def to_zip(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for p in sorted(folder.rglob("*.jpg")):
            z.write(p, p.relative_to(folder).as_posix())
    return out


KINDS = ("folder", "parquet", "webdataset", "zip")


def build(kind: str, folder: Path, work: Path, n: int) -> Path:
    """The folder's images stored as `kind`."""
    if kind == "parquet":
        return to_parquet(folder, work / f"parquet_{n}")
    if kind == "webdataset":
        return to_tars(folder, work / f"tar_{n}")
    if kind == "zip":
        return to_zip(folder, work / f"photos_{n}.zip")
    return folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="500,5000", help="comma-separated image counts")
    ap.add_argument("--workdir", type=Path, default=None, help="keep files here (default: temp)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--inputs", default="folder,parquet,webdataset,zip",
                    help="which storages to scan (the folder is always the baseline)")
    args = ap.parse_args(argv)
    wanted = {"folder", *args.inputs.split(",")}
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pitfalls-shards-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sorted({int(s) for s in args.sizes.split(",") if s.strip()}):
        pool = make_images(work / "pool", n, 2)
        folder = dataset(pool, work / "pool", work / f"folder_{n}")
        for kind in [k for k in KINDS if k in wanted]:
            data = build(kind, folder, work, n)
            cache = work / f"cache_{kind}_{n}"
            shutil.rmtree(cache, ignore_errors=True)
            m = measure([sys.executable, "-m", "pitfalls", "scan", str(data), "--out",
                         str(work / f"report_{kind}_{n}"), "--cache", str(cache),
                         "--fail-on", "never"])
            rows.append({"n": n, "input": kind, **m})
            print(f"N={n:>6} {kind:<10} {m['wall_s']:7.1f}s  {m['peak_rss_mb']:6.0f} MiB  "
                  f"rc={m['rc']}", flush=True)
    print()
    print(f"{'N':>7} | {'input':<10} | {'wall s':>7} | {'vs folder':>9} | {'peak MiB':>8} | "
          f"{'vs folder':>9}")
    base = {r["n"]: r for r in rows if r["input"] == "folder"}
    for r in rows:
        b = base[r["n"]]
        print(f"{r['n']:>7} | {r['input']:<10} | {r['wall_s']:7.1f} | "
              f"{r['wall_s'] / b['wall_s']:8.2f}x | {r['peak_rss_mb']:8.0f} | "
              f"{r['peak_rss_mb'] / b['peak_rss_mb']:8.2f}x")
    sizes = sorted(base)
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        for kind in [k for k in KINDS if k in wanted]:
            a = next(r for r in rows if r["n"] == lo and r["input"] == kind)
            b = next(r for r in rows if r["n"] == hi and r["input"] == kind)
            ratio = b["peak_rss_mb"] / a["peak_rss_mb"]
            print(f"{kind:<10}: {hi // lo}x the images -> {ratio:.2f}x "
                  f"the peak memory (+{b['peak_rss_mb'] - a['peak_rss_mb']:.0f} MiB)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
