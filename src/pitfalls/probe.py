"""Cross-validated probes: can a handful of columns predict the label, better than chance?

A probe bins every column (quantile bins for numbers, the most frequent values for categories), fits
a categorical naive Bayes (scikit-learn's `CategoricalNB`) with uniform class priors in stratified
K-fold, and scores the out-of-fold predictions by one-vs-rest balanced accuracy per class (chance
0.5), so a cue that gives away a single class among many is not diluted. Naive Bayes on bins is
chosen because it is non-linear per column (an exact image size, a flat frame), needs no scaling,
and fits in milliseconds, so a permutation test with hundreds of refits stays cheap. The permutation
test uses the probe's own statistic (the best class's score), which corrects for having many
classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

N_BINS = 8
MAX_LEVELS = 30


def encode(frame: pd.DataFrame, n_bins: int = N_BINS) -> pd.DataFrame:
    """Integer codes per column: quantile bins for numbers, top values for categories.

    Missing values get their own code. Constant columns are dropped (they cannot predict).
    """
    out = {}
    for col in frame.columns:
        s = frame[col]
        num = pd.to_numeric(s, errors="coerce") if s.dtype != bool else s.astype(float)
        if s.notna().any() and num.notna().sum() == s.notna().sum():
            values = num.to_numpy(dtype=float)
            ok = ~np.isnan(values)
            edges = np.unique(np.quantile(values[ok], np.linspace(0, 1, n_bins + 1)[1:-1]))
            codes = np.searchsorted(edges, values, side="right")
        else:
            text = s.astype("string").fillna(pd.NA)
            top = text.value_counts().index[:MAX_LEVELS]
            # Top values -> 0..len(top)-1, other values -> len(top), missing -> -1.
            codes = top.get_indexer(text).astype(np.int64)
            codes[(codes < 0) & text.notna().to_numpy()] = len(top)
            ok = codes >= 0
        codes = np.where(ok, codes, codes.max(initial=0) + 1).astype(np.int64)
        if len(np.unique(codes)) > 1:
            out[col] = codes
    return pd.DataFrame(out, index=frame.index)


@dataclass
class ProbeResult:
    """How well a probe predicts the label: per-class one-vs-rest balanced accuracy and more."""

    features: list[str]
    classes: list[str]
    per_class: dict[str, float]
    balanced_accuracy: float
    chance: float
    n: int
    n_folds: int
    predictions: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    p_value: float | None = None
    n_permutations: int = 0

    @property
    def best_class(self) -> str:
        return max(self.per_class, key=self.per_class.__getitem__)

    @property
    def score(self) -> float:
        """The best class's one-vs-rest balanced accuracy (chance 0.5)."""
        return max(self.per_class.values()) if self.per_class else 0.5


def ovr_scores(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """One-vs-rest balanced accuracy of each class from multi-class predictions."""
    pos = np.bincount(y, minlength=n_classes)  # images of each class
    tp = np.bincount(y[pred == y], minlength=n_classes)  # ... predicted as their class
    fp = np.bincount(pred, minlength=n_classes) - tp  # other images predicted as the class
    neg = len(y) - pos
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.where(pos > 0, tp / np.maximum(pos, 1), 0.0)
        tnr = np.where(neg > 0, (neg - fp) / np.maximum(neg, 1), 0.0)
    return (tpr + tnr) / 2


def _cv_predict(codes: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                n_classes: int, alpha: float = 1.0) -> np.ndarray:
    """Out-of-fold predictions of a categorical naive Bayes with uniform priors.

    Equivalent to `CategoricalNB(alpha=1, fit_prior=False)` (a test checks this), written with
    NumPy counts because the permutation test refits it thousands of times and scikit-learn's
    per-fit validation would dominate the run time.
    """
    n_values = codes.max(axis=0) + 1
    offsets = np.concatenate([[0], np.cumsum(n_values)[:-1]])
    flat = codes + offsets
    total = int(n_values.sum())
    size = n_classes * total

    def count(rows: np.ndarray | slice) -> np.ndarray:  # (class, value) counts, by bincount
        cells = (y[rows][:, None] * total + flat[rows]).ravel()
        return np.bincount(cells, minlength=size).reshape(n_classes, total).astype(float)

    counts = count(slice(None))
    pred = np.empty(len(y), dtype=np.int64)
    col_of = np.repeat(np.arange(codes.shape[1]), n_values)
    for _, test in folds:
        train = counts - count(test)
        per_class = np.bincount(y, minlength=n_classes) - np.bincount(y[test], minlength=n_classes)
        logp = np.log(train + alpha) - np.log(per_class[:, None] + alpha * n_values[col_of])
        scores = logp[:, flat[test]].sum(axis=2)  # (classes, test rows)
        scores[per_class == 0] = -np.inf
        pred[test] = scores.argmax(axis=0)
    return pred


def _folds(y: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) rows of shuffled folds that keep each class's share (scikit-learn's)."""
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(y, y))


class Probe:
    """A probe over one set of encoded columns and labels, ready to score and permute."""

    def __init__(self, codes: pd.DataFrame, labels: pd.Series, *, folds: int = 5,
                 min_per_class: int = 5, seed: int = 0) -> None:
        counts = labels.value_counts()
        keep = labels.isin(counts[counts >= min_per_class].index)
        self.columns = list(codes.columns)
        self.codes = codes[keep].to_numpy(dtype=np.int64)
        cats = pd.Categorical(labels[keep])
        self.classes = [str(c) for c in cats.categories]
        self.y = cats.codes.astype(np.int64)
        self.index = labels.index[keep]
        self.seed = seed
        n_folds = int(min(folds, counts[counts >= min_per_class].min())) if keep.any() else 0
        self.n_folds = n_folds
        self.usable = len(self.classes) >= 2 and n_folds >= 2 and self.codes.shape[1] > 0
        self.folds = _folds(self.y, n_folds, seed) if self.usable else []

    def run(self, columns: list[str] | None = None) -> ProbeResult:
        """Cross-validated scores of a probe on `columns` (default: all)."""
        idx = ([self.columns.index(c) for c in columns] if columns
               else list(range(len(self.columns))))
        k = len(self.classes)
        if not self.usable or not idx:
            return ProbeResult([self.columns[i] for i in idx], self.classes,
                               {c: 0.5 for c in self.classes}, 1 / max(k, 1), 1 / max(k, 1),
                               len(self.y), self.n_folds, np.array([]), self.y)
        pred = _cv_predict(self.codes[:, idx], self.y, self.folds, k)
        ovr = ovr_scores(self.y, pred, k)
        recall = [float((pred[self.y == c] == c).mean()) for c in range(k)]
        return ProbeResult([self.columns[i] for i in idx], self.classes,
                           dict(zip(self.classes, map(float, ovr), strict=True)),
                           float(np.mean(recall)), 1 / k, len(self.y), self.n_folds, pred, self.y)

    def permutation_test(self, result: ProbeResult, n_permutations: int,
                         stop_above: float | None = None) -> ProbeResult:
        """Fill in the p-value of `result.score` against label permutations (same folds, seed).

        With `stop_above`, permuting stops as soon as the p-value can no longer come out at or
        below it (a sequential test: the decision "p <= stop_above" is the full test's); the
        p-value is then the lower bound reached, above `stop_above`."""
        if not self.usable or n_permutations <= 0:
            return result
        idx = [self.columns.index(c) for c in result.features]
        codes, k = self.codes[:, idx], len(self.classes)
        rng = np.random.default_rng(self.seed)
        hits = done = 0
        for _ in range(n_permutations):
            y = rng.permutation(self.y)
            done += 1
            if ovr_scores(y, _cv_predict(codes, y, self.folds, k), k).max() >= result.score:
                hits += 1
                if stop_above is not None and (hits + 1) / (n_permutations + 1) > stop_above:
                    break
        result.p_value = (hits + 1) / (n_permutations + 1)
        result.n_permutations = done
        return result

    def single_feature_scores(self, cls: str) -> dict[str, float]:
        """Each column alone: its one-vs-rest balanced accuracy for class `cls`, best first."""
        scores = {c: self.run([c]).per_class.get(cls, 0.5) for c in self.columns}
        return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


def subsample(frame: pd.DataFrame, label: str, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """At most `max_rows` rows, stratified by `label` (deterministic)."""
    if len(frame) <= max_rows:
        return frame
    from sklearn.utils import resample

    return resample(frame, n_samples=max_rows, replace=False, stratify=frame[label],
                    random_state=seed)
