"""pitfalls bench: timed runs, bench.json contract, CSV, report, bad input."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from bench_helpers import colour_model, write_spec
from conftest import assert_cli_ok
from typer.testing import CliRunner

from pitfalls.bench import BenchOptions, run_bench
from pitfalls.bench.runner import load_images, make_session, run_queries
from pitfalls.bench.spec import load_spec
from pitfalls.bench.timing import latency_stats, spread, timer_overhead_ns
from pitfalls.cli import app
from pitfalls.inputs import load_dataset

FAST = ["--min-time", "0.05", "--min-queries", "20"]


@pytest.fixture(scope="module")
def project(colour_project: Callable[..., Path]) -> Path:
    return colour_project("bench")


def test_bench_json_follows_the_contract(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["bench", str(project / "colour.onnx"), "--data",
                                   str(project / "data"), "--batch-sizes", "1,4", "--out",
                                   str(out), *FAST])
    assert_cli_ok(res, 0)
    b = json.loads((out / "bench.json").read_text())
    assert b["schema_version"] == 1
    assert {"onnxruntime", "processor", "python", "cpu_count"} <= set(b["machine"])
    assert [r["batch_size"] for r in b["rows"]] == [1, 4]
    for r in b["rows"]:
        assert {"model", "provider", "batch_size", "threads", "quantization", "accuracy",
                "latency_ms", "throughput_ips", "peak_rss_mb", "size_mb"} <= set(r)
        assert {"p50", "p90", "p95", "p99", "max"} <= set(r["latency_ms"])
        lat = r["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["max"]
        assert r["model"] == "colour" and r["quantization"] == "fp32"
        assert r["accuracy"] == 1.0 and r["n_eval"] == 24
        assert r["warmup"]["n"] == 10 and r["n_queries"] >= 20
        stages = r["stages_ms"]
        assert stages["inference"]["p50"] > 0 and stages["preprocess"]["p50"] > 0
        assert r["size_mb"] > 0 and r["n_params"] == 8 and r["peak_rss_mb"] > 10
    assert b["findings"] == []
    rows = list(csv.DictReader((out / "bench.csv").open()))
    assert rows[0]["top1"] == "100.0" and float(rows[1]["infer_samples_per_sec"]) > 0
    page = (out / "report.html").read_text()
    assert "section-bench" in page and "<svg" in page and "Recommended" in page


def test_queries_take_fresh_inputs_and_exclude_warmup(project: Path) -> None:
    ds = load_dataset(project / "data")
    images = load_images(ds)
    assert images.split == "test" and len(images) == 24
    spec = load_spec(project / "colour.toml")
    sess = make_session(project / "colour.onnx")
    t = run_queries(sess, spec, images, ["blue", "red"], batch_size=3, min_time=0.0,
                    min_queries=16, warmup=5)
    assert len(t.warmup_ms) == 5 and t.total.size == 16 and t.images == 48
    np.testing.assert_allclose(t.total, t.pre + t.infer + t.post, rtol=0.05, atol=0.01)


def test_latency_statistics_and_spread() -> None:
    s = latency_stats(np.arange(1, 101, dtype=float))
    assert s["p50"] == pytest.approx(50.5) and s["p99"] == pytest.approx(99.01)
    assert s["max"] == 100
    steady = spread(np.full(100, 2.0))
    assert steady.iqr_over_median == 0 and not steady.too_wide
    noisy = spread(np.concatenate([np.full(20, v) for v in (1.0, 1.5, 2.0, 2.5, 3.0)]))
    assert noisy.iqr_over_median == pytest.approx(0.5) and noisy.too_wide
    assert timer_overhead_ns(10_000) < 10_000  # one clock read is far below 10 µs


def test_fixed_batch_model_runs_only_its_batch(project: Path, tmp_path: Path) -> None:
    model = colour_model(tmp_path / "fixed.onnx", batch=1)
    r = run_bench([model], project / "data", spec=load_spec(project / "colour.toml"),
                  options=BenchOptions(batch_sizes=(1, 4), min_time=0.0, min_queries=5))
    assert [row["batch_size"] for row in r.rows] == [1]
    assert r.rows[0]["accuracy"] == 1.0


@pytest.mark.parametrize("case", ["missing_model", "not_onnx", "no_spec", "bad_quantize",
                                  "wrong_classes", "no_cuda", "bad_spec", "bad_batch",
                                  "no_data"])
def test_bad_input_exits_2(case: str, project: Path, tmp_path: Path) -> None:
    model, data = project / "colour.onnx", project / "data"
    extra: list[str] = []
    if case == "missing_model":
        model = tmp_path / "nope.onnx"
    elif case == "not_onnx":
        model = tmp_path / "junk.onnx"
        model.write_bytes(b"not a model")
        write_spec(tmp_path / "junk.toml")
    elif case == "no_spec":
        model = tmp_path / "bare.onnx"
        model.write_bytes((project / "colour.onnx").read_bytes())
    elif case == "bad_quantize":
        extra = ["--quantize", "int4"]
    elif case == "wrong_classes":
        spec = tmp_path / "three.toml"
        spec.write_text('resize = [8, 8]\nclasses = ["a", "b", "c"]\n')
        extra = ["--preprocess", str(spec)]
    elif case == "no_cuda":
        extra = ["--providers", "nosuchprovider"]
    elif case == "bad_spec":
        spec = tmp_path / "bad.toml"
        spec.write_text('resize = [8, 8]\nchannels = "RBG"\n')
        extra = ["--preprocess", str(spec)]
    elif case == "bad_batch":
        extra = ["--batch-sizes", "1,x"]
    elif case == "no_data":
        data = tmp_path / "missing"
    res = CliRunner().invoke(app, ["bench", str(model), "--data", str(data), "--out",
                                   str(tmp_path / "o"), *FAST, *extra])
    assert_cli_ok(res, 2, "error")


def test_bench_accuracy_interval_is_not_certainty_when_all_right() -> None:
    """20 right of 20: the percentile bootstrap said [1, 1]; the interval reaches below 0.86."""
    from sklearn.metrics import balanced_accuracy_score

    from pitfalls.bench.runner import accuracy_with_ci

    labels = ["ok", "bad"] * 10
    acc = accuracy_with_ci(labels, labels)
    assert acc["accuracy"] == 1.0 and acc["accuracy_ci"][0] <= 0.86
    assert acc["balanced_accuracy_ci"][0] <= 0.86 and acc["n_eval"] == 20
    preds = ["ok"] * 14 + ["bad"] * 6
    mixed = accuracy_with_ci(labels, preds)
    assert mixed["balanced_accuracy"] == balanced_accuracy_score(labels, preds)
    assert mixed["accuracy_ci"][0] < mixed["accuracy"] < mixed["accuracy_ci"][1]
