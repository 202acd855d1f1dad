"""`pitfalls monitor report`: the after-release report of a period, from the stored records.

The records of the period are read straight from the service's database and analysed as the
service does (`analysis.summarise` for the windows, `analysis.check_window` for the MON rules,
the sources' history from the hourly volumes), in daily windows (hourly for periods of two days
or less). `analysis.report.render_after_release` writes the page; `sheet.to_pdf` prints it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitfalls.errors import InputError

if TYPE_CHECKING:
    from pitfalls.config import Config
    from pitfalls.findings import Finding
    from pitfalls.monitor.storage import Store

UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
LONGEST = timedelta(days=366)
HOURLY_UP_TO = timedelta(days=2)
SAMPLE = 5000
"""Most records of one window read (a uniform sample of a busier one), as in the service."""
"""Periods up to this long are shown hour by hour; longer ones day by day."""


def parse_period(text: str) -> timedelta:
    """`24h`, `7d`, `2w` as a duration; `InputError` saying what is allowed otherwise."""
    found = re.fullmatch(r"\s*(\d{1,6})\s*([hdw])\s*", text or "", re.IGNORECASE)
    if not found or int(found.group(1)) == 0:
        raise InputError(f"--period must be a whole number of hours, days or weeks, such as "
                         f"24h, 7d or 2w, not {text[:40]!r}")
    length = int(found.group(1)) * UNITS[found.group(2).lower()]
    if length > LONGEST:
        raise InputError(f"--period {text.strip()} is longer than a year; report a shorter one")
    return length


def parse_end(text: str | None) -> datetime:
    """`--end` as an aware UTC time (now when not given); `InputError` when it is not ISO 8601."""
    from pitfalls.monitor.records import parse_time

    if text is None:
        return datetime.now(timezone.utc)
    try:
        return parse_time(text.strip())
    except ValueError:
        raise InputError(f"--end {text[:60]!r} is not an ISO 8601 time, such as "
                         "2026-03-09T00:00:00Z") from None


@dataclass
class AfterRelease:
    """What the page shows, before it is rendered."""

    every: str
    start: datetime
    end: datetime
    windows: list[dict[str, Any]]
    findings: list[Finding]
    alerts: list[dict[str, Any]]
    sources: list[str]
    expected_range: tuple[float, float] | None
    lab: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    """The last window is still running at `end` (its volume is judged pro rata)."""

    @property
    def n(self) -> int:
        return sum(int(w.get("n") or 0) for w in self.windows)


def open_store(url: str) -> Store:
    """The monitor's database at `url`, read as it is: `InputError` when it is missing, is not
    a database, or holds no monitor schema (a report never creates one)."""
    import sqlalchemy as sa

    from pitfalls.monitor.storage import Store, make_engine, normalise_url

    try:
        parsed = sa.engine.make_url(normalise_url(url))
    except (sa.exc.ArgumentError, ValueError):
        raise InputError("--db is not a database URL (sqlite:///PATH or "
                         "postgresql://USER@HOST/DB)") from None
    where = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not parsed.database or parsed.database == ":memory:" or not path.is_file():
            raise InputError(f"no monitor database at {where}: give the --db that "
                             "'pitfalls monitor serve' writes to")
    try:
        engine = make_engine(url)
        if not sa.inspect(engine).has_table("records"):
            engine.dispose()
            raise InputError(f"{where} holds no monitoring records (no records table): give "
                             "the --db that 'pitfalls monitor serve' writes to")
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        raise InputError(f"cannot read the database {where}: "
                         f"{str(orig).splitlines()[0] if str(orig) else type(orig).__name__}"
                         ) from None
    return Store(engine)


def window_starts(start: datetime, end: datetime, every: str) -> list[Any]:
    import pandas as pd

    from pitfalls.monitor.analysis.windows import EVERY

    step = EVERY[every]
    first = pd.Timestamp(start).floor(step)
    return list(pd.date_range(first, pd.Timestamp(end) - pd.Timedelta(microseconds=1),
                              freq=step))


def analyse(store: Store, folder: Any, *, period: timedelta, end: datetime,
            source: str | None = None, config: Config | None = None) -> AfterRelease:
    """The windows, MON findings and alerts of the period ending at `end` (`folder`: the
    reference as `reference.load_reference` reads it)."""
    import pandas as pd

    from pitfalls.monitor.analysis.batch import volume_table
    from pitfalls.monitor.analysis.check import check_window
    from pitfalls.monitor.analysis.records import read_window
    from pitfalls.monitor.analysis.reference import from_folder
    from pitfalls.monitor.analysis.windows import ALL, EVERY, Key, summarise

    ref = from_folder(folder)
    every = "1h" if period <= HOURLY_UP_TO else "1d"
    step = EVERY[every]
    starts = window_starts(end - period, end, every)
    start = starts[0].to_pydatetime() if starts else end - period
    keys = [Key(every, s, source or ALL) for s in starts]
    lookback = int((config.params_for("MON008") if config else {}).get("lookback", 24))
    volumes = volume_table(store.volumes(start - lookback * step, end, source))
    until = pd.Timestamp(end)
    windows: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for k in keys:  # one window at a time, each read sampled: memory bounded over any period
        begin = k.start.to_pydatetime()
        table = read_window(store, ref, begin, min(begin + step, end), source=source,
                            sample=SAMPLE)
        windows.append(summarise(ref, table, [k])[k])
        findings += check_window(ref, table, Key(every, k.start, ALL), config, lookback,
                                 volumes=volumes, until=until)
    expected = folder.expected_accuracy or {}
    return AfterRelease(
        every=every, start=start, end=end, windows=windows, findings=findings,
        alerts=alerts_in(store, start, end, source),
        sources=[source] if source else sorted(table["source"].dropna().astype(str).unique()),
        expected_range=ref.expected_range, lab=dict(expected.get("lab") or {}),
        partial=bool(starts) and starts[-1] + step > until)


def alerts_in(store: Store, start: datetime, end: datetime, source: str | None = None
              ) -> list[dict[str, Any]]:
    """The service's alerts alive during [start, end) (of `source` and of all sources, when a
    source is given), newest first; each with its title and summary in both languages."""
    from pitfalls.monitor.storage import SqlAlertStore

    out = []
    for a in SqlAlertStore(store.engine).list():
        last = a.resolved_at or (end if a.state != "resolved" else a.last_seen)
        if a.opened_at >= end or last < start:
            continue
        if source is not None and a.source not in (source, "*"):
            continue
        out.append({"rule": a.rule, "source": a.source, "severity": a.severity,
                    "state": a.state, "opened": a.opened_at, "resolved": a.resolved_at,
                    "count": a.count, "title": a.title, "summary": a.summary})
    return out


def render(result: AfterRelease, lang: str = "en") -> str:
    """The page (`analysis.report.render_after_release`) of an `analyse` result."""
    from pitfalls.monitor.analysis.report import render_after_release

    return render_after_release(
        result.windows, result.findings, result.expected_range,
        lab_accuracy=result.lab.get("value"), lab_ci=result.lab.get("ci"),
        sources=result.sources, lang=lang, alerts=result.alerts, partial=result.partial,
        period=(result.start, result.end))


def write(result: AfterRelease, out: Path, *, lang: str = "en", pdf: bool = True
          ) -> list[Path]:
    """`after-release.html` (and `after-release.pdf` when Chromium prints it) in `out`."""
    from pitfalls.sheet import to_pdf

    out.mkdir(parents=True, exist_ok=True)
    html = out / "after-release.html"
    html.write_text(render(result, lang), encoding="utf-8")
    written = [html]
    if pdf and to_pdf(html, out / "after-release.pdf"):
        written.append(out / "after-release.pdf")
    return written
