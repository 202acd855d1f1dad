"""`pitfalls demo`: the dataset is deterministic, fast to build, and every planted pitfall is
found."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_cli_ok
from flagged import flagged_paths
from PIL import Image
from typer.testing import CliRunner

from pitfalls.cli import app
from pitfalls.demo import build_demo, tree_digest
from pitfalls.errors import InputError

PLANTED_RULES = ("IMB001", "IMB002", "DUP001", "DUP002", "LEAK001", "LEAK002", "LEAK003",
                 "LEAK004", "SHORT001", "SHORT002", "SHORT003", "QUAL001", "FIELD001", "FIELD002",
                 "FIELD003")


def _paths_in(report: dict, prefix: str) -> set[str]:
    return {p for f in report["findings"] if f["rule"].startswith(prefix)
            for item in f["items"] for p in item.get("paths", [])}


def test_build_is_deterministic(demo_run, tmp_path: Path) -> None:
    first, _, _ = demo_run
    build_demo(tmp_path / "again")
    for folder in ("data", "field"):
        assert tree_digest(tmp_path / "again" / folder) == tree_digest(first / folder)


def test_dataset_is_realistic(demo_run) -> None:
    where, _, _ = demo_run
    data = where / "data"
    with (data / "manifest.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert 300 <= len(rows) <= 600
    assert {"path", "label", "split", "group", "site", "camera"} <= set(rows[0])
    assert {r["split"] for r in rows} == {"train", "test"}
    sizes = set()
    for r in rows[:40]:
        with Image.open(data / r["path"]) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            sizes.add(im.size)
    assert all(256 <= max(s) <= 512 for s in sizes)
    with Image.open(data / "test" / "lime" / "IMG_1046.jpg") as im:
        assert im.getexif().get_ifd(0x8769)[0x9003] == "2023:06:14 10:21:13"


def test_predictions_cover_the_test_split(demo_run) -> None:
    where, _, _ = demo_run
    data = where / "data"
    with (data / "manifest.csv").open(encoding="utf-8") as fh:
        truth = {r["path"]: r["label"] for r in csv.DictReader(fh) if r["split"] == "test"}
    with (data / "predictions.csv").open(encoding="utf-8") as fh:
        preds = list(csv.DictReader(fh))
    assert {p["path"] for p in preds} == set(truth)
    classes = ("apple", "lemon", "lime", "plum")
    for p in preds:
        probs = [float(p[f"prob_{c}"]) for c in classes]
        assert abs(sum(probs) - 1) < 1e-3
        assert p["pred"] == classes[probs.index(max(probs))]
    planted = json.loads((data / "planted.json").read_text(encoding="utf-8"))
    leaked = [p for p in planted["LEAK001"] if p.startswith("test/")]
    pred = {p["path"]: p["pred"] for p in preds}
    assert all(pred[p] == truth[p] for p in leaked)  # the model saw these in training
    accuracy = sum(pred[p] == truth[p] for p in truth) / len(truth)
    assert 0.5 < accuracy < 1.0


def test_demo_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "thesis.txt").write_text("mine")
    with pytest.raises(InputError):
        build_demo(tmp_path)
    result = CliRunner().invoke(app, ["demo", str(tmp_path)])
    assert_cli_ok(result, 2, "error")
    assert (tmp_path / "data" / "thesis.txt").read_text() == "mine"


def test_cli_prints_where_the_report_is(demo_run) -> None:
    where, _, output = demo_run
    assert (where / "report" / "report.html").is_file()
    assert "report.html" in output.replace("\n", "")


def test_scan_raises_every_planted_rule(demo_run) -> None:
    where, report, _ = demo_run
    planted = json.loads((where / "data" / "planted.json").read_text(encoding="utf-8"))
    assert set(PLANTED_RULES) <= set(planted)  # the answer key lists every planted rule
    raised = {f["rule"] for f in report["findings"]}
    missing = [code for code in planted if code != "QUAL" and code not in raised]
    assert not missing, f"planted but not raised: {missing}; raised: {sorted(raised)}"
    assert any(c.startswith("QUAL") and c != "QUAL001" for c in raised)


@pytest.mark.parametrize("code", ["DUP002", "LEAK001", "LEAK002", "LEAK004", "QUAL001",
                                  "FIELD003"])
def test_findings_name_the_planted_files(demo_run, code: str) -> None:
    where, report, _ = demo_run
    planted = json.loads((where / "data" / "planted.json").read_text(encoding="utf-8"))
    wanted = {p for p in planted[code] if p.startswith("test/")} or set(planted[code])
    found = flagged_paths(report, code)
    assert wanted <= found, f"{code} misses {sorted(wanted - found)}"


def test_quality_findings_name_the_degraded_images(demo_run) -> None:
    where, report, _ = demo_run
    planted = json.loads((where / "data" / "planted.json").read_text(encoding="utf-8"))
    found = flagged_paths(report, "QUAL")
    missing = sorted(set(planted["QUAL"]) - found)
    assert not missing, f"quality cases not reported: {missing}"


def test_field_photos_come_from_one_shifted_camera(demo_run) -> None:
    where, report, _ = demo_run
    photos = sorted((where / "field").iterdir())
    assert 40 <= len(photos) <= 80
    lab_brightness, field_brightness = [], []
    for p in photos:
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.size == (320, 240)
            assert im.getexif()[0x0110] == "acA1300-30uc"
            field_brightness.append(float(np.asarray(im.convert("L")).mean()))
    for p in sorted((where / "data" / "test").rglob("*.jpg"))[:40]:
        with Image.open(p) as im:
            lab_brightness.append(float(np.asarray(im.convert("L")).mean()))
    assert np.median(field_brightness) < 0.75 * np.median(lab_brightness)  # darker
    f1 = next(f for f in report["findings"] if f["rule"] == "FIELD001")
    assert {"exposure", "jpeg_quality", "noise", "blur"} <= set(f1["metrics"]["changed"])
    section = report["sections"]["field"]
    assert section["n_field"] == len(photos) and section["prediction"] is not None


def test_predicted_field_accuracy_matches_the_field_truth(demo_run) -> None:
    """The demo keeps the field photos' true labels: FIELD002's prediction is within 5 points."""
    from pitfalls.demo import DEMO_MODEL
    from pitfalls.evaluation.model import ModelRunner, load_spec

    where, report, _ = demo_run
    with (where / "data" / "field_truth.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"]]
    spec = load_spec(DEMO_MODEL.with_suffix(".toml"))
    images = []
    for r in rows:
        with Image.open(where / "data" / r["path"]) as im:
            images.append(np.asarray(im.convert("RGB")))
    pred = ModelRunner(DEMO_MODEL, spec).probabilities(images).argmax(axis=1)
    truth = float(np.mean([spec.classes[k] == r["label"] for k, r in zip(pred, rows, strict=True)]))
    m = next(f for f in report["findings"] if f["rule"] == "FIELD002")["metrics"]
    assert m["lab_accuracy"] - truth > 0.1  # the field really is worse than the lab
    assert abs(m["predicted_field_accuracy"] - truth) <= 0.05, (m, truth)


def test_demo_writes_the_expectation_sheet(demo_run) -> None:
    where, _, output = demo_run
    sheet = where / "report" / "sheet.html"
    assert sheet.is_file()
    html = sheet.read_text(encoding="utf-8")
    assert "in 10 correct" in html
    assert "sheet.html" in output.replace("\n", "")
