"""The image paths that a scan's findings name, from a `Report` or a loaded report.json."""

from __future__ import annotations

from typing import Any

from pitfalls.report.document import Report


def flagged_paths(report: Report | dict[str, Any], prefix: str,
                  severity: str | None = None) -> set[str]:
    """Paths in the items of the findings whose rule code starts with `prefix` (a code or a
    family), of one `severity` when given."""
    if isinstance(report, dict):
        found = [(f["rule"], f["severity"], f["items"]) for f in report["findings"]]
    else:
        found = [(f.rule, f.severity, f.items) for f in report.findings]
    return {p for rule, level, items in found
            if rule.startswith(prefix) and severity in (None, level)
            for item in items for p in item.get("paths", [])}
