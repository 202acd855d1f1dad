"""Production monitoring: the record contract, the ingest service and the device client.

Only `records` is imported eagerly; the service (FastAPI, SQLAlchemy) and the client load on
first use, so `pitfalls scan` never pays for them.
"""

from __future__ import annotations

from typing import Any

from pitfalls.monitor.records import SCHEMA_VERSION, make_record, validate_record

__all__ = ["SCHEMA_VERSION", "Client", "make_record", "validate_record"]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from pitfalls.monitor.client import Client

        return Client
    raise AttributeError(f"module 'pitfalls.monitor' has no attribute {name!r}")
