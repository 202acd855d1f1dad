"""Benchmark of the device client (`pitfalls.monitor.Client`): what the write-ahead spool costs.

    python benchmarks/monitor_client.py [--seconds 10] [--records 2000] [--images 40]

Prints, each against a baseline measured in the same run:
1. spooling (no service): records/s of `log()` one at a time (one fsync each: the baseline),
   `log_many()` in batches of 100, and `log()` from 8 threads at once (group commit);
2. features: ms per image of `log(path)` against `compute_file_features(path)` alone (the scan's
   extractor, the baseline), on 512x384 JPEGs;
3. delivery: records/s acknowledged by a real `pitfalls monitor serve` (SQLite) when one thread
   logs batches of 100 through the client for `--seconds`, against a bare httpx loop that posts
   the same batches with no spool (the baseline).

Records carry the features of a real photo (about 90 scalars and the 131-number embedding).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
from monitor_load import CLASSES, free_port, make_reference  # noqa: E402
from PIL import Image  # noqa: E402

from pitfalls.features.compute import compute_file_features  # noqa: E402
from pitfalls.monitor.client import Client  # noqa: E402
from pitfalls.monitor.device_features import record_features  # noqa: E402

PROBS = {c: 1 / len(CLASSES) for c in CLASSES}


def photos(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        y, x = np.mgrid[0:384, 0:512]
        base = np.stack([x * 0.3 + i, y * 0.4, (x + y) * 0.2], -1) % 255
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=85)
        out.append(path)
    return out


def offline_client(spool: Path) -> Client:
    """A client whose service never answers (a closed port): `log` measures the spool alone."""
    return Client(f"http://127.0.0.1:{free_port()}", "t", spool=spool, source="cam",
                  model_version="m1", backoff=(60, 60))


def spooling(tmp: Path, features: dict, n: int) -> dict[str, float]:
    out = {}
    c = offline_client(tmp / "s1")
    start = time.perf_counter()
    for _ in range(n):
        c.log(features=features, probs=PROBS)
    out["log() x1 thread"] = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(n // 100):
        c.log_many([{"features": features, "probs": PROBS}] * 100)
    out["log_many(100)"] = (n // 100) * 100 / (time.perf_counter() - start)
    per = n // 8

    def work() -> None:
        for _ in range(per):
            c.log(features=features, probs=PROBS)

    threads = [threading.Thread(target=work) for _ in range(8)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["log() x8 threads"] = 8 * per / (time.perf_counter() - start)
    c.close(timeout=0)
    return out


def feature_cost(tmp: Path, paths: list[Path]) -> tuple[float, float]:
    for p in paths[:3]:
        compute_file_features(p)  # warm
    start = time.perf_counter()
    for p in paths:
        compute_file_features(p)
    base = (time.perf_counter() - start) / len(paths) * 1000
    c = offline_client(tmp / "s2")
    start = time.perf_counter()
    for p in paths:
        c.log(p, probs=PROBS)
    client = (time.perf_counter() - start) / len(paths) * 1000
    c.close(timeout=0)
    return base, client


def serve(tmp: Path) -> tuple[subprocess.Popen, str, str]:
    from pitfalls.monitor.storage import make_engine, migrate
    from pitfalls.monitor.tokens import create

    db = f"sqlite:///{tmp / 'monitor.db'}"
    migrate(db)
    engine = make_engine(db)
    token = create(engine, "ingest", "bench")[0]
    engine.dispose()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pitfalls", "monitor", "serve", "--reference",
         str(make_reference(tmp / "reference")), "--db", db, "--port", str(port), "--rate", "0",
         "--log-level", "warning"], env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    import httpx

    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return server, url, token


def bare(url: str, token: str, features: dict, seconds: float) -> float:
    """Records/s of httpx posting batches of 100 (built by the same code) with no spool."""
    import httpx

    from pitfalls.monitor.records import make_record

    sent, start = 0, time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        while time.perf_counter() - start < seconds:
            batch = [make_record(pred=CLASSES[0], features=features, source="cam",
                                 model_version="m1", probs=PROBS, id=uuid.uuid4().hex)
                     for _ in range(100)]
            if http.post(url + "/api/v1/records", json={"records": batch}).status_code == 200:
                sent += 100
    return sent / (time.perf_counter() - start)


def delivery(tmp: Path, url: str, token: str, features: dict, seconds: float
             ) -> tuple[float, float, int]:
    """(records/s acknowledged while logging, including the final drain; seconds of that drain;
    records logged)."""
    c = Client(url, token, spool=tmp / "s3", source="cam", model_version="m1")
    logged, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        c.log_many([{"features": features, "probs": PROBS}] * 100)
        logged += 100
    stop = time.perf_counter()
    left = c.flush(timeout=120)
    end = time.perf_counter()
    c.close(timeout=0)
    assert left == 0, f"{left} records not delivered"
    return logged / (end - start), end - stop, logged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        paths = photos(tmp / "img", args.images)
        features = record_features(compute_file_features(paths[0]))
        print(f"records carry {len(features)} features "
              f"({len(str(features))} characters of features a record)")
        rates = spooling(tmp, features, args.records)
        base = rates["log() x1 thread"]
        print("\n1. spooling, records/s (fsync'ed before log returns; no service)")
        for label, rate in rates.items():
            print(f"   {label:<18} {rate:9.0f}   x{rate / base:.1f} of one thread's log()")
        scan_ms, client_ms = feature_cost(tmp, paths)
        print(f"\n2. features, ms/image on 512x384 JPEGs: compute_file_features {scan_ms:.1f}, "
              f"client.log(path) {client_ms:.1f} (x{client_ms / scan_ms:.2f})")
        server, url, token = serve(tmp)
        try:
            bare_rate = bare(url, token, features, args.seconds)
            rate, drain, logged = delivery(tmp, url, token, features, args.seconds)
        finally:
            server.terminate()
            server.wait(30)
        print(f"\n3. delivery to pitfalls monitor serve (SQLite), batches of 100, "
              f"{args.seconds:g} s:\n   bare httpx loop, no spool  {bare_rate:9.0f} records/s"
              f"\n   client (log_many + spool)  {rate:9.0f} records/s acknowledged "
              f"(x{rate / bare_rate:.2f}; {logged} records, last acknowledged {drain:.1f} s "
              "after the last log)")


if __name__ == "__main__":
    main()
