"""The after-release report: the expectation sheet's second edition, one printable page.

`render_after_release` reads only window summaries (`windows.summary`), the MON findings of the
period and what was promised (the agreed range, the lab accuracy), and says in plain words what
was promised, what was measured since, and where and why they differ. Same style and words as
the expectation sheet (`pitfalls.sheet`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape

from pitfalls.findings import Finding
from pitfalls.monitor.analysis.estimate import wilson
from pitfalls.sheet import in_words
from pitfalls.text import T, check_lang

BAND, ESTIMATE, ATC, REALISED = "#cfe8cf", "#1f77b4", "#9467bd", "#d62728"
MAX_ROWS = 14
"""Windows listed one per row; a longer period is shown by the chart alone."""
MAX_SOURCES, MAX_RULES, MAX_ITEMS, MAX_ALERTS = 4, 3, 6, 5
"""What one page holds: the sources told about, the rules told per source and in all, the
alerts listed."""


def _pooled(windows: Sequence[dict[str, Any]], value: str, n: str) -> tuple[float | None, int]:
    pairs = [(w[value], w[n]) for w in windows if w.get(value) is not None and w.get(n)]
    total = sum(k for _, k in pairs)
    return (sum(v * k for v, k in pairs) / total if total else None), total


def _when(value: Any, every: str = "1h") -> str:
    """A window start or an alert time as the page writes it (UTC)."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value or "")
    text = text[:16].replace("T", " ")
    return text[:10] if every == "1d" else text


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and v == v


def _ci(ci: Any) -> list[float] | None:
    return list(ci) if isinstance(ci, list | tuple) and len(ci) == 2 and all(
        _finite(v) for v in ci) else None


def accuracy_chart(windows: Sequence[dict[str, Any]], band: tuple[float, float] | None,
                   lang: str = "en", width: int = 640, height: int = 160) -> str:
    """Estimated, ATC and realised accuracy per window against the agreed band (inline SVG)."""
    if not windows:
        return ""
    left, right, top, bottom = 40, 150, 10, 24
    pw, ph = width - left - right, height - top - bottom
    vals = [w.get(k) for w in windows for k in ("estimated_accuracy", "atc_estimate",
                                                 "realised_accuracy")]
    cis = [v for w in windows if w.get("estimated_accuracy") is not None
           for v in (_ci(w.get("ci")) or [])]
    finite = [v for v in vals if v is not None] + cis + (list(band) if band else [])
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
    spans = [(i, ci) for i, w in enumerate(windows)
             if w.get("estimated_accuracy") is not None and (ci := _ci(w.get("ci")))]
    if spans:  # the estimate's 95% interval, under its line
        upper = [xy(i, ci[1]) for i, ci in spans]
        lower = [xy(i, ci[0]) for i, ci in reversed(spans)]
        parts.append(f'<polygon fill="{ESTIMATE}" fill-opacity="0.15" stroke="none" '
                     f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower)}"/>')
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


PLAIN = {
    "MON001": T("Photos are now taken under other conditions than the test photos (light, focus, "
                "noise, compression or colour): the model sees pictures it was not tested on.",
                "写真の撮影条件（明るさ・ピント・ノイズ・圧縮・色）がテスト写真と変わり、モデルは"
                "試験していない種類の写真を見ています。"),
    "MON002": T("The accuracy estimated without answers is below the agreed range.",
                "正解ラベルなしで推定した正解率が、合意した範囲を下回っています。"),
    "MON003": T("The model answers with a different mix of classes than before: either the "
                "world changed, or the model is confused.",
                "モデルが答えるクラスの割合が変わりました。現場の実態が変わったか、モデルが"
                "迷っているかのどちらかです。"),
    "MON004": T("The model is less sure of its answers than on the test photos, a sign that it "
                "is wrong more often.",
                "モデルの確信度がテスト写真のときより下がっています。間違いが増えている兆候です。"),
    "MON005": T("More photos look unlike anything the model learned from.",
                "学習に使った写真とは似ていない写真が増えています。"),
    "MON006": T("Checked against the true answers, the accuracy is below the agreed range.",
                "正解と照らし合わせた実際の正解率が、合意した範囲を下回っています。"),
    "MON007": T("More photos cannot be used at all: too dark, too bright, blurred or unreadable.",
                "暗すぎる・明るすぎる・ぼやけている・読めないなど、そもそも使えない写真が"
                "増えています。"),
    "MON008": T("A camera or site stopped sending photos: nobody sees what happens there.",
                "カメラや拠点から写真が届かなくなりました。そこで何が起きているか見えていません。"),
}
"""Each MON rule's finding, said for people who do not read the rule catalogue."""
STATES = {"open": T("open", "対応待ち"), "acknowledged": T("acknowledged", "対応中"),
          "resolved": T("resolved", "解決済み")}


def window_rows(windows: Sequence[dict[str, Any]], findings: Sequence[Finding],
                expected_range: tuple[float, float] | None) -> list[dict[str, Any]]:
    """One row per window: inputs, estimated accuracy (and ATC beside a capture replay),
    realised accuracy, each with its interval, and the rules that fired in it."""
    fired: dict[str, set[str]] = {}
    for f in findings:
        fired.setdefault(str(f.metrics.get("window_start", "")), set()).add(f.rule)
    rows = []
    for w in windows:
        est: Any = w.get("estimated_accuracy")
        ci = _ci(w.get("ci"))
        top = ci[1] if ci else (float(est) if _finite(est) else None)  # clearly below
        below = expected_range is not None and top is not None and top < expected_range[0]
        rows.append({
            "when": _when(w["start"], str(w.get("every", "1h"))), "n": int(w.get("n") or 0),
            "est": est if _finite(est) else None, "est_ci": ci,
            "method": w.get("estimate_method"),
            "atc": w.get("atc_estimate") if w.get("estimate_method") == "replay" else None,
            "atc_ci": _ci(w.get("atc_ci")),
            "real": w.get("realised_accuracy") if _finite(w.get("realised_accuracy")) else None,
            "real_ci": _ci(w.get("realised_ci")), "n_labelled": int(w.get("n_labelled") or 0),
            "below": bool(below), "rules": sorted(fired.get(str(w["start"]), ())),
        })
    return rows


def _stamp(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else 0.0


def alert_rows(alerts: Sequence[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The service's alerts of the period as the page lists them."""
    out = []
    for a in alerts:
        title = a.get("title")
        state = str(a.get("state", ""))
        out.append({"rule": a.get("rule"), "source": str(a.get("source", "*")),
                    "state": STATES[state].get_text(lang) if state in STATES else state,
                    "open": state != "resolved", "opened": _when(a.get("opened")),
                    "resolved": _when(a.get("resolved")) if a.get("resolved") else "",
                    "title": title.get_text(lang) if isinstance(title, T) else str(title or "")})
    return out


def _bare(summary: str) -> str:
    """A MON finding's summary without the scope and window the rule appends to it."""
    return re.sub(r"\s*[（(][^（()）]*(window from|からのウィンドウ)[^（()）]*[)）]$", "", summary)


def problems_by_source(findings: Sequence[Finding], lang: str = "en") -> list[dict[str, Any]]:
    """The findings as the page tells them: per source (the one with the most windows flagged
    first), each rule that fired there in plain words with the latest numbers. A rule over all
    sources is left out where one source shows it too (that source is the story)."""
    by_source: dict[str, dict[str, list[Finding]]] = {}
    for f in findings:
        by_source.setdefault(str(f.metrics.get("source", "*")), {}).setdefault(
            f.rule, []).append(f)
    named = {rule for source, rules in by_source.items() if source != "*" for rule in rules}
    overall = {r: fs for r, fs in by_source.pop("*", {}).items() if r not in named}
    if overall:
        by_source["*"] = overall
    out: list[dict[str, Any]] = []
    for source, rules in by_source.items():
        starts = sorted({_when(f.metrics.get("window_start", ""), str(f.metrics.get("every")))
                         for fs in rules.values() for f in fs})
        ranked = sorted(rules.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        out.append({"source": source, "windows": len(starts), "first": starts[0],
                    "last": starts[-1], "more": [r for r, _ in ranked[MAX_RULES:]],
                    "rules": [{"rule": r, "windows": len(fs),
                               "plain": PLAIN[r].get_text(lang) if r in PLAIN
                               else fs[-1].title.get_text(lang),
                               "summary": _bare(fs[-1].summary.get_text(lang))}
                              for r, fs in ranked[:MAX_RULES]]})
    out.sort(key=lambda p: (-p["windows"], p["source"] == "*", p["source"]))
    budget = MAX_ITEMS  # one page: the first sources keep their rules, the rest are named
    for p in out:
        keep = max(1, min(len(p["rules"]), budget))
        p["more"] = [x["rule"] for x in p["rules"][keep:]] + p["more"]
        p["rules"] = p["rules"][:keep]
        budget -= keep
    return out


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
        verdict = ("below" if measured < expected_range[0] else
                   "above" if measured > expected_range[1] else "within")
    problems = problems_by_source(findings, lang)
    mid = None if expected_range is None else sum(expected_range) / 2
    rows = window_rows(windows, findings, expected_range)
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
        "verdict": verdict, "problems": problems[:MAX_SOURCES], "rows": rows,
        "others": [p["source"] for p in problems[MAX_SOURCES:]],
        "every": str(windows[0].get("every", "1h")) if windows else "1d",
        "below": [r["when"] for r in rows if r["below"]],
        "chart": accuracy_chart(windows, expected_range, lang),
    }


def render_after_release(windows: Sequence[dict[str, Any]], findings: Sequence[Finding],
                         expected_range: tuple[float, float] | None, *,
                         lab_accuracy: float | None = None, lab_ci: list[float] | None = None,
                         sources: Sequence[str] = (), lang: str = "en",
                         alerts: Sequence[dict[str, Any]] = (), n_alerts: int | None = None,
                         partial: bool = False, period: tuple[Any, Any] | None = None) -> str:
    """The after-release report as one printable HTML page (English or Japanese).

    `alerts`: the service's alerts of the period (`rule`, `source`, `state`, `opened`,
    `resolved`, `title` as a `T`), `n_alerts` how many there were in all; `partial`: the last
    window was still running at the period's end; `period`: (start, end) when it is not the
    windows' own span."""
    check_lang(lang)
    data = after_release_data(windows, findings, expected_range, lab_accuracy, lab_ci, lang)
    if sources:
        data["sources"] = sorted(set(sources))
    if period is not None:
        data["period"] = (_when(period[0]), _when(period[1]))
    chosen = sorted(alerts, key=lambda a: (a.get("state") == "resolved",
                                           -_stamp(a.get("opened"))))[:MAX_ALERTS]
    data["alerts"] = alert_rows(chosen, lang)
    data["n_alerts"] = max(len(alerts), n_alerts or 0)
    data["partial"] = partial
    data["table"] = len(data["rows"]) <= MAX_ROWS
    env = Environment(loader=PackageLoader("pitfalls.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("after_release.html.j2").render(r=data, lang=lang).lstrip()
