"""Int8 variants: static (calibrated on training images) and dynamic quantization; PERF004."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from bench_helpers import colour_dataset, mlp_model, write_spec

from pitfalls.bench import BenchOptions, run_bench
from pitfalls.bench.quantize import ImageCalibrationReader, quantize
from pitfalls.bench.runner import load_images
from pitfalls.bench.spec import load_spec
from pitfalls.errors import InputError
from pitfalls.inputs import load_dataset


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quant")
    colour_dataset(root / "data", n_train=10, n_test=10)
    mlp_model(root / "mlp.onnx", hidden=64)
    write_spec(root / "mlp.toml")
    return root


def test_static_and_dynamic_variants(project: Path, tmp_path: Path) -> None:
    spec = load_spec(project / "mlp.toml")
    train = load_images(load_dataset(project / "data"), "train")
    reader = ImageCalibrationReader(train, spec, "input", batch_size=4)
    first = reader.get_next()
    assert first is not None and first["input"].shape == (4, 3, 8, 8)
    static = quantize(project / "mlp.onnx", tmp_path / "s.onnx", "static", reader)
    dynamic = quantize(project / "mlp.onnx", tmp_path / "d.onnx", "dynamic")
    ops_s = {n.op_type for n in onnx.load(str(static)).graph.node}
    ops_d = {n.op_type for n in onnx.load(str(dynamic)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops_s
    assert "DynamicQuantizeLinear" in ops_d or "MatMulInteger" in ops_d
    fp32 = (project / "mlp.onnx").stat().st_size
    assert static.stat().st_size < fp32 / 2 and dynamic.stat().st_size < fp32 / 2
    test = load_images(load_dataset(project / "data"), "test")
    x = ImageCalibrationReader(test, spec, "input", batch_size=20).get_next()["input"]
    ref = ort.InferenceSession(str(project / "mlp.onnx")).run(None, {"input": x})[0]
    got = ort.InferenceSession(str(static)).run(None, {"input": x})[0]
    assert (got.argmax(1) == ref.argmax(1)).all()  # same decisions on in-range images
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()


def test_bench_reports_int8_rows_and_accuracy_delta(project: Path) -> None:
    r = run_bench([project / "mlp.onnx"], project / "data",
                  options=BenchOptions(quantize=("static", "dynamic"), min_time=0.0,
                                       min_queries=10, warmup=2))
    quants = [row["quantization"] for row in r.rows]
    assert quants == ["fp32", "static-int8", "dynamic-int8"]
    by = {row["quantization"]: row for row in r.rows}
    assert by["fp32"]["accuracy"] == 1.0
    assert by["static-int8"]["size_mb"] < by["fp32"]["size_mb"]
    assert by["static-int8"]["accuracy"] >= 0.99  # within MLPerf's 99% of fp32
    assert "PERF004" not in {f.rule for f in r.findings}


def test_perf004_fires_with_a_planted_tolerance(project: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # a tolerance no int8 variant can meet: quantized accuracy must exceed fp32's by 1%
    (tmp_path / "pitfalls.toml").write_text("[rules.PERF004]\nmin_ratio = 1.01\n")
    monkeypatch.chdir(tmp_path)
    r = run_bench([project / "mlp.onnx"], project / "data",
                  options=BenchOptions(quantize=("dynamic",), min_time=0.0, min_queries=5,
                                       warmup=1))
    (f,) = [f for f in r.findings if f.rule == "PERF004"]
    assert f.metrics["min_ratio"] == 1.01 and f.metrics["n_below"] == 1
    assert f.items[0]["quantization"] == "dynamic-int8"
    assert f.items[0]["ratio"] == pytest.approx(f.items[0]["accuracy"] / 1.0)


def test_static_needs_a_train_split(project: Path, tmp_path: Path) -> None:
    only_test = tmp_path / "data"
    for p in (project / "data" / "test").rglob("*.png"):
        dest = only_test / p.relative_to(project / "data" / "test")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    with pytest.raises(InputError, match="train split"):
        run_bench([project / "mlp.onnx"], only_test,
                  options=BenchOptions(quantize=("static",), min_time=0.0, min_queries=5))
    with pytest.raises(InputError, match="unknown quantization"):
        quantize(project / "mlp.onnx", tmp_path / "x.onnx", "int4")


def test_quantizing_leaves_the_root_logger_as_it_was(project: Path, tmp_path: Path) -> None:
    """The quantizer's INFO chatter is silenced only while it runs: afterwards the process's
    warnings reach their handlers again (a bench run left every later warning silenced)."""
    import logging

    root = logging.getLogger()
    before = root.level
    quantize(project / "mlp.onnx", tmp_path / "q.onnx", "dynamic")
    assert root.level == before
    logging.getLogger("pitfalls.test").warning("still heard")
    assert root.isEnabledFor(logging.WARNING)
