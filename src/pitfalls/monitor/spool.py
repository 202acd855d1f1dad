"""The device client's write-ahead spool: records wait here, on disk, until the service acknowledges
them.

One SQLite file (`spool.sqlite3` in the spool folder) in WAL mode with `synchronous=FULL`: every
`put` is one transaction whose commit fsyncs the log, so a record that `put` returned for survives
a crash of the process or a power cut; a batch leaves `pending` in one transaction once the
service has acknowledged it (or moves to `dead` with the service's reason). SQLite rather than
hand-written segment files and an ack-offset file: atomic commits, recovery after a torn write and
"delete these ids" come from a library that is tested for exactly that, in the standard library.

One process uses a spool at a time (an exclusive lock on `spool.lock`, released by the kernel when
the process dies, so a client started after a `kill -9` takes the spool over and resends).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pitfalls.errors import PitfallsError
from pitfalls.monitor.jsontext import dumps, loads

DEFAULT_MAX_BYTES = 1 << 30
"""Default limit on the pending records' JSON (1 GiB): weeks of records of a busy camera."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    queued_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    status INTEGER,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class SpoolError(PitfallsError):
    """The spool cannot take records (full, locked by another process, unusable folder)."""


class SpoolFullError(SpoolError):
    """The spool holds its limit of unacknowledged records: nothing more is accepted, nothing
    is dropped."""


@dataclass(frozen=True)
class Pending:
    """One spooled record: its queue position, id and JSON text."""

    seq: int
    id: str
    body: str


def _lock(path: Path) -> Any:
    """An exclusive, non-blocking lock on `path` held for the life of the returned file."""
    handle = open(path, "a+")  # noqa: SIM115 - held open while the spool is
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one client per spool is the user's care
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise SpoolError(f"spool {path.parent} is in use by another process; give each client "
                         "its own spool folder") from None
    return handle


class Spool:
    """Records waiting for the service, oldest first; thread-safe (one lock, short holds)."""

    def __init__(self, directory: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory).expanduser()
        self.max_bytes = max_bytes
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lockfile = _lock(self.directory / "spool.lock")
        except OSError as exc:
            raise SpoolError(f"cannot use {self.directory} as a spool folder: "
                             f"{exc.strerror or exc}") from None
        self._mutex = threading.Lock()  # the connection and the counters
        self._group = threading.Condition()  # the group-commit queue below
        self._queue: list[tuple[int, list[tuple[str, str]]]] = []
        self._queued_bytes = 0
        self._issued = self._done = 0
        self._leader = False
        self._results: dict[int, int | Exception] = {}
        try:
            self._db = sqlite3.connect(self.directory / "spool.sqlite3", isolation_level=None,
                                       check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self.count, self.bytes = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM pending").fetchone()
        except sqlite3.DatabaseError as exc:
            self._lockfile.close()
            raise SpoolError(f"spool {self.directory} is not usable: {exc}") from None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, committed (fsync'ed) on leaving, rolled back on error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def put(self, records: list[dict[str, Any]]) -> int:
        """Append records (each with an `id`), committed and fsync'ed before this returns;
        returns how many were new (an id already pending is kept once). Raises
        `SpoolFullError`, storing none of them, when they would take the spool past its limit.

        Group commit: records that threads put while a commit is under way are written
        together by the next one (one fsync for all of them), each caller returning once its
        own records are on disk.
        """
        rows = [(str(r["id"]), dumps(r)) for r in records]
        size = sum(len(body) for _, body in rows)
        with self._group:
            if self.bytes + self._queued_bytes + size > self.max_bytes:
                raise SpoolFullError(
                    f"spool {self.directory} is full: {self.count} records "
                    f"({self.bytes / 1e6:.1f} MB) wait for the service, the limit is "
                    f"{self.max_bytes / 1e6:.1f} MB; check that the service is reachable and "
                    "the token valid, or raise the limit")
            self._issued += 1
            ticket = self._issued
            self._queue.append((ticket, rows))
            self._queued_bytes += size
            while self._done < ticket:
                if self._leader:
                    self._group.wait()
                    continue
                self._leader = True
                queue, self._queue = self._queue, []
                results: dict[int, int | Exception] = {}
                self._group.release()
                try:
                    results = self._commit(queue)
                finally:  # an interrupted commit (KeyboardInterrupt…) fails its group too
                    self._group.acquire()
                    self._leader = False
                    self._queued_bytes -= sum(len(b) for _, rs in queue for _, b in rs)
                    for t, _ in queue:
                        self._results[t] = results.get(t, InterruptedError("interrupted"))
                    self._done = queue[-1][0]
                    self._group.notify_all()
            outcome = self._results.pop(ticket)
        if isinstance(outcome, Exception):
            raise SpoolError(f"cannot write to the spool {self.directory}: {outcome}; "
                             "the record was not spooled")
        return outcome

    def _commit(self, queue: list[tuple[int, list[tuple[str, str]]]]
                ) -> dict[int, int | Exception]:
        """Write the queued puts in one transaction: {ticket: records added, or the error}."""
        now = time.time()
        added: dict[int, int] = {}
        with self._mutex:
            new_bytes = 0
            try:
                with self._transaction():
                    for ticket, rows in queue:
                        added[ticket] = 0
                        for rid, body in rows:
                            cur = self._db.execute(
                                "INSERT OR IGNORE INTO pending (id, body, size, queued_at) "
                                "VALUES (?, ?, ?, ?)", (rid, body, len(body), now))
                            if cur.rowcount == 1:
                                added[ticket] += 1
                                new_bytes += len(body)
            except sqlite3.DatabaseError as exc:  # disk full, read-only, I/O error
                return {ticket: exc for ticket, _ in queue}
            self.count += sum(added.values())
            self.bytes += new_bytes
        return dict(added)

    def batch(self, limit: int) -> list[Pending]:
        """The oldest `limit` pending records."""
        with self._mutex:
            rows = self._db.execute("SELECT seq, id, body FROM pending ORDER BY seq LIMIT ?",
                                    (limit,)).fetchall()
        return [Pending(*row) for row in rows]

    def ack(self, ids: list[str]) -> None:
        """Remove records the service has acknowledged (committed)."""
        self._remove(ids, None)

    def bury(self, rejected: Mapping[str, tuple[int | None, str]]) -> None:
        """Move records the service refused for good (id -> (HTTP status, reason)) to the
        dead-letter table, where they stay for a person to read."""
        self._remove(list(rejected), rejected)

    def _remove(self, ids: list[str], dead: Mapping[str, tuple[int | None, str]] | None) -> None:
        if not ids:
            return
        now = time.time()
        with self._mutex:
            with self._transaction():
                if dead:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO dead (id, body, status, reason, at) "
                        "SELECT id, body, ?, ?, ? FROM pending WHERE id = ?",
                        [(status, reason, now, rid) for rid, (status, reason) in dead.items()])
                gone = []  # sizes of the rows removed (no RETURNING: older SQLite on devices)
                for rid in dict.fromkeys(ids):
                    row = self._db.execute("SELECT size FROM pending WHERE id = ?",
                                           (rid,)).fetchone()
                    if row is not None:
                        self._db.execute("DELETE FROM pending WHERE id = ?", (rid,))
                        gone.append(row[0])
            self.count -= len(gone)
            self.bytes -= sum(gone)

    def dead_letters(self) -> list[dict[str, Any]]:
        """Records the service refused: `id`, `status`, `reason`, `at` (epoch s), `record`."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT id, status, reason, at, body FROM dead ORDER BY at").fetchall()
        return [{"id": r[0], "status": r[1], "reason": r[2], "at": r[3],
                 "record": loads(r[4])} for r in rows]

    def close(self) -> None:
        with self._mutex:
            self._db.close()
            self._lockfile.close()

    def __repr__(self) -> str:
        return f"Spool({os.fspath(self.directory)!r}, pending={self.count})"
