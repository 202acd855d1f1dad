"""The service's API on SQLite and on PostgreSQL: records, labels, windows, tokens, limits and
bad input (never a 500)."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from monitor_service import CLASSES, db_url, make_reference, record, stored_ids, token  # noqa: F401

from pitfalls.monitor.server import Settings, create_app
from pitfalls.monitor.storage import Store


@pytest.fixture
def service(db_url: str, tmp_path: Path):  # noqa: F811 - the fixture imported above
    ref = make_reference(tmp_path / "reference")
    settings = Settings(db=db_url, reference=str(ref), max_body=64 * 1024, max_records=500,
                        rate=0, token_ttl=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.db = db_url
        client.tokens = {s: token(db_url, s) for s in ("ingest", "read", "admin")}
        yield client


def auth(client: TestClient, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.tokens[scope]}"}


def post(client: TestClient, body: object, scope: str = "ingest", path: str = "/api/v1/records"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, content=data, headers={**auth(client, scope),
                                                    "Content-Type": "application/json"})


def test_records_stored_once_and_resend_counted_as_duplicates(service):
    batch = [record(i) for i in range(50)]
    first = post(service, {"records": batch})
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 50, "duplicates": 0}
    again = post(service, {"records": batch[25:] + [record(i) for i in range(50, 60)]})
    assert again.json() == {"accepted": 10, "duplicates": 25}
    ids = stored_ids(service.db)
    assert sorted(ids) == sorted(r["id"] for r in batch + [record(i) for i in range(50, 60)])
    store = Store.open(service.db)
    hourly = store.hourly_counts(datetime(2000, 1, 1), datetime(2100, 1, 1))
    store.engine.dispose()
    assert sum(n for _, _, n in hourly) == 60  # the aggregates count each record once


def test_tokens_and_scopes(service):
    body = {"records": [record(1)]}
    no = service.post("/api/v1/records", json=body)
    assert no.status_code == 401 and no.headers["www-authenticate"] == "Bearer"
    bogus = service.post("/api/v1/records", json=body, headers={"Authorization": "Bearer pfm_x"})
    assert bogus.status_code == 401
    basic = service.post("/api/v1/records", json=body,
                         headers={"Authorization": "Basic " + service.tokens["ingest"]})
    assert basic.status_code == 401
    assert post(service, body, "read").status_code == 403
    assert service.get("/api/v1/windows", headers=auth(service, "ingest")).status_code == 403
    assert service.get("/api/v1/alerts", headers=auth(service, "ingest")).status_code == 403
    assert service.get("/metrics", headers=auth(service, "ingest")).status_code == 403
    assert service.get("/api/v1/windows").status_code == 401
    assert post(service, body, "admin").status_code == 200
    assert service.get("/api/v1/windows", headers=auth(service, "admin")).status_code == 200
    assert service.get("/api/v1/windows", headers=auth(service, "read")).status_code == 200
    assert stored_ids(service.db) == [record(1)["id"]]  # the refused posts stored nothing


def test_revoked_token_is_refused(service):
    from pitfalls.monitor.storage import make_engine
    from pitfalls.monitor.tokens import listing, revoke

    assert post(service, {"records": [record(1)]}).status_code == 200
    engine = make_engine(service.db)
    ingest = [t for t in listing(engine) if t.scope == "ingest"][0]
    assert revoke(engine, str(ingest.id)) == 1
    engine.dispose()
    assert post(service, {"records": [record(2)]}).status_code == 401


def test_oversized_bodies_are_413_before_parsing(service):
    big = json.dumps({"records": [record(i) for i in range(400)]})
    assert len(big) > 64 * 1024
    response = post(service, big)
    assert response.status_code == 413, response.text

    def chunks():  # no Content-Length: the limit holds while the body streams in
        yield b'{"records": ['
        for _ in range(10_000):
            yield b'"' + b"x" * 100 + b'",'
        yield b"1]}"

    streamed = service.post("/api/v1/records", content=chunks(),
                            headers={**auth(service, "ingest"),
                                     "Content-Type": "application/json"})
    assert streamed.status_code == 413
    many = post(service, {"records": [{"id": str(i)} for i in range(501)]})
    assert many.status_code == 413
    assert stored_ids(service.db) == []


def test_invalid_records_get_reasons_and_valid_ones_are_stored(service):
    now = datetime.now(timezone.utc)
    good = [record(i) for i in range(3)]
    bad = [
        record(10, pred="durian"),                                    # unknown class
        record(11, probs={"apple": -0.1, "banana": 0.6, "cherry": 0.5}),
        record(12, captured_at=(now + timedelta(days=30)).isoformat()),
        record(13, features={"brightness": "bright"}),
        record(14, source=7),
        record(0),                                                    # repeats good[0]'s id
        record(15, probs={"apple": 0.5, "banana": 0.2, "cherry": 0.1}),  # sums to 0.8
        "not a record",
        record(16, label="durian"),
        record(17, extra="field"),
        record(18, captured_at="yesterday"),
    ]
    text = json.dumps({"records": good + bad})
    nan = json.dumps(record(19)).replace('"features": {', '"features": {"x": NaN, ')
    text = text[:-2] + ", " + nan + "]}"
    response = post(service, text)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["accepted"] == 3 and answer["duplicates"] == 0
    reasons = {r["index"]: {e["code"] for e in r["errors"]} for r in answer["rejected"]}
    assert reasons == {3: {"unknown_class"}, 4: {"range"}, 5: {"future"}, 6: {"type"},
                       7: {"type"}, 8: {"duplicate_in_batch"}, 9: {"sum"}, 10: {"type"},
                       11: {"unknown_class"}, 12: {"unknown_field"}, 13: {"format"},
                       14: {"not_finite"}}
    assert sorted(stored_ids(service.db)) == sorted(r["id"] for r in good)


BIG = b"1" + b"0" * 400  # an integer beyond a float's range


@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b"null", b'"records"', b'{"records": 5}', b'{"records": {"a": 1}}',
    b"\xff\xfe\x00garbage", b"[" * 20_000 + b"]" * 20_000,
    b'{"records": [{"id": "a\\u0000b", "captured_at": "2026-01-01T00:00:00Z"}]}',
    b'{"records": [{"features": {"\\ud800": 1}, "id": "\\udfff"}]}',
    b'{"records": [{"id": 1e999, "captured_at": -1, "probs": {"apple": 1e999}}]}',
    b'{"records": [{"features": {"n": ' + BIG + b', "v": [' + BIG + b']},'
    b' "probs": {"apple": ' + BIG + b'}}]}',
    b'{"records": [{"captured_at": "9999-12-31T23:59:59+14:00"},'
    b' {"captured_at": "0001-01-01T00:00:00-14:00"}]}',
    b'{"records": [[], 0, true, null, {"features": [1, 2]}, {"thumbnail": "@@@"}]}',
    b'{"labels": [{"id": "x", "label": "apple"}]}',
])
def test_hostile_bodies_never_500(service, body):
    for path in ("/api/v1/records", "/api/v1/labels"):
        response = post(service, body, path=path)
        valid_labels = path.endswith("labels") and body.startswith(b'{"labels"')
        assert 400 <= response.status_code < 500 or valid_labels, (path, body[:60],
                                                                   response.text)
        assert set(response.json()) & {"detail", "rejected", "accepted"}


def test_hostile_feature_names_and_values_are_stored_or_rejected_not_500(service):
    names = ["a\u0000b", "\ud800", "é" * 64, "ok", "x" * 65, ""]
    rows = [record(i, features={name: 1.0}) for i, name in enumerate(names)]
    rows.append(record(9, features={"v": [1.0] * 4097}))
    rows.append(record(10, features={"v": [1.0, 2.0], "flag": True, "gone": None}))
    response = post(service, json.dumps({"records": rows}))
    assert response.status_code == 422
    assert response.json()["accepted"] == 3  # "é"*64, "ok", and the vector record
    bad = {r["index"] for r in response.json()["rejected"]}
    assert bad == {0, 1, 4, 5, 6}


def test_labels_and_windows(service):
    now = datetime.now(timezone.utc).replace(minute=30, second=0, microsecond=0)
    hour = timedelta(hours=1)
    rows = []
    for i in range(30):  # 20 records in the hour before, 10 in this hour
        rows.append(record(i, captured_at=(now - hour if i < 20 else now).isoformat(),
                           label=CLASSES[0] if i % 5 == 0 else None))
    assert post(service, {"records": rows}).status_code == 200
    labels = [{"id": rows[i]["id"], "label": CLASSES[i % 3]} for i in (1, 2, 21)]
    labels.append({"id": "not-yet-arrived", "label": "banana"})
    labelled = post(service, {"labels": labels}, path="/api/v1/labels")
    assert labelled.status_code == 200 and labelled.json() == {"accepted": 4}
    bad = post(service, {"labels": [{"id": "a", "label": "durian"}]}, path="/api/v1/labels")
    assert bad.status_code == 422 and bad.json()["rejected"][0]["errors"][0]["code"] == \
        "unknown_class"
    start = (now - 2 * hour).isoformat()
    end = (now.replace(minute=0) + hour).isoformat()
    got = service.get("/api/v1/windows", params={"start": start, "end": end, "every": "1h"},
                      headers=auth(service, "read"))
    assert got.status_code == 200, got.text
    windows = got.json()["windows"]
    assert [w["n"] for w in windows] == [0, 20, 10]
    before, this = windows[1], windows[2]
    mix = Counter(r["pred"] for r in rows[:20])
    assert before["prediction_mix"] == pytest.approx({k: v / 20 for k, v in mix.items()})
    # labelled before: i=0,5,10,15 inline "apple" (pred apple when i%3==0: 0 and 15), plus
    # rows 1 and 2 labelled with their own prediction through the labels endpoint
    assert before["n_labelled"] == 6 and math.isclose(before["realised_accuracy"], 4 / 6)
    # this hour: i=20, 25 inline apple (preds cherry, banana), 21 labelled apple (pred apple)
    assert this["n_labelled"] == 3 and math.isclose(this["realised_accuracy"], 1 / 3)
    # the analysis fills each window with records: ATC from the reference, its interval,
    # the capture conditions; an empty window stays empty
    assert this["estimate_method"] == "atc" and 0 <= this["estimated_accuracy"] <= 1
    assert len(this["ci"]) == 2 and this["ci"][0] <= this["estimated_accuracy"] <= this["ci"][1]
    assert isinstance(this["conditions"], dict) and this["conditions"]
    assert windows[0]["estimated_accuracy"] is None and windows[0]["conditions"] is None
    assert this["alerts"] == []
    daily = service.get("/api/v1/windows", params={"start": start, "end": end, "every": "1d",
                                                   "source": "cam-1"},
                        headers=auth(service, "read")).json()["windows"]
    assert sum(w["n"] for w in daily) == 30
    other = service.get("/api/v1/windows", params={"start": start, "end": end,
                                                   "source": "nowhere"},
                        headers=auth(service, "read")).json()["windows"]
    assert sum(w["n"] for w in other) == 0
    for params in ({"every": "1w"}, {"start": "soon"}, {"start": end, "end": start},
                   {"start": "1990-01-01T00:00:00Z", "end": end}):
        answer = service.get("/api/v1/windows", params=params, headers=auth(service, "read"))
        assert answer.status_code == 422, params


def test_alerts_metrics_health_openapi(service):
    assert service.get("/healthz").json() == {"status": "ok"}
    alerts = service.get("/api/v1/alerts", headers=auth(service, "read"))
    assert alerts.status_code == 200 and alerts.json() == {"alerts": []}
    post(service, {"records": [record(i) for i in range(7)] + [record(99, pred="durian")]})
    text = service.get("/metrics", headers=auth(service, "read")).text
    assert 'pitfalls_monitor_records_total{outcome="accepted"} 7.0' in text
    assert 'pitfalls_monitor_records_total{outcome="rejected"} 1.0' in text
    assert "pitfalls_monitor_request_seconds_bucket" in text
    assert "pitfalls_monitor_write_queue_records" in text
    spec = service.get("/openapi.json").json()
    assert {"/api/v1/records", "/api/v1/labels", "/api/v1/windows", "/api/v1/alerts",
            "/healthz", "/metrics"} <= set(spec["paths"])
    schema = spec["paths"]["/api/v1/records"]["post"]["requestBody"]["content"]
    assert "records" in json.dumps(schema)


def test_rate_limit_per_token(db_url, tmp_path):  # noqa: F811
    ref = make_reference(tmp_path / "reference")
    settings = Settings(db=db_url, reference=str(ref), rate=0.5, burst=2)
    with TestClient(create_app(settings)) as client:
        one, two = token(db_url, "ingest"), token(db_url, "ingest")
        codes = [client.post("/api/v1/records", json={"records": [record(i)]},
                             headers={"Authorization": f"Bearer {one}"}).status_code
                 for i in range(3)]
        assert codes == [200, 200, 429]
        other = client.post("/api/v1/records", json={"records": [record(9)]},
                            headers={"Authorization": f"Bearer {two}"})
        assert other.status_code == 200  # buckets are per token
