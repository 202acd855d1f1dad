"""Inputs to context: load the dataset and compute (or reuse) every image's features.

Used by the scan (`pitfalls.api`), by `pitfalls split` and by the field set
(`pitfalls.field.data`), which all need the same table of inputs joined with features.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pitfalls.config import Config
from pitfalls.context import Context
from pitfalls.executors import Executor, LocalExecutor, default_workers
from pitfalls.features.cache import FeatureCache
from pitfalls.features.compute import FEATURE_VERSION
from pitfalls.features.embedding import make_embedder
from pitfalls.features.extract import extract_features
from pitfalls.inputs import Dataset, load_dataset

if TYPE_CHECKING:
    from pitfalls.features.early import EarlyStart

Progress = Callable[[str, int, int], None]


def build_context(
    data: str | Path | pd.DataFrame | Dataset,
    config: Config,
    *,
    root: str | Path | None = None,
    cache: bool | str | Path = True,
    progress: Progress | None = None,
    extras: dict[str, Any] | None = None,
    scheduler: Any = None,
    early: EarlyStart | None = None,
    on_running: Callable[[], None] | None = None,
) -> Context:
    """Load the inputs and compute (or reuse) every image's features.

    `early` is feature extraction the command line started on the folder `data` before loading
    this module (`pitfalls.features.early.start_early`); its workers are used and then stopped.
    `on_running` is called once local worker processes are busy (the scan loads the rule
    catalogue then, on a thread of its own).
    """
    scheduler = scheduler if scheduler is not None else config.scheduler
    workers = config.workers if config.workers is not None else default_workers()
    if early is not None or (scheduler is None and workers > 1):
        # Workers forked before the input table exists (or before pandas was even loaded).
        with early.executor if early is not None else LocalExecutor(workers) as pool:
            return _build_context(data, config, root=root, cache=cache, progress=progress,
                                  extras=extras, scheduler=None, executor=pool,
                                  on_running=on_running, early=early)
    return _build_context(data, config, root=root, cache=cache, progress=progress, extras=extras,
                          scheduler=scheduler, executor=None)


def _build_context(data: str | Path | pd.DataFrame | Dataset, config: Config, *,
                   root: str | Path | None, cache: bool | str | Path,
                   progress: Progress | None, extras: dict[str, Any] | None, scheduler: Any,
                   executor: Executor | None,
                   on_running: Callable[[], None] | None = None,
                   early: EarlyStart | None = None) -> Context:
    dataset = data if isinstance(data, Dataset) else load_dataset(
        data, root=root, listing=early.listing if early is not None else None,
        allow_outside_root=config.allow_outside_root)
    embedder = make_embedder(config.embedder)
    if cache is False:
        store = FeatureCache(None)
    else:
        # Kept as given: Path() would turn a URL like s3://bucket/x into the local folder
        # s3:/bucket/x.
        base = config.cache_base(cache)
        store = FeatureCache.for_dataset(dataset.root, FEATURE_VERSION, embedder.name, base=base)
    feats = extract_features(
        dataset, cache=store, embedder=config.embedder, workers=config.workers,
        scheduler=scheduler, executor=executor, on_running=on_running, early=early,
        max_pixels=config.max_pixels,
        progress=(lambda d, t: progress("features", d, t)) if progress else None,
    )
    feats = feats.drop(columns=[c for c in feats.columns if c in dataset.table.columns])
    table = pd.concat([dataset.table.reset_index(drop=True), feats], axis=1)
    return Context(dataset=dataset, table=table, config=config, extras=dict(extras or {}))
