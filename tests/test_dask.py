"""The same scan on a Dask LocalCluster: identical results, and a killed worker loses nothing."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pitfalls.features.cache import FeatureCache
from pitfalls.features.extract import extract_features
from pitfalls.inputs import load_dataset

distributed = pytest.importorskip("dask.distributed")


def _make(root: Path, n: int) -> None:
    rng = np.random.default_rng(3)
    for i in range(n):
        split = "train" if i % 4 else "test"
        folder = root / split / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        arr = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).resize((96, 72)).save(folder / f"img_{i:03d}.jpg", quality=85)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_cluster_scan_matches_local_scan(tmp_path: Path, client) -> None:
    import pitfalls

    _make(tmp_path / "data", 40)
    source = next((tmp_path / "data" / "train" / "a").glob("*.jpg"))
    (tmp_path / "data" / "test" / "b" / "copy.jpg").write_bytes(source.read_bytes())
    local = pitfalls.scan(tmp_path / "data", workers=1, cache=False)
    remote = pitfalls.scan(tmp_path / "data", scheduler=client, cache=False)
    assert local.to_dict()["findings"] == remote.to_dict()["findings"]
    assert local.passed == remote.passed


def test_killed_worker_loses_and_duplicates_nothing(tmp_path: Path, client) -> None:
    _make(tmp_path / "data", 48)
    ds = load_dataset(tmp_path / "data")
    expected = extract_features(ds, workers=1, chunk_size=4)
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_one_worker(done: int, total: int) -> None:
        if done >= 4 and not killed:
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    cache = FeatureCache(tmp_path / "cache")
    got = extract_features(ds, cache=cache, chunk_size=4, scheduler=client,
                           progress=kill_one_worker)
    assert killed
    assert list(got["pixel_hash"]) == list(expected["pixel_hash"])
    stored = cache.load()
    assert len(stored) == 48 and stored["_key"].is_unique
