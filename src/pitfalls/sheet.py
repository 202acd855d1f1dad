"""The expectation sheet: one printable page for non-engineers, in English or Japanese.

It reads only a report (`report.json` as a dict), an optional `bench.json` and the questions
recorded in the config (`[tool.pitfalls.questions]`), and says in plain words what the model does,
what it was tested on, how often it will be right in the lab and in the field, where it fails, how
fast it is, what will be measured after release, and which questions only people can answer.
A PDF is printed with headless Chromium when one is installed.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from pitfalls.text import T

log = logging.getLogger(__name__)


def questions_no_tool_can_answer() -> dict[str, T]:
    """The sheet's questions no tool can answer, by key: the checklist items that name a sheet key
    (one source). Answers come from `[tool.pitfalls.questions]` under these keys (any other key
    there is shown as a question of its own)."""
    from pitfalls.checklist.items import sheet_questions

    return {key: item.question for key, item in sheet_questions().items()}


def checklist_answers(path: str | Path | None = None) -> dict[str, str]:
    """Sheet answers from the checklist's answers file (default `pitfalls-checklist.toml` in the
    working folder): the note of each sheet item answered `done`."""
    from pitfalls.checklist.answers import ANSWERS_FILE, read_answers
    from pitfalls.checklist.items import sheet_questions
    from pitfalls.errors import PitfallsError

    try:
        answers = read_answers(Path(path or ANSWERS_FILE))
    except PitfallsError as exc:
        log.warning("checklist answers not used on the sheet: %s", exc)
        return {}
    return {key: answers[item.id].note for key, item in sheet_questions().items()
            if item.id in answers and answers[item.id].status == "done" and answers[item.id].note}


AFTER_RELEASE = [
    T("Share of confident predictions and the accuracy estimated from it without labels (ATC).",
      "確信度の高い予測の割合と、そこからラベルなしで推定した正解率（ATC）。"),
    T("Capture conditions of incoming photos (brightness, blur, noise, compression, colour) "
      "against the test photos.",
      "届く写真の撮影条件（明るさ・ぼけ・ノイズ・圧縮・色）をテスト写真と比較。"),
    T("Mix of predicted classes against the expected mix.", "予測クラスの構成と想定構成の比較。"),
    T("A labelled spot check of a random sample every month, with its interval.",
      "毎月ランダムに抜き出した写真に正解を付けて確認（区間付き）。"),
]


def in_words(p: float | None, ci: list[float] | None, lang: str) -> str:
    """'about 8 in 10 correct, between 7.5 and 8.5' (or its Japanese)."""
    if p is None or p != p:
        return "測定なし" if lang == "ja" else "not measured"
    n = round(p * 10)
    lo, hi = (ci or [p, p])[:2]
    if lang == "ja":
        text = f"10 回に約 {n} 回正解"
        return text + (f"（{lo * 10:.1f}〜{hi * 10:.1f} 回の範囲）" if ci else "")
    text = f"about {n} in 10 correct"
    return text + (f", between {lo * 10:.1f} and {hi * 10:.1f}" if ci else "")


def _finding(report: dict[str, Any], code: str) -> dict[str, Any] | None:
    return next((f for f in report.get("findings", []) if f.get("rule") == code), None)


def _text(v: Any, lang: str) -> str:
    if isinstance(v, dict):
        return str(v.get(lang) or v.get("en") or "")
    return "" if v is None else str(v)


def _condition_label(name: str, lang: str) -> str:
    """Words for a capture condition key (`exposure` -> 'exposure (brightness)' /
    '露出（明るさ）')."""
    from pitfalls.field.conditions import CONDITIONS

    cond = CONDITIONS.get(name)
    return cond.label.get_text(lang) if cond else name


def sheet_data(report: dict[str, Any], *, lang: str = "en", bench: dict[str, Any] | None = None,
               questions: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the sheet shows, from a report dict (and bench.json, config questions)."""
    ds = report.get("dataset") or {}
    sections = report.get("sections") or {}
    ev = sections.get("evaluation") or {}
    fld = sections.get("field") or {}
    pred = fld.get("prediction") or {}
    f2 = _finding(report, "FIELD002")
    m2 = (f2 or {}).get("metrics") or {}
    lab = ev.get("metrics", {}).get("accuracy", {})
    lab_acc = m2.get("lab_accuracy", pred.get("lab_accuracy", lab.get("value")))
    lab_ci = m2.get("lab_ci", pred.get("lab_ci", lab.get("ci")))
    field_acc = m2.get("predicted_field_accuracy", pred.get("predicted_field_accuracy"))
    field_ci = m2.get("ci", pred.get("ci"))
    per_class = sorted(ev.get("per_class") or [], key=lambda r: (r.get("recall") is None,
                                                                  r.get("recall") or 0))
    weak = min(0.95, lab_acc) if isinstance(lab_acc, int | float) else 1.0  # worse than overall
    worst_classes = [{"label": r["label"], "recall": r.get("recall"), "n": r.get("n")}
                     for r in per_class[:3] if r.get("recall") is not None and r["recall"] < weak]
    slices = [{"what": f"{s.get('column')} = {s.get('value')}", "accuracy": s.get("accuracy"),
               "rest": s.get("accuracy_rest")}
              for s in (ev.get("slices") or [])[:3]
              if s.get("q_value", 1) < 0.05 or s.get("p_value", 1) < 0.01]
    conds = [c for c in fld.get("conditions") or [] if c.get("p_holm", 1) < 0.05]
    costs = [{**c, "names": [_condition_label(n, lang) for n in c.get("conditions") or []]}
             for c in pred.get("costs") or []]
    speed = None
    if bench and bench.get("rows"):
        row = min(bench["rows"], key=lambda r: (r.get("latency_ms") or {}).get("p95", 1e18))
        speed = {"model": row.get("model"), "p95": (row.get("latency_ms") or {}).get("p95"),
                 "throughput": row.get("throughput_ips"),
                 "machine": ", ".join(str(v) for v in (bench.get("machine") or {}).values()
                                      if isinstance(v, str | int | float))[:120]}
    asked = dict(questions or {})
    qs = [{"question": q.get_text(lang), "answer": asked.pop(k, None)}
          for k, q in questions_no_tool_can_answer().items()]
    qs += [{"question": k.replace("_", " "), "answer": v} for k, v in asked.items()]
    labels = sorted((ds.get("labels") or {}).keys())
    n_eval = ev.get("n") or pred.get("n_eval")
    return {
        "lang": lang, "labels": labels, "n_images": ds.get("n_images"),
        "splits": ds.get("splits") or {}, "eval_split": ev.get("split") or fld.get("lab_split"),
        "n_eval": n_eval, "n_field": fld.get("n_field"),
        "lab": {"value": lab_acc, "ci": lab_ci, "words": in_words(lab_acc, lab_ci, lang)},
        "field": {"value": field_acc, "ci": field_ci,
                  "words": in_words(field_acc, field_ci, lang) if field_acc is not None else None,
                  "atc": m2.get("atc_estimate", pred.get("atc_estimate"))},
        "worst_classes": worst_classes, "slices": slices,
        "conditions": [{"label": _text(c.get("label"), lang), "effect": c.get("effect")}
                       for c in conds[:4]],
        "costs": costs[:3], "speed": speed,
        "after": [t.get_text(lang) for t in AFTER_RELEASE], "questions": qs,
        "n_open": sum(q["answer"] in (None, "") for q in qs),
    }


def render_sheet(report: dict[str, Any], *, lang: str = "en", bench: dict[str, Any] | None = None,
                 questions: dict[str, str] | None = None) -> str:
    env = Environment(loader=PackageLoader("pitfalls.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    data = sheet_data(report, lang=lang, bench=bench, questions=questions)
    return env.get_template("sheet.html.j2").render(s=data, lang=lang)


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def to_pdf(html: Path, pdf: Path, timeout: float = 60.0) -> bool:
    """Print `html` to `pdf` with headless Chromium; False when none is installed or it fails."""
    exe = chromium()
    if exe is None:
        return False
    try:
        subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-pdf-header-footer", f"--print-to-pdf={pdf.resolve()}",
                        html.resolve().as_uri()], check=True, capture_output=True,
                       timeout=timeout)
    except (subprocess.SubprocessError, OSError):
        return False
    return pdf.is_file() and pdf.stat().st_size > 0


def write_sheet(report: dict[str, Any], out: str | Path, *, lang: str = "en",
                bench: dict[str, Any] | str | Path | None = None,
                questions: dict[str, str] | None = None, pdf: bool = True) -> list[Path]:
    """Write `sheet.html` (and `sheet.pdf` when Chromium is available) into `out`."""
    from pitfalls.config import find_config
    from pitfalls.errors import InputError

    results: dict[str, Any] | None
    if isinstance(bench, str | Path):
        try:
            results = json.loads(Path(bench).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read bench results {bench}: {exc}") from None
    else:
        results = bench
    if questions is None:
        questions = {**checklist_answers(), **find_config().questions}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    html = out / "sheet.html"
    html.write_text(render_sheet(report, lang=lang, bench=results, questions=questions),
                    encoding="utf-8")
    written = [html]
    if pdf and to_pdf(html, out / "sheet.pdf"):
        written.append(out / "sheet.pdf")
    return written
