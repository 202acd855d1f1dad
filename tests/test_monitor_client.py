"""The device client against a real receiver process on 127.0.0.1: spooling while the service is
down, delivery, dead letters, refused tokens, a full spool, the scan's own features."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from monitor_receiver import TOKEN, free_port, log_until_killed, photos, receiver, stored
from PIL import Image

from pitfalls.errors import InputError, PitfallsError
from pitfalls.features.compute import FEATURE_VERSION, compute_file_features
from pitfalls.monitor.client import Client, DeliveryError
from pitfalls.monitor.device_features import record_features
from pitfalls.monitor.spool import SpoolError, SpoolFullError


def client(url: str, spool: Path, **kw) -> Client:
    kw.setdefault("backoff", (0.05, 0.3))
    return Client(url, kw.pop("token", TOKEN), spool=spool, source="cam-1", model_version="v1",
                  **kw)


def test_importing_the_client_loads_no_server_or_database_library():
    code = ("import sys, pitfalls.monitor.client; "
            "print([m for m in ('fastapi', 'starlette', 'sqlalchemy', 'alembic', 'uvicorn', "
            "'pandas', 'httpx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_records_carry_the_scans_features(tmp_path):
    path = photos(tmp_path, 1)[0]
    port = free_port()
    with client(f"http://127.0.0.1:{port}", tmp_path / "spool") as c:
        rid = c.log(path, pred="ok", captured_at="2026-11-30T10:00:00Z")
        body = c.spool.batch(1)[0].body
        assert c.close(timeout=0) == 1  # nobody listens: it stays spooled
    record = json.loads(body)
    assert record["id"] == rid
    assert record["feature_version"] == FEATURE_VERSION
    scan_row = compute_file_features(path)  # what `pitfalls scan` stores for this file
    assert record["features"] == record_features(scan_row)
    assert record["features"]["jpeg_quality"] == scan_row["jpeg_quality"]
    assert len(record["features"]["embedding"]) == len(scan_row["embedding"])
    np.testing.assert_array_equal(np.float32(record["features"]["embedding"]),
                                  scan_row["embedding"])
    assert not any(isinstance(v, str) for v in record["features"].values())


def test_same_event_same_id_and_replays_keep_it(tmp_path):
    path = photos(tmp_path, 1)[0]
    url = f"http://127.0.0.1:{free_port()}"
    with client(url, tmp_path / "spool") as c:
        a = c.log(path, pred="ok", captured_at="2026-11-30T10:00:00+00:00")
        b = c.log(path.read_bytes(), pred="ok", captured_at="2026-11-30T10:00:00Z")
        measured = record_features(compute_file_features(path))  # the image names the record
        assert c.log(path, features=measured, pred="ok", captured_at="2026-11-30T10:00Z") == a
        other = c.log(path, pred="ok", captured_at="2026-11-30T10:00:01Z")
        fresh = {c.log(path, pred="ok"), c.log(path, pred="ok")}
        assert c.pending == 4  # a and b are one record
        c.close(timeout=0)
    assert a == b and other != a and len(fresh) == 2
    with client(url, tmp_path / "spool") as again:
        assert {p.id for p in again.spool.batch(10)} == {a, other, *fresh}
        again.close(timeout=0)


def test_unreachable_service_spools_then_delivers(tmp_path):
    port = free_port()
    paths = photos(tmp_path / "img", 4)
    db = tmp_path / "recv.sqlite3"
    with client(f"http://127.0.0.1:{port}", tmp_path / "spool", batch_size=7) as c:
        ids = [c.log(paths[i % 4], probs={"ok": 0.8, "scratch": 0.2},
                     captured_at=f"2026-11-30T10:00:{i:02d}Z") for i in range(30)]
        assert c.flush(timeout=0.5) == 30
        with receiver(db, port):
            assert c.flush(timeout=20) == 0
            assert sorted(stored(db)) == sorted(ids)
            assert c.sent == 30 and c.dead_letters() == []


def test_receiver_killed_mid_stream_every_record_stored_once(tmp_path):
    port = free_port()
    db = tmp_path / "recv.sqlite3"
    ids = []
    with client(f"http://127.0.0.1:{port}", tmp_path / "spool", batch_size=20, linger=0) as c:
        with receiver(db, port) as proc:
            for i in range(150):
                ids.append(c.log(features={"brightness": i / 150}, pred="ok"))
                if i == 60:
                    proc.kill()  # SIGKILL, mid-stream
                time.sleep(0.002)
        assert c.pending > 0
        with receiver(db, port):
            assert c.flush(timeout=20) == 0
            got = stored(db)
    assert sorted(got) == sorted(ids) and len(set(got)) == len(got) == 150


def test_client_killed_mid_send_replays_without_duplicates(tmp_path):
    port = free_port()
    db = tmp_path / "recv.sqlite3"
    spool = tmp_path / "spool"
    with receiver(db, port):
        logged = log_until_killed(f"http://127.0.0.1:{port}", TOKEN, spool, 2000, 400)
        before = stored(db)
        with client(f"http://127.0.0.1:{port}", spool, batch_size=50) as replay:
            spooled = replay.pending
            assert replay.flush(timeout=20) == 0
        got = stored(db)
        with sqlite3.connect(db) as con:
            posted = sum(n for (n,) in con.execute("SELECT n FROM posts WHERE status = 200"))
    assert set(logged) <= set(got)  # every record log() returned for is stored...
    assert len(got) == len(set(got)) and len(got) <= len(logged) + 1  # ...once, nothing else
    assert len(before) < len(logged) and spooled > 0  # the replay had work to do
    assert posted - len(got) <= 10  # at most the batch in flight at the kill came twice


def test_rejected_records_go_to_dead_letters_and_the_rest_is_stored(tmp_path):
    port = free_port()
    db = tmp_path / "recv.sqlite3"
    with receiver(db, port, "--classes", "ok,scratch"), \
            client(f"http://127.0.0.1:{port}", tmp_path / "spool", batch_size=10) as c:
        good = [c.log(features={"x": 1.0}, pred="ok") for _ in range(12)]
        bad = [c.log(features={"x": 2.0}, pred="zebra") for _ in range(3)]
        assert c.flush(timeout=20) == 0
        dead = c.dead_letters()
    assert sorted(stored(db)) == sorted(good)
    assert sorted(d["id"] for d in dead) == sorted(bad)
    assert all(d["status"] == 422 and "zebra" in d["reason"] for d in dead)
    assert all(d["record"]["pred"] == "zebra" for d in dead)


def test_a_refused_token_stops_sending_and_keeps_the_records(tmp_path):
    port = free_port()
    db = tmp_path / "recv.sqlite3"
    with receiver(db, port):
        with client(f"http://127.0.0.1:{port}", tmp_path / "spool", token="wrong") as c:
            ids = [c.log(features={"x": float(i)}, pred="ok") for i in range(5)]
            with pytest.raises(DeliveryError, match="401"):
                c.flush(timeout=10)
            assert c.pending == 5
            assert TOKEN not in str(c.error) and "wrong" not in str(c.error)
        with client(f"http://127.0.0.1:{port}", tmp_path / "spool") as fixed:
            assert fixed.flush(timeout=10) == 0
    assert sorted(stored(db)) == sorted(ids)


def test_wrong_scope_and_wrong_url_are_reported(tmp_path):
    port = free_port()
    with receiver(tmp_path / "r.sqlite3", port, "--status", "403"), \
            client(f"http://127.0.0.1:{port}", tmp_path / "s1") as c:
        c.log(features={}, pred="ok")
        with pytest.raises(DeliveryError, match="ingest scope"):
            c.flush(timeout=10)
    with receiver(tmp_path / "r2.sqlite3", port), \
            client(f"http://127.0.0.1:{port}/elsewhere", tmp_path / "s2") as c:
        c.log(features={}, pred="ok")
        with pytest.raises(DeliveryError, match="404"):
            c.flush(timeout=10)
        assert c.pending == 1


def test_a_full_spool_refuses_loudly_and_drops_nothing(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    with client(url, tmp_path / "spool", max_spool_bytes=4000) as c:
        kept = []
        with pytest.raises(SpoolFullError, match="full"):
            for i in range(100):
                kept.append(c.log(features={"x": float(i)}, pred="ok"))
        assert 0 < len(kept) < 100 and c.pending == len(kept)
        assert {p.id for p in c.spool.batch(200)} == set(kept)
        c.close(timeout=0)


def test_bad_input_is_a_clear_error_and_nothing_is_spooled(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with client(f"http://127.0.0.1:{free_port()}", tmp_path / "spool") as c:
        with pytest.raises(InputError, match="missing.jpg: file not found"):
            c.log(tmp_path / "missing.jpg", pred="ok")
        with pytest.raises(InputError, match="notes.jpg"):
            c.log(tmp_path / "notes.jpg", pred="ok")
        with pytest.raises(InputError, match="pred or probs"):
            c.log(features={})
        with pytest.raises(InputError, match="probabilit"):
            c.log(features={}, probs={"ok": 1.5, "scratch": -0.5})
        with pytest.raises(InputError, match="ISO 8601"):
            c.log(features={}, pred="ok", captured_at="yesterday")
        with pytest.raises(InputError, match="cannot log a dict"):
            c.log({"a": 1}, pred="ok")
        assert c.pending == 0
        # arrays and Pillow images are measured too (as lossless PNG)
        c.log(np.full((40, 50, 3), 128, np.uint8), pred="ok")
        c.log(Image.new("RGB", (50, 40), (10, 200, 30)), pred="ok")
        assert c.pending == 2
        c.close(timeout=0)
        with pytest.raises(PitfallsError, match="closed"):
            c.log(features={}, pred="ok")


def test_one_spool_one_process_and_token_from_the_environment(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PITFALLS_TOKEN", TOKEN)
    first = Client(url, spool=tmp_path / "spool", source="a", model_version="v1")
    try:
        with pytest.raises(SpoolError, match="in use"):
            Client(url, spool=tmp_path / "spool", source="a", model_version="v1")
    finally:
        first.close(timeout=0)
    monkeypatch.delenv("PITFALLS_TOKEN")
    with pytest.raises(InputError, match="PITFALLS_TOKEN"):
        Client(url, spool=tmp_path / "other")


def test_threads_logging_at_once_share_commits_and_lose_nothing(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    ids: list[list[str]] = [[] for _ in range(8)]

    def work(k: int) -> None:
        for i in range(40):
            ids[k].append(c.log(features={"x": float(i)}, pred="ok", id=f"t{k}-{i % 30}"))

    with client(url, tmp_path / "spool") as c:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        spooled = {p.id for p in c.spool.batch(1000)}
        assert spooled == {i for got in ids for i in got} and len(spooled) == 8 * 30
        assert c.pending == 240  # ids logged twice are spooled once, and counted once
        counted = c.spool.bytes
        c.close(timeout=0)
    with client(url, tmp_path / "spool") as reopened:  # counts again from the file
        assert reopened.pending == 240 and reopened.spool.bytes == counted > 0
        reopened.close(timeout=0)


def test_server_errors_are_retried_with_backoff_until_acknowledged(tmp_path):
    port = free_port()
    db = tmp_path / "recv.sqlite3"
    with receiver(db, port, "--fail", "4"), \
            client(f"http://127.0.0.1:{port}", tmp_path / "spool") as c:
        ids = [c.log(features={"x": float(i)}, pred="ok") for i in range(10)]
        assert c.flush(timeout=20) == 0
    with sqlite3.connect(db) as con:
        statuses = [s for (s,) in con.execute("SELECT status FROM posts")]
    assert statuses[:4] == [503] * 4 and statuses[4:] and set(statuses[4:]) == {200}
    assert sorted(stored(db)) == sorted(ids)


def test_an_unusable_spool_is_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "spool.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(SpoolError, match="not usable"):
        client(url, tmp_path / "bad")
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(SpoolError, match="spool folder"):
        client(url, tmp_path / "file")
