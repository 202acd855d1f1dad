"""`pitfalls monitor serve` as a real uvicorn process: the command line, tokens kept out of the
logs, `kill -9` in the middle of a load, a lost database, two servers on one PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from monitor_service import (  # noqa: F401 - db_url is a fixture
    PgDatabase,
    Service,
    _pg_reachable,
    db_url,
    make_reference,
    record,
    stored_ids,
    token,
)

from pitfalls.monitor.storage import Store, migrate

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}


def cli(*args: str, db: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pitfalls", "monitor", *args, "--db", db],
                          capture_output=True, text=True, env=ENV, timeout=120)


def test_cli_tokens_and_a_served_request_keep_tokens_out_of_logs(tmp_path):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    created = cli("token", "create", "--scope", "ingest", "--name", "cam", db=db)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("pfm_") and len(secret) > 40
    reader = cli("token", "create", "--scope", "read", db=db).stdout.strip()
    listed = cli("token", "list", db=db)
    assert "cam" in listed.stdout and secret not in listed.stdout + listed.stderr
    assert cli("token", "create", "--scope", "root", db=db).returncode == 2
    ref = make_reference(tmp_path / "reference")
    log = tmp_path / "server.log"
    with Service(db, ref, log) as server:
        ok = httpx.post(server.url + "/api/v1/records", json={"records": [record(1)]},
                        headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200 and ok.json() == {"accepted": 1, "duplicates": 0}
        wrong = httpx.get(server.url + "/api/v1/windows",
                          headers={"Authorization": f"Bearer {secret}"})
        assert wrong.status_code == 403
        assert httpx.get(server.url + "/metrics",
                         headers={"Authorization": f"Bearer {reader}"}).status_code == 200
        bogus = "pfm_" + "z" * 43
        assert httpx.post(server.url + "/api/v1/records", json={"records": []},
                          headers={"Authorization": f"Bearer {bogus}"}).status_code == 401
        revoked = cli("token", "revoke", "cam", db=db)
        assert revoked.returncode == 0, revoked.stderr
        time.sleep(2.5)  # the token cache lives 2 s
        assert httpx.post(server.url + "/api/v1/records", json={"records": [record(2)]},
                          headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    logs = log.read_text()
    assert "POST /api/v1/records" in logs  # the access log is on ...
    for presented in (secret, reader, bogus, secret[4:20]):
        assert presented not in logs  # ... and holds no token
    store = Store.open(db)
    rows = store.engine.connect().exec_driver_sql("SELECT hash FROM tokens").fetchall()
    store.engine.dispose()
    assert all(secret not in h and len(h) == 64 for (h,) in rows)  # stored as digests only


def test_serve_without_a_reference_exits_2(tmp_path):
    for folder in (tmp_path / "nowhere", tmp_path):
        done = subprocess.run([sys.executable, "-m", "pitfalls", "monitor", "serve",
                               "--reference", str(folder), "--db",
                               f"sqlite:///{tmp_path / 'm.db'}"],
                              capture_output=True, text=True, env=ENV, timeout=60)
        assert done.returncode == 2
        assert "reference" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "reference.json").write_text('{"version": 99}')
    done = subprocess.run([sys.executable, "-m", "pitfalls", "monitor", "serve", "--reference",
                           str(tmp_path / "bad")], capture_output=True, text=True, env=ENV,
                          timeout=60)
    assert done.returncode == 2 and "version" in done.stderr


class Sender(threading.Thread):
    """Posts batches of 100 until stopped; remembers which ids were acknowledged."""

    def __init__(self, url: str, secret: str, prefix: str = "r") -> None:
        super().__init__(daemon=True)
        self.url, self.secret, self.prefix = url, secret, prefix
        self.acked: list[str] = []
        self.sent: list[list[dict]] = []
        self.stop = threading.Event()
        self.errors = 0

    def run(self) -> None:
        i = 0
        with httpx.Client(timeout=5) as client:
            while not self.stop.is_set():
                batch = [record(i + k, prefix=self.prefix) for k in range(100)]
                self.sent.append(batch)
                i += 100
                try:
                    r = client.post(self.url + "/api/v1/records", json={"records": batch},
                                    headers={"Authorization": f"Bearer {self.secret}"})
                except httpx.HTTPError:
                    self.errors += 1
                    time.sleep(0.05)
                    continue
                if r.status_code == 200:
                    self.acked += [x["id"] for x in batch]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_kill_9_mid_load_loses_no_acknowledged_record(db_url, tmp_path, workers):  # noqa: F811
    secret = token(db_url, "ingest")
    ref = make_reference(tmp_path / "reference")
    server = Service(db_url, ref, tmp_path / "server.log", "--workers", workers).start()
    sender = Sender(server.url, secret)
    sender.start()
    deadline = time.monotonic() + 30
    while len(sender.acked) < 3000 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL to the server and its workers, mid-load
    sender.stop.set()
    sender.join(10)
    acked = set(sender.acked)
    assert len(acked) >= 3000
    stored = stored_ids(db_url)
    assert len(stored) == len(set(stored))
    assert acked <= set(stored)  # every acknowledged record survived the kill
    # restarted, the server takes a full resend: the acknowledged ones count as duplicates
    server = Service(db_url, ref, tmp_path / "server2.log", port=server.port).start()
    try:
        dup = 0
        for batch in sender.sent:
            r = httpx.post(server.url + "/api/v1/records", json={"records": batch},
                           headers={"Authorization": f"Bearer {secret}"}, timeout=30)
            assert r.status_code == 200, r.text
            dup += r.json()["duplicates"]
        assert dup >= len(acked)
    finally:
        server.stop()
    everything = {x["id"] for batch in sender.sent for x in batch}
    final = stored_ids(db_url)
    assert len(final) == len(set(final)) and set(final) == everything  # exactly once
    store = Store.open(db_url)
    total = sum(n for _, _, n in store.hourly_counts(datetime(2000, 1, 1), datetime(2100, 1, 1)))
    store.engine.dispose()
    assert total == len(everything)  # the aggregates were committed with the records


@pytest.fixture
def pg(tmp_path):
    """A fresh migrated PostgreSQL database, an ingest token and a reference folder."""
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    db = PgDatabase()
    try:
        migrate(db.url)
        yield db, token(db.url, "ingest"), make_reference(tmp_path / "reference")
    finally:
        db.drop()


def test_lost_database_answers_503_and_acknowledges_nothing(pg, tmp_path):
    db, secret, ref = pg
    with Service(db.url, ref, tmp_path / "server.log") as server:
        head = {"Authorization": f"Bearer {secret}"}
        first = [record(i) for i in range(100)]
        assert httpx.post(server.url + "/api/v1/records", json={"records": first},
                          headers=head).status_code == 200
        db.sql(f'ALTER DATABASE "{db.name}" ALLOW_CONNECTIONS false')
        db.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               f"WHERE datname = '{db.name}'")
        lost = [record(i) for i in range(100, 200)]
        r = httpx.post(server.url + "/api/v1/records", json={"records": lost},
                       headers=head, timeout=30)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"]
        assert httpx.get(server.url + "/healthz", timeout=30).status_code == 503
        db.sql(f'ALTER DATABASE "{db.name}" ALLOW_CONNECTIONS true')
        assert set(stored_ids(db.url)) == {x["id"] for x in first}  # nothing of `lost`
        again = httpx.post(server.url + "/api/v1/records", json={"records": lost},
                           headers=head, timeout=30)
        assert again.status_code == 200 and again.json()["accepted"] == 100
    assert len(stored_ids(db.url)) == 200


def test_two_servers_on_one_postgresql_store_each_record_once(pg, tmp_path):
    db, secret, ref = pg
    with Service(db.url, ref, tmp_path / "a.log") as a, \
            Service(db.url, ref, tmp_path / "b.log") as b:
        batches = [[record(i + k) for k in range(100)] for i in range(0, 2000, 100)]
        results: dict[str, list[dict]] = {"a": [], "b": []}

        def send(name: str, url: str, order: list) -> None:
            with httpx.Client(timeout=30) as client:
                for batch in order:
                    r = client.post(url + "/api/v1/records", json={"records": batch},
                                    headers={"Authorization": f"Bearer {secret}"})
                    assert r.status_code == 200, r.text
                    results[name].append(r.json())

        threads = [threading.Thread(target=send, args=("a", a.url, batches)),
                   threading.Thread(target=send, args=("b", b.url, batches[::-1]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    accepted = sum(r["accepted"] for rs in results.values() for r in rs)
    duplicates = sum(r["duplicates"] for rs in results.values() for r in rs)
    assert accepted == 2000 and duplicates == 2000
    stored = stored_ids(db.url)
    assert len(stored) == len(set(stored)) == 2000


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (needs the right to mount: skipped without it)."""
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()[:100]}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_full_disk_answers_503_and_acknowledges_nothing(small_disk, tmp_path):
    db = f"sqlite:///{small_disk / 'monitor.db'}"
    migrate(db)
    secret = token(db, "ingest")
    ref = make_reference(tmp_path / "reference")
    acked: set[str] = set()
    refused: list[list[str]] = []
    with Service(db, ref, tmp_path / "server.log") as server:
        head = {"Authorization": f"Bearer {secret}"}
        for i in range(0, 40_000, 100):
            batch = [record(i + k, features={"v": [0.123456789] * 50}) for k in range(100)]
            r = httpx.post(server.url + "/api/v1/records", json={"records": batch},
                           headers=head, timeout=30)
            assert r.status_code in (200, 503), r.text
            ids = [x["id"] for x in batch]
            if r.status_code == 200:
                acked.update(ids)
            else:
                refused.append(ids)
                if len(refused) == 3:
                    break
        assert acked and len(refused) == 3, "the disk never filled"
        stored = set(stored_ids(db))
        assert acked <= stored
        assert not stored & {x for ids in refused for x in ids}  # nothing of a 503 was stored
        subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
        r = httpx.post(server.url + "/api/v1/records",
                       json={"records": [record(int(x[1:])) for x in refused[0]]},
                       headers=head, timeout=30)
        assert r.status_code == 200 and r.json()["accepted"] == 100  # space back, taken
