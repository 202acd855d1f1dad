"""The Python API: `pitfalls.scan(...)` returns a `Report`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pitfalls.config import Config, find_config
from pitfalls.context import Context
from pitfalls.executors import Executor, LocalExecutor, default_workers
from pitfalls.features.cache import FeatureCache
from pitfalls.features.compute import FEATURE_VERSION
from pitfalls.features.embedding import make_embedder
from pitfalls.features.extract import extract_features
from pitfalls.findings import Report
from pitfalls.inputs import Dataset, load_dataset
from pitfalls.runner import run_rules

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
) -> Context:
    """Load the inputs and compute (or reuse) every image's features.

    `early` is feature extraction the command line started on the folder `data` before loading
    this module (`pitfalls.features.early.start_early`); its workers are used and then stopped.
    """
    scheduler = scheduler if scheduler is not None else config.scheduler
    workers = config.workers if config.workers is not None else default_workers()
    if early is not None or (scheduler is None and workers > 1):
        # Workers forked before the input table exists (or before pandas was even loaded).
        with early.executor if early is not None else LocalExecutor(workers) as pool:
            return _build_context(data, config, root=root, cache=cache, progress=progress,
                                  extras=extras, scheduler=None, executor=pool,
                                  on_running=_preload_rules, early=early)
    return _build_context(data, config, root=root, cache=cache, progress=progress, extras=extras,
                          scheduler=scheduler, executor=None)


def _preload_rules() -> None:
    """Import the rule modules (about half a second of SciPy and the rules themselves) on a
    background thread while the worker processes extract features. Only once they are busy: a
    fork while another thread holds an import lock could deadlock the child, and the import's
    Python code would slow the listing that feeds them."""
    def load() -> None:
        import scipy.ndimage  # noqa: F401  (near-duplicate alignment; 0.08 s, else on the tail)

        from pitfalls.rules import registry

        registry()

    threading.Thread(target=load, name="pitfalls-preload", daemon=True).start()


def _build_context(data: str | Path | pd.DataFrame | Dataset, config: Config, *,
                   root: str | Path | None, cache: bool | str | Path,
                   progress: Progress | None, extras: dict[str, Any] | None, scheduler: Any,
                   executor: Executor | None,
                   on_running: Callable[[], None] | None = None,
                   early: EarlyStart | None = None) -> Context:
    dataset = data if isinstance(data, Dataset) else load_dataset(
        data, root=root, listing=early.listing if early is not None else None)
    embedder = make_embedder(config.embedder)
    if cache is False:
        store = FeatureCache(None)
    else:
        # Kept as given: Path() would turn a URL like s3://bucket/x into the local folder s3:/bucket/x.
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


def dataset_summary(ctx: Context) -> dict[str, Any]:
    t = ctx.table
    return {
        "root": ctx.root.as_posix(),
        "source": ctx.dataset.source,
        "n_images": int(len(t)),
        "n_unreadable": int((~ctx.ok).sum()),
        "splits": {str(k): int(v) for k, v in t["split"].value_counts().sort_index().items()},
        "labels": {str(k): int(v) for k, v in t["label"].value_counts().sort_index().items()},
        "notes": list(ctx.dataset.notes),
    }


def class_by_split(ctx: Context) -> dict[str, dict[str, int]]:
    """label -> split -> count (split `all` when the data has no splits)."""
    t = ctx.table.assign(split=ctx.table["split"].fillna("all"),
                         label=ctx.table["label"].fillna("(none)"))
    counts = t.groupby(["label", "split"]).size()
    out: dict[str, dict[str, int]] = {}
    for (label, split), n in counts.items():
        out.setdefault(str(label), {})[str(split)] = int(n)
    return out


def scan(
    data: str | Path | pd.DataFrame | Dataset,
    *,
    root: str | Path | None = None,
    select: list[str] | str | None = None,
    ignore: list[str] | str | None = None,
    lang: str | None = None,
    fail_on: str | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    embedder: str | Path | None = None,
    cache: bool | str | Path = True,
    config: Config | None = None,
    rules: dict[str, dict[str, Any]] | None = None,
    out: str | Path | None = None,
    progress: Progress | None = None,
    predictions: str | Path | pd.DataFrame | None = None,
    model: str | Path | None = None,
    preprocess: str | Path | dict[str, Any] | None = None,
    field: str | Path | None = None,
    _early: EarlyStart | None = None,
    **extras: Any,
) -> Report:
    """Scan a dataset (folder, manifest path, DataFrame with `root`) and return a `Report`.

    `scheduler` (a `dask.distributed.Client` or `tcp://host:8786`) computes the features on a
    Dask cluster. `predictions` (a table) or `model` (ONNX, with its `preprocess` spec), not both,
    add the evaluation rules. `field` (a folder of unlabelled photos from where the model will be
    used) adds FIELD001 and FIELD003, and with `model` the predicted field accuracy (FIELD002).
    Keyword options override the nearest `pitfalls.toml` / `[tool.pitfalls]`. With `out`, the
    report is also saved there (`report.json`, `report.html`). `_early` is for the command
    line: feature extraction it started before loading this module.
    """
    base = config or find_config()
    def as_list(v):
        return ([c.strip() for c in v.split(",")] if isinstance(v, str) else v)
    cfg = base.merged(select=as_list(select), ignore=as_list(ignore), lang=lang, fail_on=fail_on,
                      workers=workers, embedder=str(embedder) if embedder else None,
                      rules={**base.rules, **(rules or {})} if rules else None)
    ctx = build_context(data, cfg, root=root, cache=cache, progress=progress, extras=extras,
                        scheduler=scheduler, early=_early)
    from pitfalls.evaluation.attach import attach_predictions
    from pitfalls.evaluation.evalset import evaluation_section

    attach_predictions(ctx, predictions, model, preprocess,
                       cache_dir=False if cache is False else (
                           cache if isinstance(cache, str | Path) else cfg.cache_dir),
                       progress=progress)
    if field is not None:
        from pitfalls.field.report import attach_field

        attach_field(ctx, field, model, preprocess, cache=cache, progress=progress)
    findings, passed, skipped = run_rules(ctx)
    sections: dict[str, Any] = {"class_by_split": class_by_split(ctx)}
    evaluation = evaluation_section(ctx)
    if evaluation is not None:
        sections["evaluation"] = evaluation
    if field is not None:
        from pitfalls.field.report import field_section

        sections["field"] = field_section(ctx)
    report = Report(dataset=dataset_summary(ctx), findings=findings, passed=passed,
                    skipped=skipped, sections=sections,
                    lang=cfg.lang, root=ctx.root)
    if out is not None:
        report.save(out)
    return report
