"""The analysis in the running service: window summaries on read, MON rules after each ingest,
alerts kept in the database and delivered off the request path.

The service stays thin: it tells `LiveAnalysis` which records were committed (`committed`) or
labelled (`labelled`); one analysis thread — in one process of all workers and replicas, the
holder of the `analysis` lease, which finds every changed window from the hourly aggregates —
recomputes the touched hourly windows over all sources
with `analysis.check_window` (a window still running is judged on the share of it that has
passed) and feeds the findings to `alerts.AlertManager` over the SQL
`AlertStore`; a delivery thread sends the newly opened alerts on the configured channels (with
their own retries). `GET /windows` asks `fill` for the summaries, computed by
`analysis.summarise` from the stored records and cached per window until its record or label
count changes.

With `replay` (the capture replay's checked setup, `replay.replay_setup`), the estimate of each
window of at least MON002's `min_n` records is the capture replay (`replay.ReplayBook`), made
by the analysis thread only, never on a request: for the windows the lease holder checks (MON002
judges it) and, in every process, for the windows its reads found without one (that read shows
ATC; a later one the replay). ATC stays beside it; a replay that fails is logged and its window
carries ATC.

Ingest must not pay for the analysis: the thread gathers the windows touched during `interval`
seconds and checks each once, at a lower CPU priority; it reads at most `sample` records of a
window (a uniform sample of a busier one) and the sources' history from the hourly aggregates,
so its memory stays bounded however many records arrive.

Alert times are the windows' times (an alert of the 10:00 window is opened at 11:00), so a
replayed or late stream opens, dedupes and resolves the same alerts as a live one.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from pitfalls.alerts.delivery import notify
from pitfalls.alerts.state import Alert, AlertManager
from pitfalls.findings import jsonable
from pitfalls.monitor.replay import ReplayBook, ReplaySetup, WindowReplay
from pitfalls.monitor.storage import SqlAlertStore, Store

log = logging.getLogger("pitfalls.monitor")

SUMMARY_FIELDS = ("estimated_accuracy", "ci", "estimate_method", "atc_estimate", "atc_ci",
                  "realised_ci", "conditions", "mean_confidence", "unusable_share", "ood_share")
"""What the analysis adds to the service's own window (volume, mix, realised accuracy)."""
LEASE = "analysis"
CLOCK_SKEW = timedelta(minutes=5)
"""How far the clocks of replicas may disagree: changes are looked for that much earlier than
the last one seen (a window seen twice is checked once: each hour keeps its last change)."""


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


class LiveAnalysis:
    """Per-window analysis and alerts of one service process."""

    def __init__(self, store: Store, folder_reference: Any, channels: Sequence[Any] = (),
                 cooldown: timedelta = timedelta(hours=6), resolve_after: int = 3,
                 lookback: int | None = None, lang: str = "en", interval: float = 30.0,
                 sample: int = 5000, replay: ReplaySetup | None = None) -> None:
        from pitfalls.config import Config
        from pitfalls.monitor.analysis.reference import from_folder

        self.store = store
        self.ref = from_folder(folder_reference)
        self.replays = (ReplayBook(WindowReplay(replay, folder_reference), self.ref,
                                   int(Config().params_for("MON002").get("min_n", 50)))
                        if replay is not None else None)
        self.alert_store = SqlAlertStore(store.engine)
        self.manager = AlertManager(self.alert_store, cooldown=cooldown)
        self.channels = list(channels)
        self.resolve_after = resolve_after
        self.lang = lang
        self.lookback = lookback
        self.interval = interval
        self.sample = sample
        self.poll = max(interval, 5.0)
        """Seconds between looks for the changes other workers and replicas stored."""
        self.lease_seconds = 3 * self.poll + 60
        self.holder = f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._seen = datetime.now(timezone.utc) - timedelta(hours=2)
        self._checked: dict[datetime, datetime] = {}
        self._stopping = threading.Event()
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        """Now; a window still running is judged on the share of it that has passed."""
        self._cache: dict[tuple, tuple[tuple, dict]] = {}
        self._cache_lock = threading.Lock()
        self._latest: datetime | None = None
        self._pending: set[datetime] = set()
        self._pending_lock = threading.Lock()
        self._wake: queue.Queue[bool] = queue.Queue()  # False: stop
        self._outbox: queue.Queue[Alert | None] = queue.Queue()
        self.idle = threading.Event()
        self.idle.set()
        self.deliveries: list[Any] = []
        self._threads = [
            threading.Thread(target=self._analyse_loop, name="monitor-analysis", daemon=True),
            threading.Thread(target=self._deliver_loop, name="monitor-delivery", daemon=True)]
        for thread in self._threads:
            thread.start()

    # --- after ingest ---------------------------------------------------------------------------

    def committed(self, moments: Iterable[datetime]) -> None:
        """Records captured at `moments` were committed: check their hourly windows."""
        hours = {_utc(m).astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
                 for m in moments}
        if not hours:
            return
        with self._pending_lock:
            self._pending |= hours
            self.idle.clear()
        self._wake.put(True)

    def labelled(self, ids: Sequence[str]) -> None:
        """Labels of `ids` were stored: check the windows of those already stored."""
        self.committed(t for t, _ in self.store.placed(list(ids)))

    def _analyse_loop(self) -> None:
        _lower_priority()
        while True:
            try:  # a wake from this process's ingest, or a poll for the others' records
                if not self._wake.get(timeout=self.poll):
                    break
            except queue.Empty:
                pass
            if self.interval > 0:  # gather the windows touched meanwhile; check each once
                self._stopping.wait(self.interval)
            if self._drain_wakes():
                break
            try:
                self.run_pass()
            except Exception:  # the next pass tries again; the log keeps the traceback
                log.exception("monitoring analysis pass failed")
            self._replay_wanted()  # in every process: its own reads asked for them
            self._settle()
        self._release()

    def _drain_wakes(self) -> bool:
        """Take the wakes that came meanwhile; True when one of them was the stop."""
        while True:
            try:
                if not self._wake.get_nowait():
                    return True
            except queue.Empty:
                return self._stopping.is_set()

    def run_pass(self) -> list[datetime]:
        """One analysis pass: when this process holds the analysis lease (one process of all
        workers and replicas does), check every hourly window whose records or labels changed
        since it last looked, wherever they were stored. Returns the hours checked."""
        with self._pending_lock:
            hours, self._pending = set(self._pending), set()
        try:
            leader = self.store.take_lease(LEASE, self.holder, self.lease_seconds)
        except Exception as exc:  # the database is down: the next pass tries again
            log.warning("analysis lease unavailable (%s); windows are checked later",
                        type(exc).__name__)
            leader = False
        if not leader:
            self._settle()
            return []
        since = self._seen - CLOCK_SKEW
        for hour, at in self.store.changed_hours(since):
            if at > self._checked.get(hour, since):
                hours.add(hour)
                self._checked[hour] = at
            self._seen = max(self._seen, at)
        done = []
        for hour in sorted(hours):
            try:
                self.check(hour)
                done.append(hour)
            except Exception:  # the next change of that window tries again; log says why
                log.exception("monitoring analysis of the window %s failed", hour)
        old = self._seen - timedelta(days=2)
        self._checked = {h: t for h, t in self._checked.items() if t > old}
        self._settle()
        return done

    def _settle(self) -> None:
        """Idle once nothing waits: no window to check, no replay a read asked for."""
        with self._pending_lock:
            if not self._pending and not (self.replays and self.replays.waiting()):
                self.idle.set()

    def _release(self) -> None:
        try:
            self.store.drop_lease(LEASE, self.holder)
        except Exception as exc:  # it expires by itself; another process takes it then
            log.warning("could not give the analysis lease up (%s)", type(exc).__name__)

    def _replay_wanted(self) -> None:
        """Replay the windows reads asked for, latest first, until new records wait."""
        from pitfalls.monitor.analysis.records import read_window
        from pitfalls.monitor.analysis.windows import ALL

        while self.replays is not None and not self._stopping.is_set():
            with self._pending_lock:
                if self._pending:  # the windows just committed come first; their wake waits
                    return
            item = self.replays.next_wanted()
            if item is None:
                return
            key, n = item
            if self.replays.fresh(key, n) is not None:
                continue
            begin = key.start.to_pydatetime()
            step = timedelta(days=1) if key.every == "1d" else timedelta(hours=1)
            try:
                table = read_window(self.store, self.ref, begin, begin + step,
                                    sample=self.sample,
                                    source=None if key.source == ALL else key.source)
                self.replays.estimate(key, n, table)
            except Exception:  # a later read asks again; the log keeps the traceback
                log.exception("reading the window %s for its replay failed", key.start)

    def check(self, hour: datetime) -> list[Alert]:
        """Run the MON rules on the hourly window from `hour` (every source); alerts opened,
        updated and resolved; the new ones queued for delivery."""
        import pandas as pd

        from pitfalls.monitor.analysis.batch import volume_table
        from pitfalls.monitor.analysis.check import check_window
        from pitfalls.monitor.analysis.records import read_window
        from pitfalls.monitor.analysis.windows import ALL, Key

        lookback = self.lookback
        if lookback is None:
            from pitfalls.config import Config

            lookback = int(Config().params_for("MON008").get("lookback", 24))
        end = hour + timedelta(hours=1)
        table = read_window(self.store, self.ref, hour, end, sample=self.sample)
        key = Key("1h", pd.Timestamp(hour), ALL)
        volumes = volume_table(self.store.volumes(hour - timedelta(hours=lookback), end))
        own = volumes[volumes["captured_at"] == key.start]
        counts = own.groupby("source")["n"].sum().astype(int)
        findings = check_window(self.ref, table, key, lookback=lookback, volumes=volumes,
                                until=pd.Timestamp(_utc(self.clock())),
                                replay=(self.replays.bound(key, table, counts)
                                        if self.replays and self.replays.active else None))
        new = self.manager.observe(findings, at=end)
        if self._latest is None or end >= self._latest:  # a late window resolves nothing
            self._latest = end
            self.manager.resolve_quiet(timedelta(hours=self.resolve_after), at=end)
        for alert in new:
            self._outbox.put(alert)
        return new

    def _deliver_loop(self) -> None:
        while True:
            alert = self._outbox.get()
            if alert is None:
                return
            if not self.channels:
                continue
            try:
                self.deliveries += notify([alert], self.channels, self.alert_store)
            except Exception:  # a channel bug must not stop the next alert
                log.exception("delivering alert %s failed", alert.id)

    # --- on read --------------------------------------------------------------------------------

    def fill(self, windows: list[dict[str, Any]], every: str, source: str | None) -> None:
        """Add the analysis's summary and the alerts to the service's windows (in place); with
        the replay, its estimate where the analysis thread made one (the others are queued)."""
        import pandas as pd

        from pitfalls.monitor.analysis.records import read_window
        from pitfalls.monitor.analysis.windows import ALL, Key, summarise

        scope = source if source is not None else ALL
        keyed = [(w, Key(every, pd.Timestamp(w["start"]), scope)) for w in windows]
        missing = []
        with self._cache_lock:
            for w, key in keyed:
                hit = self._cache.get(key)
                if w["n"] and (hit is None or hit[0] != (w["n"], w["n_labelled"])):
                    missing.append(key)
        step = timedelta(days=1) if every == "1d" else timedelta(hours=1)
        for key in missing:  # one window at a time, each read sampled: bounded memory
            begin = key.start.to_pydatetime()
            table = read_window(self.store, self.ref, begin, begin + step, sample=self.sample,
                                source=None if scope == ALL else scope)
            fresh = summarise(self.ref, table, [key])
            with self._cache_lock:
                sigs = {k: (w["n"], w["n_labelled"]) for w, k in keyed}
                for k, summary in fresh.items():
                    self._cache[k] = (sigs[k], jsonable(summary))
        alerts = self.alert_store.list()
        with self._cache_lock:
            for w, key in keyed:
                hit = self._cache.get(key)
                if hit is not None and w["n"]:
                    summary = hit[1]
                    w.update({f: summary.get(f) for f in SUMMARY_FIELDS})
                w["alerts"] = self._alerts_in(alerts, w, scope)
        if self.replays is not None:
            wanted = self.replays.overlay(keyed)
            if wanted:  # made by the analysis thread, never on this request
                with self._pending_lock:
                    self.replays.want(wanted)
                    self.idle.clear()
                self._wake.put(True)

    def _alerts_in(self, alerts: list[Alert], window: dict[str, Any], scope: str
                   ) -> list[dict[str, Any]]:
        """The alerts seen in the window: opened by its end, last seen at or after it ended."""
        from pitfalls.monitor.analysis.windows import ALL

        start = datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(window["end"].replace("Z", "+00:00"))
        out = []
        for a in alerts:
            if scope != ALL and a.source not in (scope, ALL):
                continue
            if a.opened_at <= end and a.last_seen > start:
                out.append({"id": a.id, "rule": a.rule, "source": a.source,
                            "severity": a.severity, "state": a.state,
                            "title": a.title.get_text(self.lang)})
        return out

    def close(self, timeout: float = 30) -> None:
        """Finish the window being checked and the alert being delivered, give the analysis
        lease up, then stop."""
        self._stopping.set()
        self._wake.put(False)
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout)


def _lower_priority() -> None:
    """Give the calling thread a lower CPU priority (Linux: per thread), so that a busy
    analysis leaves the cores to ingest."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError) as exc:  # other systems: the same priority as ingest
        log.debug("analysis thread keeps its priority: %s", exc)


def channels(webhooks: Sequence[dict[str, Any]], smtp: dict[str, Any] | None,
             lang: str = "en") -> list[Any]:
    """The delivery channels of the service's settings."""
    from pitfalls.alerts.delivery import EmailChannel, WebhookChannel

    out: list[Any] = [WebhookChannel(w["url"], kind=w.get("kind") or (
        "json" if w.get("secret") else "slack"), secret=w.get("secret"), lang=lang)
        for w in webhooks]
    if smtp and smtp.get("host") and smtp.get("to"):
        out.append(EmailChannel(smtp["host"], int(smtp.get("port") or 25),
                                smtp.get("sender") or "pitfalls@localhost", list(smtp["to"]),
                                username=smtp.get("username"), password=smtp.get("password"),
                                starttls=bool(smtp.get("starttls")), lang=lang))
    return out
