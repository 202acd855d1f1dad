"""`pitfalls monitor report`: the after-release report of a stored week, from a real database
(SQLite in a temporary folder; PostgreSQL once when it answers), through the command line."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_cli_ok
from monitor_data import START, as_json, pool, stream, true_accuracy, write_reference
from monitor_service import PgDatabase, _pg_reachable
from typer.testing import CliRunner

from pitfalls.cli import app
from pitfalls.monitor.after_release import parse_period

DAYS = 7
END = START + pd.Timedelta(days=DAYS)
DARK = "<script>alert(1)</script>"
"""The camera whose photos turn dark from day 5; its name must reach the page as text."""
CHROMIUM = Path("/usr/bin/chromium")


def _week(seed: int = 3, days: int = DAYS) -> pd.DataFrame:
    """Two cameras, ten records an hour each, every record labelled; DARK's photos darkened
    (real images through the extractor) and its model less sure from day 5."""
    rng = np.random.default_rng(seed)
    plain, dark = list(pool("plain", 300, 2)), list(pool("dark", 150, 3))
    frames = [stream(rng, plain, range(days * 24), {"cam-1": 10}),
              stream(rng, plain, range(min(4, days) * 24), {DARK: 10})]
    if days > 4:
        frames.append(stream(rng, dark, range(4 * 24, days * 24), {DARK: 10}, margin=1.2))
    return pd.concat(frames, ignore_index=True)


def _fill(db: str, frame: pd.DataFrame) -> None:
    """The records stored as the service stores them, and one alert it raised."""
    from pitfalls.alerts.state import Alert
    from pitfalls.monitor.records import validate_record
    from pitfalls.monitor.storage import SqlAlertStore, Store, migrate
    from pitfalls.text import T

    migrate(db)
    store = Store.open(db)
    try:
        rows = [validate_record(r, None, now=END.to_pydatetime())[0] for r in as_json(frame)]
        assert all(rows)
        store.insert(rows)
        at = (START + pd.Timedelta(days=4, hours=1)).to_pydatetime()
        SqlAlertStore(store.engine).save(Alert(
            rule="MON007", source=DARK, severity="error",
            title=T("Unusable inputs rise", "使えない入力が増えた"),
            summary=T("all dark", "すべて暗い"), metrics={}, opened_at=at,
            last_seen=at + timedelta(days=2)))
    finally:
        store.engine.dispose()


@pytest.fixture(scope="module")
def week() -> pd.DataFrame:
    return _week()


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, week: pd.DataFrame) -> tuple[str, Path]:
    where = tmp_path_factory.mktemp("after-release")
    db = f"sqlite:///{where / 'monitor.db'}"
    _fill(db, week)
    return db, write_reference(where / "reference")


def _report(db: str, ref: Path, out: Path, *args: str):
    return CliRunner().invoke(app, ["monitor", "report", "--db", db, "--reference", str(ref),
                                    "--out", str(out), "--end", END.isoformat(), *args])


def test_the_week_on_one_page_in_english(stored, week, tmp_path):
    db, ref = stored
    result = _report(db, ref, tmp_path, "--period", "7d", "--no-pdf")
    assert_cli_ok(result, 0, f"{len(week)} records from 2 source(s), 7 daily windows")
    html = (tmp_path / "after-release.html").read_text(encoding="utf-8")
    acc = true_accuracy(2.5)
    low, high = acc - 0.03, min(1.0, acc + 0.05)
    assert f"between {low * 10:.1f} and {high * 10:.1f}" in html  # the promise
    days = re.findall(r"<tr[^>]*><td>(2026-03-0\d)</td><td class=\"num\">(\d+)</td>", html)
    assert [d for d, _ in days] == [f"2026-03-0{d}" for d in range(2, 9)]
    per_day = week.groupby(week["captured_at"].dt.strftime("%Y-%m-%d")).size()
    assert {d: int(n) for d, n in days} == per_day.to_dict()
    assert re.search(r"\d+% <span class=\"muted\">\d+–\d+%</span>", html)  # with its interval
    assert "<svg" in html and "<polygon" in html  # the chart, with the estimate's interval
    # the darkened camera: named (as text), with the rule and its plain explanation
    assert DARK not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    why = html.split("Where and why they differ")[1].split("<h2>")[0]
    assert re.search(r"MON00[17]", why) and "&lt;script&gt;" in why
    assert "too dark" in why or "other conditions" in why
    assert "Unusable inputs rise" in html and "2026-03-06 01:00" in html  # the stored alert
    assert "No records were received" not in html


def test_the_week_in_japanese(stored, tmp_path):
    db, ref = stored
    result = _report(db, ref, tmp_path, "--period", "1w", "--lang", "ja", "--no-pdf")
    assert_cli_ok(result, 0)
    html = (tmp_path / "after-release.html").read_text(encoding="utf-8")
    assert '<html lang="ja">' in html
    for text in ("約束したことと、リリース後に測ったこと", "合意した範囲", "10 回に約",
                 "どこで、なぜ違ったか", "使えない入力が増えた", "日付", "対応待ち"):
        assert text in html, text
    assert "What was promised" not in html and "Agreed range" not in html
    assert DARK not in html


def test_one_source_and_a_day_by_the_hour(stored, week, tmp_path):
    db, ref = stored
    result = _report(db, ref, tmp_path, "--period", "24h", "--source", "cam-1", "--no-pdf")
    n = int(((week["source"] == "cam-1") & (week["captured_at"] >= END - pd.Timedelta(hours=24))
             ).sum())
    assert_cli_ok(result, 0, f"{n} records from 1 source(s), 24 hourly windows")
    html = (tmp_path / "after-release.html").read_text(encoding="utf-8")
    assert "1 source(s): cam-1" in html and "&lt;script&gt;" not in html.split("<h2>")[0]
    assert "<svg" in html and 'class="windows"' not in html.split("Alerts")[0]  # chart only


def test_an_empty_period_says_no_records_arrived(stored, tmp_path):
    db, ref = stored
    result = CliRunner().invoke(app, ["monitor", "report", "--db", db, "--reference", str(ref),
                                      "--out", str(tmp_path), "--end", "2025-01-01T00:00:00Z",
                                      "--no-pdf"])
    assert_cli_ok(result, 0, "no records were received in this period")
    html = (tmp_path / "after-release.html").read_text(encoding="utf-8")
    assert "No records were received in this period." in html
    assert "The monitoring service raised no alert in this period." in html


@pytest.mark.parametrize("period", ["7x", "0d", "d7", "", "1000w", "7.5d"])
def test_a_bad_period_exits_2_with_a_message(stored, tmp_path, period):
    db, ref = stored
    result = _report(db, ref, tmp_path, "--period", period, "--no-pdf")
    assert_cli_ok(result, 2, "--period")
    assert not (tmp_path / "after-release.html").exists()


def test_bad_inputs_exit_2_with_a_message(stored, tmp_path):
    db, ref = stored
    cases = [
        (["--db", f"sqlite:///{tmp_path / 'none.db'}"], "no monitor database"),
        (["--db", "not a url"], "not a database URL"),
        (["--reference", str(tmp_path / "nowhere")], "not a reference folder"),
        (["--end", "yesterday"], "not an ISO 8601 time"),
        (["--lang", "fr"], "--lang must be en or ja"),
    ]
    (tmp_path / "junk.db").write_text("not a database")
    cases.append((["--db", f"sqlite:///{tmp_path / 'junk.db'}"], "cannot read the database"))
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.close()
    cases.append((["--db", f"sqlite:///{tmp_path / 'other.db'}"], "no monitoring records"))
    for args, message in cases:
        result = CliRunner().invoke(app, ["monitor", "report", "--db", db, "--reference",
                                          str(ref), "--out", str(tmp_path / "out"), *args])
        assert_cli_ok(result, 2, message)
    assert not (tmp_path / "none.db").exists()  # a report never creates a database


def test_parse_period():
    assert parse_period("24h") == timedelta(hours=24)
    assert parse_period(" 2W ") == timedelta(weeks=2)
    assert parse_period("7d") == timedelta(days=7)


def test_the_page_prints_to_one_pdf_page(stored, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium: no PDF to print")
    db, ref = stored
    for lang in ("en", "ja"):
        out = tmp_path / lang
        result = _report(db, ref, out, "--period", "7d", "--lang", lang)
        assert_cli_ok(result, 0, "after-release.pdf")
        pdf = (out / "after-release.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1


def test_a_week_on_postgresql(tmp_path):
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    pg = PgDatabase()
    try:
        two = _week(seed=5, days=2)
        _fill(pg.url, two)
        ref = write_reference(tmp_path / "reference")
        end = START + pd.Timedelta(days=2)
        result = CliRunner().invoke(app, [
            "monitor", "report", "--db", pg.url, "--reference", str(ref), "--out",
            str(tmp_path), "--end", end.isoformat(), "--period", "2d", "--no-pdf"])
        assert_cli_ok(result, 0, f"{len(two)} records from 2 source(s), 48 hourly windows")
        html = (tmp_path / "after-release.html").read_text(encoding="utf-8")
        assert "&lt;script&gt;" in html and DARK not in html
    finally:
        pg.drop()


def test_end_defaults_to_now(stored, tmp_path):
    db, ref = stored
    result = CliRunner().invoke(app, ["monitor", "report", "--db", db, "--reference", str(ref),
                                      "--out", str(tmp_path), "--no-pdf"])
    assert_cli_ok(result, 0)
    html = (tmp_path / "after-release.html").read_text(encoding="utf-8")
    assert datetime.now(timezone.utc).strftime("%Y-%m-%d") in html


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_class_and_source_names_and_alert_texts_reach_the_page_as_text(lang):
    """A class named like markup (it comes from the reference, the source from the device, the
    alert's text from the rule that carries both) is shown, never interpreted."""
    from pitfalls.findings import Finding
    from pitfalls.monitor.analysis.report import render_after_release
    from pitfalls.text import T

    start = "2026-03-02T00:00:00+00:00"
    window = {"every": "1d", "start": start, "end": "2026-03-03T00:00:00+00:00", "n": 300,
              "estimated_accuracy": 0.7, "ci": [0.6, 0.8], "estimate_method": "atc",
              "realised_accuracy": None, "realised_ci": [float("nan")] * 2, "n_labelled": 0}
    mix = T("more <img src=x onerror=alert(1)>, fewer lemon",
            "<img src=x onerror=alert(1)> が増え、lemon が減少")
    finding = Finding("MON003", "production", "warning", T("mix", "構成"), mix,
                      {"source": "<b>cam</b>", "every": "1d", "window_start": start})
    alert = {"rule": "MON003", "source": "<b>cam</b>", "state": "open",
             "opened": datetime(2026, 3, 2, 1, tzinfo=timezone.utc),
             "title": T("<i>mix</i> shifted", "<i>構成</i>が変化")}
    html = render_after_release([window], [finding], (0.6, 0.8), sources=["<b>cam</b>"],
                                alerts=[alert], lang=lang)
    for raw in ("<img", "<b>cam", "<i>"):
        assert raw not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b&gt;cam&lt;/b&gt;" in html
    assert "&lt;i&gt;" in html


def test_without_chromium_it_says_no_pdf_was_printed(stored, tmp_path):
    db, ref = stored
    result = CliRunner(env={"PATH": str(tmp_path / "no-browsers-here")}).invoke(app, [
        "monitor", "report", "--db", db, "--reference", str(ref), "--out", str(tmp_path),
        "--end", END.isoformat()])
    assert_cli_ok(result, 0, "no PDF: install Chromium")
    assert (tmp_path / "after-release.html").is_file()
    assert not (tmp_path / "after-release.pdf").exists()
