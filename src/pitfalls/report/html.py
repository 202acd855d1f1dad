"""Placeholder HTML rendering (replaced by the full template renderer)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pitfalls.findings import Report


def render_html(report: Report, lang: str = "en") -> str:
    rows = "".join(
        f"<li><b>{html.escape(f.rule)}</b> {html.escape(f.summary.get_text(lang))}</li>"
        for f in report.findings
    )
    return f"<html><body><h1>pitfalls</h1><ul>{rows}</ul></body></html>"
