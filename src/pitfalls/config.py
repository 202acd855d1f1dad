"""Configuration: `[tool.pitfalls]` in `pyproject.toml` or a `pitfalls.toml`, then CLI options.

    [tool.pitfalls]
    select = ["LEAK", "DUP001"]      # codes or prefixes; default: every rule
    ignore = ["QUAL"]
    fail-on = "warning"
    lang = "ja"
    case-dirs = ["incidents"]        # folders of the team's own cases (`pitfalls cases`)

    [tool.pitfalls.rules.LEAK002]    # a rule's thresholds (see `pitfalls rules LEAK002`)
    threshold = 0.95
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pitfalls.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAIL_ON = ("error", "warning", "info", "never")


@dataclass
class Config:
    """Options of a scan. Every field can come from a config file or a keyword/CLI option."""

    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    fail_on: str = "error"
    lang: str = "en"
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: int | None = None
    scheduler: str | None = None
    max_pixels: int = 80_000_000
    embedder: str | None = None
    cache_dir: str | None = None
    allow_outside_root: bool = False
    questions: dict[str, str] = field(default_factory=dict)
    case_dirs: list[str] = field(default_factory=list)
    source: str | None = None

    def selects(self, code: str) -> bool:
        """Whether a rule code is selected (prefix match, like ruff) and not ignored."""
        chosen = self.select is None or any(code.startswith(s) for s in self.select)
        return chosen and not any(code.startswith(s) for s in self.ignore)

    def cache_base(self, cache: bool | str | Path = True) -> str | Path | None:
        """Where the feature cache lives for a scan's `cache` argument: the folder or URL given,
        else the configured `cache_dir`, else None (the default cache root)."""
        return cache if isinstance(cache, str | Path) else (self.cache_dir or None)

    def params_for(self, code: str) -> dict[str, Any]:
        return dict(self.rules.get(code, {}))

    def merged(self, **overrides: Any) -> Config:
        """A copy with the given non-None options replacing this one's."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in overrides.items():
            if key not in values:
                raise ConfigError(f"unknown option {key!r}")
            if value is not None:
                values[key] = value
        cfg = Config(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check the options themselves. Whether each `[rules.CODE]` names a rule and holds its
        parameters with allowed values is checked against the catalogue, which loads pandas and
        SciPy, by `pitfalls.runner.check_rule_config` once the feature workers run."""
        if self.fail_on not in FAIL_ON:
            raise ConfigError(f"fail-on must be one of {', '.join(FAIL_ON)}, not {self.fail_on!r}")
        if self.lang not in ("en", "ja"):
            raise ConfigError(f"lang must be 'en' or 'ja', not {self.lang!r}")
        if not isinstance(self.allow_outside_root, bool):
            raise ConfigError("allow-outside-root must be true or false, not "
                              f"{self.allow_outside_root!r}")
        if not isinstance(self.rules, dict):
            raise ConfigError(f"rules must be a table of [rules.CODE] tables, not {self.rules!r}")
        for code, values in self.rules.items():
            if not isinstance(values, dict):
                raise ConfigError(f"[rules.{code}] must be a table of parameters, not {values!r}")


def _normalise_keys(d: dict[str, Any]) -> dict[str, Any]:
    return {k.replace("-", "_") if k != "rules" else k: v for k, v in d.items()}


def from_mapping(table: dict[str, Any], source: str) -> Config:
    table = _normalise_keys(table)
    names = {f.name for f in fields(Config)} - {"source"}
    unknown = set(table) - names
    if unknown:
        raise ConfigError(f"{source}: unknown option(s) {', '.join(sorted(unknown))}")
    for key in ("select", "ignore"):
        if isinstance(table.get(key), str):
            table[key] = [c.strip() for c in table[key].split(",") if c.strip()]
    cfg = Config(**table, source=source)
    cfg.validate()
    return cfg


def find_config(start: Path | None = None) -> Config:
    """The nearest `pitfalls.toml` or `pyproject.toml` with `[tool.pitfalls]`, searching upward."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        own = folder / "pitfalls.toml"
        if own.is_file():
            data = _read_toml(own)
            return from_mapping(data.get("tool", {}).get("pitfalls", data), str(own))
        project = folder / "pyproject.toml"
        if project.is_file():
            data = _read_toml(project)
            if "pitfalls" in data.get("tool", {}):
                return from_mapping(data["tool"]["pitfalls"], f"{project} [tool.pitfalls]")
    return Config()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
