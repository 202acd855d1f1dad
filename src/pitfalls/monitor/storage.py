"""Monitor storage: one schema (SQLAlchemy Core) for SQLite and PostgreSQL.

The schema is created and upgraded by the Alembic migrations shipped in
`pitfalls/monitor/migrations` (`migrate`); the `Table` objects here mirror them for queries.
Records are inserted idempotently (`INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id`, one
statement per batch) together with the hourly aggregates, in one transaction: when `commit`
returns, the records are durable (SQLite runs in WAL mode with `synchronous=FULL`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pitfalls.alerts.state import Alert
from pitfalls.findings import jsonable
from pitfalls.monitor.jsontext import dumps, loads
from pitfalls.monitor.records import Label, Record
from pitfalls.text import T

log = logging.getLogger(__name__)

DEFAULT_DB = "sqlite:///pitfalls-monitor/monitor.db"

metadata = sa.MetaData()

records = sa.Table(
    "records", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("captured_at", sa.DateTime(), nullable=False),
    sa.Column("received_at", sa.DateTime(), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("pred", sa.String(200), nullable=False),
    sa.Column("label", sa.String(200)),
    sa.Column("probs", sa.JSON(none_as_null=True)),
    sa.Column("features", sa.JSON(none_as_null=True), nullable=False),
    sa.Column("feature_version", sa.Integer()),
    sa.Column("thumbnail", sa.LargeBinary()),
)

labels = sa.Table(
    "labels", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("labelled_at", sa.DateTime(), nullable=False),
)

hourly = sa.Table(
    "hourly", metadata,
    sa.Column("hour", sa.DateTime(), primary_key=True),
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("model_version", sa.String(200), primary_key=True),
    sa.Column("pred", sa.String(200), primary_key=True),
    sa.Column("n", sa.Integer(), nullable=False),
    sa.Column("updated_at", sa.DateTime()),
)

leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("opened_at", sa.DateTime(), nullable=False),
    sa.Column("last_seen", sa.DateTime(), nullable=False),
    sa.Column("resolved_at", sa.DateTime()),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("body", sa.JSON(none_as_null=True), nullable=False),
)

tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("revoked_at", sa.DateTime()),
)


class StorageUnavailable(RuntimeError):
    """The database cannot take the write (connection lost, disk full, read-only): a 503."""


def utcnow() -> datetime:
    """Now in UTC, naive (the schema stores UTC without a zone on both dialects)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 (the driver the extra installs)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str = DEFAULT_DB, *, pool_size: int = 5) -> Engine:
    """An engine for `url`; SQLite gets WAL, `synchronous=FULL`, a busy timeout and
    `BEGIN IMMEDIATE` for writes (so concurrent writer processes queue instead of failing)."""
    url = normalise_url(url)
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                                pool_pre_ping=True, pool_recycle=1800,
                                json_serializer=dumps, json_deserializer=loads)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                              json_serializer=dumps, json_deserializer=loads)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begin where SQLAlchemy says
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _insert(engine: Engine, table: sa.Table) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


@dataclass
class Outcome:
    """What one request's batch became: stored now, or already stored before."""

    accepted: int = 0
    duplicates: int = 0


def _record_row(record: Record, received_at: datetime) -> dict[str, Any]:
    return {
        "id": record.id, "captured_at": naive_utc(record.captured_at),
        "received_at": received_at, "source": record.source,
        "model_version": record.model_version, "pred": record.pred, "label": record.label,
        "probs": record.probs, "features": record.features,
        "feature_version": record.feature_version, "thumbnail": record.thumbnail,
    }


_SQLITE_COLUMNS = ("id", "captured_at", "received_at", "source", "model_version", "pred", "label",
                   "probs", "features", "feature_version", "thumbnail")
_SQLITE_INSERT = (f"INSERT INTO records ({', '.join(_SQLITE_COLUMNS)}) VALUES "
                  f"({', '.join('?' * len(_SQLITE_COLUMNS))}) ON CONFLICT (id) DO NOTHING")


def _sqlite_time(moment: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite DateTime stores it (always with microseconds)."""
    return naive_utc(moment).isoformat(sep=" ", timespec="microseconds")


def _sqlite_insert(conn: Connection, rows: list[Record], received: datetime) -> set[str]:
    """The SQLite fast path: the ids already stored, then one `executemany` of the others with
    values in SQLAlchemy's storage formats. Exact because the write transaction began with
    `BEGIN IMMEDIATE`: no other writer can commit between the two statements."""
    existing: set[str] = set()
    ids = [r.id for r in rows]
    for at in range(0, len(ids), 500):
        chunk = ids[at:at + 500]
        marks = ", ".join("?" * len(chunk))
        existing.update(x for (x,) in conn.exec_driver_sql(
            f"SELECT id FROM records WHERE id IN ({marks})", tuple(chunk)))
    new = [r for r in rows if r.id not in existing]
    if new:
        received_at = _sqlite_time(received)
        conn.exec_driver_sql(_SQLITE_INSERT, [
            (r.id, _sqlite_time(r.captured_at), received_at, r.source, r.model_version, r.pred,
             r.label, None if r.probs is None else dumps(r.probs), dumps(r.features),
             r.feature_version, r.thumbnail) for r in new])
    return {r.id for r in new}


def hour_of(moment: datetime) -> datetime:
    return naive_utc(moment).replace(minute=0, second=0, microsecond=0)


class Store:
    """Reads and writes of the monitor's tables through one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._records_insert = (_insert(engine, records)
                                .on_conflict_do_nothing(index_elements=["id"])
                                .returning(records.c.id))
        upsert = _insert(engine, hourly)
        self._hourly_upsert = upsert.on_conflict_do_update(
            index_elements=["hour", "source", "model_version", "pred"],
            set_={"n": hourly.c.n + upsert.excluded.n,
                  "updated_at": upsert.excluded.updated_at})
        labels_upsert = _insert(engine, labels)
        self._labels_upsert = labels_upsert.on_conflict_do_update(
            index_elements=["id"], set_={"label": labels_upsert.excluded.label,
                                         "labelled_at": labels_upsert.excluded.labelled_at})
        self._labels_keep = _insert(engine, labels).on_conflict_do_nothing(index_elements=["id"])

    @classmethod
    def open(cls, url: str = DEFAULT_DB) -> Store:
        return cls(make_engine(url))

    def write(self) -> Any:
        """A write transaction (`BEGIN IMMEDIATE` on SQLite)."""
        return self.engine.execution_options(write=True).begin()

    def insert_batches(self, batches: Sequence[Sequence[Record]]) -> list[Outcome]:
        """Store several requests' records in one transaction (group commit); one `Outcome` per
        batch. An id stored before, or earlier in this call, counts as a duplicate. Raises
        `StorageUnavailable` when the database cannot commit: then nothing was acknowledged."""
        received = utcnow()
        unique: dict[str, Record] = {}
        for batch in batches:
            for record in batch:
                unique.setdefault(record.id, record)
        try:
            with self.write() as conn:
                inserted = self._insert_unique(conn, sorted(unique.values(),
                                                            key=lambda r: r.id), received)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageUnavailable(_reason(exc)) from exc
        outcomes = []
        for batch in batches:
            outcome = Outcome()
            for record in batch:
                if record.id in inserted:
                    inserted.discard(record.id)  # the first occurrence takes it
                    outcome.accepted += 1
                else:
                    outcome.duplicates += 1
            outcomes.append(outcome)
        return outcomes

    def _insert_unique(self, conn: Connection, rows: list[Record], received: datetime
                       ) -> set[str]:
        if not rows:
            return set()
        if self.engine.dialect.name == "sqlite":
            inserted = _sqlite_insert(conn, rows, received)
        else:
            result = conn.execute(self._records_insert, [_record_row(r, received) for r in rows])
            inserted = set(result.scalars().all())
        counts = Counter((hour_of(r.captured_at), r.source, r.model_version, r.pred)
                         for r in rows if r.id in inserted)
        if counts:
            conn.execute(self._hourly_upsert, [
                {"hour": h, "source": s, "model_version": m, "pred": p, "n": n,
                 "updated_at": received}
                for (h, s, m, p), n in sorted(counts.items())])
        inline = [{"id": r.id, "label": r.label, "labelled_at": received}
                  for r in rows if r.id in inserted and r.label is not None]
        if inline:
            conn.execute(self._labels_keep, inline)
        return inserted

    def insert(self, batch: Sequence[Record]) -> Outcome:
        return self.insert_batches([batch])[0]

    def put_labels(self, items: Sequence[Label]) -> int:
        """Store labels (the latest for an id wins); they may arrive before their record."""
        if not items:
            return 0
        now = utcnow()
        try:
            with self.write() as conn:
                conn.execute(self._labels_upsert, [
                    {"id": x.id, "label": x.label, "labelled_at": now}
                    for x in sorted(items, key=lambda x: x.id)])
        except sa.exc.SQLAlchemyError as exc:
            raise StorageUnavailable(_reason(exc)) from exc
        return len(items)

    # --- reads ------------------------------------------------------------------------------

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one())

    def ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(records.c.id)).scalars())

    def hourly_counts(self, start: datetime, end: datetime, source: str | None = None
                      ) -> list[tuple[datetime, str, int]]:
        """(hour, pred, n) over [start, end), summed over model versions (and sources)."""
        query = (sa.select(hourly.c.hour, hourly.c.pred, sa.func.sum(hourly.c.n))
                 .where(hourly.c.hour >= naive_utc(start), hourly.c.hour < naive_utc(end))
                 .group_by(hourly.c.hour, hourly.c.pred))
        if source is not None:
            query = query.where(hourly.c.source == source)
        with self.engine.connect() as conn:
            return [(h, p, int(n)) for h, p, n in conn.execute(query)]

    def volumes(self, start: datetime, end: datetime, source: str | None = None
                ) -> list[tuple[datetime, str, int]]:
        """(hour, source, n) over [start, end), summed over model versions and predictions:
        how many records each source sent each hour (from the hourly aggregates, which
        retention keeps)."""
        query = (sa.select(hourly.c.hour, hourly.c.source, sa.func.sum(hourly.c.n))
                 .where(hourly.c.hour >= naive_utc(start), hourly.c.hour < naive_utc(end))
                 .group_by(hourly.c.hour, hourly.c.source))
        if source is not None:
            query = query.where(hourly.c.source == source)
        with self.engine.connect() as conn:
            return [(h.replace(tzinfo=timezone.utc), s, int(n)) for h, s, n in conn.execute(query)]

    def labelled(self, start: datetime, end: datetime, source: str | None = None
                 ) -> list[tuple[datetime, str, str]]:
        """(captured_at, pred, label) of the labelled records captured in [start, end)."""
        query = (sa.select(records.c.captured_at, records.c.pred, labels.c.label)
                 .join(labels, labels.c.id == records.c.id)
                 .where(records.c.captured_at >= naive_utc(start),
                        records.c.captured_at < naive_utc(end)))
        if source is not None:
            query = query.where(records.c.source == source)
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def records_between(self, start: datetime, end: datetime, *, source: str | None = None,
                        sample: int | None = None, with_thumbnail: bool = False,
                        drop_features: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The records captured in [start, end) as the API received them (no thumbnail), each
        with its latest label (a label sent later wins over the record's own).

        With `sample`, a window holding more records than that is read as a uniform random
        sample of about `sample` records (the hourly aggregates give its size), so the memory
        of one read stays bounded however busy the window was. `with_thumbnail` keeps only the
        records that carry a thumbnail (the sample's share is still taken of every record).
        `drop_features` are removed by the database before the rows are parsed (the analysis
        reads no embedding: half of a record's JSON, and most of a read's memory)."""
        query = (sa.select(records.c.id, records.c.captured_at, records.c.source,
                           records.c.model_version, records.c.pred, records.c.probs,
                           self._features_without(drop_features),
                           sa.func.coalesce(labels.c.label, records.c.label).label("label"))
                 .outerjoin(labels, labels.c.id == records.c.id)
                 .where(records.c.captured_at >= naive_utc(start),
                        records.c.captured_at < naive_utc(end)))
        if source is not None:
            query = query.where(records.c.source == source)
        if with_thumbnail:
            query = query.where(records.c.thumbnail.is_not(None))
        if sample is not None:
            held = sum(n for _, _, n in self.volumes(start, end, source))
            if held > sample:
                query = query.where(self._keep_one_in(held / sample))
        with self.engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        for row in rows:
            row["captured_at"] = row["captured_at"].replace(tzinfo=timezone.utc)
        return rows

    def _features_without(self, names: Sequence[str]) -> Any:
        """The `features` column with the keys `names` removed in SQL."""
        if not names:
            return records.c.features
        if any(not name.isidentifier() for name in names):  # JSON paths differ by dialect
            raise ValueError(f"drop_features takes plain names, not {names!r}")
        if is_sqlite(self.engine):
            paths = [sa.literal(f"$.{name}") for name in names]
            expr: Any = sa.func.json_remove(records.c.features, *paths)
        else:
            from sqlalchemy.dialects.postgresql import JSONB

            expr = sa.cast(records.c.features, JSONB)
            for name in names:
                expr = expr.op("-")(sa.literal(name))
        return sa.type_coerce(expr, sa.JSON(none_as_null=True)).label("features")

    def _keep_one_in(self, k: float) -> Any:
        """A condition true for a random one row in `k` (each row drawn independently)."""
        if is_sqlite(self.engine):  # random(): a signed 64-bit integer
            return sa.func.abs(sa.func.random()) % max(1, round(k)) == 0
        return sa.func.random() < 1.0 / k  # PostgreSQL: uniform in [0, 1)

    def changed_hours(self, since: datetime) -> list[tuple[datetime, datetime]]:
        """(hour, when it last changed) of the hours whose records or labels changed after
        `since`, whichever worker or replica stored them (new records: the hourly aggregates;
        labels: the hour of their record)."""
        after = naive_utc(since)
        rec = (sa.select(hourly.c.hour, sa.func.max(hourly.c.updated_at))
               .where(hourly.c.updated_at > after).group_by(hourly.c.hour))
        lab = (sa.select(records.c.captured_at, labels.c.labelled_at)
               .join(records, records.c.id == labels.c.id)
               .where(labels.c.labelled_at > after))
        out: dict[datetime, datetime] = {}
        with self.engine.connect() as conn:
            for hour, at in conn.execute(rec):
                out[hour] = max(at, out.get(hour, at))
            for captured, at in conn.execute(lab):
                hour = hour_of(captured)
                out[hour] = max(at, out.get(hour, at))
        return sorted((h.replace(tzinfo=timezone.utc), at.replace(tzinfo=timezone.utc))
                      for h, at in out.items())

    def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Hold lease `name` for `seconds` more: True when `holder` had it or it had expired
        (then `holder` has it now), False while another holder's lease runs."""
        now = utcnow()
        until = now + timedelta(seconds=seconds)
        with self.write() as conn:
            conn.execute(_insert(self.engine, leases).on_conflict_do_nothing(
                index_elements=["name"]), {"name": name, "holder": holder, "expires_at": until})
            taken = conn.execute(
                sa.update(leases).where(leases.c.name == name, sa.or_(
                    leases.c.holder == holder, leases.c.expires_at < now))
                .values(holder=holder, expires_at=until))
        return bool(taken.rowcount)

    def drop_lease(self, name: str, holder: str) -> None:
        """Give lease `name` up, if `holder` has it (another process may take it at once)."""
        with self.write() as conn:
            conn.execute(sa.delete(leases).where(leases.c.name == name,
                                                 leases.c.holder == holder))

    def thumbnails(self, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored thumbnails of `ids` (those that have one), read for these ids only."""
        out: dict[str, bytes] = {}
        with self.engine.connect() as conn:
            for at in range(0, len(ids), 500):
                query = sa.select(records.c.id, records.c.thumbnail).where(
                    records.c.id.in_(list(ids[at:at + 500])), records.c.thumbnail.is_not(None))
                out.update((i, bytes(t)) for i, t in conn.execute(query))
        return out

    def placed(self, ids: Sequence[str]) -> list[tuple[datetime, str]]:
        """(captured_at, source) of the stored records among `ids` (where late labels land)."""
        out: list[tuple[datetime, str]] = []
        with self.engine.connect() as conn:
            for at in range(0, len(ids), 500):
                query = sa.select(records.c.captured_at, records.c.source).where(
                    records.c.id.in_(list(ids[at:at + 500])))
                out.extend((t, s) for t, s in conn.execute(query))
        return out

    def purge(self, retention_days: float) -> int:
        """Delete records captured more than `retention_days` ago (hourly aggregates stay)."""
        cutoff = utcnow() - timedelta(days=retention_days)
        with self.write() as conn:
            gone = conn.execute(sa.delete(records).where(records.c.captured_at < cutoff))
            conn.execute(sa.delete(labels).where(
                ~sa.exists().where(records.c.id == labels.c.id),
                labels.c.labelled_at < cutoff))
        return int(gone.rowcount or 0)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))


class SqlAlertStore:
    """`pitfalls.alerts.AlertStore` over the `alerts` table (same schema on both dialects):
    every process of the service sees the same alerts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._upsert = _insert(engine, alerts)

    @staticmethod
    def _row(alert: Alert) -> dict[str, Any]:
        return {"id": alert.id, "rule": alert.rule, "source": alert.source,
                "severity": alert.severity, "state": alert.state,
                "opened_at": naive_utc(alert.opened_at), "last_seen": naive_utc(alert.last_seen),
                "resolved_at": naive_utc(alert.resolved_at) if alert.resolved_at else None,
                "count": alert.count,
                "body": {"title": dict(alert.title), "summary": dict(alert.summary),
                         "metrics": jsonable(alert.metrics), "history": alert.history}}

    @staticmethod
    def _alert(row: Any) -> Alert:
        m = row._mapping
        body = m["body"] or {}

        def when(t: datetime) -> datetime:  # the columns are stored naive, in UTC
            return t.replace(tzinfo=timezone.utc)

        def aware(t: datetime | None) -> datetime | None:
            return when(t) if t is not None else None

        def text(d: Any) -> T:
            d = d if isinstance(d, dict) else {}
            return T(str(d.get("en", "")), d.get("ja"))

        return Alert(rule=m["rule"], source=m["source"], severity=m["severity"],
                     title=text(body.get("title")), summary=text(body.get("summary")),
                     metrics=dict(body.get("metrics") or {}), opened_at=when(m["opened_at"]),
                     last_seen=when(m["last_seen"]), state=m["state"], id=m["id"],
                     count=int(m["count"]), resolved_at=aware(m["resolved_at"]),
                     history=list(body.get("history") or []))

    def get(self, alert_id: str) -> Alert | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
        return self._alert(row) if row is not None else None

    def latest(self, rule: str, source: str) -> Alert | None:
        query = (sa.select(alerts).where(alerts.c.rule == rule, alerts.c.source == source)
                 .order_by(alerts.c.opened_at.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return self._alert(row) if row is not None else None

    def save(self, alert: Alert) -> None:
        row = self._row(alert)
        stmt = self._upsert.on_conflict_do_update(
            index_elements=["id"], set_={k: v for k, v in row.items() if k != "id"})
        with self.engine.execution_options(write=True).begin() as conn:
            conn.execute(stmt, row)

    def list(self, state: str | None = None, limit: int = 1000) -> list[Alert]:
        query = sa.select(alerts).order_by(alerts.c.opened_at.desc()).limit(limit)
        if state is not None:
            query = query.where(alerts.c.state == state)
        with self.engine.connect() as conn:
            return [self._alert(row) for row in conn.execute(query)]


def _reason(exc: BaseException) -> str:
    """A short reason for a failed write, without parameters (they may hold record data)."""
    orig = getattr(exc, "orig", None)
    return f"{type(orig or exc).__name__}: {str(orig or exc).splitlines()[0][:200]}"


def migrate(url_or_engine: str | Engine = DEFAULT_DB) -> str | None:
    """Bring the database to the newest schema (idempotent; safe for replicas starting at once:
    PostgreSQL takes an advisory lock). Returns the revision reached."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_lock(727274001)"))
            conn.commit()
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
            revision = MigrationContext.configure(conn).get_current_revision()
        finally:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_unlock(727274001)"))
                conn.commit()
    if isinstance(url_or_engine, str):
        engine.dispose()
    return revision


def tables() -> Iterable[sa.Table]:
    return metadata.sorted_tables
