"""The reference profile a scan with predictions writes beside its report, as the service reads
it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_evaluation_rules import build, planted
from typer.testing import CliRunner

from pitfalls.cli import app
from pitfalls.monitor.records import make_record, validate_record
from pitfalls.monitor.reference import ReferenceError, load_reference


def test_scan_with_predictions_writes_a_reference_the_service_reads(tmp_path: Path) -> None:
    table = build(tmp_path, n_train=40, n_test=40)
    right = np.random.default_rng(1).random(40) < 0.8
    preds = planted(table, right)
    preds.to_csv(tmp_path / "preds.csv", index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["scan", str(tmp_path / "manifest.csv"), "--predictions",
                                      str(tmp_path / "preds.csv"), "--out", str(out),
                                      "--no-cache", "--fail-on", "never"])
    assert result.exception is None, result.exception
    assert result.exit_code == 0, result.output
    ref = load_reference(out / "reference")
    assert ref.classes == ["a", "b"] and ref.split == "test" and ref.n_eval == 40
    report = json.loads((out / "report.json").read_text())
    accuracy = report["sections"]["evaluation"]["metrics"]["accuracy"]
    assert accuracy["value"] == pytest.approx(right.mean())
    assert ref.expected_accuracy["range"] == pytest.approx(accuracy["ci"])
    assert ref.expected_accuracy["basis"] == "lab"
    written = ref.table("predictions").set_index("path")
    expected = preds.set_index("path")
    assert written.loc[expected.index, "prob_a"].to_numpy() == pytest.approx(expected["prob_a"])
    assert (written["pred"] == np.where(written["prob_a"] > 0.5, "a", "b")).all()
    features = ref.table("features")
    assert len(features) == 40 and set(features["path"]) == set(expected.index)
    numeric = features.drop(columns=["path", "embedding"], errors="ignore")
    assert len(numeric.columns) >= 5
    assert all(pd.api.types.is_numeric_dtype(numeric[c]) or pd.api.types.is_bool_dtype(
        numeric[c]) for c in numeric.columns)
    assert ref.model is None  # predictions, no model: nothing to replay
    assert ref.photos == str(tmp_path.resolve()) and ref.cache is None
    good = make_record(pred="a", features={}, source="s", model_version="1")
    assert validate_record(good, ref.classes)[0] is not None
    bad = dict(good, pred="c")
    assert validate_record(bad, ref.classes)[1][0].code == "unknown_class"


def test_scan_without_predictions_writes_no_reference(tmp_path: Path) -> None:
    build(tmp_path, n_train=10, n_test=10)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["scan", str(tmp_path / "manifest.csv"), "--out", str(out),
                                      "--no-cache", "--fail-on", "never"])
    assert result.exception is None and result.exit_code == 0, result.output
    assert (out / "report.json").exists() and not (out / "reference").exists()


@pytest.mark.parametrize("manifest", [None, "{", "[]", '{"version": 1}',
                                      '{"version": 1, "classes": ["a", 2]}',
                                      '{"version": 1, "classes": ["a"]}'])
def test_unusable_reference_folders_say_why(tmp_path: Path, manifest: str | None) -> None:
    if manifest is not None:
        (tmp_path / "reference.json").write_text(manifest)
    with pytest.raises(ReferenceError) as caught:
        load_reference(tmp_path)
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize("extra", [{}, {"model": "m.onnx", "photos": 3, "cache": ""},
                                   {"model": {"path": "m.onnx", "sha256": "x"}}])
def test_a_reference_without_a_usable_model_entry_still_loads(tmp_path: Path,
                                                              extra: dict) -> None:
    """References written before the model and photos were recorded (or with a damaged
    entry) load; the service then runs without the replay."""
    pd.DataFrame({"path": ["a.png"], "brightness": [0.5]}).to_parquet(
        tmp_path / "features.parquet")
    pd.DataFrame({"path": ["a.png"], "label": ["a"], "pred": ["a"]}).to_parquet(
        tmp_path / "predictions.parquet")
    (tmp_path / "reference.json").write_text(json.dumps({"version": 1, "classes": ["a"],
                                                          **extra}))
    ref = load_reference(tmp_path)
    assert ref.classes == ["a"] and ref.model is None and ref.photos is None
    assert ref.cache is None
