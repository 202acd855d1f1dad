"""Likely label errors by confident learning (cleanlab), from predictions or an embedding probe.

scikit-learn and cleanlab are imported with the module (not inside the functions) so that the
scan's rule preloading, which imports the rule modules while features are extracted, also takes
their ~0.1 s of import time off the rules phase.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pitfalls.context import Context
from pitfalls.evaluation.predictions import Predictions

N_FOLDS = 5


def probe_probabilities(ctx: Context) -> tuple[np.ndarray, np.ndarray, list[str], float] | None:
    """Out-of-fold class probabilities of a logistic-regression probe on the embeddings.

    Returns (rows, pred_probs, classes, balanced accuracy) or None when too few images per class.
    Folds are stratified by label and keep declared groups together.
    """
    t = ctx.table
    labelled = (ctx.ok & t["label"].notna()).to_numpy()
    counts = t.loc[labelled, "label"].value_counts()
    keep = counts[counts >= 2].index
    rows = np.flatnonzero(labelled & t["label"].isin(keep).to_numpy())
    if len(keep) < 2:
        return None
    classes = sorted(str(c) for c in keep)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[str(v)] for v in t["label"].to_numpy()[rows]])
    x = ctx.embeddings()[rows]
    folds = int(min(N_FOLDS, counts[keep].min()))
    groups = t["group"].to_numpy()[rows]
    has_groups = t["group"].notna().to_numpy()[rows]
    if has_groups.all() and len(set(groups)) >= folds:
        cv: Any = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
        split_groups = groups
    else:
        cv, split_groups = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0), None
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probs = cross_val_predict(model, x, y, groups=split_groups, cv=cv,
                                  method="predict_proba")
    bal = float(balanced_accuracy_score(y, probs.argmax(axis=1)))
    return rows, probs, classes, bal


def _from_predictions(ctx: Context, preds: Predictions
                      ) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    t = ctx.table
    rows = np.flatnonzero(preds.has & t["label"].notna().to_numpy())
    if preds.probs is None or len(rows) == 0:
        return None
    labels = t["label"].to_numpy()[rows].astype(str)
    present = [c for c in preds.classes if c in set(labels)]
    if len(present) < 2:
        return None
    cols = [preds.classes.index(c) for c in present]
    probs = preds.probs[rows][:, cols]
    probs = probs / np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None)
    return rows, probs, present


def label_issues(ctx: Context, min_probe_accuracy: float = 0.7) -> dict[str, Any] | None:
    """Rows likely mislabelled, ranked most likely first, with the suggested label and the
    label-quality score; None when the labels cannot be judged."""
    def build() -> dict[str, Any] | None:
        preds = ctx.extras.get("predictions")
        out: dict[str, Any] = {}
        got = _from_predictions(ctx, preds) if preds is not None else None
        if got is not None:
            rows, probs, classes = got
            out["source"] = "predictions"
        else:
            probe = probe_probabilities(ctx)
            if probe is None:
                return None
            rows, probs, classes, bal = probe
            out["source"] = "embedding probe (out-of-fold)"
            out["probe_balanced_accuracy"] = bal
            if bal < min_probe_accuracy:
                return None
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[str(v)] for v in ctx.table["label"].to_numpy()[rows]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # n_jobs=1: cleanlab's default forks a process pool, which costs more than the
            # per-class work it splits (30 ms vs 5 ms on 2,500 images); the result is the same.
            ranked = find_label_issues(labels, probs, n_jobs=1,
                                       return_indices_ranked_by="self_confidence")
            quality = get_label_quality_scores(labels, probs)
        ranked = np.asarray(ranked, dtype=int)
        out.update(
            rows=[int(rows[i]) for i in ranked],
            given=[classes[labels[i]] for i in ranked],
            suggested=[classes[int(probs[i].argmax())] for i in ranked],
            quality=[float(quality[i]) for i in ranked],
            n_checked=int(len(rows)),
        )
        return out
    return ctx.derived(f"label_issues-{min_probe_accuracy}", build)
