"""MON rules: each catches its planted shift on real photos' features, names the source, is
configurable, and a scan (which has no windows) skips them with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from monitor_data import (
    CLASSES,
    HOUR,
    START,
    pool,
    records,
    reference,
    stream,
    true_accuracy,
)
from PIL import Image

from pitfalls.config import Config
from pitfalls.monitor.analysis import ALL, Key, batch_for, check_batch, check_window
from pitfalls.monitor.analysis.records import flatten

LOOKBACK = 6
RATES = {"cam-1": 120, "cam-2": 100}


@pytest.fixture(scope="module")
def ref():
    acc = true_accuracy(2.5)
    return reference(n=300, seed=1, expected=(acc - 0.03, min(1.0, acc + 0.05)))


@pytest.fixture(scope="module")
def plain():
    return list(pool("plain", 300, 2))


def _findings(ref, frames, config=None):
    table = flatten(pd.concat(frames, ignore_index=True), CLASSES, ref.blur_median)
    key = Key("1h", START + LOOKBACK * HOUR, ALL)
    findings, passed, skipped, errors = check_batch(batch_for(ref, table, key, LOOKBACK), config)
    assert not errors, errors
    return {(f.rule, f.metrics["source"]): f for f in findings}, passed, skipped


def _history(plain, seed=0):
    return stream(np.random.default_rng(seed), plain, range(LOOKBACK), RATES, prefix="h")


def test_a_clean_window_passes_every_rule(ref, plain):
    rng = np.random.default_rng(1)
    now = stream(rng, plain, range(LOOKBACK, LOOKBACK + 1), RATES)
    found, passed, skipped = _findings(ref, [_history(plain), now])
    assert found == {} and not skipped and len(passed) == 8


def test_a_darker_camera_is_caught_on_that_camera(ref, plain):
    """cam-1's photos taken one stop and more darker (real images through the extractor); the
    model is less sure and less often right on them."""
    rng = np.random.default_rng(2)
    dark = list(pool("dark", 150, 3))
    now = [stream(rng, dark, range(LOOKBACK, LOOKBACK + 1), {"cam-1": 120}, margin=1.2),
           stream(rng, plain, range(LOOKBACK, LOOKBACK + 1), {"cam-2": 100})]
    found, _, _ = _findings(ref, [_history(plain), *now])
    f = found[("MON001", "cam-1")]
    assert f.metrics["top"] == "exposure" and f.metrics["effect"] < -0.5
    assert ("MON001", "cam-2") not in found
    for rule in ("MON002", "MON004", "MON006"):
        assert (rule, "cam-1") in found, (rule, sorted(found))
    assert found[("MON006", "cam-1")].metrics["realised_accuracy"] < ref.expected_range[0]
    assert f.summary["ja"] and "cam-1" in f.summary["ja"] and "cam-1" in f.summary["en"]


def test_blur_and_darkness_make_inputs_unusable_and_out_of_distribution(ref, plain):
    rng = np.random.default_rng(3)
    shifted = list(pool("blur", 150, 4)) + list(pool("dark", 150, 3))
    now = stream(rng, shifted, range(LOOKBACK, LOOKBACK + 1), RATES)
    found, _, _ = _findings(ref, [_history(plain), now])
    assert ("MON005", ALL) in found and ("MON007", ALL) in found
    kinds = found[("MON007", ALL)].metrics["by_kind"]
    assert kinds.get("blurred", 0) > 0 and kinds.get("dark", 0) > 0
    assert {"MON001"} <= {r for r, _ in found}


def test_class_mix_change_without_any_capture_change(ref, plain):
    rng = np.random.default_rng(4)
    now = stream(rng, plain, range(LOOKBACK, LOOKBACK + 1), RATES,
                 mix=np.array([0.7, 0.1, 0.1, 0.1]))
    found, _, _ = _findings(ref, [_history(plain), now])
    f = found[("MON003", ALL)]
    assert f.metrics["psi"] >= 0.1 and "apple" in f.summary["en"]
    assert not any(r == "MON001" for r, _ in found)


def test_a_silent_source_is_flagged(ref, plain):
    rng = np.random.default_rng(5)
    now = stream(rng, plain, range(LOOKBACK, LOOKBACK + 1), {"cam-1": 120})  # cam-2 silent
    found, _, _ = _findings(ref, [_history(plain), now])
    f = found[("MON008", "cam-2")]
    assert f.metrics["count"] == 0 and f.metrics["usual"] > 50 and f.severity == "error"
    assert set(found) == {("MON008", "cam-2")}


def test_a_source_silent_for_most_of_the_lookback_is_still_flagged(ref, plain):
    """Its usual rate is the one it had before it went silent: the median over the whole
    lookback fell to zero once the silence filled half of it, and the alert resolved while the
    camera was still off."""
    rng = np.random.default_rng(8)
    before = stream(rng, plain, range(2), RATES, prefix="b")  # both cameras, two hours
    after = stream(rng, plain, range(2, LOOKBACK + 1), {"cam-1": 120}, prefix="a")
    found, _, _ = _findings(ref, [before, after], Config(rules={"MON008": {
        "min_history": 2}}))
    f = found[("MON008", "cam-2")]  # silent for 4 of the 6 windows before this one
    assert f.metrics["count"] == 0 and f.metrics["usual"] > 50
    assert f.metrics["last_active_window"].startswith(str((START + HOUR).date()))
    assert set(found) == {("MON008", "cam-2")}


def test_thresholds_are_configurable(ref, plain):
    rng = np.random.default_rng(6)
    now = stream(rng, plain, range(LOOKBACK, LOOKBACK + 1), RATES,
                 mix=np.array([0.4, 0.2, 0.2, 0.2]))
    frames = [_history(plain), now]
    strict, _, _ = _findings(ref, frames, Config(rules={"MON003": {"min_psi": 0.9}}))
    assert not any(r == "MON003" for r, _ in strict)
    only, passed, _ = _findings(ref, frames, Config(select=["MON008"]))
    assert passed == ["MON008"]
    from pitfalls.errors import ConfigError
    from pitfalls.runner import check_rule_config

    with pytest.raises(ConfigError, match="unknown parameter"):
        check_rule_config(Config(rules={"MON003": {"nope": 1}}))
    with pytest.raises(ConfigError, match="alpha"):
        check_rule_config(Config(rules={"MON001": {"alpha": 2.0}}))


def test_check_window_reads_the_lookback_from_config(ref, plain):
    rng = np.random.default_rng(7)
    table = flatten(pd.concat([_history(plain), stream(
        rng, plain, range(LOOKBACK, LOOKBACK + 1), {"cam-1": 120})]), CLASSES, ref.blur_median)
    key = Key("1h", START + LOOKBACK * HOUR, ALL)
    assert any(f.rule == "MON008" for f in check_window(ref, table, key))
    cfg = Config(rules={"MON008": {"lookback": 1}})  # one empty-history hour before: no rate
    later = Key("1h", START + (LOOKBACK + 2) * HOUR, ALL)
    assert not any(f.rule == "MON008" for f in check_window(ref, table, later, cfg))


def test_a_window_still_running_is_not_a_silent_camera(ref, plain):
    """Ten minutes into the hour both cameras have sent a sixth of their usual count: no
    MON008 while the hour runs; the same counts over a whole hour are two silent cameras."""
    rng = np.random.default_rng(8)
    start = START + LOOKBACK * HOUR
    now = pd.concat([records(rng, plain, start, n, cam, every=pd.Timedelta(minutes=10))
                     for cam, n in (("cam-1", 20), ("cam-2", 17))], ignore_index=True)
    table = flatten(pd.concat([_history(plain), now], ignore_index=True), CLASSES,
                    ref.blur_median)
    key = Key("1h", start, ALL)
    running = check_window(ref, table, key, lookback=LOOKBACK,
                           until=start + pd.Timedelta(minutes=10))
    assert not any(f.rule == "MON008" for f in running), [f.summary for f in running]
    over = check_window(ref, table, key, lookback=LOOKBACK, until=start + 2 * HOUR)
    assert {f.metrics["source"] for f in over if f.rule == "MON008"} == {"cam-1", "cam-2"}
    silent = check_window(ref, table.query("source != 'cam-2' or captured_at < @start"), key,
                          lookback=LOOKBACK, until=start + pd.Timedelta(minutes=10))
    assert {f.metrics["source"] for f in silent if f.rule == "MON008"} == {"cam-2"}


def test_history_from_hourly_volumes_is_the_history_from_records(plain):
    """The service reads each source's history from its hourly aggregates, not the records."""
    from pitfalls.monitor.analysis.batch import history_counts

    table = flatten(_history(plain), CLASSES)
    table = table[~((table["source"] == "cam-2") & (table["captured_at"] < START + 2 * HOUR))]
    volumes = (table.assign(captured_at=table["captured_at"].dt.floor("1h"))
               .groupby(["captured_at", "source"]).size().rename("n").reset_index())
    key = Key("1h", START + LOOKBACK * HOUR, ALL)
    expected = history_counts(table, key, LOOKBACK)
    assert expected["cam-2"].isna().sum() == 2  # before its first record
    pd.testing.assert_frame_equal(history_counts(volumes, key, LOOKBACK), expected,
                                  check_names=False)


def test_a_scan_skips_the_monitoring_rules_with_a_reason(tmp_path: Path):
    from pitfalls.api import scan

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((32, 32, 3), 40 * i + (label == "b") * 100,
                                    np.uint8)).save(tmp_path / label / f"{i}.png")
    report = scan(tmp_path, select=["MON"])
    skipped = {s["rule"]: s["reason"] for s in report.skipped}
    assert set(skipped) == {f"MON00{i}" for i in range(1, 9)}
    assert all("monitoring" in r for r in skipped.values())
    assert report.findings == []
