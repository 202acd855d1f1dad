"""Build the feature table of a dataset: cached rows reused, missing ones computed in chunks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pitfalls.decode import DEFAULT_MAX_PIXELS
from pitfalls.executors import Executor, make_executor
from pitfalls.features.cache import KEY, FeatureCache, file_key
from pitfalls.features.compute import FEATURE_VERSION, compute_file_features
from pitfalls.features.embedding import WeightFreeEmbedder, make_embedder
from pitfalls.features.worker_tuning import tune_worker
from pitfalls.inputs import Dataset

CHUNK = 128
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ChunkJob:
    """One unit of work, small and picklable: files to process and how."""

    paths: tuple[str, ...]
    keys: tuple[str | None, ...]
    max_pixels: int
    embedder: str | None


@lru_cache(maxsize=4)
def _embedder(spec: str | None):  # one per worker process
    return make_embedder(spec)


def run_chunk(job: ChunkJob) -> pd.DataFrame:
    """Compute the features of a chunk of files (runs in a worker)."""
    tune_worker()
    emb = _embedder(job.embedder)
    batch = not isinstance(emb, WeightFreeEmbedder)
    rows = [compute_file_features(p, job.max_pixels, emb, keep_work=batch) for p in job.paths]
    if batch:
        idx = [i for i, r in enumerate(rows) if "_work" in r]
        vecs = emb.embed([rows[i].pop("_work") for i in idx]) if idx else []
        for i, v in zip(idx, vecs, strict=True):
            rows[i]["embedding"] = v
    for row, key, path in zip(rows, job.keys, job.paths, strict=True):
        row[KEY] = key if key is not None else f"{path}|missing"
    frame = pd.DataFrame(rows)
    if "embedding" in frame:
        frame["embedding"] = [
            None if not isinstance(v, np.ndarray) else v.astype(np.float32)
            for v in frame["embedding"]
        ]
    return frame


def chunk_bounds(n: int, size: int, workers: int, smallest: int = 16) -> list[tuple[int, int]]:
    """(start, stop) of chunks of at most `size` items that shrink towards the end ("guided"
    scheduling): each takes at most a `2 * workers`-th of what is left, so the last chunks are
    small and no worker idles long while another finishes a full chunk."""
    bounds, start = [], 0
    while start < n:
        left = n - start
        step = min(size, max(smallest, -(-left // (2 * max(workers, 1)))), left)
        bounds.append((start, start + step))
        start += step
    return bounds


def extract_features(
    dataset: Dataset,
    *,
    cache: FeatureCache | None = None,
    embedder: str | None = None,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Progress | None = None,
    chunk_size: int = CHUNK,
    scheduler: object = None,
    executor: Executor | None = None,
    on_running: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """Return one feature row per dataset row (same order), computing only what is not cached.

    `scheduler` (a `dask.distributed.Client` or an address like `tcp://host:8786`) runs the
    chunks on a Dask cluster; otherwise `workers` local processes are used. `on_running` is
    called once, when the first chunk is back (the workers are busy): the caller's chance to do
    its own work meanwhile.
    """
    paths = [str(dataset.abs_path(p)) for p in dataset.table["path"]]
    keys = [file_key(Path(p)) for p in paths]
    cache = cache or FeatureCache(None)
    known = {k for k in keys if k is not None}
    cached = cache.load(known) if cache.enabled else pd.DataFrame(columns=[KEY])
    have = set(cached[KEY]) if len(cached) else set()
    todo = [i for i, k in enumerate(keys) if k is None or k not in have]
    total, done = len(paths), len(paths) - len(todo)
    if progress:
        progress(done, total)
    executor = executor or make_executor(workers, -(-len(todo) // chunk_size), scheduler)
    jobs = [
        ChunkJob(tuple(paths[i] for i in todo[a:b]), tuple(keys[i] for i in todo[a:b]),
                 max_pixels, embedder)
        for a, b in chunk_bounds(len(todo), chunk_size, getattr(executor, "workers", 1))
    ]
    frames = [cached] if len(cached) else []
    with cache.buffered() as saver:
        for frame in executor.map_unordered(run_chunk, jobs):
            if on_running is not None:
                on_running()
                on_running = None
            saver.add(frame[frame["error_kind"].ne("missing")] if "error_kind" in frame else frame)
            frames.append(frame)
            done += len(frame)
            if progress:
                progress(done, total)
    if jobs:
        cache.compact()
    allrows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[KEY])
    allrows = allrows.drop_duplicates(KEY, keep="last").set_index(KEY)
    lookup = [k if k is not None else f"{p}|missing" for k, p in zip(keys, paths, strict=True)]
    feats = allrows.reindex(lookup).reset_index(drop=True)
    feats["ok"] = feats["ok"].fillna(False).astype(bool)
    return feats


__all__ = ["FEATURE_VERSION", "ChunkJob", "extract_features", "run_chunk"]
