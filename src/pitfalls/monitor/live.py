"""The analysis in the running service: window summaries on read, MON rules after each ingest,
alerts kept in the database and delivered off the request path.

The service stays thin: it tells `LiveAnalysis` which records were committed (`committed`) or
labelled (`labelled`); one analysis thread recomputes the touched hourly windows over all sources
with `analysis.check_window` (the window's records, and the sources' history from the hourly
volumes the store keeps, so a check reads one hour of records, not a day) and feeds the
findings to `alerts.AlertManager` over the SQL `AlertStore`; a delivery thread sends the newly
opened alerts on the configured channels (with their own retries). `GET /windows` asks `fill`
for the summaries, computed by `analysis.summarise` from the stored records and cached per
window until its record or label count changes.

Alert times are the windows' times (an alert of the 10:00 window is opened at 11:00), so a
replayed or late stream opens, dedupes and resolves the same alerts as a live one.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from pitfalls.alerts.delivery import notify
from pitfalls.alerts.state import Alert, AlertManager
from pitfalls.findings import jsonable
from pitfalls.monitor.storage import SqlAlertStore, Store

log = logging.getLogger("pitfalls.monitor")

SUMMARY_FIELDS = ("estimated_accuracy", "ci", "estimate_method", "atc_estimate", "atc_ci",
                  "realised_ci", "conditions", "mean_confidence", "unusable_share", "ood_share")
"""What the analysis adds to the service's own window (volume, mix, realised accuracy)."""


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


class LiveAnalysis:
    """Per-window analysis and alerts of one service process."""

    def __init__(self, store: Store, folder_reference: Any, channels: Sequence[Any] = (),
                 cooldown: timedelta = timedelta(hours=6), resolve_after: int = 3,
                 lookback: int | None = None, lang: str = "en") -> None:
        from pitfalls.monitor.analysis.reference import from_folder

        self.store = store
        self.ref = from_folder(folder_reference)
        self.alert_store = SqlAlertStore(store.engine)
        self.manager = AlertManager(self.alert_store, cooldown=cooldown)
        self.channels = list(channels)
        self.resolve_after = resolve_after
        self.lang = lang
        self.lookback = lookback
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
        while self._wake.get():
            with self._pending_lock:
                hours, self._pending = sorted(self._pending), set()
            for hour in hours:
                try:
                    self.check(hour)
                except Exception:  # the next batch tries again; the log keeps the traceback
                    log.exception("monitoring analysis of the window %s failed", hour)
            with self._pending_lock:
                if not self._pending:
                    self.idle.set()

    def check(self, hour: datetime) -> list[Alert]:
        """Run the MON rules on the hourly window from `hour` (every source); alerts opened,
        updated and resolved; the new ones queued for delivery."""
        import pandas as pd

        from pitfalls.monitor.analysis.batch import volume_table
        from pitfalls.monitor.analysis.check import check_window
        from pitfalls.monitor.analysis.records import flatten
        from pitfalls.monitor.analysis.windows import ALL, Key

        lookback = self.lookback
        if lookback is None:
            from pitfalls.config import Config

            lookback = int(Config().params_for("MON008").get("lookback", 24))
        end = hour + timedelta(hours=1)
        table = flatten(pd.DataFrame(self.store.records_between(hour, end)), self.ref.classes,
                        self.ref.blur_median)
        findings = check_window(self.ref, table, Key("1h", pd.Timestamp(hour), ALL),
                                lookback=lookback, volumes=volume_table(
                                    self.store.volumes(hour - timedelta(hours=lookback), hour)),
                                until=pd.Timestamp(_utc(self.clock())))
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
        """Add the analysis's summary and the alerts to the service's windows (in place)."""
        import pandas as pd

        from pitfalls.monitor.analysis.records import flatten
        from pitfalls.monitor.analysis.windows import ALL, Key, summarise

        scope = source if source is not None else ALL
        keyed = [(w, Key(every, pd.Timestamp(w["start"]), scope)) for w in windows]
        missing = []
        with self._cache_lock:
            for w, key in keyed:
                hit = self._cache.get(key)
                if w["n"] and (hit is None or hit[0] != (w["n"], w["n_labelled"])):
                    missing.append(key)
        if missing:
            begin = min(k.start for k in missing).to_pydatetime()
            end = max(k.start for k in missing).to_pydatetime() + (
                timedelta(days=1) if every == "1d" else timedelta(hours=1))
            table = flatten(pd.DataFrame(self.store.records_between(begin, end)),
                            self.ref.classes, self.ref.blur_median)
            fresh = summarise(self.ref, table, missing)
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
        """Finish the window being checked and the alert being delivered, then stop."""
        self._wake.put(False)
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout)


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
