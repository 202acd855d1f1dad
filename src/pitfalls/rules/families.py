"""The rule families, in catalogue order: the one place a new family is registered.

A rule's code starts with its family's prefix (`LEAK002`), and its class lives in the module named
here (`pitfalls/rules/leakage.py`), so a rule's code leads to its code. `pitfalls rules`, the HTML
report and docs/rules.md list the families in this order, each family's rules by number.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitfalls.text import T


@dataclass(frozen=True)
class Family:
    """A family of rules: the codes' prefix, the module that holds them, and what they check."""

    prefix: str
    module: str
    title: T


FAMILIES: tuple[Family, ...] = (
    Family("IMB", "imbalance", T("Class imbalance", "クラスの偏り")),
    Family("DUP", "duplicates", T("Duplicates", "重複")),
    Family("LEAK", "leakage", T("Leakage between splits", "分割間のリーク")),
    Family("SHORT", "shortcuts", T("Shortcuts", "ショートカット")),
    Family("QUAL", "quality", T("Image quality", "画像の品質")),
    Family("LABEL", "labels", T("Label errors", "ラベルの誤り")),
    Family("EVAL", "evaluation", T("Evaluation", "評価")),
    Family("PERF", "performance", T("Speed and size", "速度とサイズ")),
    Family("FIELD", "field", T("Lab versus field", "ラボと現場の差")),
    Family("MON", "monitor", T("Production monitoring", "運用時の監視")),
)
BY_PREFIX: dict[str, Family] = {f.prefix: f for f in FAMILIES}


def family_of(code: str) -> Family:
    """The family of a rule code (its leading capitals); a `ValueError` for an unknown one."""
    prefix = code.rstrip("0123456789")
    if prefix not in BY_PREFIX or prefix == code:
        known = ", ".join(BY_PREFIX)
        raise ValueError(f"rule code {code!r} is not a family prefix ({known}) and a number; "
                         "register a new family in pitfalls/rules/families.py")
    return BY_PREFIX[prefix]
