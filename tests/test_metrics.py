"""Metrics with bootstrap intervals: point estimates, interval coverage by simulation, paired
tests."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score

from pitfalls.evaluation.metrics import (
    calibration_bins,
    score,
    subset_comparison,
    wilson_half_width,
)


def _labels(rng: np.random.Generator, n: int, k: int, acc: float) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, k, n)
    right = rng.random(n) < acc
    wrong = (y + rng.integers(1, k, n)) % k
    return y, np.where(right, y, wrong)


def test_point_estimates_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y, pred = _labels(rng, 300, 4, 0.7)
    sc = score(y, pred, ["a", "b", "c", "d"], n_resamples=200)
    assert sc.value("accuracy") == pytest.approx(accuracy_score(y, pred))
    assert sc.value("balanced_accuracy") == pytest.approx(balanced_accuracy_score(y, pred))
    assert sc.value("macro_f1") == pytest.approx(f1_score(y, pred, average="macro"))
    recalls = recall_score(y, pred, average=None)
    assert [c["recall"] for c in sc.per_class] == pytest.approx(recalls)
    assert np.array(sc.confusion).sum() == 300
    assert np.trace(np.array(sc.confusion)) == int((y == pred).sum())
    for name in ("accuracy", "balanced_accuracy", "macro_f1"):
        lo, hi = sc.metrics[name]["ci"]
        assert lo <= sc.value(name) <= hi


def test_top_k_and_calibration_from_probabilities() -> None:
    rng = np.random.default_rng(2)
    n, k = 400, 3
    logits = rng.normal(size=(n, k)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in probs])  # calibrated by construction
    pred = probs.argmax(axis=1)
    sc = score(y, pred, ["a", "b", "c"], probs=probs, n_resamples=300)
    top2 = np.mean([y[i] in np.argsort(-probs[i])[:2] for i in range(n)])
    assert sc.value("top_2_accuracy") == pytest.approx(top2)
    assert sc.value("top_2_accuracy") >= sc.value("accuracy")
    assert sc.calibration is not None and sc.calibration["ece"] < 0.08
    assert sum(b["n"] for b in sc.calibration["bins"]) == n


def test_ece_of_overconfident_predictions() -> None:
    conf = np.full(1000, 0.95)
    correct = (np.arange(1000) % 10 < 7).astype(float)  # 70% right at 95% confidence
    _, bins, ece = calibration_bins(conf, correct)
    assert ece == pytest.approx(0.25)
    full = [b for b in bins if b["n"]]
    assert len(full) == 1 and full[0]["accuracy"] == pytest.approx(0.7)


def test_interval_coverage_iid() -> None:
    """95% bootstrap intervals of accuracy cover the true accuracy 93-97% of the time."""
    rng = np.random.default_rng(20240501)
    truth, n, sims = 0.8, 200, 400
    hits = 0
    for s in range(sims):
        y, pred = _labels(rng, n, 2, truth)
        lo, hi = score(y, pred, ["a", "b"], n_resamples=1000, seed=s).metrics["accuracy"]["ci"]
        hits += lo <= truth <= hi
    assert 0.93 <= hits / sims <= 0.97


def test_interval_coverage_with_groups() -> None:
    """Correlated images (groups with their own difficulty): resampling whole groups keeps the
    coverage near 95%, while resampling images ignores the correlation and under-covers."""
    rng = np.random.default_rng(7)
    sims, n_groups = 300, 60
    hits_group = hits_image = 0
    for s in range(sims):
        size = rng.integers(2, 9, n_groups)
        p = rng.beta(8, 2, n_groups)  # per-group accuracy, mean 0.8 = the truth
        units = np.repeat(np.arange(n_groups), size)
        y = rng.integers(0, 2, len(units))
        pred = np.where(rng.random(len(units)) < p[units], y, 1 - y)
        lo, hi = score(y, pred, ["a", "b"], units=units, n_resamples=1000,
                       seed=s).metrics["accuracy"]["ci"]
        hits_group += lo <= 0.8 <= hi
        lo, hi = score(y, pred, ["a", "b"], n_resamples=1000, seed=s).metrics["accuracy"]["ci"]
        hits_image += lo <= 0.8 <= hi
    assert 0.93 <= hits_group / sims <= 0.97
    assert hits_image / sims < hits_group / sims


def test_subset_comparison_detects_inflation() -> None:
    rng = np.random.default_rng(3)
    leaked = np.arange(200) < 60
    correct = np.where(leaked, True, rng.random(200) < 0.55)
    out = subset_comparison(correct, ~leaked)
    assert out["score_leak_free"] == pytest.approx(correct[~leaked].mean())
    assert out["score_all"] == pytest.approx(correct.mean())
    assert out["n_all"] == 200 and out["n_leak_free"] == 140
    assert out["p_value"] < 0.01
    assert out["ci_difference"][0] > 0


def test_subset_comparison_without_inflation() -> None:
    rng = np.random.default_rng(4)
    correct = rng.random(300) < 0.8
    keep = rng.random(300) < 0.7  # excluded rows are a random subset: no inflation
    out = subset_comparison(correct, keep)
    assert out["p_value"] > 0.01
    assert out["ci_difference"][0] <= 0 <= out["ci_difference"][1]


def test_wilson_half_width_shrinks_with_n() -> None:
    assert wilson_half_width(1.0, 10) > 0.1
    assert wilson_half_width(0.5, 400) == pytest.approx(0.049, abs=0.001)
    assert np.isnan(wilson_half_width(0.5, 0))


def test_empty_and_single_class_sets_do_not_crash() -> None:
    sc = score(np.array([], dtype=int), np.array([], dtype=int), ["a", "b"], n_resamples=50)
    assert sc.n == 0 and np.isnan(sc.value("accuracy"))
    sc = score(np.zeros(10, int), np.zeros(10, int), ["a", "b"], n_resamples=50)
    assert sc.value("accuracy") == 1.0
    assert np.isnan(sc.per_class[1]["recall"])
