"""API tokens: created once (printed, never stored), kept as SHA-256 digests, checked in
constant time, each with a scope (`ingest` writes, `read` reads, `admin` both) and a token-bucket
rate limit. A token is 32 random bytes, so a plain digest (no salt, no slow hash) is enough."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pitfalls.monitor.storage import tokens, utcnow

SCOPES = ("ingest", "read", "admin")
PREFIX = "pfm_"
GRANTS = {"ingest": {"ingest"}, "read": {"read"}, "admin": {"ingest", "read", "admin"}}
"""What each scope may do: a route needs `ingest` (write) or `read`."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    scope: str
    hash: str
    created_at: Any = None
    revoked_at: Any = None

    def allows(self, need: str) -> bool:
        return need in GRANTS.get(self.scope, set())


def create(engine: Engine, scope: str, name: str = "") -> tuple[str, Token]:
    """A new token: the secret (show it once) and its stored row."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    secret = PREFIX + secrets.token_urlsafe(32)
    row: dict[str, Any] = {"name": name or scope, "scope": scope, "hash": digest(secret),
           "created_at": utcnow()}
    with engine.begin() as conn:
        new_id = conn.execute(sa.insert(tokens).values(**row).returning(tokens.c.id)).scalar_one()
    return secret, Token(id=new_id, **row)


def listing(engine: Engine) -> list[Token]:
    with engine.connect() as conn:
        return [Token(**row._mapping) for row in conn.execute(
            sa.select(tokens).order_by(tokens.c.id))]


def revoke(engine: Engine, key: str) -> int:
    """Revoke by id or by name; returns how many tokens were revoked."""
    match = tokens.c.name == key
    if key.isdigit():
        match = sa.or_(match, tokens.c.id == int(key))
    with engine.begin() as conn:
        result = conn.execute(sa.update(tokens).where(match, tokens.c.revoked_at.is_(None))
                              .values(revoked_at=utcnow()))
    return int(result.rowcount or 0)


class TokenCheck:
    """Looks presented tokens up, caching the live ones for `ttl` seconds (so a revocation
    reaches every worker and replica within `ttl`)."""

    def __init__(self, engine: Engine, ttl: float = 2.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._live: dict[str, Token] = {}
        self._loaded = -1e9
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(tokens).where(tokens.c.revoked_at.is_(None)))
            self._live = {row.hash: Token(**row._mapping) for row in rows}
        self._loaded = time.monotonic()

    def find(self, presented: str) -> Token | None:
        """The live token whose digest equals the presented one's, compared in constant time."""
        if not presented or len(presented) > 512:
            return None
        wanted = digest(presented)
        with self._lock:
            if time.monotonic() - self._loaded > self.ttl:
                self._refresh()
            live = self._live
        found = live.get(wanted)
        if found is not None and hmac.compare_digest(found.hash, wanted):
            return found
        return None


class RateLimiter:
    """A token bucket per API token: `rate` requests a second, bursts of `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate * 2, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if level >= 1:
                self._buckets[key] = (level - 1, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1 - level) / self.rate
