"""The label probe's and shortcut probes' folds and subsamples (scikit-learn's), the label probe
(scikit-learn's logistic regression) and confident learning (the project's own), checked by
behaviour: folds that are stratified, disjoint and keep groups together; stratified subsamples; an
out-of-fold probe that sees no structure in noise; planted label flips found."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pitfalls
from pitfalls.evaluation.confident import confident_joint
from pitfalls.evaluation.labels import likely_label_errors, probe_folds
from pitfalls.probe import Probe, subsample

LABELS = st.lists(st.sampled_from("abcde"), min_size=10, max_size=300)


@settings(max_examples=60, deadline=None)
@given(labels=LABELS, seed=st.integers(0, 2**16))
def test_probe_folds_are_disjoint_stratified_and_cover_every_row(labels: list[str],
                                                                  seed: int) -> None:
    y = pd.Series(labels)
    probe = Probe(pd.DataFrame({"x": np.arange(len(y)) % 3}), y, seed=seed)
    if not probe.usable:
        return
    seen = np.zeros(len(probe.y), dtype=int)
    for train, test in probe.folds:
        assert len(np.intersect1d(train, test)) == 0
        assert len(train) + len(test) == len(probe.y)
        seen[test] += 1
    assert (seen == 1).all()  # every row is tested exactly once
    for c in range(len(probe.classes)):  # each class spread evenly: fold counts differ by <= 1
        per_fold = [int((probe.y[test] == c).sum()) for _, test in probe.folds]
        assert max(per_fold) - min(per_fold) <= 1


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.sampled_from("abcd"), min_size=40, max_size=400),
       share=st.floats(0.1, 0.9), seed=st.integers(0, 2**16))
def test_subsample_keeps_each_class_share(labels: list[str], share: float, seed: int) -> None:
    frame = pd.DataFrame({"label": labels, "i": np.arange(len(labels))},
                         index=[f"r{i}" for i in range(len(labels))])
    n = max(1, int(len(frame) * share))
    got = subsample(frame, "label", n, seed)
    assert len(got) == n and got.index.is_unique and set(got.index) <= set(frame.index)
    assert (got["label"] == frame.loc[got.index, "label"]).all()  # rows kept whole
    want = frame["label"].value_counts() * n / len(frame)
    have = got["label"].value_counts().reindex(want.index, fill_value=0)
    assert (np.abs(have - want) < 1 + 1e-9).all()
    pd.testing.assert_frame_equal(got, subsample(frame, "label", n, seed))  # deterministic
    assert subsample(frame, "label", len(frame) + 5, seed) is frame


def test_label_probe_folds_keep_groups_together_when_every_image_has_one() -> None:
    rng = np.random.default_rng(0)
    groups = pd.Series([f"tray-{i // 4}" for i in range(200)])
    y = np.array([(i // 4) % 3 for i in range(200)])  # a tray holds one class
    folds = probe_folds(y, groups, 5)
    fold_of = np.empty(len(y), dtype=int)
    for k, (train, test) in enumerate(folds):
        assert len(np.intersect1d(train, test)) == 0
        fold_of[test] = k
        assert set(y[test]) == {0, 1, 2}  # still stratified: every class in every fold
    for _, rows in pd.Series(range(len(y))).groupby(groups):
        assert len(set(fold_of[rows.to_numpy()])) == 1  # a tray never straddles two folds
    # one image without a group: plain stratified folds, which split trays
    partial = groups.copy()
    partial.iloc[int(rng.integers(200))] = None
    fold_of = np.empty(len(y), dtype=int)
    for k, (_, test) in enumerate(probe_folds(y, partial, 5)):
        fold_of[test] = k
    assert any(len(set(fold_of[rows.to_numpy()])) > 1
               for _, rows in pd.Series(range(len(y))).groupby(groups))


def _model_probs(rng: np.random.Generator, true: np.ndarray, k: int, skill: float
                 ) -> np.ndarray:
    """A model's softmax outputs: noisy scores with `skill` added to the true class."""
    logits = rng.normal(size=(len(true), k)) + skill * np.eye(k)[true]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(6))
def test_confident_learning_finds_planted_label_flips(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, n = 2 + seed % 4, 1200
    true = rng.integers(0, k, n)
    probs = _model_probs(rng, true, k, skill=3.0)  # a model right ~95% of the time
    given_labels = true.copy()
    flipped = rng.choice(n, n // 12, replace=False)  # 8% of the labels are wrong
    given_labels[flipped] = (true[flipped] + rng.integers(1, k, len(flipped))) % k
    ranked, quality = likely_label_errors(given_labels, probs)
    found = set(ranked.tolist())
    precision = len(found & set(flipped.tolist())) / max(len(found), 1)
    recall = len(found & set(flipped.tolist())) / len(flipped)
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)
    assert quality.shape == (n,) and ((quality >= 0) & (quality <= 1)).all()
    assert (np.diff(quality[ranked]) >= 0).all()  # least plausible given label first
    # the same model on clean labels: almost nothing flagged
    clean, _ = likely_label_errors(true, probs)
    assert len(clean) <= 0.01 * n


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.integers(2, 6), n=st.integers(30, 400))
def test_confident_joint_rows_hold_each_class_size(seed: int, k: int, n: int) -> None:
    """The calibrated joint redistributes each given class over counted classes: its rows sum
    to the class sizes (up to rounding), and a model that is always right makes it diagonal."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    given_labels = np.where(rng.random(n) < 0.1, rng.integers(0, k, n), true)
    joint = confident_joint(given_labels, _model_probs(rng, true, k, skill=2.0))
    sizes = np.bincount(given_labels, minlength=k)
    assert (joint >= 0).all() and abs(int(joint.sum()) - n) <= k
    assert (np.abs(joint.sum(axis=1) - sizes) <= 1).all()
    sure = np.eye(k)[true] * 0.97 + 0.03 / k
    np.testing.assert_array_equal(confident_joint(true, sure),
                                  np.diag(np.bincount(true, minlength=k)))


def test_confident_learning_with_a_one_image_class_judges_the_others() -> None:
    rng = np.random.default_rng(7)
    true = rng.integers(0, 3, 300)
    probs = _model_probs(rng, true, 4, skill=4.0)  # a fourth class nobody is labelled with ...
    given_labels = true.copy()
    given_labels[0] = 3  # ... but one image
    given_labels[[5, 9, 14]] = (true[[5, 9, 14]] + 1) % 3
    ranked, _ = likely_label_errors(given_labels, probs)
    assert {5, 9, 14} <= set(ranked.tolist())


def test_label_probe_sees_nothing_in_random_labels(scene_folder: Callable[..., Path]) -> None:
    """Labels that no image content explains: the out-of-fold probe stays near chance (an
    in-sample fit would memorise them), so LABEL001 does not judge labels from it."""
    rng = np.random.default_rng(3)
    labels = rng.choice(["kiwi", "fig"], 90)
    root = scene_folder(90, lambda i: labels[i])
    report = pitfalls.scan(root, cache=False, select="LABEL001")
    assert not report.by_rule("LABEL001")
    assert "LABEL001" in report.passed


def test_rule_catalogue_loads_without_scikit_learn() -> None:
    """scikit-learn is imported when a scan runs the rules (or by its preload thread), not with
    the catalogue: listing the rules stays fast. cleanlab is never imported."""
    code = ("import sys\nfrom pitfalls.rules import registry\nregistry()\n"
            "print(sorted(m for m in ('sklearn', 'cleanlab', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
