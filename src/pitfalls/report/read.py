"""Reading a saved report.json back (for the sheet and the checklist), with a clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pitfalls.errors import InputError


def read_report_json(path: Path,
                     need: tuple[str, ...] = ("findings",)) -> tuple[Path, dict[str, Any]]:
    """(the report.json file, its content) for a report folder or file; `InputError` when it is
    missing, unreadable or lacks the top-level keys in `need` (`findings` a list, others
    objects)."""
    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"no report at {file}; run 'pitfalls scan' first (it writes report.json)")
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{file} is not a readable report.json: {exc}") from None
    kinds = {"findings": list}
    if not isinstance(report, dict) or not all(isinstance(report.get(k), kinds.get(k, dict))
                                               for k in need):
        raise InputError(f"{file} is not a pitfalls report (no {' and '.join(map(repr, need))})")
    return file, report
