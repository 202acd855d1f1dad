"""The after-release report: one printable page from windows, findings and the promise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from monitor_data import CLASSES, HOUR, START, pool, reference, stream, true_accuracy

from pitfalls.monitor.analysis import ALL, Key, WindowStore, batch_for, check_batch
from pitfalls.monitor.analysis.report import render_after_release


@pytest.fixture(scope="module")
def period():
    """Twelve hours from two cameras; cam-1 gets darker and its model less sure from hour 8."""
    acc = true_accuracy(2.5)
    ref = reference(n=300, seed=1, expected=(acc - 0.03, min(1.0, acc + 0.05)))
    plain, dark = list(pool("plain", 300, 2)), list(pool("dark", 150, 3))
    rng = np.random.default_rng(8)
    frames = [stream(rng, plain, range(8), {"cam-1": 100, "cam-<b>2</b>": 80}),
              stream(rng, dark, range(8, 12), {"cam-1": 100}, margin=1.2),
              stream(rng, plain, range(8, 12), {"cam-<b>2</b>": 80})]
    store = WindowStore(ref, every=("1h",))
    store.add(pd.concat(frames, ignore_index=True))
    findings = []
    for h in range(12):
        f, _, _, _ = check_batch(batch_for(ref, store.table, Key("1h", START + h * HOUR, ALL), 6))
        findings += f
    windows = store.frame("1h").to_dict("records")
    return ref, windows, findings, sorted(store.table["source"].unique())


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_report_says_promise_measurement_and_why(period, lang):
    ref, windows, findings, sources = period
    assert any(f.rule == "MON001" and f.metrics["source"] == "cam-1" for f in findings)
    html = render_after_release(windows, findings, ref.expected_range,
                                lab_accuracy=ref.accuracy, sources=sources, lang=lang)
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "@page" in html
    assert "<b>2</b>" not in html and "cam-&lt;b&gt;2&lt;/b&gt;" in html  # escaped
    if lang == "ja":
        assert "約束したこと" in html and "どこで、なぜ違ったか" in html and "10 回に約" in html
        assert "撮影条件が" in html
    else:
        assert "What was promised" in html and "Where and why they differ" in html
        assert "in 10 correct" in html and "capture condition" in html
    assert "cam-1" in html


def test_report_measured_figures_match_the_windows(period):
    ref, windows, findings, _ = period
    from pitfalls.monitor.analysis.report import after_release_data

    data = after_release_data(windows, findings, ref.expected_range, lang="en")
    n_lab = sum(w["n_labelled"] for w in windows)
    right = sum(w["realised_accuracy"] * w["n_labelled"] for w in windows)
    assert data["realised"]["n"] == n_lab and data["realised"]["value"] == pytest.approx(
        right / n_lab)
    assert data["realised"]["ci"][0] < data["realised"]["value"] < data["realised"]["ci"][1]
    assert data["n"] == sum(w["n"] for w in windows)
    assert data["problems"][0]["windows"] >= 1 and data["method"] == "atc"
    assert len(CLASSES) == 4


def test_report_of_an_empty_period_is_a_page_not_an_error():
    html = render_after_release([], [], None, lang="ja")
    assert "監視ルールは何も検出しませんでした" in html
    assert "レコードが 1 件も届いていません" in html
    with pytest.raises(ValueError):
        render_after_release([], [], None, lang="fr")
