"""A project whose config names a case folder holding one team case (cases and checklist tests)."""

from __future__ import annotations

import json
from pathlib import Path

TEAM_CASE = '''id = "line3-glare-2025"
year = 2025
phase = "production"
rules = ["FIELD001"]
checklist = ["field-visit"]

[source]
citation = "Post-mortem PM-42"
url = "https://wiki.example.com/pm-42"

[title]
en = TITLE
ja = "3 号ラインの照り返し"

[what_happened]
en = "Afternoon sun on the belt halved recall for two weeks."

[how_found]
en = "Operators complained."

[lesson]
en = "Visit the line at every hour the camera runs."
'''


def team_case_text(title: str = "Glare on line 3 <script>alert(1)</script>") -> str:
    return TEAM_CASE.replace("TITLE", json.dumps(title))


def write_team_project(root: Path, title: str = "Glare on line 3 <script>alert(1)</script>",
                       text: str | None = None) -> Path:
    """pyproject.toml with `case-dirs = ["incidents"]` and incidents/line3-glare-2025.toml."""
    (root / "pyproject.toml").write_text('[tool.pitfalls]\ncase-dirs = ["incidents"]\n',
                                         encoding="utf-8")
    (root / "incidents").mkdir(exist_ok=True)
    case = root / "incidents" / "line3-glare-2025.toml"
    case.write_text(text or team_case_text(title), encoding="utf-8")
    return case
