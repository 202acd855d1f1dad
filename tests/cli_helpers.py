"""Run the `pitfalls` command as a user would (a real process) and check it ended cleanly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def run_cli(*args: str | Path, codes: tuple[int, ...] = (0, 1), timeout: float = 120,
            unprivileged: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m pitfalls ARGS` in a fresh process; asserts it ended within `timeout` with one
    of `codes` and without a traceback. `unprivileged` runs it without root's power to read
    any file (see `unprivileged_prefix`)."""
    path = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(path)}  # any cwd
    command = [sys.executable, "-m", "pitfalls", *map(str, args)]
    proc = subprocess.run(unprivileged_prefix() + command if unprivileged else command,
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text
    assert proc.returncode in codes, (proc.returncode, text)
    return proc


def report_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def items_of(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [item for f in report["findings"] if f["rule"] == rule for item in f["items"]]


def unprivileged_prefix() -> list[str]:
    """A command prefix under which file permissions apply: empty for an ordinary user; for
    root, `setpriv` without the capabilities that override them (skips the test without it)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
