"""The service's own part of a window: volume, prediction mix and realised accuracy, from the
hourly aggregates and the labels. Estimated accuracy, its interval, conditions and alerts are
the analysis's (`app.state.analysis`) and stay null here."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pitfalls.monitor.storage import Store

EVERY = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}

ANALYSIS_FIELDS = ("estimated_accuracy", "ci", "conditions", "alerts")
"""Filled by the analysis hook; None until it runs."""


def floor(moment: datetime, every: str) -> datetime:
    """The start of the window holding `moment` (UTC, naive)."""
    moment = moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if every == "1d" else moment


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def windows_from(hourly: list[tuple[datetime, str, int]], labelled: list[tuple[datetime, str, str]],
                 start: datetime, end: datetime, every: str) -> list[dict[str, Any]]:
    """Windows over [floor(start), end) from (hour, pred, n) and (captured_at, pred, label)."""
    step = EVERY[every]
    counts: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for hour, pred, n in hourly:
        counts[floor(hour, every)][pred] += n
    right: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for captured, pred, label in labelled:
        tally = right[floor(captured, every)]
        tally[0] += pred == label
        tally[1] += 1
    out = []
    moment = floor(start, every)
    stop = end.astimezone(timezone.utc).replace(tzinfo=None) if end.tzinfo else end
    while moment < stop:
        mix = counts.get(moment, {})
        n = sum(mix.values())
        correct, n_labelled = right.get(moment, (0, 0))
        row: dict[str, Any] = {
            "start": _iso(moment), "end": _iso(moment + step), "n": n,
            "prediction_mix": {k: v / n for k, v in sorted(mix.items())} if n else {},
            "realised_accuracy": correct / n_labelled if n_labelled else None,
            "n_labelled": n_labelled,
        }
        row.update(dict.fromkeys(ANALYSIS_FIELDS))
        row["alerts"] = []
        out.append(row)
        moment += step
    return out


def base_windows(store: Store, start: datetime, end: datetime, every: str,
                 source: str | None = None) -> list[dict[str, Any]]:
    begin = floor(start, every)
    return windows_from(store.hourly_counts(begin, end, source),
                        store.labelled(begin, end, source), begin, end, every)
