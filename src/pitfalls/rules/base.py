"""The rule API: each rule declares its code, phase, severity, needs, params and documentation.

A rule reads the shared `Context` (the feature table and tables derived from it), never an image,
and returns findings. To add a rule: subclass `Rule` in the module of its family, decorate it with
`@register`, and write its test (CONTRIBUTING.md, "Adding a rule").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pitfalls.contract import Need, Param
from pitfalls.errors import ConfigError
from pitfalls.findings import Finding
from pitfalls.rules.families import family_of
from pitfalls.text import T

if TYPE_CHECKING:
    from pitfalls.context import Context


@dataclass(frozen=True)
class Doc:
    """A rule's documentation: what it checks, why it matters, how to fix it, and the ids of the
    real cases behind it in the case library (`pitfalls/cases/library/`)."""

    what: T
    why: T
    fix: T
    cases: tuple[str, ...] = ()
    notes: T | None = None


class Rule:
    """Base class of every rule."""

    code: ClassVar[str]
    name: ClassVar[str]
    phase: ClassVar[str] = "research"
    severity: ClassVar[str] = "warning"
    needs: ClassVar[frozenset[Need]] = frozenset({Need.FEATURES})
    title: ClassVar[T]
    doc: ClassVar[Doc]
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, **overrides: Any) -> None:
        self.p: dict[str, Any] = {k: v.default for k, v in self.params.items()}
        self.p |= self.check_params(overrides)

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> dict[str, Any]:
        """`values` when every one names a parameter and is allowed, else a `ConfigError`
        naming the rule, the parameter, the value and what is allowed."""
        unknown = set(values) - set(cls.params)
        if unknown:
            allowed = ", ".join(sorted(cls.params)) or "none"
            raise ConfigError(f"[rules.{cls.code}]: unknown parameter(s) "
                              f"{', '.join(sorted(unknown))}; {cls.code} accepts: {allowed}")
        return {k: cls.params[k].check(cls.code, k, v) for k, v in values.items()}

    def check(self, ctx: Context) -> Iterable[Finding]:
        """Yield the findings of this rule (none when it passes)."""
        raise NotImplementedError

    def prefetch(self, ctx: Context) -> None:
        """Compute, ahead of `check` and on another thread, the derived tables `check` will read
        (`ctx.derived`), so that slow, mostly-NumPy work overlaps the other rules. Optional."""

    def finding(self, summary: T, metrics: dict[str, Any] | None = None,
                items: list[dict[str, Any]] | None = None, severity: str | None = None,
                title: T | None = None) -> Finding:
        """A finding of this rule with its code, phase and (default) severity filled in."""
        return Finding(rule=self.code, phase=self.phase, severity=severity or self.severity,
                       title=title or self.title, summary=summary, metrics=metrics or {},
                       items=items or [])


_REGISTRY: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator adding a rule to the catalogue (codes unique, of a registered family)."""
    family_of(cls.code)
    if cls.code in _REGISTRY and _REGISTRY[cls.code] is not cls:
        raise ValueError(f"duplicate rule code {cls.code}")
    _REGISTRY[cls.code] = cls
    return cls


def registered() -> dict[str, type[Rule]]:
    """The rules registered so far, by code (`pitfalls.rules.registry()` imports them all)."""
    return _REGISTRY


__all__ = ["Doc", "Need", "Param", "Rule", "register", "registered"]
