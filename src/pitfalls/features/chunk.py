"""One unit of feature work as a worker process runs it: light to import (no pandas), so workers
can be started before the command line loads its heavier modules."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from pitfalls.features.compute import compute_file_features
from pitfalls.features.embedding import WeightFreeEmbedder, make_embedder
from pitfalls.features.keys import KEY, missing_key
from pitfalls.features.worker_tuning import tune_worker

CHUNK = 128
"""Most files in one chunk."""


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


def run_chunk(job: ChunkJob) -> dict[str, list[Any]]:
    """The features of a chunk of files (runs in a worker), with each file's cache key, as
    columns (NaN where a row lacks a value): a tenth of the unpickling and framing cost of rows."""
    tune_worker()
    emb = _embedder(job.embedder)
    batch = not isinstance(emb, WeightFreeEmbedder)
    rows = [compute_file_features(p, job.max_pixels, emb, keep_work=batch) for p in job.paths]
    if batch:
        idx = [i for i, r in enumerate(rows) if "_work" in r]
        vecs = emb.embed([rows[i].pop("_work") for i in idx]) if idx else []
        for i, v in zip(idx, vecs, strict=True):
            rows[i]["embedding"] = np.asarray(v, dtype=np.float32)
    for row, key, path in zip(rows, job.keys, job.paths, strict=True):
        row[KEY] = key if key is not None else missing_key(path)
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: [row.get(name, np.nan) for row in rows] for name in names}


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


def chunk_jobs(paths: list[str], keys: list[str | None], todo: list[int], size: int,
               workers: int, max_pixels: int, embedder: str | None) -> list[ChunkJob]:
    """The jobs for the rows `todo` of `paths`, in guided chunks."""
    return [
        ChunkJob(tuple(paths[i] for i in todo[a:b]), tuple(keys[i] for i in todo[a:b]),
                 max_pixels, embedder)
        for a, b in chunk_bounds(len(todo), size, workers)
    ]
