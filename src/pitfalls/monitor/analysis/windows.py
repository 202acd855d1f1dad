"""Hourly and daily windows, per source and over all sources, computed incrementally.

A window is `(every, start, source)`; `source` is `ALL` for the window over every source.
`touched` says which windows a batch of new (or late) records or labels changed, and
`summarise` recomputes exactly those from the record table, so a late record from last Tuesday
recomputes last Tuesday's windows and nothing else. `WindowStore` keeps records and summaries in
memory for the library and the tests; the service keeps records in its database and calls the same
two functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from pitfalls.field.conditions import CONDITIONS
from pitfalls.monitor.analysis.estimate import Estimate, atc_estimate, realised
from pitfalls.monitor.analysis.records import COND_PREFIX, flatten, records_frame
from pitfalls.monitor.analysis.reference import Reference

ALL = "*"
Replay = Callable[[pd.DataFrame], Estimate]
"""A capture-replay estimator of a window's rows (`estimate.replay_estimate` bound to a scan
context, model and preprocessing)."""
EVERY = {"1h": pd.Timedelta(hours=1), "1d": pd.Timedelta(days=1)}


class Key(NamedTuple):
    every: str
    start: pd.Timestamp
    source: str


def check_every(every: str) -> pd.Timedelta:
    if every not in EVERY:
        raise ValueError(f"window length must be one of {', '.join(EVERY)}, not {every!r}")
    return EVERY[every]


def starts(times: pd.Series, every: str) -> pd.Series:
    """The start of the window each timestamp falls in (UTC)."""
    return pd.to_datetime(times, utc=True).dt.floor(check_every(every))


def touched(rows: pd.DataFrame, every: Iterable[str] = tuple(EVERY)) -> set[Key]:
    """The windows (per source and over all sources) that rows with `captured_at` and `source`
    fall in; rows without a valid time touch nothing."""
    out: set[Key] = set()
    rows = rows[rows["captured_at"].notna()]
    for e in every:
        s = starts(rows["captured_at"], e)
        for start, source in set(zip(s, rows["source"], strict=True)):
            out.add(Key(e, start, str(source)))
            out.add(Key(e, start, ALL))
    return out


def in_window(table: pd.DataFrame, key: Key) -> pd.DataFrame:
    """The rows of `table` (flattened records) inside window `key`."""
    t = table["captured_at"]
    hit = (t >= key.start) & (t < key.start + check_every(key.every))
    if key.source != ALL:
        hit &= table["source"] == key.source
    return table[hit.fillna(False).to_numpy(bool)]


def summary(ref: Reference, rows: pd.DataFrame, key: Key,
            replay: Replay | None = None) -> dict[str, Any]:
    """One window as the contract's `GET /windows` returns it (plus a few monitoring figures).

    `estimated_accuracy` is the capture replay when a `replay` estimator is given and the window
    has records, else ATC; `estimate_method` says which, and ATC is always there beside it."""
    atc = atc_estimate(ref, rows)
    est = replay(rows) if replay is not None and len(rows) else atc
    if est.value is None:
        est = atc
    real = realised(rows)
    usable = rows[~rows["unusable"]]
    mix = rows["pred"].dropna().astype(str).value_counts(normalize=True)
    return {
        "every": key.every, "start": key.start.isoformat(),
        "end": (key.start + check_every(key.every)).isoformat(), "source": key.source,
        "n": int(len(rows)),
        "estimated_accuracy": est.value, "ci": est.ci, "estimate_method": est.method,
        "atc_estimate": atc.value, "atc_ci": atc.ci,
        "realised_accuracy": real.value, "realised_ci": real.ci, "n_labelled": real.n,
        "conditions": {c: _median(usable[COND_PREFIX + c]) for c in CONDITIONS},
        "prediction_mix": {str(k): float(v) for k, v in mix.items()},
        "mean_confidence": _median(rows["conf"], np.mean),
        "unusable_share": float(rows["unusable"].mean()) if len(rows) else None,
        "ood_share": (float((ref.ood_distance(usable) > ref.ood_limit).mean())
                      if len(usable) and np.isfinite(ref.ood_limit) else None),
    }


def _median(values: pd.Series, how: Any = np.median) -> float | None:
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    return float(how(v)) if len(v) else None


def summarise(ref: Reference, table: pd.DataFrame, keys: Iterable[Key],
              replay: Replay | None = None) -> dict[Key, dict]:
    """Summaries of exactly the windows `keys`, from the flattened record table."""
    out: dict[Key, dict] = {}
    for e in {k.every for k in keys}:
        mine = [k for k in keys if k.every == e]
        wanted = {k.start for k in mine}
        s = starts(table["captured_at"], e)
        sub = table[s.isin(wanted).to_numpy(bool)]
        sub_start = s[s.isin(wanted)]
        groups: dict[Any, pd.DataFrame] = dict(iter(sub.groupby(sub_start.to_numpy())))
        for k in mine:
            rows = groups.get(k.start, sub.iloc[:0])
            if k.source != ALL:
                rows = rows[rows["source"] == k.source]
            out[k] = summary(ref, rows, k, replay)
    return out


class WindowStore:
    """Records and window summaries in memory; each `add` or `label` recomputes only the windows
    it touched. Record ids are idempotency keys: a record sent twice is stored once."""

    def __init__(self, ref: Reference, every: Sequence[str] = tuple(EVERY),
                 replay: Replay | None = None) -> None:
        for e in every:
            check_every(e)
        self.ref = ref
        self.replay = replay
        self.every = tuple(every)
        self.table = flatten(pd.DataFrame({"id": []}), ref.classes).iloc[:0]
        self.windows: dict[Key, dict] = {}
        self.recomputed = 0  # windows recomputed so far (what incrementality saves)

    def add(self, records: Sequence[dict[str, Any]] | pd.DataFrame) -> set[Key]:
        """Store new records (duplicates of stored ids are ignored); returns the windows
        recomputed."""
        flat = flatten(records_frame(records), self.ref.classes, self.ref.blur_median)
        flat = flat[~flat["id"].isin(self.table["id"])].drop_duplicates("id")
        if flat.empty:
            return set()
        self.table = (pd.concat([self.table, flat], ignore_index=True)
                      if len(self.table) else flat.reset_index(drop=True))
        return self._refresh(touched(flat, self.every))

    def label(self, labels: Mapping[str, str]) -> set[Key]:
        """Attach delayed labels (record id -> class); unknown ids are ignored. Returns the
        windows recomputed."""
        hit = self.table["id"].isin(list(labels))
        if not hit.any():
            return set()
        self.table.loc[hit, "label"] = self.table.loc[hit, "id"].map(labels).astype("string")
        return self._refresh(touched(self.table[hit], self.every))

    def _refresh(self, keys: set[Key]) -> set[Key]:
        self.windows.update(summarise(self.ref, self.table, keys, self.replay))
        self.recomputed += len(keys)
        return keys

    def rows(self, key: Key) -> pd.DataFrame:
        return in_window(self.table, key)

    def frame(self, every: str = "1h", source: str = ALL) -> pd.DataFrame:
        """The summaries of one window length and source, in time order."""
        rows = [v for k, v in self.windows.items() if k.every == every and k.source == source]
        return pd.DataFrame(rows).sort_values("start").reset_index(drop=True) if rows else (
            pd.DataFrame())
