"""The service's analysis reads a bounded sample of a busy window, and its history from the
hourly aggregates: memory stays bounded and a sample is never mistaken for a quiet camera."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from monitor_service import CLASSES, db_url, make_reference, record  # noqa: F401

from pitfalls.monitor.live import LiveAnalysis
from pitfalls.monitor.records import validate_record
from pitfalls.monitor.reference import load_reference
from pitfalls.monitor.storage import Store

HOUR0 = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(
    hours=8)


def _store(db: str, per_hour: dict[str, int], hours: int) -> Store:
    """`hours` hourly windows from HOUR0, each with `per_hour[source]` records of each source."""
    store = Store.open(db)
    n = 0
    for h in range(hours):
        batch = []
        for source, count in per_hour.items():
            for i in range(count):
                at = HOUR0 + timedelta(hours=h, seconds=(i * 3600) // count)
                raw = record(n, source=source, captured_at=at.isoformat())
                batch.append(validate_record(raw, CLASSES)[0])
                n += 1
        store.insert(batch)
    return store


def test_a_busy_window_is_read_as_a_uniform_sample(db_url):  # noqa: F811
    store = _store(db_url, {"cam-1": 1500, "cam-2": 500}, 1)
    try:
        end = HOUR0 + timedelta(hours=1)
        everything = store.records_between(HOUR0, end)
        assert len(everything) == 2000
        sample = store.records_between(HOUR0, end, sample=400)
        assert 250 < len(sample) < 600, len(sample)
        share = sum(r["source"] == "cam-1" for r in sample) / len(sample)
        assert 0.6 < share < 0.9, share  # 1500 of 2000 in the window
        assert {r["id"] for r in sample} <= {r["id"] for r in everything}
        only = store.records_between(HOUR0, end, source="cam-2", sample=1000)
        assert len(only) == 500 and {r["source"] for r in only} == {"cam-2"}
        assert store.records_between(HOUR0, end, sample=5000) == everything
    finally:
        store.engine.dispose()


def test_features_the_analysis_does_not_read_stay_in_the_database(db_url):  # noqa: F811
    store = Store.open(db_url)
    try:
        raw = record(1, captured_at=(HOUR0 + timedelta(minutes=5)).isoformat())
        raw["features"] = {**raw["features"], "embedding": [0.5, 1.5], 'odd "name"': 2.0}
        store.insert([validate_record(raw, CLASSES)[0]])
        end = HOUR0 + timedelta(hours=1)
        [full] = store.records_between(HOUR0, end)
        [lean] = store.records_between(HOUR0, end, drop_features=("embedding",))
        assert full["features"]["embedding"] == [0.5, 1.5]
        assert lean["features"] == {k: v for k, v in full["features"].items()
                                    if k != "embedding"}
        assert lean["features"]['odd "name"'] == 2.0
        with pytest.raises(ValueError, match="plain names"):
            store.records_between(HOUR0, end, drop_features=('odd "name"',))
    finally:
        store.engine.dispose()


def test_a_sampled_window_does_not_look_like_a_silent_camera(db_url, tmp_path):  # noqa: F811
    """MON008 counts the window's records from the aggregates, not from the sample: with the
    counts taken from the sample, both cameras looked silent (about 50 of 300 records)."""
    ref = load_reference(make_reference(tmp_path / "reference"))
    store = _store(db_url, {"cam-1": 300, "cam-2": 300}, 7)
    live = LiveAnalysis(store, ref, interval=0, sample=100)
    try:
        alerts = live.check(HOUR0 + timedelta(hours=6))
        assert not [a for a in alerts if a.rule == "MON008"], [a.rule for a in alerts]
        store.insert([validate_record(record(10_000 + i, source="cam-1", captured_at=(
            HOUR0 + timedelta(hours=7, seconds=10 * i)).isoformat()), CLASSES)[0]
            for i in range(3)])
        quiet = live.check(HOUR0 + timedelta(hours=7))  # cam-2 silent, cam-1 nearly
        assert {a.source for a in quiet if a.rule == "MON008"} == {"cam-1", "cam-2"}
    finally:
        live.close()
        store.engine.dispose()


def test_a_reference_without_image_features_skips_the_distance_rule(tmp_path):
    """MON005 raised IndexError on a reference whose profile holds no image feature (a scan
    of predictions alone): it has nothing to measure a distance on, so it stays silent."""
    import pandas as pd

    from pitfalls.monitor.analysis.batch import batch_for
    from pitfalls.monitor.analysis.check import check_batch
    from pitfalls.monitor.analysis.records import flatten
    from pitfalls.monitor.analysis.reference import from_folder
    from pitfalls.monitor.analysis.windows import ALL, Key
    from pitfalls.monitor.reference import Profile

    n = 40
    frame = pd.DataFrame({"path": [f"{i}.png" for i in range(n)],
                          "label": [CLASSES[i % 3] for i in range(n)],
                          "pred": [CLASSES[i % 3] for i in range(n)]})
    folder = Profile(classes=CLASSES, split="test", features=frame[["path"]],
                     predictions=frame, feature_version=13).write(tmp_path / "reference")
    ref = from_folder(load_reference(folder))
    rows = [validate_record(record(i, captured_at=(HOUR0 + timedelta(minutes=i % 60))
                                   .isoformat()), CLASSES)[0] for i in range(200)]
    table = flatten(pd.DataFrame([{**r.__dict__, "captured_at": r.captured_at}
                                  for r in rows]), ref.classes, ref.blur_median)
    _, passed, _, errors = check_batch(batch_for(ref, table, Key("1h", pd.Timestamp(HOUR0),
                                                                 ALL)))
    assert errors == [] and "MON005" in passed


def test_one_process_of_many_analyses_and_sees_every_workers_records(db_url, tmp_path):  # noqa: F811
    """Two workers (or replicas) on one database: each ran the rules on the windows it had
    committed, so a window could raise the same alert twice. Now the holder of the analysis
    lease checks every changed window, whoever stored it, and the other waits its turn."""
    ref = load_reference(make_reference(tmp_path / "reference"))
    store = _store(db_url, {"cam-1": 200, "cam-2": 200}, 6)
    first = LiveAnalysis(store, ref, interval=3600)  # no pass of their own: driven below
    second = LiveAnalysis(Store.open(db_url), ref, interval=3600)
    try:
        checked = first.run_pass()  # the six hours stored by "another worker", told nothing
        assert len(checked) == 6, checked
        assert second.run_pass() == []  # not the lease holder
        store.insert([validate_record(record(50_000 + i, source="cam-1", captured_at=(
            HOUR0 + timedelta(hours=6, seconds=10 * i)).isoformat()), CLASSES)[0]
            for i in range(200)])  # cam-2 silent in hour 6
        assert first.run_pass() == [HOUR0 + timedelta(hours=6)]
        assert first.run_pass() == []  # nothing changed since
        silent = [a for a in first.alert_store.list() if a.rule == "MON008"]
        assert [(a.source, a.state) for a in silent] == [("cam-2", "open")]
        first.close()  # gives the lease up: the other worker takes over
        store.insert([validate_record(record(60_000 + i, source="cam-1", captured_at=(
            HOUR0 + timedelta(hours=7, seconds=10 * i)).isoformat()), CLASSES)[0]
            for i in range(200)])
        assert HOUR0 + timedelta(hours=7) in second.run_pass()
        silent = [a for a in second.alert_store.list() if a.rule == "MON008"]
        # one alert, seen again (the new holder rechecks the recent windows it never saw)
        assert len(silent) == 1 and silent[0].count >= 2
    finally:
        first.close()
        second.close()
        second.store.engine.dispose()
        store.engine.dispose()


def test_a_pass_without_the_database_checks_nothing_and_says_why(tmp_path, caplog):
    """The lease cannot be taken (here: its table is gone): the pass logs it and returns,
    and the next pass tries again; nothing raises into the analysis thread."""
    import logging

    import sqlalchemy as sa

    from pitfalls.monitor.storage import migrate

    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    migrate(db)
    ref = load_reference(make_reference(tmp_path / "reference"))
    store = _store(db, {"cam-1": 50}, 2)
    live = LiveAnalysis(store, ref, interval=3600)
    try:
        with store.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE leases"))
        with caplog.at_level(logging.WARNING, logger="pitfalls.monitor"):
            assert live.run_pass() == []
        assert "analysis lease unavailable (OperationalError)" in caplog.text
    finally:
        live.close()
        store.engine.dispose()
