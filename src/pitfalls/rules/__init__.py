"""The rule catalogue. Importing this package registers every rule family."""

from __future__ import annotations

import re

from pitfalls.rules.base import Doc, Param, Rule, register, registered


def registry() -> dict[str, type[Rule]]:
    """Every rule by code, in catalogue order (families in order, then numeric)."""
    from pitfalls.rules import families  # noqa: F401  (registers the rules)

    def order(code: str) -> tuple[int, str, int]:
        m = re.match(r"([A-Z]+)(\d+)", code)
        prefix, num = (m.group(1), int(m.group(2))) if m else (code, 0)
        fam = ["IMB", "DUP", "LEAK", "SHORT", "QUAL", "LABEL", "EVAL", "PERF", "FIELD", "MON"]
        return (fam.index(prefix) if prefix in fam else len(fam), prefix, num)

    return {c: registered()[c] for c in sorted(registered(), key=order)}


__all__ = ["Doc", "Param", "Rule", "register", "registry"]
