"""Feature extraction started by the command line before it loads pandas and the rules.

A cold scan of a local folder otherwise spends its first half second importing pandas, SciPy and
the like while the feature workers wait. Forking the workers, listing the folder and submitting
the first chunks first lets them compute meanwhile; `extract_features` then takes the results.
Used only where nothing else is needed first: a local folder, local worker processes, the
default embedder, and a local cache with nothing in it yet (reading a cache takes pandas).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pitfalls.config import Config
from pitfalls.executors import Feed, LocalExecutor, default_workers
from pitfalls.features.chunk import CHUNK, ChunkJob, chunk_jobs, run_chunk
from pitfalls.features.compute import FEATURE_VERSION
from pitfalls.features.embedding import WeightFreeEmbedder, is_default_embedder
from pitfalls.features.keys import cache_location, file_key
from pitfalls.listing import Listing, list_folder


@dataclass
class EarlyStart:
    """Workers started on a folder's files: what was listed, submitted, and the results to come."""

    listing: Listing
    paths: list[str]
    keys: list[str | None]
    jobs: list[ChunkJob]
    executor: LocalExecutor
    feed: Feed

    def close(self) -> None:
        """Stop the workers (results not taken are dropped); safe to call twice."""
        self.executor.__exit__(None, None, None)


def start_early(data: str | Path, config: Config, cache: bool | str | Path = True,
                chunk_size: int = CHUNK) -> EarlyStart | None:
    """Start extracting the features of the folder `data`, or None where that is not safe."""
    workers = config.workers if config.workers is not None else default_workers()
    if config.scheduler is not None or workers < 2 or not is_default_embedder(config.embedder):
        return None
    root = Path(data).expanduser()
    if not root.is_dir():
        return None
    root = root.resolve()
    if cache is not False:
        location = cache_location(root, FEATURE_VERSION, WeightFreeEmbedder.name,
                                  config.cache_base(cache))
        if "://" in location or any(Path(location).glob("part-*.parquet")):
            return None  # a remote cache, or rows to reuse: the ordinary path reads them
    try:
        listing = list_folder(root)
    except OSError:  # the top folder cannot be listed: the ordinary path says so
        return None
    if not listing.files:
        return None
    paths = listing.paths()
    keys = [file_key(Path(p)) for p in paths]
    executor = LocalExecutor(workers).__enter__()
    jobs = chunk_jobs(paths, keys, list(range(len(paths))), chunk_size, executor.workers,
                      config.max_pixels, None)
    return EarlyStart(listing, paths, keys, jobs, executor, executor.feed(run_chunk, jobs))
