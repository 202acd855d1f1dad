"""One step per planted pitfall, each writing its photos under `data/` and noting them in the key.

The steps run in the order of `STEPS` and draw from one random generator in turn: reordering
them, or drawing more or less in one, changes every later file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from pitfalls.demo.drawing import draw_scene, tray_edge
from pitfalls.demo.files import Writer, exif, jpeg, photo_times
from pitfalls.demo.settings import (
    CAMERAS,
    CLASSES,
    FRAME_CLASS,
    FRAME_PX,
    LEMON_SIZE,
    SITES,
    SIZE,
    TEST_COUNTS,
    TRAIN_COUNTS,
)

Edit = Callable[[Image.Image], Image.Image]


def ordinary_photos(out: Writer) -> None:
    """The photos themselves, with the pitfalls that every one of them carries: a rare class
    (IMB001), a test mix unlike train's (IMB002), lemons from another camera setting (SHORT001),
    a blue tray edge around every apple (SHORT002) and a `site` column that names the class
    (SHORT003). Trays of about four photos are the declared groups, each within one split."""
    rng, plan = out.rng, out.plan
    total = sum(TRAIN_COUNTS.values()) + sum(TEST_COUNTS.values())
    times = iter(photo_times(rng, total + 16))
    tray = 0
    for split, counts in (("train", TRAIN_COUNTS), ("test", TEST_COUNTS)):
        for label in CLASSES:
            for i in range(counts[label]):
                if i % 4 == 0:
                    tray += 1
                size = LEMON_SIZE if label == "lemon" else SIZE
                img = draw_scene(rng, label, size)
                if label == FRAME_CLASS:
                    img = tray_edge(img)
                make, model = CAMERAS[int(rng.integers(0, len(CAMERAS)))]
                payload = jpeg(img, int(rng.integers(85, 96)), exif(make, model, next(times)))
                rel = out.write(split, label, out.name(label), payload, group=f"tray-{tray:03d}",
                                site=SITES[label] if rng.random() < 0.92 else
                                str(rng.choice(sorted(set(SITES.values())))),
                                camera=model)
                out.keep(split, label, (rel, img, payload))
    plan.note("IMB001", f"train counts {TRAIN_COUNTS}: plum is rare")
    plan.note("IMB002", f"test counts {TEST_COUNTS} differ from train's mix")
    plan.note("SHORT001", f"lemons are {LEMON_SIZE[0]}x{LEMON_SIZE[1]}, others {SIZE[0]}x{SIZE[1]}")
    plan.note("SHORT002", f"every {FRAME_CLASS} photo has a blue {FRAME_PX}px frame")
    plan.note("SHORT003", f"the `site` column gives the class away (92%): {SITES}")


def exact_copies(out: Writer) -> None:
    """DUP001: byte-identical copies inside train."""
    for label, k in (("lime", 3), ("lemon", 5), ("apple", 7)):
        src, _, payload = out.reuse("train", label, k)
        rel = out.write("train", label, out.name(label), payload, group=f"tray-{900 + k:03d}")
        out.plan.note("DUP001", f"{rel} is a copy of {src}", src, rel)


def one_photo_two_labels(out: Writer) -> None:
    """DUP002: one photo filed under two labels."""
    src, _, payload = out.reuse("train", "lime", 11)
    rel = out.write("train", "lemon", out.name("lemon"), payload, group="tray-950")
    out.plan.note("DUP002", f"{rel} (lemon) is the same file as {src} (lime)", src, rel)


def copies_across_splits(out: Writer) -> None:
    """LEAK001: byte-identical copies of training photos in test."""
    for label, k in (("apple", 20), ("lemon", 21), ("lime", 22)):
        src, _, payload = out.reuse("train", label, k)
        rel = out.write("test", label, out.name(label), payload, group=f"tray-{960 + k:03d}")
        out.plan.note("LEAK001", f"{rel} is a copy of {src}", src, rel)


NEAR_COPY_EDITS: dict[str, Edit] = {
    "resized to 75%": lambda im: im.resize((im.width * 3 // 4, im.height * 3 // 4),
                                            Image.Resampling.LANCZOS),
    "re-compressed at quality 55": lambda im: im,
    "cropped 4%": lambda im: im.crop((im.width // 25, im.height // 25, im.width, im.height)),
    "rotated 3 degrees": lambda im: im.rotate(3, resample=Image.Resampling.BILINEAR,
                                              expand=False, fillcolor=(60, 60, 60)),
    "brightened 12%": lambda im: ImageEnhance.Brightness(im).enhance(1.12),
    "blurred slightly": lambda im: im.filter(ImageFilter.GaussianBlur(0.8)),
}


def near_copies_across_splits(out: Writer) -> None:
    """LEAK002: edited copies of training photos in test."""
    for n, (what, edit) in enumerate(NEAR_COPY_EDITS.items()):
        label = CLASSES[n % 3]
        src, img, _ = out.reuse("train", label, 30 + n)
        quality = 55 if "quality" in what else 88
        rel = out.write("test", label, out.name(label), jpeg(edit(img), quality),
                        group=f"tray-{970 + n:03d}")
        out.plan.note("LEAK002", f"{rel} is {src} {what}", src, rel)


def trays_in_both_splits(out: Writer) -> None:
    """LEAK003: two trays photographed for both splits."""
    for label in ("apple", "lime"):
        group = f"tray-{980 + CLASSES.index(label):03d}"
        for split, n in (("train", 3), ("test", 2)):
            for _ in range(n):
                img = draw_scene(out.rng, label, SIZE)
                img = tray_edge(img) if label == FRAME_CLASS else img
                rel = out.write(split, label, out.name(label), jpeg(img), group=group)
                out.plan.paths.setdefault("LEAK003", []).append(rel)
        out.plan.note("LEAK003", f"group {group} ({label}) has photos in train and test")


def burst_across_splits(out: Writer) -> None:
    """LEAK004: a burst session with consecutive names, one camera, seconds apart, across
    splits."""
    burst_seed = int(out.rng.integers(0, 2**31))
    start = datetime(2023, 6, 14, 10, 21, 3)
    for n in range(8):
        shot = np.random.default_rng(burst_seed)  # the same scene each time ...
        img = draw_scene(shot, "lime", SIZE, shift=(n * 4.0, n * -1.5))  # ... the camera moves
        img = ImageEnhance.Brightness(img).enhance(1.0 + 0.02 * (n % 3))
        split = "train" if n < 5 else "test"
        rel = out.write(split, "lime", f"IMG_{1041 + n}.jpg",
                        jpeg(img, 92, exif("Canon", "Canon EOS 80D",
                                           start + timedelta(seconds=2 * n))),
                        group=f"tray-{990 + n:03d}", camera="Canon EOS 80D")
        out.plan.note("LEAK004", f"{rel}: burst shot {n + 1}/8 at +{2 * n}s", rel)


def broken_files(out: Writer) -> None:
    """QUAL001: files with image names that are not images (truncated, empty, text)."""
    _, _, payload = out.reuse("train", "apple", 40)
    broken = [
        out.write("train", "apple", out.name("apple"), payload[: len(payload) * 2 // 5],
                  group="tray-996"),
        out.write("train", "lemon", out.name("lemon"), b"", group="tray-997"),
        out.write("train", "lime", out.name("lime"),
                  b"upload failed: 504 Gateway Time-out\nretry later\n", group="tray-998"),
    ]
    out.plan.note("QUAL001", f"{broken[0]} is truncated, {broken[1]} has zero bytes, "
                             f"{broken[2]} is a text file named .jpg", *broken)


POOR_PHOTOS: dict[str, tuple[str, Edit]] = {
    "dark": ("apple", lambda im: ImageEnhance.Brightness(im).enhance(0.12)),
    "over-exposed": ("lemon", lambda im: im.point(lambda v: 243 + v * 12 // 255)),  # blown out
    "blurry": ("lime", lambda im: im.filter(ImageFilter.GaussianBlur(7))),
    "tiny": ("apple", lambda im: im.resize((40, 30), Image.Resampling.LANCZOS)),
    "odd-aspect": ("lemon", lambda im: im.crop((0, im.height * 2 // 5, im.width,
                                                im.height * 2 // 5 + im.height // 8))),
    "grayscale": ("lime", lambda im: ImageOps.grayscale(im)),
}


def poor_photos(out: Writer) -> None:
    """The image-quality rules' cases: dark, over-exposed, blurry, tiny, odd-aspect, grey."""
    for what, (label, edit) in POOR_PHOTOS.items():
        img = draw_scene(out.rng, label, LEMON_SIZE if label == "lemon" else SIZE)
        img = tray_edge(img) if label == FRAME_CLASS else img
        rel = out.write("train", label, out.name(label), jpeg(edit(img)), group="tray-999")
        out.plan.note("QUAL", f"{rel} is {what}", rel)


def sideways_photo(out: Writer) -> None:
    """A photo stored sideways, upright only when its EXIF orientation is applied."""
    img = tray_edge(draw_scene(out.rng, "apple", SIZE))
    stored = img.transpose(Image.Transpose.ROTATE_90)
    rel = out.write("train", "apple", out.name("apple"),
                    jpeg(stored, 90, exif("Apple", "iPhone 13", None, orientation=6)),
                    group="tray-999", camera="iPhone 13")
    out.plan.note("QUAL", f"{rel} is stored sideways with EXIF orientation 6", rel)


STEPS: tuple[Callable[[Writer], None], ...] = (
    ordinary_photos, exact_copies, one_photo_two_labels, copies_across_splits,
    near_copies_across_splits, trays_in_both_splits, burst_across_splits, broken_files,
    poor_photos, sideways_photo,
)
"""The planting steps, in the order they draw from the random generator."""
