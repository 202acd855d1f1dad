"""The team's answers file (`pitfalls-checklist.toml`, kept in the repository):

    [field-visit]
    status = "done"              # done, na (not applicable) or open
    note = "Visited line 3 on 2026-05-12; photos in data/field/"
    owner = "Aiko"
    date = "2026-05-12"
    evidence = "https://wiki.example.com/line3-visit"
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from pitfalls.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

ANSWERS_FILE = "pitfalls-checklist.toml"
STATUSES = ("done", "na", "open")
FIELDS = ("status", "note", "owner", "date", "evidence")


@dataclass(frozen=True)
class Answer:
    status: str
    note: str = ""
    owner: str = ""
    date: str = ""
    evidence: str = ""


def read_answers(path: Path, known: set[str] | None = None) -> dict[str, Answer]:
    """The answers in `path` by item id ({} when the file does not exist); `InputError` naming the
    file when it is malformed. Answers to ids not in `known` are skipped with a warning."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read the checklist answers: {exc}") from None
    out: dict[str, Answer] = {}
    for item_id, entry in data.items():
        where = f"{path} [{item_id}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a table with status = "
                             "\"done\", \"na\" or \"open\"")
        unknown = set(entry) - set(FIELDS)
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                             f"allowed: {', '.join(FIELDS)}")
        if entry.get("status") not in STATUSES:
            raise InputError(f"{where}: status must be one of {', '.join(STATUSES)}, "
                             f"not {entry.get('status')!r}")
        if known is not None and item_id not in known:
            log.warning("%s: no checklist item has this id; answer ignored", where)
            continue
        out[item_id] = Answer(**{k: str(entry.get(k, "")) for k in FIELDS})
    return out


def write_answers(path: Path, answers: dict[str, Answer], order: list[str]) -> None:
    """Write every answer (in checklist `order`, unknown ids last) as TOML."""
    ids = [i for i in order if i in answers] + sorted(set(answers) - set(order))
    lines = ["# Answers to `pitfalls checklist` (manual items, or automated ones the team has",
             "# decided by hand). Set them with",
             "# `pitfalls checklist answer ID --status done|na|open`.",
             ""]
    for item_id in ids:
        bare = re.fullmatch(r"[A-Za-z0-9_-]+", item_id)
        lines.append(f"[{item_id if bare else json.dumps(item_id)}]")
        lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}"
                  for k, v in asdict(answers[item_id]).items() if v or k == "status"]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def set_answer(path: Path, item_id: str, order: list[str], *, status: str, note: str | None = None,
               owner: str | None = None, evidence: str | None = None,
               date: str | None = None) -> Answer:
    """Set one item's answer in the file, keeping the others (and this one's unset fields)."""
    if status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    answers = read_answers(path)
    old = answers.get(item_id, Answer(status))
    new = Answer(status=status, note=old.note if note is None else note,
                 owner=old.owner if owner is None else owner,
                 date=date or dt.date.today().isoformat(),
                 evidence=old.evidence if evidence is None else evidence)
    answers[item_id] = new
    write_answers(path, answers, order)
    return new
