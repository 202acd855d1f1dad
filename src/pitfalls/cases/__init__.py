"""The case library: real, published cases behind every rule and checklist item, and the
team's own."""

from pitfalls.cases.library import (
    Case,
    CaseError,
    Source,
    all_cases,
    load_case,
    published,
    references,
    search,
    team_cases,
    team_dirs,
)

__all__ = ["Case", "CaseError", "Source", "all_cases", "load_case", "published", "references",
           "search", "team_cases", "team_dirs"]
