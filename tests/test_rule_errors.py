"""A rule that raises fails the run visibly: exit code 2 whatever --fail-on, an "errors" entry in
report.json, an "internal error" block in the HTML and the terminal, the traceback with --verbose.

The suite runs in strict mode (a rule's exception fails the test); these tests run the real
command in a subprocess with strict mode off, with one real rule's check made to raise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pitfalls.demo import draw_scene
from pitfalls.findings import Finding
from pitfalls.report.document import Report
from pitfalls.text import T

# Runs the command line as `python -m pitfalls` would, after making IMB001's check raise the way
# a bug in a rule would (an attribute of None deep inside its code).
LAUNCH = """
import sys
from pitfalls.rules import registry

def broken(self, ctx):
    return None.shape  # a bug, as a rule meets one

registry()["IMB001"].check = broken
from pitfalls.cli import main
sys.argv = ["pitfalls", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("errors")
    for split, label, seeds in (("train", "ok", range(0, 6)), ("train", "bad", range(6, 12)),
                                ("test", "ok", range(12, 15)), ("test", "bad", range(15, 18))):
        folder = root / split / label
        folder.mkdir(parents=True)
        for s in seeds:
            draw_scene(np.random.default_rng(s), "lime" if label == "ok" else "plum",
                       (96, 72)).save(folder / f"{s:03d}.jpg", quality=90)
    return root


def _run(data: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PITFALLS_STRICT"}
    return subprocess.run([sys.executable, "-c", LAUNCH, "scan", str(data), "--out", str(out),
                           "--select", "IMB,DUP001", *args],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.mark.parametrize("fail_on", ["error", "warning", "info", "never"])
def test_a_rule_that_raises_fails_the_run_whatever_fail_on(data: Path, tmp_path: Path,
                                                           fail_on: str) -> None:
    out = tmp_path / "report"
    run = _run(data, out, "--fail-on", fail_on)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr  # only with --verbose
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["schema_version"] == 1
    error = "AttributeError: 'NoneType' object has no attribute 'shape'"
    assert report["errors"] == [{"rule": "IMB001", "error": error}]
    assert "IMB001" not in report["passed"]
    assert "IMB001" not in {s["rule"] for s in report["skipped"]}
    # the other rules still ran and were recorded
    assert {"IMB002", "DUP001"} <= set(report["passed"]) | {f["rule"] for f in report["findings"]}
    html = (out / "report.html").read_text(encoding="utf-8")
    start = html.index('id="internal-error"')
    block = html[start:html.index("</section>", start)]
    assert "Internal error" in block and "IMB001" in block and "AttributeError" in block
    assert "internal error in IMB001" in " ".join(run.stdout.split())
    assert "IMB001" in run.stderr and "AttributeError" in run.stderr  # the log line


def test_verbose_shows_the_traceback_and_japanese_names_the_error(data: Path,
                                                                  tmp_path: Path) -> None:
    run = _run(data, tmp_path / "report", "--verbose", "--lang", "ja")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback (most recent call last)" in run.stderr
    assert ", in broken" in run.stderr  # the frame of the rule that raised
    assert "内部エラー" in run.stdout
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "内部エラー" in html and "IMB001" in html


def test_report_exit_code_counts_errors_before_findings() -> None:
    clean = Report(dataset={})
    assert [clean.exit_code(f) for f in ("error", "warning", "info", "never")] == [0, 0, 0, 0]
    warned = Report(dataset={}, findings=[Finding("IMB001", "research", "warning", T("t"), T("s"))])
    assert [warned.exit_code(f) for f in ("error", "warning", "never")] == [0, 1, 0]
    broken = Report(dataset={}, findings=warned.findings, errors=[{"rule": "X", "error": "E: e"}])
    assert [broken.exit_code(f) for f in ("error", "warning", "info", "never")] == [2, 2, 2, 2]


def test_errors_survive_a_round_trip_through_report_json(tmp_path: Path) -> None:
    report = Report(dataset={"root": "r"}, errors=[{"rule": "LEAK002", "error": "ValueError: x"}])
    report.save(tmp_path)
    again = Report.from_json(tmp_path / "report.json")
    assert again.errors == report.errors and again.exit_code("never") == 2
    assert Report.from_json(tmp_path / "report.json").to_dict()["errors"] == report.errors
