"""The Python API: `pitfalls.scan(...)` returns a `Report`."""

from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pitfalls.config import Config, find_config
from pitfalls.context import Context
from pitfalls.inputs import Dataset
from pitfalls.pipeline import Progress, build_context
from pitfalls.report.document import Report
from pitfalls.runner import check_rule_config, run_rules

if TYPE_CHECKING:
    from pitfalls.features.early import EarlyStart

log = logging.getLogger("pitfalls")

LIBRARIES = ("sklearn.model_selection", "sklearn.linear_model", "sklearn.pipeline",
             "sklearn.preprocessing", "sklearn.utils")
"""Imported by the rules when they run (scikit-learn's folds, subsample and logistic probe, which
bring scipy.stats), and so by the preload thread ahead of them."""


def _preload_rules() -> None:
    """Import the rule modules and their `LIBRARIES` (about a second of CPU) on a background
    thread while the worker processes extract features. Only once they are busy: a fork while
    another thread holds an import lock could deadlock the child, and the import's Python code
    would slow the listing that feeds them."""
    def load() -> None:
        import scipy.ndimage  # noqa: F401  (near-duplicate alignment; 0.08 s, else on the tail)

        from pitfalls.rules import registry

        registry()
        for name in LIBRARIES:
            try:
                importlib.import_module(name)
            except ImportError as exc:  # the rule that needs it reports it when it runs
                log.debug("preload: %s", exc)

    threading.Thread(target=load, name="pitfalls-preload", daemon=True).start()


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
        "unlisted_folders": list(ctx.dataset.unlisted),
        "listed_twice": list(ctx.dataset.listed_twice),
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
    allow_outside_root: bool | None = None,
    _early: EarlyStart | None = None,
    **extras: Any,
) -> Report:
    """Scan a dataset (folder, manifest path, DataFrame with `root`) and return a `Report`.

    `scheduler` (a `dask.distributed.Client` or `tcp://host:8786`) computes the features on a
    Dask cluster. `predictions` (a table) or `model` (ONNX, with its `preprocess` spec), not both,
    add the evaluation rules. `field` (a folder of unlabelled photos from where the model will be
    used) adds FIELD001 and FIELD003, and with `model` the predicted field accuracy (FIELD002).
    `allow_outside_root=True` lets a manifest name files outside its folder (refused by default).
    Keyword options override the nearest `pitfalls.toml` / `[tool.pitfalls]`. With `out`, the
    report is also saved there (`report.json`, `report.html`). `_early` is for the command
    line: feature extraction it started before loading this module.
    """
    base = config or find_config()
    def as_list(v):
        return ([c.strip() for c in v.split(",")] if isinstance(v, str) else v)
    cfg = base.merged(select=as_list(select), ignore=as_list(ignore), lang=lang, fail_on=fail_on,
                      workers=workers, embedder=str(embedder) if embedder else None,
                      allow_outside_root=allow_outside_root,
                      rules={**base.rules, **(rules or {})} if rules else None)
    check_rule_config(cfg)  # after the command line's early start: loads the catalogue
    ctx = build_context(data, cfg, root=root, cache=cache, progress=progress, extras=extras,
                        scheduler=scheduler, early=_early, on_running=_preload_rules)
    from pitfalls.evaluation.attach import attach_predictions
    from pitfalls.evaluation.evalset import evaluation_section

    attach_predictions(ctx, predictions, model, preprocess,
                       cache_dir=False if cache is False else (
                           cache if isinstance(cache, str | Path) else cfg.cache_dir),
                       progress=progress)
    if field is not None:
        from pitfalls.field.report import attach_field

        attach_field(ctx, field, model, preprocess, cache=cache, progress=progress)
    findings, passed, skipped, errors = run_rules(ctx)
    sections: dict[str, Any] = {"class_by_split": class_by_split(ctx)}
    evaluation = evaluation_section(ctx)
    if evaluation is not None:
        sections["evaluation"] = evaluation
    if field is not None:
        from pitfalls.field.report import field_section

        sections["field"] = field_section(ctx)
    report = Report(dataset=dataset_summary(ctx), findings=findings, passed=passed,
                    skipped=skipped, errors=errors, sections=sections,
                    lang=cfg.lang, root=ctx.root)
    if "predictions" in ctx.extras:
        from pitfalls.monitor.reference import build_profile

        report.reference = build_profile(
            ctx, model=model, preprocess=preprocess,
            cache=None if cache is False else cfg.cache_base(cache))
    if out is not None:
        report.save(out)
    return report
