"""JSON of the monitor's records on both sides (client spool, service, storage): orjson when it
is installed — several times faster on the features' floats —, the standard library otherwise
and for what orjson refuses."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """Compact JSON text; a non-finite float is an error (records carry `null` instead), and
    integers beyond 64 bits fall back to the standard library."""
    try:
        import orjson
    except ImportError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes) -> Any:
    """Parse JSON; the standard library for what orjson refuses (NaN, Infinity), so a record's
    bad value is that record's problem, not the whole body's."""
    try:
        import orjson
    except ImportError:
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
