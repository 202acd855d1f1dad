"""A small real records receiver for the client's tests, run as its own process:

    python tests/monitor_receiver.py DB PORT [--token T] [--fail N] [--status S]

It speaks the contract's `POST /api/v1/records`: checks the bearer token (401), validates with
the contract's own `validate_batch` (422 with per-record reasons, valid records still stored),
commits the valid records (their JSON) to SQLite (one row per id: a resend is a duplicate)
and only then answers `{"accepted", "duplicates"}`. `--fail N` answers 503 to the first N
posts; `--status S` answers S to every post. Every post is appended to the table `posts`
(size, status), so tests can see what came over the wire. The helpers below start it from tests.
"""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pitfalls.monitor.records import BatchError, validate_batch  # noqa: E402

TOKEN = "s3cret-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def receiver(db: Path, port: int, *args: str) -> Iterator[subprocess.Popen]:
    """A receiver process; yields it once it listens; kills it (-9) on leaving."""
    proc = subprocess.Popen([sys.executable, __file__, str(db), str(port), "--token", TOKEN,
                             *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def stored(db: Path) -> dict[str, dict]:
    """The records the receiver committed, by id."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as con:
        return {r[0]: json.loads(r[1]) for r in con.execute("SELECT id, body FROM records")}


LOGGER = """
import sys
from pitfalls.monitor.client import Client
url, token, spool, n, pred = sys.argv[1:6]
c = Client(url, token, spool=spool, source="cam-9", model_version="v1", batch_size=10, linger=0,
           backoff=(0.05, 0.3))
for i in range(int(n)):
    rid = c.log(features={"brightness": i / 1000}, pred=pred,
                captured_at=f"2026-11-30T10:{i // 60 % 60:02d}:{i % 60:02d}Z")
    print(rid, flush=True)
c.flush(timeout=60)
print("done", flush=True)
"""


def log_until_killed(url: str, token: str, spool: Path, n: int, kill_after: int,
                     pred: str = "ok") -> list[str]:
    """Run a client process that logs `n` records, `kill -9` it once `kill_after` are spooled
    (its sender is posting meanwhile); the ids it reported spooled."""
    child = subprocess.Popen([sys.executable, "-c", LOGGER, url, token, str(spool), str(n), pred],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    logged: list[str] = []
    for line in child.stdout:
        logged.append(line.strip())
        if len(logged) == kill_after:
            child.kill()
            break
    child.wait(timeout=10)
    logged += [line.strip() for line in child.stdout.read().splitlines()]
    assert "done" not in logged, "the client finished before it was killed"
    return logged


def photos(folder: Path, n: int, size: tuple[int, int] = (96, 128)) -> list[Path]:
    """`n` small JPEG photos, each different (colour, noise, quality)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        base = rng.integers(0, 255, (1, 1, 3))
        noise = rng.normal(0, 20 + 5 * i, (*size, 3))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        path = folder / f"img{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=min(95, 60 + 3 * i))
        out.append(path)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("port", type=int)
    parser.add_argument("--token", default="secret")
    parser.add_argument("--fail", type=int, default=0)
    parser.add_argument("--status", type=int, default=0)
    parser.add_argument("--classes", default="")
    args = parser.parse_args()
    db = sqlite3.connect(args.db, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, body TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS posts (n INTEGER, status INTEGER)")
    lock = threading.Lock()
    state = {"fail": args.fail}
    classes = args.classes.split(",") if args.classes else None

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def answer(self, status: int, body: dict, n: int = 0) -> None:
            with lock:
                db.execute("INSERT INTO posts VALUES (?, ?)", (n, status))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/api/v1/records":
                return self.answer(404, {"detail": "not found"})
            if self.headers.get("Authorization") != f"Bearer {args.token}":
                return self.answer(401, {"detail": "bad token"})
            if args.status:
                return self.answer(args.status, {"detail": "told to"})
            with lock:
                failing = state["fail"] > 0
                state["fail"] -= failing
            if failing:
                return self.answer(503, {"detail": "warming up"})
            try:
                body = json.loads(raw)
                valid, rejected = validate_batch(body, classes)
            except (ValueError, BatchError) as exc:
                return self.answer(400, {"detail": str(exc)})
            items = {item["id"]: item for item in body["records"] if isinstance(item, dict)
                     and isinstance(item.get("id"), str)}
            with lock:
                before = db.total_changes
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT OR IGNORE INTO records VALUES (?, ?)",
                               [(r.id, json.dumps(items[r.id])) for r in valid])
                db.execute("COMMIT")
                accepted = db.total_changes - before
            body = {"accepted": accepted, "duplicates": len(valid) - accepted,
                    "rejected": [r.to_dict() for r in rejected]}
            self.answer(422 if rejected else 200, body, len(valid) + len(rejected))

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
