"""The case library: real, published cases of each pitfall (one TOML file per case, shipped in
the package under `cases/library/`) and a team's own incidents (TOML files in the folders named by
`case-dirs` in the config). Rules and checklist items refer to cases by id, so each case is
written once.

A case file:

    id = "barz-denzler-2020-cifar-duplicates"
    year = 2020
    phase = "research"                  # research, system or production
    rules = ["LEAK002"]                 # rule codes it illustrates
    checklist = ["capture-leakage"]     # checklist item ids it stands behind

    [title]                             # every text has `en` and (optionally) `ja`
    en = "..."
    ja = "..."

    [source]                            # citation, and a DOI or a URL where there is one
    citation = "Author (year). Title. Venue."
    doi = "10.3390/jimaging6060041"

    [what_happened]
    [how_found]
    [lesson]
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pitfalls.errors import InputError
from pitfalls.text import T

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PHASES = ("research", "system", "production")
TEXTS = ("title", "what_happened", "how_found", "lesson")
ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")
CODE = re.compile(r"^[A-Z]+[0-9]{3}$")
PUBLISHED, TEAM = "published", "team"


class CaseError(InputError):
    """A case file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Source:
    citation: str
    doi: str | None = None
    url: str | None = None

    @property
    def link(self) -> str | None:
        """The DOI as a URL, else the URL, else None."""
        return f"https://doi.org/{self.doi}" if self.doi else (self.url or None)

    def __str__(self) -> str:
        return f"{self.citation} {self.link}" if self.link else self.citation


@dataclass(frozen=True)
class Case:
    id: str
    year: int
    phase: str
    title: T
    source: Source
    what_happened: T
    how_found: T
    lesson: T
    rules: tuple[str, ...] = ()
    checklist: tuple[str, ...] = ()
    origin: str = PUBLISHED
    path: Path | None = field(default=None, compare=False)

    @property
    def team(self) -> bool:
        return self.origin == TEAM

    def reference(self, lang: str = "en") -> str:
        """One line naming the case and its source: 'Title (2020). Citation https://doi.org/…'."""
        return f"{self.title.get_text(lang)} — {self.source}"

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """Plain data (texts in one language when `lang` is given, else both)."""
        def text(t: T) -> Any:
            return t.get_text(lang) if lang else dict(t)

        src = {k: v for k, v in (("citation", self.source.citation), ("doi", self.source.doi),
                                 ("url", self.source.url)) if v}
        return {"id": self.id, "year": self.year, "phase": self.phase, "origin": self.origin,
                "title": text(self.title), "source": src, "link": self.source.link,
                "rules": list(self.rules), "checklist": list(self.checklist),
                **{k: text(getattr(self, k)) for k in TEXTS[1:]}}


def _text(data: dict[str, Any], key: str, where: str, required: bool = True) -> T:
    value = data.get(key)
    if isinstance(value, str) and value.strip():
        return T(value.strip())
    if isinstance(value, dict) and isinstance(value.get("en"), str) and value["en"].strip():
        ja = value.get("ja")
        if ja is not None and not isinstance(ja, str):
            raise CaseError(f"{where}: [{key}] ja must be text")
        return T(value["en"].strip(), ja.strip() if ja and ja.strip() else None)
    if not required:
        return T("")
    raise CaseError(f"{where}: [{key}] needs an English text (`en = \"...\"`)")


def _codes(data: dict[str, Any], key: str, where: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CaseError(f"{where}: `{key}` must be a list of strings")
    bad = [v for v in value if not pattern.match(v)]
    if bad:
        raise CaseError(f"{where}: `{key}` has invalid entries: {', '.join(map(repr, bad))}")
    return tuple(value)


def case_from_mapping(data: dict[str, Any], where: str, origin: str = PUBLISHED,
                      path: Path | None = None) -> Case:
    """A `Case` from parsed TOML; `CaseError` naming `where` when a field is missing or wrong."""
    cid = data.get("id")
    if not isinstance(cid, str) or not ID.match(cid):
        raise CaseError(f"{where}: `id` must be lower-case letters, digits and hyphens "
                        f"(e.g. \"line3-glare-2024\"), not {cid!r}")
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2200:
        raise CaseError(f"{where}: `year` must be a year such as 2024, not {year!r}")
    phase = data.get("phase")
    if phase not in PHASES:
        raise CaseError(f"{where}: `phase` must be one of {', '.join(PHASES)}, not {phase!r}")
    src = data.get("source", {})
    if isinstance(src, str):
        src = {"citation": src}
    if not isinstance(src, dict) or not all(isinstance(v, str) for v in src.values()):
        raise CaseError(f"{where}: [source] must hold text fields citation, doi, url")
    citation = (src.get("citation") or "").strip()
    if not citation:
        if origin == PUBLISHED:
            raise CaseError(f"{where}: [source] needs a citation")
        citation = "team incident"
    unknown = set(data) - {"id", "year", "phase", "rules", "checklist", "source", *TEXTS}
    if unknown:
        raise CaseError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return Case(id=cid, year=year, phase=phase, title=_text(data, "title", where),
                source=Source(citation, src.get("doi") or None, src.get("url") or None),
                what_happened=_text(data, "what_happened", where),
                how_found=_text(data, "how_found", where, required=False),
                lesson=_text(data, "lesson", where),
                rules=_codes(data, "rules", where, CODE),
                checklist=_codes(data, "checklist", where, ID), origin=origin, path=path)


def load_case_text(text: str, where: str, origin: str = PUBLISHED,
                   path: Path | None = None) -> Case:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"{where}: not valid TOML: {exc}") from None
    return case_from_mapping(data, where, origin, path)


def load_case(path: Path, origin: str = TEAM) -> Case:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path}: cannot read: {exc}") from None
    return load_case_text(text, str(path), origin, path)


@cache
def published() -> dict[str, Case]:
    """The published cases shipped with `pitfalls`, by id (sorted by id)."""
    folder = resources.files("pitfalls.cases") / "library"
    cases = [load_case_text(f.read_text(encoding="utf-8"), f"pitfalls/cases/library/{f.name}")
             for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".toml")]
    return {c.id: c for c in cases}


def team_dirs(cfg: Any = None) -> list[Path]:
    """The configured `case-dirs`, relative to the config file's folder (else to the cwd)."""
    if cfg is None:
        from pitfalls.config import find_config

        cfg = find_config()
    base = Path.cwd()
    if cfg.source:  # "…/pyproject.toml [tool.pitfalls]" or "…/pitfalls.toml"
        base = Path(cfg.source.split(" [", 1)[0]).parent
    dirs = cfg.case_dirs
    if isinstance(dirs, str):
        dirs = [dirs]
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise CaseError(f"{cfg.source}: case-dirs must be a list of folders, not {dirs!r}")
    return [(base / d) for d in dirs]


def team_cases(dirs: list[Path] | None = None) -> dict[str, Case]:
    """The team's cases in `dirs` (default: the configured `case-dirs`), by id."""
    found: dict[str, Case] = {}
    for folder in team_dirs() if dirs is None else dirs:
        if not folder.is_dir():
            raise CaseError(f"case folder {folder} does not exist (named in `case-dirs`)")
        for path in sorted(folder.glob("*.toml")):
            case = load_case(path, TEAM)
            if case.id in published():
                raise CaseError(f"{path}: id {case.id!r} is already a published case; "
                                "choose another id")
            if case.id in found:
                raise CaseError(f"{path}: id {case.id!r} is also used by {found[case.id].path}")
            found[case.id] = case
    return found


def all_cases(dirs: list[Path] | None = None) -> dict[str, Case]:
    """Published cases, then the team's."""
    return {**published(), **team_cases(dirs)}


def references(ids: tuple[str, ...] | list[str], lang: str = "en") -> list[str]:
    """One line per case id (title and source); an unknown id is shown as itself."""
    lib = published()
    return [lib[i].reference(lang) if i in lib else i for i in ids]


def search(cases: dict[str, Case], query: str | None = None, *, phase: str | None = None,
           rule: str | None = None) -> list[Case]:
    """Cases whose texts contain every word of `query` (either language), in `phase`, for `rule`."""
    words = (query or "").lower().split()
    out = []
    for c in cases.values():
        if phase and c.phase != phase:
            continue
        if rule and not any(r.startswith(rule.upper()) for r in c.rules):
            continue
        hay = " ".join([c.id, c.source.citation, *c.rules, *c.checklist,
                        *(v for t in TEXTS for v in getattr(c, t).values())]).lower()
        if all(w in hay for w in words):
            out.append(c)
    return out
