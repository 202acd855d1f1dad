"""The terminal summary: one table of findings, printed with rich."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pitfalls.findings import Report, severity_rank

STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
HEAD = {
    "en": ("Rule", "Severity", "Phase", "Finding", "images", "unreadable", "passed", "skipped"),
    "ja": ("ルール", "重大度", "フェーズ", "内容", "画像", "読込不可", "合格", "スキップ"),
}


def print_summary(report: Report, console: Console | None = None, lang: str | None = None) -> None:
    """Print the dataset line and a table of findings, worst first."""
    console = console or Console()
    lang = lang or report.lang
    h = HEAD.get(lang, HEAD["en"])
    d = report.dataset
    console.print(
        f"[bold]pitfalls[/] {d.get('root', '')}: {d.get('n_images', 0)} {h[4]}, "
        f"{d.get('n_unreadable', 0)} {h[5]}, splits {d.get('splits', {})}"
    )
    table = Table(show_lines=False)
    for col in h[:4]:
        table.add_column(col)
    for f in sorted(report.findings, key=lambda f: (-severity_rank(f.severity), f.rule)):
        table.add_row(f.rule, f"[{STYLE[f.severity]}]{f.severity}[/]", f.phase,
                      f.summary.get_text(lang))
    if report.findings:
        console.print(table)
    console.print(f"{h[6]}: {', '.join(report.passed) or '-'}")
    if report.skipped:
        console.print(f"{h[7]}: " + ", ".join(s["rule"] for s in report.skipped), style="dim")
