"""Coverage of the 95% intervals, by simulation: small and large test sets, accuracies from 0.6 to
0.98, images independent or in capture sessions that share their difficulty.

The simulations draw right/wrong answers from known accuracies and count how often the interval
contains the truth; nothing here reuses the estimator's formulas. Each cell is vectorised over
thousands of simulated test sets (the interval functions take units on the last axis), so the
whole grid runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from pitfalls.evaluation.metrics import (
    design_effect,
    proportion_interval,
    score,
    subset_comparison,
    subset_intervals,
)

SIMS = 4000
SIZES = (20, 50, 200)
ACCURACIES = (0.6, 0.9, 0.98)
KAPPA = 10.0  # sessions' accuracies ~ Beta(acc·κ, (1−acc)·κ): intra-session correlation 1/11


def _units(rng: np.random.Generator, n: int, clustered: bool) -> np.ndarray:
    """(SIMS, n) images per unit, zero-padded: every image its own unit, or sessions of 1-6
    images cut to exactly n images per test set."""
    if not clustered:
        return np.ones((SIMS, n))
    size = rng.integers(1, 7, size=(SIMS, n)).astype(float)
    end = np.cumsum(size, axis=1)
    return np.clip(n - (end - size), 0, size)


def _right(rng: np.random.Generator, m: np.ndarray, acc: float | np.ndarray,
           clustered: bool) -> np.ndarray:
    """Right answers per unit: binomial at the unit's own accuracy."""
    if clustered:
        acc = rng.beta(acc * KAPPA, (1 - acc) * KAPPA, size=m.shape)
    return rng.binomial(m.astype(int), acc).astype(float)


def _coverage(ci: np.ndarray, truth: float | np.ndarray, use: np.ndarray | None = None) -> float:
    hit = (ci[..., 0] <= truth + 1e-12) & (truth - 1e-12 <= ci[..., 1])
    return float(hit[use].mean() if use is not None else hit.mean())


CELLS = [(n, acc, clustered) for clustered in (False, True) for n in SIZES for acc in ACCURACIES]


def _id(cell: tuple[int, float, bool]) -> str:
    return f"n{cell[0]}-acc{cell[1]}-{'sessions' if cell[2] else 'independent'}"


@pytest.mark.parametrize("cell", CELLS, ids=_id)
def test_accuracy_interval_covers(cell: tuple[int, float, bool]) -> None:
    n, acc, clustered = cell
    rng = np.random.default_rng([n, int(acc * 100), clustered])
    m = _units(rng, n, clustered)
    ci = proportion_interval(_right(rng, m, acc, clustered), m)
    assert 0.93 <= _coverage(ci, acc) <= 0.99


@pytest.mark.parametrize("cell", CELLS, ids=_id)
def test_per_class_recall_interval_covers(cell: tuple[int, float, bool]) -> None:
    """Two classes; a session holds one object, so one class. Recall of class 0 is the share of
    its images answered right, over a support that itself varies between test sets."""
    n, acc, clustered = cell
    rng = np.random.default_rng([n, int(acc * 100), clustered, 1])
    m = _units(rng, n, clustered)
    right = _right(rng, m, acc, clustered)
    is_zero = rng.random(m.shape) < 0.5
    support = m * is_zero
    # as score() does: a class all right takes the whole set's design effect
    ci = proportion_interval(right * is_zero, support, fallback=design_effect(right, m))
    assert 0.93 <= _coverage(ci, acc, use=support.sum(axis=1) > 0) <= 0.99


# Where both parts of a small test set are at least 90% right, the difference is within a few
# images of zero and no interval that is valid elsewhere excludes it: 7 of 7 leaked images right
# against 12 of 13 kept is no evidence of a difference (Fisher's exact p = 1). Coverage there is
# 99.4-100%, conservative by necessity, and only the lower limit is required.
NEAR_ZERO = {(20, 0.9), (20, 0.98), (50, 0.98)}


@pytest.mark.parametrize("cell", CELLS, ids=_id)
def test_leak_free_difference_interval_covers(cell: tuple[int, float, bool]) -> None:
    """EVAL002's difference (score on all − score leak-free): a third of the units leaked and
    answered from memory (98% right), the rest at `acc`. The truth, given which units leaked,
    is share_leaked × (0.98 − acc); test sets with nothing leaked or nothing kept are left out
    (EVAL002 reports no difference there)."""
    n, acc, clustered = cell
    rng = np.random.default_rng([n, int(acc * 100), clustered, 2])
    m = _units(rng, n, clustered)
    leak = (rng.random(m.shape) < 1 / 3) & (m > 0)
    right = np.where(leak, _right(rng, m, 0.98, clustered), _right(rng, m, acc, clustered))
    kept = m * ~leak
    ci = subset_intervals(right, m, kept, right * ~leak)
    n_leaked = (m * leak).sum(axis=1)
    truth = n_leaked / n * (0.98 - acc)
    use = (n_leaked > 0) & (kept.sum(axis=1) > 0)
    assert 0.93 <= _coverage(ci["all"], ((m * leak).sum(1) * 0.98 + kept.sum(1) * acc) / n,
                             use) <= 0.99
    assert 0.93 <= _coverage(ci["kept"], acc, use) <= 0.99
    coverage = _coverage(ci["difference"], truth, use)
    assert 0.93 <= coverage <= (1.0 if (n, acc) in NEAR_ZERO else 0.99)


def test_twenty_right_of_twenty_is_not_certainty() -> None:
    """The percentile bootstrap gave [1, 1] here; 20 of 20 is compatible with 85% accuracy."""
    y = np.arange(20) % 2
    sc = score(y, y, ["a", "b"])
    lo, hi = sc.metrics["accuracy"]["ci"]
    assert lo <= 0.86 and hi == 1.0
    assert sc.metrics["balanced_accuracy"]["ci"][0] <= 0.86
    assert sc.metrics["macro_f1"]["ci"][0] <= 0.86
    for c in sc.per_class:  # 10 of 10 per class: wider still
        assert c["recall_ci"][0] <= 0.75 and c["precision_ci"][0] <= 0.75
    # in sessions of four the evidence is five sessions, not twenty images
    grouped = score(y, y, ["a", "b"], units=np.arange(20) // 4)
    assert grouped.metrics["accuracy"]["ci"][0] < lo


def test_score_and_comparison_use_these_intervals() -> None:
    """The report's numbers are the simulated intervals, not another estimate."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.8, y, (y + 1) % 3)
    units = np.arange(60) // 3
    sc = score(y, pred, ["a", "b", "c"], units=units)
    right = np.bincount(units, weights=(y == pred))
    rows = np.bincount(units).astype(float)
    assert sc.metrics["accuracy"]["ci"] == pytest.approx(proportion_interval(right, rows))
    keep = rng.random(60) < 0.7
    cmp = subset_comparison(y == pred, keep, units)
    kept = np.bincount(units, weights=keep, minlength=20)
    kept_right = np.bincount(units, weights=keep & (y == pred), minlength=20)
    ref = subset_intervals(right, rows, kept, kept_right)
    assert cmp["ci_all"] == pytest.approx(ref["all"])
    assert cmp["ci_leak_free"] == pytest.approx(ref["kept"])
    assert cmp["ci_difference"] == pytest.approx(ref["difference"])
    assert cmp["ci_difference"][0] <= cmp["difference"] <= cmp["ci_difference"][1]


@pytest.mark.parametrize("cell", [c for c in CELLS if c[0] >= 50], ids=_id)
def test_leak_test_holds_its_level(cell: tuple[int, float, bool]) -> None:
    """EVAL002 calls the score inflated when p < 0.01, i.e. when the lower limit of the 98%
    interval of the difference is above zero. With leaked and kept images equally accurate,
    that happens in at most about 1% of test sets, all-right leaked parts included."""
    n, acc, clustered = cell
    rng = np.random.default_rng([n, int(acc * 100), clustered, 3])
    m = _units(rng, n, clustered)
    leak = (rng.random(m.shape) < 1 / 3) & (m > 0)
    right = _right(rng, m, acc, clustered)
    kept = m * ~leak
    use = ((m * leak).sum(axis=1) > 0) & (kept.sum(axis=1) > 0)
    lower = subset_intervals(right, m, kept, right * ~leak, level=0.98)["difference"][:, 0]
    assert (lower[use] > 0).mean() <= 0.015


def test_p_value_agrees_with_the_interval() -> None:
    """The demo's case: 16 leaked images, all right, in sessions of two to three, against 62 of
    80 on the rest. A percentile bootstrap gave p = 0.0005 (an all-right part does not vary in
    its resamples); the interval of the difference holds zero, and so must the test."""
    correct = np.r_[np.ones(16), np.arange(80) % 40 >= 9].astype(bool)
    keep = np.r_[np.zeros(16), np.ones(80)].astype(bool)
    units = np.r_[np.arange(16) // 2.5, 100 + np.arange(80) // 2].astype(int)
    out = subset_comparison(correct, keep, units)
    assert out["score_leak_free"] == pytest.approx(62 / 80)
    assert out["ci_difference"][0] < 0 < out["ci_difference"][1]
    assert out["p_value"] > 0.05
    rng = np.random.default_rng(8)
    for _ in range(5):
        leaked = rng.random(150) < 0.3
        correct = np.where(leaked, rng.random(150) < 0.97, rng.random(150) < rng.uniform(0.6, 0.9))
        out = subset_comparison(correct, ~leaked, np.arange(150) // 3)
        for alpha in (0.01, 0.05):
            lower = subset_comparison(correct, ~leaked, np.arange(150) // 3,
                                      level=1 - 2 * alpha)["ci_difference"][0]
            assert (out["p_value"] < alpha) == (lower > 0)
