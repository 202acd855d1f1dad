"""The report of a scan: its findings, the rules that passed or were skipped, and the sections
(`report.json`, version 1); it saves itself as JSON and HTML and renders in a notebook."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitfalls._version import __version__
from pitfalls.findings import SCHEMA_VERSION, SEVERITIES, Finding, jsonable, severity_rank


@dataclass
class Report:
    """Everything a scan found. Renders itself in a notebook and saves as JSON and HTML."""

    dataset: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)  # rules that raised
    sections: dict[str, Any] = field(default_factory=dict)
    lang: str = "en"
    root: Path | None = None
    reference: Any = field(default=None, repr=False, compare=False)
    """The monitor's reference profile (`pitfalls.monitor.reference.Profile`), written by
    `save` into `reference/` beside the report; None without predictions."""

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
            "errors": jsonable(self.errors),
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
                   errors=d.get("errors", []), sections=d.get("sections", {}),
                   lang=d.get("lang", "en"),
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
        """2 when a rule raised (whatever `fail_on`: its findings are unknown), 1 when a
        finding is at or above `fail_on` (`never` disables), else 0."""
        if self.errors:
            return 2
        if fail_on == "never":
            return 0
        worst = self.worst()
        return int(worst is not None and severity_rank(worst) >= severity_rank(fail_on))

    # -- output ------------------------------------------------------------------------------
    def to_html(self, lang: str | None = None) -> str:
        from pitfalls.report.html import render_html  # jinja2 and the templates: only for HTML

        return render_html(self, lang or self.lang)

    def save(self, out: str | Path, lang: str | None = None) -> Path:
        """Write `report.json` and `report.html` into `out`; returns the folder."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(self.to_json(lang), encoding="utf-8")
        (out / "report.html").write_text(self.to_html(lang), encoding="utf-8")
        if self.reference is not None:
            self.reference.write(out / "reference", self.to_dict())
        return out

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        counts = {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}
        return (f"<Report {self.dataset.get('n_images', '?')} images: {counts['error']} errors, "
                f"{counts['warning']} warnings, {counts['info']} info>")
