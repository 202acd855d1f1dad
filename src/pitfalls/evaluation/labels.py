"""Likely label errors by confident learning, from predictions or an embedding probe.

The probe (a standardised logistic regression, out-of-fold) and confident learning are the
project's own equivalents of scikit-learn's and cleanlab's (`pitfalls.evaluation.logistic`,
`pitfalls.evaluation.confident`, held equal to them by tests), so that a scan does not pay for
importing either; scikit-learn is imported only when declared groups must be kept together in
the folds (its `StratifiedGroupKFold`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pitfalls.context import Context
from pitfalls.evaluation.confident import find_label_issues, self_confidence
from pitfalls.evaluation.logistic import fit_predict_proba
from pitfalls.evaluation.metrics import rates_from_counts
from pitfalls.evaluation.predictions import Predictions
from pitfalls.sampling import stratified_folds

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
        from sklearn.model_selection import StratifiedGroupKFold

        splits = list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
                      .split(x, y, groups))
    else:
        splits = stratified_folds(y, folds, seed=0)
    probs = np.zeros((len(y), len(classes)))
    for train, test in splits:
        present = np.unique(y[train])  # a group split may leave a class out of a fold
        if len(present) < 2:
            probs[np.ix_(test, present)] = 1.0
            continue
        index_of = np.searchsorted(present, y[train])
        probs[np.ix_(test, present)] = fit_predict_proba(x[train], index_of, x[test],
                                                         len(present))
    pred, k = probs.argmax(axis=1), len(classes)
    bal = float(rates_from_counts(np.bincount(y[pred == y], minlength=k),
                                  np.bincount(y, minlength=k),
                                  np.bincount(pred, minlength=k))["balanced_accuracy"])
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
        ranked = find_label_issues(labels, probs)
        quality = self_confidence(labels, probs)
        out.update(
            rows=[int(rows[i]) for i in ranked],
            given=[classes[labels[i]] for i in ranked],
            suggested=[classes[int(probs[i].argmax())] for i in ranked],
            quality=[float(quality[i]) for i in ranked],
            n_checked=int(len(rows)),
        )
        return out
    return ctx.derived(f"label_issues-{min_probe_accuracy}", build)
