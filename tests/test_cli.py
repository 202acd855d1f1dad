"""The command line: exit codes, rule selection, language, configuration, the rule catalogue."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_cli_ok
from typer.testing import CliRunner

from pitfalls.cli import app
from pitfalls.demo import draw_scene

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _photos(root: Path, split: str, label: str, seeds: range, fruit: str = "lime") -> None:
    folder = root / split / label
    folder.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        img = draw_scene(np.random.default_rng(s), fruit, (128, 96))
        img.save(folder / f"{label}_{s:04d}.jpg", quality=90)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Unique photos, balanced classes, both classes drawn alike: nothing to report as an error."""
    root = tmp_path_factory.mktemp("clean")
    _photos(root, "train", "ok", range(0, 10))
    _photos(root, "train", "reject", range(10, 20))
    _photos(root, "test", "ok", range(20, 24))
    _photos(root, "test", "reject", range(24, 28))
    return root


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory, clean: Path) -> Path:
    """The clean set plus a training photo copied into test and a class rare in train."""
    root = tmp_path_factory.mktemp("leaky") / "data"
    shutil.copytree(clean, root)
    shutil.copy(root / "train" / "ok" / "ok_0003.jpg", root / "test" / "ok" / "copy.jpg")
    _photos(root, "train", "rare", range(40, 42), fruit="plum")
    _photos(root, "test", "rare", range(42, 44), fruit="plum")
    return root


def scan(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["scan", *map(str, args)])
    assert_cli_ok(result, (0, 1, 2))
    return result.exit_code, result.output


def findings(out: Path) -> set[str]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return {f["rule"] for f in report["findings"]}


def test_clean_dataset_exits_0(clean: Path, tmp_path: Path) -> None:
    code, output = scan(clean, "--out", tmp_path / "r", "--fail-on", "error")
    assert code == 0, output
    assert (tmp_path / "r" / "report.html").is_file()
    assert not {c for c in findings(tmp_path / "r") if c.startswith(("LEAK", "DUP"))}


def test_findings_at_or_above_fail_on_exit_1(leaky: Path, tmp_path: Path) -> None:
    code, output = scan(leaky, "--out", tmp_path / "r", "--fail-on", "error")
    assert code == 1, output
    assert "LEAK001" in findings(tmp_path / "r")
    code, _ = scan(leaky, "--out", tmp_path / "r", "--fail-on", "never")
    assert code == 0


def test_fail_on_warning_counts_warnings(leaky: Path, tmp_path: Path) -> None:
    code, _ = scan(leaky, "--out", tmp_path / "r", "--select", "IMB001", "--fail-on", "warning")
    assert code == 1
    code, _ = scan(leaky, "--out", tmp_path / "r", "--select", "IMB001", "--fail-on", "error")
    assert code == 0


@pytest.mark.parametrize("args", [
    ["does-not-exist"],
    ["{data}", "--fail-on", "sometimes"],
    ["{data}", "--lang", "fr"],
    ["{data}", "--select", "LEAK001", "--workers", "-3"],
])
def test_usage_and_input_errors_exit_2(clean: Path, tmp_path: Path, args: list[str]) -> None:
    code, output = scan(*[a.format(data=clean) for a in args], "--out", tmp_path / "r")
    assert code == 2, output
    assert "error" in output.lower()


def test_select_and_ignore(leaky: Path, tmp_path: Path) -> None:
    scan(leaky, "--out", tmp_path / "sel", "--select", "LEAK001,IMB")
    assert findings(tmp_path / "sel") <= {"LEAK001", "IMB001", "IMB002"}
    assert "LEAK001" in findings(tmp_path / "sel")
    scan(leaky, "--out", tmp_path / "ign", "--select", "LEAK,IMB", "--ignore", "LEAK")
    got = findings(tmp_path / "ign")
    assert got and not {c for c in got if c.startswith("LEAK")}


def test_lang_ja_prints_japanese(leaky: Path, tmp_path: Path) -> None:
    _, english = scan(leaky, "--out", tmp_path / "en", "--select", "LEAK001")
    _, japanese = scan(leaky, "--out", tmp_path / "ja", "--select", "LEAK001", "--lang", "ja")
    assert not JAPANESE.search(english)
    assert JAPANESE.search(japanese)


def test_config_from_pyproject(leaky: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.pitfalls]\nselect = ["IMB001"]\nfail-on = "warning"\n'
        'lang = "ja"\n', encoding="utf-8")
    monkeypatch.chdir(project)
    code, output = scan(leaky, "--out", "r")
    assert code == 1, output  # IMB001 is a warning and the config fails on warnings
    assert findings(project / "r") == {"IMB001"}
    assert JAPANESE.search(output)
    (project / "pyproject.toml").write_text(
        '[tool.pitfalls]\nselect = ["IMB001"]\nfail-on = "warning"\n'
        '[tool.pitfalls.rules.IMB001]\nmax_ratio = 50.0\nmin_count = 1\n', encoding="utf-8")
    code, output = scan(leaky, "--out", "r")
    assert code == 0, output  # the threshold from the config lets the imbalance pass


def test_invalid_config_exits_2(clean: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pitfalls.rules.LEAK002]\nno_such_knob = 1\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, output = scan(clean, "--out", "r")
    assert code == 2
    assert "no_such_knob" in output


def test_rules_catalogue_and_one_rule() -> None:
    runner = CliRunner()
    listing = runner.invoke(app, ["rules"])
    assert_cli_ok(listing, 0, "LEAK002")
    assert "IMB001" in listing.output
    one = runner.invoke(app, ["rules", "LEAK002"])
    assert_cli_ok(one, 0, "Why it matters")
    assert "LEAK002" in one.output
    ja = runner.invoke(app, ["rules", "leak002", "--lang", "ja"])
    assert_cli_ok(ja, 0, "なぜ問題か")


def test_unknown_rule_exits_2() -> None:
    result = CliRunner().invoke(app, ["rules", "NOPE999"])
    assert_cli_ok(result, 2, "NOPE999")


def test_console_entry_point_keeps_exit_codes_and_output(leaky: Path, tmp_path: Path) -> None:
    """`python -m pitfalls` (the console script's `main`) leaves without interpreter teardown:
    its exit codes, printed summary and written reports must be those of the command."""
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pitfalls", *args], capture_output=True,
                              text=True, timeout=300, cwd=tmp_path)

    out = tmp_path / "report"
    found = run("scan", str(leaky), "--out", str(out), "--fail-on", "error",
                "--cache", str(tmp_path / "cache"))
    assert found.returncode == 1, found.stderr
    assert "LEAK001" in found.stdout and "report:" in found.stdout  # flushed before leaving
    assert json.loads((out / "report.json").read_text())["findings"]
    assert run("scan", str(tmp_path / "nowhere")).returncode == 2
    listing = run("rules")
    assert listing.returncode == 0 and "SHORT002" in listing.stdout


def test_assert_cli_ok_catches_a_crash_that_the_output_hides(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CliRunner a crash exits 1 with no traceback in the output: the old assertion
    `"Traceback" not in result.output` passed on it; assert_cli_ok does not."""
    import pitfalls.docs

    def broken(code: str, lang: str) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(pitfalls.docs, "rule_markdown", broken)
    result = CliRunner().invoke(app, ["rules", "LEAK002"])
    assert "Traceback" not in result.output and result.exit_code == 1  # what fooled the tests
    with pytest.raises(AssertionError, match="raised instead of exiting"):
        assert_cli_ok(result, 1)
    monkeypatch.undo()
    ok = CliRunner().invoke(app, ["rules", "NOPE999"])
    assert_cli_ok(ok, 2, "NOPE999")
    with pytest.raises(AssertionError):
        assert_cli_ok(ok, 0)
    with pytest.raises(AssertionError):
        assert_cli_ok(ok, 2, "a message that is not there")
