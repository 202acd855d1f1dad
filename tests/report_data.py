"""A small dataset for the report tests: unique 'photos', a cross-split copy, a broken file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image


def photo(path: Path, seed: int, size: tuple[int, int] = (96, 72), **save: object) -> Path:
    """A small unique 'photo': a random colour field with a random block on it."""
    rng = np.random.default_rng(seed)
    w, h = size
    a = (rng.random((h, w, 3)) * 90 + rng.integers(0, 150, 3)).astype(np.uint8)
    x, y = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    a[y:y + h // 3, x:x + w // 3] = rng.integers(0, 255, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path, format="JPEG", quality=90, **save)
    return path


def make_dataset(root: Path) -> Path:
    """train/{cat 12, dog 4}, test/{cat 3, dog 2}, an exact cross-split copy and a broken file."""
    seed = 0
    for split, counts in (("train", {"cat": 12, "dog": 4}), ("test", {"cat": 3, "dog": 2})):
        for label, n in counts.items():
            for i in range(n):
                seed += 1
                photo(root / split / label / f"{label}_{split}_{i:02d}.jpg", seed)
    shutil.copy(root / "train" / "cat" / "cat_train_00.jpg", root / "test" / "cat" / "copy.jpg")
    good = (root / "train" / "dog" / "dog_train_00.jpg").read_bytes()
    (root / "train" / "dog" / "broken.jpg").write_bytes(good[: len(good) // 3])
    return root
