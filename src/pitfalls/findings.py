"""Findings: plain, serialisable records of what a rule found (the entries of `report.json`).

Rules produce them and reports read them; the `Report` that holds a scan's findings and renders
them is `pitfalls.report.document.Report`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pitfalls.text import T

SCHEMA_VERSION = 1
SEVERITIES = ("info", "warning", "error")
PHASES = ("research", "system", "production")


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for error."""
    return SEVERITIES.index(severity)


def jsonable(value: Any) -> Any:
    """Convert NumPy scalars/arrays, paths and NaN into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return value.as_posix()
    return value


@dataclass
class Finding:
    """One pitfall found: which rule, how bad, the numbers and the images that show it."""

    rule: str
    phase: str
    severity: str
    title: T
    summary: T
    metrics: dict[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "rule": self.rule,
            "phase": self.phase,
            "severity": self.severity,
            "title": self.title.get_text(lang),
            "summary": self.summary.get_text(lang),
            "metrics": jsonable(self.metrics),
            "items": jsonable(self.items),
            "text": {k: {"title": self.title.get_text(k), "summary": self.summary.get_text(k)}
                     for k in self.title},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        text = d.get("text") or {}
        title = T(**{k: v["title"] for k, v in text.items()}) if text else T(d["title"])
        summary = T(**{k: v["summary"] for k, v in text.items()}) if text else T(d["summary"])
        return cls(rule=d["rule"], phase=d["phase"], severity=d["severity"], title=title,
                   summary=summary, metrics=d.get("metrics", {}), items=d.get("items", []))
