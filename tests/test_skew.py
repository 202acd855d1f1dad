"""PERF003: train/serve preprocessing skew (colour order, resize interpolation, serving
function)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from bench_helpers import save, write_spec
from conftest import assert_cli_ok
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from typer.testing import CliRunner

from pitfalls.bench import BenchOptions, run_bench
from pitfalls.bench.runner import load_images, make_session
from pitfalls.bench.skew import compare
from pitfalls.bench.spec import load_spec, with_changes
from pitfalls.cli import app
from pitfalls.inputs import load_dataset

OPTS = BenchOptions(min_time=0.0, min_queries=5, warmup=1)


@pytest.fixture(scope="module")
def colour(colour_project: Callable[..., Path]) -> Path:
    return colour_project("skew", n_train=4, n_test=10)


def brightness_project(root: Path) -> Path:
    """'bright' images are 1-pixel checkerboards whose nearest-neighbour downsample is white;
    'dark' images are flat grey. A model that thresholds mean brightness at 0.75 separates them
    only when the serving resize is the training one (nearest)."""
    yy, xx = np.mgrid[0:64, 0:64]
    for phase in (0, 1):
        board = (((yy + xx + phase) % 2) * 255).astype(np.uint8)
        img = Image.fromarray(np.dstack([board] * 3))
        if np.asarray(img.resize((16, 16), Image.Resampling.NEAREST)).mean() > 250:
            break
    for split in ("train", "test"):
        for label in ("bright", "dark"):
            (root / "data" / split / label).mkdir(parents=True, exist_ok=True)
        for i in range(6):
            img.save(root / "data" / split / "bright" / f"b{i}.png")
            Image.fromarray(np.full((64, 64, 3), 110 + i, np.uint8)).save(
                root / "data" / split / "dark" / f"d{i}.png")
    w = np.full((3, 2), 1 / 3, np.float32) * np.array([-1, 1], np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["m"], axes=[2, 3], keepdims=0),
         helper.make_node("Gemm", ["m", "W", "B"], ["logits"])], "brightness",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(w, "W"),
         numpy_helper.from_array(np.array([0.75, -0.75], np.float32), "B")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
         root / "bright.onnx")
    (root / "train.toml").write_text('resize = [16, 16]\ninterpolation = "nearest"\n'
                                     'classes = ["dark", "bright"]\n')
    (root / "serve.toml").write_text('resize = [16, 16]\ninterpolation = "bilinear"\n'
                                     'classes = ["dark", "bright"]\n')
    return root


def test_planted_rgb_bgr_swap_is_caught(colour: Path) -> None:
    spec = load_spec(colour / "colour.toml")
    r = run_bench([colour / "colour.onnx"], colour / "data", spec=spec,
                  serving=with_changes(spec, channels="BGR"), options=OPTS)
    (f,) = [f for f in r.findings if f.rule == "PERF003"]
    assert f.severity == "error"
    assert f.metrics["flip_rate"] == 1.0
    assert f.metrics["accuracy_train_spec"] == 1.0 and f.metrics["accuracy_serving_spec"] == 0.0
    assert f.metrics["accuracy_change_ci"][1] < 0
    assert f.metrics["differences"] == {"channels": ["RGB", "BGR"]}
    assert len(f.items) == 20 and all(len(it["paths"]) == 1 for it in f.items)
    assert "BGR" in f.summary.get_text("ja")


def test_planted_interpolation_change_is_caught(tmp_path: Path) -> None:
    root = brightness_project(tmp_path)
    r = run_bench([root / "bright.onnx"], root / "data", spec=load_spec(root / "train.toml"),
                  serving=load_spec(root / "serve.toml"), options=OPTS)
    (f,) = [f for f in r.findings if f.rule == "PERF003"]
    assert f.metrics["differences"] == {"interpolation": ["nearest", "bilinear"]}
    assert f.metrics["flip_rate"] == pytest.approx(0.5)
    assert f.metrics["accuracy_change"] == pytest.approx(-0.5)
    assert all("bright/" in it["paths"][0] for it in f.items)


def test_same_preprocessing_passes(colour: Path) -> None:
    spec = load_spec(colour / "colour.toml")
    r = run_bench([colour / "colour.onnx"], colour / "data", spec=spec,
                  serving=with_changes(spec), options=OPTS)
    assert r.skew[0].n_flipped == 0 and r.skew[0].differences == {}
    assert "PERF003" not in {f.rule for f in r.findings}


def test_a_serving_function_is_compared(colour: Path) -> None:
    spec = load_spec(colour / "colour.toml")
    images = load_images(load_dataset(colour / "data"))

    def serve_as_0_255(rgb: np.ndarray) -> np.ndarray:  # forgot to divide by 255
        return np.asarray(Image.fromarray(rgb).resize((8, 8)), np.float32).transpose(2, 0, 1)

    def serve_bgr(rgb: np.ndarray) -> np.ndarray:
        return spec.apply(np.ascontiguousarray(rgb[:, :, ::-1]))

    sess = make_session(colour / "colour.onnx")
    same = compare(sess, spec, serve_as_0_255, images, ["blue", "red"])
    assert same.flip_rate == 0.0  # scale alone does not change this model's decision
    swapped = compare(sess, spec, serve_bgr, images, ["blue", "red"])
    assert swapped.flip_rate == 1.0 and swapped.accuracy_change == -1.0


def test_cli_serving_preprocess(colour: Path, tmp_path: Path) -> None:
    serve = write_spec(tmp_path / "serve.toml", channels='"BGR"')
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["bench", str(colour / "colour.onnx"), "--data",
                                   str(colour / "data"), "--serving-preprocess", str(serve),
                                   "--min-time", "0", "--min-queries", "5", "--out", str(out)])
    assert_cli_ok(res, 1)
    b = json.loads((out / "bench.json").read_text())
    assert [f["rule"] for f in b["findings"]] == ["PERF003"]
    assert b["skew"][0]["flip_rate"] == 1.0
    assert onnx.load(str(colour / "colour.onnx")).graph.name == "colour"
