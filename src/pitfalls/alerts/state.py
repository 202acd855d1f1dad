"""Alert state: open -> acknowledged -> resolved, one live alert per (rule, source).

`AlertManager.observe` turns a window's findings into alerts: a finding whose (rule, source) has
a live alert updates it (no new notification); one whose last alert was resolved less than the
cool-down ago reopens that alert silently; anything else opens a new alert, which is returned for
delivery. `resolve_quiet` resolves alerts whose rule has stayed quiet for a while. Storage is an
interface (`AlertStore`); `MemoryAlertStore` is the in-memory one, a database store implements
the same five methods.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from pitfalls.findings import Finding, jsonable
from pitfalls.text import T

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATES = (OPEN, ACKNOWLEDGED, RESOLVED)
MOVES = {OPEN: {ACKNOWLEDGED, RESOLVED}, ACKNOWLEDGED: {RESOLVED, OPEN}, RESOLVED: {OPEN}}
"""Allowed transitions (a resolved alert only comes back by reopening)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Alert:
    """One problem (a rule on a source) over its whole life."""

    rule: str
    source: str
    severity: str
    title: T
    summary: T
    metrics: dict[str, Any]
    opened_at: datetime
    last_seen: datetime
    state: str = OPEN
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    count: int = 1
    resolved_at: datetime | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.source)

    @property
    def live(self) -> bool:
        return self.state != RESOLVED

    def move(self, state: str, at: datetime, by: str | None = None, note: str = "") -> None:
        """Change state along an allowed transition (ValueError otherwise)."""
        if state not in MOVES[self.state]:
            raise ValueError(f"alert {self.id}: cannot go from {self.state} to {state}")
        self.state = state
        self.resolved_at = at if state == RESOLVED else None
        self.history.append({"at": at.isoformat(), "state": state, "by": by, "note": note})

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {"id": self.id, "rule": self.rule, "source": self.source,
                "severity": self.severity, "state": self.state,
                "title": self.title.get_text(lang), "summary": self.summary.get_text(lang),
                "metrics": jsonable(self.metrics), "count": self.count,
                "opened_at": self.opened_at.isoformat(), "last_seen": self.last_seen.isoformat(),
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                "history": list(self.history)}


class AlertStore(Protocol):
    """Where alerts live. Implementations: `MemoryAlertStore`; the service adds a SQL one."""

    def get(self, alert_id: str) -> Alert | None: ...

    def latest(self, rule: str, source: str) -> Alert | None:
        """The most recently opened alert of (rule, source), whatever its state."""
        ...

    def save(self, alert: Alert) -> None: ...

    def list(self, state: str | None = None) -> list[Alert]:
        """Alerts (of one state), newest first."""
        ...


class MemoryAlertStore:
    """Alerts in a dict (tests, the library, a single process)."""

    def __init__(self) -> None:
        self._alerts: dict[str, Alert] = {}

    def get(self, alert_id: str) -> Alert | None:
        return self._alerts.get(alert_id)

    def latest(self, rule: str, source: str) -> Alert | None:
        mine = [a for a in self._alerts.values() if a.key == (rule, source)]
        return max(mine, key=lambda a: a.opened_at) if mine else None

    def save(self, alert: Alert) -> None:
        self._alerts[alert.id] = alert

    def list(self, state: str | None = None) -> list[Alert]:
        out = [a for a in self._alerts.values() if state is None or a.state == state]
        return sorted(out, key=lambda a: a.opened_at, reverse=True)


class AlertManager:
    """Findings in, alerts to deliver out; acknowledgement and resolution by people."""

    def __init__(self, store: AlertStore | None = None,
                 cooldown: timedelta = timedelta(hours=6)) -> None:
        self.store: AlertStore = store if store is not None else MemoryAlertStore()
        self.cooldown = cooldown

    def observe(self, findings: Iterable[Finding], at: datetime | None = None) -> list[Alert]:
        """Record the findings of a window; returns the alerts newly opened (to deliver)."""
        at = at or _now()
        new: list[Alert] = []
        for f in findings:
            source = str(f.metrics.get("source", "*"))
            alert = self.store.latest(f.rule, source)
            if alert is not None and (alert.live or (
                    alert.resolved_at is not None and at - alert.resolved_at < self.cooldown)):
                if not alert.live:
                    alert.move(OPEN, at, note="reopened within the cool-down")
                alert.count += 1
                alert.last_seen = max(alert.last_seen, at)
                alert.summary, alert.metrics = f.summary, dict(f.metrics)
                alert.severity = max(alert.severity, f.severity, key=_rank)
                self.store.save(alert)
                continue
            alert = Alert(rule=f.rule, source=source, severity=f.severity, title=f.title,
                          summary=f.summary, metrics=dict(f.metrics), opened_at=at,
                          last_seen=at, history=[{"at": at.isoformat(), "state": OPEN,
                                                  "by": None, "note": ""}])
            self.store.save(alert)
            new.append(alert)
        return new

    def acknowledge(self, alert_id: str, by: str | None = None,
                    at: datetime | None = None) -> Alert:
        return self._move(alert_id, ACKNOWLEDGED, by, at)

    def resolve(self, alert_id: str, by: str | None = None, at: datetime | None = None) -> Alert:
        return self._move(alert_id, RESOLVED, by, at)

    def resolve_quiet(self, quiet_for: timedelta, at: datetime | None = None) -> list[Alert]:
        """Resolve live alerts not seen for `quiet_for` (the problem went away)."""
        at = at or _now()
        done = []
        for alert in self.store.list():
            if alert.live and at - alert.last_seen >= quiet_for:
                alert.move(RESOLVED, at, note=f"quiet for {quiet_for}")
                self.store.save(alert)
                done.append(alert)
        return done

    def _move(self, alert_id: str, state: str, by: str | None, at: datetime | None) -> Alert:
        alert = self.store.get(alert_id)
        if alert is None:
            raise KeyError(f"no alert {alert_id!r}")
        alert.move(state, at or _now(), by=by)
        self.store.save(alert)
        return alert


def _rank(severity: str) -> int:
    return {"info": 0, "warning": 1, "error": 2}.get(severity, 0)
