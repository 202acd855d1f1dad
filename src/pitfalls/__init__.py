"""pitfalls: catch the pitfalls of image-recognition projects and show the evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pitfalls._version import __version__

if TYPE_CHECKING:
    from pitfalls.api import scan
    from pitfalls.findings import Finding
    from pitfalls.report.document import Report

__all__ = ["Finding", "Report", "__version__", "scan"]


def __getattr__(name: str) -> Any:
    """`scan`, `Report` and `Finding` load pandas: imported on first use, so that the command
    line can start its feature workers before paying for those imports."""
    if name == "scan":
        from pitfalls.api import scan

        return scan
    if name == "Finding":
        from pitfalls.findings import Finding

        return Finding
    if name == "Report":
        from pitfalls.report.document import Report

        return Report
    raise AttributeError(f"module 'pitfalls' has no attribute {name!r}")
