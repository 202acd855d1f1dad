"""What a rule declares to the rest of the tool: the inputs it needs and its parameters.

Neutral ground between the layers: rules declare `needs` (a set of `Need`) and `params` (`Param`),
the runner checks the configuration against them and says why a rule is skipped, and the reports
translate those reasons. This module imports nothing of the pipeline, so every layer may read it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pitfalls.errors import ConfigError
from pitfalls.text import T


class Need(str, Enum):
    """An input a rule needs; the runner skips the rule, saying why, when the scan lacks it."""

    FEATURES = "features"
    LABELS = "labels"
    SPLITS = "splits"
    GROUPS = "groups"
    PREDICTIONS = "predictions"
    FIELD = "field"
    FIELD_PREDICTION = "field_prediction"
    BENCH = "bench"
    WINDOWS = "windows"

    def __str__(self) -> str:
        return self.value

    @property
    def text(self) -> T:
        """Why a rule with this need was skipped, in English and Japanese."""
        return NEED_TEXT[self]


NEED_TEXT: dict[Need, T] = {
    Need.FEATURES: T("needs image features (a readable image)",
                     "画像の特徴量が必要です（読み込める画像）"),
    Need.LABELS: T("needs labels (a label column or class folders)",
                   "ラベルが必要です（label 列またはクラスごとのフォルダ）"),
    Need.SPLITS: T("needs a train split and an evaluation split",
                   "学習用と評価用の分割が必要です"),
    Need.GROUPS: T("needs a 'group' column", "'group' 列が必要です"),
    Need.PREDICTIONS: T("needs predictions (--predictions) or a model (--model)",
                        "予測結果（--predictions）またはモデル（--model）が必要です"),
    Need.FIELD: T("needs field images (--field)", "現場画像（--field）が必要です"),
    Need.FIELD_PREDICTION: T(
        "needs a model (--model) and labelled evaluation images to predict the field accuracy",
        "現場での精度を予測するには、モデル（--model）とラベル付きの評価画像が必要です"),
    Need.BENCH: T("needs benchmark results (pitfalls bench)",
                  "ベンチマーク結果（pitfalls bench）が必要です"),
    Need.WINDOWS: T("needs windows of production records (the monitoring service)",
                    "本番レコードのウィンドウが必要です（監視サービス）"),
}

REASON_SEPARATOR = {"en": "; ", "ja": "；"}


def skip_reason(missing: set[Need] | set[str], lang: str = "en") -> str:
    """The reason a rule is skipped for want of `missing`, in `lang` (needs in a stable order)."""
    texts = [Need(m).text.get_text(lang) for m in sorted(missing, key=str)]
    return REASON_SEPARATOR.get(lang, "; ").join(texts)


def translate_reason(reason: str, lang: str) -> str:
    """A skip reason written in English (as report.json keeps it) in `lang`, part by part; parts
    that are not a need's text (an internal error) stay as they are."""
    if lang == "en":
        return reason
    known = {t["en"]: t.get_text(lang) for t in NEED_TEXT.values()}
    return REASON_SEPARATOR.get(lang, "; ").join(known.get(p, p) for p in reason.split("; "))


_KIND_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class Param:
    """A configurable threshold of a rule: its default, what it means, and what values it takes.

    The type comes from the default (`kind` where the default is None, which then stays allowed);
    `low`/`high` bound a number (inclusive unless `open_low`/`open_high`; numbers without bounds
    must be >= 0, as every threshold in the catalogue is); `choices` lists the allowed strings.
    """

    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] | None = None
    kind: type | None = None

    def __post_init__(self) -> None:
        kind = self.value_type
        if kind not in _KIND_NAMES:
            raise TypeError(f"Param of unsupported type {kind.__name__}; use {list(_KIND_NAMES)}")
        if self.default is not None:
            problem = self.problem(self.default)
            if problem:
                raise ValueError(f"the default {self.default!r} is not allowed: {problem}")

    @property
    def value_type(self) -> type:
        return self.kind or type(self.default)

    def allowed(self) -> str:
        """What values are allowed, in words ('a number in (0, 1)', 'an integer >= 1', ...)."""
        kind = self.value_type
        words = _KIND_NAMES[kind]
        if self.choices:
            words = "one of " + ", ".join(repr(c) for c in self.choices)
        elif kind in (int, float):
            low = 0 if self.low is None and self.high is None else self.low
            if low is not None and self.high is not None:
                words += (f" in {'(' if self.open_low else '['}{low:g}, "
                          f"{self.high:g}{')' if self.open_high else ']'}")
            elif low is not None:
                words += f" {'>' if self.open_low else '>='} {low:g}"
            elif self.high is not None:
                words += f" {'<' if self.open_high else '<='} {self.high:g}"
        return words + (" or none" if self.default is None else "")

    def problem(self, value: Any) -> str | None:
        """None when `value` is allowed, else what is wrong with it."""
        if value is None and self.default is None:
            return None
        kind = self.value_type
        if kind is float:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            return f"got {type(value).__name__}"
        if self.choices is not None and value not in self.choices:
            return "not a choice"
        if kind in (int, float):
            if isinstance(value, float) and math.isnan(value):
                return "got NaN"
            low = 0 if self.low is None and self.high is None else self.low
            if low is not None and (value < low or (self.open_low and value == low)):
                return "out of range"
            if self.high is not None and (value > self.high
                                          or (self.open_high and value == self.high)):
                return "out of range"
        return None

    def check(self, rule: str, name: str, value: Any) -> Any:
        """`value` when allowed, else a `ConfigError` naming the rule, the parameter, the value
        and what is allowed."""
        problem = self.problem(value)
        if problem is not None:
            raise ConfigError(f"[rules.{rule}] {name} = {value!r}: must be {self.allowed()} "
                              f"({problem})")
        return value


__all__ = ["NEED_TEXT", "Need", "Param", "skip_reason", "translate_reason"]
