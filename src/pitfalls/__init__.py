"""pitfalls: catch the pitfalls of image-recognition projects and show the evidence."""

from pitfalls._version import __version__
from pitfalls.api import scan
from pitfalls.findings import Finding, Report

__all__ = ["Finding", "Report", "__version__", "scan"]
