"""Rule documentation as data: the catalogue table and one rule's page, for CLI and docs."""

from __future__ import annotations

from rich.markdown import Markdown
from rich.table import Table

from pitfalls.rules import registry

LABELS = {
    "en": {"what": "What it checks", "why": "Why it matters", "fix": "How to fix",
           "cases": "Real cases", "params": "Parameters", "needs": "Needs", "notes": "Notes"},
    "ja": {"what": "何を調べるか", "why": "なぜ問題か", "fix": "直し方", "cases": "実例",
           "params": "パラメータ", "needs": "必要な入力", "notes": "補足"},
}


def rules_table(lang: str = "en") -> Table:
    table = Table(title="pitfalls rules")
    for col in ("code", "phase", "severity", "title"):
        table.add_column(col)
    for code, rule in registry().items():
        table.add_row(code, rule.phase, rule.severity, rule.title.get_text(lang))
    return table


def rule_text(code: str, lang: str = "en") -> str:
    """One rule's documentation as Markdown."""
    rule = registry()[code]
    lab = LABELS.get(lang, LABELS["en"])
    d = rule.doc
    lines = [f"# {code} {rule.name}: {rule.title.get_text(lang)}", "",
             f"phase: {rule.phase} · severity: {rule.severity} · {lab['needs']}: "
             f"{', '.join(sorted(rule.needs))}", "",
             f"## {lab['what']}", d.what.get_text(lang), "",
             f"## {lab['why']}", d.why.get_text(lang), "",
             f"## {lab['fix']}", d.fix.get_text(lang), ""]
    if d.notes:
        lines += [f"## {lab['notes']}", d.notes.get_text(lang), ""]
    if rule.params:
        lines += [f"## {lab['params']}"]
        lines += [f"- `{k}` = `{p.default!r}`: {p.help}" for k, p in rule.params.items()]
        lines += [""]
    if d.cases:
        lines += [f"## {lab['cases']}"] + [f"- {c}" for c in d.cases]
    return "\n".join(lines)


def rule_markdown(code: str, lang: str = "en") -> Markdown:
    return Markdown(rule_text(code, lang))
