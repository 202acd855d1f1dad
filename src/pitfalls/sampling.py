"""Stratified K-fold splits and stratified subsamples, without importing scikit-learn.

Both give exactly what scikit-learn's `StratifiedKFold(shuffle=True, random_state=seed)` and
`resample(..., replace=False, stratify=..., random_state=seed)` give (tests hold them equal). They
are written here because importing scikit-learn (and the SciPy statistics it pulls in) costs about
0.6 s of CPU, a tenth of a default scan of 2,500 images on two cores, and these two are all the
scan's probes need from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_folds(y: Sequence[object] | np.ndarray, n_splits: int, seed: int = 0
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of `n_splits` shuffled folds that keep each class's share.

    Classes are dealt to the folds in turn (in order of first appearance), then each class's fold
    numbers are shuffled by a `RandomState(seed)`: the folds of `StratifiedKFold`.
    """
    y = np.asarray(y)
    if n_splits < 2:
        raise ValueError(f"n_splits must be at least 2, got {n_splits}")
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    _, by_appearance = np.unique(first, return_inverse=True)
    encoded = by_appearance[inverse.ravel()]
    n_classes = len(first)
    if np.all(n_splits > np.bincount(encoded)):
        raise ValueError(f"n_splits={n_splits} is greater than the number of members of every "
                         "class")
    ordered = np.sort(encoded)
    allocation = np.asarray([np.bincount(ordered[i::n_splits], minlength=n_classes)
                             for i in range(n_splits)])
    rng = np.random.RandomState(seed)
    test_fold = np.empty(len(y), dtype=np.int64)
    for k in range(n_classes):
        folds = np.arange(n_splits).repeat(allocation[:, k])
        rng.shuffle(folds)
        test_fold[encoded == k] = folds
    rows = np.arange(len(y))
    return [(rows[test_fold != i], rows[test_fold == i]) for i in range(n_splits)]


def _share_out(counts: np.ndarray, n: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `n` draws each class gets: the floor of its share, then one more for the
    largest remainders (ties broken at random)."""
    continuous = counts / counts.sum() * n
    floored = np.floor(continuous)
    need = int(n - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            now = min(len(tied), need)
            floored[rng.choice(tied, size=now, replace=False)] += 1
            need -= now
            if need == 0:
                break
    return floored.astype(int)


def stratified_sample(y: Sequence[object] | np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Positions of `n` rows drawn without replacement, each class keeping its share (in the
    order scikit-learn's stratified `resample` returns them)."""
    y = np.asarray(y)
    if n > len(y):
        raise ValueError(f"cannot draw {n} rows out of {len(y)} without replacement")
    rng = np.random.RandomState(seed)
    _, encoded = np.unique(y, return_inverse=True)
    encoded = encoded.ravel()
    counts = np.bincount(encoded)
    members = np.split(np.argsort(encoded, kind="mergesort"), np.cumsum(counts)[:-1])
    per_class = _share_out(counts, n, rng)
    drawn: list[int] = []
    for rows, k in zip(members, per_class, strict=True):
        drawn.extend(rng.choice(rows, k, replace=False))
    return rng.permutation(np.asarray(drawn, dtype=np.int64))
