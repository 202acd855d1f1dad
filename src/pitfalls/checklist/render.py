"""The filled checklist as a terminal table grouped by phase (with progress), Markdown for a pull
request or wiki, a self-contained HTML page and JSON."""

from __future__ import annotations

import json
from typing import Any

from pitfalls.cases import Case
from pitfalls.cases.render import PHASE_LABELS
from pitfalls.checklist.evaluate import Checklist, Result
from pitfalls.checklist.items import PHASES

LABELS = {
    "en": {"title": "Checklist", "stage": "stage", **PHASE_LABELS["en"],
           "passed": "passed", "failed": "failed", "not_run": "not run", "done": "done",
           "na": "n/a", "open": "open", "item": "item", "question": "question",
           "status": "status", "evidence": "Evidence / answer", "why": "Why it matters",
           "how": "How to check", "cases": "Cases", "team": "team case", "readiness": "readiness",
           "overall": "Readiness (lowest phase, ML Test Score manner)", "closed": "closed",
           "rules": "rules", "owner": "owner", "note": "note", "mlts": "ML Test Score",
           "qa4ai": "QA4AI", "auto": "automated", "manual": "manual",
           "unanswered": "manual, not answered yet", "reports": "reports",
           "none": "none", "open_left": "{n} item(s) still open or failed",
           "all_closed": "every item of this stage is closed",
           "points": "an automated item that passed in the report earns 1 point, an item the "
                     "team answered 'done' earns 0.5, a failed or open one 0; 'n/a' items leave "
                     "the maximum"},
    "ja": {"title": "チェックリスト", "stage": "段階", **PHASE_LABELS["ja"],
           "passed": "合格", "failed": "不合格", "not_run": "未実行", "done": "対応済み",
           "na": "対象外", "open": "未対応", "item": "項目", "question": "確認事項",
           "status": "状態", "evidence": "根拠・回答", "why": "なぜ重要か", "how": "確認方法",
           "cases": "事例", "team": "チーム事例", "readiness": "準備度",
           "overall": "準備度（最も低いフェーズ、ML Test Score 方式）", "closed": "完了",
           "rules": "ルール", "owner": "担当", "note": "メモ", "mlts": "ML Test Score",
           "qa4ai": "QA4AI", "auto": "自動", "manual": "手動",
           "unanswered": "手動・未回答", "reports": "レポート",
           "none": "なし", "open_left": "未対応または不合格の項目が {n} 件あります",
           "all_closed": "この段階の項目はすべて完了しています",
           "points": "レポートで合格した自動項目は 1 点、"
                     "チームが「対応済み」と回答した項目は 0.5 点、"
                     "不合格・未対応は 0 点です。「対象外」の項目は満点から除きます。"},
}
STYLE = {"passed": "green", "done": "green", "na": "dim", "failed": "bold red", "not_run": "yellow",
         "open": "yellow"}
MARK = {"passed": "✔", "done": "✔", "na": "–", "failed": "✘", "not_run": "?", "open": "○"}


def labels(lang: str) -> dict[str, str]:
    return LABELS.get(lang, LABELS["en"])


def _text(v: Any, lang: str) -> str:
    if isinstance(v, dict):
        return str(v.get(lang) or v.get("en") or "")
    return "" if v is None else str(v)


def item_cases(r: Result, cases: dict[str, Case]) -> list[Case]:
    """The item's published cases, then the team's cases that name the item."""
    own = [cases[c] for c in r.item.cases if c in cases]
    return own + [c for c in cases.values() if c.team and r.item.id in c.checklist
                  and c not in own]


def result_dict(r: Result, lang: str, cases: dict[str, Case]) -> dict[str, Any]:
    i = r.item
    return {
        "id": i.id, "phase": i.phase, "stages": list(i.stages), "status": r.status,
        "automated": i.automated, "rules": list(i.rules), "evidence_state": r.evidence_state,
        "points": r.points, "question": i.question.get_text(lang), "why": i.why.get_text(lang),
        "how": i.how.get_text(lang), "ml_test_score": i.ml_test_score, "qa4ai": i.qa4ai,
        "evidence": [{"rule": e.rule, "state": e.state, "severity": e.severity,
                      "summary": _text(e.summary, lang) or None, "link": e.link,
                      "reason": e.reason} for e in r.evidence],
        "answer": vars(r.answer) if r.answer else None,
        "cases": [{"id": c.id, "title": c.title.get_text(lang), "source": str(c.source),
                   "team": c.team} for c in item_cases(r, cases)],
    }


def checklist_dict(cl: Checklist, lang: str, cases: dict[str, Case]) -> dict[str, Any]:
    return {"schema_version": 1, "stage": cl.stage, "reports": cl.reports,
            "readiness": cl.readiness(), "score": cl.score(),
            "open": [r.item.id for r in cl.open_items()],
            "items": [result_dict(r, lang, cases) for r in cl.results]}


def checklist_json(cl: Checklist, lang: str, cases: dict[str, Case]) -> str:
    return json.dumps(checklist_dict(cl, lang, cases), ensure_ascii=False, indent=2)


def _evidence_line(r: Result, lab: dict[str, str], lang: str) -> str:
    parts = []
    if r.item.automated:
        failed = sorted({e.rule for e in r.evidence if e.state == "failed"})
        passed = sorted({e.rule for e in r.evidence if e.state == "passed"} - set(failed))
        not_run = sorted({e.rule for e in r.evidence} - set(failed) - set(passed))
        for name, codes in (("failed", failed), ("passed", passed), ("not_run", not_run)):
            if codes:
                parts.append(f"{lab[name]}: {', '.join(codes)}")
    if r.answer:
        who = f" ({r.answer.owner})" if r.answer.owner else ""
        note = f": {r.answer.note}" if r.answer.note else ""
        parts.append(f"{lab[r.answer.status]}{who}{note}")
    return "; ".join(parts) or lab["unanswered"]


def print_checklist(cl: Checklist, lang: str, cases: dict[str, Case], console: Any) -> None:
    """The terminal view: per phase a progress bar and a table of items."""
    from rich.markup import escape
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    lab = labels(lang)
    ready = cl.readiness()
    reports = f"  ({lab['reports']}: {escape(', '.join(cl.reports))})" if cl.reports else ""
    console.print(f"[bold]pitfalls {lab['title']}[/] — {lab['stage']}: [bold]{cl.stage}[/]"
                  + reports)
    for phase in PHASES:
        rs = cl.phase(phase)
        if not rs:
            continue
        rd = ready[phase]
        head = Table.grid(padding=(0, 1))
        head.add_row(f"[bold]{lab[phase]}[/] ({phase})",
                     ProgressBar(total=max(int(rd["total"]), 1), completed=int(rd["closed"]),
                                 width=24),
                     f"{rd['closed']}/{rd['total']} {lab['closed']}",
                     f"· {lab['readiness']} {rd['points']:g}/{rd['max']}")
        console.print()
        console.print(head)
        table = Table(show_header=True, header_style="bold", expand=True)
        table.add_column(lab["status"], no_wrap=True)
        table.add_column(lab["item"], no_wrap=True)
        table.add_column(lab["question"], ratio=3, overflow="fold")
        table.add_column(lab["evidence"], ratio=2, overflow="fold")
        table.add_column(lab["cases"], justify="right")
        for r in rs:
            own = item_cases(r, cases)
            team = "".join(f"\n[magenta]{lab['team']}:[/] {escape(c.title.get_text(lang))}"
                           for c in own if c.team)
            table.add_row(f"[{STYLE[r.status]}]{MARK[r.status]} {lab[r.status]}[/]",
                          escape(r.item.id), escape(r.item.question.get_text(lang)) + team,
                          escape(_evidence_line(r, lab, lang)), str(len(own)))
        console.print(table)
    console.print()
    console.print(f"[bold]{lab['overall']}: {cl.score():g}[/]  [dim]({lab['points']})[/]")
    left = cl.open_items()
    console.print(f"[yellow]{lab['open_left'].format(n=len(left))}[/]" if left
                  else f"[green]{lab['all_closed']}[/]")


def checklist_markdown(cl: Checklist, lang: str, cases: dict[str, Case]) -> str:
    lab = labels(lang)
    ready = cl.readiness()

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"## pitfalls {lab['title']} — {lab['stage']}: {cl.stage}", ""]
    lines += [f"**{lab['overall']}: {cl.score():g}** ({lab['points']})", ""]
    for phase in PHASES:
        rs = cl.phase(phase)
        if not rs:
            continue
        rd = ready[phase]
        lines += [f"### {lab[phase]} — {rd['closed']}/{rd['total']} {lab['closed']}, "
                  f"{lab['readiness']} {rd['points']:g}/{rd['max']}", "",
                  f"| | {lab['item']} | {lab['question']} | {lab['evidence']} |",
                  "|---|---|---|---|"]
        for r in rs:
            ev = cell(_evidence_line(r, lab, lang))
            links = [f"[{e.rule}]({e.link})" for e in r.evidence if e.state == "failed" and e.link]
            if links:
                ev += " · " + " ".join(links)
            lines.append(f"| {MARK[r.status]} {lab[r.status]} | `{r.item.id}` | "
                         f"{cell(r.item.question.get_text(lang))} | {ev} |")
        lines.append("")
        lines.append("<details><summary>" + lab["why"] + "</summary>")
        lines.append("")
        for r in rs:
            refs = "; ".join(("**" + lab["team"] + ":** " if c.team else "") + _case_ref(c, lang)
                             for c in item_cases(r, cases))
            lines += [f"- `{r.item.id}` — {r.item.why.get_text(lang)} *{lab['how']}:* "
                      f"{r.item.how.get_text(lang)} *{lab['cases']}:* {refs}"]
        lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def _case_ref(c: Case, lang: str) -> str:
    """A case as a short Markdown reference: its title linked to its source (or the citation)."""
    title = c.title.get_text(lang).replace("[", "(").replace("]", ")")
    link = c.source.link
    if link and link.startswith(("https://", "http://")):
        return f"[{title}]({link}) ({c.year})"
    return f"{title} ({c.source.citation})"


def checklist_html(cl: Checklist, lang: str, cases: dict[str, Case]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("pitfalls.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    data = checklist_dict(cl, lang, cases)
    return env.get_template("checklist.html.j2").render(
        c=data, lab=labels(lang), lang=lang, phases=PHASES, mark=MARK)


def items_markdown() -> str:
    """The checklist as a documentation page, in English and Japanese (`docs/checklist.md`)."""
    from pitfalls.cases import published
    from pitfalls.checklist.items import items

    lib = published()
    lines = ["# The phase checklist", "",
             "<!-- Generated by `python -m pitfalls.docs` from src/pitfalls/checklist/items.toml; "
             "do not edit by hand. -->", "",
             "What to check in each phase of an image-recognition project. "
             "`pitfalls checklist --stage poc|pilot|production --report DIR` fills the automated "
             "items from a scan's report.json; the team answers the others in "
             "`pitfalls-checklist.toml` (`pitfalls checklist answer ID --status done`). "
             "See [the command's page](commands/checklist.md) and [the case library](cases.md).",
             "",
             "| id | phase | stages | decided by | ML Test Score | QA4AI | question | 確認事項 |",
             "|---|---|---|---|---|---|---|---|"]
    for i in items().values():
        lines.append(f"| [{i.id}](#{i.id}) | {i.phase} | {', '.join(i.stages)} | "
                     f"{', '.join(i.rules) or 'team answer'} | {i.ml_test_score or '—'} | "
                     f"{i.qa4ai or '—'} | {i.question['en']} | {i.question['ja']} |")
    lines.append("")
    for phase in PHASES:
        lines += [f"## {phase}: {LABELS['en'][phase]} / {LABELS['ja'][phase]}", ""]
        for i in (x for x in items().values() if x.phase == phase):
            lines += [f"<a id=\"{i.id}\"></a>", "", f"### `{i.id}` {i.question['en']}", "",
                      f"{i.question['ja']}", "",
                      f"stages: {', '.join(i.stages)} · decided by: "
                      f"{', '.join(i.rules) or 'the team (answers file)'}"
                      + (f" · ML Test Score: {i.ml_test_score}" if i.ml_test_score else "")
                      + (f" · QA4AI: {i.qa4ai}" if i.qa4ai else "")
                      + (f" · expectation sheet: `{i.sheet}`" if i.sheet else ""), "",
                      f"- **Why it matters.** {i.why['en']}", f"- **How to check.** {i.how['en']}",
                      f"- **なぜ重要か。** {i.why['ja']}", f"- **確認方法。** {i.how['ja']}",
                      "- **Cases:** " + "; ".join(
                          f"[{lib[c].title['en']}](cases.md#{c}) ({lib[c].year})" for c in i.cases),
                      ""]
    return "\n".join(lines).rstrip() + "\n"
