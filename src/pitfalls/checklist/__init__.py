"""The phase checklist: items as data, filled in from report.json evidence and the team's
answers."""

from pitfalls.checklist.evaluate import Checklist, Result, fill
from pitfalls.checklist.items import Item, for_stage, items, sheet_questions

__all__ = ["Checklist", "Item", "Result", "fill", "for_stage", "items", "sheet_questions"]
