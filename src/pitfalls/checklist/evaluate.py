"""The checklist filled in: items joined with the evidence of one or more report.json files and the
team's answers, with a readiness score per phase in the manner of the ML Test Score.

Status of an item:
- an answer `done` or `na` closes it (the team decided, e.g. after fixing or accepting a finding);
  an answer `open` keeps it open;
- otherwise an automated item is `failed` when one of its rules has a finding at warning or error,
  `passed` when one of its rules passed (and none failed), `not_run` when none of its rules ran;
  a manual item is `open`.

Readiness (Breck et al. 2017): an item earns a full point when it is automated and the report shows
it passed, half a point when the team answered `done` (checked by hand), nothing when it failed or
is open. Items answered `na` leave the maximum. A phase's score is the sum of its points; the
overall score is the lowest phase's, because the weakest phase decides whether a system is ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pitfalls.checklist.answers import Answer
from pitfalls.checklist.items import PHASES, Item, for_stage

FAILING = ("warning", "error")
CLOSED = ("passed", "done", "na")


@dataclass(frozen=True)
class Evidence:
    """What one report says about one rule."""

    rule: str
    state: str  # failed, passed, not_run
    severity: str | None = None
    summary: dict[str, str] | str | None = None
    link: str | None = None
    reason: str | None = None


@dataclass
class Result:
    item: Item
    status: str
    evidence: list[Evidence] = field(default_factory=list)
    answer: Answer | None = None
    points: float = 0.0

    @property
    def closed(self) -> bool:
        return self.status in CLOSED

    @property
    def evidence_state(self) -> str | None:
        if not self.item.automated:
            return None
        states = {e.state for e in self.evidence}
        return "failed" if "failed" in states else "passed" if "passed" in states else "not_run"


@dataclass
class Checklist:
    stage: str
    results: list[Result]
    reports: list[str] = field(default_factory=list)

    def phase(self, phase: str) -> list[Result]:
        return [r for r in self.results if r.item.phase == phase]

    def readiness(self) -> dict[str, dict[str, float | int]]:
        """Per phase: points, maximum (items not answered `na`), closed and total counts."""
        out: dict[str, dict[str, float | int]] = {}
        for p in PHASES:
            rs = self.phase(p)
            out[p] = {"points": sum(r.points for r in rs),
                      "max": sum(1 for r in rs if r.status != "na"),
                      "closed": sum(r.closed for r in rs), "total": len(rs)}
        return out

    def score(self) -> float:
        """The lowest phase's points (ML Test Score: the weakest section decides)."""
        scores = [v["points"] for v in self.readiness().values() if v["total"]]
        return float(min(scores)) if scores else 0.0

    def open_items(self) -> list[Result]:
        return [r for r in self.results if not r.closed]


def rule_evidence(reports: list[tuple[str, dict[str, Any]]]) -> dict[str, list[Evidence]]:
    """Per rule code, what each report says: failing findings (with a link to the finding in the
    report's HTML page), passed, skipped (with the reason)."""
    from pitfalls.report.html import finding_anchors

    out: dict[str, list[Evidence]] = {}
    for where, report in reports:
        findings = [f for f in report.get("findings") or [] if isinstance(f, dict)]
        anchors = finding_anchors(findings)
        for f, anchor in zip(findings, anchors, strict=True):
            rule = str(f.get("rule"))
            state = "failed" if f.get("severity") in FAILING else "passed"
            out.setdefault(rule, []).append(Evidence(
                rule, state, str(f.get("severity")), f.get("summary"),
                f"{where}#{anchor}" if where else None))
        for rule in report.get("passed") or []:
            out.setdefault(str(rule), []).append(Evidence(str(rule), "passed"))
        for s in report.get("skipped") or []:
            if isinstance(s, dict) and s.get("rule"):
                out.setdefault(str(s["rule"]), []).append(
                    Evidence(str(s["rule"]), "not_run", reason=str(s.get("reason") or "")))
    return out


def fill(stage: str, reports: list[tuple[str, dict[str, Any]]],
         answers: dict[str, Answer]) -> Checklist:
    """The checklist for `stage` from `(report.html path or '', report.json dict)` pairs and the
    team's answers."""
    by_rule = rule_evidence(reports)
    results = []
    for item in for_stage(stage):
        evidence = [e for code in item.rules for e in by_rule.get(code, [])]
        evidence += [Evidence(code, "not_run") for code in item.rules if code not in by_rule]
        r = Result(item, "open", evidence, answers.get(item.id))
        state = r.evidence_state
        if r.answer is not None and r.answer.status in ("done", "na", "open"):
            r.status = r.answer.status
        elif state is not None:
            r.status = state
        if r.status == "na":
            r.points = 0.0
        elif state == "passed":
            r.points = 1.0
        elif r.status == "done" and state != "failed":
            r.points = 0.5
        results.append(r)
    return Checklist(stage, results, [w for w, _ in reports])
