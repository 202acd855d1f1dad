"""The monitoring service (contract v1): a thin FastAPI app over `storage` and `records`.

Writes go through one writer thread per process that commits every request waiting at that
moment in one transaction (group commit): a request is answered 2xx only after the commit that
holds its records, and 503 when the database could not take them — then nothing was stored.
Statuses: 401 no or unknown token, 403 wrong scope, 413 body over `max_body` (checked while it
is read, before parsing) or more than `max_records` records, 422 malformed JSON or invalid
records (the valid records of the batch are stored and counted in the 422 body), 429 over the
token's rate, 503 database unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pitfalls.alerts.state import ACKNOWLEDGED, RESOLVED, STATES
from pitfalls.monitor import records as rec
from pitfalls.monitor.jsontext import loads
from pitfalls.monitor.live import LiveAnalysis
from pitfalls.monitor.reference import Reference
from pitfalls.monitor.storage import Outcome, StorageUnavailable, Store, make_engine
from pitfalls.monitor.tokens import RateLimiter, Token, TokenCheck
from pitfalls.monitor.window_counts import EVERY, base_windows

if TYPE_CHECKING:
    from pydantic import BaseModel

log = logging.getLogger("pitfalls.monitor")

SETTINGS_ENV = "PITFALLS_MONITOR_SETTINGS"


@dataclass
class Settings:
    """Everything a worker process needs to build the app (passed to workers as JSON)."""

    db: str
    reference: str | None = None
    max_body: int = 16 * 1024 * 1024
    max_records: int = 1000
    rate: float = 200.0
    burst: float | None = None
    retention_days: float = 0.0
    max_future_hours: float = 24.0
    token_ttl: float = 2.0
    group_records: int = 5000
    analysis: bool = True
    analysis_interval: float = 30.0
    """Seconds the analysis gathers touched windows before checking each once."""
    analysis_sample: int = 5000
    """Most records of one window the analysis reads (a uniform sample of a busier one)."""
    replay: dict[str, Any] | None = None
    """The capture replay's checked setup (`replay.ReplaySetup.to_dict`); None: ATC only."""
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    """Alert webhooks: {"url", "kind": "slack" | "json", "secret"} each."""
    smtp: dict[str, Any] | None = None
    """Alert e-mail: {"host", "port", "sender", "to": [...], "username", "password",
    "starttls"}."""
    alert_cooldown_hours: float = 6.0
    resolve_after_hours: int = 3
    lang: str = "en"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        return cls(**json.loads(os.environ[SETTINGS_ENV]))


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.message, "code": self.code, **self.extra},
                            status_code=self.status, headers=self.headers)


# --- the writer (group commit) --------------------------------------------------------------


class Writer:
    """One thread that stores every waiting batch in one transaction."""

    def __init__(self, store: Store, group_records: int = 5000) -> None:
        self.store = store
        self.group_records = group_records
        self._queue: queue.Queue[tuple[Sequence[rec.Record], Future] | None] = queue.Queue()
        self.depth = 0  # records waiting (read by /metrics)
        self._depth_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="monitor-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: Sequence[rec.Record]) -> Future:
        future: Future = Future()
        with self._depth_lock:
            self.depth += len(batch)
        self._queue.put((batch, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            size = len(item[0])
            while size < self.group_records:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                group.append(nxt)
                size += len(nxt[0])
            self._commit(group)
            with self._depth_lock:
                self.depth -= size

    def _commit(self, group: list[tuple[Sequence[rec.Record], Future]]) -> None:
        try:
            outcomes = self.store.insert_batches([batch for batch, _ in group])
        except StorageUnavailable as exc:
            log.error("write failed, %d batches answered 503: %s", len(group), exc)
            for _, future in group:
                future.set_exception(exc)
            return
        except Exception as exc:  # a bug: report it on each request, keep the thread alive
            log.exception("write failed unexpectedly")
            for _, future in group:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(group, outcomes, strict=True):
            future.set_result(outcome)


# --- metrics --------------------------------------------------------------------------------


class Metrics:
    """Prometheus series of one process (each worker answers with its own)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.records = Counter("pitfalls_monitor_records", "Records received, by outcome.",
                               ["outcome"], registry=self.registry)
        self.requests = Counter("pitfalls_monitor_requests", "Requests, by route and status.",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram(
            "pitfalls_monitor_request_seconds", "Request latency, by route.", ["route"],
            buckets=(.005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10), registry=self.registry)
        self.queue = Gauge("pitfalls_monitor_write_queue_records",
                           "Records waiting for the writer.", registry=self.registry)

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _Timing:
    """ASGI middleware: latency and status per route (a path template, never a query)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "other"
            self.metrics.latency.labels(name).observe(time.perf_counter() - start)
            self.metrics.requests.labels(name, str(status["code"])).inc()


# --- the app --------------------------------------------------------------------------------


def _json_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


def _doc_models() -> tuple[type, type]:
    """Pydantic models that only document the bodies (the checks are `records`' own)."""
    from pydantic import BaseModel, Field

    class RecordIn(BaseModel):
        id: str = Field(max_length=rec.MAX_ID, description="Idempotency key made by the client.")
        captured_at: str = Field(description="ISO 8601; naive means UTC.")
        source: str
        model_version: str
        pred: str = Field(description="One of the reference's classes.")
        features: dict[str, float | bool | None | list[float]]
        probs: dict[str, float] | None = None
        label: str | None = None
        thumbnail: str | None = Field(None, description="Base64 JPEG/PNG/WebP, at most 64 KiB.")
        feature_version: int | None = None

    class RecordsIn(BaseModel):
        records: list[RecordIn]

    class LabelIn(BaseModel):
        id: str
        label: str

    class LabelsIn(BaseModel):
        labels: list[LabelIn]

    return RecordsIn, LabelsIn


def _parse_time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return rec.parse_time(text)
    except (ValueError, OverflowError):
        raise ApiError(422, "format", f"{name} is not an ISO 8601 time") from None


class Service:
    """The state of one process's app and the steps its routes share."""

    def __init__(self, settings: Settings, reference: Reference | None) -> None:
        self.settings, self.reference = settings, reference
        self.classes = frozenset(reference.classes) if reference is not None else None
        self.limits = rec.Limits(max_future=timedelta(hours=settings.max_future_hours))
        self.engine = make_engine(settings.db)
        self.store = Store(self.engine)
        self.writer = Writer(self.store, settings.group_records)
        self.check = TokenCheck(self.engine, ttl=settings.token_ttl)
        self.limiter = RateLimiter(settings.rate, settings.burst)
        self.metrics = Metrics()
        self.live: LiveAnalysis | None = None
        self._analysis_ref: Any = None
        self._ref_lock = threading.Lock()
        if reference is not None and settings.analysis:
            from pitfalls.monitor.live import channels
            from pitfalls.monitor.replay import ReplaySetup

            self.live = LiveAnalysis(
                self.store, reference, channels(settings.webhooks, settings.smtp, settings.lang),
                cooldown=timedelta(hours=settings.alert_cooldown_hours),
                resolve_after=settings.resolve_after_hours, lang=settings.lang,
                interval=settings.analysis_interval, sample=settings.analysis_sample,
                replay=ReplaySetup.from_dict(settings.replay) if settings.replay else None)

    def analysis_reference(self) -> Any:
        """The analysis's view of the reference (the live analysis's own when it runs), or
        None without a reference; built once."""
        if self.live is not None:
            return self.live.ref
        if self.reference is None:
            return None
        with self._ref_lock:
            if self._analysis_ref is None:
                from pitfalls.monitor.analysis.reference import from_folder

                self._analysis_ref = from_folder(self.reference)
            return self._analysis_ref

    def authorise(self, request: Request, need: str) -> Token:
        """The request's token, or 401 (none or unknown), 403 (scope) or 429 (rate)."""
        kind, _, presented = request.headers.get("authorization", "").partition(" ")
        token = self.check.find(presented.strip()) if kind.lower() == "bearer" else None
        if token is None:
            raise ApiError(401, "unauthorised", "a valid bearer token is required",
                           {"WWW-Authenticate": "Bearer"})
        if not token.allows(need):
            raise ApiError(403, "forbidden", f"a token of scope {token.scope!r} cannot {need}")
        wait = self.limiter.take(token.hash)
        if wait:
            raise ApiError(429, "rate_limited", "too many requests for this token",
                           {"Retry-After": str(max(1, round(wait)))})
        return token

    async def read_json(self, request: Request) -> Any:
        """The parsed body; 413 as soon as it is over `max_body`, 422 when it is not JSON."""
        limit = self.settings.max_body
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise ApiError(413, "too_large", f"the body is over {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too_large", f"the body is over {limit} bytes")
            chunks.append(chunk)
        try:
            return loads(b"".join(chunks))
        except (ValueError, RecursionError) as exc:
            raise ApiError(422, "malformed_json", f"the body is not JSON: {str(exc)[:200]}"
                           ) from None

    async def ingest(self, request: Request, key: str, validate: Any) -> tuple[int, Any, Any]:
        """Authorise, read and check a `{key: [...]}` body: (count, valid, rejections)."""
        self.authorise(request, "ingest")
        body = await self.read_json(request)
        try:
            items = rec.records_of(body, key)
            if len(items) > self.settings.max_records:
                raise ApiError(413, "too_many_records",
                               f"at most {self.settings.max_records} {key} per request")
            return len(items), *validate(body, self.classes)
        except rec.BatchError as exc:
            raise ApiError(422, exc.code, exc.message) from None

    async def stored(self, batch: Sequence[rec.Record]) -> Outcome:
        """`batch` committed by the writer, or 503 (nothing of it stored)."""
        self.metrics.queue.set(self.writer.depth + len(batch))
        try:
            return await asyncio.wrap_future(self.writer.submit(batch))
        except StorageUnavailable:
            raise ApiError(503, "storage_unavailable",
                           "the database cannot take the records now; nothing was stored",
                           {"Retry-After": "5"}) from None


def _answer(body: dict[str, Any], rejected: list[rec.Rejection], n: int) -> JSONResponse:
    if not rejected:
        return JSONResponse(body)
    body["rejected"] = [r.to_dict() for r in rejected]
    body["detail"] = f"{len(rejected)} of {n} are invalid"
    return JSONResponse(body, status_code=422)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _bad_query(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg", "")}
              for e in exc.errors()]
    return JSONResponse({"detail": "invalid request", "code": "invalid", "errors": errors},
                        status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"detail": exc.detail, "code": "http"}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        log.error("database unavailable: %s", type(exc).__name__)
        return JSONResponse({"detail": "the database is unavailable",
                             "code": "storage_unavailable"}, status_code=503,
                            headers={"Retry-After": "5"})
    log.exception("unexpected error")
    return JSONResponse({"detail": "internal error", "code": "internal"}, status_code=500)


def _ingest_routes(app: FastAPI, svc: Service) -> None:
    RecordsIn, LabelsIn = _doc_models()

    @app.post("/api/v1/records", openapi_extra=_json_body_schema(RecordsIn),
              summary="Store a batch of records (idempotent by id)")
    async def post_records(request: Request) -> JSONResponse:
        n, valid, rejected = await svc.ingest(
            request, "records", lambda body, known: rec.validate_batch(body, known,
                                                                       limits=svc.limits))
        outcome = await svc.stored(valid) if valid else Outcome()
        svc.metrics.records.labels("accepted").inc(outcome.accepted)
        svc.metrics.records.labels("duplicate").inc(outcome.duplicates)
        svc.metrics.records.labels("rejected").inc(len(rejected))
        if svc.live is not None and outcome.accepted:
            svc.live.committed(r.captured_at for r in valid)
        return _answer({"accepted": outcome.accepted, "duplicates": outcome.duplicates},
                       rejected, n)

    @app.post("/api/v1/labels", openapi_extra=_json_body_schema(LabelsIn),
              summary="Store labels of records (the latest label of an id wins)")
    async def post_labels(request: Request) -> JSONResponse:
        n, valid, rejected = await svc.ingest(request, "labels", rec.validate_labels)
        try:
            accepted = await asyncio.to_thread(svc.store.put_labels, valid)
        except StorageUnavailable:
            raise ApiError(503, "storage_unavailable", "the database cannot take the labels "
                           "now; nothing was stored", {"Retry-After": "5"}) from None
        if svc.live is not None and valid:
            await asyncio.to_thread(svc.live.labelled, [x.id for x in valid])
        return _answer({"accepted": accepted}, rejected, n)


def _window_range(start: str | None, end: str | None, every: str) -> tuple[datetime, datetime]:
    if every not in EVERY:
        raise ApiError(422, "every", f"every must be one of {', '.join(EVERY)}")
    stop = _parse_time(end, "end") or datetime.now(timezone.utc)
    begin = _parse_time(start, "start") or stop - EVERY[every] * (24 if every == "1h" else 30)
    if begin >= stop or (stop - begin) / EVERY[every] > 10_000:
        raise ApiError(422, "range", "start must precede end, by at most 10,000 windows")
    return begin, stop


def _read_routes(app: FastAPI, svc: Service) -> None:
    store, reference = svc.store, svc.reference

    @app.get("/api/v1/windows", summary="Monitoring windows: volume, prediction mix, accuracy")
    async def get_windows(request: Request, start: str | None = None, end: str | None = None,
                          every: str = "1h", source: str | None = None) -> JSONResponse:
        svc.authorise(request, "read")
        begin, stop = _window_range(start, end, every)
        windows = await asyncio.to_thread(base_windows, store, begin, stop, every, source)
        if svc.live is not None:
            await asyncio.to_thread(svc.live.fill, windows, every, source)
        return JSONResponse({"every": every, "source": source, "windows": windows,
                             "reference": reference.summary() if reference else None})

    @app.get("/healthz", summary="Liveness and database reachability (no token needed)")
    async def healthz() -> JSONResponse:
        try:
            await asyncio.to_thread(store.ping)
        except Exception as exc:  # the answer says it; the log keeps the type
            log.warning("health check: database unreachable (%s)", type(exc).__name__)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", summary="Prometheus metrics of this process (read scope)")
    async def get_metrics(request: Request) -> Response:
        svc.authorise(request, "read")
        svc.metrics.queue.set(svc.writer.depth)
        return Response(svc.metrics.text(), media_type="text/plain; version=0.0.4")

    @app.get("/", include_in_schema=False)
    async def root(lang: str = "en") -> Response:
        """The dashboard: a page without data that logs in with a read token."""
        from pitfalls.monitor.dashboard import CSP, page

        return Response(page(lang), media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": CSP,
                                 "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer"})


def _alert_routes(app: FastAPI, svc: Service) -> None:
    """Alert history, acknowledgement and resolution: a read token is enough (the people on
    call hold read tokens for the dashboard; device tokens, scope ingest, cannot)."""

    @app.get("/api/v1/alerts", summary="Alerts raised by the monitoring rules (history)")
    async def get_alerts(request: Request, state: str | None = None,
                         lang: str = "en") -> JSONResponse:
        svc.authorise(request, "read")
        if state is not None and state not in STATES:
            raise ApiError(422, "state", f"state must be one of {', '.join(STATES)}")
        if lang not in ("en", "ja"):
            raise ApiError(422, "lang", "lang must be en or ja")
        if svc.live is None:
            return JSONResponse({"alerts": []})
        found = await asyncio.to_thread(svc.live.alert_store.list, state)
        return JSONResponse({"alerts": [a.to_dict(lang) for a in found]})

    async def move(request: Request, alert_id: str, to: str) -> JSONResponse:
        token = svc.authorise(request, "read")
        if svc.live is None:
            raise ApiError(404, "not_found", "no such alert")
        manager = svc.live.manager
        act = manager.acknowledge if to == ACKNOWLEDGED else manager.resolve
        try:
            alert = await asyncio.to_thread(act, alert_id[:200], token.name or f"token {token.id}")
        except KeyError:
            raise ApiError(404, "not_found", "no such alert") from None
        except ValueError as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        return JSONResponse(alert.to_dict())

    @app.post("/api/v1/alerts/{alert_id}/ack", summary="Acknowledge an alert (read scope)")
    async def ack_alert(request: Request, alert_id: str) -> JSONResponse:
        return await move(request, alert_id, ACKNOWLEDGED)

    @app.post("/api/v1/alerts/{alert_id}/resolve", summary="Resolve an alert (read scope)")
    async def resolve_alert(request: Request, alert_id: str) -> JSONResponse:
        return await move(request, alert_id, RESOLVED)


THUMBNAIL_SPAN = timedelta(days=366)
"""The longest period `GET /api/v1/thumbnails` ranks (its read is sampled whatever the span)."""


def _thumbnail_routes(app: FastAPI, svc: Service) -> None:
    @app.get("/api/v1/thumbnails",
             summary="The most shifted recent inputs that carry a thumbnail (read scope)")
    async def get_thumbnails(request: Request, start: str | None = None, end: str | None = None,
                             source: Annotated[str | None,
                                               Query(max_length=rec.MAX_TEXT)] = None,
                             limit: Annotated[int, Query(ge=1, le=48)] = 12,
                             lang: str = "en") -> JSONResponse:
        """Ranked by the analysis's out-of-distribution distance to the reference, over a
        sample of at most about `analysis_sample` records of [start, end) (default: the last
        24 hours); each thumbnail re-encoded here as a JPEG data URL."""
        svc.authorise(request, "read")
        if lang not in ("en", "ja"):
            raise ApiError(422, "lang", "lang must be en or ja")
        stop = _parse_time(end, "end") or datetime.now(timezone.utc)
        begin = _parse_time(start, "start") or stop - timedelta(hours=24)
        if begin >= stop or stop - begin > THUMBNAIL_SPAN:
            raise ApiError(422, "range", "start must precede end, by at most 366 days")
        ref = await asyncio.to_thread(svc.analysis_reference)
        if ref is None:
            return JSONResponse({"scanned": 0, "ood_limit": None, "items": [],
                                 "detail": "the service has no reference to compare with"})
        from pitfalls.monitor.shifted import most_shifted

        found = await asyncio.to_thread(
            most_shifted, svc.store, ref, begin, stop, source=source, limit=limit,
            sample=svc.settings.analysis_sample, lang=lang)
        return JSONResponse({"start": rec.format_time(begin), "end": rec.format_time(stop),
                             "source": source, **found})


def create_app(settings: Settings, reference: Reference | None = None) -> FastAPI:
    """The service over `settings.db` (migrated already: `storage.migrate`)."""
    if reference is None and settings.reference:
        from pitfalls.monitor.reference import load_reference

        reference = load_reference(settings.reference)
    svc = Service(settings, reference)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        yield
        svc.writer.close()
        if svc.live is not None:
            svc.live.close()
        svc.engine.dispose()

    app = FastAPI(title="pitfalls monitor", version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # their pages load scripts from the internet
                  description="Production monitoring of an image classifier (contract v1).")
    app.state.service, app.state.store, app.state.reference = svc, svc.store, reference
    for kind, handler in ((ApiError, _api_error), (RequestValidationError, _bad_query),
                          (StarletteHTTPException, _http_error), (Exception, _unexpected)):
        app.add_exception_handler(kind, handler)
    _ingest_routes(app, svc)
    _read_routes(app, svc)
    _alert_routes(app, svc)
    _thumbnail_routes(app, svc)
    if settings.retention_days > 0:
        _start_retention(svc.store, settings.retention_days)
    app.add_middleware(_Timing, metrics=svc.metrics)
    return app


def _start_retention(store: Store, days: float) -> None:
    def loop() -> None:
        while True:
            try:
                gone = store.purge(days)
                if gone:
                    log.info("retention: deleted %d records older than %g days", gone, days)
            except Exception as exc:  # next hour again; the log says why
                log.warning("retention purge failed: %s", type(exc).__name__)
            time.sleep(3600)

    threading.Thread(target=loop, name="monitor-retention", daemon=True).start()


def app_from_env() -> FastAPI:
    """uvicorn factory for worker processes (`--workers N`): settings from the environment."""
    return create_app(Settings.from_env())
