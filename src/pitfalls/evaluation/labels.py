"""Likely label errors by confident learning, from predictions or an embedding probe.

The probe is scikit-learn's standardised `LogisticRegression`, out-of-fold in `StratifiedKFold`
(`StratifiedGroupKFold` when every image has a declared group), imported when a scan first needs
it, which the scan's preload thread arranges to be while the features are extracted
(`pitfalls.api`). Confident learning is `pitfalls.evaluation.confident` (why not cleanlab's: there).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from pitfalls.context import Context
from pitfalls.evaluation.confident import find_label_issues, self_confidence
from pitfalls.evaluation.metrics import rates_from_counts
from pitfalls.evaluation.predictions import Predictions

log = logging.getLogger("pitfalls")

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
    probs = np.zeros((len(y), len(classes)))
    for train, test in probe_folds(y, t["group"].iloc[rows], folds):
        present = np.unique(y[train])  # a group split may leave a class out of a fold
        if len(present) < 2:
            probs[np.ix_(test, present)] = 1.0
            continue
        probs[np.ix_(test, present)] = _fit_predict_proba(x[train], y[train], x[test])
    pred, k = probs.argmax(axis=1), len(classes)
    bal = float(rates_from_counts(np.bincount(y[pred == y], minlength=k),
                                  np.bincount(y, minlength=k),
                                  np.bincount(pred, minlength=k))["balanced_accuracy"])
    return rows, probs, classes, bal


def probe_folds(y: np.ndarray, groups: pd.Series, n_splits: int
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled folds stratified by label; declared groups kept within a fold when every image
    has one and there are enough of them."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups.notna().all() and groups.nunique() >= n_splits:
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=0)
        return list(cv.split(y, y, groups.to_numpy()))
    return list(StratifiedKFold(n_splits, shuffle=True, random_state=0).split(y, y))


def _fit_predict_proba(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray
                       ) -> np.ndarray:
    """Probabilities of `x_test` (one column per class of `y_train`, in sorted order) from a
    logistic regression fitted on standardised `x_train`."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x_train, y_train)
    for w in caught:  # an unconverged probe still ranks labels; the user need not see it
        log.debug("label probe: %s", w.message)
    return model.predict_proba(x_test)


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


def likely_label_errors(labels: np.ndarray, probs: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Likely label errors by confident learning (most likely first) and every image's label
    quality (the probability of its given label)."""
    return find_label_issues(labels, probs), self_confidence(labels, probs)


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
        ranked, quality = likely_label_errors(labels, probs)
        out.update(
            rows=[int(rows[i]) for i in ranked],
            given=[classes[labels[i]] for i in ranked],
            suggested=[classes[int(probs[i].argmax())] for i in ranked],
            quality=[float(quality[i]) for i in ranked],
            n_checked=int(len(rows)),
        )
        return out
    return ctx.derived(f"label_issues-{min_probe_accuracy}", build)
