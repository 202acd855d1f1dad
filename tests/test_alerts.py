"""Alerts: the state machine, and delivery to a real local HTTP receiver and SMTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pitfalls.alerts import AlertManager, EmailChannel, MemoryAlertStore, WebhookChannel, notify
from pitfalls.alerts.delivery import verify_signature
from pitfalls.findings import Finding
from pitfalls.text import T

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def finding(rule: str = "MON001", source: str = "cam-1", severity: str = "warning") -> Finding:
    return Finding(rule=rule, phase="production", severity=severity,
                   title=T("Capture conditions drift", "撮影条件が変化"),
                   summary=T("exposure <b>darker</b>", "露出が暗い"),
                   metrics={"source": source, "effect": -1.5})


# -- state machine -----------------------------------------------------------------------------
def test_dedup_by_rule_and_source_and_lifecycle() -> None:
    mgr = AlertManager(cooldown=timedelta(hours=2))
    new = mgr.observe([finding(), finding(source="cam-2")], at=T0)
    assert len(new) == 2
    again = mgr.observe([finding()], at=T0 + timedelta(hours=1))
    assert again == []  # the same problem on the same source: one alert, counted twice
    alert = mgr.store.latest("MON001", "cam-1")
    assert alert is not None and alert.count == 2 and alert.state == "open"
    mgr.acknowledge(alert.id, by="aiko", at=T0 + timedelta(hours=1, minutes=5))
    assert mgr.observe([finding()], at=T0 + timedelta(hours=2)) == []
    assert mgr.store.get(alert.id).state == "acknowledged"
    mgr.resolve(alert.id, by="aiko", at=T0 + timedelta(hours=3))
    with pytest.raises(ValueError, match="cannot go from resolved to acknowledged"):
        mgr.acknowledge(alert.id)
    # back within the cool-down: the old alert reopens, nobody is paged again
    assert mgr.observe([finding()], at=T0 + timedelta(hours=4)) == []
    assert mgr.store.get(alert.id).state == "open"
    mgr.resolve(alert.id, at=T0 + timedelta(hours=5))
    # back after the cool-down: a new alert
    later = mgr.observe([finding()], at=T0 + timedelta(hours=8))
    assert len(later) == 1 and later[0].id != alert.id
    states = [h["state"] for h in mgr.store.get(alert.id).history]
    assert states == ["open", "acknowledged", "resolved", "open", "resolved"]
    with pytest.raises(KeyError):
        mgr.resolve("no-such-alert")


def test_quiet_alerts_resolve_and_severity_only_rises() -> None:
    mgr = AlertManager(store=MemoryAlertStore())
    (a,) = mgr.observe([finding(severity="warning")], at=T0)
    mgr.observe([finding(severity="error")], at=T0 + timedelta(hours=1))
    mgr.observe([finding(severity="warning")], at=T0 + timedelta(hours=2))
    assert mgr.store.get(a.id).severity == "error"
    assert mgr.resolve_quiet(timedelta(hours=3), at=T0 + timedelta(hours=4)) == []
    done = mgr.resolve_quiet(timedelta(hours=3), at=T0 + timedelta(hours=5))
    assert [d.id for d in done] == [a.id] and mgr.store.list("open") == []


# -- a real HTTP receiver ----------------------------------------------------------------------
class Receiver:
    def __init__(self, fail_first: int = 0, status: int = 503) -> None:
        self.bodies: list[tuple[dict[str, str], bytes]] = []
        self.fail_first, self.status, self.calls = fail_first, status, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls += 1
                if outer.calls <= outer.fail_first:
                    self.send_response(outer.status)
                    self.end_headers()
                    return
                outer.bodies.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _alert():
    (a,) = AlertManager().observe([finding(severity="error")], at=T0)
    return a


def test_slack_webhook_retries_until_delivered() -> None:
    with Receiver(fail_first=2) as rx:
        d = WebhookChannel(rx.url, kind="slack", retries=3, backoff=0.01).send(_alert())
    assert d.ok and d.attempts == 3 and d.status == 200
    (headers, body), = rx.bodies
    payload = json.loads(body)
    assert "MON001" in payload["text"] and "cam-1" in payload["text"]
    assert payload["blocks"][0]["type"] == "section"


def test_slack_payload_escapes_what_devices_named() -> None:
    (a,) = AlertManager().observe([finding(source="<!channel> cam & co")], at=T0)
    with Receiver() as rx:
        assert WebhookChannel(rx.url, backoff=0.01).send(a).ok
    body = rx.bodies[0][1].decode()
    assert "<!channel>" not in body and "&lt;!channel&gt; cam &amp; co" in json.loads(body)["text"]


def test_signed_json_webhook_verifies_with_hmac() -> None:
    secret = "s3cret-for-test"
    with Receiver() as rx:
        d = WebhookChannel(rx.url, kind="json", secret=secret, backoff=0.01, lang="ja").send(
            _alert())
    assert d.ok
    (headers, body), = rx.bodies
    ts = headers["X-Pitfalls-Timestamp"]
    expected = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Pitfalls-Signature"] == "sha256=" + expected
    assert verify_signature(secret, body, ts, headers["X-Pitfalls-Signature"])
    assert not verify_signature("wrong", body, ts, headers["X-Pitfalls-Signature"])
    assert not verify_signature(secret, body + b" ", ts, headers["X-Pitfalls-Signature"])
    assert not verify_signature(secret, body, str(int(ts) - 3600),
                                headers["X-Pitfalls-Signature"])
    data = json.loads(body)
    assert data["alert"]["rule"] == "MON001" and data["alert"]["summary"] == "露出が暗い"


def test_webhook_gives_up_on_client_errors_and_dead_hosts() -> None:
    with Receiver(fail_first=10, status=404) as rx:
        d = WebhookChannel(rx.url, retries=3, backoff=0.01).send(_alert())
    assert not d.ok and d.attempts == 1 and d.status == 404  # a 4xx is not retried
    with Receiver() as rx:
        dead = rx.url
    d = WebhookChannel(dead, retries=2, backoff=0.01, timeout=2).send(_alert())
    assert not d.ok and d.attempts == 3 and d.error


# -- a real SMTP server ------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[int, list, list]]:
    from aiosmtpd.controller import Controller

    got: list[bytes] = []
    temp_failures = [1]  # the first message gets a temporary failure

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            if temp_failures:
                temp_failures.pop()
                return "451 Try again later"
            got.append(envelope.content)
            return "250 OK"

    ctl = Controller(Handler(), hostname="127.0.0.1", port=_free_port())
    ctl.start()
    try:
        yield ctl.port, got, temp_failures
    finally:
        ctl.stop()


def test_email_delivered_after_a_temporary_failure(smtp) -> None:
    port, got, _ = smtp
    store = MemoryAlertStore()
    mgr = AlertManager(store)
    alerts = mgr.observe([finding(severity="error")], at=T0)
    ch = EmailChannel("127.0.0.1", port, "monitor@example.org", ["team@example.org"],
                      backoff=0.01)
    (d,) = notify(alerts, [ch], store)
    assert d.ok and d.attempts == 2
    msg = message_from_bytes(got[0], policy=email_policy)
    assert "MON001" in msg["Subject"] and msg["To"] == "team@example.org"
    html = msg.get_body(("html",)).get_content()
    assert "&lt;b&gt;darker&lt;/b&gt;" in html and "<b>darker" not in html  # escaped
    assert "delivered via email" in store.get(alerts[0].id).history[-1]["note"]


def test_email_to_a_dead_server_fails_without_raising() -> None:
    port = _free_port()
    t = time.monotonic()
    d = EmailChannel("127.0.0.1", port, "a@example.org", ["b@example.org"], retries=2,
                     backoff=0.01, timeout=2).send(_alert())
    assert not d.ok and d.attempts == 3 and time.monotonic() - t < 10


def test_email_over_starttls_with_login(tmp_path) -> None:
    """A real STARTTLS server (self-signed certificate made with openssl) that requires TLS
    before login and login before mail."""
    import shutil
    import ssl
    import subprocess

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            got.append(envelope.content)
            return "250 OK"

    def auth(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"monitor", b"pw-123")
        return AuthResult(success=ok)

    ctl = Controller(Handler(), hostname="127.0.0.1", port=_free_port(),
                     tls_context=server_tls, require_starttls=True, authenticator=auth,
                     auth_required=True, auth_require_tls=True)
    ctl.start()
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        base = {"host": "127.0.0.1", "port": ctl.port, "sender": "m@example.org",
                "to": ["t@example.org"], "backoff": 0.01, "retries": 1,
                "ssl_context": client_tls}
        ok = EmailChannel(**base, starttls=True, username="monitor", password="pw-123").send(
            _alert())
        wrong = EmailChannel(**{**base, "retries": 0}, starttls=True, username="monitor",
                             password="nope", timeout=3).send(_alert())
        plain = EmailChannel(**base, starttls=False).send(_alert())
    finally:
        ctl.stop()
    assert ok.ok and len(got) == 1  # the wrong password and plain text delivered nothing
    assert not wrong.ok
    assert not plain.ok and plain.status == 530 and plain.attempts == 1  # STARTTLS required
