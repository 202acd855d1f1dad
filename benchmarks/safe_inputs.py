"""What the bad-input safety costs: reading an image with `read_file` (open without blocking,
check it is a regular file) against `Path.read_bytes`, and loading a manifest with the outside-root
and listed-twice checks against the same table without them, and the CSV reader (whole file
read, encoding and separator detected) against `pandas.read_csv` on the path.

    python benchmarks/safe_inputs.py [--files 2000] [--rows 100000] [--repeat 5]

Both sides run in this process on the same warm files, in turns, `--repeat` rounds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pitfalls.files import read_file
from pitfalls.inputs import _listed_twice, _normal_forms, normalise_table, read_table


def compare(old: Callable[[], object], new: Callable[[], object], repeat: int,
            ) -> tuple[float, float, float]:
    """Best time of each and the median of their ratio, the two run in turns (a busy machine
    slows both alike within a round)."""
    olds, news = [], []
    for _ in range(repeat):
        for fn, times in ((old, olds), (new, news)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    ratio = float(np.median(np.array(news) / np.array(olds)))
    return min(olds), min(news), ratio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        paths = []
        for i in range(args.files):
            path = root / "img" / f"{i // 500}" / f"{i:06d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((rng.random((96, 128, 3)) * 255).astype(np.uint8)).save(path,
                                                                                   quality=90)
            paths.append(path)
        old, new, ratio = compare(lambda: [p.read_bytes() for p in paths],
                                  lambda: [read_file(p) for p in paths], args.repeat)
        print(f"read {args.files} JPEGs: Path.read_bytes {old * 1e6 / args.files:.1f} us/file, "
              f"read_file {new * 1e6 / args.files:.1f} us/file (best of {args.repeat}), "
              f"median ratio {ratio:.2f}")

        rows = [f"img/{i % 4}/{i:06d}.jpg" for i in range(args.rows)]
        (root / "m.csv").write_text("path,label\n" + "\n".join(f"{r},c{i % 7}" for i, r in
                                                             enumerate(rows)) + "\n")

        old, new, ratio = compare(
            lambda: pd.read_csv(root / "m.csv", sep=",", dtype=str, keep_default_na=True),
            lambda: read_table(root / "m.csv"), args.repeat)
        print(f"CSV of {args.rows:,} rows: pandas.read_csv {old:.3f} s, read_table (read_file, "
              f"encoding and separator detection) {new:.3f} s (best of {args.repeat}), median "
              f"ratio {ratio:.2f}")

        def plain() -> None:
            normalise_table(read_table(root / "m.csv"), "m.csv")

        def checked() -> None:
            table = normalise_table(read_table(root / "m.csv"), "m.csv")
            forms, _ = _normal_forms(table["path"], root)
            _listed_twice(table, forms, root, "m.csv")

        base, full, ratio = compare(plain, checked, args.repeat)
        print(f"manifest of {args.rows:,} rows: read+normalise {base:.3f} s, with the outside-root "
              f"and listed-twice checks {full:.3f} s (best of {args.repeat}), median ratio "
              f"{ratio:.2f}")


if __name__ == "__main__":
    main()
