"""The expectation sheet: plain words, both languages, questions answered or open."""

from __future__ import annotations

from pathlib import Path

from pitfalls.sheet import in_words, render_sheet, write_sheet

REPORT = {
    "dataset": {"n_images": 500, "labels": {"apple": 200, "plum": 50}, "splits": {"test": 100}},
    "findings": [{"rule": "FIELD002", "metrics": {
        "lab_accuracy": 0.9, "lab_ci": [0.85, 0.94], "predicted_field_accuracy": 0.8,
        "ci": [0.75, 0.85], "atc_estimate": 0.78}}],
    "sections": {"evaluation": {"split": "test", "n": 100, "per_class": [
        {"label": "plum", "n": 20, "recall": 0.6}, {"label": "apple", "n": 80, "recall": 0.95}]},
        "field": {"n_field": 30, "conditions": [
            {"label": {"en": "exposure (brightness)", "ja": "露出（明るさ）"}, "effect": -2.5,
             "p_holm": 0.001}]}},
}


def test_in_words() -> None:
    assert in_words(0.8, [0.75, 0.85], "en") == "about 8 in 10 correct, between 7.5 and 8.5"
    assert in_words(0.8, [0.75, 0.85], "ja") == "10 回に約 8 回正解（7.5〜8.5 回の範囲）"
    assert in_words(None, None, "en") == "not measured"


def test_sheet_en_and_ja_with_questions(tmp_path: Path) -> None:
    answers = {"who_acts": "The line supervisor checks every rejected fruit."}
    en = render_sheet(REPORT, lang="en", questions=answers)
    assert "about 8 in 10 correct, between 7.5 and 8.5" in en
    assert "about 9 in 10 correct" in en and "The line supervisor" in en
    assert "'plum' is found only about 6 times in 10" in en
    assert "exposure (brightness)" in en and "open" in en
    ja = render_sheet(REPORT, lang="ja", questions={})
    assert "10 回に約 8 回正解" in ja and "露出（明るさ）" in ja and "未回答" in ja
    assert "「plum」は 10 回に約 6 回しか見つけられません" in ja
    bench = {"machine": {"cpu": "Test CPU"}, "rows": [
        {"model": "m", "latency_ms": {"p95": 12.5}, "throughput_ips": 80.0}]}
    written = write_sheet(REPORT, tmp_path, lang="en", bench=bench, questions={}, pdf=False)
    html = written[0].read_text(encoding="utf-8")
    assert "12.5 ms" in html and "Test CPU" in html


def test_unreadable_bench_is_an_input_error(tmp_path: Path) -> None:
    import pytest

    from pitfalls.errors import PitfallsError

    bad = tmp_path / "bench.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(PitfallsError):
        write_sheet(REPORT, tmp_path, bench=bad, questions={}, pdf=False)
