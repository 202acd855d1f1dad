"""The evaluation set of a scan (labelled images with predictions) and everything measured on it.

Computed once per context and shared by the EVAL/IMB003 rules and the report's evaluation section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pitfalls.context import Context
from pitfalls.evaluation.metrics import Scores, score, subset_comparison
from pitfalls.evaluation.predictions import Predictions
from pitfalls.similarity import components, leaked_rows

UNIT_KINDS = ("group", "session", "near", "bytes", "pixels")
"""Links whose connected components are resampled as one unit by the bootstrap."""

CONDITIONS = {"brightness": "brightness", "sharpness": "sharpness", "megapixels": "size"}
CAMERA_COLUMNS = ("exif_model", "exif_make")


@dataclass
class EvalSet:
    """The labelled, predicted rows of one evaluation split."""

    split: str | None
    rows: np.ndarray
    classes: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray | None
    units: np.ndarray | None

    @property
    def correct(self) -> np.ndarray:
        return self.y_true == self.y_pred

    def __len__(self) -> int:
        return len(self.rows)


def _eval_split(ctx: Context, has: np.ndarray) -> str | None:
    split = ctx.table["split"]
    if "splits" not in ctx.available() and not ctx.eval_splits:
        return None
    order = sorted(ctx.eval_splits, key=lambda s: {"test": 0, "val": 1}.get(s, 2))
    for s in order:
        if (has & (split == s).to_numpy()).any():
            return s
    return None


def eval_set(ctx: Context) -> EvalSet | None:
    """The evaluation set: labelled rows with predictions in the test split (else val, else
    another evaluation split; every row when the data has no evaluation split)."""
    def build() -> EvalSet | None:
        preds: Predictions | None = ctx.extras.get("predictions")
        if preds is None:
            return None
        t = ctx.table
        has = preds.has & t["label"].notna().to_numpy()
        split = _eval_split(ctx, has)
        mask = has & (t["split"] == split).to_numpy() if split else has
        rows = np.flatnonzero(mask)
        if not len(rows):
            return None
        classes = list(preds.classes)
        index = {c: i for i, c in enumerate(classes)}
        y_true = np.array([index[str(v)] for v in t["label"].to_numpy()[rows]])
        y_pred = np.array([index[str(v)] for v in preds.pred[rows]])
        probs = preds.probs[rows] if preds.probs is not None else None
        comp = components(ctx, UNIT_KINDS)[rows]
        units = comp if len(np.unique(comp)) < len(rows) else None
        return EvalSet(split=split, rows=rows, classes=classes, y_true=y_true, y_pred=y_pred,
                       probs=probs, units=units)
    return ctx.derived("eval_set", build)


def scores(ctx: Context) -> Scores | None:
    """Metrics with intervals of the evaluation set (None without one)."""
    def build() -> Scores | None:
        es = eval_set(ctx)
        if es is None:
            return None
        return score(es.y_true, es.y_pred, es.classes, es.probs, es.units)
    return ctx.derived("eval_scores", build)


def leak_comparison(ctx: Context) -> dict[str, Any] | None:
    """Accuracy on the whole evaluation set vs on its images with no leak link to train."""
    def build() -> dict[str, Any] | None:
        es = eval_set(ctx)
        if es is None or es.split is None:
            return None
        bad = leaked_rows(ctx)
        keep = np.array([int(r) not in bad for r in es.rows])
        out = subset_comparison(es.correct, keep, es.units)
        out["split"] = es.split
        out["leaked_paths"] = ctx.table["path"].to_numpy()[es.rows[~keep]].tolist()
        return out
    return ctx.derived("eval_leak", build)


def slice_table(ctx: Context, min_n: int = 20, max_levels: int = 20, n_bins: int = 4
                ) -> pd.DataFrame:
    """Every slice (metadata value, condition bin, camera) with its accuracy vs the rest.

    Columns: column, kind, value, n, accuracy, accuracy_rest, p_value (one-sided Fisher exact
    test that the slice is worse), q_value (Benjamini–Hochberg over all slices), rows.
    """
    def build() -> pd.DataFrame:
        from scipy import stats  # loaded only when predictions are scored

        es = eval_set(ctx)
        cols = ["column", "kind", "value", "n", "accuracy", "accuracy_rest", "p_value",
                "q_value", "rows"]
        if es is None:
            return pd.DataFrame(columns=cols)
        t = ctx.table.iloc[es.rows].reset_index(drop=True)
        keys: list[tuple[str, str, pd.Series]] = []
        for col in ctx.dataset.meta_columns:
            if col in t and t[col].notna().any():
                keys.append((col, "metadata", t[col].map(lambda v: None if pd.isna(v) else str(v))))
        for col, name in CONDITIONS.items():
            if col in t:
                values = pd.to_numeric(t[col], errors="coerce")
                if values.nunique() >= n_bins:
                    bins = pd.qcut(values, n_bins, duplicates="drop")
                    keys.append((name, "condition", bins.map(
                        lambda b: None if pd.isna(b) else f"{b.left:.3g}–{b.right:.3g}")))
        # the EXIF camera beside a manifest column named 'camera': two sources, told apart
        exif_name = "camera (EXIF)" if "camera" in {k[0] for k in keys} else "camera"
        for col in CAMERA_COLUMNS:
            if col in t and t[col].notna().any():
                keys.append((exif_name, "condition", t[col].map(
                    lambda v: None if pd.isna(v) or not str(v) else str(v))))
                break
        correct = es.correct
        out = []
        seen: set[bytes] = set()
        for col, kind, values in keys:
            levels = values.dropna().unique()
            if len(levels) < 2 or len(levels) > max_levels:
                continue
            for level in levels:
                inside = (values == level).to_numpy()
                # The same images under two names (a manifest 'camera' column and the EXIF
                # camera agree on a camera but not on every row) are one slice, tested and
                # corrected for once: slices are told apart by their rows, not their names.
                if inside.tobytes() in seen:
                    continue
                seen.add(inside.tobytes())
                n_in, n_out = int(inside.sum()), int((~inside).sum())
                if n_in < min_n or n_out < min_n:
                    continue
                c_in, c_out = int(correct[inside].sum()), int(correct[~inside].sum())
                p = stats.fisher_exact([[c_in, n_in - c_in], [c_out, n_out - c_out]],
                                 alternative="less")[1]
                out.append({"column": col, "kind": kind, "value": str(level), "n": n_in,
                            "accuracy": c_in / n_in, "accuracy_rest": c_out / n_out,
                            "p_value": float(p), "rows": es.rows[inside]})
        frame = pd.DataFrame(out, columns=[c for c in cols if c != "q_value"])
        frame["q_value"] = stats.false_discovery_control(frame["p_value"]) if len(frame) else []
        return frame.sort_values("p_value").reset_index(drop=True)
    return ctx.derived(f"eval_slices-{min_n}-{max_levels}-{n_bins}", build)


def evaluation_section(ctx: Context) -> dict[str, Any] | None:
    """Every figure of the evaluation for the report (metrics, intervals, confusion matrix,
    reliability bins, full vs leak-free, worst slices)."""
    es = eval_set(ctx)
    sc = scores(ctx)
    if es is None or sc is None:
        return None
    section = {"split": es.split, **sc.to_dict(),
               "bootstrap": {"resamples": 1000, "level": 0.95,
                             "unit": "group" if es.units is not None else "image",
                             "n_units": int(len(np.unique(es.units))) if es.units is not None
                             else len(es)}}
    leak = leak_comparison(ctx)
    section["leak"] = {k: v for k, v in leak.items() if k != "leaked_paths"} if leak else None
    sl = slice_table(ctx)
    paths = ctx.table["path"].to_numpy()
    worst = []
    for rec in sl.head(10).to_dict("records"):
        wrong = [int(r) for r in rec.pop("rows") if not _is_correct(es, int(r))]
        rec["failures"] = [{"path": str(paths[r]), **outcome(es, r)} for r in wrong[:6]]
        worst.append(rec)
    section["slices"] = worst
    return section


def outcome(es: EvalSet, row: int) -> dict[str, str]:
    """The true label and the prediction of one evaluation row (a row of the table)."""
    pos = int(np.searchsorted(es.rows, row))
    return {"label": str(es.classes[int(es.y_true[pos])]),
            "pred": str(es.classes[int(es.y_pred[pos])])}


def _is_correct(es: EvalSet, row: int) -> bool:
    pos = int(np.searchsorted(es.rows, row))
    return bool(es.correct[pos])
