"""Charts for the HTML report as small inline SVG strings.

Written by hand rather than with a plotting library: the report must open offline with no script,
the charts are a few rectangles and labels, and matplotlib's SVG output is large, slow to import and
not styleable by the report's CSS. Every text placed into the SVG is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

SPLIT_ORDER = ("train", "val", "test")
PALETTE = ("#3b6fb6", "#e08a2c", "#3a9a5b", "#8e5ea2", "#c2474b", "#6b7a8f", "#b8a03a", "#41a3a8")
SPLIT_COLOURS = {"train": PALETTE[0], "val": PALETTE[1], "test": PALETTE[2]}


def series_order(groups: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Series (splits) in canonical order: train, val, test, then the others alphabetically."""
    names = {s for values in groups.values() for s in values}
    return [s for s in SPLIT_ORDER if s in names] + sorted(names - set(SPLIT_ORDER))


def colours_for(series: Sequence[str]) -> dict[str, str]:
    """A stable colour per series: the split colours first, the palette for the rest."""
    rest = iter(c for c in PALETTE if c not in SPLIT_COLOURS.values())
    out: dict[str, str] = {}
    for name in series:
        out[name] = SPLIT_COLOURS.get(name) or next(rest, PALETTE[-1])
    return out


def _fmt(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.3g}"


def grouped_bars(
    groups: Mapping[str, Mapping[str, float]],
    *,
    series: Sequence[str] | None = None,
    series_labels: Mapping[str, str] | None = None,
    max_groups: int = 40,
    width: int = 720,
    title: str = "",
) -> str:
    """Horizontal grouped bar chart: one group per key of `groups`, one bar per series.

    `groups` maps a group (class) to {series (split): value}. At most `max_groups` groups are drawn,
    the largest by total. Returns an `<svg>` element as a string (empty string when no data).
    """
    if not groups:
        return ""
    series = list(series or series_order(groups))
    labels = dict(series_labels or {})
    colours = colours_for(series)
    ranked = sorted(groups, key=lambda g: -sum(groups[g].values()))[:max_groups]
    ranked = sorted(ranked, key=str)
    top = max((float(v) for g in ranked for v in groups[g].values()), default=0.0) or 1.0

    bar_h, gap, pad_top = 12, 10, 34
    label_w = min(220, 12 + 7 * max(len(str(g)) for g in ranked))
    plot_w = width - label_w - 70
    group_h = bar_h * len(series) + gap
    height = pad_top + group_h * len(ranked) + 6
    parts = [f'<svg class="chart" role="img" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'font-size="11">']
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    x = label_w
    for name in series:  # legend
        parts.append(f'<rect x="{x}" y="8" width="11" height="11" rx="2" '
                     f'fill="{colours[name]}"/>')
        text = escape(labels.get(name, name))
        parts.append(f'<text x="{x + 15}" y="17.5">{text}</text>')
        x += 28 + 7 * len(labels.get(name, name))
    for i, group in enumerate(ranked):
        y0 = pad_top + i * group_h
        name = str(group)
        shown = name if len(name) <= 30 else name[:29] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y0 + bar_h * len(series) / 2 + 4}" '
                     f'text-anchor="end"><title>{escape(name)}</title>{escape(shown)}</text>')
        for j, s in enumerate(series):
            v = float(groups[group].get(s, 0) or 0)
            w = max(v / top * plot_w, 0.0)
            y = y0 + j * bar_h
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                         f'rx="1.5" fill="{colours[s]}"><title>{escape(name)} · '
                         f'{escape(labels.get(s, s))}: {_fmt(v)}</title></rect>')
            parts.append(f'<text class="val" x="{label_w + w + 4:.1f}" y="{y + bar_h - 3}">'
                         f"{_fmt(v)}</text>")
    parts.append(f'<line x1="{label_w}" y1="{pad_top - 4}" x2="{label_w}" '
                 f'y2="{height - 4}" stroke="#999" stroke-width="1"/>')
    parts.append("</svg>")
    return "".join(parts)
