"""Honest alarms: on a stream with no shift, each MON rule raises at most one false alert per
100 windows. The stream's features come from real generated photos through the scan's own
extractor (a pool independent of the reference's photos); predictions from a simulated
classifier as accurate as on the reference; labels for every record; two cameras with Poisson
traffic."""

from __future__ import annotations

from collections import Counter

import numpy as np
from monitor_data import CLASSES, HOUR, START, pool, reference, stream, true_accuracy

from pitfalls.config import Config
from pitfalls.monitor.analysis import ALL, Key, batch_for, check_batch
from pitfalls.monitor.analysis.records import flatten
from pitfalls.rules import registry

N_WINDOWS = 100
LOOKBACK = 24


def test_no_rule_raises_more_than_one_false_alert_per_100_windows() -> None:
    acc = true_accuracy(2.5)
    ref = reference(n=300, seed=1, expected=(acc - 0.03, min(1.0, acc + 0.05)))
    feats = list(pool("plain", 400, 7))
    rng = np.random.default_rng(11)
    raw = stream(rng, feats, range(N_WINDOWS + LOOKBACK), {"cam-1": 80, "cam-2": 70})
    table = flatten(raw, CLASSES, ref.blur_median)
    alarms: Counter[str] = Counter()
    tested = 0
    for w in range(LOOKBACK, LOOKBACK + N_WINDOWS):
        batch = batch_for(ref, table, Key("1h", START + w * HOUR, ALL), LOOKBACK)
        findings, passed, skipped, errors = check_batch(batch)
        assert not skipped and not errors, (skipped, errors)
        tested += 1
        alarms.update({f.rule for f in findings})
    print("false alerts in", N_WINDOWS, "windows without shift:", dict(alarms))
    mon = [c for c in registry() if c.startswith("MON")]
    assert tested == N_WINDOWS and len(mon) == 8
    for code in mon:
        assert alarms[code] <= N_WINDOWS / 100, (code, dict(alarms))


def test_silent_source_is_not_confused_with_a_quiet_night() -> None:
    """A source with low, bursty traffic (Poisson 2 per hour) is often empty; MON008 must not
    call each empty hour silence."""
    ref = reference(n=300, seed=1)
    feats = list(pool("plain", 400, 7))
    rng = np.random.default_rng(12)
    raw = stream(rng, feats, range(LOOKBACK + N_WINDOWS), {"cam-1": 60, "cam-9": 2},
                 labelled=False)
    table = flatten(raw, CLASSES, ref.blur_median)
    silent = empty = 0
    for w in range(LOOKBACK, LOOKBACK + N_WINDOWS):
        batch = batch_for(ref, table, Key("1h", START + w * HOUR, ALL), LOOKBACK)
        findings, _, _, _ = check_batch(batch, Config(select=["MON008"]))
        silent += any(f.rule == "MON008" for f in findings)
        empty += int((batch.records["source"] == "cam-9").sum() == 0)
    assert empty >= 5 and silent <= N_WINDOWS / 100
