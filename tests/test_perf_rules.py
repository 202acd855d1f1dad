"""PERF001 (latency budget), PERF002 (dominated model), rule docs and the scan's skip."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_helpers import colour_dataset, colour_model, write_spec
from conftest import assert_cli_ok
from typer.testing import CliRunner

from pitfalls.bench import BenchOptions, run_bench
from pitfalls.bench.pareto import best_under_budget, dominated_by, pareto_front
from pitfalls.cases import published, references
from pitfalls.cli import app
from pitfalls.rules import registry

OPTS = dict(min_time=0.0, min_queries=30, warmup=3)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("perf")
    colour_dataset(root / "data", n_train=2, n_test=6)
    colour_model(root / "fast.onnx")
    colour_model(root / "slow.onnx", extra_matmuls=12)  # same decisions, ~3M extra MACs
    for name in ("fast", "slow"):
        write_spec(root / f"{name}.toml")
    return root


def test_perf001_with_a_tiny_budget(project: Path) -> None:
    r = run_bench([project / "fast.onnx"], project / "data",
                  options=BenchOptions(budget_ms=0.001, percentile=99, **OPTS))
    (f,) = [f for f in r.findings if f.rule == "PERF001"]
    assert f.severity == "error"  # no configuration meets it
    assert f.metrics["budget_ms"] == 0.001 and f.metrics["percentile"] == 99
    assert f.items[0]["latency_ms"] == r.rows[0]["latency_ms"]["p99"]
    ok = run_bench([project / "fast.onnx"], project / "data",
                   options=BenchOptions(budget_ms=10_000, **OPTS))
    assert "PERF001" not in {f.rule for f in ok.findings}
    no_budget = run_bench([project / "fast.onnx"], project / "data", options=BenchOptions(**OPTS))
    assert no_budget.findings == []


def test_perf002_catches_a_planted_dominated_model(project: Path) -> None:
    r = run_bench([project / "fast.onnx", project / "slow.onnx"], project / "data",
                  options=BenchOptions(**OPTS))
    fast, slow = r.rows
    assert fast["accuracy"] == slow["accuracy"] == 1.0
    assert slow["stages_ms"]["inference"]["p50"] > 3 * fast["stages_ms"]["inference"]["p50"]
    (f,) = [f for f in r.findings if f.rule == "PERF002"]
    assert f.metrics["models"] == ["slow"]
    assert f.items[0]["dominated_by"].startswith("fast")


def test_pareto_helpers_on_planted_rows() -> None:
    def row(acc: float, p95: float) -> dict:
        return {"accuracy": acc, "latency_ms": {"p95": p95}}

    rows = [row(0.90, 1.0), row(0.85, 2.0), row(0.95, 5.0), row(0.95, 8.0), row(None, 1.0)]
    assert dominated_by(rows) == {1: 0, 3: 2}
    assert pareto_front(rows) == [0, 2]
    assert best_under_budget(rows, 4.0) == 0 and best_under_budget(rows, 6.0) == 2
    assert best_under_budget(rows, 0.5) is None
    # a 5% latency margin keeps a near-tie from counting as dominance
    assert dominated_by([row(0.9, 1.0), row(0.9, 1.02)], lat_tol=0.05) == {}


def test_perf_rules_are_documented_in_both_languages() -> None:
    reg = registry()
    for code in ("PERF001", "PERF002", "PERF003", "PERF004"):
        rule = reg[code]
        assert rule.phase == "system" and rule.needs == frozenset({"bench"})
        assert rule.doc.cases and all(c in published() for c in rule.doc.cases)
        for text in (rule.title, rule.doc.what, rule.doc.why, rule.doc.fix):
            assert text["en"] and text["ja"] and text["ja"] != text["en"]
    assert any("MLPerf" in c for c in references(reg["PERF004"].doc.cases))
    assert any("Hidden Technical Debt" in c for c in references(reg["PERF003"].doc.cases))
    res = CliRunner().invoke(app, ["rules", "PERF003"])
    assert_cli_ok(res, 0, "PERF003")


def test_scan_skips_perf_rules_without_bench_results(project: Path) -> None:
    from pitfalls.api import scan

    report = scan(project / "data", select=["PERF"], cache=False)
    reasons = {s["rule"]: s["reason"] for s in report.skipped}
    assert set(reasons) == {"PERF001", "PERF002", "PERF003", "PERF004"}
    assert all("pitfalls bench" in v for v in reasons.values())


def test_bench_writes_report_with_recommendation_and_pareto(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    res = CliRunner().invoke(app, ["bench", str(project / "fast.onnx"), str(project / "slow.onnx"),
                                   "--data", str(project / "data"), "--budget-ms", "1000",
                                   "--min-time", "0", "--min-queries", "20", "--out", str(out),
                                   "--lang", "ja", "--fail-on", "never"])
    assert_cli_ok(res, 0)
    page = (out / "report.html").read_text()
    assert "推奨" in page and "fast" in page and "<circle" in page and "パレート" in page
