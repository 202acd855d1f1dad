"""Build the feature table of a dataset: cached rows reused, missing ones computed in chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import BrokenExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pitfalls.decode import DEFAULT_MAX_PIXELS
from pitfalls.errors import WorkerError
from pitfalls.executors import Executor, make_executor
from pitfalls.features.cache import FeatureCache
from pitfalls.features.chunk import CHUNK, ChunkJob, chunk_bounds, chunk_jobs, run_chunk
from pitfalls.features.compute import FEATURE_VERSION
from pitfalls.features.keys import KEY, file_key, missing_key
from pitfalls.inputs import Dataset

if TYPE_CHECKING:
    from pitfalls.features.early import EarlyStart

Progress = Callable[[int, int], None]


NOT_CACHED = ("missing", "unreadable", "not_a_file", "bad_path", "too_large")
"""Failures that say nothing lasting about a file's content (a permission fixed, a folder
mounted, a pixel limit raised, none of which changes the file's key): tried again every scan."""

HASH_COLUMNS = ("phash", "dhash")
"""Signed 64-bit perceptual hashes: kept as nullable integers (a float would round them)."""


def rows_frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """A chunk's feature columns (from `run_chunk`) as a frame; embeddings as float32 arrays,
    perceptual hashes as nullable 64-bit integers even where some files could not be read."""
    data: dict[str, Any] = dict(columns)
    for name in HASH_COLUMNS:
        if name in data:
            data[name] = pd.array([v if isinstance(v, int) else None for v in data[name]],
                                     dtype="Int64")
    frame = pd.DataFrame(data)
    if "embedding" in frame:
        frame["embedding"] = [
            None if not isinstance(v, np.ndarray) else v.astype(np.float32, copy=False)
            for v in frame["embedding"]
        ]
    return frame


@contextmanager
def _worker_deaths(done: int, total: int, cached: bool) -> Iterator[None]:
    """Turn a worker process's death (the system killed it, often for want of memory) into a
    `WorkerError` that says what was kept, instead of a traceback."""
    try:
        yield
    except BrokenExecutor:
        kept = ("the images done so far are cached: run the scan again to resume"
                if cached else "nothing was cached (--no-cache)")
        raise WorkerError(
            "a feature worker process died while reading images (killed by the system, often "
            f"for lack of memory; {total - done} image(s) were to do); {kept}, or use fewer "
            "--workers") from None


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
    early: EarlyStart | None = None,
) -> pd.DataFrame:
    """Return one feature row per dataset row (same order), computing only what is not cached.

    `scheduler` (a `dask.distributed.Client` or an address like `tcp://host:8786`) runs the
    chunks on a Dask cluster; otherwise `workers` local processes are used. `on_running` is
    called once, when the first chunk is back (the workers are busy): the caller's chance to do
    its own work meanwhile. `early` is extraction the command line started on these files
    (`pitfalls.features.early`): its results are taken when its files are the dataset's.
    """
    paths = [str(dataset.abs_path(p)) for p in dataset.table["path"]]
    if early is not None and early.paths == paths:
        keys = early.keys
    else:
        early = None
        keys = [file_key(Path(p)) for p in paths]
    cache = cache or FeatureCache(None)
    known = {k for k in keys if k is not None}
    cached = (cache.load(known) if cache.enabled and early is None
              else pd.DataFrame(columns=[KEY]))  # an early start only begins on an empty cache
    have = set(cached[KEY]) if len(cached) else set()
    todo = [i for i, k in enumerate(keys) if k is None or k not in have]
    total, done = len(paths), len(paths) - len(todo)
    if progress:
        progress(done, total)
    if early is not None:
        jobs, results = early.jobs, iter(early.feed)
    else:
        executor = executor or make_executor(workers, -(-len(todo) // chunk_size), scheduler)
        jobs = chunk_jobs(paths, keys, todo, chunk_size, getattr(executor, "workers", 1),
                          max_pixels, embedder)
        results = executor.map_unordered(run_chunk, jobs)
    frames = [cached] if len(cached) else []
    with cache.buffered() as saver, _worker_deaths(done, total, cache.enabled):
        for columns in results:
            frame = rows_frame(columns)
            if on_running is not None:
                on_running()
                on_running = None
            saver.add(frame[~frame["error_kind"].isin(NOT_CACHED)] if "error_kind" in frame
                      else frame)
            frames.append(frame)
            done += len(frame)
            if progress:
                progress(done, total)
    if jobs:
        cache.compact()
    dataset.notes.extend(n for n in cache.problems if n not in dataset.notes)
    allrows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[KEY])
    allrows = allrows.drop_duplicates(KEY, keep="last").set_index(KEY)
    lookup = [k if k is not None else missing_key(p) for k, p in zip(keys, paths, strict=True)]
    feats = allrows.reindex(lookup).reset_index(drop=True)
    feats["ok"] = (feats["ok"].fillna(False).astype(bool) if "ok" in feats
                   else pd.Series(False, index=feats.index))  # no rows at all: no columns
    return feats


__all__ = ["FEATURE_VERSION", "ChunkJob", "chunk_bounds", "extract_features", "run_chunk"]
