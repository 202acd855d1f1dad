"""The checklist items as data (`items.toml`, shipped in the package): what to check in each phase
of an image-recognition project, for which stage, and the real cases behind each item."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pitfalls.text import T

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PHASES = ("research", "system", "production")
STAGES = ("poc", "pilot", "production")
QA4AI = ("Data Integrity", "Model Robustness", "System Quality", "Process Agility",
         "Customer Expectation")
ML_TEST_SCORE_SECTIONS = ("Data", "Model", "Infra", "Monitor")
"""Breck et al. (2017): seven tests in each of four sections, e.g. "Monitor 3"."""


@dataclass(frozen=True)
class Item:
    id: str
    phase: str
    stages: tuple[str, ...]
    question: T
    why: T
    how: T
    cases: tuple[str, ...]
    rules: tuple[str, ...] = ()
    ml_test_score: str | None = None
    qa4ai: str | None = None
    sheet: str | None = None

    @property
    def automated(self) -> bool:
        """Decided by rules from a report.json (else answered by the team)."""
        return bool(self.rules)

    def applies(self, stage: str) -> bool:
        return stage in self.stages


def _item(d: dict[str, Any]) -> Item:
    def text(key: str) -> T:
        return T(d[key]["en"], d[key]["ja"])

    return Item(id=d["id"], phase=d["phase"], stages=tuple(d["stages"]),
                question=text("question"), why=text("why"), how=text("how"),
                cases=tuple(d["cases"]), rules=tuple(d.get("rules", ())),
                ml_test_score=d.get("ml_test_score"), qa4ai=d.get("qa4ai"),
                sheet=d.get("sheet"))


@cache
def items() -> dict[str, Item]:
    """Every checklist item by id, in checklist order (research, system, production)."""
    raw = (resources.files("pitfalls.checklist") / "items.toml").read_text(encoding="utf-8")
    listed = [_item(d) for d in tomllib.loads(raw)["item"]]
    ordered = sorted(listed, key=lambda i: PHASES.index(i.phase))  # stable within a phase
    return {i.id: i for i in ordered}


def for_stage(stage: str) -> list[Item]:
    return [i for i in items().values() if i.applies(stage)]


def sheet_questions() -> dict[str, Item]:
    """The items the expectation sheet asks as 'questions no tool can answer', by sheet key."""
    return {i.sheet: i for i in items().values() if i.sheet}
