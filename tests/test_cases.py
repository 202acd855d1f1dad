"""The case library: every published case is complete and cited both ways; team cases are read
from the configured folders, shown, exported, escaped, and a broken one is a clear message."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from team_case import team_case_text, write_team_project
from typer.testing import CliRunner

from pitfalls.cases import load_case, published
from pitfalls.cases.render import case_toml
from pitfalls.checklist.items import items
from pitfalls.cli import app
from pitfalls.rules import registry

LIBRARY = Path(__file__).resolve().parents[1] / "src" / "pitfalls" / "cases" / "library"
CASES = sorted(published())


@pytest.mark.parametrize("cid", CASES)
def test_published_case_is_complete(cid: str) -> None:
    case = published()[cid]
    assert (LIBRARY / f"{cid}.toml").is_file(), "one file per case, named by its id"
    assert re.search(r"\(\d{4}\)", case.source.citation), f"{cid}: citation without a year"
    assert str(case.year) in case.source.citation
    if case.source.doi:
        assert re.fullmatch(r"10\.\d{4,9}/\S+", case.source.doi), case.source.doi
    if case.source.url:
        assert case.source.url.startswith("https://")
    for key in ("title", "what_happened", "how_found", "lesson"):
        text = getattr(case, key)
        assert text["en"].strip() and text["ja"].strip() and text["ja"] != text["en"], (cid, key)
    assert case.rules or case.checklist, f"{cid}: illustrates nothing"
    assert set(case.rules) <= set(registry()), f"{cid}: unknown rule code"
    assert set(case.checklist) <= set(items()), f"{cid}: unknown checklist item"


def test_rules_and_cases_cite_each_other() -> None:
    """A rule's case ids and the cases' `rules` say the same thing (each link written twice,
    checked here, so that neither side drifts)."""
    for code, rule in registry().items():
        named = {c.id for c in published().values() if code in c.rules}
        assert set(rule.doc.cases) == named, code


def test_checklist_items_and_cases_cite_each_other() -> None:
    for item in items().values():
        assert item.cases, f"{item.id}: no case"
        named = {c.id for c in published().values() if item.id in c.checklist}
        assert set(item.cases) == named, item.id


def test_rule_page_resolves_case_ids_to_citations() -> None:
    result = CliRunner().invoke(app, ["rules", "LEAK002"])
    assert result.exit_code == 0, result.exception
    assert "Barz" in result.output and "10.3390/jimaging6060041" in result.output


def test_search_by_words_phase_and_rule() -> None:
    run = CliRunner().invoke
    found = run(app, ["cases", "CIFAR", "--format", "json"])
    assert found.exit_code == 0, found.exception
    ids = {c["id"] for c in json.loads(found.output)["cases"]}
    assert "barz-denzler-2020-cifar-duplicates" in ids
    by_rule = json.loads(run(app, ["cases", "--rule", "SHORT002", "--format", "json"]).output)
    assert {c["id"] for c in by_rule["cases"]} == {
        c.id for c in published().values() if "SHORT002" in c.rules}
    system = json.loads(run(app, ["cases", "--phase", "system", "--format", "json"]).output)
    assert system["cases"] and all(c["phase"] == "system" for c in system["cases"])
    one = run(app, ["cases", "beede-2020-dr-thailand", "--lang", "ja"])
    assert one.exit_code == 0 and "教訓" in one.output and "10.1145/3313831.3376718" in one.output
    none = run(app, ["cases", "no-such-word-anywhere"])
    assert none.exit_code == 0 and "No case matches" in none.output


TEAM_CASE = team_case_text()


@pytest.fixture
def team_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose pyproject names a case folder holding one team case."""
    write_team_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_team_case_listed_beside_published_ones(team_project: Path) -> None:
    result = CliRunner().invoke(app, ["cases", "--format", "json"])
    assert result.exit_code == 0, result.exception
    listed = {c["id"]: c for c in json.loads(result.output)["cases"]}
    assert listed["line3-glare-2025"]["origin"] == "team"
    assert listed["barz-denzler-2020-cifar-duplicates"]["origin"] == "published"
    table = CliRunner().invoke(app, ["cases", "glare"], env={"COLUMNS": "200"})
    assert "line3-glare-2025" in table.output and "team case" in table.output


def test_case_book_html_escapes_team_text(team_project: Path) -> None:
    out = team_project / "book.html"
    result = CliRunner().invoke(app, ["cases", "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.exception
    html = out.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://doi.org/10.1145/3313831.3376718"' in html
    assert "src=" not in html and "<link" not in html  # self-contained


@pytest.mark.parametrize("text,expected", [
    ("id = \"broken\nyear = 2024\n", "not valid TOML"),
    (TEAM_CASE.replace('phase = "production"', 'phase = "later"'), "`phase` must be one of"),
    (TEAM_CASE.replace('year = 2025', 'year = "last spring"'), "`year` must be a year"),
    (TEAM_CASE.replace('[lesson]\nen = "Visit the line at every hour the camera runs."\n', ""),
     "[lesson] needs an English text"),
])
def test_malformed_team_case_is_a_clear_message(team_project: Path, text: str,
                                                expected: str) -> None:
    bad = team_project / "incidents" / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    for args in (["cases"], ["checklist"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output, result.exception)
        assert isinstance(result.exception, SystemExit), result.exception
        assert "bad.toml" in result.output and expected in result.output


def test_team_case_id_may_not_shadow_a_published_one(team_project: Path) -> None:
    (team_project / "incidents" / "copy.toml").write_text(
        TEAM_CASE.replace("line3-glare-2025", "beede-2020-dr-thailand"), encoding="utf-8")
    result = CliRunner().invoke(app, ["cases"])
    assert result.exit_code == 2 and "copy.toml" in result.output
    assert "already a published case" in result.output


def test_new_writes_a_template_that_loads(team_project: Path) -> None:
    result = CliRunner().invoke(app, ["cases", "new", "dock-door-2025"])
    assert result.exit_code == 0, result.exception
    written = team_project / "incidents" / "dock-door-2025.toml"
    case = load_case(written)
    assert case.id == "dock-door-2025" and case.team
    again = CliRunner().invoke(app, ["cases", "new", "dock-door-2025"])
    assert again.exit_code == 2 and "already exists" in again.output
    listed = CliRunner().invoke(app, ["cases", "--team", "--format", "json"])
    assert {c["id"] for c in json.loads(listed.output)["cases"]} == {
        "line3-glare-2025", "dock-door-2025"}


def test_export_round_trips_the_team_cases(team_project: Path, tmp_path_factory) -> None:
    dest = tmp_path_factory.mktemp("shared")
    result = CliRunner().invoke(app, ["cases", "export", str(dest)])
    assert result.exit_code == 0, result.exception
    files = sorted(p.name for p in dest.iterdir())
    assert files == ["line3-glare-2025.toml"]
    original = load_case(team_project / "incidents" / "line3-glare-2025.toml")
    assert load_case(dest / files[0]) == original
    toml = CliRunner().invoke(app, ["cases", "glare", "--format", "toml"])
    (dest / "printed.toml").write_text(toml.output, encoding="utf-8")
    assert load_case(dest / "printed.toml") == original


@pytest.mark.parametrize("cid", CASES[:5])
def test_published_case_toml_round_trips(cid: str, tmp_path: Path) -> None:
    case = published()[cid]
    path = tmp_path / f"{cid}.toml"
    path.write_text(case_toml(case), encoding="utf-8")
    back = load_case(path, "published")
    assert back == case


def test_report_shows_team_cases_under_their_rules(demo_run, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from pitfalls.report.document import Report

    where, _, _ = demo_run
    report = Report.from_json(where / "report" / "report.json")
    assert "FIELD001" in report.codes
    write_team_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    html = report.to_html("en")
    field = html.split('data-rule="FIELD001"', 1)[1].split("</article>", 1)[0]
    assert "Glare on line 3 &lt;script&gt;" in field and "(team case)" in field
    assert "A diabetic-retinopathy model meets clinics in Thailand" in field  # published, by id
    assert "<script>alert(1)" not in html
    # a broken team case costs the team's cases, not the report, and the log says why
    (tmp_path / "incidents" / "bad.toml").write_text("id = ", encoding="utf-8")
    with _heard("pitfalls.report.html") as heard:
        html = report.to_html("en")
    assert "Glare on line 3" not in html and 'data-rule="FIELD001"' in html
    assert any("bad.toml" in message for message in heard)


@contextmanager
def _heard(name: str) -> Iterator[list[str]]:
    """The warnings logger `name` emits in the block, whatever other tests did to the logging
    tree (levels, disabled loggers, propagation): a handler on the logger itself."""
    logger = logging.getLogger(name)
    heard: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: heard.append(record.getMessage())  # type: ignore[method-assign]
    state = (logger.level, logger.disabled, logging.root.manager.disable)
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.disabled = False
    logging.disable(logging.NOTSET)
    try:
        yield heard
    finally:
        logger.removeHandler(handler)
        logger.setLevel(state[0])
        logger.disabled = state[1]
        logging.disable(state[2])


def test_case_dirs_must_be_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pitfalls]\ncase-dirs = 3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["cases"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "case-dirs must be a list of folders" in result.output
    (tmp_path / "pyproject.toml").write_text('[tool.pitfalls]\ncase-dirs = ["gone"]\n',
                                             encoding="utf-8")
    result = CliRunner().invoke(app, ["cases"])
    assert result.exit_code == 2 and "gone" in result.output and "does not exist" in result.output
