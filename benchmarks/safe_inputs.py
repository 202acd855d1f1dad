"""What the bad-input safety costs: reading an image with `read_file` (open without blocking,
check it is a regular file) against `Path.read_bytes`, and loading a manifest with the outside-root
and listed-twice checks against the same table without them.

    python benchmarks/safe_inputs.py [--files 2000] [--rows 100000] [--repeat 5]

Both sides run in this process on the same warm files, alternating, best of `--repeat`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from pitfalls.files import read_file
from pitfalls.inputs import _listed_twice, _refuse_outside, normalise_table, read_table


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
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
        old = best(lambda: [p.read_bytes() for p in paths], args.repeat)
        new = best(lambda: [read_file(p) for p in paths], args.repeat)
        print(f"read {args.files} JPEGs: Path.read_bytes {old * 1e6 / args.files:.1f} us/file, "
              f"read_file {new * 1e6 / args.files:.1f} us/file, ratio {new / old:.2f}")

        rows = [f"img/{i % 4}/{i:06d}.jpg" for i in range(args.rows)]
        (root / "m.csv").write_text("path,label\n" + "\n".join(f"{r},c{i % 7}" for i, r in
                                                             enumerate(rows)) + "\n")

        def plain() -> None:
            normalise_table(read_table(root / "m.csv"), "m.csv")

        def checked() -> None:
            table = normalise_table(read_table(root / "m.csv"), "m.csv")
            entries = _refuse_outside(table["path"], root, "m.csv")
            _listed_twice(table, entries, "m.csv")

        base = best(plain, args.repeat)
        full = best(checked, args.repeat)
        print(f"manifest of {args.rows:,} rows: read+normalise {base:.3f} s, with the outside-root "
              f"and listed-twice checks {full:.3f} s, ratio {full / base:.2f}")


if __name__ == "__main__":
    main()
