"""Delivering alerts: webhooks (a Slack-compatible payload, or a generic JSON one signed with
HMAC-SHA256) and e-mail over SMTP, each with retries and exponential backoff.

A failed delivery never raises: `notify` logs it and returns what happened, so one broken
channel neither loses the alert nor stops the others.

The generic JSON webhook carries `X-Pitfalls-Timestamp` (Unix seconds) and
`X-Pitfalls-Signature: sha256=<hex>`, the HMAC-SHA256 with the shared secret of
`<timestamp>.<body>`; a receiver recomputes it (`verify_signature`) and rejects old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

from markupsafe import escape

from pitfalls.alerts.state import Alert, AlertStore

log = logging.getLogger("pitfalls.alerts")

SIGNATURE_HEADER = "X-Pitfalls-Signature"
TIMESTAMP_HEADER = "X-Pitfalls-Timestamp"
EMOJI = {"error": ":red_circle:", "warning": ":large_orange_circle:",
         "info": ":information_source:"}
WORDS = {"en": {"source": "source", "state": "state", "seen": "seen", "times": "time(s)",
                "opened": "opened"},
         "ja": {"source": "ソース", "state": "状態", "seen": "検出", "times": "回",
                "opened": "発生"}}


@dataclass
class Delivery:
    """What happened to one alert on one channel."""

    channel: str
    ok: bool
    attempts: int
    error: str | None = None
    status: int | None = None


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> Delivery: ...


def _retry(name: str, attempt_once: Any, retries: int, backoff: float) -> Delivery:
    """Call `attempt_once()` -> (ok, retryable, status, error) up to 1 + `retries` times,
    sleeping `backoff` x 2^k seconds between attempts."""
    error, status = None, None
    for k in range(retries + 1):
        ok, retryable, status, error = attempt_once()
        if ok:
            return Delivery(name, True, k + 1, None, status)
        log.warning("alert delivery via %s failed (attempt %d of %d): %s", name, k + 1,
                    retries + 1, error)
        if not retryable:
            return Delivery(name, False, k + 1, error, status)
        if k < retries:
            time.sleep(backoff * 2 ** k)
    return Delivery(name, False, retries + 1, error, status)


def line(alert: Alert, lang: str = "en") -> str:
    """The alert in one plain line."""
    w = WORDS.get(lang, WORDS["en"])
    return (f"[{alert.severity.upper()}] {alert.rule} {alert.title.get_text(lang)} "
            f"({w['source']}: {alert.source}): {alert.summary.get_text(lang)}")


def slack_escape(text: str) -> str:
    """Slack's escaping of &, < and > in message text, so that a source named `<!channel>` is
    shown, not obeyed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert, lang: str = "en") -> dict[str, Any]:
    """A Slack incoming-webhook message (text plus blocks; Mattermost and Teams' Slack-compatible
    endpoints read `text`). Every text from the alert is escaped."""
    w = WORDS.get(lang, WORDS["en"])
    head = (f"{EMOJI.get(alert.severity, '')} *{alert.rule}* "
            f"{slack_escape(alert.title.get_text(lang))}")
    fields = [f"*{w['source']}:* {slack_escape(alert.source)}", f"*{w['state']}:* {alert.state}",
              f"*{w['opened']}:* {alert.opened_at:%Y-%m-%d %H:%M} UTC",
              f"*{w['seen']}:* {alert.count} {w['times']}"]
    return {"text": slack_escape(line(alert, lang)),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": head}},
                       {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(
                           alert.summary.get_text(lang))}},
                       {"type": "context", "elements": [{"type": "mrkdwn", "text": f}
                                                        for f in fields]}]}


def json_payload(alert: Alert, lang: str = "en") -> dict[str, Any]:
    return {"type": "pitfalls.alert", "alert": alert.to_dict(lang)}


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, timestamp: str, signature: str,
                     max_age: float = 300.0, now: float | None = None) -> bool:
    """Whether a received generic webhook is authentic and recent (constant-time compare)."""
    try:
        age = abs((now if now is not None else time.time()) - float(timestamp))
    except ValueError:
        return False
    return age <= max_age and hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass
class WebhookChannel:
    """POST each new alert to `url`: `kind` "slack" (Slack-compatible) or "json" (generic, signed
    with `secret` when one is given). Retries on network errors, 429 and 5xx."""

    url: str
    kind: str = "slack"
    secret: str | None = None
    lang: str = "en"
    retries: int = 3
    backoff: float = 1.0
    timeout: float = 10.0
    name: str = field(default="webhook")

    def __post_init__(self) -> None:
        if self.kind not in ("slack", "json"):
            raise ValueError(f"webhook kind must be 'slack' or 'json', not {self.kind!r}")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("webhook URL must start with http:// or https://")

    def request(self, alert: Alert) -> urllib.request.Request:
        payload = slack_payload(alert, self.lang) if self.kind == "slack" else json_payload(
            alert, self.lang)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "pitfalls-alerts"}
        if self.kind == "json" and self.secret:
            ts = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = ts
            headers[SIGNATURE_HEADER] = sign(self.secret, ts, body)
        return urllib.request.Request(self.url, data=body, headers=headers, method="POST")

    def send(self, alert: Alert) -> Delivery:
        def once() -> tuple[bool, bool, int | None, str | None]:
            try:
                with urllib.request.urlopen(self.request(alert), timeout=self.timeout) as resp:
                    return True, False, resp.status, None
            except urllib.error.HTTPError as exc:
                return False, exc.code == 429 or exc.code >= 500, exc.code, f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                return False, True, None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        return _retry(f"{self.name}:{self.kind}", once, self.retries, self.backoff)


@dataclass
class EmailChannel:
    """Mail each new alert over SMTP (STARTTLS and login optional). Retries on connection
    errors and temporary (4xx) SMTP replies."""

    host: str
    port: int
    sender: str
    to: Sequence[str]
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    lang: str = "en"
    retries: int = 3
    backoff: float = 1.0
    timeout: float = 10.0
    ssl_context: ssl.SSLContext | None = None
    name: str = field(default="email")

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[pitfalls] {alert.rule} {alert.title.get_text(self.lang)} " \
                         f"({alert.source})"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        text = line(alert, self.lang)
        msg.set_content(text + "\n\n" + json.dumps(alert.to_dict(self.lang)["metrics"],
                                                   ensure_ascii=False, indent=2))
        msg.add_alternative(
            f"<p><strong>{escape(alert.rule)} {escape(alert.title.get_text(self.lang))}</strong>"
            f"</p><p>{escape(alert.summary.get_text(self.lang))}</p>"
            f"<p>{escape(alert.source)} · {escape(alert.severity)}</p>", subtype="html")
        return msg

    def send(self, alert: Alert) -> Delivery:
        msg = self.message(alert)

        def once() -> tuple[bool, bool, int | None, str | None]:
            try:
                with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                    if self.starttls:
                        smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                    if self.username:
                        smtp.login(self.username, self.password or "")
                    smtp.send_message(msg)
                return True, False, 250, None
            except smtplib.SMTPResponseException as exc:
                return False, 400 <= exc.smtp_code < 500, exc.smtp_code, f"SMTP {exc.smtp_code}"
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [c for c, _ in exc.recipients.values()]
                return False, all(400 <= c < 500 for c in codes), codes[0] if codes else None, \
                    "recipients refused"
            except (smtplib.SMTPException, OSError) as exc:
                return False, True, None, f"{type(exc).__name__}: {exc}"
        return _retry(self.name, once, self.retries, self.backoff)


def notify(alerts: Iterable[Alert], channels: Sequence[Channel],
           store: AlertStore | None = None) -> list[Delivery]:
    """Send every alert on every channel; each outcome goes into the alert's history (saved to
    `store` when given)."""
    out = []
    for alert in alerts:
        for ch in channels:
            d = ch.send(alert)
            alert.history.append({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  "state": alert.state, "by": None,
                                  "note": f"delivered via {d.channel}" if d.ok else
                                  f"delivery via {d.channel} failed: {d.error}"})
            out.append(d)
        if store is not None:
            store.save(alert)
    return out
