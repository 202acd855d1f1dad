"""`pitfalls demo --monitor`: the demo's reference served on a free port, a simulated week sent
through the real client, and the planted trouble found by the service's own analysis: the
camera whose light fails raises MON001 or MON007, the camera that goes silent MON008."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import assert_cli_ok
from typer.testing import CliRunner

from pitfalls.cli import app

DARKENING, SILENT, STEADY = "line1-cam2", "line2-cam1", "line1-cam1"


@pytest.fixture
def project(demo_run, tmp_path: Path) -> Path:
    """A demo folder holding only the session demo's scan reference (which --monitor reuses)."""
    where, _, _ = demo_run
    shutil.copytree(where / "report" / "reference", tmp_path / "demo" / "report" / "reference")
    return tmp_path / "demo"


def _stored_alerts(project: Path) -> list[tuple[str, str, str]]:
    from pitfalls.monitor.storage import SqlAlertStore, Store

    store = Store.open(f"sqlite:///{project / 'monitor' / 'monitor.db'}")
    try:
        rows = [(a.rule, a.source, a.state) for a in SqlAlertStore(store.engine).list()]
        count = store.count()
    finally:
        store.engine.dispose()
    return rows + [("count", str(count), "")]


def _planted_found(alerts: list[tuple[str, str, str]]) -> None:
    raised = {(rule, source) for rule, source, _ in alerts}
    assert {("MON001", DARKENING), ("MON007", DARKENING)} & raised, raised
    assert ("MON008", SILENT) in raised, raised
    assert not [a for a in raised if a[1] == STEADY], raised
    assert not [a for a in raised if a[1] == DARKENING and a[0] == "MON008"], raised


def test_the_week_streams_and_the_planted_alerts_come_out(project: Path):
    started = time.monotonic()
    result = CliRunner().invoke(app, ["demo", str(project), "--monitor", "--no-serve"])
    took = time.monotonic() - started
    assert_cli_ok(result, 0, "alerts raised")
    out = " ".join(result.output.split())
    assert "reused" in out and "monitor report --period 7d" in out
    assert "read token" not in out and "serving" not in out  # --no-serve: no dashboard
    sent = int(re.search(r"sent (\d+) records", out).group(1))
    alerts = _stored_alerts(project)
    assert ("count", str(sent), "") in alerts  # every record the client logged was stored
    _planted_found(alerts[:-1])
    for rule, source in (("MON008", SILENT), ("MON007", DARKENING)):
        assert re.search(rf"{rule} │ {source}", result.output), result.output
    assert not list((project / "monitor" / "spool").rglob("*.jsonl"))  # nothing left unsent
    print(f"demo --monitor --no-serve: {took:.1f} s, {sent} records")


def test_it_serves_the_dashboard_until_interrupted(project: Path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "pitfalls", "demo", str(project), "--monitor"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 300
        assert proc.stdout is not None
        while not any("serving until Ctrl-C" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        url = re.search(r"dashboard: (http://127\.0\.0\.1:\d+)/\?start=\S+", text).group(1)
        token = lines[[i for i, x in enumerate(lines) if "read token" in x][0] + 1].strip()
        assert httpx.get(url + "/", timeout=30).status_code == 200
        assert httpx.get(url + "/api/v1/alerts", timeout=30).status_code == 401
        answer = httpx.get(url + "/api/v1/alerts", timeout=30,
                           headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        _planted_found([(a["rule"], a["source"], a["state"]) for a in answer.json()["alerts"]])
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, text + rest
        assert "stopping" in rest and "Traceback" not in text + rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
