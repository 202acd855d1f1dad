"""The `pitfalls` command line (typer + rich). Exit codes: 0 clean, 1 findings at or above
`--fail-on`, 2 usage or input error."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pitfalls.errors import PitfallsError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Catch the pitfalls of image-recognition projects, with evidence.")
console = Console(stderr=False)
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(2)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err, transient=True)


def run_scan(data: Path, out: Path, *, lang: str | None = None, fail_on: str | None = None,
             **kwargs: object) -> int:
    """Scan with a progress bar, save the report, print the summary; return the exit code."""
    from pitfalls.api import scan
    from pitfalls.config import find_config
    from pitfalls.report.terminal import print_summary

    with _progress() as bar:
        task = bar.add_task("features", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        report = scan(data, lang=lang, fail_on=fail_on, progress=progress, **kwargs)
    report.save(out)
    print_summary(report, console)
    console.print(f"report: [bold]{(out / 'report.html').resolve()}[/]  "
                  f"(json: {(out / 'report.json').resolve()})")
    cfg = find_config()
    return report.exit_code(fail_on or cfg.fail_on)


@app.command()
def scan(
    data: Annotated[Path, typer.Argument(help="Dataset folder or manifest (CSV, Parquet, JSONL).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("pitfalls-report"),
    select: Annotated[str | None, typer.Option(help="Only these rule codes/prefixes (comma-separated).")] = None,
    ignore: Annotated[str | None, typer.Option(help="Skip these rule codes/prefixes.")] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="error, warning, info or never.")] = None,
    lang: Annotated[str | None, typer.Option(help="Report language: en or ja.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Feature-extraction processes.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://host:8786.")] = None,
    embedder: Annotated[Path | None, typer.Option(help="ONNX embedding model (default: weight-free).")] = None,
    cache: Annotated[str | None, typer.Option(help="Feature cache folder or fsspec URL (s3://…).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the cache.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run every rule the inputs allow; write report.html and report.json into --out."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    try:
        code = run_scan(data, out, select=select, ignore=ignore, fail_on=fail_on, lang=lang,
                        workers=workers, scheduler=scheduler, embedder=embedder,
                        cache=False if no_cache else (cache if cache else True))
    except PitfallsError as exc:
        raise _fail(str(exc)) from None
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def rules(
    code: Annotated[str | None, typer.Argument(help="A rule code, e.g. LEAK002.")] = None,
    lang: Annotated[str, typer.Option(help="en or ja.")] = "en",
) -> None:
    """List the rule catalogue, or explain one rule."""
    from pitfalls.docs import rule_markdown, rules_table

    if code is None:
        console.print(rules_table(lang))
        return
    try:
        console.print(rule_markdown(code.upper(), lang))
    except KeyError:
        raise _fail(f"no rule {code!r}; run 'pitfalls rules' for the catalogue") from None


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to build the demo project.")] = Path("pitfalls-demo"),
    lang: Annotated[str, typer.Option(help="Report language: en or ja.")] = "en",
) -> None:
    """Build a demonstration dataset with planted pitfalls and scan it end to end."""
    from pitfalls.demo import build_demo

    try:
        root = build_demo(directory)
    except PitfallsError as exc:
        raise _fail(str(exc)) from None
    data = root / "data"
    console.print(f"demo dataset: [bold]{data.resolve()}[/] (answer key: {data / 'PLANTED.md'})")
    code = run_scan(data / "manifest.csv", directory / "report", lang=lang, fail_on="never",
                    cache=directory / ".cache", predictions=data / "predictions.csv")
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover
    app()
