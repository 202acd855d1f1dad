"""Monitoring records (contract v1): what a device sends, and the checks the service applies.

A record is one prediction on one input. The client builds records with `make_record` and can
check them with `validate_record` before spooling; the service runs `validate_batch` on every
`POST /api/v1/records` body. Every problem is reported as an `Issue` with a stable `code`
(clients may translate it), the offending `field` and an English `message`. Nothing here
imports a web framework or a database: it is plain Python, cheap enough for 5,000 records/s.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

SCHEMA_VERSION = 1

REQUIRED = ("id", "captured_at", "source", "model_version", "pred", "features")
OPTIONAL = ("probs", "label", "thumbnail", "feature_version")
FIELDS = REQUIRED + OPTIONAL
_FIELD_SET = frozenset(FIELDS)
_NUMBER_TYPES = frozenset({int, float})

MAX_ID = 128
MAX_TEXT = 200
MAX_FEATURES = 256
MAX_FEATURE_NAME = 64
MAX_VECTOR = 4096
MAX_THUMBNAIL = 64 * 1024
"""Decoded thumbnail bytes (a small JPEG, PNG or WebP)."""
MAX_FUTURE = timedelta(days=1)
"""Clock skew tolerated on a device before `captured_at` counts as in the future."""
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
PROB_TOLERANCE = 0.01
"""How far the probabilities over every class may sum away from 1."""

_NAMES: set[str] = set()
"""Feature names already found valid (bounded): most records repeat the same names."""
_VECTORS: set[str] = set()
"""Feature names that held a vector before (bounded), checked apart from the scalars."""
_THUMB_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF")


def echo(text: str) -> str:
    """A string from a request, safe to send back in UTF-8 (lone surrogates escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class Limits:
    """Bounds the service enforces; defaults are the contract's."""

    max_future: timedelta = MAX_FUTURE
    max_thumbnail: int = MAX_THUMBNAIL
    max_features: int = MAX_FEATURES


@dataclass(frozen=True)
class Issue:
    """One problem with one field of one record."""

    field: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": echo(self.field), "code": self.code, "message": echo(self.message)}


@dataclass(frozen=True)
class Record:
    """A validated record, normalised: `captured_at` is an aware UTC datetime."""

    id: str
    captured_at: datetime
    source: str
    model_version: str
    pred: str
    features: dict[str, Any]
    probs: dict[str, float] | None = None
    label: str | None = None
    thumbnail: bytes | None = None
    feature_version: int | None = None


@dataclass
class Rejection:
    """A record of a batch that was not stored, and why (all its issues)."""

    index: int
    id: str | None
    issues: list[Issue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": None if self.id is None else echo(self.id),
                "errors": [issue.to_dict() for issue in self.issues]}


class BatchError(ValueError):
    """The body as a whole is unusable (not an object, no `records` list)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- building records (client side) -------------------------------------------------------


def new_id() -> str:
    """A fresh record id: 12 hex digits of milliseconds since the epoch, then 20 random hex
    digits, so ids sort roughly by creation time (index-friendly) and never collide."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as records carry it (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def make_record(
    *,
    pred: str,
    features: Mapping[str, Any],
    source: str,
    model_version: str,
    captured_at: datetime | str | None = None,
    probs: Mapping[str, float] | None = None,
    label: str | None = None,
    thumbnail: bytes | None = None,
    feature_version: int | None = None,
    id: str | None = None,  # noqa: A002 - the contract's field name
) -> dict[str, Any]:
    """A record as the JSON object the API takes (not validated: see `validate_record`)."""
    if captured_at is None:
        captured_at = datetime.now(timezone.utc)
    record: dict[str, Any] = {
        "id": id or new_id(),
        "captured_at": captured_at if isinstance(captured_at, str) else format_time(captured_at),
        "source": source,
        "model_version": model_version,
        "pred": pred,
        "features": {k: _plain(v) for k, v in features.items()},
    }
    if probs is not None:
        record["probs"] = {str(k): float(v) for k, v in probs.items()}
    if label is not None:
        record["label"] = label
    if thumbnail is not None:
        record["thumbnail"] = base64.b64encode(thumbnail).decode("ascii")
    if feature_version is not None:
        record["feature_version"] = int(feature_version)
    return record


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as JSON numbers and lists; non-finite floats as None."""
    kind = type(value)
    if kind is float:  # the common cases first: most features are plain floats
        return value if math.isfinite(value) else None
    if kind is int or kind is str or kind is bool or value is None:
        return value
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        try:  # an embedding: all finite numbers, checked at C speed and kept as it is
            if all(map(math.isfinite, value)):
                return value
        except (TypeError, OverflowError):  # text, None, nested or huge values: one by one
            pass
        return [_plain(v) for v in value]
    return value


# --- checks (both sides) -------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (naive means UTC; `Z` accepted)."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: float) -> bool:
    """Finite, and (for an integer) within a float's range."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _finite_vector(values: Iterable[Any]) -> bool:
    """Every item a finite number: one C-level sum instead of a check per item."""
    try:
        return math.isfinite(math.fsum(values))
    except (TypeError, OverflowError):
        return False


def _text(record: Mapping[str, Any], name: str, issues: list[Issue], limit: int = MAX_TEXT,
          required: bool = True) -> str | None:
    value = record.get(name)
    if value is None:
        if required:
            issues.append(Issue(name, "missing", f"{name} is required"))
        return None
    if not isinstance(value, str):
        issues.append(Issue(name, "type", f"{name} must be a string, not {type(value).__name__}"))
        return None
    if not value or len(value) > limit:
        issues.append(Issue(name, "length", f"{name} must have 1 to {limit} characters"))
        return None
    if not value.isprintable():
        issues.append(Issue(name, "characters", f"{name} has control characters"))
        return None
    return value


def _class(record: Mapping[str, Any], name: str, classes: frozenset[str] | None,
           issues: list[Issue], required: bool) -> str | None:
    value = _text(record, name, issues, required=required)
    if value is not None and classes is not None and value not in classes:
        issues.append(Issue(name, "unknown_class",
                            f"{name} {value!r} is not one of the reference's classes"))
        return None
    return value


def _captured_at(record: Mapping[str, Any], now: datetime, limits: Limits,
                 issues: list[Issue]) -> datetime | None:
    value = record.get("captured_at")
    if value is None:
        issues.append(Issue("captured_at", "missing", "captured_at is required"))
        return None
    if not isinstance(value, str) or len(value) > 64:
        issues.append(Issue("captured_at", "type", "captured_at must be an ISO 8601 string"))
        return None
    try:
        moment = parse_time(value)
    except (ValueError, OverflowError):
        issues.append(Issue("captured_at", "format", f"captured_at {value!r} is not ISO 8601"))
        return None
    if moment > now + limits.max_future:
        issues.append(Issue("captured_at", "future",
                            f"captured_at {value} is more than "
                            f"{limits.max_future.total_seconds() / 3600:g} h in the future"))
        return None
    if moment < EARLIEST:
        issues.append(Issue("captured_at", "past", f"captured_at {value} is before 2000"))
        return None
    return moment


def _check_names(value: dict[str, Any], issues: list[Issue]) -> None:
    """Feature names not seen before: 1 to 64 printable characters (remembered when valid)."""
    for name in value.keys() - _NAMES:
        if not name or len(name) > MAX_FEATURE_NAME or not name.isprintable():
            issues.append(Issue(f"features.{str(name)[:MAX_FEATURE_NAME]}", "name",
                                "a feature name has 1 to 64 printable characters"))
        elif len(_NAMES) < 10_000:
            _NAMES.add(name)


def _check_feature(name: str, item: Any, issues: list[Issue]) -> None:
    """One feature value: null, a boolean, a finite number or a vector of finite numbers."""
    where = f"features.{str(name)[:MAX_FEATURE_NAME]}"
    if item is None or isinstance(item, bool):
        return
    if _is_number(item):
        if not _finite(item):
            issues.append(Issue(where, "not_finite", "features must be finite (or null)"))
    elif isinstance(item, list):
        if len(item) > MAX_VECTOR or not _finite_vector(item):
            issues.append(Issue(where, "vector",
                                f"a vector feature holds at most {MAX_VECTOR} finite numbers"))
        elif len(_VECTORS) < 100:
            _VECTORS.add(name)
    else:
        issues.append(Issue(where, "type", "a feature is a number, a boolean, null or a "
                                           "list of numbers"))


def _features(record: Mapping[str, Any], limits: Limits, issues: list[Issue]) -> dict | None:
    value = record.get("features")
    if value is None:
        issues.append(Issue("features", "missing", "features is required (may be {})"))
        return None
    if not isinstance(value, dict):
        issues.append(Issue("features", "type", "features must be an object of numbers"))
        return None
    if len(value) > limits.max_features:
        issues.append(Issue("features", "size", f"more than {limits.max_features} features"))
        return None
    # The common record is many finite numbers and a vector or two under names seen before:
    # sum the numbers in C, check the vectors one by one; item by item only when that fails.
    vectors = [name for name in _VECTORS if name in value]
    numbers = value
    if vectors:
        numbers = dict(value)
        for name in vectors:
            del numbers[name]
    try:
        fast = math.isfinite(math.fsum(numbers.values()))
    except (TypeError, OverflowError):
        fast = False
    items = [(k, value[k]) for k in vectors] if fast else list(value.items())
    _check_names(value, issues)
    for name, item in items:
        _check_feature(name, item, issues)
    return value


def _probs(record: Mapping[str, Any], classes: frozenset[str] | None,
           issues: list[Issue]) -> dict[str, float] | None:
    value = record.get("probs")
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        issues.append(Issue("probs", "type", "probs must be a non-empty object class -> number"))
        return None
    numbers = value.values()
    if (_NUMBER_TYPES.issuperset(map(type, numbers)) and (classes is None or classes.issuperset(
            value)) and _finite_vector(numbers) and min(numbers) >= 0
            and max(numbers) <= 1):
        return _prob_sum(value, classes, issues)  # the common case, checked in C (NaN, which
        # min and max can pass over, makes the sum NaN)
    bad = len(issues)
    for name, p in value.items():
        where = f"probs.{str(name)[:MAX_TEXT]}"
        if classes is not None and name not in classes:
            issues.append(Issue(where, "unknown_class",
                                f"{name!r} is not one of the reference's classes"))
        elif not _is_number(p):
            issues.append(Issue(where, "type", "a probability must be a number"))
        elif not _finite(p):
            issues.append(Issue(where, "not_finite", "a probability must be finite"))
        elif p < 0 or p > 1:
            issues.append(Issue(where, "range", f"a probability must lie in [0, 1], not {p}"))
    if len(issues) > bad:
        return None
    return _prob_sum(value, classes, issues)


def _prob_sum(value: dict[str, Any], classes: frozenset[str] | None,
              issues: list[Issue]) -> dict[str, float] | None:
    total = math.fsum(value.values())
    complete = classes is not None and len(value) == len(classes)
    if total > 1 + PROB_TOLERANCE or (complete and total < 1 - PROB_TOLERANCE):
        issues.append(Issue("probs", "sum", f"probabilities sum to {total:.4f}, not 1"))
        return None
    return {k: float(v) for k, v in value.items()}


def _thumbnail(record: Mapping[str, Any], limits: Limits, issues: list[Issue]) -> bytes | None:
    value = record.get("thumbnail")
    if value is None:
        return None
    if not isinstance(value, str):
        issues.append(Issue("thumbnail", "type", "thumbnail must be a base64 string"))
        return None
    if len(value) > (limits.max_thumbnail * 4) // 3 + 4:
        issues.append(Issue("thumbnail", "size",
                            f"thumbnail is larger than {limits.max_thumbnail} bytes"))
        return None
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        issues.append(Issue("thumbnail", "format", "thumbnail is not valid base64"))
        return None
    if not data.startswith(_THUMB_MAGIC):
        issues.append(Issue("thumbnail", "format", "thumbnail must be a JPEG, PNG or WebP"))
        return None
    return data


def validate_record(
    obj: Any,
    classes: Iterable[str] | None = None,
    *,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> tuple[Record | None, list[Issue]]:
    """Check one record against the contract (and the reference's classes, when given).

    Returns the normalised `Record` and no issues, or None and every issue found.
    """
    limits = limits or Limits()
    now = now or datetime.now(timezone.utc)
    known = classes if classes is None or isinstance(classes, frozenset) else frozenset(classes)
    if not isinstance(obj, dict):
        return None, [Issue("", "type", "a record must be a JSON object")]
    issues: list[Issue] = []
    unknown = [] if _FIELD_SET.issuperset(obj) else [k for k in obj if k not in FIELDS]
    if unknown:
        issues.append(Issue(str(unknown[0])[:MAX_TEXT], "unknown_field",
                            f"unknown field(s): {', '.join(map(str, unknown))[:MAX_TEXT]}"))
    rid = _text(obj, "id", issues, limit=MAX_ID)
    captured = _captured_at(obj, now, limits, issues)
    source = _text(obj, "source", issues)
    model_version = _text(obj, "model_version", issues)
    pred = _class(obj, "pred", known, issues, required=True)
    features = _features(obj, limits, issues)
    probs = _probs(obj, known, issues)
    label = _class(obj, "label", known, issues, required=False)
    thumbnail = _thumbnail(obj, limits, issues)
    version = obj.get("feature_version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)
                                or not 0 <= version < 2**31):
        issues.append(Issue("feature_version", "type", "feature_version must be an integer"))
    if issues:
        return None, issues
    assert rid and captured and source and model_version and pred is not None
    return Record(id=rid, captured_at=captured, source=source, model_version=model_version,
                  pred=pred, features=features or {}, probs=probs, label=label,
                  thumbnail=thumbnail, feature_version=version), []


def records_of(body: Any, key: str = "records") -> Sequence[Any]:
    """The list under `key` of a request body, or `BatchError`."""
    if not isinstance(body, dict):
        raise BatchError("type", "the body must be a JSON object")
    items = body.get(key)
    if not isinstance(items, list):
        raise BatchError("type", f"the body must hold a list under {key!r}")
    return items


def validate_batch(
    body: Any,
    classes: Iterable[str] | None = None,
    *,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> tuple[list[Record], list[Rejection]]:
    """Split a `{"records": [...]}` body into valid records and rejections.

    A record whose id already appeared earlier in the batch is rejected (`duplicate_in_batch`);
    the first occurrence is kept. Raises `BatchError` when the body itself is unusable.
    """
    items = records_of(body)
    known = None if classes is None else frozenset(classes)
    now = now or datetime.now(timezone.utc)
    valid: list[Record] = []
    rejected: list[Rejection] = []
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        record, issues = validate_record(item, known, now=now, limits=limits)
        rid = item.get("id") if isinstance(item, dict) else None
        rid = rid[:MAX_ID] if isinstance(rid, str) else None
        if record is not None:
            if record.id in first:
                issues = [Issue("id", "duplicate_in_batch",
                                f"id repeats record {first[record.id]} of this batch")]
            else:
                first[record.id] = index
                valid.append(record)
                continue
        rejected.append(Rejection(index, rid, issues))
    return valid, rejected


@dataclass(frozen=True)
class Label:
    """A label sent after the fact for a stored (or yet to arrive) record."""

    id: str
    label: str


def validate_labels(body: Any, classes: Iterable[str] | None = None
                    ) -> tuple[list[Label], list[Rejection]]:
    """Split a `{"labels": [{"id", "label"}]}` body into valid labels and rejections."""
    items = records_of(body, "labels")
    known = None if classes is None else frozenset(classes)
    valid: list[Label] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        issues: list[Issue] = []
        if not isinstance(item, dict):
            rejected.append(Rejection(index, None, [Issue("", "type", "a label is an object")]))
            continue
        extra = [k for k in item if k not in ("id", "label")]
        if extra:
            issues.append(Issue(str(extra[0])[:MAX_TEXT], "unknown_field",
                                f"unknown field(s): {', '.join(map(str, extra))[:MAX_TEXT]}"))
        rid = _text(item, "id", issues, limit=MAX_ID)
        label = _class(item, "label", known, issues, required=True)
        if not issues and rid in seen:
            issues.append(Issue("id", "duplicate_in_batch", "id repeats in this batch"))
        if issues or rid is None or label is None:
            raw = item.get("id")
            rejected.append(Rejection(index, raw[:MAX_ID] if isinstance(raw, str) else None,
                                      issues))
            continue
        seen.add(rid)
        valid.append(Label(rid, label))
    return valid, rejected


__all__ = [
    "FIELDS", "REQUIRED", "OPTIONAL", "SCHEMA_VERSION", "BatchError", "Issue", "Label",
    "Limits", "Record", "Rejection", "format_time", "make_record", "new_id", "parse_time",
    "records_of", "validate_batch", "validate_labels", "validate_record",
]
