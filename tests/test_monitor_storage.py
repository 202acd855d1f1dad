"""The monitor's storage on SQLite and PostgreSQL: migrations, idempotent group commits,
aggregates, labels, retention."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from monitor_service import CLASSES, db_url, record  # noqa: F401 - db_url is a fixture

from pitfalls.monitor.records import Label, validate_record
from pitfalls.monitor.storage import Store, hourly, migrate, records


def valid(i: int, **over) -> object:
    rec, issues = validate_record(record(i, **over), CLASSES)
    assert not issues, issues
    return rec


def test_migrations_are_idempotent_and_make_every_table(db_url):  # noqa: F811
    assert migrate(db_url) == "0003"
    assert migrate(db_url) == "0003"
    store = Store.open(db_url)
    names = set(sa.inspect(store.engine).get_table_names())
    indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("records")}
    store.engine.dispose()
    assert {"records", "labels", "hourly", "alerts", "tokens", "leases",
            "alembic_version"} <= names
    assert {"ix_records_captured_at", "ix_records_source_captured_at"} <= indexes


def test_upgrading_from_0002_keeps_the_hourly_aggregates(tmp_path):
    """Migration 0003 rebuilds `hourly` on SQLite (a new column): its rows survive."""
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(
        Path(migrate.__code__.co_filename).with_name("migrations")))
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(sa.text("INSERT INTO hourly (hour, source, model_version, pred, n) "
                             "VALUES ('2026-11-01 10:00:00.000000', 'cam-1', 'm1', 'a', 42)"))
        conn.commit()
    engine.dispose()
    assert migrate(url) == "0003"
    store = Store.open(url)
    try:
        got = store.hourly_counts(datetime(2026, 11, 1, tzinfo=timezone.utc),
                                  datetime(2026, 11, 2, tzinfo=timezone.utc))
        assert [(p, n) for _, p, n in got] == [("a", 42)]
    finally:
        store.engine.dispose()


def test_sql_alert_store_keeps_an_alerts_life_on_both_dialects(db_url):  # noqa: F811
    """The alert manager over the SQL store: opened, deduplicated, acknowledged, resolved and
    reopened silently within the cool-down, read back by a second store (another process)."""
    from datetime import datetime, timedelta, timezone

    from pitfalls.alerts.state import ACKNOWLEDGED, OPEN, RESOLVED, AlertManager
    from pitfalls.findings import Finding
    from pitfalls.monitor.storage import SqlAlertStore
    from pitfalls.text import T

    store = Store.open(db_url)
    manager = AlertManager(SqlAlertStore(store.engine), cooldown=timedelta(hours=6))
    t0 = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
    finding = Finding(rule="MON001", phase="monitor", severity="warning",
                      title=T("Drift", "ドリフト"),
                      summary=T("cam-1 <b>darker</b>", "cam-1 が暗い"),
                      metrics={"source": "cam-1", "effect": -1.5})
    first = manager.observe([finding], at=t0)
    assert len(first) == 1
    again = manager.observe([finding], at=t0 + timedelta(hours=1))
    assert again == []  # deduplicated: the live alert is updated, not reopened
    other = SqlAlertStore(store.engine)
    alert = other.get(first[0].id)
    assert alert is not None and alert.count == 2 and alert.state == OPEN
    assert alert.last_seen == t0 + timedelta(hours=1)
    assert alert.summary.get_text("ja") == "cam-1 が暗い" and alert.metrics["effect"] == -1.5
    assert manager.acknowledge(alert.id, by="on-call").state == ACKNOWLEDGED
    assert manager.resolve(alert.id, at=t0 + timedelta(hours=2)).state == RESOLVED
    assert manager.observe([finding], at=t0 + timedelta(hours=3)) == []  # within cool-down
    back = other.latest("MON001", "cam-1")
    assert back is not None and back.id == alert.id and back.state == OPEN
    assert [h["state"] for h in back.history] == [OPEN, ACKNOWLEDGED, RESOLVED, OPEN]
    assert [a.id for a in other.list(OPEN)] == [alert.id] and other.list(RESOLVED) == []
    assert other.get("missing") is None and other.latest("MON002", "cam-1") is None
    store.engine.dispose()


def test_group_commit_counts_each_id_once_across_batches(db_url):  # noqa: F811
    store = Store.open(db_url)
    a = [valid(i) for i in range(10)]
    b = [valid(i) for i in range(5, 15)]
    first, second = store.insert_batches([a, b])
    assert (first.accepted, first.duplicates) == (10, 0)
    assert (second.accepted, second.duplicates) == (5, 5)
    again = store.insert(a + b)
    assert (again.accepted, again.duplicates) == (0, 20)
    with store.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.sum(hourly.c.n))).scalar_one()
        big = conn.execute(sa.select(records.c.features, records.c.probs, records.c.captured_at)
                           .where(records.c.id == a[3].id)).one()
    store.engine.dispose()
    assert n == 15 == store.count()
    assert big.features == record(3)["features"] and big.probs == record(3)["probs"]
    assert abs(big.captured_at - a[3].captured_at.replace(tzinfo=None)) < timedelta(
        microseconds=1)


def test_values_orjson_refuses_are_stored(db_url):  # noqa: F811
    store = Store.open(db_url)
    huge = 10**30  # beyond 64 bits: stored through the standard library's encoder
    store.insert([valid(1, features={"count": huge, "flag": True, "gone": None})])
    with store.engine.connect() as conn:
        got = conn.execute(sa.select(records.c.features)).scalar_one()
    store.engine.dispose()
    assert got == {"count": float(huge), "flag": True, "gone": None}  # read back as a float


def test_labels_arrive_before_or_after_their_record(db_url):  # noqa: F811
    store = Store.open(db_url)
    store.put_labels([Label(record(1)["id"], "banana")])  # before the record
    store.insert([valid(1), valid(2, label="apple"), valid(3)])
    store.put_labels([Label(record(3)["id"], "apple"), Label(record(3)["id"], "cherry")][1:])
    window = (datetime(2000, 1, 1), datetime(2100, 1, 1))
    got = sorted((p, lab) for _, p, lab in store.labelled(*window))
    store.engine.dispose()
    # record i predicts CLASSES[i % 3]: 1 banana, 2 cherry, 3 apple
    assert got == sorted([("banana", "banana"), ("cherry", "apple"), ("apple", "cherry")])


def test_retention_deletes_old_records_and_keeps_aggregates(db_url):  # noqa: F811
    store = Store.open(db_url)
    old = datetime.now(timezone.utc) - timedelta(days=40)
    store.insert([valid(i, captured_at=old.isoformat()) for i in range(5)])
    store.insert([valid(i) for i in range(5, 8)])
    assert store.purge(30) == 5
    window = (datetime(2000, 1, 1), datetime(2100, 1, 1))
    assert store.count() == 3
    assert sum(n for _, _, n in store.hourly_counts(*window)) == 8
    store.engine.dispose()
