"""The phase checklist: filled from a real demo report and the team's answers file, a release gate
with --fail-on-open, readiness in the ML Test Score's manner, outputs escaped, sheet from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from team_case import write_team_project
from typer.testing import CliRunner

from pitfalls.checklist.answers import read_answers
from pitfalls.checklist.evaluate import fill
from pitfalls.checklist.items import PHASES, STAGES, for_stage, items
from pitfalls.cli import app
from pitfalls.rules import registry

run = CliRunner().invoke


def _json(args: list[str]) -> dict:
    result = run(app, [*args, "--format", "json"])
    assert result.exit_code in (0, 1), (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return json.loads(result.output)


def test_items_are_complete() -> None:
    assert len(items()) >= 20
    axes = {"Data Integrity", "Model Robustness", "System Quality", "Process Agility",
            "Customer Expectation"}
    for i in items().values():
        assert i.phase in PHASES and i.stages and set(i.stages) <= set(STAGES), i.id
        for t in (i.question, i.why, i.how):
            assert t["en"].strip() and t["ja"].strip() and t["ja"] != t["en"], i.id
        assert set(i.rules) <= set(registry()), i.id
        assert i.qa4ai in axes, i.id
        if i.ml_test_score:
            assert re.fullmatch(r"(Data|Model|Infra|Monitor) [1-7]", i.ml_test_score), i.id
    assert {i.phase for i in items().values()} == set(PHASES)
    poc, production = for_stage("poc"), for_stage("production")
    assert 0 < len(poc) < len(production) and {i.id for i in poc} <= {i.id for i in production}


def test_every_talk_theme_has_an_item() -> None:
    """The talk's themes, each found by words in the item texts."""
    text = {i.id: (i.question["en"] + " " + i.why["en"]).lower() for i in items().values()}
    themes = [("imbalance",), ("leakage", "session"), ("evaluation is correct",),
              ("latency", "hardware"), ("memory", "cost"), ("lab", "field"),
              ("expectations",), ("visited the place",), ("stakeholders",), ("monitor",),
              ("retrain",), ("explanation",), ("unsure", "unusable")]
    for words in themes:
        assert any(all(w in t for w in words) for t in text.values()), words


def test_demo_report_fills_the_automated_items(demo_run) -> None:
    where, report, _ = demo_run
    data = _json(["checklist", "--stage", "production", "--report", str(where / "report"),
                  "--answers", str(where / "none.toml")])
    got = {i["id"]: i for i in data["items"]}
    assert {i["phase"] for i in data["items"]} == set(PHASES)
    failing = {f["rule"] for f in report["findings"] if f["severity"] in ("warning", "error")}
    passed = set(report["passed"]) | {f["rule"] for f in report["findings"]
                                      if f["severity"] == "info"}
    for item in for_stage("production"):
        status = got[item.id]["status"]
        if not item.rules:
            assert status == "open", item.id
        elif failing & set(item.rules):
            assert status == "failed", item.id
        elif passed & set(item.rules):
            assert status == "passed", item.id
        else:
            assert status == "not_run", item.id
    # spot checks against the demo's planted pitfalls and its report
    assert got["capture-leakage"]["status"] == "failed"
    assert got["calibration"]["status"] == "passed"
    assert got["latency-on-target"]["status"] == "not_run"
    reasons = {e["reason"] for e in got["latency-on-target"]["evidence"]}
    assert any("bench" in (r or "") for r in reasons)


def test_finding_links_point_into_the_report_page(demo_run) -> None:
    where, _, _ = demo_run
    result = run(app, ["checklist", "--report", str(where / "report"), "--format", "md",
                       "--answers", str(where / "none.toml")])
    links = re.findall(r"\]\(([^)]*report\.html#(finding-[^)]+))\)", result.output)
    assert links
    page = (where / "report" / "report.html").read_text(encoding="utf-8")
    for _, anchor in links:
        assert f'id="{anchor}"' in page
        rule = anchor.rsplit("-", 1)[1]
        block = page.split(f'id="{anchor}"', 1)[1][:400]
        assert f'data-rule="{rule}"' in block


def test_terminal_view_shows_every_phase_in_both_languages(demo_run) -> None:
    where, _, _ = demo_run
    args = ["checklist", "--report", str(where / "report"), "--answers", str(where / "none.toml")]
    en = run(app, args, env={"COLUMNS": "160"})
    assert en.exit_code == 0, en.exception
    for words in ("Model R&D", "Building the ML system", "Operating in production",
                  "readiness", "field-visit", "failed"):
        assert words in en.output
    ja = run(app, [*args, "--lang", "ja"], env={"COLUMNS": "160"})
    for words in ("モデルの研究開発", "機械学習システムの開発", "本番環境での運用", "準備度",
                  "未対応", "不合格", "撮影現場の確認"):
        assert words in ja.output


def test_answering_every_item_opens_the_gate(demo_run, tmp_path: Path) -> None:
    where, _, _ = demo_run
    answers = tmp_path / "pitfalls-checklist.toml"
    gate = ["checklist", "--stage", "production", "--report", str(where / "report"),
            "--answers", str(answers), "--fail-on-open"]
    first = run(app, gate)
    assert first.exit_code == 1, (first.output, first.exception)
    still = [i["id"] for i in _json([*gate])["items"]
             if i["status"] in ("open", "failed", "not_run")]
    for n, item_id in enumerate(still):
        status = "na" if item_id == "quantization" else "done"
        r = run(app, ["checklist", "answer", item_id, "--status", status, "--answers",
                      str(answers), "--note", f"checked <b>{n}</b>", "--owner", "Aiko",
                      "--evidence", "https://wiki.example.com/x"])
        assert r.exit_code == 0, (r.output, r.exception)
    stored = read_answers(answers)
    assert set(stored) == set(still) and stored["field-visit"].owner == "Aiko"
    assert stored["field-visit"].date  # stamped with today's date
    last = run(app, gate)
    assert last.exit_code == 0, last.output
    # a poc gate sees fewer items and was green as soon as its own were answered
    assert run(app, [*gate[:2], "poc", *gate[3:]]).exit_code == 0


def test_readiness_in_the_ml_test_score_manner() -> None:
    """Hand-counted: research has calibration passed in the report (1 point) and split-unit done
    by hand (0.5); capture-leakage failed and answered done earns nothing; field-visit n/a
    leaves the production maximum."""
    report = {"findings": [{"rule": "LEAK002", "severity": "error"},
                           {"rule": "QUAL006", "severity": "info"}],
              "passed": ["EVAL003"], "skipped": [{"rule": "PERF001", "reason": "needs bench"}]}
    from pitfalls.checklist.answers import Answer

    answers = {"split-unit": Answer("done"), "field-visit": Answer("na"),
               "capture-leakage": Answer("done", note="accepted: sessions re-split next week")}
    cl = fill("production", [("", report)], answers)
    ready = cl.readiness()
    n = {p: len([i for i in items().values() if i.phase == p]) for p in PHASES}
    # image-quality: QUAL006 info only -> passed, 1 point
    assert ready["research"]["points"] == 2.5 and ready["research"]["max"] == n["research"]
    assert ready["production"]["max"] == n["production"] - 1
    assert ready["system"]["points"] == 0 and cl.score() == 0
    status = {r.item.id: r.status for r in cl.results}
    assert status["capture-leakage"] == "done" and status["image-quality"] == "passed"
    assert status["latency-on-target"] == "not_run" and status["field-visit"] == "na"


def test_bad_answers_and_options_are_clear_messages(tmp_path: Path) -> None:
    bad = tmp_path / "answers.toml"
    bad.write_text('[field-visit]\nstatus = "maybe"\n', encoding="utf-8")
    r = run(app, ["checklist", "--answers", str(bad)])
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit)
    assert "answers.toml" in r.output and "status must be one of" in r.output
    bad.write_text("[field-visit\n", encoding="utf-8")
    r = run(app, ["checklist", "--answers", str(bad)])
    assert r.exit_code == 2 and "answers.toml" in r.output
    r = run(app, ["checklist", "answer", "field", "--status", "done", "--answers", str(bad)])
    assert r.exit_code == 2 and "did you mean" in r.output and "field-visit" in r.output
    r = run(app, ["checklist", "answer", "field-visit", "--status", "finished"])
    assert r.exit_code == 2 and "--status" in r.output
    r = run(app, ["checklist", "--stage", "beta"])
    assert r.exit_code == 2 and "--stage" in r.output
    r = run(app, ["checklist", "--report", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "no report" in r.output


def test_html_is_self_contained_and_escaped(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write_team_project(tmp_path, title="Glare <script>alert(1)</script>")
    monkeypatch.chdir(tmp_path)
    run(app, ["checklist", "answer", "who-acts", "--status", "done", "--note",
              "<img src=x onerror=alert(2)>", "--evidence", "javascript:alert(3)"])
    out = tmp_path / "cl.html"
    r = run(app, ["checklist", "--format", "html", "--out", str(out)])
    assert r.exit_code == 0, (r.output, r.exception)
    html = out.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in html and 'href="javascript:' not in html
    assert "javascript:alert(3)" in html  # shown as text, not a link
    assert not re.search(r"<(img|script|link|iframe)\b[^>]*\b(src|href)=", html)  # self-contained


def test_team_case_shows_in_the_checklist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_team_project(tmp_path, title="Glare on line 3")
    monkeypatch.chdir(tmp_path)
    r = run(app, ["checklist", "--stage", "poc"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.exception
    assert "Glare on line 3" in r.output and "team case" in r.output
    data = _json(["checklist"])
    visit = next(i for i in data["items"] if i["id"] == "field-visit")
    assert {"id": "line3-glare-2025", "title": "Glare on line 3", "team": True}.items() <= \
        next(c for c in visit["cases"] if c["team"]).items()
    md = run(app, ["checklist", "--format", "md"]).output
    assert "**team case:** [Glare on line 3](https://wiki.example.com/pm-42) (2025)" in md


def test_sheet_questions_are_the_checklist_items(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from pitfalls.sheet import questions_no_tool_can_answer, render_sheet, write_sheet

    qs = questions_no_tool_can_answer()
    assert set(qs) == {"who_acts", "acceptable_error", "fallback", "review"}
    by_key = {i.sheet: i for i in items().values() if i.sheet}
    assert all(qs[k] == by_key[k].question for k in qs)
    report = {"dataset": {"labels": {"a": 1}}, "findings": []}
    ja = render_sheet(report, lang="ja", questions={})
    assert by_key["who_acts"].question["ja"] in ja
    monkeypatch.chdir(tmp_path)
    run(app, ["checklist", "answer", "who-acts", "--status", "done", "--note",
              "The shift lead reviews every rejected photo."])
    html = write_sheet(report, tmp_path / "out", pdf=False)[0].read_text(encoding="utf-8")
    assert "The shift lead reviews every rejected photo." in html
