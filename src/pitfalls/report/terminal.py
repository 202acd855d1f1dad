"""The terminal summary: the dataset line, one table of findings (worst first), passed and
skipped."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pitfalls.findings import severity_rank
from pitfalls.report.document import Report
from pitfalls.report.messages import messages, split_name

STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def print_summary(report: Report, console: Console | None = None, lang: str | None = None) -> None:
    """Print the dataset line and a table of findings, worst first, in `lang`."""
    console = console or Console()
    lang = lang or report.lang
    m = messages(lang)
    d = report.dataset
    splits = ", ".join(f"{split_name(str(k), lang)} {v}"
                       for k, v in (d.get("splits") or {}).items())
    console.print(
        f"[bold]pitfalls[/] {escape(str(d.get('root', '')))}: "
        + m["count_line"].format(n=d.get("n_images", 0), u=d.get("n_unreadable", 0))
        + f"; {m['splits']}: {escape(splits) or m['no_splits']}"
    )
    for note in d.get("notes") or []:
        console.print(f"  {escape(str(note))}", style="dim")
    table = Table(show_lines=False)
    for col in (m["rule"], m["severity"], m["phase"], m["findings"]):
        table.add_column(col)
    for f in sorted(report.findings, key=lambda f: (-severity_rank(f.severity), f.rule)):
        severity = m.get("sev." + f.severity, f.severity)
        table.add_row(f.rule, f"[{STYLE.get(f.severity, '')}]{severity}[/]",
                      m.get("phase_short." + f.phase, f.phase), escape(f.summary.get_text(lang)))
    if report.findings:
        console.print(table)
    else:
        console.print(m["no_findings"], style="green")
    for e in report.errors:
        console.print(f"[bold red]{escape(m['internal_error'])}:[/] "
                      f"{escape(str(e.get('rule', '?')))}: {escape(str(e.get('error', '')))}")
    if report.errors:
        rules = ", ".join(str(e.get("rule", "?")) for e in report.errors)
        console.print(escape(m["internal_error_line"].format(rules=rules)), style="bold red")
    console.print(f"{m['passed']}: {', '.join(report.passed) or '-'}")
    if report.skipped:
        console.print(f"{m['skipped']}: " + ", ".join(s["rule"] for s in report.skipped),
                      style="dim")
