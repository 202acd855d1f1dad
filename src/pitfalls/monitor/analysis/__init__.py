"""Monitoring analysis: windows of production records, accuracy without labels, and the MON
rules' input. Pure functions of tables; the service stores records and calls these.

Names are imported on first use, so that the rule catalogue (which reads a few constants from
here) does not load SciPy's statistics into every scan.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {"WindowBatch": "batch", "batch_for": "batch", "check_batch": "check",
          "check_window": "check", "flatten": "records", "Reference": "reference",
          "ALL": "windows", "Key": "windows", "WindowStore": "windows", "summarise": "windows",
          "touched": "windows"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
