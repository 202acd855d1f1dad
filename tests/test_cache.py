"""The feature cache: unchanged images are never recomputed; an interrupted scan resumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pitfalls.features.cache import FeatureCache
from pitfalls.features.extract import extract_features
from pitfalls.inputs import load_dataset


def _make(root: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        arr = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).resize((64, 48)).save(folder / f"img_{i:03d}.jpg", quality=90)


class _Interrupt(Exception):
    pass


def test_second_run_reuses_every_cached_row(tmp_path: Path) -> None:
    _make(tmp_path / "data", 20)
    ds = load_dataset(tmp_path / "data")
    cache = FeatureCache(tmp_path / "cache")
    first = extract_features(ds, cache=cache, workers=1, chunk_size=8)
    starts: list[int] = []
    second = extract_features(ds, cache=cache, workers=1, chunk_size=8,
                              progress=lambda done, total: starts.append(done))
    assert starts[0] == 20  # all 20 rows came from the cache
    assert list(second["byte_hash"]) == list(first["byte_hash"])
    assert np.allclose(np.stack(second["embedding"]), np.stack(first["embedding"]))


def test_changed_file_is_recomputed(tmp_path: Path) -> None:
    _make(tmp_path / "data", 6)
    ds = load_dataset(tmp_path / "data")
    cache = FeatureCache(tmp_path / "cache")
    before = extract_features(ds, cache=cache, workers=1)
    target = tmp_path / "data" / ds.table["path"][0]
    Image.new("RGB", (64, 48), (250, 10, 10)).save(target)
    starts: list[int] = []
    after = extract_features(ds, cache=cache, workers=1,
                             progress=lambda done, total: starts.append(done))
    assert starts[0] == 5
    assert after["byte_hash"][0] != before["byte_hash"][0]
    assert after["mean_r"][0] > 0.9


def test_interrupted_scan_keeps_finished_chunks(tmp_path: Path) -> None:
    _make(tmp_path / "data", 24)
    ds = load_dataset(tmp_path / "data")
    cache = FeatureCache(tmp_path / "cache")
    seen: list[int] = []

    def stop_after_first_chunk(done: int, total: int) -> None:
        seen.append(done)
        if done >= 8:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        extract_features(ds, cache=cache, workers=1, chunk_size=8,
                         progress=stop_after_first_chunk)
    starts: list[int] = []
    feats = extract_features(ds, cache=cache, workers=1, chunk_size=8,
                             progress=lambda done, total: starts.append(done))
    assert starts[0] == 8  # the finished chunk survived the interruption
    assert feats["ok"].all() and len(feats) == 24


def test_worker_pool_gives_the_same_features(tmp_path: Path) -> None:
    _make(tmp_path / "data", 16)
    ds = load_dataset(tmp_path / "data")
    one = extract_features(ds, workers=1, chunk_size=4)
    two = extract_features(ds, workers=2, chunk_size=4)
    assert list(one["pixel_hash"]) == list(two["pixel_hash"])
    assert np.allclose(one["sharpness"], two["sharpness"])


def test_torn_part_file_is_dropped_and_recomputed(tmp_path: Path) -> None:
    _make(tmp_path / "data", 6)
    ds = load_dataset(tmp_path / "data")
    cache = FeatureCache(tmp_path / "cache")
    extract_features(ds, cache=cache, workers=1)
    (tmp_path / "cache" / "part-0-torn.parquet").write_bytes(b"PAR1 not really parquet")
    feats = extract_features(ds, cache=cache, workers=1)
    assert feats["ok"].all()
    assert not (tmp_path / "cache" / "part-0-torn.parquet").exists()


def test_parts_are_compacted_once_there_are_many(tmp_path: Path) -> None:
    _make(tmp_path / "data", 20)
    ds = load_dataset(tmp_path / "data")
    cache = FeatureCache(tmp_path / "cache")
    first = extract_features(ds, cache=cache, workers=1, chunk_size=4)
    assert len(list((tmp_path / "cache").glob("part-*.parquet"))) == 1  # 20 rows: one buffer
    rows = cache.load()
    for start in range(0, 20, 5):  # four more parts holding the same rows again
        cache.append(rows.iloc[start:start + 5])
    parts = sorted((tmp_path / "cache").glob("part-*.parquet"))
    cache.compact()
    assert sorted((tmp_path / "cache").glob("part-*.parquet")) == parts  # few: kept as written
    cache.compact(max_parts=2)
    merged = sorted((tmp_path / "cache").glob("part-*.parquet"))
    assert len(merged) == 1 and merged[0] not in parts
    again = extract_features(ds, cache=cache, workers=1, chunk_size=4)
    assert list(again["byte_hash"]) == list(first["byte_hash"])
    assert [bytes(v) for v in again["fingerprint"]] == [bytes(v) for v in first["fingerprint"]]


def test_buffered_writer_writes_parts_of_the_given_size(tmp_path: Path) -> None:
    _make(tmp_path / "data", 20)
    ds = load_dataset(tmp_path / "data")
    cache = FeatureCache(tmp_path / "cache")
    extract_features(ds, cache=cache, workers=1, chunk_size=4)
    rows = cache.load()
    other = FeatureCache(tmp_path / "other")
    with other.buffered(rows=8) as saver:
        for start in range(0, 20, 4):
            saver.add(rows.iloc[start:start + 4])
    assert len(list((tmp_path / "other").glob("part-*.parquet"))) == 3  # 8 + 8 + the last 4
    assert sorted(other.load()["_key"]) == sorted(rows["_key"])


@pytest.mark.parametrize(("n", "size", "workers"), [(0, 128, 2), (5, 128, 2), (2500, 128, 2),
                                                    (100_000, 128, 8), (300, 64, 1)])
def test_chunks_cover_everything_once_and_shrink_towards_the_end(n: int, size: int,
                                                                 workers: int) -> None:
    from pitfalls.features.extract import chunk_bounds

    bounds = chunk_bounds(n, size, workers)
    covered = [i for a, b in bounds for i in range(a, b)]
    assert covered == list(range(n))
    steps = [b - a for a, b in bounds]
    assert all(0 < s <= size for s in steps)
    assert steps == sorted(steps, reverse=True)
    if n >= 2500:
        assert steps[0] == size and steps[-1] <= 16  # big chunks first, a short tail


def test_perceptual_hashes_stay_exact_beside_unreadable_files(tmp_path: Path) -> None:
    """A chunk holding an unreadable file once turned the 64-bit hashes into floats (rounded)."""
    from pitfalls.features.compute import compute_file_features

    _make(tmp_path / "data", 6)
    (tmp_path / "data" / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    ds = load_dataset(tmp_path / "data")
    cache = FeatureCache(tmp_path / "cache")
    for _ in range(2):  # computed, then read back from the cache
        feats = extract_features(ds, cache=cache, workers=1)
        for path, ok, ph, dh in zip(ds.table["path"], feats["ok"], feats["phash"], feats["dhash"],
                                    strict=True):
            if ok:
                row = compute_file_features(tmp_path / "data" / path)
                assert (int(ph), int(dh)) == (row["phash"], row["dhash"])
            else:
                assert pd.isna(ph) and pd.isna(dh)
