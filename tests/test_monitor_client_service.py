"""The device client against the real service (`pitfalls monitor serve` as its own process) on
SQLite and on PostgreSQL: kill -9 of the service mid-stream, kill -9 of a logging client, the
service's 422 and 403, real images' features accepted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from monitor_receiver import log_until_killed, photos
from monitor_service import CLASSES, Service, db_url, make_reference, stored_ids, token  # noqa: F401

from pitfalls.monitor.client import Client, DeliveryError


def _client(url: str, tok: str, spool: Path, **kw) -> Client:
    kw.setdefault("backoff", (0.05, 0.5))
    return Client(url, tok, spool=spool, source="cam-1", model_version="v1", **kw)


def test_service_killed_mid_stream_every_record_stored_exactly_once(db_url, tmp_path):  # noqa: F811
    ref = make_reference(tmp_path / "reference")
    tok = token(db_url, "ingest")
    service = Service(db_url, ref, tmp_path / "serve.log", "--rate", "0").start()
    ids = []
    try:
        with _client(service.url, tok, tmp_path / "spool", batch_size=25, linger=0) as c:
            for i in range(300):
                ids.append(c.log(features={"brightness": i / 300}, pred=CLASSES[i % 3]))
                if i == 120:
                    service.kill()  # SIGKILL, while batches are in flight
                time.sleep(0.001)
            assert c.pending > 0
            service = Service(db_url, ref, tmp_path / "serve.log", "--rate", "0",
                              port=service.port).start()
            assert c.flush(timeout=25) == 0
    finally:
        service.stop()
    got = stored_ids(db_url)
    assert len(got) == len(set(got)) == 300 and set(got) == set(ids)


def test_client_killed_mid_send_replays_into_the_service_once(db_url, tmp_path):  # noqa: F811
    ref = make_reference(tmp_path / "reference")
    tok = token(db_url, "ingest")
    with Service(db_url, ref, tmp_path / "serve.log", "--rate", "0") as service:
        logged = log_until_killed(service.url, tok, tmp_path / "spool", 3000, 300, "apple")
        with _client(service.url, tok, tmp_path / "spool", batch_size=100) as replay:
            assert replay.pending > 0
            assert replay.flush(timeout=25) == 0
    got = stored_ids(db_url)
    assert len(got) == len(set(got))
    assert set(logged) <= set(got) and len(got) <= len(logged) + 1


def test_real_images_rejections_and_scopes(db_url, tmp_path):  # noqa: F811
    ref = make_reference(tmp_path / "reference")
    ingest, read = token(db_url, "ingest"), token(db_url, "read")
    images = photos(tmp_path / "cam", 4)
    with Service(db_url, ref, tmp_path / "serve.log") as service:
        with _client(service.url, ingest, tmp_path / "spool", classes=None) as c:
            good = [c.log(p, probs={"apple": 0.7, "banana": 0.2, "cherry": 0.1}) for p in images]
            bad = c.log(images[0], pred="zebra")  # not a class of the reference
            assert c.flush(timeout=20) == 0
            dead = c.dead_letters()
        assert [d["id"] for d in dead] == [bad]
        assert dead[0]["status"] == 422 and "zebra" in dead[0]["reason"]
        assert sorted(stored_ids(db_url)) == sorted(good)
        with _client(service.url, read, tmp_path / "spool2") as wrong:
            wrong.log(images[1], pred="apple")
            with pytest.raises(DeliveryError, match="403"):
                wrong.flush(timeout=20)
            assert wrong.pending == 1


def test_oversized_batches_are_split_and_an_oversized_record_is_a_dead_letter(tmp_path):
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    from pitfalls.monitor.storage import migrate

    migrate(db)
    tok = token(db, "ingest")
    ref = make_reference(tmp_path / "reference")
    with Service(db, ref, tmp_path / "serve.log", "--max-body", "32768", "--max-records", "16",
                 "--rate", "0") as service, \
            _client(service.url, tok, tmp_path / "spool", batch_size=100) as c:
        small = [c.log(features={"x": float(i)}, pred="apple") for i in range(60)]
        giant = c.log(features={"v": [0.123456789] * 4096}, pred="apple")  # ~50 kB alone
        assert c.flush(timeout=25) == 0
        dead = c.dead_letters()
    assert [d["id"] for d in dead] == [giant] and dead[0]["status"] == 413
    assert sorted(stored_ids(db)) == sorted(small)
