"""The after-release report: the expectation sheet's second edition, one printable page.

`render_after_release` reads only window summaries (`windows.summary`), the MON findings of the
period and what was promised (the agreed range, the lab accuracy), and says in plain words what
was promised, what was measured since, and where and why they differ. Same style and words as
the expectation sheet (`pitfalls.sheet`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape

from pitfalls.findings import Finding
from pitfalls.monitor.analysis.estimate import wilson
from pitfalls.sheet import in_words
from pitfalls.text import check_lang

BAND, ESTIMATE, ATC, REALISED = "#cfe8cf", "#1f77b4", "#9467bd", "#d62728"


def _pooled(windows: Sequence[dict[str, Any]], value: str, n: str) -> tuple[float | None, int]:
    pairs = [(w[value], w[n]) for w in windows if w.get(value) is not None and w.get(n)]
    total = sum(k for _, k in pairs)
    return (sum(v * k for v, k in pairs) / total if total else None), total


def accuracy_chart(windows: Sequence[dict[str, Any]], band: tuple[float, float] | None,
                   lang: str = "en", width: int = 640, height: int = 220) -> str:
    """Estimated, ATC and realised accuracy per window against the agreed band (inline SVG)."""
    if not windows:
        return ""
    left, right, top, bottom = 40, 150, 10, 24
    pw, ph = width - left - right, height - top - bottom
    vals = [w.get(k) for w in windows for k in ("estimated_accuracy", "atc_estimate",
                                                 "realised_accuracy")]
    finite = [v for v in vals if v is not None] + (list(band) if band else [])
    lo = max(0.0, np.floor(min(finite, default=0.5) * 10) / 10 - 0.05)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + pw * (i + 0.5) / len(windows)
        return x, top + ph * (1 - (v - lo) / max(1.0 - lo, 1e-6))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-size="10" role="img">']
    if band:
        _, y1 = xy(0, band[1])
        _, y0 = xy(0, band[0])
        parts.append(f'<rect x="{left}" y="{y1:.1f}" width="{pw}" height="{y0 - y1:.1f}" '
                     f'fill="{BAND}"/>')
    for v in np.arange(np.ceil(lo * 10 - 1e-9) / 10, 1.0001, 0.1):
        _, y = xy(0, float(v))
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{left - 4}" y="{y + 3:.1f}" '
                     f'text-anchor="end">{v:.0%}</text>')
    names = {"estimated_accuracy": ("推定", "estimated", ESTIMATE),
             "atc_estimate": ("ATC", "ATC", ATC), "realised_accuracy": ("実測", "realised",
                                                                     REALISED)}
    row = 0
    for key, (ja, en, colour) in names.items():
        pts = [xy(i, w[key]) for i, w in enumerate(windows) if w.get(key) is not None]
        if not pts or (key == "atc_estimate" and all(
                w.get("estimate_method") != "replay" for w in windows)):
            continue  # ATC is drawn apart only when the estimate is something else
        if key == "realised_accuracy":
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>'
                      for x, y in pts]
        else:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                         f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}"/>')
        parts.append(f'<text x="{left + pw + 8}" y="{top + 12 + 14 * row}" fill="{colour}">'
                     f'{escape(ja if lang == "ja" else en)}</text>')
        row += 1
    if band:
        parts.append(f'<text x="{left + pw + 8}" y="{top + 12 + 14 * row}" fill="#2a7a2a">'
                     f'{"合意した範囲" if lang == "ja" else "agreed range"}</text>')
    first, last = windows[0]["start"][:10], windows[-1]["start"][:10]
    parts.append(f'<text x="{left}" y="{height - 6}">{escape(first)}</text>'
                 f'<text x="{left + pw}" y="{height - 6}" text-anchor="end">{escape(last)}'
                 '</text></svg>')
    return "".join(parts)


def after_release_data(windows: Sequence[dict[str, Any]], findings: Sequence[Finding],
                       expected_range: tuple[float, float] | None,
                       lab_accuracy: float | None = None, lab_ci: list[float] | None = None,
                       lang: str = "en") -> dict[str, Any]:
    """Everything the page shows, from the period's windows (over all sources, time order)."""
    windows = sorted(windows, key=lambda w: w["start"])
    est, n_est = _pooled(windows, "estimated_accuracy", "n")
    real, n_real = _pooled(windows, "realised_accuracy", "n_labelled")
    real_ci = wilson(round(real * n_real), n_real) if real is not None else None
    measured = real if real is not None else est
    verdict = None
    if expected_range is not None and measured is not None:
        verdict = "below" if measured < expected_range[0] else "within"
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.rule, str(f.metrics.get("source", "*"))), []).append(f)
    problems = []
    for (rule, source), fs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        starts = sorted(str(f.metrics.get("window_start", ""))[:16].replace("T", " ")
                        for f in fs)
        problems.append({"rule": rule, "source": source, "windows": len(fs),
                         "title": fs[-1].title.get_text(lang),
                         "summary": fs[-1].summary.get_text(lang),
                         "first": starts[0], "last": starts[-1]})
    mid = None if expected_range is None else sum(expected_range) / 2
    return {
        "period": (windows[0]["start"][:16].replace("T", " "),
                   windows[-1]["end"][:16].replace("T", " ")) if windows else ("-", "-"),
        "n": sum(int(w.get("n") or 0) for w in windows),
        "sources": sorted({f.metrics.get("source") for f in findings} - {"*", None}),
        "promised": {"words": in_words(mid, list(expected_range), lang)
                     if expected_range else None},
        "lab": {"words": in_words(lab_accuracy, lab_ci, lang)
                if lab_accuracy is not None else None},
        "estimated": {"value": est, "n": n_est, "words": in_words(est, None, lang)},
        "realised": {"value": real, "n": n_real, "ci": real_ci,
                     "words": in_words(real, real_ci, lang)},
        "method": "replay" if any(w.get("estimate_method") == "replay" for w in windows)
        else "atc",
        "verdict": verdict, "problems": problems[:8],
        "chart": accuracy_chart(windows, expected_range, lang),
    }


def render_after_release(windows: Sequence[dict[str, Any]], findings: Sequence[Finding],
                         expected_range: tuple[float, float] | None, *,
                         lab_accuracy: float | None = None, lab_ci: list[float] | None = None,
                         sources: Sequence[str] = (), lang: str = "en") -> str:
    """The after-release report as one printable HTML page (English or Japanese)."""
    check_lang(lang)
    data = after_release_data(windows, findings, expected_range, lab_accuracy, lab_ci, lang)
    if sources:
        data["sources"] = sorted(set(sources))
    env = Environment(loader=PackageLoader("pitfalls.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("after_release.html.j2").render(r=data, lang=lang).lstrip()
