"""The HTML report: one self-contained page (inline CSS, inline SVG charts, base64 thumbnails).

`render_html(report, lang)` builds a view of the report in Python (texts in `lang`, metrics
formatted, evidence laid out by the shape of each item, thumbnails embedded) and renders it with the
jinja2 templates in `report/templates/`. The page references no URL at all, so it opens offline, and
all of its CSS is scoped under the root class `.pitfalls-report`, so it can be embedded in a
notebook (`Report._repr_html_`) without restyling the notebook.

Evidence layout, chosen per item from its `paths`:
- 2 paths: a side-by-side pair (duplicates, leaks) with the item's score;
- 3 or more paths: a row (a capture session, a duplicate group);
- 1 path: a grid of single images (broken files, examples of a shortcut);
- no paths: a table of the item's fields (counts per class, probe scores…).

Sections hook: for every entry `report.sections[name]`, the template `section_<name>.html.j2` in
`report/templates/` is rendered when it exists (other sections are ignored) and placed after the
summary. A section template receives:
- `section`: the data `report.sections[name]` (plain JSON values),
- `name`: the section's name,
- `m`: the UI messages of the language (`report/messages.py`; add new words there, in en and ja),
- `lang`: "en" or "ja",
- `charts`: the `report.charts` module (e.g. `charts.grouped_bars(...)` returns an SVG string;
  output it with `|safe`),
- `value`: a function formatting any JSON value as compact HTML (`{{ value(x) }}`),
- `num`: a function formatting one number (`{{ num(0.91234) }}` → `0.9123`),
- `report`: the `Report` itself.
`section_class_by_split.html.j2` (class counts per split as grouped bars) is the example to follow.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, TemplateNotFound, select_autoescape
from markupsafe import Markup, escape

from pitfalls._version import __version__
from pitfalls.findings import PHASES, SEVERITIES, severity_rank
from pitfalls.report import charts
from pitfalls.report.messages import messages, skip_reason, split_name
from pitfalls.report.thumbs import THUMB_SIDE, Thumb, Thumbnailer

if TYPE_CHECKING:
    from pitfalls.findings import Finding
    from pitfalls.report.document import Report

log = logging.getLogger(__name__)

MAX_ITEMS = 12
"""Items with images shown per finding (the rest are in report.json)."""
MAX_ROWS = 30
VISIBLE_ROWS = 10
"""Rows of a finding's table shown open; the rest (up to MAX_ROWS) fold under a count."""
"""Rows of a table of items without images shown per finding."""
MAX_IMAGES = 10
"""Images shown per item (a long session row is cut, the count of the rest shown)."""
MAX_LIST = 20
"""Elements of a list shown inline in a metric value."""

ROOT_CLASS = "pitfalls-report"
FONTS = {
    "en": ('system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
           '"Noto Sans", "Noto Sans CJK JP", sans-serif'),
    "ja": ('"Hiragino Sans", "Hiragino Kaku Gothic ProN", "Noto Sans CJK JP", "Noto Sans JP", '
           '"Yu Gothic UI", "Yu Gothic", Meiryo, system-ui, -apple-system, "Segoe UI", '
           'sans-serif'),
}


@cache
def _env() -> Environment:
    env = Environment(loader=PackageLoader("pitfalls", "report/templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(value=format_value, num=format_number, charts=charts)
    return env


# -- formatting of metric values --------------------------------------------------------------
def format_number(v: Any) -> str:
    """A number as short text: ints with thousands separators, floats to 4 significant digits."""
    if isinstance(v, bool):
        return "✓" if v else "✗"
    if isinstance(v, int):
        return f"{v:,}"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f) or math.isinf(f):
        return "—"
    if f == 0 or (1e-3 <= abs(f) < 1e6):
        return f"{f:.4g}" if abs(f) < 1e4 else f"{f:,.0f}"
    return f"{f:.3g}"


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def format_value(v: Any, depth: int = 0, inline: bool = False) -> Markup:
    """Any JSON value as compact, escaped HTML: nested dicts become small key/value tables (one
    line when `inline` or long), lists of scalars comma-separated lists (long ones cut), lists of
    records small tables."""
    if v is None:
        return Markup("—")
    if isinstance(v, bool | int | float):
        return Markup('<span class="num">{}</span>').format(format_number(v))
    if isinstance(v, str):
        return escape(v)
    if isinstance(v, Mapping):
        if not v:
            return Markup("—")
        if depth >= 3:
            return escape(str(dict(v)))
        if all(isinstance(x, Mapping) and x and all(_scalar(y) for y in x.values())
               for x in v.values()):  # {row: {column: value}}: one table
            return _records_table([{"": k, **x} for k, x in v.items()], depth + 1)
        if all(_scalar(x) for x in v.values()) and (inline or len(v) > 4):
            cells = Markup("").join(
                Markup('<span '
                       'class="kvp"><b>{}</b> {}</span>').format(k, format_value(x, depth + 1))
                for k, x in v.items())
            return Markup('<span class="kvs">{}</span>').format(cells)
        rows = Markup("").join(
            Markup("<tr><th>{}</th><td>{}</td></tr>").format(k, format_value(x, depth + 1))
            for k, x in v.items())
        return Markup('<table class="kv">{}</table>').format(rows)
    if isinstance(v, Sequence):
        items = list(v)
        if not items:
            return Markup("—")
        if all(_scalar(x) for x in items):
            if len(items) == 2 and all(isinstance(x, float) for x in items):
                return Markup("[{}, {}]").format(format_number(items[0]), format_number(items[1]))
            shown = Markup(", ").join(format_value(x, depth + 1) for x in items[:MAX_LIST])
            more = f" … (+{len(items) - MAX_LIST})" if len(items) > MAX_LIST else ""
            return Markup("{}{}").format(shown, more)
        if all(isinstance(x, Mapping) for x in items) and depth < 3:
            return _records_table(items[:MAX_LIST], depth + 1)
        return Markup("<br>").join(format_value(x, depth + 1) for x in items[:MAX_LIST])
    return escape(str(v))


def _columns(records: Sequence[Mapping[str, Any]], skip: Collection[str] = frozenset()
             ) -> list[str]:
    cols: list[str] = []
    for r in records:
        cols += [k for k in r if k not in cols and k not in skip]
    return cols


def _records_table(records: Sequence[Mapping[str, Any]], depth: int = 0,
                   more: str | None = None) -> Markup:
    """Records as a table; with `more` (a text with `{n}`), rows past `VISIBLE_ROWS` fold into
    a collapsed part that says how many it holds."""
    cols = _columns(records)
    head = Markup("").join(Markup("<th>{}</th>").format(c) for c in cols)

    def table(rows: Sequence[Mapping[str, Any]]) -> Markup:
        body = Markup("").join(
            Markup("<tr>{}</tr>").format(Markup("").join(
                Markup("<td>{}</td>").format(format_value(r.get(c), depth + 1)) for c in cols))
            for r in rows)
        return Markup('<table class="records"><thead><tr>{}</tr></thead><tbody>{}</tbody>'
                      '</table>').format(head, body)

    if more is None or len(records) <= VISIBLE_ROWS + 2:
        return table(records)
    rest = records[VISIBLE_ROWS:]
    return Markup('{}<details class="more-rows"><summary>{}</summary>{}</details>').format(
        table(records[:VISIBLE_ROWS]), more.format(n=len(rest)), table(rest))


# -- the view ---------------------------------------------------------------------------------
@dataclass
class ImageView:
    thumb: Thumb
    note: str = ""  # per-image values of the item (its label, split…)


@dataclass
class ItemView:
    images: list[ImageView]
    score: str | None
    fields: list[tuple[str, Markup]]
    more: int = 0  # images of the item not shown


@dataclass
class EvidenceBlock:
    kind: str  # pairs | groups | grid | table
    items: list[ItemView] = field(default_factory=list)
    table: Markup | None = None


@dataclass
class FindingView:
    anchor: str
    rule: str
    severity: str
    phase: str
    title: str
    summary: str
    metrics: list[tuple[str, Markup, bool]]  # key, value, wide (spans the row)
    evidence: list[EvidenceBlock]
    n_items: int
    n_shown: int
    doc: dict[str, Any] | None


def _item_view(item: Mapping[str, Any], thumbs: Thumbnailer) -> ItemView:
    paths = [str(p) for p in item.get("paths") or []]
    notes = [""] * len(paths)
    fields: list[tuple[str, Markup]] = []
    for key, val in item.items():
        if key in ("paths", "score"):
            continue
        if (isinstance(val, list | tuple) and len(val) == len(paths) > 1
                and all(_scalar(x) for x in val)):
            notes = [f"{n} · {x}" if n else str(x) for n, x in zip(notes, val, strict=True)]
        else:
            fields.append((key, format_value(val, 1, inline=True)))
    score = item.get("score")
    shown = list(zip(paths, notes, strict=True))[:MAX_IMAGES]
    return ItemView(images=[ImageView(thumbs(p), n) for p, n in shown],
                    score=format_number(score) if score is not None else None, fields=fields,
                    more=len(paths) - len(shown))


def _shown_paths(findings: Sequence[Finding], max_items: int) -> list[str]:
    """The paths whose thumbnails the page will show, as `_evidence` and `_item_view` pick them."""
    out: list[str] = []
    for f in findings:
        with_images = [it for it in f.items if isinstance(it, Mapping) and it.get("paths")]
        for item in with_images[:max_items]:
            out.extend(str(p) for p in list(item["paths"])[:MAX_IMAGES])
    return out


def _evidence(items: Sequence[Mapping[str, Any]], thumbs: Thumbnailer, max_items: int,
              more_rows: str | None = None) -> tuple[list[EvidenceBlock], int]:
    """Items laid out by how many paths each has; returns the blocks and how many items shown."""
    blocks: dict[str, EvidenceBlock] = {}
    plain: list[Mapping[str, Any]] = []
    shown = 0
    n_image_items = 0
    for item in items:
        if not isinstance(item, Mapping):
            item = {"value": item}
        n = len(item.get("paths") or [])
        if n == 0:
            plain.append(item)
            continue
        n_image_items += 1
        if n_image_items > max_items:
            continue
        kind = "pairs" if n == 2 else "groups" if n > 2 else "grid"
        blocks.setdefault(kind, EvidenceBlock(kind)).items.append(_item_view(item, thumbs))
        shown += 1
    out = list(blocks.values())
    if plain:
        rows = [{k: v for k, v in r.items() if k != "paths"} for r in plain[:MAX_ROWS]]
        out.append(EvidenceBlock("table", table=_records_table(rows, more=more_rows)))
        shown += len(rows)
    return out, shown


def _doc(code: str, lang: str) -> dict[str, Any] | None:
    from pitfalls.rules import registry

    rule = registry().get(code)
    doc = getattr(rule, "doc", None)
    if doc is None:
        return None
    return {"what": doc.what.get_text(lang), "why": doc.why.get_text(lang),
            "fix": doc.fix.get_text(lang), "cases": _cases(code, doc.cases, lang),
            "notes": doc.notes.get_text(lang) if doc.notes else None}


def _cases(code: str, ids: tuple[str, ...], lang: str) -> list[str]:
    """The rule's published cases, then the team's cases that name the rule (from `case-dirs`)."""
    from pitfalls.cases import references, team_cases
    from pitfalls.errors import PitfallsError

    out = references(ids, lang)
    try:
        team = team_cases()
    except PitfallsError as exc:  # a broken team case must not cost the report
        log.warning("team cases not shown: %s", exc)
        return out
    return out + [f"{c.reference(lang)} ({messages(lang)['team_case']})" for c in team.values()
                  if code in c.rules]


def _rule_title(code: str, lang: str) -> str:
    from pitfalls.rules import registry

    rule = registry().get(code)
    return rule.title.get_text(lang) if rule is not None else ""


def _wide(v: Any) -> bool:
    """Whether a metric value is a table that needs the full width of the metrics grid."""
    if isinstance(v, Mapping):
        return any(not _scalar(x) for x in v.values())
    return isinstance(v, list | tuple) and any(isinstance(x, Mapping) for x in v)


def _order(severity: str) -> int:
    """Findings are shown worst first (a stable sort keeps the report's order within a severity)."""
    return -severity_rank(severity) if severity in SEVERITIES else 0


def _anchor(position: int, rule: str) -> str:
    return f"finding-{position}-{re.sub(r'[^A-Za-z0-9]', '', rule)}"


def finding_anchors(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    """The `report.html` anchor of each finding of a report.json, in report.json's order."""
    order = sorted(range(len(findings)), key=lambda j: _order(str(findings[j].get("severity"))))
    out = [""] * len(findings)
    for position, j in enumerate(order):
        out[j] = _anchor(position, str(findings[j].get("rule")))
    return out


def _finding_view(i: int, f: Finding, lang: str, thumbs: Thumbnailer,
                  max_items: int) -> FindingView:
    evidence, shown = _evidence(f.items, thumbs, max_items, messages(lang)["more_rows"])
    return FindingView(
        anchor=_anchor(i, f.rule),
        rule=f.rule, severity=f.severity if f.severity in SEVERITIES else "info",
        phase=f.phase, title=f.title.get_text(lang), summary=f.summary.get_text(lang),
        metrics=[(str(k), format_value(v, 1), _wide(v)) for k, v in (f.metrics or {}).items()],
        evidence=evidence, n_items=len(f.items), n_shown=shown, doc=_doc(f.rule, lang))


def _sections(report: Report, lang: str, base: dict[str, Any]) -> list[Markup]:
    """Render `section_<name>.html.j2` for every section of the report that has a template."""
    out: list[Markup] = []
    for name, data in (report.sections or {}).items():
        if not re.fullmatch(r"\w+", str(name)):
            continue
        try:
            template = _env().get_template(f"section_{name}.html.j2")
        except TemplateNotFound:
            continue
        out.append(Markup(template.render(**base, section=data, name=name)))
    return out


def render_html(report: Report, lang: str = "en", *, max_items: int = MAX_ITEMS,
                thumb_side: int = THUMB_SIDE) -> str:
    """The report as one self-contained HTML page in `lang` ("en" or "ja").

    At most `max_items` items with images are shown per finding, as thumbnails of `thumb_side`
    pixels; every file is decoded once per call however many findings name it.
    """
    lang = lang if lang in FONTS else "en"
    m = messages(lang)
    thumbs = Thumbnailer(report.root, side=thumb_side)
    ordered = sorted(report.findings, key=lambda f: _order(f.severity))
    thumbs.prefetch(_shown_paths(ordered, max_items))
    views = [_finding_view(i, f, lang, thumbs, max_items) for i, f in enumerate(ordered)]
    counts = {p: {s: 0 for s in SEVERITIES} for p in PHASES}
    for v in views:
        counts.setdefault(v.phase, {s: 0 for s in SEVERITIES})[v.severity] += 1
    d = report.dataset or {}
    base = {"m": m, "lang": lang, "report": report,
            "image": lambda path, note="": ImageView(thumbs(str(path)), str(note)),
            "split_labels": lambda names: {str(n): split_name(str(n), lang) for n in names}}
    page = _env().get_template("report.html.j2")
    return page.render(
        **base,
        root_class=ROOT_CLASS,
        thumb_side=thumb_side,
        font=FONTS[lang],
        version=__version__,
        dataset=d,
        splits=[(split_name(str(k), lang), v) for k, v in (d.get("splits") or {}).items()],
        labels=sorted((d.get("labels") or {}).items(), key=lambda kv: -kv[1]),
        counts=counts,
        totals={s: sum(c[s] for c in counts.values()) for s in SEVERITIES},
        severities=list(reversed(SEVERITIES)),
        findings=views,
        sections=_sections(report, lang, base),
        passed=[(c, _rule_title(c, lang)) for c in report.passed],
        skipped=[(s.get("rule", "?"), _rule_title(s.get("rule", ""), lang),
                  skip_reason(str(s.get("reason", "")), lang)) for s in report.skipped],
        errors=[(str(e.get("rule", "?")), _rule_title(str(e.get("rule", "")), lang),
                 str(e.get("error", ""))) for e in report.errors],
    )
