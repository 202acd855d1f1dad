"""The rule contract: needs with one text table, typed parameters checked when the configuration
is read, and families that place every rule and order the catalogue."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_cli_ok
from PIL import Image
from typer.testing import CliRunner

from pitfalls.cli import app
from pitfalls.contract import NEED_TEXT, Need, Param, skip_reason, translate_reason
from pitfalls.errors import ConfigError
from pitfalls.report.messages import skip_reason as report_skip_reason
from pitfalls.rules import register, registry, rule_modules
from pitfalls.rules.base import Doc, Rule
from pitfalls.rules.families import FAMILIES
from pitfalls.text import T

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def test_every_need_has_a_text_in_both_languages_and_every_text_a_need() -> None:
    assert set(NEED_TEXT) == set(Need)
    for need, text in NEED_TEXT.items():
        assert text["en"].startswith("needs "), need
        assert JAPANESE.search(text["ja"]) and text["ja"] != text["en"], need


def test_rules_declare_needs_from_the_enum_and_every_need_is_needed() -> None:
    used: set[Need] = set()
    for code, rule in registry().items():
        assert all(isinstance(n, Need) for n in rule.needs), f"{code}: needs must be Need members"
        used |= set(rule.needs)
    assert used == set(Need), f"needs no rule has: {sorted(set(Need) - used)}"


def test_field_prediction_has_a_real_translated_reason() -> None:
    reason = skip_reason(registry()["FIELD002"].needs - {Need.FIELD})
    assert reason == NEED_TEXT[Need.FIELD_PREDICTION]["en"] and "--model" in reason
    ja = report_skip_reason(reason, "ja")
    assert JAPANESE.search(ja) and "--model" in ja and "field_prediction" not in ja


def test_several_missing_needs_are_translated_part_by_part() -> None:
    reason = skip_reason({Need.SPLITS, Need.LABELS})
    assert reason == "needs labels (a label column or class folders); " \
                     "needs a train split and an evaluation split"
    assert translate_reason(reason, "ja") == skip_reason({Need.SPLITS, Need.LABELS}, "ja")
    assert translate_reason("internal error: "
                            "ValueError: x", "ja") == "internal error: ValueError: x"


@pytest.mark.parametrize(
    ("param", "value", "problem"),
    [
        (Param(4.0, "x", low=1.0), "4", "got str"),
        (Param(4.0, "x", low=1.0), True, "got bool"),
        (Param(4.0, "x", low=1.0), 0.5, "out of range"),
        (Param(4.0, "x", low=1.0), float("nan"), "got NaN"),
        (Param(3, "x"), 3.0, "got float"),
        (Param(3, "x"), -1, "out of range"),
        (Param(0.5, "x", low=0.0, high=1.0, open_high=True), 1.0, "out of range"),
        (Param("fast", "x", choices=("fast", "exact")), "slow", "not a choice"),
        (Param(None, "x", kind=float, low=0.0, open_low=True), 0.0, "out of range"),
    ],
)
def test_param_refuses_values_of_another_type_or_out_of_bounds(param: Param, value: object,
                                                               problem: str) -> None:
    assert param.problem(value) == problem
    with pytest.raises(ConfigError, match=re.escape(f"[rules.X001] p = {value!r}: must be ")):
        param.check("X001", "p", value)


@pytest.mark.parametrize(
    ("param", "value"),
    [(Param(4.0, "x", low=1.0), 4), (Param(4.0, "x", low=1.0), 1.0), (Param(3, "x"), 0),
     (Param(None, "x", kind=float), None), (Param(None, "x", kind=float), 2.5),
     (Param("fast", "x", choices=("fast", "exact")), "exact"), (Param(True, "x"), False)],
)
def test_param_accepts_allowed_values(param: Param, value: object) -> None:
    assert param.check("X001", "p", value) == value


def test_a_default_outside_its_own_bounds_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="default"):
        Param(1.5, "a share", low=0.0, high=1.0)
    with pytest.raises(TypeError, match="unsupported type"):
        Param(None, "no kind given")


def test_a_rule_built_with_a_bad_value_is_a_config_error() -> None:
    rule = registry()["IMB001"]
    with pytest.raises(ConfigError, match=r"\[rules.IMB001\] max_ratio = '4'"):
        rule(max_ratio="4")
    assert rule(max_ratio=3).p["max_ratio"] == 3


def test_every_rule_lives_in_the_module_of_its_family_in_catalogue_order() -> None:
    modules = {f.prefix: f"pitfalls.rules.{f.module}" for f in FAMILIES}
    for code, rule in registry().items():
        prefix = code.rstrip("0123456789")
        assert rule.__module__ == modules[prefix], f"{code} is in {rule.__module__}"
    order = [f.prefix for f in FAMILIES]
    keys = [(order.index(c.rstrip("0123456789")), int(c.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")))
            for c in registry()]
    assert keys == sorted(keys)
    assert set(rule_modules()) <= {f.module for f in FAMILIES}


def test_a_rule_of_an_unregistered_family_is_refused() -> None:
    with pytest.raises(ValueError, match="families.py"):
        @register
        class Stray(Rule):
            code = "ZZZ001"
            name = "stray"
            title = T("Stray", "迷子")
            doc = Doc(what=T("x", "x"), why=T("x", "x"), fix=T("x", "x"))


def test_reading_a_rule_table_loads_neither_the_catalogue_nor_pandas_nor_scipy(
        tmp_path: Path) -> None:
    (tmp_path / "pitfalls.toml").write_text("[rules.IMB001]\nmax_ratio = 3.0\n", encoding="utf-8")
    code = ("import sys; from pitfalls.config import find_config; "
            f"cfg = find_config(__import__('pathlib').Path({str(tmp_path)!r})); "
            "assert cfg.params_for('IMB001') == {'max_ratio': 3.0}; "
            "print(sorted(m for m in ('pitfalls.rules', 'pandas', 'scipy', 'sklearn') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _photos(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 2)):
        for label in ("a", "b"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{label}{i}.png")


def test_scan_with_a_bad_parameter_exits_2_naming_it(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _photos(tmp_path / "data")
    (tmp_path / "pitfalls.toml").write_text('[rules.IMB001]\nmax_ratio = "4"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["scan", "data", "--out", "out", "--workers", "1"])
    assert_cli_ok(result, 2, "[rules.IMB001] max_ratio = '4': must be a number >= 1 (got str)")
    assert not (tmp_path / "out").exists()


def test_split_with_a_bad_threshold_exits_2_naming_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _photos(tmp_path / "data")
    (tmp_path / "pitfalls.toml").write_text("[rules.LEAK002]\nnear_candidate = 2.0\n",
                                            encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["split", "data", "--out", "m.csv"])
    assert_cli_ok(result, 2,
                  "[rules.LEAK002] near_candidate = 2.0: must be a number in [0, 1] (out of range)")
    assert not (tmp_path / "m.csv").exists()
