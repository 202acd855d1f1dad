"""The rule documentation: complete in both languages, and docs/rules.md never drifts from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitfalls.cases import published
from pitfalls.docs import catalogue_markdown, main, pages, rule_text
from pitfalls.rules import registry

ROOT = Path(__file__).resolve().parents[1]
RULES = sorted(registry())


def test_rules_page_is_generated_from_the_code() -> None:
    page = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert page == catalogue_markdown(), (
        "docs/rules.md is out of date: run `python -m pitfalls.docs` and commit the result")


@pytest.mark.parametrize("name", ["checklist.md", "cases.md"])
def test_checklist_and_case_pages_are_generated_from_the_data(name: str) -> None:
    page = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert page == pages()[name], (
        f"docs/{name} is out of date: run `python -m pitfalls.docs` and commit the result")


def test_generator_writes_every_page(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.md", "checklist.md", "rules.md"]
    cases = (tmp_path / "cases.md").read_text(encoding="utf-8")
    assert all(f'<a id="{cid}"></a>' in cases for cid in published())
    checklist = (tmp_path / "checklist.md").read_text(encoding="utf-8")
    assert "| [field-visit](#field-visit) | production |" in checklist


def test_generator_writes_every_rule(tmp_path: Path) -> None:
    out = tmp_path / "rules.md"
    assert main([str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    for code in RULES:
        assert f"| [{code}](#{code.lower()}) |" in text
        assert f"## {code} " in text


@pytest.mark.parametrize("code", RULES)
def test_rule_documentation_is_complete_in_both_languages(code: str) -> None:
    rule = registry()[code]
    assert rule.code == code and rule.name and rule.phase in {"research", "system", "production"}
    assert rule.severity in {"error", "warning", "info"}
    for text in (rule.title, rule.doc.what, rule.doc.why, rule.doc.fix):
        assert text.get_text("en").strip(), f"{code}: empty English text"
        assert text.get("ja", "").strip(), f"{code}: empty Japanese text"
        assert text["ja"] != text["en"], f"{code}: Japanese text is a copy of the English"
    assert len(rule.doc.cases) >= 1, f"{code}: no real published case"
    library = published()
    for cid in rule.doc.cases:
        assert cid in library, f"{code}: case {cid!r} is not in the case library"
        assert len(library[cid].source.citation) > 40, f"{cid}: a case without its source"


@pytest.mark.parametrize("lang,heading", [("en", "Why it matters"), ("ja", "なぜ問題か")])
def test_rule_page_in_each_language(lang: str, heading: str) -> None:
    text = rule_text("LEAK002", lang)
    assert text.startswith("# LEAK002 ")
    assert f"## {heading}" in text
