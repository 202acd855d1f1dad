"""The capture-replay estimate per window, with a real ONNX model and real photos: the window's
conditions (features only, as a device sends them) replayed on the reference photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from field_shifts import tone_curve
from test_field_predict import SPEC, brightness_model, make_data

from pitfalls.api import build_context
from pitfalls.config import Config
from pitfalls.evaluation.model import ModelRunner, load_spec
from pitfalls.features.compute import compute_file_features
from pitfalls.monitor.analysis.estimate import replay_estimate


def DARKER(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # noqa: N802
    """A darker field camera, by a tone curve written apart from the capture model."""
    return tone_curve(rgb, rng, gamma=1.35)


def _records(field: Path) -> pd.DataFrame:
    rows = []
    for i, path in enumerate(sorted(field.glob("*.jpg"))):
        feats = {k: v for k, v in compute_file_features(path).items()
                 if isinstance(v, bool | int | float | str) or v is None}
        rows.append({"id": str(i), "captured_at": "2026-03-02T10:00:00Z", "source": "cam-1",
                     "pred": "bright", "features": feats})
    return pd.DataFrame(rows)


def test_replay_estimate_close_to_the_true_accuracy_of_a_darker_window(tmp_path: Path) -> None:
    model = brightness_model(tmp_path / "m.onnx")
    data, field, truth = make_data(tmp_path, DARKER)
    probs = ModelRunner(model, load_spec(SPEC)).probabilities([im for im, _ in truth])
    true_acc = float(np.mean([SPEC["classes"][k] == lab
                              for k, (_, lab) in zip(probs.argmax(1), truth, strict=True)]))
    ctx = build_context(data, Config(workers=1), cache=tmp_path / "cache")
    est = replay_estimate(ctx, _records(field), model, load_spec(SPEC))
    assert est.method == "replay" and est.n == len(truth)
    assert abs(est.value - true_acc) <= 0.05, (est, true_acc)
    assert est.ci[0] <= est.value <= est.ci[1]
    unreadable = pd.DataFrame([{"id": "x", "features": None}])
    assert replay_estimate(ctx, unreadable, model, load_spec(SPEC)).method == "none"


def test_windows_and_mon002_use_the_replay_when_given(tmp_path: Path) -> None:
    from pitfalls.monitor.analysis import ALL, Key, Reference, WindowStore, batch_for, check_batch

    model = brightness_model(tmp_path / "m.onnx")
    data, field, _ = make_data(tmp_path, DARKER)
    ctx = build_context(data, Config(workers=1), cache=tmp_path / "cache")
    spec = load_spec(SPEC)
    test = ctx.table[ctx.table["split"] == "test"]
    ref = Reference(features=test, classes=list(SPEC["classes"]), expected_range=(0.95, 1.0))

    def replay(rows: pd.DataFrame):
        return replay_estimate(ctx, rows, model, spec)

    store = WindowStore(ref, every=("1h",), replay=replay)
    store.add(_records(field))
    key = Key("1h", pd.Timestamp("2026-03-02T10:00:00Z"), ALL)
    w = store.windows[key]
    assert w["estimate_method"] == "replay" and w["atc_estimate"] is None  # no probs: no ATC
    assert w["estimated_accuracy"] < 0.95
    findings, _, _, _ = check_batch(batch_for(ref, store.table, key, replay=replay))
    (f,) = [f for f in findings if f.rule == "MON002"]
    assert f.metrics["method"] == "replay" and f.metrics["estimated_accuracy"] < 0.95
