"""Findings and the report that holds them: plain, serialisable records (`report.json`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pitfalls._version import __version__
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


@dataclass
class Report:
    """Everything a scan found. Renders itself in a notebook and saves as JSON and HTML."""

    dataset: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)
    lang: str = "en"
    root: Path | None = None

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        lang = lang or self.lang
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "pitfalls", "version": __version__},
            "lang": lang,
            "dataset": jsonable(self.dataset),
            "findings": [f.to_dict(lang) for f in self.findings],
            "passed": list(self.passed),
            "skipped": jsonable(self.skipped),
            "sections": jsonable(self.sections),
        }

    def to_json(self, lang: str | None = None) -> str:
        return json.dumps(self.to_dict(lang), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, path: str | Path) -> Report:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        root = d.get("dataset", {}).get("root")
        return cls(dataset=d["dataset"], findings=[Finding.from_dict(f) for f in d["findings"]],
                   passed=d.get("passed", []), skipped=d.get("skipped", []),
                   sections=d.get("sections", {}), lang=d.get("lang", "en"),
                   root=Path(root) if root else None)

    # -- questions ---------------------------------------------------------------------------
    def by_rule(self, code: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == code]

    @property
    def codes(self) -> set[str]:
        return {f.rule for f in self.findings}

    def worst(self) -> str | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=severity_rank)

    def exit_code(self, fail_on: str = "error") -> int:
        """1 when a finding is at or above `fail_on` (`never` disables), else 0."""
        if fail_on == "never":
            return 0
        worst = self.worst()
        return int(worst is not None and severity_rank(worst) >= severity_rank(fail_on))

    # -- output ------------------------------------------------------------------------------
    def to_html(self, lang: str | None = None) -> str:
        from pitfalls.report.html import render_html

        return render_html(self, lang or self.lang)

    def save(self, out: str | Path, lang: str | None = None) -> Path:
        """Write `report.json` and `report.html` into `out`; returns the folder."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(self.to_json(lang), encoding="utf-8")
        (out / "report.html").write_text(self.to_html(lang), encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        counts = {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}
        return (f"<Report {self.dataset.get('n_images', '?')} images: {counts['error']} errors, "
                f"{counts['warning']} warnings, {counts['info']} info>")
