"""DUP001 (copies inside a split) and DUP002 (copies with different labels) on real images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from scenes import scene

import pitfalls


def save(root: Path, rel: str, arr: np.ndarray, **kw: object) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)


def recompressed(a: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a[4:-3, 5:-4]).resize((100, 75)).save(buf, "JPEG", quality=40)
    return np.asarray(Image.open(buf).convert("RGB"))


def scan(root: Path, codes: str):
    return pitfalls.scan(root, select=codes, cache=False)


def clean(root: Path, n: int = 16, split: bool = True) -> None:
    for k in range(n):
        prefix = ("train/" if k % 4 else "test/") if split else ""
        save(root, f"{prefix}c{k % 2}/{k:03d}.png", scene(500 + k))


def test_dup001_finds_exact_and_near_copies_inside_a_split(tmp_path: Path) -> None:
    clean(tmp_path)
    a, b = scene(1), scene(2)
    save(tmp_path, "train/c0/a.png", a)
    save(tmp_path, "train/c0/a_copy.png", a)
    save(tmp_path, "train/c1/b.png", b)
    save(tmp_path, "train/c1/b_small.jpg", recompressed(b))
    report = scan(tmp_path, "DUP001")
    [f] = report.findings
    groups = {frozenset(it["paths"]): it for it in f.items}
    assert groups[frozenset({"train/c0/a.png", "train/c0/a_copy.png"})]["kind"] == "bytes"
    near = groups[frozenset({"train/c1/b.png", "train/c1/b_small.jpg"})]
    assert near["kind"] == "near" and 0.9 <= near["score"] <= 1.0
    assert f.metrics["n_groups"] == 2 and f.metrics["n_extra_copies"] == 2


def test_dup001_without_splits_treats_the_dataset_as_one_split(tmp_path: Path) -> None:
    clean(tmp_path, split=False)
    a = scene(3)
    save(tmp_path, "c0/x.png", a)
    save(tmp_path, "c1/x.bmp", a)  # same pixels, other bytes
    [f] = scan(tmp_path, "DUP001").findings
    assert f.items[0]["kind"] == "pixels"
    assert sorted(f.items[0]["paths"]) == ["c0/x.png", "c1/x.bmp"]


def test_dup001_and_dup002_silent_on_clean_data(tmp_path: Path) -> None:
    clean(tmp_path, n=24)
    report = scan(tmp_path, "DUP")
    assert report.findings == [] and set(report.passed) == {"DUP001", "DUP002"}


def test_dup002_finds_copies_with_different_labels(tmp_path: Path) -> None:
    clean(tmp_path)
    a, b = scene(4), scene(5)
    save(tmp_path, "train/c0/a.png", a)
    save(tmp_path, "test/c1/a.png", a)  # across splits and labels
    save(tmp_path, "train/c0/b.png", b)
    save(tmp_path, "train/c0/b2.jpg", recompressed(b))  # same label: not DUP002
    [f] = scan(tmp_path, "DUP002").findings
    assert f.severity == "error" and len(f.items) == 1
    assert sorted(f.items[0]["labels"]) == ["c0", "c1"]
    assert f.metrics == {"n_groups": 1, "n_images": 2}


def test_unreadable_files_are_never_duplicates(tmp_path: Path) -> None:
    clean(tmp_path)
    (tmp_path / "train/c0/empty1.jpg").write_bytes(b"")
    (tmp_path / "train/c0/empty2.jpg").write_bytes(b"")
    report = scan(tmp_path, "DUP")
    assert report.findings == []
