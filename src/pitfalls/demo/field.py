"""The field: unlabelled photos of the same belt from the factory's own camera (FIELD001 to
FIELD003)."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from pitfalls.demo.drawing import ODD_FRAMES, draw_scene, tray_edge
from pitfalls.demo.files import Plan, exif, jpeg
from pitfalls.demo.settings import (
    CLASSES,
    DEMO_MODEL,
    FIELD_CAMERA,
    FIELD_COUNTS,
    FIELD_ODD,
    FIELD_TRUTH,
    FRAME_CLASS,
    SIZE,
)


def field_camera(img: Image.Image, rng: np.random.Generator) -> bytes:
    """The factory camera: dim light, a greenish fluorescent cast, soft focus, motion blur from the
    moving belt, high-gain sensor noise and strong JPEG compression (all camera-realistic)."""
    from scipy.ndimage import uniform_filter1d

    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.9, 1.4))))
    x = np.asarray(img, np.float32)
    x = uniform_filter1d(x, size=int(rng.integers(3, 6)), axis=1)  # belt moves left to right
    cast = np.array([0.93, 1.04, 0.74], np.float32) * rng.uniform(0.97, 1.03, 3).astype(np.float32)
    x = x * np.float32(rng.uniform(0.5, 0.62)) * cast + 6.0  # dim, tinted, a little flare
    x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(rng.uniform(5.0, 8.0))
    out = Image.fromarray(np.clip(x + 0.5, 0, 255).astype(np.uint8))
    return jpeg(out, int(rng.integers(38, 56)), exif(*FIELD_CAMERA, None))


def write_field(folder: Path, plan: Plan, rng: np.random.Generator) -> None:
    """Unlabelled frames from the factory camera, in `folder` (FIELD001-FIELD003)."""
    folder.mkdir(parents=True)
    w, h = SIZE
    shots: list[tuple[str, str]] = [(label, "fruit") for label in CLASSES
                                    for _ in range(FIELD_COUNTS[label])]
    shots += [("", what) for what, n in FIELD_ODD for _ in range(n)]
    order = rng.permutation(len(shots))
    start = datetime(2023, 9, 4, 6, 0, 0)
    truth = []
    for frame, k in enumerate(order):
        label, what = shots[int(k)]
        if what == "fruit":  # the same trays as in the lab (apples keep their blue edge), so
            img = draw_scene(rng, label, SIZE)  # only the camera differs, as the key says
            img = tray_edge(img) if label == FRAME_CLASS else img
        else:
            img = ODD_FRAMES[what](rng, w, h)
        payload = field_camera(img, rng)
        name = f"line2-{start + timedelta(seconds=37 * frame):%Y%m%d-%H%M%S}.jpg"
        (folder / name).write_bytes(payload)
        truth.append((f"../field/{name}", label, "" if what == "fruit" else what))
        if what != "fruit":
            plan.note("FIELD003", f"field/{name} is {what}", f"../field/{name}")
    # what a real project would not have: the field photos' labels, to check FIELD002 against
    with (folder.parent / "data" / FIELD_TRUTH).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "label", "odd"])
        writer.writerows(truth)
    n = len(shots)
    plan.note("FIELD001", f"field/ holds {n} photos from a {' '.join(FIELD_CAMERA)}: about 45% "
                          "darker, greenish cast, soft focus and motion blur, noise sigma 5-8, "
                          "JPEG quality 38-55 (the lab: quality 85-95)")
    plan.note("FIELD002", f"{DEMO_MODEL.name} loses accuracy under the field camera's conditions")
