"""The command line's progress bar, shared by `pitfalls` and its sub-apps (`pitfalls monitor`)
without either importing the other."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

err = Console(stderr=True)


def progress() -> Progress:
    """A transient bar on standard error: description, bar, done/total, time left."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err, transient=True)
