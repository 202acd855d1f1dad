"""Opt-in thumbnails: real generated photos go through the real client (and `monitor log`) to a
real service process, which ranks the most shifted by the analysis's own distance, serves only
what it could decode and re-encode, and the dashboard shows them in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import pytest
from monitor_data import CLASSES
from monitor_receiver import TOKEN, free_port, receiver, stored
from monitor_service import Service, db_url, token  # noqa: F401
from PIL import Image
from scenes import scene
from test_monitor_live import write_reference

from pitfalls.errors import InputError
from pitfalls.field.capture import Capture, apply_capture
from pitfalls.monitor.client import Client
from pitfalls.monitor.device_features import image_features
from pitfalls.monitor.records import make_record
from pitfalls.monitor.storage import Store

SRC = Path(__file__).resolve().parents[1] / "src"
CHROMIUM = Path("/usr/bin/chromium")
NOW = datetime.now(timezone.utc)
XSS = "<img src=x onerror=alert(1)>"


def jpeg(rgb: np.ndarray, exif: bool = False) -> bytes:
    """The photo as a quality-90 JPEG (as the reference's photos were), with a camera's EXIF."""
    out = io.BytesIO()
    extra = {}
    if exif:
        tags = Image.Exif()
        tags[0x010F], tags[0x0110], tags[0xA431] = "SiteCam", "Model-X", "SERIAL-12345"
        extra["exif"] = tags
    Image.fromarray(rgb).save(out, format="JPEG", quality=90, **extra)
    return out.getvalue()


def plain(i: int) -> bytes:
    return jpeg(apply_capture(scene(50_000 + i), Capture(), seed=i))


def dark(i: int, gain: float = 0.2) -> bytes:
    """A photo from a camera whose exposure failed (a fifth of the light)."""
    return jpeg(apply_capture(scene(60_000 + i), Capture(gain=gain), seed=i))


def probs(i: int) -> dict[str, float]:
    return {c: (0.7 if j == i % len(CLASSES) else 0.1) for j, c in enumerate(CLASSES)}


def decoded(data_url: str) -> Image.Image:
    head, _, body = data_url.partition(",")
    assert head == "data:image/jpeg;base64"
    image = Image.open(io.BytesIO(base64.b64decode(body)))
    assert image.format == "JPEG"
    return image


def spooled(client: Client) -> list[dict]:
    return [json.loads(p.body) for p in client.spool.batch(100)]


def test_the_client_sends_thumbnails_only_when_asked_and_strips_their_metadata(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: the records stay in the spool
    photo = jpeg(apply_capture(scene(7), Capture(), seed=7), exif=True)
    assert b"SERIAL-12345" in photo
    off = Client(down, "t", spool=tmp_path / "off", source="cam", model_version="v1")
    try:
        off.log(photo, probs=probs(0))
        assert "thumbnail" not in spooled(off)[0]
    finally:
        off.close(timeout=0)
    on = Client(down, "t", spool=tmp_path / "on", source="cam", model_version="v1",
                thumbnails=True, thumbnail_size=64)
    try:
        on.log(photo, probs=probs(0))
        on.log(features={"brightness": 0.5}, pred="apple")  # no image: no thumbnail
        first, second = spooled(on)
    finally:
        on.close(timeout=0)
    thumb = base64.b64decode(first["thumbnail"])
    image = Image.open(io.BytesIO(thumb))
    assert image.format == "JPEG" and max(image.size) == 64
    assert not image.getexif() and b"SERIAL-12345" not in thumb and b"SiteCam" not in thumb
    assert "thumbnail" not in second
    with pytest.raises(InputError, match="thumbnail_size"):
        Client(down, "t", spool=tmp_path / "bad", thumbnails=True, thumbnail_size=4)


def test_monitor_log_thumbnails_flag(tmp_path):
    folder = tmp_path / "cam"
    folder.mkdir()
    for i in range(2):
        (folder / f"{i}.jpg").write_bytes(jpeg(apply_capture(scene(i), Capture(), seed=i),
                                               exif=True))
    port, db = free_port(), tmp_path / "recv.sqlite3"
    env = {**{k: v for k, v in os.environ.items() if k != "PITFALLS_TOKEN"},
           "PYTHONPATH": str(SRC), "PITFALLS_TOKEN": TOKEN, "COLUMNS": "200"}

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pitfalls", "monitor", "log", str(folder), "--url",
             f"http://127.0.0.1:{port}", "--pred", "ok", "--model-version", "v1",
             "--spool", str(tmp_path / "spool"), *extra],
            capture_output=True, text=True, env=env, timeout=120)

    with receiver(db, port):
        without = run("--captured-at", "2026-03-02T10:00:00Z")
        assert without.returncode == 0, without.stderr
        assert not any("thumbnail" in r for r in stored(db).values())
        bad = run("--thumbnails", "--thumbnail-size", "4000")
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
        with_thumbs = run("--thumbnails", "--thumbnail-size", "32", "--captured-at",
                          "2026-03-02T11:00:00Z")
        assert with_thumbs.returncode == 0, with_thumbs.stderr
    thumbs = [base64.b64decode(r["thumbnail"]) for r in stored(db).values() if "thumbnail" in r]
    assert len(thumbs) == 2
    for thumb in thumbs:
        image = Image.open(io.BytesIO(thumb))
        assert max(image.size) == 32 and not image.getexif() and b"SERIAL" not in thumb


def test_the_darkened_inputs_rank_first_and_only_real_images_are_served(db_url, tmp_path):  # noqa: F811
    ref = write_reference(tmp_path / "reference", n=120)
    read, ingest = token(db_url, "read"), token(db_url, "ingest")
    look = {"Authorization": f"Bearer {read}"}
    with Service(db_url, ref, tmp_path / "server.log") as svc:
        with Client(svc.url, ingest, spool=tmp_path / "spool", source="cam-1",
                    model_version="v1", classes=list(CLASSES), thumbnails=True) as client:
            normal = [client.log(plain(i), probs=probs(i),
                                 captured_at=NOW - timedelta(minutes=i)) for i in range(8)]
            darkened = [client.log(dark(i), probs=probs(i),
                                   captured_at=NOW - timedelta(minutes=20 + i))
                        for i in range(4)]
            assert client.flush(60) == 0
        with Client(svc.url, ingest, spool=tmp_path / "spool-off", source="cam-off",
                    model_version="v1", classes=list(CLASSES)) as off:
            quiet = off.log(dark(9), probs=probs(0), captured_at=NOW)
            assert off.flush(60) == 0
        # magic bytes of a JPEG, then noise: the ingest check lets it in, the endpoint must not
        # serve it (and ranks it first: the features of a far darker photo)
        features, _ = image_features(dark(99, gain=0.1))
        bogus = make_record(id="bogus-1", pred=CLASSES[0], source="cam-1", model_version="v1",
                            captured_at=NOW, features=features, probs=probs(0),
                            thumbnail=b"\xff\xd8\xff\xe0" + np.random.default_rng(3).bytes(3000))
        sent = httpx.post(svc.url + "/api/v1/records", json={"records": [bogus]},
                          headers={"Authorization": f"Bearer {ingest}"}, timeout=30)
        assert sent.status_code in (200, 422), sent.text

        top = httpx.get(svc.url + "/api/v1/thumbnails", params={"limit": 4}, headers=look,
                        timeout=60)
        assert top.status_code == 200, top.text
        body = top.json()
        if sent.status_code == 200:  # the bogus one ranked first, was dropped, and refilled
            assert "not a readable image" in svc.logs()
        assert [i["id"] for i in body["items"]] and {i["id"] for i in body["items"]} == set(
            darkened), body["items"]
        assert body["scanned"] == 12 + (sent.status_code == 200)
        distances = [i["distance"] for i in body["items"]]
        assert distances == sorted(distances, reverse=True)
        for item in body["items"]:
            assert item["source"] == "cam-1" and item["pred"] in CLASSES
            assert item["confidence"] == pytest.approx(0.7)
            exposure = [c for c in item["conditions"] if c["condition"] == "exposure"]
            assert exposure and exposure[0]["z"] < -1.5 and exposure[0]["value"] < exposure[0][
                "lab"], item["conditions"]
            assert item["unusable"] == "dark" and item["captured_at"].endswith("Z")
            assert max(decoded(item["thumbnail"]).size) <= 128

        every = httpx.get(svc.url + "/api/v1/thumbnails", params={"limit": 48, "lang": "ja"},
                          headers=look, timeout=60).json()["items"]
        assert {i["id"] for i in every} == set(normal) | set(darkened)
        assert max(i["distance"] for i in every if i["id"] in normal) < min(
            i["distance"] for i in every if i["id"] in darkened)
        assert "露出（明るさ）" in {c["label"] for c in every[0]["conditions"]}
        none = httpx.get(svc.url + "/api/v1/thumbnails", params={"source": "cam-off"},
                         headers=look, timeout=60).json()
        assert none["items"] == [] and none["scanned"] == 0
        past = httpx.get(svc.url + "/api/v1/thumbnails", headers=look, params={
            "start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}).json()
        assert past["items"] == []

        url = svc.url + "/api/v1/thumbnails"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer pfm_nope"}).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Bearer {ingest}"}).status_code == 403
        for params in ({"limit": 0}, {"limit": 49}, {"limit": "many"}, {"start": "noon"},
                       {"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
                       {"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
                       {"lang": "fr"}, {"source": "x" * 300}):
            answer = httpx.get(url, params=params, headers=look)
            assert answer.status_code == 422, (params, answer.text)
        logs = svc.logs()
    store = Store.open(db_url)
    try:
        kept = store.thumbnails([*normal, *darkened, quiet, "bogus-1"])
    finally:
        store.engine.dispose()
    assert quiet not in kept and set(normal) | set(darkened) <= set(kept)
    assert "Traceback" not in logs


def test_dashboard_shows_the_shifted_inputs_grid_escaped_under_its_csp(tmp_path):
    """Headless Chromium: a note while no record carries a thumbnail; then a grid of the
    expected number of images, captions as text (a source that looks like markup stays
    text), and not one console error (a CSP violation is one)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    from pitfalls.monitor.storage import migrate

    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    migrate(db)
    ref = write_reference(tmp_path / "reference", n=120)
    read, ingest = token(db, "read"), token(db, "ingest")
    with Service(db, ref, tmp_path / "server.log") as svc, sync_api.sync_playwright() as pw:
        with Client(svc.url, ingest, spool=tmp_path / "off", source="cam-1",
                    model_version="v1", classes=list(CLASSES)) as off:
            off.log(plain(0), probs=probs(0), captured_at=NOW)
            assert off.flush(60) == 0
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            dialogs: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(svc.url + "/")
            page.fill("#token", read)
            page.click("button[type=submit]")
            page.wait_for_selector("#shifted p.note", timeout=60_000)
            assert "thumbnails=True" in page.inner_text("#shifted")
            assert page.locator("#shifted img").count() == 0

            with Client(svc.url, ingest, spool=tmp_path / "on", source="cam-2",
                        model_version="v1", classes=list(CLASSES), thumbnails=True) as on:
                for i in range(4):
                    on.log(plain(i), probs=probs(i), captured_at=NOW - timedelta(minutes=i))
                on.log(dark(0), probs=probs(1), captured_at=NOW, source=XSS)
                assert on.flush(60) == 0
            page.reload()
            page.wait_for_selector("#shifted figure img", timeout=60_000)
            assert page.locator("#shifted figure img").count() == 5
            first = page.locator("#shifted figure").first
            assert XSS in first.inner_text()  # the darkened one leads, its source as text
            assert first.locator("img[src^='data:image/jpeg;base64,']").count() == 1
            assert page.locator("img[src=x]").count() == 0 and not dialogs
            loaded = page.eval_on_selector_all(
                "#shifted img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
            assert loaded == [True] * 5
            assert page.locator("#shifted p.note").count() == 0

            page.goto(svc.url + "/?lang=ja")
            page.wait_for_selector("#shifted figure img", timeout=60_000)
            assert "直近で最もずれた入力" in page.inner_text("body")
            assert "露出" in page.inner_text("#shifted")
            assert not errors, errors
        finally:
            browser.close()
