"""Field photos end to end: FIELD003 on photos unlike any training photo, `scan --field --sheet`,
`pitfalls sheet`, broken and empty field folders. Fruit scenes are drawn by the demo's generator
and classified by the demo's real ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_cli_ok
from flagged import flagged_paths
from typer.testing import CliRunner

import pitfalls
from pitfalls.cli import app
from pitfalls.demo import CLASSES, DEMO_MODEL, ODD_FRAMES, draw_scene, field_camera, jpeg
from pitfalls.sheet import chromium

SIZE = (200, 150)
ODD = ("gloved hand", "crate")


def _write(folder: Path, name: str, payload: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(payload)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/{train,test}/<class>/ lab photos; field/ (factory camera, with odd frames),
    field_ood/ (lab-like photos plus odd frames), field_same/ (lab-like photos only)."""
    root = tmp_path_factory.mktemp("fieldcli")
    rng = np.random.default_rng(7)
    for split, n in (("train", 10), ("test", 8)):
        for label in CLASSES:
            for i in range(n):
                _write(root / "data" / split / label, f"{i}.jpg",
                       jpeg(draw_scene(rng, label, SIZE), 90))
    for i in range(24):
        label = CLASSES[i % len(CLASSES)]
        _write(root / "field", f"f{i:02d}.jpg", field_camera(draw_scene(rng, label, SIZE), rng))
        lab_like = jpeg(draw_scene(rng, label, SIZE), 90)
        _write(root / "field_ood", f"n{i:02d}.jpg", lab_like)
        _write(root / "field_same", f"n{i:02d}.jpg", lab_like)
    for i in range(8):
        what = ODD[i % len(ODD)]
        odd = ODD_FRAMES[what](rng, *SIZE)
        _write(root / "field", f"odd{i}.jpg", field_camera(odd, rng))
        _write(root / "field_ood", f"odd{i}.jpg", jpeg(odd, 90))
    return root


def test_field003_names_photos_unlike_any_training_photo(project: Path, tmp_path: Path) -> None:
    report = pitfalls.scan(project / "data", field=project / "field_ood", select="FIELD003",
                           cache=tmp_path / "cache", workers=1)
    found = report.by_rule("FIELD003")
    assert found, "odd frames not reported"
    named = {Path(p).name for p in flagged_paths(report, "FIELD003")}
    odd = {f"odd{i}.jpg" for i in range(8)}
    assert len(named & odd) >= 6, named
    assert found[0].metrics["n_outside"] >= 6
    # the same lab-like photos without the odd frames: nothing outside
    same = pitfalls.scan(project / "data", field=project / "field_same", select="FIELD003",
                         cache=tmp_path / "cache", workers=1)
    assert not same.by_rule("FIELD003")


@pytest.fixture(scope="module")
def scanned(project: Path) -> tuple[Path, str, int]:
    """`pitfalls scan data --model M --field field --sheet --lang ja` once: (out, output, code)."""
    out = project / "out"
    result = CliRunner().invoke(app, [
        "scan", str(project / "data"), "--out", str(out), "--model", str(DEMO_MODEL),
        "--preprocess", str(DEMO_MODEL.with_suffix(".toml")), "--field", str(project / "field"),
        "--sheet", "--lang", "ja", "--cache", str(project / "cache"), "--workers", "1"])
    assert_cli_ok(result, (0, 1))
    return out, result.output, result.exit_code


def test_scan_with_field_and_sheet(scanned: tuple[Path, str, int]) -> None:
    out, output, code = scanned
    assert code in (0, 1), output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    raised = {f["rule"] for f in report["findings"]}
    assert {"FIELD001", "FIELD003"} <= raised, raised
    assert report["sections"]["field"]["prediction"]["lab_accuracy"] > 0.5
    html = (out / "sheet.html").read_text(encoding="utf-8")
    assert 'lang="ja"' in html and "10 回に約" in html and "現場（予測）" in html
    assert "sheet.html" in output.replace("\n", "")
    assert (out / "sheet.pdf").is_file() == (chromium() is not None)


def test_sheet_command_from_a_report(scanned: tuple[Path, str, int], tmp_path: Path) -> None:
    out, _, _ = scanned
    runner = CliRunner()
    en = runner.invoke(app, ["sheet", str(out / "report.json"), "--lang", "en", "--no-pdf",
                             "--out", str(tmp_path / "en")])
    assert_cli_ok(en, 0)
    html = (tmp_path / "en" / "sheet.html").read_text(encoding="utf-8")
    assert "in 10 correct" in html and "In the field (predicted)" in html
    assert not (tmp_path / "en" / "sheet.pdf").exists()
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"machine": {"cpu": "Line PC"}, "rows": [
        {"model": "m", "latency_ms": {"p95": 7.3}, "throughput_ips": 140.0}]}), encoding="utf-8")
    ja = runner.invoke(app, ["sheet", str(out), "--lang", "ja", "--bench", str(bench),
                             "--no-pdf", "--out", str(tmp_path / "ja")])
    assert_cli_ok(ja, 0)
    html = (tmp_path / "ja" / "sheet.html").read_text(encoding="utf-8")
    assert "10 回に約" in html and "7.3 ミリ秒以内で答え" in html and "Line PC" in html
    assert "ツールでは答えられない質問" in html


def test_sheet_command_prints_a_pdf_when_chromium_is_installed(
        scanned: tuple[Path, str, int], tmp_path: Path) -> None:
    out, _, _ = scanned
    result = CliRunner().invoke(app, ["sheet", str(out), "--out", str(tmp_path)])
    assert_cli_ok(result, 0)
    if chromium() is None:
        assert "no PDF" in result.output and not (tmp_path / "sheet.pdf").exists()
    else:
        assert (tmp_path / "sheet.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("content, args, message", [
    (None, [], "no report"),
    ("{not json", [], "not a readable report"),
    ('{"findings": 3}', [], "not a pitfalls report"),
    ('{"dataset": {}, "findings": []}', ["--lang", "fr"], "--lang"),
    ('{"dataset": {}, "findings": []}', ["--bench", "missing.json"], "bench"),
])
def test_sheet_command_bad_input_exits_2(tmp_path: Path, content: str | None, args: list[str],
                                         message: str) -> None:
    report = tmp_path / "report.json"
    if content is not None:
        report.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["sheet", str(report), "--no-pdf", *args])
    assert_cli_ok(result, 2, message)
    assert not (tmp_path / "sheet.html").exists()


def test_broken_field_files_are_reported(project: Path, tmp_path: Path) -> None:
    field = tmp_path / "field"
    field.mkdir()
    for p in sorted((project / "field").glob("f*.jpg"))[:12]:
        (field / p.name).write_bytes(p.read_bytes())
    good = (field / "f00.jpg").read_bytes()
    (field / "cut.jpg").write_bytes(good[: len(good) // 3])
    (field / "zero.jpg").write_bytes(b"")
    (field / "error.jpg").write_text("upload failed: 504\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["scan", str(project / "data"), "--field", str(field),
                                      "--select", "FIELD", "--out", str(out),
                                      "--cache", str(tmp_path / "cache"), "--workers", "1"])
    assert_cli_ok(result, (0, 1))
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    section = report["sections"]["field"]
    bad = {Path(b["path"]).name: b["error_kind"] for b in section["unreadable"]}
    assert bad == {"cut.jpg": "truncated", "zero.jpg": "empty", "error.jpg": "not_an_image"}
    assert section["n_field"] == 12 and section["n_field_files"] == 15
    assert any("field photo(s) could not be read" in n for n in report["dataset"]["notes"])
    assert "cut.jpg" in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("make, message", [
    (lambda d: d.mkdir(), "no files found"),
    (lambda d: None, "not found"),
    (lambda d: (d.mkdir(), (d / "a.jpg").write_bytes(b""), (d / "b.jpg").write_text("x")),
     "none of the 2 file(s)"),
])
def test_empty_or_missing_field_folder_exits_2(project: Path, tmp_path: Path, make,
                                               message: str) -> None:
    field = tmp_path / "field"
    make(field)
    result = CliRunner().invoke(app, ["scan", str(project / "data"), "--field", str(field),
                                      "--out", str(tmp_path / "out"),
                                      "--cache", str(tmp_path / "cache"), "--workers", "1"])
    assert_cli_ok(result, 2)
    text = result.output.replace("\n", " ")
    assert "field photos (--field)" in text and message in text
    assert not (tmp_path / "out" / "report.json").exists()
