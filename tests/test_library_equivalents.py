"""The scan's own stratified folds and subsamples, chi-squared test, logistic probe and confident
learning give what scikit-learn, SciPy and cleanlab give (the scan avoids importing them)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from cleanlab.filter import find_label_issues as cleanlab_issues
from PIL import Image
from scenes import scene
from scipy.stats import chi2_contingency
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import resample

from pitfalls.evaluation.confident import find_label_issues
from pitfalls.evaluation.logistic import fit_predict_proba
from pitfalls.rules.imbalance import chi2_pvalue
from pitfalls.sampling import stratified_folds, stratified_sample


def _labels(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    names = np.array(["zebra", "apple", "mango", "kiwi", "fig", "lime", "pear"])[:k]
    return names[rng.choice(k, n, p=rng.dirichlet(np.ones(k) * 2))]


@pytest.mark.parametrize("seed", range(8))
def test_stratified_folds_are_scikit_learns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = _labels(rng, int(rng.integers(40, 400)), int(rng.integers(2, 7)))
    n_splits = int(min(5, pd.Series(y).value_counts().min(), 2 + seed % 4))
    if n_splits < 2:
        pytest.skip("a class too small for two folds")
    ours = stratified_folds(y, n_splits, seed)
    theirs = list(StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(y, y))
    assert len(ours) == len(theirs) == n_splits
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)


def test_stratified_folds_refuse_too_many_splits() -> None:
    with pytest.raises(ValueError, match="greater than the number of members"):
        stratified_folds(["a", "b", "a"], 3)


@pytest.mark.parametrize("seed", range(8))
def test_stratified_sample_is_scikit_learns_resample(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    frame = pd.DataFrame({"label": _labels(rng, int(rng.integers(50, 3000)), 5)})
    frame["x"] = rng.normal(size=len(frame))
    n = int(rng.integers(10, len(frame)))
    ours = frame.iloc[stratified_sample(frame["label"].to_numpy(), n, seed)]
    theirs = resample(frame, n_samples=n, replace=False, stratify=frame["label"],
                      random_state=seed)
    pd.testing.assert_frame_equal(ours, theirs)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (2, 7), (3, 4)])
def test_chi2_pvalue_is_scipys(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        table = rng.integers(1, 60, size=shape)
        assert chi2_pvalue(table) == pytest.approx(chi2_contingency(table)[1], rel=1e-9)


def test_chi2_pvalue_of_degenerate_tables_is_one() -> None:
    assert chi2_pvalue(np.array([[3, 4, 5]])) == 1.0  # one row: nothing to compare
    assert chi2_pvalue(np.array([[3, 4], [0, 0]])) == 1.0  # an empty row: expected counts 0


def _blobs(rng: np.random.Generator, n: int, k: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, k, n)
    centres = rng.normal(scale=1.5, size=(k, d))
    x = centres[y] + rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d)
    return (x * rng.uniform(0.1, 50, d) + rng.normal(size=d) * 10).astype(np.float32), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [2, 3, 6])
def test_logistic_probe_matches_scikit_learn(k: int, dtype: type) -> None:
    rng = np.random.default_rng(k)
    x, y = _blobs(rng, 600, k, 24)
    x = x.astype(dtype)
    x[:, 3] = 7.0  # a constant column
    train, test = np.arange(450), np.arange(450, 600)
    ours = fit_predict_proba(x[train], y[train], x[test], k)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    theirs = model.fit(x[train], y[train]).predict_proba(x[test])
    assert ours.shape == theirs.shape == (150, k)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0)
    assert np.abs(ours - theirs).max() < 2e-3
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).mean() >= 0.99


def _noisy_probs(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2.5 * np.eye(k)[true]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = true.copy()
    flip = rng.random(n) < 0.15
    given[flip] = rng.integers(0, k, flip.sum())
    return given, probs


@pytest.mark.parametrize("seed", range(30))
def test_confident_learning_is_cleanlabs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 2 + seed % 6
    labels, probs = _noisy_probs(rng, int(rng.integers(30, 800)), k)
    ours = find_label_issues(labels, probs)
    theirs = cleanlab_issues(labels, probs, n_jobs=1, return_indices_ranked_by="self_confidence")
    np.testing.assert_array_equal(ours, theirs)


def test_confident_learning_with_a_tiny_class_is_cleanlabs() -> None:
    rng = np.random.default_rng(7)
    labels, probs = _noisy_probs(rng, 200, 4)
    labels[labels == 3] = 2
    labels[0] = 3  # one image in class 3: nothing flagged there, the rest still judged
    ours = find_label_issues(labels, probs)
    with pytest.warns(UserWarning):
        theirs = cleanlab_issues(labels, probs, n_jobs=1,
                                 return_indices_ranked_by="self_confidence")
    np.testing.assert_array_equal(ours, theirs)


def test_a_scan_imports_neither_scikit_learn_nor_cleanlab(tmp_path) -> None:
    """The point of the equivalents above: a default scan of labelled, split images (probes,
    confident learning, imbalance tests all running) leaves these modules unloaded."""
    for i in range(36):
        split, label = ("train", "test")[i % 4 == 0], ("apple", "kiwi", "fig")[i % 3]
        folder = tmp_path / "data" / split / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scene(i)).save(folder / f"{i}.jpg")
    code = ("import sys, pitfalls\n"
            f"report = pitfalls.scan({str(tmp_path / 'data')!r})\n"
            "assert report.findings is not None\n"
            "print(sorted(m for m in ('sklearn', 'cleanlab', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
