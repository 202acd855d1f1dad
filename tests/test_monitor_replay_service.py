"""The capture replay inside the running service: a real `pitfalls scan --model` writes the
reference (model, SHA-256, spec, photos' root), a real server replays each window's measured
conditions on those photos through the model, and the darkened window's estimate lands near the
model's true accuracy on the photos that were sent (measured by running the model on them).
Without a usable model the service says why in one line and keeps ATC."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import assert_cli_ok
from field_shifts import tone_curve
from monitor_service import Service, token
from PIL import Image
from test_field_predict import SPEC, brightness_model, photo
from typer.testing import CliRunner

from pitfalls.cli import app
from pitfalls.evaluation.model import ModelRunner, load_spec
from pitfalls.monitor import Client
from pitfalls.monitor.reference import MANIFEST, load_reference, sha256_of
from pitfalls.monitor.storage import migrate

CLASSES = list(SPEC["classes"])
HOUR = timedelta(hours=1)
START = (datetime.now(timezone.utc) - 6 * HOUR).replace(minute=0, second=0, microsecond=0)
CALM, DARK = START, START + HOUR
N_WINDOW = 150


def _levels(rng: np.random.Generator, n: int) -> np.ndarray:
    """Scene brightness levels spread evenly over the lab's range, in random order: the lab and
    each window hold the same mix of scenes, so what the estimate misses is the replay's own
    error, not the chance difference between two small samples of scenes."""
    return rng.permutation(np.linspace(0.25, 0.7, n) + rng.uniform(-0.1, 0.1) * 0.45 / n)


def _shots(folder: Path, n: int, seed: int, dark: bool) -> list[tuple[Path, str]]:
    """`n` photos of new scenes (the lab's camera, or one whose tone curve darkens them), with
    their true labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    out = []
    for i, level in enumerate(_levels(rng, n)):
        shot = photo(rng, level)
        if dark:
            shot = tone_curve(shot, rng, gamma=1.35)
        path = folder / f"{i}.jpg"
        Image.fromarray(shot).save(path, quality=92)
        out.append((path, "bright" if level > 0.45 else "dark"))
    return out


def _lab(data: Path) -> None:
    rng = np.random.default_rng(3)
    for split, n in (("train", 40), ("test", 80)):
        for i, level in enumerate(_levels(rng, n)):
            label = "bright" if level > 0.45 else "dark"
            (data / split / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo(rng, level)).save(data / split / label / f"{i}.jpg",
                                                    quality=92)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A scan with the model (its reference), and two windows of photos with the model's own
    predictions and its true accuracy on them."""
    base = tmp_path_factory.mktemp("replay")
    model = brightness_model(base / "model.onnx")
    (base / "spec.toml").write_text('resize = [8, 8]\nclasses = ["bright", "dark"]\n'
                                    'softmax = true\n')
    _lab(base / "data")
    result = CliRunner().invoke(app, [
        "scan", str(base / "data"), "--model", str(model), "--preprocess",
        str(base / "spec.toml"), "--out", str(base / "out"), "--cache", str(base / "cache"),
        "--workers", "1", "--fail-on", "never"])
    assert_cli_ok(result, 0)
    runner = ModelRunner(model, load_spec(SPEC))
    windows = {}
    for name, seed, dark in (("calm", 11, False), ("dark", 12, True)):
        shots = _shots(base / name, N_WINDOW, seed, dark)
        probs = runner.probabilities([np.asarray(Image.open(p).convert("RGB"))
                                      for p, _ in shots])
        truth = float(np.mean([CLASSES[k] == lab
                               for k, (_, lab) in zip(probs.argmax(1), shots, strict=True)]))
        windows[name] = {"shots": shots, "probs": probs, "truth": truth}
    return {"base": base, "model": model, "reference": base / "out" / "reference",
            "windows": windows}


def _send(url: str, ingest: str, spool: Path, window: dict[str, Any], at: datetime) -> None:
    """The window's photos through the real client (it measures each image itself)."""
    with Client(url, ingest, spool=spool, source="cam-1", model_version="v1",
                classes=CLASSES) as client:
        client.log_many([{"image": path, "probs": [float(v) for v in p],
                          "captured_at": at + timedelta(seconds=10 * i)}
                         for i, ((path, _), p) in enumerate(zip(window["shots"],
                                                                window["probs"],
                                                                strict=True))])
        client.flush(timeout=60)


def _windows(svc: Service, read: str) -> list[dict[str, Any]]:
    answer = httpx.get(svc.url + "/api/v1/windows", timeout=60,
                       headers={"Authorization": f"Bearer {read}"},
                       params={"start": CALM.isoformat(), "end": (DARK + HOUR).isoformat(),
                               "every": "1h"})
    assert answer.status_code == 200, answer.text
    return answer.json()["windows"]


def _until(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(1)


def _serve(tmp: Path, reference: Path, *args: str) -> tuple[Service, str, str]:
    db = f"sqlite:///{tmp / 'monitor.db'}"
    migrate(db)
    svc = Service(db, reference, tmp / "server.log", *args)
    return svc, token(db, "read"), token(db, "ingest")


def test_scan_with_a_model_records_what_the_replay_needs(scanned: dict[str, Any]) -> None:
    ref = load_reference(scanned["reference"])
    assert ref.model is not None
    assert ref.model["path"] == str(scanned["model"].resolve())
    assert ref.model["sha256"] == sha256_of(scanned["model"])
    assert load_spec(ref.model["preprocess"]) == load_spec(SPEC)
    assert ref.photos == str((scanned["base"] / "data").resolve())
    assert ref.cache == str((scanned["base"] / "cache").resolve())
    paths = ref.table("predictions")["path"]
    assert len(paths) == 80 and all((Path(ref.photos) / p).is_file() for p in paths)


@pytest.fixture(scope="module")
def served(scanned: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, Any]]:
    """The service on the scan's reference, with the calm and the darkened window sent and
    replayed (their windows as GET /windows answers once both carry the replay)."""
    tmp = tmp_path_factory.mktemp("served")
    svc, read, ingest = _serve(tmp, scanned["reference"])
    with svc:
        _send(svc.url, ingest, tmp / "spool", scanned["windows"]["calm"], CALM)
        _send(svc.url, ingest, tmp / "spool", scanned["windows"]["dark"], DARK)
        windows = _until(lambda: [w for w in _windows(svc, read)
                                  if w["estimate_method"] == "replay"][1:] and _windows(
                                      svc, read), 300)
        assert [w["estimate_method"] for w in windows] == ["replay"] * 2, (
            windows, svc.logs()[-3000:])
        yield {"svc": svc, "read": read,
               "windows": {name: next(w for w in windows
                                      if w["start"].startswith(at.strftime("%Y-%m-%dT%H")))
                           for name, at in (("calm", CALM), ("dark", DARK))}}


def test_the_service_replays_each_window_near_the_true_accuracy(
        scanned: dict[str, Any], served: dict[str, Any]) -> None:
    svc, read = served["svc"], served["read"]
    assert "capture replay: on" in svc.logs()
    truths = {name: scanned["windows"][name]["truth"] for name in ("calm", "dark")}
    assert truths["calm"] - truths["dark"] > 0.15, truths
    for name, truth in truths.items():
        w = served["windows"][name]
        assert w["n"] == N_WINDOW
        assert abs(w["estimated_accuracy"] - truth) <= 0.05, (name, w, truth)
        assert w["ci"][0] <= truth <= w["ci"][1], (name, w, truth)
        assert w["atc_estimate"] is not None and len(w["atc_ci"]) == 2
    dark = served["windows"]["dark"]
    # the model stays confident on the darker photos: ATC reads far too high
    assert (abs(dark["atc_estimate"] - truths["dark"])
            > abs(dark["estimated_accuracy"] - truths["dark"]))
    alerts = _until(lambda: [a for a in httpx.get(
        svc.url + "/api/v1/alerts", headers={"Authorization": f"Bearer {read}"},
        timeout=30).json()["alerts"] if a["rule"] == "MON002"], 60)
    assert alerts and alerts[0]["metrics"]["method"] == "replay", alerts
    assert "Traceback" not in svc.logs()


def test_each_window_is_replayed_once_per_record_count(served: dict[str, Any]) -> None:
    svc, read = served["svc"], served["read"]
    for _ in range(3):
        assert [w["estimate_method"] for w in _windows(svc, read)] == ["replay"] * 2
    time.sleep(1.5)  # three analysis intervals: nothing queued, nothing replayed again
    made = [line for line in svc.logs().splitlines() if "capture replay of the 1h window" in line]
    assert len(made) == 2, made


CHROMIUM = Path("/usr/bin/chromium")


def test_the_dashboard_draws_the_replay_as_the_estimate(served: dict[str, Any]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    svc, read = served["svc"], served["read"]
    span = f"?start={CALM.isoformat()}&end={(DARK + HOUR).isoformat()}".replace("+", "%2B")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            for lang, legend in (("en", "estimated (capture replay)"),
                                 ("ja", "推定精度（撮影条件の再現）")):
                page.goto(svc.url + f"/{span}&lang={lang}")
                if lang == "en":  # the tab keeps the token for the next page
                    page.fill("#token", read)
                    page.click("button[type=submit]")
                page.wait_for_selector("#accuracy svg polyline.series", timeout=60_000)
                text = page.inner_text("#accuracy .legend")
                assert legend in text and "ATC" in text, text
                assert page.locator("#accuracy svg polyline.series").count() == 2  # + ATC
                dashed = page.locator('#accuracy svg polyline[stroke-dasharray="4 3"]')
                assert dashed.count() == 1
        finally:
            browser.close()


def _older(scanned: dict[str, Any], folder: Path, **change: Any) -> Path:
    """A copy of the reference with manifest keys changed (None: removed)."""
    shutil.copytree(scanned["reference"], folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    for key, value in change.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def _atc_only(scanned: dict[str, Any], tmp_path: Path, reference: Path, reason: str,
              *args: str) -> None:
    svc, read, ingest = _serve(tmp_path, reference, *args)
    with svc:
        assert reason in svc.logs(), svc.logs()[-2000:]
        assert "capture replay: off" in svc.logs()
        _send(svc.url, ingest, tmp_path / "spool", scanned["windows"]["dark"], DARK)
        windows = _until(lambda: [w for w in _windows(svc, read)
                                  if w.get("estimate_method") is not None], 120)
        assert [w["estimate_method"] for w in windows] == ["atc"], windows
        assert windows[0]["estimated_accuracy"] == windows[0]["atc_estimate"]
        assert "Traceback" not in svc.logs()


def test_a_reference_without_a_model_keeps_atc(scanned: dict[str, Any], tmp_path: Path) -> None:
    ref = _older(scanned, tmp_path / "reference", model=None, photos=None, cache=None)
    assert load_reference(ref).model is None
    _atc_only(scanned, tmp_path, ref, "the reference names no model")


def test_a_changed_model_keeps_atc_and_says_so(scanned: dict[str, Any], tmp_path: Path) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(scanned["model"].read_bytes() + b"\0")
    model = json.loads((scanned["reference"] / MANIFEST).read_text())["model"]
    ref = _older(scanned, tmp_path / "reference", model={**model, "path": str(other)})
    _atc_only(scanned, tmp_path, ref, "is not the model the reference was made with")


def test_a_missing_model_keeps_atc_unless_told_where_it_went(
        scanned: dict[str, Any], tmp_path: Path) -> None:
    model = json.loads((scanned["reference"] / MANIFEST).read_text())["model"]
    gone = tmp_path / "moved" / "model.onnx"
    ref = _older(scanned, tmp_path / "reference", model={**model, "path": str(gone)})
    _atc_only(scanned, tmp_path, ref, f"the model {gone} is not there")
    result = CliRunner().invoke(app, ["monitor", "serve", "--reference", str(ref), "--replay",
                                      "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert_cli_ok(result, 2, "pass --model where it is now")
    gone.parent.mkdir()
    shutil.copy(scanned["model"], gone.parent / "elsewhere.onnx")
    svc, _, _ = _serve(tmp_path / "moved", ref, "--model", str(gone.parent / "elsewhere.onnx"))
    with svc:
        assert "capture replay: on" in svc.logs()


def test_photos_gone_after_start_fall_back_to_atc(scanned: dict[str, Any], tmp_path: Path) -> None:
    """The replay is on at start, then its photos vanish before the first window: the analysis
    thread cannot build the reference's context, says why once, and every window keeps ATC."""
    photos = tmp_path / "photos"
    shutil.copytree(scanned["base"] / "data", photos)
    svc, read, ingest = _serve(tmp_path, scanned["reference"], "--photos", str(photos))
    with svc:
        assert "capture replay: on" in svc.logs()
        shutil.rmtree(photos)
        _send(svc.url, ingest, tmp_path / "spool", scanned["windows"]["dark"], DARK)
        said = _until(lambda: "capture replay: off from now" in svc.logs(), 120)
        assert said, svc.logs()[-2000:]
        assert "reference photos under" in svc.logs() and "can be read" in svc.logs()
        windows = [w for w in _windows(svc, read) if w.get("estimate_method")]
        assert [w["estimate_method"] for w in windows] == ["atc"], windows
        assert "Traceback" not in svc.logs()


def test_replay_setup_checks_the_photos_and_takes_overrides(scanned: dict[str, Any],
                                                            tmp_path: Path) -> None:
    from pitfalls.monitor.replay import ReplayError, replay_setup

    moved = _older(scanned, tmp_path / "reference", photos=str(tmp_path / "nowhere"))
    ref = load_reference(moved)
    setup, line = replay_setup(ref)
    assert setup is None and f"photos are not under {tmp_path / 'nowhere'}" in line
    assert "pass --photos" in line and line.startswith("capture replay: off")
    with pytest.raises(ReplayError, match="pass --photos"):
        replay_setup(ref, wanted=True)
    setup, line = replay_setup(ref, photos=scanned["base"] / "data", min_n=80)
    assert setup is not None and setup.photos == str((scanned["base"] / "data").resolve())
    assert "capture replay: on" in line and "windows of 80 or more records" in line
    assert setup.sha256 == sha256_of(scanned["model"])
    setup, line = replay_setup(load_reference(scanned["reference"]), wanted=False)
    assert setup is None and "--no-replay" in line


def test_a_window_whose_replay_fails_carries_atc_and_the_log_says_why(
        scanned: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The model file is damaged after the service checked it: the window's replay fails with
    the model's own error, which the log names, and the window is judged on ATC."""
    import pandas as pd

    from pitfalls.monitor.analysis import ALL, Key
    from pitfalls.monitor.analysis.records import flatten
    from pitfalls.monitor.analysis.reference import from_folder
    from pitfalls.monitor.device_features import image_features
    from pitfalls.monitor.records import make_record
    from pitfalls.monitor.replay import ReplayBook, WindowReplay, replay_setup

    model = tmp_path / "model.onnx"
    shutil.copy(scanned["model"], model)
    ref = load_reference(scanned["reference"])
    setup, _ = replay_setup(ref, model=model)
    assert setup is not None
    analysis_ref = from_folder(ref)
    book = ReplayBook(WindowReplay(setup, ref), analysis_ref, min_n=50)
    dark = scanned["windows"]["dark"]
    records = [make_record(id=str(i), pred=CLASSES[int(p.argmax())], source="cam-1",
                           model_version="v1", captured_at=DARK,
                           probs=dict(zip(CLASSES, map(float, p), strict=True)),
                           features=image_features(path.read_bytes(), path.name)[0])
               for i, ((path, _), p) in enumerate(zip(dark["shots"], dark["probs"],
                                                      strict=True))]
    table = flatten(pd.DataFrame(records), analysis_ref.classes, analysis_ref.blur_median)
    key = Key("1h", pd.Timestamp(DARK), ALL)
    model.write_bytes(b"not a model any more")
    counts = table["source"].value_counts()
    with caplog.at_level("WARNING", logger="pitfalls.monitor"):
        est = book.bound(key, table, counts)(table)
    assert est.method == "atc" and est.value is not None
    failed = [r.getMessage() for r in caplog.records if "capture replay of the" in r.getMessage()]
    assert len(failed) == 1 and "failed" in failed[0] and "ONNX" in failed[0], failed
    caplog.clear()
    assert book.bound(key, table, counts)(table).method == "atc"  # the same count: not again
    assert not caplog.records
    assert book.overlay([({"n": len(table)}, key)]) == []  # known to have failed: not queued
    assert book.estimate(key, 49, table.iloc[:49]) is None  # under min_n: never replayed
