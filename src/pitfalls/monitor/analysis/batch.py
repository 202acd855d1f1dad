"""What the MON rules read: one window of live records (every source), the reference, and how
many records each source sent in the windows before it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

from pitfalls.monitor.analysis.reference import Reference
from pitfalls.monitor.analysis.windows import ALL, Key, Replay, check_every, in_window, starts


@dataclass
class WindowBatch:
    """One window over all sources (`key.source` is `ALL`), with its flattened records and a
    history of per-source counts (rows: the previous windows' starts, oldest first; columns:
    sources; zeros where a source sent nothing). With `replay`, MON002 judges the capture
    replay's estimate instead of ATC."""

    reference: Reference
    key: Key
    records: pd.DataFrame
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    replay: Replay | None = None
    counts: pd.Series | None = None
    """Records per source in the window when `records` is a sample of it (else counted)."""

    def source_counts(self) -> pd.Series:
        """How many records each source sent in this window (not the sample's size)."""
        if self.counts is not None:
            return self.counts
        return self.records["source"].value_counts()

    @property
    def end(self) -> pd.Timestamp:
        return self.key.start + check_every(self.key.every)

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
    before it)."""
    step = check_every(key.every)
    first = key.start - lookback * step
    t = table[(table["captured_at"] >= first) & (table["captured_at"] < key.start)]
    if t.empty:
        return history_of(pd.DataFrame(), key, lookback)
    counts = (t.assign(_start=starts(t["captured_at"], key.every))
              .groupby(["_start", "source"]).size().unstack(fill_value=0))
    return history_of(counts, key, lookback)


def history_of(counts: pd.DataFrame, key: Key, lookback: int) -> pd.DataFrame:
    """`history_counts` from counts already made (rows: window starts, columns: sources), as
    the service reads them from its hourly aggregates instead of from the records."""
    step = check_every(key.every)
    index = pd.date_range(key.start - lookback * step, periods=lookback, freq=step)
    if counts.empty:
        return pd.DataFrame(index=index)
    counts = counts.reindex(index, fill_value=0).astype(float)
    return counts.where(counts.gt(0).cummax())


def batch_for(ref: Reference, table: pd.DataFrame, key: Key, lookback: int = 24,
              replay: Replay | None = None, history: pd.DataFrame | None = None,
              counts: pd.Series | None = None) -> WindowBatch:
    """The batch of window `key` (its source is ignored: a batch covers every source).
    `history`: the per-source counts of the windows before it (`history_of`), when `table`
    holds only the window itself; `counts`: the window's own, when `table` is a sample."""
    key = Key(key.every, key.start, ALL)
    if history is None:
        history = history_counts(table, key, lookback)
    return WindowBatch(ref, key, in_window(table, key), history, replay, counts)
