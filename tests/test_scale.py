"""Scale-out pieces: a feature cache at an fsspec URL, and the scale benchmark's own helpers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import fsspec
import numpy as np
import pytest
from PIL import Image

import pitfalls

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "benchmarks" / "scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cache_at_an_fsspec_url_is_used_not_a_local_folder(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    for i in range(6):
        folder = tmp_path / "data" / ("train" if i % 3 else "test") / "a"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    url = "memory://pitfalls-test-bucket/features"
    first = pitfalls.scan(tmp_path / "data", cache=url, workers=1)
    fs = fsspec.filesystem("memory")
    parts = fs.glob("/pitfalls-test-bucket/features/**/part-*.parquet")
    assert parts  # written at the URL ...
    assert not (tmp_path / "memory:").exists()  # ... not to a local folder named after it
    again = pitfalls.scan(tmp_path / "data", cache=url, workers=1)
    assert again.to_dict()["findings"] == first.to_dict()["findings"]
    fs.rm("/pitfalls-test-bucket", recursive=True)


def test_benchmark_search_finds_planted_copies_and_fits_exponents() -> None:
    pytest.importorskip("faiss")
    bench = _bench()
    x = bench.embeddings(3000)
    assert x.shape == (3000, 131) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    _, exact = bench.dup_search(x, "exact")
    _, approx = bench.dup_search(x, "hnsw")
    assert exact >= 3000 // bench.DUP_EVERY - 1 and approx == exact
    ns = [1000, 2000, 4000]
    assert bench.fit_exponent(ns, [n**1.1 for n in ns]) == pytest.approx(1.1)


def test_benchmark_images_plant_near_duplicates(tmp_path: Path) -> None:
    bench = _bench()
    bench.DUP_EVERY = 4  # a copy every 4 images, to keep the test small
    bench.make_images(tmp_path / "pool", 8, 1)
    files = sorted((tmp_path / "pool").rglob("*.jpg"))
    assert len(files) == 8
    with Image.open(tmp_path / "pool" / bench._rel(3)) as a, \
            Image.open(tmp_path / "pool" / bench._rel(1)) as b:
        assert a.size == b.size == bench.SIZE
        diff = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean()
    assert diff < 12  # the copy of image 1, re-encoded and slightly cropped
