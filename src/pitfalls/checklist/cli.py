"""`pitfalls checklist [--stage S] [--report DIR] [--answers FILE] [--format F] [--fail-on-open]`
and `pitfalls checklist answer ID --status done|na|open`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from pitfalls.checklist.answers import ANSWERS_FILE, STATUSES
from pitfalls.console import fail
from pitfalls.errors import PitfallsError

app = typer.Typer(add_completion=False, invoke_without_command=True,
                  help="The phase checklist: what to check in each phase, filled in from a "
                       "report and the team's answers.")
FORMATS = ("text", "md", "html", "json")
log = logging.getLogger(__name__)



def read_report(path: Path) -> tuple[str, dict[str, Any]]:
    """(the report.html beside it, or '', the report.json as a dict)."""
    from pitfalls.report.read import read_report_json

    file, data = read_report_json(path)
    html = file.with_name("report.html")
    return (str(html) if html.is_file() else ""), data


@app.callback()
def checklist(
    ctx: typer.Context,
    stage: Annotated[str, typer.Option(help="poc, pilot or production: the items that stage needs.")] = "production",
    report: Annotated[list[Path] | None, typer.Option("--report", "-r", help="A scan's report folder or report.json (repeatable; bench.json too).")] = None,
    answers: Annotated[Path, typer.Option(help="The team's answers file.")] = Path(ANSWERS_FILE),
    format: Annotated[str, typer.Option("--format", "-f", help="text, md, html or json.")] = "text",
    lang: Annotated[str | None, typer.Option(help="en or ja (default: the config's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (html default: pitfalls-checklist.html).")] = None,
    fail_on_open: Annotated[bool, typer.Option("--fail-on-open", help="Exit 1 when an item of the stage is open or failed.")] = False,
) -> None:
    """The phase checklist: automated items decided from --report, manual ones from --answers."""
    if ctx.invoked_subcommand is not None:
        return
    from pitfalls.cases import all_cases
    from pitfalls.checklist.answers import read_answers
    from pitfalls.checklist.evaluate import fill
    from pitfalls.checklist.items import STAGES, items
    from pitfalls.config import find_config

    if stage not in STAGES:
        raise fail(f"--stage must be one of {', '.join(STAGES)}, not {stage!r}")
    if format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}")
    try:
        lang = lang or find_config().lang
        if lang not in ("en", "ja"):
            raise fail("--lang must be en or ja")
        reports = [read_report(p) for p in report or []]
        given = read_answers(answers, known=set(items()))
        cases = all_cases()
    except PitfallsError as exc:
        raise fail(str(exc)) from None
    cl = fill(stage, reports, given)
    _write(cl, lang, cases, format, out)
    raise typer.Exit(1 if fail_on_open and cl.open_items() else 0)


def _write(cl: Any, lang: str, cases: dict, format: str, out: Path | None) -> None:
    from pitfalls.checklist.render import (
        checklist_html,
        checklist_json,
        checklist_markdown,
        print_checklist,
    )

    console = Console()
    if format == "text":
        print_checklist(cl, lang, cases, console)
        return
    if format == "html":
        out = out or Path("pitfalls-checklist.html")
    text = {"md": checklist_markdown, "json": checklist_json, "html": checklist_html}[format](
        cl, lang, cases)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    Console(stderr=True).print(f"checklist: [bold]{out.resolve()}[/]")


@app.command()
def answer(
    item_id: Annotated[str, typer.Argument(metavar="ID", help="A checklist item id (see 'pitfalls checklist').")],
    status: Annotated[str, typer.Option(help="done, na (not applicable) or open.")],
    note: Annotated[str | None, typer.Option(help="What was done or decided.")] = None,
    owner: Annotated[str | None, typer.Option(help="Who answers for it.")] = None,
    evidence: Annotated[str | None, typer.Option(help="A link to the evidence.")] = None,
    answers: Annotated[Path, typer.Option(help="The team's answers file.")] = Path(ANSWERS_FILE),
) -> None:
    """Record the team's answer to one item in the answers file."""
    from pitfalls.checklist.answers import set_answer
    from pitfalls.checklist.items import items

    known = items()
    if item_id not in known:
        close = [i for i in known if item_id in i or i in item_id]
        hint = f"; did you mean {', '.join(close)}?" if close else "; run 'pitfalls checklist' for the ids"
        raise fail(f"no checklist item {item_id!r}{hint}")
    if status not in STATUSES:
        raise fail(f"--status must be one of {', '.join(STATUSES)}")
    try:
        set_answer(answers, item_id, list(known), status=status, note=note, owner=owner,
                   evidence=evidence)
    except PitfallsError as exc:
        raise fail(str(exc)) from None
    Console().print(f"{item_id}: [bold]{status}[/] → {answers}")
