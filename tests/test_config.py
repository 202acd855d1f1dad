"""Configuration from pitfalls.toml / pyproject.toml and its validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitfalls.config import Config, find_config
from pitfalls.errors import ConfigError


def test_pyproject_section_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pitfalls]\nselect = ["LEAK", "DUP001"]\nfail-on = "warning"\nlang = "ja"\n'
        '[tool.pitfalls.rules.IMB001]\nmax_ratio = 2.5\n', encoding="utf-8")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    cfg = find_config(sub)
    assert cfg.fail_on == "warning" and cfg.lang == "ja"
    assert cfg.selects("LEAK002") and cfg.selects("DUP001") and not cfg.selects("DUP002")
    assert cfg.params_for("IMB001") == {"max_ratio": 2.5}


def test_pitfalls_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pitfalls]\nlang = "ja"\n', encoding="utf-8")
    (tmp_path / "pitfalls.toml").write_text('ignore = ["QUAL"]\n', encoding="utf-8")
    cfg = find_config(tmp_path)
    assert cfg.lang == "en" and not cfg.selects("QUAL002") and cfg.selects("IMB001")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('fail-on = "sometimes"\n', "fail-on must be one of"),
        ('colour = "blue"\n', "unknown option(s) colour"),
        ('[rules.NOPE001]\nx = 1\n', "no rule has the code 'NOPE001'"),
        ('[rules.IMB001]\nmax_ration = 3\n', "IMB001 accepts: max_ratio, min_count"),
        ('lang = \n', "cannot read"),
    ],
)
def test_bad_config_gets_a_precise_message(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pitfalls.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        find_config(tmp_path)


def test_keyword_overrides_keep_file_values() -> None:
    cfg = Config(ignore=["QUAL"], lang="ja").merged(lang="en", select=None)
    assert cfg.lang == "en" and cfg.ignore == ["QUAL"]
