"""Predicted field accuracy with a real ONNX model: within 5 points of the true accuracy on
labelled field photos of other scenes, taken by a camera whose tone curve is written independently
of the capture model (tests/field_shifts.py); FIELD001-003 and the field section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from field_shifts import Shift, tone_curve
from onnx import TensorProto, helper
from PIL import Image

import pitfalls
from pitfalls.evaluation.model import ModelRunner, load_spec

SPEC = {"resize": [8, 8], "classes": ["bright", "dark"], "softmax": True}


def brightness_model(path: Path) -> Path:
    """Logits (m - 0.45) * 20 and its negative, m the mean input value: bright vs dark."""
    w = np.zeros((192, 2), np.float32)
    w[:, 0], w[:, 1] = 20 / 192, -20 / 192
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"], axis=1),
         helper.make_node("MatMul", ["f", "w"], ["z"]),
         helper.make_node("Add", ["z", "b"], ["y"])],
        "bright", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor("w", TensorProto.FLOAT, [192, 2], w.ravel().tolist()),
         helper.make_tensor("b", TensorProto.FLOAT, [2], [-9.0, 9.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def photo(rng: np.random.Generator, level: float, side: int = 48) -> np.ndarray:
    y, x = np.mgrid[0:side, 0:side] / side
    img = (level + 0.15 * (x - 0.5) + 0.1 * np.sin(9 * y))[..., None] * np.array([1.0, 0.95, 0.9])
    img = img * 255 + rng.normal(0, 2.5, (side, side, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def same_camera(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rgb


def make_data(tmp: Path, shift: Shift) -> tuple[Path, Path, list[tuple[np.ndarray, str]]]:
    """Lab photos (train and test) and field photos of OTHER scenes taken through `shift`, with
    the field's true labels. The field's scenes are new photos (their own grain) at the test
    split's brightness levels in another order: with 80 photos a side, independent levels alone
    would move the two accuracies about 7 points apart by chance, and the tests measure the
    estimate, not that luck."""
    rng = np.random.default_rng(3)
    data, field = tmp / "data", tmp / "field"
    truth = []
    field.mkdir()
    test_levels: list[float] = []
    for split, n in (("train", 40), ("test", 80), ("field", 80)):
        for i in range(n):
            level = (test_levels[(i * 37) % len(test_levels)] if split == "field"
                     else rng.uniform(0.25, 0.7))
            if split == "test":
                test_levels.append(level)
            label = "bright" if level > 0.45 else "dark"
            shot = photo(rng, level)
            if split == "field":
                out = field / f"f{i}.jpg"
                Image.fromarray(shift(shot, rng)).save(out, quality=92)
                truth.append((np.asarray(Image.open(out).convert("RGB")), label))
                continue
            (data / split / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(shot).save(data / split / label / f"{i}.jpg", quality=92)
    return data, field, truth


def test_predicted_field_accuracy_close_to_truth(tmp_path: Path) -> None:
    model = brightness_model(tmp_path / "m.onnx")
    data, field, truth = make_data(tmp_path, lambda rgb, rng: tone_curve(rgb, rng, gamma=1.35))
    runner = ModelRunner(model, load_spec(SPEC))
    probs = runner.probabilities([im for im, _ in truth])
    true_acc = float(np.mean([SPEC["classes"][k] == lab
                              for k, (_, lab) in zip(probs.argmax(1), truth, strict=True)]))
    report = pitfalls.scan(data, model=model, preprocess=SPEC, field=field,
                           cache=tmp_path / "cache", workers=1)
    f2 = report.by_rule("FIELD002")
    assert f2, [f.rule for f in report.findings]
    m = f2[0].metrics
    assert {"lab_accuracy", "predicted_field_accuracy", "ci", "atc_estimate"} <= set(m)
    assert abs(m["predicted_field_accuracy"] - true_acc) <= 0.05, (m, true_acc)
    assert m["ci"][0] <= m["predicted_field_accuracy"] <= m["ci"][1]
    assert m["ci"][0] <= true_acc <= m["ci"][1], (m, true_acc)
    assert m["lab_accuracy"] - true_acc > 0.1
    f1 = report.by_rule("FIELD001")
    # a tone curve darkens the mid-tones: the curve alone costs what the darkening does
    assert f1 and f1[0].metrics["top"] in {"exposure", "tone"}
    assert all(len(it["paths"]) == 6 for it in f1[0].items)
    section = report.sections["field"]
    assert section["prediction"]["costs"][0]["conditions"] in (["exposure"], ["tone"])
    assert "<svg" in section["sweep_svg"]["ja"]
    html = report.to_html("ja")
    assert "ラボと現場" in html and "ラボと現場" in html
    assert '"predicted_field_accuracy"' in report.to_json()


def test_same_conditions_do_not_fire(tmp_path: Path) -> None:
    model = brightness_model(tmp_path / "m.onnx")
    data, field, _ = make_data(tmp_path, same_camera)
    report = pitfalls.scan(data, model=model, preprocess=SPEC, field=field,
                           cache=tmp_path / "cache", workers=1)
    assert not report.by_rule("FIELD001")
    assert not report.by_rule("FIELD002")
    assert not report.by_rule("FIELD003")


def test_empty_field_folder_is_an_input_error(tmp_path: Path) -> None:
    import pytest

    from pitfalls.errors import PitfallsError

    data, _, _ = make_data(tmp_path, same_camera)
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(PitfallsError):
        pitfalls.scan(data, field=empty, cache=tmp_path / "cache", workers=1)


def test_a_difference_that_costs_nothing_is_information(tmp_path: Path) -> None:
    """Strong JPEG compression (blockier, blurrier, colour noise) does not move a brightness
    model: FIELD001 still names the changed conditions, graded by their replayed cost as
    information, not a warning."""
    model = brightness_model(tmp_path / "m.onnx")

    def compressed(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import io

        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=30, subsampling="4:2:0")
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))

    data, field, _ = make_data(tmp_path, compressed)
    report = pitfalls.scan(data, model=model, preprocess=SPEC, field=field,
                           cache=tmp_path / "cache", workers=1)
    f1 = report.by_rule("FIELD001")
    assert f1 and f1[0].metrics["changed"], [f.rule for f in report.findings]
    assert f1[0].severity == "info", f1[0].metrics
    costs = {c["condition"]: c["cost"] for c in f1[0].metrics["conditions"]
             if c["cost"] is not None}
    assert all(costs[c] < 0.02 for c in f1[0].metrics["changed"]), costs
    assert not report.by_rule("FIELD002")


def test_interval_spans_the_field_photos_own_confidence() -> None:
    """Where the field photos are less confident than the replay, ATC calibrated on the replay
    reads a lower accuracy, and the interval reaches it; where they match, it stays tight."""
    from pitfalls.field.estimate import field_estimate

    rng = np.random.default_rng(0)
    n = 300
    ok = rng.random(n) < 0.8
    top = np.where(ok, rng.uniform(0.7, 0.99, n), rng.uniform(0.4, 0.75, n))
    replay = np.stack([top, 1 - top], axis=1)
    same = field_estimate(replay, ok, replay[rng.permutation(n)], seed=1)
    assert abs(same["estimate"] - ok.mean()) < 1e-9
    assert same["mismatch"] < 0.05
    assert same["ci"][1] - same["ci"][0] < 0.15
    unsure_top = np.clip(top - 0.2, 0.5, 1.0)
    unsure = field_estimate(replay, ok, np.stack([unsure_top, 1 - unsure_top], axis=1), seed=1)
    assert unsure["atc_replay"] < unsure["estimate"] - 0.2
    assert unsure["ci"][0] <= unsure["atc_replay"]
