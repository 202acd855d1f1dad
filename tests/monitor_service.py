"""Helpers for the monitoring service's tests: a real reference folder, a database per test on
SQLite and on the real PostgreSQL server (skipped with a reason when it is unreachable), and the
service run as its own uvicorn process on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from pitfalls.monitor.records import make_record
from pitfalls.monitor.reference import Profile

CLASSES = ["apple", "banana", "cherry"]
PG_CANDIDATES = ([os.environ["PITFALLS_TEST_PG"]] if os.environ.get("PITFALLS_TEST_PG") else [
    f"postgresql+psycopg://{user}@127.0.0.1:5432/{db}"
    for user, db in (("postgres", "test"), ("postgres", "postgres"), ("root", "test"))])
PG_ADMIN = PG_CANDIDATES[0]


def make_reference(folder: Path, classes: list[str] = CLASSES, n: int = 30) -> Path:
    """A reference folder as the scan writes it, from a small random evaluation set."""
    rng = np.random.default_rng(0)
    labels = [classes[i % len(classes)] for i in range(n)]
    probs = rng.dirichlet(np.ones(len(classes)), size=n)
    preds = pd.DataFrame({"path": [f"test/{i}.png" for i in range(n)], "label": labels,
                          "pred": [classes[int(j)] for j in probs.argmax(1)]})
    for j, name in enumerate(classes):
        preds[f"prob_{name}"] = probs[:, j]
    features = pd.DataFrame({"path": preds["path"], "brightness": rng.uniform(0, 1, n),
                             "sharpness": rng.uniform(0, 50, n)})
    report = {"sections": {"evaluation": {"metrics": {"accuracy": {"value": 0.9,
                                                                   "ci": [0.85, 0.94]}}}}}
    return Profile(classes=list(classes), split="test", features=features, predictions=preds,
                   feature_version=13).write(folder, report)


def record(i: int, *, source: str = "cam-1", prefix: str = "r", **over: Any) -> dict[str, Any]:
    """A valid record with a deterministic id."""
    base = make_record(id=f"{prefix}{i:08d}", pred=CLASSES[i % 3], source=source,
                       model_version="m1",
                       captured_at=datetime.now(timezone.utc) - timedelta(minutes=i % 120),
                       probs={c: (0.8 if c == CLASSES[i % 3] else 0.1) for c in CLASSES},
                       features={"brightness": (i % 100) / 100, "sharpness": float(i % 37)})
    base.update(over)
    return base


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_PG_REASON: list[str | None] = []


def _pg_reachable() -> str | None:
    """None once an administrative URL answers (kept in PG_ADMIN), else the skip reason."""
    global PG_ADMIN
    import sqlalchemy as sa

    if _PG_REASON:
        return _PG_REASON[0]
    reason = None
    for url in PG_CANDIDATES:
        try:
            engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            PG_ADMIN, reason = url, None
            break
        except Exception as exc:  # the skip reason names it
            reason = f"PostgreSQL at 127.0.0.1:5432 unreachable ({type(exc).__name__})"
    _PG_REASON.append(reason)
    return reason


class PgDatabase:
    """A uniquely named database on the shared server, dropped afterwards."""

    def __init__(self) -> None:
        import sqlalchemy as sa

        self.name = f"pfm_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.url = str(sa.engine.make_url(PG_ADMIN).set(database=self.name)
                       .render_as_string(hide_password=False))

    def sql(self, statement: str) -> list[Any]:
        import sqlalchemy as sa

        with self.admin.connect() as conn:
            result = conn.execute(sa.text(statement))
            return list(result) if result.returns_rows else []

    def drop(self) -> None:
        self.sql(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')
        self.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()")
        self.sql(f'DROP DATABASE IF EXISTS "{self.name}"')
        self.admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database URL: SQLite in tmp_path, or a new PostgreSQL database."""
    from pitfalls.monitor.storage import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'monitor.db'}"
        migrate(url)
        yield url
        return
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    db = PgDatabase()
    request.node.pg = db
    migrate(db.url)
    try:
        yield db.url
    finally:
        db.drop()


def token(db: str, scope: str, name: str = "") -> str:
    from pitfalls.monitor.storage import make_engine
    from pitfalls.monitor.tokens import create

    engine = make_engine(db)
    try:
        return create(engine, scope, name)[0]
    finally:
        engine.dispose()


class Service:
    """`pitfalls monitor serve` as a real process on a free port, its output in a log file."""

    def __init__(self, db: str, reference: Path, log: Path, *args: str, port: int | None = None
                 ) -> None:
        self.db, self.reference, self.log_path, self.args = db, reference, log, args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Service:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop/kill
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pitfalls", "monitor", "serve", "--reference",
             str(self.reference), "--db", self.db, "--port", str(self.port),
             *(() if "--analysis-interval" in self.args else ("--analysis-interval", "0.5")),
             *self.args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.logs()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.logs()[-2000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the server and its workers (its own process group)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stored_ids(db: str) -> list[str]:
    from pitfalls.monitor.storage import Store

    store = Store.open(db)
    try:
        return store.ids()
    finally:
        store.engine.dispose()
