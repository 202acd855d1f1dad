"""Printing an error for the command line: the message as plain text (file names, TOML tables
such as `[lesson]` and user input are not rich markup), then exit code 2."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr and return the exit (code 2) to raise."""
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                               soft_wrap=True)
    return typer.Exit(2)
