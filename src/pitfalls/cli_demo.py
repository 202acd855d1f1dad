"""`pitfalls demo --monitor`: the monitoring half of the demo, run by `pitfalls demo` once the
demo project and its scan's reference exist. Everything heavy loads inside the command."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from pitfalls.errors import PitfallsError

console = Console()
err = Console(stderr=True)


def monitor_week(directory: Path, *, port: int = 0, serve: bool = True, lang: str = "en") -> int:
    """Start the service on the demo's reference, stream the simulated week through the client,
    wait for the analysis, print the alerts and the dashboard's address; then serve until
    Ctrl-C (`serve`) or stop. The exit code: 0, or 1 when records stayed unacknowledged."""
    from pitfalls.cli_progress import progress
    from pitfalls.demo.week import CAMERAS, MonitorDemo

    try:
        run = MonitorDemo(directory, port)
        run.start()
    except (PitfallsError, RuntimeError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 2
    try:
        console.print(f"monitoring service: [bold]{run.url}[/] (database "
                      f"{escape(str(run.folder / 'monitor.db'))})")
        _describe(CAMERAS)
        with progress() as bar:
            task = bar.add_task("streaming the week", total=None)
            week = run.stream(progress=lambda stage, done, total: bar.update(
                task, description=stage, completed=done, total=total))
        with err.status("analysing the week's windows"):
            finished = run.service.wait_idle(600)
        console.print(f"sent {sum(week.sent.values())} records "
                      f"({', '.join(f'{k} {v}' for k, v in week.sent.items())}; "
                      f"{week.labelled} with a spot-checked label), "
                      f"{week.start:%Y-%m-%d %H:%M} to {week.end:%Y-%m-%d %H:%M} UTC")
        if not finished:
            err.print("[yellow]note:[/] the analysis had not caught up after 10 minutes; "
                      "the alerts below may be incomplete")
        _print_alerts(run.alerts(lang), lang)
        reference = run.reference.resolve()
        console.print(escape(f"after-release report: pitfalls monitor report --period 7d "
                             f"--db {run.db} --reference {reference}"
                             + (" --lang ja" if lang == "ja" else "")))
        if week.left:
            err.print(f"[bold yellow]{week.left} records were not acknowledged[/]")
        if serve:
            _serve(run, week.start, lang)
        return 1 if week.left else 0
    finally:
        run.stop()


def _describe(cameras: Any) -> None:
    for cam in cameras:
        what = ("its light starts to fail on day "
                f"{cam.dark_from} (dimmer that day, dark after)" if cam.dark_from else
                f"goes silent on day {cam.silent_from}" if cam.silent_from else "steady")
        console.print(f"  camera {cam.name}: about {cam.rate:.0f} photos an hour; {what}")


def _print_alerts(alerts: list[dict[str, Any]], lang: str) -> None:
    from rich.table import Table

    if not alerts:
        console.print("no alerts were raised")
        return
    table = Table("rule", "source", "state", "opened (UTC)", "alert",
                  title=f"{len(alerts)} alerts raised")
    for a in alerts:
        table.add_row(a["rule"], escape(str(a["source"])), a["state"],
                      str(a["opened_at"])[:16].replace("T", " "), escape(str(a["title"])))
    console.print(table)


def _serve(run: Any, start: Any, lang: str) -> None:
    """Print the dashboard's address and the read token (once, on this terminal), then wait
    for Ctrl-C."""
    query = f"?start={start:%Y-%m-%dT%H:00:00Z}" + ("&lang=ja" if lang == "ja" else "")
    console.print(f"dashboard: [bold]{run.url}/{query}[/]")
    console.print("read token (log in with it; shown once):")
    print(run.read, flush=True)
    console.print("serving until Ctrl-C")
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a `kill` stops it as cleanly
    try:
        while run.service.running:
            run.service.join(0.5)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_sig: int, _frame: Any) -> None:
    raise KeyboardInterrupt
