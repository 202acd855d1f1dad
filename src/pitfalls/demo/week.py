"""`pitfalls demo --monitor`: the demo's model in production for a simulated week.

Three cameras over the belt send their predictions to the monitoring service through the real
client (`pitfalls.monitor.Client`, one spool per camera). Their photos are real: fruit drawn as
in `data/`, saved as the cameras' JPEGs, measured by the scan's own extractor and classified by
the demo's ONNX model. To stay fast, each condition has a pool of such photos and every record
is one of them, drawn at random (its features and probabilities are that photo's). On day 4,
`line1-cam2`'s light starts to fail: its photos are dimmer that day and much darker from day 5
(the same scenes at a lower gain, with the sensor noise that comes with it); from day 6,
`line2-cam1` sends nothing. A few records carry a spot-checked label, as a team that labels a
sample would send.

`stream_week` sends the week, with `captured_at` spread over the seven days ending now; the
service's analysis turns the darkening camera into MON001/MON007 alerts and the silent one into
a MON008 alert. `MonitorDemo` runs the whole thing beside a demo project.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pitfalls.demo.drawing import draw_scene, tray_edge
from pitfalls.demo.files import jpeg
from pitfalls.demo.settings import CLASSES, DEMO_MODEL, FRAME_CLASS, LEMON_SIZE, SIZE

log = logging.getLogger(__name__)

DAYS = 7
SEED = 20240612
LABELLED = 0.05
"""Share of records sent with a spot-checked label."""
PER_CLASS = 30
"""Photos per class in each condition's pool."""
GAIN = {"plain": 1.0, "dim": 0.55, "dark": 0.3}
"""The light each condition's photos get: a failing lamp dims, then leaves the camera in the
dark (and its raised sensor gain adds noise)."""


@dataclass(frozen=True)
class Camera:
    """One camera: records per hour, the day (1-7) its light starts to fail (dim that day, dark
    after), the day it goes silent."""

    name: str
    rate: float
    dark_from: int | None = None
    silent_from: int | None = None

    def condition(self, day: int) -> str:
        if self.dark_from is None or day < self.dark_from:
            return "plain"
        return "dim" if day == self.dark_from else "dark"


CAMERAS = (Camera("line1-cam1", 16.0), Camera("line1-cam2", 60.0, dark_from=4),
           Camera("line2-cam1", 16.0, silent_from=6))
"""`line1-cam2` carries enough records per hour for the rules to judge it on its own (each
scope needs 50)."""


@dataclass
class Shot:
    """One pool photo: its true class, its features (as a record carries them), the model's
    probabilities."""

    label: str
    features: dict[str, Any]
    probs: dict[str, float]


@dataclass
class Week:
    """What `stream_week` sent."""

    start: datetime
    end: datetime
    sent: dict[str, int] = field(default_factory=dict)
    labelled: int = 0
    left: int = 0
    """Records still in the spools (not acknowledged)."""


def _camera_photo(img: Image.Image, rng: np.random.Generator, gain: float) -> bytes:
    """The camera's JPEG of a scene; with less light, the sensor noise shows."""
    if gain < 1.0:
        x = np.asarray(img, np.float32) * np.float32(rng.uniform(gain * 0.9, gain))
        noise = np.float32(rng.uniform(1.0, 1.5) / gain)
        x += rng.standard_normal(x.shape, dtype=np.float32) * noise
        img = Image.fromarray(np.clip(x + 0.5, 0, 255).astype(np.uint8))
    return jpeg(img, int(rng.integers(85, 96)))


def photo_pool(rng: np.random.Generator, condition: str = "plain", per_class: int = PER_CLASS,
               model: Path = DEMO_MODEL) -> list[Shot]:
    """Real photos of every class, taken as in the lab (apples on their blue-edged trays,
    lemons on the line with the larger frame), measured by the device extractor and classified
    by the demo model."""
    from pitfalls.decode import decode_bytes
    from pitfalls.evaluation.model import ModelRunner, load_spec
    from pitfalls.monitor.device_features import image_features

    spec = load_spec(model.with_suffix(".toml"))
    runner = ModelRunner(model, spec)
    shots, pixels = [], []
    for label in CLASSES:
        for _ in range(per_class):
            img = draw_scene(rng, label, LEMON_SIZE if label == "lemon" else SIZE)
            img = tray_edge(img) if label == FRAME_CLASS else img
            payload = _camera_photo(img, rng, GAIN[condition])
            features, _ = image_features(payload, f"{label} photo")
            shots.append(Shot(label, features, {}))
            pixels.append(decode_bytes(payload).rgb)
    classes = list(spec.classes or CLASSES)
    for shot, p in zip(shots, runner.probabilities(pixels), strict=True):
        shot.probs = {c: float(v) for c, v in zip(classes, p, strict=True)}
    return shots


def model_version(model: Path = DEMO_MODEL) -> str:
    """The version string `pitfalls monitor log --model` sends: name and digest."""
    import hashlib

    return f"{model.stem}@{hashlib.blake2b(model.read_bytes(), digest_size=6).hexdigest()}"


def hours(rng: np.random.Generator, start: datetime, pools: dict[str, list[Shot]],
          cameras: tuple[Camera, ...] = CAMERAS
          ) -> Iterator[tuple[Camera, list[dict[str, Any]]]]:
    """Each camera's records hour by hour over the week from `start` (the `Client.log_many`
    items): Poisson-many per hour at random moments, photos drawn from the pool of the camera's
    condition that day. Ids name the camera, week, hour and shot (the client would otherwise
    hash each record's features to make one)."""
    for hour in range(DAYS * 24):
        day = hour // 24 + 1
        for cam in cameras:
            if cam.silent_from is not None and day >= cam.silent_from:
                continue
            pool = pools[cam.condition(day)]
            n = int(rng.poisson(cam.rate))
            seconds = np.sort(rng.uniform(0, 3600, n))
            items = []
            for i, (s, k) in enumerate(zip(seconds, rng.integers(0, len(pool), n), strict=True)):
                shot = pool[int(k)]
                items.append({"id": f"{cam.name}-{start:%Y%m%d%H%M}-{hour:03d}-{i:03d}",
                              "features": shot.features, "probs": shot.probs,
                              "captured_at": start + timedelta(hours=hour, seconds=float(s)),
                              "label": shot.label if rng.random() < LABELLED else None})
            yield cam, items


def stream_week(url: str, token: str, spools: Path, *, end: datetime | None = None,
                cameras: tuple[Camera, ...] = CAMERAS, seed: int = SEED,
                progress: Callable[[str, int, int], None] | None = None,
                timeout: float = 300.0) -> Week:
    """Send the simulated week ending at `end` (default now) to the service at `url` through one
    client per camera, each with its spool under `spools`; wait until the service has
    acknowledged everything (or `timeout` seconds)."""
    from pitfalls.monitor.client import Client

    rng = np.random.default_rng(seed)
    end = (end or datetime.now(timezone.utc)).astimezone(timezone.utc)
    start = end - timedelta(days=DAYS)
    pools = {c: photo_pool(rng, c) for c in GAIN}
    version = model_version()
    clients = {cam.name: Client(url, token, spool=spools / cam.name, source=cam.name,
                                model_version=version, classes=list(CLASSES), batch_size=500)
               for cam in cameras}
    week = Week(start, end, {cam.name: 0 for cam in cameras})
    try:
        total = DAYS * 24 * len(cameras)
        for done, (cam, items) in enumerate(hours(rng, start, pools, cameras), 1):
            if items:
                clients[cam.name].log_many(items)
                week.sent[cam.name] += len(items)
                week.labelled += sum(i["label"] is not None for i in items)
            if progress is not None:
                progress("streaming the week", done, total)
        for client in clients.values():
            week.left += client.flush(timeout)
    finally:
        for client in clients.values():
            client.close(timeout=0)
    return week


class MonitorDemo:
    """The monitoring service on the demo's reference, in this process: a fresh database and
    spools under `DIR/monitor/`, an ingest token for the cameras and a read token for people."""

    def __init__(self, directory: Path, port: int = 0) -> None:
        from pitfalls.monitor.local import LocalService
        from pitfalls.monitor.reference import load_reference

        self.reference = Path(directory) / "report" / "reference"
        load_reference(self.reference)  # a clear error before anything starts
        self.folder = Path(directory) / "monitor"
        _fresh(self.folder)
        self.db = f"sqlite:///{(self.folder / 'monitor.db').resolve()}"
        self.service = LocalService(self.db, self.reference, port)
        self.ingest, self.read = _token(self.db, "ingest", "demo cameras"), _token(
            self.db, "read", "demo dashboard")

    @property
    def url(self) -> str:
        return self.service.url

    def start(self) -> MonitorDemo:
        self.service.start()
        return self

    def stream(self, **kwargs: Any) -> Week:
        return stream_week(self.url, self.ingest, self.folder / "spool", **kwargs)

    def alerts(self, lang: str = "en") -> list[dict[str, Any]]:
        """The alerts the service raised, oldest first, as its API lists them."""
        import httpx

        answer = httpx.get(f"{self.url}/api/v1/alerts", params={"lang": lang}, timeout=60,
                           headers={"Authorization": f"Bearer {self.read}"})
        answer.raise_for_status()
        return sorted(answer.json()["alerts"], key=lambda a: (a["opened_at"], a["rule"]))

    def stop(self) -> None:
        self.service.stop()


def _fresh(folder: Path) -> None:
    """An empty database and no spools in `folder` (an earlier demo's are removed)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("monitor.db", "monitor.db-wal", "monitor.db-shm"):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "spool", ignore_errors=True)


def _token(db: str, scope: str, name: str) -> str:
    from pitfalls.monitor.storage import make_engine
    from pitfalls.monitor.tokens import create

    engine = make_engine(db)
    try:
        return create(engine, scope, name)[0]
    finally:
        engine.dispose()
