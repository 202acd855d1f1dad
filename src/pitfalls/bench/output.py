"""What `pitfalls bench` writes: `bench.json` (the contract), a CSV with timm-like columns, and
the report section (Pareto plot as inline SVG, the table, a one-line recommendation)."""

from __future__ import annotations

import csv
import html
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pitfalls.bench.pareto import best_under_budget, pareto_front
from pitfalls.bench.suite import BenchResult
from pitfalls.findings import SCHEMA_VERSION, jsonable
from pitfalls.report.document import Report
from pitfalls.text import T

CSV_COLUMNS = ("model", "quantization", "provider", "threads", "batch_size", "top1", "top1_err",
               "balanced_acc", "infer_samples_per_sec", "infer_step_time", "p50_ms", "p90_ms",
               "p95_ms", "p99_ms", "max_ms", "preprocess_p50_ms", "inference_p50_ms",
               "postprocess_p50_ms", "param_count", "size_mb", "peak_rss_mb", "img_size",
               "spread_iqr_over_median")
"""timm's benchmark/results columns (top1, top1_err, infer_samples_per_sec, infer_step_time,
param_count in millions, img_size) plus latency percentiles and the stage split."""


def bench_dict(result: BenchResult, lang: str = "en") -> dict[str, Any]:
    """`bench.json`: schema_version, machine, rows, findings (+ options, skew, data)."""
    return jsonable({
        "schema_version": SCHEMA_VERSION,
        "machine": result.machine,
        "data": result.data,
        "split": result.split,
        "options": asdict(result.options),
        "rows": result.rows,
        "skew": [s.to_dict() for s in result.skew],
        "findings": [f.to_dict(lang) for f in result.findings],
    })


def write_csv(result: BenchResult, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in result.rows:
            lat, st = r["latency_ms"], r["stages_ms"]
            acc = r.get("accuracy")
            shape = [d for d in r.get("input_shape", []) if d.isdigit()]
            w.writerow({
                "model": r["model"], "quantization": r["quantization"], "provider": r["provider"],
                "threads": r["threads"], "batch_size": r["batch_size"],
                "top1": _r(acc * 100) if acc is not None else "",
                "top1_err": _r(100 - acc * 100) if acc is not None else "",
                "balanced_acc": _r((r.get("balanced_accuracy") or 0) * 100),
                "infer_samples_per_sec": _r(r.get("throughput_ips")),
                "infer_step_time": _r(lat["mean"]),
                "p50_ms": _r(lat["p50"]), "p90_ms": _r(lat["p90"]), "p95_ms": _r(lat["p95"]),
                "p99_ms": _r(lat["p99"]), "max_ms": _r(lat["max"]),
                "preprocess_p50_ms": _r(st["preprocess"]["p50"]),
                "inference_p50_ms": _r(st["inference"]["p50"]),
                "postprocess_p50_ms": _r(st["postprocess"]["p50"]),
                "param_count": _r((r.get("n_params") or 0) / 1e6, 4),
                "size_mb": _r(r.get("size_mb")), "peak_rss_mb": _r(r.get("peak_rss_mb")),
                "img_size": shape[-1] if shape else "",
                "spread_iqr_over_median": _r(r["spread"]["iqr_over_median"], 4),
            })
    return path


def _r(v: Any, nd: int = 3) -> Any:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), nd)


def _label(r: dict[str, Any]) -> str:
    q = "" if r["quantization"] == "fp32" else f" {r['quantization']}"
    return f"{r['model']}{q} ({r['provider']}, {r['threads']}t, b{r['batch_size']})"


def pareto_svg(rows: list[dict[str, Any]], front: list[int], budget_ms: float | None,
               width: int = 640, height: int = 360) -> str:
    """Accuracy (y) against p95 latency (x, log scale), marker area ∝ model size, front joined.

    Hand-written SVG: a dozen points need no plotting library, and the page must stay
    self-contained (no scripts, no external files)."""
    pts = [(i, r) for i, r in enumerate(rows) if r.get("accuracy") is not None
           and (r["latency_ms"].get("p95") or 0) > 0]
    if not pts:
        return ""
    ml, mr, mt, mb = 56, 16, 16, 44
    lats = [r["latency_ms"]["p95"] for _, r in pts] + ([budget_ms] if budget_ms else [])
    lo, hi = math.log10(min(lats)) - 0.1, math.log10(max(lats)) + 0.1
    accs = [r["accuracy"] for _, r in pts]
    alo, ahi = max(0.0, min(accs) - 0.05), min(1.0, max(accs) + 0.05)
    if ahi - alo < 1e-9:
        alo, ahi = alo - 0.05, ahi + 0.05
    sizes = [r.get("size_mb") or 0 for _, r in pts]
    smax = max(sizes) or 1.0

    def x(v: float) -> float:
        return ml + (math.log10(v) - lo) / (hi - lo) * (width - ml - mr)

    def y(v: float) -> float:
        return mt + (ahi - v) / (ahi - alo) * (height - mt - mb)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" class="chart bench-pareto">']
    out.append(f'<line x1="{ml}" y1="{height - mb}" x2="{width - mr}" y2="{height - mb}" '
               'stroke="#888"/>')
    out.append(f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{height - mb}" stroke="#888"/>')
    for e in range(math.floor(lo), math.ceil(hi) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if lo <= math.log10(v) <= hi:
                out.append(f'<text x="{x(v):.1f}" y="{height - mb + 16}" font-size="11" '
                           f'text-anchor="middle">{v:g}</text>')
    for k in range(5):
        v = alo + (ahi - alo) * k / 4
        out.append(f'<text x="{ml - 6}" y="{y(v) + 4:.1f}" font-size="11" '
                   f'text-anchor="end">{v:.2f}</text>')
    out.append(f'<text x="{(ml + width - mr) / 2}" y="{height - 6}" font-size="12" '
               'text-anchor="middle">p95 latency (ms, log)</text>')
    out.append(f'<text x="14" y="{(mt + height - mb) / 2}" font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 14 {(mt + height - mb) / 2})">accuracy</text>')
    if budget_ms:
        bx = x(budget_ms)
        out.append(f'<line x1="{bx:.1f}" y1="{mt}" x2="{bx:.1f}" y2="{height - mb}" '
                   'stroke="#c0392b" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{bx + 4:.1f}" y="{mt + 12}" font-size="11" fill="#c0392b">'
                   f'budget {budget_ms:g} ms</text>')
    fr = [rows[i] for i in front]
    if len(fr) > 1:
        path = " ".join(f"{x(r['latency_ms']['p95']):.1f},{y(r['accuracy']):.1f}" for r in fr)
        out.append(f'<polyline points="{path}" fill="none" stroke="#2e86c1" stroke-width="1.5"/>')
    for i, r in pts:
        rad = 4 + 10 * math.sqrt((r.get("size_mb") or 0) / smax)
        colour = "#2e86c1" if i in front else "#999"
        cx, cy = x(r["latency_ms"]["p95"]), y(r["accuracy"])
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{rad:.1f}" fill="{colour}" '
                   f'fill-opacity="0.45" stroke="{colour}"><title>{html.escape(_label(r))}: '
                   f'acc {r["accuracy"]:.3f}, p95 {r["latency_ms"]["p95"]:.3f} ms, '
                   f'{(r.get("size_mb") or 0):.2f} MB</title></circle>')
        name = r["model"] + ("" if r["quantization"] == "fp32" else " " + r["quantization"])
        out.append(f'<text x="{cx + rad + 2:.1f}" y="{cy + 4:.1f}" font-size="10">'
                   f'{html.escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def recommendation(result: BenchResult) -> T:
    """One line: the most accurate configuration within the budget (or the fastest if none)."""
    rows, budget = result.rows, result.options.budget_ms
    key = f"p{result.options.percentile:g}"
    best = best_under_budget(rows, budget, key)
    if best is None and not rows:
        return T("No configuration was measured.", "測定された構成がありません。")
    if best is None:
        fastest = min(rows, key=lambda r: r["latency_ms"].get(key) or math.inf)
        return T(f"No configuration meets {budget:g} ms at {key}; the fastest is "
                 f"{_label(fastest)} at {fastest['latency_ms'][key]:.2f} ms.",
                 f"{key} で {budget:g} ms を満たす構成はありません。最速は {_label(fastest)}"
                 f"（{fastest['latency_ms'][key]:.2f} ms）です。")
    r = rows[best]
    within = f" within {budget:g} ms at {key}" if budget else ""
    within_ja = f"{key} {budget:g} ms 以内で" if budget else ""
    return T(f"Recommended{within}: {_label(r)} — accuracy {r['accuracy']:.3f}, "
             f"{key} {r['latency_ms'][key]:.2f} ms, {r.get('size_mb', 0):.2f} MB.",
             f"推奨（{within_ja}最も高精度）: {_label(r)} — 正解率 {r['accuracy']:.3f}、"
             f"{key} {r['latency_ms'][key]:.2f} ms、{r.get('size_mb', 0):.2f} MB。")


def int8_notes(rows: list[dict[str, Any]]) -> list[T]:
    """Per int8 variant: is it faster than fp32 at the same configuration, and if not, why."""
    base = {(r["model"], r["provider"], r["threads"], r["batch_size"]): r for r in rows
            if r["quantization"] == "fp32"}
    notes = []
    for r in rows:
        b = base.get((r["model"], r["provider"], r["threads"], r["batch_size"]))
        if r["quantization"] == "fp32" or b is None:
            continue
        qi, fi = r["stages_ms"]["inference"]["p50"], b["stages_ms"]["inference"]["p50"]
        pre = b["stages_ms"]["preprocess"]["p50"] / max(b["latency_ms"]["p50"], 1e-9)
        head = (f"{r['model']} {r['quantization']} (batch {r['batch_size']}): inference p50 "
                f"{qi:.3f} ms vs fp32 {fi:.3f} ms")
        head_ja = (f"{r['model']} {r['quantization']}（バッチ {r['batch_size']}）: 推論 p50 "
                   f"{qi:.3f} ms、fp32 は {fi:.3f} ms")
        if qi < fi * 0.95:
            en, ja = f"{head} — {1 - qi / fi:.0%} faster", f"{head_ja} — {1 - qi / fi:.0%} 高速"
        else:
            en = (f"{head} — not faster: with an inference this short, quantizing and "
                  f"dequantizing activations and per-call overhead outweigh int8 arithmetic")
            ja = (f"{head_ja} — 高速化なし: 推論がこれほど短いと、活性化の量子化・逆量子化と"
                  f"呼び出しごとのオーバーヘッドが int8 演算の利得を上回ります")
        if pre > 0.5:
            en += f"; pre-processing is {pre:.0%} of end-to-end latency, so it dominates anyway"
            ja += f"。前処理がエンドツーエンドの {pre:.0%} を占めるため、いずれにせよ支配的です"
        notes.append(T(en + ".", ja + "。"))
    return notes


def section(result: BenchResult) -> dict[str, Any]:
    """`report.sections["bench"]`: plain values for `section_bench.html.j2`."""
    rows = result.rows
    front = pareto_front(rows)
    key = f"p{result.options.percentile:g}"
    table = [{"label": _label(r), "model": r["model"], "quantization": r["quantization"],
              "provider": r["provider"], "threads": r["threads"], "batch_size": r["batch_size"],
              "accuracy": r.get("accuracy"), "accuracy_ci": r.get("accuracy_ci"),
              "p50": r["latency_ms"]["p50"], "p95": r["latency_ms"]["p95"],
              "p99": r["latency_ms"]["p99"], "pct": r["latency_ms"].get(key),
              "pre_p50": r["stages_ms"]["preprocess"]["p50"],
              "inf_p50": r["stages_ms"]["inference"]["p50"],
              "post_p50": r["stages_ms"]["postprocess"]["p50"],
              "throughput": r.get("throughput_ips"), "size_mb": r.get("size_mb"),
              "n_params": r.get("n_params"), "peak_rss_mb": r.get("peak_rss_mb"),
              "warmup_first_ms": r["warmup"]["first_ms"],
              "spread": r["spread"]["iqr_over_median"], "noisy": r["spread_too_wide"],
              "pareto": i in front} for i, r in enumerate(rows)]
    rec = recommendation(result)
    m = result.machine
    return {"svg": pareto_svg(rows, front, result.options.budget_ms), "rows": table,
            "percentile": key, "budget_ms": result.options.budget_ms,
            "recommendation": dict(rec),
            "machine": f"{m.get('processor')} · {m.get('cpu_count')} CPUs · onnxruntime "
                       f"{m.get('onnxruntime')} · {', '.join(m.get('providers_available', []))}",
            "skew": [s.to_dict() for s in result.skew],
            "int8_notes": [dict(n) for n in int8_notes(rows)]}


def save(result: BenchResult, out: str | Path, lang: str = "en") -> Path:
    """Write bench.json, bench.csv, report.json and a self-contained report.html into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(bench_dict(result, lang), ensure_ascii=False,
                                               indent=2), encoding="utf-8")
    write_csv(result, out / "bench.csv")
    report = Report(dataset={"root": result.data, "split": result.split,
                             "n_images": (result.rows[0].get("n_eval") if result.rows else 0)},
                    findings=result.findings, sections={"bench": section(result)}, lang=lang,
                    root=Path(result.data) if result.data else None)
    report.save(out, lang)
    return out
