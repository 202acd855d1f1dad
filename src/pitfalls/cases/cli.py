"""`pitfalls cases [QUERY] [--phase P] [--rule CODE]`, `pitfalls cases new [ID]` and
`pitfalls cases export DIR`: the case library on the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown

from pitfalls.console import fail
from pitfalls.errors import PitfallsError

FORMATS = ("text", "md", "html", "json", "toml")



def cases(
    words: Annotated[list[str] | None, typer.Argument(
        metavar="[QUERY]... | new [ID] | export DIR",
        help="Words to search for (a case id shows that case), or 'new [ID]' to write a "
             "template for a team case, or 'export DIR' to write the team's cases as TOML files.")] = None,
    phase: Annotated[str | None, typer.Option(help="research, system or production.")] = None,
    rule: Annotated[str | None, typer.Option(help="Cases illustrating this rule code (or prefix).")] = None,
    lang: Annotated[str | None, typer.Option(help="en or ja (default: the config's).")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="text, md, html, json or toml.")] = "text",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (html default: pitfalls-cases.html).")] = None,
    team_only: Annotated[bool, typer.Option("--team", help="Only the team's cases.")] = False,
) -> None:
    """The case library: real, published cases of each pitfall, and the team's own."""
    from pitfalls.cases import all_cases, search, team_cases

    words = list(words or [])
    if lang is None:
        from pitfalls.config import find_config

        try:
            lang = find_config().lang
        except PitfallsError as exc:
            raise fail(str(exc)) from None
    if lang not in ("en", "ja") or format not in FORMATS:
        raise fail(f"--lang must be en or ja; --format one of {', '.join(FORMATS)}")
    if phase is not None and phase not in ("research", "system", "production"):
        raise fail("--phase must be research, system or production")
    try:
        if words[:1] == ["new"]:
            _new(words[1] if len(words) > 1 else None, out)
            return
        if words[:1] == ["export"]:
            if len(words) != 2:
                raise fail("usage: pitfalls cases export DIR")
            chosen = search(team_cases(), None, phase=phase, rule=rule)
            _export(chosen, Path(words[1]))
            return
        library = team_cases() if team_only else all_cases()
    except PitfallsError as exc:
        raise fail(str(exc)) from None
    query = " ".join(words)
    chosen = [library[query]] if query in library else search(library, query, phase=phase, rule=rule)
    _show(chosen, lang, format, out, single=query in library)


def _show(chosen: list, lang: str, format: str, out: Path | None, single: bool) -> None:
    from pitfalls.cases.render import (
        book_html,
        book_markdown,
        case_markdown,
        case_toml,
        cases_json,
        cases_table,
        labels,
    )

    console = Console()
    if format == "text":
        if not chosen:
            console.print(labels(lang)["none"])
        elif single:
            console.print(Markdown(case_markdown(chosen[0], lang)))
        else:
            console.print(cases_table(chosen, lang))
            console.print(f"[dim]{len(chosen)} · pitfalls cases ID[/]")
        return
    if format == "html":
        target = out or Path("pitfalls-cases.html")
        target.write_text(book_html(chosen, lang), encoding="utf-8")
        console.print(f"case book: [bold]{target.resolve()}[/]")
        return
    text = {"md": lambda: book_markdown(chosen, lang), "json": lambda: cases_json(chosen, lang),
            "toml": lambda: "\n".join(f"# ===== {c.id}.toml =====\n{case_toml(c)}"
                                      for c in chosen)}[format]()
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote [bold]{out.resolve()}[/]")
    else:
        typer.echo(text, nl=False)


def _new(case_id: str | None, out: Path | None) -> None:
    from pitfalls.cases.library import ID, team_dirs
    from pitfalls.cases.render import TEMPLATE

    today = dt.date.today()
    case_id = case_id or f"incident-{today:%Y-%m-%d}"
    if not ID.match(case_id):
        raise fail(f"case id {case_id!r}: use lower-case letters, digits and hyphens")
    dirs = team_dirs()
    folder = out or (dirs[0] if dirs else Path("."))
    target = folder if folder.suffix == ".toml" else folder / f"{case_id}.toml"
    if target.exists():
        raise fail(f"{target} already exists; choose another id")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(TEMPLATE.format(id=case_id, year=today.year), encoding="utf-8")
    Console().print(f"wrote [bold]{target}[/]: fill it in"
                    + ("" if dirs else "; add its folder to `case-dirs` in [tool.pitfalls] "
                                       "so that the checklist and reports show it"))


def _export(chosen: list, folder: Path) -> None:
    from pitfalls.cases.render import case_toml

    folder.mkdir(parents=True, exist_ok=True)
    for c in chosen:
        (folder / f"{c.id}.toml").write_text(case_toml(c), encoding="utf-8")
    Console().print(f"exported {len(chosen)} team case(s) to [bold]{folder.resolve()}[/]")
