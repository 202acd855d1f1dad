"""The device client: log predictions where the model runs; a disk spool and a background sender
deliver them to the monitoring service, and a record leaves the spool only once acknowledged.

    from pitfalls.monitor import Client

    with Client("http://monitor.local:8000", token, spool="/var/lib/cam1/spool") as client:
        client.log("frame-0001.jpg", pred="ok", probs={"ok": 0.93, "scratch": 0.07},
                   source="line-1/cam-1", model_version="v3")
        client.flush(timeout=30)

`log` computes the image's features with the scan's own extractor, commits the record to the
spool (fsync'ed) and returns its id; the sender thread posts batches to `POST /api/v1/records`.
Delivery: a 2xx acknowledges the batch; a 422 moves the records it names to the dead-letter table
with the service's reasons (the rest are sent again: the service stores an id once), and a 400,
413 or 422 that names none is halved until the culprit is alone; a redirect or any other 4xx
(401, 403, 404...) stops the sender and keeps every record (`flush` raises `DeliveryError`); no
connection, timeouts, 5xx, 408 and 429 are retried with exponential backoff and full jitter
(honouring `Retry-After`) for as long as the client runs, and by the next client on the spool.

This module imports neither FastAPI nor SQLAlchemy; httpx loads when the sender starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pitfalls.errors import InputError, PitfallsError
from pitfalls.features.hashes import bytes_hash
from pitfalls.monitor.device_features import (
    FEATURE_VERSION,
    ImageInput,
    image_bytes,
    image_features,
)
from pitfalls.monitor.records import format_time, make_record, new_id, parse_time, validate_record
from pitfalls.monitor.spool import DEFAULT_MAX_BYTES, Pending, Spool
from pitfalls.monitor.thumbnail import check_size, make_thumbnail

log = logging.getLogger(__name__)

TOKEN_ENV = "PITFALLS_TOKEN"
"""Environment variable the token is read from when none is given (kept out of argv and logs)."""

RECORDS_PATH = "/api/v1/records"
_FATAL = {401: "the token was refused (401): check it", 403: "the token may not send records "
          "(403): use a token with the ingest scope", 404: "no records endpoint at this URL (404)"}


class DeliveryError(PitfallsError):
    """The service refuses this client (bad token, wrong scope, wrong URL): sending stopped and
    every unsent record stays in the spool."""


def _token(token: str | None) -> str:
    token = token if token is not None else os.environ.get(TOKEN_ENV)
    if not token:
        raise InputError(f"no API token: pass token= or set {TOKEN_ENV}")
    token = token.strip()
    if not token.isprintable() or " " in token:
        raise InputError("the API token has spaces or control characters")
    return token


def _endpoint(url: str) -> str:
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InputError(f"the service URL must start with http:// or https://, not {url!r}")
    return url if url.endswith(RECORDS_PATH) else url + RECORDS_PATH


def record_id(byte_hash: str, source: str, captured_at: str, model_version: str) -> str:
    """The id of a prediction on one image from one source at one moment by one model: logging
    it again (a device that restarts and replays its queue) names the same record."""
    key = "\x1f".join((byte_hash, source, captured_at, model_version)).encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


class Client:
    """Log predictions to a monitoring service through a write-ahead disk spool.

    `url` is the service's base URL; `token` an ingest-scope token (default: the
    `PITFALLS_TOKEN` environment variable). `spool` is this client's folder (one process per
    folder); it holds at most `max_spool_bytes` of unsent records, past which `log` raises
    `SpoolFullError` rather than drop anything. `source`, `model_version` and `classes` are
    defaults for `log`. `backoff` is the first and the longest wait between retries, seconds.
    `thumbnails=True` adds to each record with an image a small JPEG of it (longest side
    `thumbnail_size` pixels, no metadata) for the dashboard; off by default, since the images
    themselves may not be allowed to leave the site.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        spool: str | Path = "pitfalls-spool",
        batch_size: int = 100,
        timeout: float = 10.0,
        max_spool_bytes: int = DEFAULT_MAX_BYTES,
        source: str | None = None,
        model_version: str | None = None,
        classes: Sequence[str] | None = None,
        backoff: tuple[float, float] = (0.5, 60.0),
        linger: float = 0.05,
        thumbnails: bool = False,
        thumbnail_size: int = 128,
    ) -> None:
        if batch_size < 1:
            raise InputError("batch_size must be at least 1")
        try:
            import httpx  # noqa: F401 - the sender's; loaded here to fail early and clearly
        except ImportError:
            raise PitfallsError('the monitoring client needs httpx: pip install "pitfalls[client]"'
                                ) from None
        self.url = _endpoint(url)
        self._token = _token(token)
        self.batch_size = batch_size
        self.timeout = timeout
        self.source = source
        self.model_version = model_version
        self.classes = list(classes) if classes is not None else None
        self.backoff = backoff
        self.linger = linger
        self.thumbnails = bool(thumbnails)
        self.thumbnail_size = check_size(thumbnail_size)
        self.spool = Spool(spool, max_spool_bytes)
        self.error: DeliveryError | None = None
        self.sent = 0
        """Records the service acknowledged since this client started (duplicates included)."""
        self._wake = threading.Event()
        self._changed = threading.Condition()
        self._closing = False
        self._left = 0
        self._thread = threading.Thread(target=self._run, name="pitfalls-monitor-sender",
                                        daemon=True)
        self._thread.start()

    # --- logging ----------------------------------------------------------------------

    def log(
        self,
        image: ImageInput = None,
        *,
        pred: str | None = None,
        probs: Mapping[str, float] | Sequence[float] | None = None,
        source: str | None = None,
        captured_at: datetime | str | None = None,
        model_version: str | None = None,
        label: str | None = None,
        id: str | None = None,  # noqa: A002 - the contract's field name
        features: Mapping[str, Any] | None = None,
    ) -> str:
        """Spool one prediction and return its record id once it is on disk.

        `image` (a path, encoded bytes, a Pillow image or an array) is measured here, unless
        `features` gives its measurements already (then the image only names the record).
        `probs` is class -> probability, or a sequence in the order of the client's `classes`;
        `pred` defaults to the most probable class. The id
        defaults to a hash of the image, source, `captured_at` and model version when
        `captured_at` is given (logging the same event twice names one record), else a fresh
        one. Raises `InputError` for an unreadable image or an invalid record (nothing is
        spooled) and `SpoolFullError` when the spool is at its limit.
        """
        return self.log_many([dict(image=image, pred=pred, probs=probs, source=source,
                                   captured_at=captured_at, model_version=model_version,
                                   label=label, id=id, features=features)])[0]

    def log_many(self, items: Iterable[Mapping[str, Any]]) -> list[str]:
        """`log` for several predictions (each a mapping of `log`'s arguments), committed to
        the spool in one transaction (one fsync). All or none are spooled."""
        if self._closing:
            raise PitfallsError("this monitoring client is closed; open a new one on the spool")
        records = [self._record(**item) for item in items]
        self.spool.put(records)
        self._wake.set()
        return [r["id"] for r in records]

    def _record(self, image: ImageInput = None, *, pred: str | None = None,
                probs: Mapping[str, float] | Sequence[float] | None = None,
                source: str | None = None, captured_at: datetime | str | None = None,
                model_version: str | None = None, label: str | None = None,
                id: str | None = None,  # noqa: A002
                features: Mapping[str, Any] | None = None) -> dict[str, Any]:
        source = source or self.source
        model_version = model_version or self.model_version
        if not source or not model_version:
            raise InputError("every record needs a source and a model_version "
                             "(give them to log() or as the client's defaults)")
        byte_hash, thumbnail = None, None
        if image is not None:
            data, name = image_bytes(image)
            if features is None:
                features, byte_hash = image_features(data, name)
            else:  # measured already: the image still names the record
                byte_hash = bytes_hash(data)
            if self.thumbnails:
                thumbnail = self._thumbnail(data, name)
            del data
        elif features is None:
            raise InputError("log() needs an image or its features")
        probs = self._probs(probs)
        if pred is None:
            if not probs:
                raise InputError("log() needs pred or probs")
            pred = max(probs, key=probs.__getitem__)
        when = None
        if captured_at is not None:
            try:
                when = (format_time(captured_at) if isinstance(captured_at, datetime)
                        else format_time(parse_time(str(captured_at))))
            except ValueError:
                raise InputError(f"captured_at {captured_at!r} is not an ISO 8601 time") from None
        if id is None:
            if when is not None:
                content = byte_hash or hashlib.blake2b(
                    json.dumps(features, sort_keys=True).encode(), digest_size=16).hexdigest()
                id = record_id(content, source, when, model_version)  # noqa: A001
            else:
                id = new_id()  # noqa: A001
        record = make_record(pred=str(pred), features=features, source=source,
                             model_version=model_version, captured_at=when, probs=probs,
                             label=label, feature_version=FEATURE_VERSION, id=id,
                             thumbnail=thumbnail)
        _, issues = validate_record(record, self.classes)
        if issues:
            raise InputError("invalid record: " + "; ".join(i.message for i in issues))
        return record

    def _thumbnail(self, data: bytes, name: str) -> bytes | None:
        """The record's thumbnail, or None (logged) when Pillow cannot read an image that the
        feature extractor could: the record itself is still worth sending."""
        try:
            return make_thumbnail(data, self.thumbnail_size)
        except InputError as exc:
            log.warning("%s: sent without a thumbnail (%s)", name, exc)
            return None

    def _probs(self, probs: Mapping[str, float] | Sequence[float] | None
               ) -> dict[str, float] | None:
        if probs is None or isinstance(probs, Mapping):
            return None if probs is None else {str(k): float(v) for k, v in probs.items()}
        values = [float(v) for v in probs]
        if self.classes is None or len(values) != len(self.classes):
            raise InputError(f"probs as a sequence of {len(values)} values needs the client's "
                             "classes (as many, in the model's output order)")
        return dict(zip(self.classes, values, strict=True))

    # --- delivery ----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Records in the spool not yet acknowledged."""
        return self.spool.count

    def dead_letters(self) -> list[dict[str, Any]]:
        """Records the service refused (422 and the like), with its reasons."""
        return self.spool.dead_letters()

    def flush(self, timeout: float | None = 30.0) -> int:
        """Wait until the service has acknowledged every spooled record, or `timeout` seconds;
        return how many are still waiting (they stay in the spool). Raises `DeliveryError` when
        the service refuses this client."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        with self._changed:
            while self.spool.count and self.error is None and self._thread.is_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left if left is None else min(left, 1.0))
        if self.error is not None:
            raise self.error
        return self.spool.count

    def close(self, timeout: float = 5.0) -> int:
        """Flush for up to `timeout` seconds, stop the sender and close the spool; return how
        many records stay in it for the next client. Never raises for delivery."""
        if self._closing:
            return self._left
        if self._thread.is_alive() and self.error is None and timeout > 0:
            try:
                self.flush(timeout)
            except DeliveryError as exc:
                log.warning("%s; %d records stay in the spool", exc, self.spool.count)
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=max(timeout, 1.0) + self.timeout)
        self._left = self.spool.count
        self.spool.close()
        return self._left

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {self._token}",
                   "Content-Type": "application/json"}
        failures = 0
        with httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                          headers=headers) as http:
            while not self._closing:
                try:
                    retry_after = self._step(http)
                except DeliveryError as exc:
                    self.error = exc
                    log.error("%s; sending stopped, %d records kept in %s", exc,
                              self.spool.count, self.spool.directory)
                    self._notify()
                    return
                except Exception:  # a spool write failed (disk full...): say so, retry
                    if self._closing:
                        return
                    log.exception("sending a batch failed; %d records wait, retrying",
                                  self.spool.count)
                    retry_after = 0.0
                self._notify()
                if retry_after is None:
                    failures = 0
                    continue
                failures += 1
                low, high = self.backoff
                delay = random.uniform(0, min(high, low * 2 ** min(failures, 30)))
                self._wait(max(delay, min(retry_after, high)))

    def _step(self, http: Any) -> float | None:
        """Send the oldest batch (or wait for records); None, or the wait before a retry."""
        batch = self.spool.batch(self.batch_size)
        if not batch:
            self._wait(None)
            return None
        if len(batch) < self.batch_size and self.linger > 0:
            time.sleep(self.linger)  # let a burst fill the batch
            batch = self.spool.batch(self.batch_size)
        return self._deliver(http, batch)

    def _wait(self, seconds: float | None) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _deliver(self, http: Any, batch: list[Pending]) -> float | None:
        """Post one batch; acknowledge or bury what the answer settles. Returns None when the
        batch was settled, else how long the service asked to wait (0 when it did not say)."""
        import httpx

        body = '{"records":[' + ",".join(p.body for p in batch) + "]}"
        try:
            response = http.post(self.url, content=body.encode())
        except httpx.HTTPError as exc:
            log.info("service unreachable (%s): %d records wait", type(exc).__name__,
                     self.spool.count)
            return 0.0
        status = response.status_code
        if 200 <= status < 300:
            rejected = self._rejections(response, batch)
            self.spool.bury(rejected)
            self.spool.ack([p.id for p in batch if p.id not in rejected])
            self.sent += len(batch) - len(rejected)
            return None
        if status in _FATAL:
            raise DeliveryError(f"{self.url}: {_FATAL[status]}")
        if 300 <= status < 400:
            raise DeliveryError(f"{self.url} redirects ({status}) to "
                                f"{response.headers.get('Location', '?')}: use that URL")
        if status in (400, 413, 422):
            rejected = self._rejections(response, batch) if status == 422 else {}
            if rejected:  # the others were valid: sent again, the service stores an id once
                self.spool.bury(rejected)
                return None
            if len(batch) > 1:  # no per-record answer: halve until the culprit is alone
                half = len(batch) // 2
                for part in (batch[:half], batch[half:]):
                    wait = self._deliver(http, part)
                    if wait is not None:
                        return wait
                return None
            self.spool.bury({batch[0].id: (status, _reason(response))})
            return None
        if 400 <= status < 500 and status not in (408, 425, 429):
            raise DeliveryError(f"{self.url} answered {status}: {_reason(response)[:200]}")
        log.info("service answered %d: %d records wait", status, self.spool.count)
        try:
            return float(response.headers.get("Retry-After", 0))
        except ValueError:
            return 0.0

    @staticmethod
    def _rejections(response: Any, batch: list[Pending]) -> dict[str, tuple[int, str]]:
        """The records of `batch` the answer rejects (by index, else by id) and why."""
        try:
            items = response.json().get("rejected") or []
        except (ValueError, AttributeError):
            return {}
        out: dict[str, tuple[int, str]] = {}
        ids = {p.id for p in batch}
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            index, rid = item.get("index"), item.get("id")
            if isinstance(index, int) and 0 <= index < len(batch):
                rid = batch[index].id
            if rid in ids:
                errors = item.get("errors") or [item.get("reason") or "rejected"]
                out[rid] = (response.status_code, "; ".join(
                    f"{e.get('field')}: {e.get('message')}" if isinstance(e, dict) else str(e)
                    for e in errors))
        return out


def _reason(response: Any) -> str:
    text = response.text.strip()
    return text[:500] or f"HTTP {response.status_code}"


__all__ = ["TOKEN_ENV", "Client", "DeliveryError", "record_id"]
