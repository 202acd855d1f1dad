"""Running a real ONNX classifier (built with onnx.helper) with a TOML preprocessing spec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper
from PIL import Image

import pitfalls
from pitfalls.errors import InputError
from pitfalls.evaluation.model import ModelRunner, load_spec, run_model

SPEC = """
[preprocess]
resize = 16
interpolation = "bilinear"
crop = 12
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.25, 0.25]
channels = "RGB"
layout = "NCHW"
scale = "0-1"
classes = ["blue", "red"]
batch_size = 4
"""


def mean_colour_classifier(path: Path, n_out: int = 2) -> Path:
    """Logits = W · mean colour (NCHW input): red − blue decides between 'blue' and 'red'."""
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_out])
    w = np.zeros((3, n_out), dtype=np.float32)
    w[0, -1], w[2, 0] = 4.0, 4.0  # red channel → last class, blue channel → first
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["pooled", "W"], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "mean_colour", [x], [y],
                              [helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def make_data(root: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for split, n in (("train", 12), ("test", 16)):
        for i in range(n):
            label = ("red", "blue")[i % 2]
            img = rng.integers(0, 120, (20, 24, 3), dtype=np.uint8)
            img[..., 0 if label == "red" else 2] += 120
            path = f"{split}/{label}/{i}.png"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / path)
            rows.append((path, label, split))
    table = pd.DataFrame(rows, columns=["path", "label", "split"])
    table.to_csv(root / "manifest.csv", index=False)
    return table


def test_model_predictions_match_the_colour_and_are_cached(tmp_path: Path) -> None:
    table = make_data(tmp_path / "data")
    model = mean_colour_classifier(tmp_path / "m.onnx")
    (tmp_path / "pre.toml").write_text(SPEC)
    spec = load_spec(tmp_path / "pre.toml")
    assert spec.crop == 12 and spec.classes == ("blue", "red")
    x = spec.apply(np.zeros((20, 24, 3), dtype=np.uint8))
    assert x.shape == (3, 12, 12) and x.dtype == np.float32
    assert x[0, 0, 0] == pytest.approx(-2.0)  # (0 - 0.5) / 0.25
    test = table[table["split"] == "test"]
    out = run_model(model, spec, tmp_path / "data", test["path"].tolist(), [],
                    cache_dir=tmp_path / "cache")
    assert (out["pred"].to_numpy() == test["label"].to_numpy()).all()
    assert np.allclose(out[["prob_blue", "prob_red"]].sum(axis=1), 1)
    # second run: every image comes from the cache (no new cache part is written)
    parts = sorted((tmp_path / "cache").rglob("*.parquet"))
    assert parts
    again = run_model(model, spec, tmp_path / "data", test["path"].tolist(), [],
                      cache_dir=tmp_path / "cache")
    assert sorted((tmp_path / "cache").rglob("*.parquet")) == parts
    pd.testing.assert_frame_equal(again, out)
    # a changed image is recomputed
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "data" / test["path"].iloc[0])
    run_model(model, spec, tmp_path / "data", test["path"].tolist(), [],
              cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").rglob("*.parquet"))) > len(parts)


def test_scan_with_a_model(tmp_path: Path) -> None:
    make_data(tmp_path / "data")
    model = mean_colour_classifier(tmp_path / "m.onnx")
    (tmp_path / "pre.toml").write_text(SPEC)
    report = pitfalls.scan(tmp_path / "data" / "manifest.csv", model=model,
                           preprocess=tmp_path / "pre.toml", cache=tmp_path / "cache",
                           select="EVAL,IMB003")
    section = report.sections["evaluation"]
    assert section["n"] == 16 and section["metrics"]["accuracy"]["value"] == 1.0
    assert section["classes"] == ["blue", "red"]


def test_nhwc_bgr_and_0_255_layouts(tmp_path: Path) -> None:
    spec = load_spec({"resize": [6, 8], "layout": "NHWC", "channels": "BGR", "scale": "0-255"})
    img = np.zeros((12, 16, 3), dtype=np.uint8)
    img[..., 0] = 200
    x = spec.apply(img)
    assert x.shape == (6, 8, 3)
    assert x[0, 0, 2] == pytest.approx(200) and x[0, 0, 0] == pytest.approx(0)


def test_bad_specs_and_models(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown key"):
        load_spec({"resise": 224})
    with pytest.raises(InputError, match="'layout' must be one of NCHW, NHWC"):
        load_spec({"layout": "CHW"})
    with pytest.raises(InputError, match="'mean' must be three numbers"):
        load_spec({"mean": [0.5, 0.5]})
    with pytest.raises(InputError, match="'std' must not contain zero"):
        load_spec({"std": [1, 0, 1]})
    with pytest.raises(InputError, match="'crop' must be a positive integer"):
        load_spec({"crop": -3})
    (tmp_path / "bad.toml").write_text("resize = [")
    with pytest.raises(InputError, match="not valid TOML"):
        load_spec(tmp_path / "bad.toml")
    with pytest.raises(InputError, match="preprocessing spec not found"):
        load_spec(tmp_path / "nope.toml")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(InputError, match="cannot load junk.onnx"):
        ModelRunner(tmp_path / "junk.onnx", load_spec(None))
    # three outputs for two classes
    make_data(tmp_path / "data")
    model = mean_colour_classifier(tmp_path / "m3.onnx", n_out=3)
    with pytest.raises(InputError, match="outputs 3 values per image but there are 2 classes"):
        run_model(model, load_spec({"resize": 8}), tmp_path / "data", ["test/red/0.png"],
                  ["red", "blue"], cache_dir=False)
    # NHWC data into an NCHW model (its channel axis is fixed to 3)
    model = mean_colour_classifier(tmp_path / "m.onnx")
    runner = ModelRunner(model, load_spec({"resize": 8, "layout": "NHWC"}))
    with pytest.raises(InputError, match=r"rejected an input of shape \[1, 8, 8, 3\]"):
        runner.logits([np.zeros((8, 8, 3), np.uint8)])
