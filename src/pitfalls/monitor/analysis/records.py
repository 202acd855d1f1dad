"""Production records as one flat table: the features the device sent, the prediction, its
confidence, the capture conditions and whether the input was usable.

A record (contract v1) holds `id`, `captured_at`, `source`, `model_version`, `pred`, optional
`probs` (class -> probability), `features` (the scan's feature names -> numbers) and an optional
`label`. `flatten` turns a DataFrame of such records into the table every window and MON rule
reads; bad values become NaN (and an unusable input), never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pitfalls.field.conditions import CONDITIONS, conditions
from pitfalls.rules.quality import DarkImages, LightImages, LowInformation, blur_score

COND_PREFIX = "cond_"
RAW_PREFIX = "raw_"
"""Condition columns are `cond_<name>` (the features have a `contrast` of their own)."""
UNUSABLE_KINDS = ("unreadable", "dark", "over_exposed", "blank", "blurred")
CONTENT_COLUMNS = ("saturation", "colourfulness", "entropy", "edge_density", "fine_detail")
"""Features kept beside the conditions: what the picture holds (for the distance to the
reference)."""
CONDITION_INPUTS = ("ok", "brightness", "contrast", "cast_rg", "cast_yb", "sharpness", "noise",
                    "width", "height", "jpeg_quality", "format")
"""Features the conditions are measured from, kept so the capture replay can refit them; the
rest of the device's features are read once, here, and not carried along."""
UNREAD = ("embedding",)
"""Features no window summary, MON rule or replay reads: a read of stored records leaves them in
the database."""


def features_table(records: pd.DataFrame) -> pd.DataFrame:
    """The records' `features` dicts as a table (`ok` False where a record has none); of a
    flattened table, the condition inputs it kept."""
    if "features" not in records and RAW_PREFIX + "ok" in records:
        feats = records[[RAW_PREFIX + c for c in CONDITION_INPUTS]]
        feats = feats.rename(columns=lambda c: c.removeprefix(RAW_PREFIX))
        return feats.assign(ok=_truthy(feats["ok"]))
    col = records["features"] if "features" in records else pd.Series([None] * len(records))
    rows = [f if isinstance(f, dict) else {} for f in col]
    feats = pd.DataFrame(rows, index=records.index)
    if "ok" not in feats:
        feats["ok"] = [bool(r) for r in rows]
    feats["ok"] = _truthy(feats["ok"]) & np.array([bool(r) for r in rows], dtype=bool)
    return feats


def _truthy(values: pd.Series) -> np.ndarray:
    """True where a value is present and true (missing counts as False, whatever the dtype)."""
    return (values.notna() & values.astype(object).fillna(False).astype(bool)).to_numpy(bool)


def _probs(records: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """(n, k) probabilities in `classes` order; NaN rows where a record has none or bad ones."""
    out = np.full((len(records), len(classes)), np.nan)
    if "probs" not in records or not len(classes):
        return out
    index = {c: i for i, c in enumerate(classes)}
    for r, p in enumerate(records["probs"]):
        if not isinstance(p, dict):
            continue
        row = np.zeros(len(classes))
        for k, v in p.items():
            if str(k) in index:
                try:
                    row[index[str(k)]] = float(v)
                except (TypeError, ValueError):
                    row[:] = np.nan
                    break
        if np.all(np.isfinite(row)) and row.min() >= 0 and row.sum() > 0:
            out[r] = row / row.sum()
    return out


def flatten(records: pd.DataFrame, classes: Sequence[str],
            blur_median: float | None = None) -> pd.DataFrame:
    """The records as a flat table: `id`, `captured_at` (UTC), `source`, `model_version`,
    `pred`, `label`, `conf` (top probability), `p_<i>` per class, the `cond_<name>` capture
    conditions, the `CONTENT_COLUMNS` features, the `CONDITION_INPUTS` as `raw_<name>`,
    `unusable` and `unusable_kind`.

    `blur_median` is the reference's median blur score: an input is blurred when its score is
    below both QUAL004's absolute limit and its share of that median (the window's own median
    would hide a camera that has gone soft altogether)."""
    records = records.reset_index(drop=True)
    n = len(records)

    def column(name: str) -> pd.Series:
        return records[name] if name in records else pd.Series([None] * n, dtype=object)

    cols: dict[str, object] = {
        "id": column("id").astype(str) if "id" in records else pd.RangeIndex(n).astype(str),
        "captured_at": pd.to_datetime(column("captured_at"), utc=True, errors="coerce"),
        "source": column("source").fillna("unknown").astype(str),
        "model_version": column("model_version"),
        "pred": column("pred").astype("string"),
        "label": column("label").astype("string"),
    }
    probs = _probs(records, classes)
    finite = np.isfinite(probs).all(axis=1) & (probs.shape[1] > 0)
    cols["conf"] = np.where(finite, np.nanmax(np.where(finite[:, None], probs, 0.0), axis=1)
                            if probs.shape[1] else np.nan, np.nan)
    for i in range(len(classes)):
        cols[f"p_{i}"] = probs[:, i]
    feats = features_table(records)
    cond = conditions(feats)
    for name in CONDITIONS:
        cols[COND_PREFIX + name] = cond[name].to_numpy()
    kinds = unusable_kinds(feats, blur_median)
    cols["unusable_kind"] = kinds.to_numpy()
    cols["unusable"] = kinds.notna().to_numpy()
    out = pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v)
                        for k, v in cols.items()}, index=records.index)
    extra = feats.reindex(columns=list(CONTENT_COLUMNS)).apply(pd.to_numeric, errors="coerce")
    raw = feats.reindex(columns=list(CONDITION_INPUTS)).add_prefix(RAW_PREFIX)
    out = pd.concat([out, extra, raw], axis=1)
    for c in ("pred", "label"):
        out[c] = out[c].astype("string")
    return out


def unusable_kinds(feats: pd.DataFrame, blur_median: float | None) -> pd.Series:
    """Why each input is unusable (None when it is fine), by the QUAL rules' own limits."""
    kind = pd.Series([None] * len(feats), index=feats.index, dtype=object)
    have = feats.columns
    checks: list[tuple[str, pd.Series]] = []
    if "brightness_p95" in have:
        checks.append(("dark", DarkImages().flag(feats)[0]))
    if "brightness_p05" in have:
        checks.append(("over_exposed", LightImages().flag(feats)[0]))
    if "entropy" in have:
        checks.append(("blank", LowInformation().flag(feats)[0]))
    if {"sharpness", "contrast"} <= set(have):
        from pitfalls.rules.quality import BlurryImages

        p = BlurryImages.params
        score = blur_score(feats)
        limit = p["max_blur_score"].default
        if blur_median is not None and np.isfinite(blur_median):
            limit = min(limit, blur_median * p["max_score_of_median"].default)
        judged = pd.to_numeric(feats["contrast"], errors="coerce") >= p["min_contrast"].default
        checks.append(("blurred", (score < limit) & judged))
    for name, hit in reversed(checks):
        kind[hit.fillna(False).to_numpy(bool)] = name
    kind[~feats["ok"].to_numpy(bool)] = "unreadable"
    return kind


def records_frame(records: Sequence[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Records (dicts as the API receives them, or a DataFrame) as a DataFrame."""
    return records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))


def read_window(store: Any, ref: Any, start: Any, end: Any, *, source: str | None = None,
                sample: int | None = None) -> pd.DataFrame:
    """The flattened records of [start, end) (of one source, when given) read from the service's
    `store`: a uniform sample of about `sample` records of a busier window, without the
    features the analysis never reads (`UNREAD`)."""
    rows = store.records_between(start, end, source=source, sample=sample, drop_features=UNREAD)
    return flatten(pd.DataFrame(rows), ref.classes, ref.blur_median)
