"""Configuration from pitfalls.toml / pyproject.toml and its validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitfalls.config import Config, find_config
from pitfalls.errors import ConfigError
from pitfalls.runner import check_rule_config


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
        ('lang = \n', "cannot read"),
        ('rules = 3\n', "rules must be a table"),
        ('[rules]\nIMB001 = 3\n', r"[rules.IMB001] must be a table"),
    ],
)
def test_bad_config_gets_a_precise_message(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pitfalls.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        find_config(tmp_path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[rules.NOPE001]\nx = 1\n', "no rule has the code 'NOPE001'"),
        ('[rules.IMB001]\nmax_ration = 3\n', "IMB001 accepts: max_ratio, min_count"),
        ('[rules.IMB001]\nmax_ratio = "4"\n',
         "[rules.IMB001] max_ratio = '4': must be a number >= 1 (got str)"),
        ('[rules.IMB001]\nmax_ratio = 0.5\n',
         "[rules.IMB001] max_ratio = 0.5: must be a number >= 1 (out of range)"),
        ('[rules.IMB001]\nmin_count = 2.5\n',
         "[rules.IMB001] min_count = 2.5: must be an integer >= 1 (got float)"),
        ('[rules.IMB001]\nmin_count = true\n',
         "[rules.IMB001] min_count = True: must be an integer >= 1 (got bool)"),
        ('[rules.IMB002]\nalpha = 1.5\n',
         "[rules.IMB002] alpha = 1.5: must be a number in (0, 1) (out of range)"),
        ('[rules.LEAK002]\nnear_candidate = -0.2\n',
         "[rules.LEAK002] near_candidate = -0.2: must be a number in [0, 1] (out of range)"),
        ('[rules.QUAL004]\nmax_sharpness = nan\n',
         "[rules.QUAL004] max_sharpness = nan: must be a number >= 0 (got NaN)"),
    ],
)
def test_bad_rule_table_names_rule_parameter_value_and_what_is_allowed(
        tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pitfalls.toml").write_text(text, encoding="utf-8")
    cfg = find_config(tmp_path)  # reading the file does not load the catalogue
    with pytest.raises(ConfigError) as info:
        check_rule_config(cfg)
    assert message in str(info.value)


def test_allowed_rule_values_pass(tmp_path: Path) -> None:
    (tmp_path / "pitfalls.toml").write_text(
        '[rules.IMB001]\nmax_ratio = 3\n[rules.PERF001]\nbudget_ms = 12.5\n'
        '[rules.SHORT001]\nfolds = 3\n', encoding="utf-8")
    check_rule_config(find_config(tmp_path))


def test_keyword_overrides_keep_file_values() -> None:
    cfg = Config(ignore=["QUAL"], lang="ja").merged(lang="en", select=None)
    assert cfg.lang == "en" and cfg.ignore == ["QUAL"]
