"""Monitoring analysis: windows of production records, accuracy without labels, and the MON
rules' input. Pure functions of tables; the service stores records and calls these."""

from pitfalls.monitor.analysis.batch import WindowBatch, batch_for
from pitfalls.monitor.analysis.check import check_batch, check_window
from pitfalls.monitor.analysis.records import flatten
from pitfalls.monitor.analysis.reference import Reference
from pitfalls.monitor.analysis.windows import ALL, Key, WindowStore, summarise, touched

__all__ = ["ALL", "Key", "Reference", "WindowBatch", "WindowStore", "batch_for", "check_batch",
           "check_window", "flatten", "summarise", "touched"]
