"""What the MON rules read: one window of live records (every source), the reference, and how
many records each source sent in the windows before it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pitfalls.monitor.analysis.reference import Reference
from pitfalls.monitor.analysis.windows import ALL, Key, Replay, check_every, in_window, starts


@dataclass
class WindowBatch:
    """One window over all sources (`key.source` is `ALL`), with its flattened records and a
    history of per-source counts (rows: the previous windows' starts, oldest first; columns:
    sources; zeros where a source sent nothing). With `replay`, MON002 judges the capture
    replay's estimate instead of ATC. `until` is the moment the records are known up to, when
    that is before the window's end (the window still running)."""

    reference: Reference
    key: Key
    records: pd.DataFrame
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    replay: Replay | None = None
    until: pd.Timestamp | None = None
    counts: pd.Series | None = None
    """Records per source in the window when `records` may be a sample of it (from the
    volumes); else they are counted."""

    def source_counts(self) -> pd.Series:
        """How many records each source sent in this window (not a sample's size)."""
        if self.counts is not None:
            return self.counts
        return self.records["source"].value_counts()

    @property
    def end(self) -> pd.Timestamp:
        return self.key.start + check_every(self.key.every)

    @property
    def elapsed(self) -> float:
        """The share of the window that has passed (1.0 once it is over): a window at 10:05
        has seen a twelfth of an hour's records, not a silent camera."""
        if self.until is None:
            return 1.0
        share = (pd.Timestamp(self.until) - self.key.start) / check_every(self.key.every)
        return float(min(1.0, max(0.0, share)))

    def scopes(self, min_n: int) -> Iterator[tuple[str, pd.DataFrame]]:
        """The window over all sources, then each source with at least `min_n` records."""
        if len(self.records) >= min_n:
            yield ALL, self.records
        for source, rows in self.records.groupby("source", sort=True):
            if len(rows) >= min_n and self.records["source"].nunique() > 1:
                yield str(source), rows


def history_counts(table: pd.DataFrame, key: Key, lookback: int) -> pd.DataFrame:
    """Records per source in each of the `lookback` windows before `key`: zero where a source
    sent nothing, NaN before its first record (a camera installed yesterday has no history
    before it). `table` holds records (`captured_at`, `source`), or counts of them when it has
    an `n` column (the service's hourly volumes: a row per hour and source)."""
    step = check_every(key.every)
    first = key.start - lookback * step
    t = table[(table["captured_at"] >= first) & (table["captured_at"] < key.start)]
    index = pd.date_range(first, periods=lookback, freq=step)
    if t.empty:
        return pd.DataFrame(index=index)
    grouped = t.assign(_start=starts(t["captured_at"], key.every)).groupby(["_start", "source"])
    counts = (grouped["n"].sum() if "n" in t else grouped.size()).unstack(fill_value=0)
    counts = counts.reindex(index, fill_value=0).astype(float)
    return counts.where(counts.gt(0).cummax())


def volume_table(rows: Iterable[tuple[Any, str, int]]) -> pd.DataFrame:
    """(hour, source, n) rows, as the service's store keeps them (`Store.volumes`), as the
    `volumes` table `batch_for` reads the history from."""
    frame = pd.DataFrame(list(rows), columns=["captured_at", "source", "n"])
    frame["captured_at"] = pd.to_datetime(frame["captured_at"], utc=True)
    return frame


def batch_for(ref: Reference, table: pd.DataFrame, key: Key, lookback: int = 24,
              replay: Replay | None = None, volumes: pd.DataFrame | None = None,
              until: pd.Timestamp | None = None) -> WindowBatch:
    """The batch of window `key` (its source is ignored: a batch covers every source). The
    history comes from `volumes` (`captured_at`, `source`, `n` rows) when given, so `table`
    need hold only the window's records, or a sample of them (the window's counts come from
    `volumes` too); else from `table` itself. `until`: the records are
    known up to then (a window still running)."""
    key = Key(key.every, key.start, ALL)
    history = history_counts(table if volumes is None else volumes, key, lookback)
    counts = None
    if volumes is not None:  # the window's true counts: `table` may hold a sample of it
        own = in_window(volumes, key)
        counts = own.groupby("source")["n"].sum().astype(int)
    return WindowBatch(ref, key, in_window(table, key), history, replay, until, counts)
