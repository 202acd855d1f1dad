"""Shared fixtures: every test builds its own real images in a temporary folder."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

import pitfalls

os.environ.setdefault("PITFALLS_STRICT", "1")  # a rule's exception fails the test, not a skip

PEER_CASES = Path(__file__).resolve().parents[1].parent / "shared" / "peer-cases"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets its own feature cache, so cached results never leak between tests."""
    monkeypatch.setenv("PITFALLS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def assert_cli_ok(result: Result, code: int | tuple[int, ...], message: str | None = None) -> None:
    """A typer `CliRunner` result ended as the command meant it to: exit `code` (or one of
    them), no exception but the `SystemExit` that carries that code, `message` in the output
    (whitespace-insensitive: rich wraps long lines), and no traceback.

    Under `CliRunner` a crash is not in the output but in `result.exception` (with exit code 1,
    which is also the code of a scan with findings): asserting on the output alone passes on a
    crash.
    """
    codes = (code,) if isinstance(code, int) else tuple(code)
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        raise AssertionError("the command raised instead of exiting:\n"
                             + "".join(traceback.format_exception(*result.exc_info))
                             + "\noutput:\n" + result.output)
    if isinstance(exc, SystemExit):
        assert (exc.code or 0) in codes, (exc.code, result.output)
    assert result.exit_code in codes, (
        f"exit code {result.exit_code}, expected {codes}:\n{result.output}")
    assert "Traceback" not in result.output, result.output
    if message is not None:
        flat = " ".join(result.output.split())
        assert " ".join(message.split()) in flat, f"{message!r} not in:\n{result.output}"
@pytest.fixture(scope="session")
def report_scan(tmp_path_factory: pytest.TempPathFactory) -> pitfalls.Report:
    """The report tests' small dataset (`report_data.make_dataset`) scanned once per session, in
    one process, with its own cache. Read it, never change it: the report tests share it."""
    from report_data import make_dataset

    base = tmp_path_factory.mktemp("report")
    return pitfalls.scan(make_dataset(base / "data"), workers=1, cache=base / "cache")


@pytest.fixture(scope="session")
def colour_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A factory: `colour_project(name, n_train=.., n_test=..)` makes a folder with `data/`
    (`bench_helpers.colour_dataset`), the colour classifier `colour.onnx` and its `colour.toml`."""
    from bench_helpers import colour_dataset, colour_model, write_spec

    def make(name: str, **counts: int) -> Path:
        root = tmp_path_factory.mktemp(name)
        colour_dataset(root / "data", **counts)
        colour_model(root / "colour.onnx")
        write_spec(root / "colour.toml")
        return root
    return make


@pytest.fixture()
def scene_folder(tmp_path: Path) -> Callable[..., Path]:
    """A factory: `scene_folder(n, label_of, split_of=None, first=0)` saves `n` distinct scenes
    (`scenes.scene(first + i)`) as `data/[<split>/]<label>/<i>.<ext>` and returns `data`."""
    from PIL import Image
    from scenes import scene

    def make(n: int, label_of: Callable[[int], str], split_of: Callable[[int], str] | None = None,
             first: int = 0, ext: str = "png") -> Path:
        root = tmp_path / "data"
        for i in range(n):
            folder = root / (split_of(i) if split_of else "") / label_of(i)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(scene(first + i)).save(folder / f"{i}.{ext}")
        return root
    return make


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """`pitfalls demo DIR` run once per session through the CLI: (DIR, report.json, terminal
    output). Tests only read it."""
    from typer.testing import CliRunner

    from pitfalls.cli import app

    where = tmp_path_factory.mktemp("demo") / "project"
    result = CliRunner().invoke(app, ["demo", str(where)])
    assert_cli_ok(result, 0)
    report = json.loads((where / "report" / "report.json").read_text(encoding="utf-8"))
    return where, report, result.output
