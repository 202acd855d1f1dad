"""Load benchmark of `pitfalls monitor serve`: a second process sends batches of 100 records over
loopback for a bounded time, from several concurrent connections (a fleet of devices).

Prints, for SQLite and PostgreSQL and for 1 and 2 server workers: records/s sustained, p50 and p99
batch latency, and the server's memory (RSS of the server and its workers) at the start, at the end
and at its peak. The baseline, measured in the same run, is the storage alone: the same batches
inserted by `Store.insert` in this process, without HTTP, JSON or validation.

    python benchmarks/monitor_load.py [--seconds 20] [--senders 4] [--db sqlite,postgresql]
                                      [--workers 1,2] [--features full|small]

Records are shaped as the device client sends them: about 85 scalar features and the 131-number
weight-free embedding (`--features full`, about 3 kB of JSON a record), or 10 scalars (`small`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from queue import Empty

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

CLASSES = ["apple", "banana", "cherry", "date"]
PG_ADMIN = os.environ.get("PITFALLS_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def features(kind: str, rng: np.random.Generator) -> dict:
    n = 85 if kind == "full" else 10
    out = {f"f{i:02d}": round(float(v), 6) for i, v in enumerate(rng.normal(size=n))}
    if kind == "full":
        out["embedding"] = [round(float(v), 6) for v in rng.normal(size=131)]
    return out


def record_tails(kind: str, n: int = 100) -> list[bytes]:
    """Each record's JSON after its id, so a batch is built by joining bytes (cheap sender)."""
    rng = np.random.default_rng(0)
    tails = []
    now = datetime.now(timezone.utc).isoformat()
    for i in range(n):
        p = rng.dirichlet(np.ones(len(CLASSES)))
        body = {"captured_at": now, "source": f"cam-{i % 8}", "model_version": "m1",
                "pred": CLASSES[int(p.argmax())],
                "probs": {c: round(float(v), 6) for c, v in zip(CLASSES, p, strict=True)},
                "features": features(kind, rng)}
        tails.append(json.dumps(body)[1:].encode())
    return tails


def batch_body(tails: list[bytes], prefix: str, start: int) -> bytes:
    parts = [b'{"id": "' + f"{prefix}{start + i:010d}".encode() + b'", ' + tail
             for i, tail in enumerate(tails)]
    return b'{"records": [' + b", ".join(parts) + b"]}"


def sender(url: str, token: str, seconds: float, senders: int, kind: str, out: mp.Queue) -> None:
    """The load: `senders` threads, each posting batches of 100 back to back."""
    import httpx

    tails = record_tails(kind)
    latencies: list[float] = []
    counts = {"records": 0, "errors": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(k: int) -> None:
        prefix = f"{uuid.uuid4().hex[:8]}-{k}-"
        i = 0
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}",
                                               "Content-Type": "application/json"}) as client:
            while time.monotonic() < stop:
                body = batch_body(tails, prefix, i)
                i += len(tails)
                t0 = time.perf_counter()
                try:
                    r = client.post(url + "/api/v1/records", content=body)
                    ok = r.status_code == 200 and r.json()["accepted"] == len(tails)
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    counts["records" if ok else "errors"] += len(tails) if ok else 1

    began = time.monotonic()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"elapsed": time.monotonic() - began, "latencies": latencies, **counts})


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server and its workers so far."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0.0


def tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0


def make_reference(folder: Path) -> Path:
    from pitfalls.monitor.reference import Profile

    n = 20
    frame = pd.DataFrame({"path": [f"{i}.png" for i in range(n)],
                          "label": [CLASSES[i % 4] for i in range(n)],
                          "pred": [CLASSES[i % 4] for i in range(n)]})
    return Profile(classes=CLASSES, split="test", features=frame[["path"]], predictions=frame,
                   feature_version=13).write(folder)


def database(kind: str, tmp: Path) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'monitor.db'}", None
    import sqlalchemy as sa

    name = f"pfm_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    return url, drop


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def baseline(url: str, seconds: float, kind: str) -> float:
    """Records/s of `Store.insert` alone (no HTTP, no JSON, no validation), batches of 100."""
    from pitfalls.monitor.records import validate_record
    from pitfalls.monitor.storage import Store

    tails = record_tails(kind)
    template = [validate_record(json.loads(b'{"id": "x", ' + t), CLASSES)[0] for t in tails]
    store = Store.open(url)
    n, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        from dataclasses import replace

        store.insert([replace(r, id=f"base-{n + i:010d}") for i, r in enumerate(template)])
        n += len(template)
    store.engine.dispose()
    return n / (time.monotonic() - start)


def run_one(kind_db: str, workers: int, args: argparse.Namespace) -> dict:
    from pitfalls.monitor.storage import make_engine, migrate
    from pitfalls.monitor.tokens import create

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url, drop = database(kind_db, tmp)
        try:
            migrate(url)
            engine = make_engine(url)
            token = create(engine, "ingest", "bench")[0]
            engine.dispose()
            ref = make_reference(tmp / "reference")
            port = free_port()
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed after the run
            server = subprocess.Popen(
                [sys.executable, "-m", "pitfalls", "monitor", "serve", "--reference", str(ref),
                 "--db", url, "--port", str(port), "--workers", str(workers), "--rate", "0",
                 "--log-level", args.log_level, *args.serve_args.split()],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                import httpx

                for _ in range(300):
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                time.sleep(1.0)  # workers settle
                rss = [tree_rss(server.pid)]
                cpu0 = tree_cpu(server.pid)
                queue: mp.Queue = mp.Queue()
                load = mp.Process(target=sender, args=(f"http://127.0.0.1:{port}", token,
                                                       args.seconds, args.senders,
                                                       args.features, queue))
                load.start()
                result = None
                while result is None:  # read the result while the sender runs: a long run's
                    rss.append(tree_rss(server.pid))  # latencies overflow the pipe, and a
                    try:  # sender joined before its queue is read never exits
                        result = queue.get(timeout=0.5)
                    except Empty:
                        if not load.is_alive():
                            raise RuntimeError("the sender died without a result") from None
                load.join(30)
                rss.append(tree_rss(server.pid))
                cpu = tree_cpu(server.pid) - cpu0
            finally:
                os.killpg(server.pid, 15)
                server.wait(30)
                log.close()
            base = baseline(url, min(args.seconds, 5), args.features)
        finally:
            if drop:
                drop()
    lat = sorted(result["latencies"])
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0)
    rate = result["records"] / result["elapsed"]
    mib = 1024 * 1024
    return {"db": kind_db, "workers": workers, "records_s": rate, "p50_ms": p(0.50),
            "p99_ms": p(0.99), "errors": result["errors"],
            "rss_start": rss[0] / mib, "rss_mid": rss[len(rss) // 2] / mib,
            "rss_end": rss[-1] / mib, "rss_max": max(rss) / mib,
            "baseline_s": base, "ratio": rate / base if base else float("nan"),
            "mean_ms": statistics.fmean(lat) * 1000 if lat else 0,
            "cpu_ms_per_1k": cpu * 1e6 / result["records"] if result["records"] else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--features", choices=["full", "small"], default="full")
    parser.add_argument("--log-level", default="info", help="The server's (info: access log on).")
    parser.add_argument("--serve-args", default="",
                        help="More options of `pitfalls monitor serve`, e.g. "
                             "'--analysis-interval 1000' to keep the analysis out of the run.")
    args = parser.parse_args()
    import signal

    # a `timeout` or Ctrl-C stops the run through the finally blocks, which stop the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"{args.seconds:g} s per run, {args.senders} concurrent senders, batches of 100, "
          f"features={args.features}, {os.cpu_count()} CPUs")
    head = (f"{'db':<11}{'workers':>8}{'records/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
            f"{'RSS start/mid/end/max MiB':>28}{'CPU ms/1k rec':>14}{'store alone/s':>15}"
            f"{'ratio':>7}")
    print(head)
    for kind_db in args.db.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            r = run_one(kind_db, workers, args)
            print(f"{r['db']:<11}{r['workers']:>8}{r['records_s']:>11,.0f}{r['p50_ms']:>8.1f}"
                  f"{r['p99_ms']:>8.1f}{r['errors']:>7}"
                  f"{r['rss_start']:>14.0f}/{r['rss_mid']:.0f}/{r['rss_end']:.0f}/{r['rss_max']:.0f}"
                  f"{r['cpu_ms_per_1k']:>14.0f}"
                  f"{r['baseline_s']:>15,.0f}{r['ratio']:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
