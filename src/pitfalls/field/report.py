"""Glue between a scan and the field: attach the field photos (and the predicted field accuracy)
to the context, and the report's "field" section."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from pitfalls.context import Context
from pitfalls.evaluation.model import load_spec
from pitfalls.field.conditions import CONDITIONS
from pitfalls.field.data import comparison, lab_split, load_field, unreadable

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def attach_field(ctx: Context, field: str | Path, model: str | Path | None = None,
                 preprocess: Any = None, *, cache: bool | str | Path = True,
                 progress: Any = None) -> None:
    """Load the field folder into `ctx.extras["field"]`; with a model, also compute
    `ctx.extras["field_prediction"]` (pitfalls.field.predict)."""
    fs = load_field(field, ctx.config, cache=cache, progress=progress)
    ctx.extras["field"] = fs
    ctx.dataset.notes.extend(f"field photos (--field): {note}" for note in fs.notes)
    bad = unreadable(fs, ctx.root)
    if bad:
        ctx.dataset.notes.append(
            f"{len(bad)} of {len(fs.table)} field photo(s) could not be read and were left out: "
            + ", ".join(f"{b['path']} ({b['error_kind']})" for b in bad[:5])
            + (", …" if len(bad) > 5 else ""))
    if model is not None and ctx.table["label"].notna().any():
        from pitfalls.field.predict import predict_field

        fp = predict_field(ctx, model, load_spec(preprocess))
        if fp is not None:
            ctx.extras["field_prediction"] = fp


def text_width(text: str, size: float = 11) -> float:
    """A generous estimate of the width in pixels of `text` in a sans-serif font of `size`
    pixels: full-width (CJK) characters one em, the others 0.62 em (wider than the average
    Latin letter, so that a legend sized with it is not cut)."""
    return sum(size * (1.0 if unicodedata.east_asian_width(c) in "WF" else 0.62) for c in text)


def sweep_svg(sweep: list[dict[str, Any]], lang: str = "en", width: int = 560,
              height: int = 260) -> str:
    """Accuracy against severity step (0 = as photographed) per condition, as inline SVG lines.

    The plot is `width` minus 230 pixels wide; the legend on its right gets the room its longest
    entry needs (the SVG grows rather than cutting it), and the SVG scales down to fit narrow
    pages."""
    from markupsafe import escape

    if not sweep:
        return ""
    left, top, bottom = 40, 12, 30
    pw, ph = width - left - 190, height - top - bottom
    entries = []
    for s in sweep:
        name = s["label"].get(lang) or s["label"]["en"]
        sev = " → ".join(f"{v:g}" for v in (s["severity"][0], s["severity"][-1]))
        entries.append(f"{name} ({sev})")
    right = max(190, 8 + int(max(text_width(e) for e in entries)) + 12)
    width = left + pw + right
    steps = max(len(s["accuracy"]) for s in sweep)

    def xy(i: int, acc: float) -> tuple[float, float]:
        return left + pw * i / max(steps - 1, 1), top + ph * (1 - acc)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-size="11" role="img" '
             f'style="max-width:100%;height:auto">']
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        _, y = xy(0, v)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{left - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{v:.0%}</text>')
    label = "強さ（0 = そのまま）" if lang == "ja" else "severity step (0 = as photographed)"
    parts.append(f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle">'
                 f'{label}</text>')
    for k, s in enumerate(sweep):
        colour = COLOURS[k % len(COLOURS)]
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in
                       (xy(i, a) for i, a in enumerate(s["accuracy"])))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>')
        parts.append(f'<text x="{left + pw + 8}" y="{top + 14 + 15 * k}" fill="{colour}">'
                     f'{escape(entries[k])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def field_section(ctx: Context) -> dict[str, Any]:
    """Data of the report's field section (plain JSON values)."""
    fs = ctx.extras.get("field")
    if fs is None:
        return {}
    cmp = comparison(ctx)
    rows = [{"condition": r["condition"],
             "label": dict(CONDITIONS[r["condition"]].label),
             **{k: float(r[k]) for k in ("lab_median", "field_median", "effect", "ks",
                                         "p_value", "p_holm")}}
            for r in cmp.to_dict("records")]
    out: dict[str, Any] = {"n_field": int(fs.ok.sum()), "n_field_files": int(len(fs.table)),
                           "lab_split": lab_split(ctx), "conditions": rows, "prediction": None,
                           "unreadable": unreadable(fs, ctx.root)}
    fp = ctx.extras.get("field_prediction")
    if fp is not None:
        out["prediction"] = fp.to_dict()
        out["prediction"]["costs"] = [
            {**c, "label": {lang: ", ".join(CONDITIONS[n].label.get_text(lang) if n in CONDITIONS
                                            else n for n in c["conditions"])
                            for lang in ("en", "ja")}}
            for c in fp.costs]
        out["sweep_svg"] = {lang: sweep_svg(fp.sweep, lang) for lang in ("en", "ja")}
    return out
