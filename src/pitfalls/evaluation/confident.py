"""Confident learning (Northcutt, Jiang and Chuang, JAIR 2021): which given labels to doubt.

The method and defaults of cleanlab's `find_label_issues` (pruning by noise rate, ranked by
self-confidence), in about fifty lines of counting. It is kept here rather than imported because
importing cleanlab costs far more than the counting: its package imports its Datalab, which imports
Hugging Face `datasets` (and `huggingface_hub`, `httpx`, `yaml`) whenever they are installed, as
they are for scanning a Python dataset: about 0.8 s of CPU and 44 MiB of memory on top of
scikit-learn in a scan of 2,500 images on two cores (0.06 s without them). Its tests check
behaviour (planted label flips found with bounded precision and recall, clean labels left alone),
not agreement with cleanlab's internals.

1. Each class's threshold is the mean predicted probability of that class over the images given it.
2. An image is confidently counted as class j when its probability of j reaches j's threshold (the
   most probable such class when several do); the counts per (given, counted) pair form the
   confident joint, calibrated so that each row sums to the class's size.
3. For each given class and each other class j, the images whose margin p(j) - p(given) is
   largest are flagged, as many as the joint counts for that pair (at least one image is kept).
4. Images the model predicts as their given label are never flagged; the rest are ranked by the
   probability of their given label, lowest first.
"""

from __future__ import annotations

import numpy as np

_FUZZ = 1e-6
_TINY = 1e-100


def _round_preserving_sum(values: np.ndarray) -> np.ndarray:
    """Rounded values whose sum is the rounded sum of `values` (largest remainders move)."""
    floats = np.asarray(values, dtype=float)
    ints = floats.round()
    target, got = np.sum(floats).round(), np.sum(ints).round()
    while abs(got - target) > _FUZZ:
        diff = np.round(target - got)
        step = -1 if diff < 0 else 1
        for i in np.argsort(floats - ints)[::-step][:min(int(abs(diff)), len(values))]:
            ints[i] += step
        got = np.sum(ints).round()
    return ints.astype(int)


def _round_rows(matrix: np.ndarray) -> np.ndarray:
    return np.array([_round_preserving_sum(row) for row in matrix], dtype=int)


def self_confidence(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Each image's predicted probability of its given label (its label-quality score)."""
    return probs[np.arange(len(labels)), labels]


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Calibrated counts of images per (given label, confidently counted label)."""
    k = probs.shape[1]
    sizes = np.bincount(labels, minlength=k)
    thresholds = np.array([probs[labels == j, j].mean() if sizes[j] else 2.0 for j in range(k)])
    confident = probs >= np.clip(thresholds, 2 * _FUZZ, None) - _FUZZ
    n_confident = confident.sum(axis=1)
    guess = np.where(n_confident > 1, probs.argmax(axis=1), confident.argmax(axis=1))
    counted = n_confident > 0
    # Counted as (counted, given) and transposed: the memory order decides the order of the
    # floating-point sums below, and so which half-units round up.
    by_guess = np.zeros((k, k), dtype=int)
    np.add.at(by_guess, (guess[counted], labels[counted]), 1)
    joint = by_guess.T
    np.fill_diagonal(joint, joint.diagonal().clip(min=1))
    calibrated = (joint.T / np.clip(joint.sum(axis=1), _TINY, None) * sizes).T
    calibrated = calibrated / np.clip(calibrated.sum(), _TINY, None) * sizes.sum()
    return _round_rows(calibrated)


def _prune_counts(joint: np.ndarray, keep: int) -> np.ndarray:
    """How many images to flag per (counted label, given label), keeping `keep` per class."""
    counts = joint.T
    diagonal = np.diagonal(counts)
    new_diagonal = np.maximum(diagonal, keep)
    per_column = np.maximum(np.count_nonzero(counts, axis=0) - 1.0, 1.0)
    pruned = counts - (new_diagonal - diagonal) / per_column
    pruned[pruned < 0] = 0
    np.fill_diagonal(pruned, new_diagonal)
    return _round_rows(pruned.astype(int)).astype(int)


def find_label_issues(labels: np.ndarray, probs: np.ndarray, keep_per_class: int = 1
                      ) -> np.ndarray:
    """Indices of the images whose given label is likely wrong, most likely first.

    `labels` are integers 0..K-1, `probs` out-of-sample class probabilities (rows sum to 1)."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=float)
    prune = _prune_counts(confident_joint(labels, probs), keep_per_class)
    flagged = np.zeros(len(labels), dtype=bool)
    for k in range(probs.shape[1]):
        members = np.flatnonzero(labels == k)
        if len(members) <= keep_per_class:
            continue
        mine = probs[members]
        mask = np.zeros(len(members), dtype=bool)
        for j in range(probs.shape[1]):
            n = prune[j, k]
            if j != k and n > 0:
                mask[np.argsort(-(mine[:, j] - mine[:, k]))[:n]] = True
        flagged[members] = mask
    nudged = probs.copy()
    nudged[np.arange(len(labels)), labels] += _FUZZ
    flagged[nudged.argmax(axis=1) == labels] = False
    issues = np.flatnonzero(flagged)
    return issues[np.argsort(self_confidence(labels, probs)[issues])]
