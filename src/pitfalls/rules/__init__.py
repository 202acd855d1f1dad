"""The rule catalogue: every module of this package (but `base` and `families`) holds the rules of
one family and registers them with `@register` when imported; `registry()` imports them all."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from pitfalls.rules.base import Doc, Param, Rule, register, registered
from pitfalls.rules.families import FAMILIES, family_of

_INFRASTRUCTURE = {"base", "families"}


@cache
def rule_modules() -> tuple[str, ...]:
    """The names of the rule modules: every module of this package but the infrastructure."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if m.name not in _INFRASTRUCTURE and not m.name.startswith("_")))


def registry() -> dict[str, type[Rule]]:
    """Every rule by code, in catalogue order (families in `FAMILIES` order, then by number)."""
    for name in rule_modules():
        importlib.import_module(f"{__name__}.{name}")  # registers its rules (once)
    order = {f.prefix: i for i, f in enumerate(FAMILIES)}

    def key(code: str) -> tuple[int, int]:
        prefix = family_of(code).prefix
        return order[prefix], int(code[len(prefix):])

    return {c: registered()[c] for c in sorted(registered(), key=key)}


__all__ = ["Doc", "Param", "Rule", "register", "registry", "rule_modules"]
