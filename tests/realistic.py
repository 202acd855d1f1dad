"""Realistic calibration datasets: 512x384 JPEGs (quality 85-95) of four fruit classes on varied
backgrounds, and the shortcuts that can be planted in them.

Each photo is one of three background types: a conveyor belt (the demo's `draw_scene`), an
outdoor scene (`scenes.scene`) or a tile of one of scikit-learn's two bundled sample photos
(upscaled, so soft, like many web images); a class's fruit (shape and colour) is painted on it
with the demo's shaded `fruit`. Classes differ in their object and in how often each background
occurs, as real classes do. Every photo is unique (the photo tiles do not overlap).

`build(root, plant=..., seed=...)` writes `root/<split>/<class>/IMG_nnnn.jpg` and returns the
path of a manifest (`manifest.csv`, with a `site` column) describing the files.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter
from scenes import scene

from pitfalls.demo.drawing import draw_scene, fruit

CLASSES = ("apple", "lemon", "lime", "plum")
SIZE = (512, 384)
BACKGROUNDS = ("belt", "outdoor", "tile")
MIX = {  # share of each background type per class
    "apple": (0.5, 0.4, 0.1),
    "lemon": (0.6, 0.3, 0.1),
    "lime": (0.3, 0.6, 0.1),
    "plum": (0.4, 0.45, 0.15),
}
PLANTS = ("clean", "frame6", "frame3", "frame30", "frame_close", "letterbox", "pillarbox",
          "logo", "timestamp", "quality", "resolution", "site")
"""What `build` can plant on the target class (`clean`: nothing)."""
TARGET = "apple"


@functools.lru_cache(maxsize=1)
def sample_tiles() -> tuple[np.ndarray, ...]:
    """Disjoint 213x142 tiles of scikit-learn's two sample photos (18 in all)."""
    from sklearn.datasets import load_sample_images

    tiles = []
    for photo in load_sample_images().images:
        h, w = photo.shape[:2]
        th, tw = h // 3, w // 3
        tiles += [photo[r * th:(r + 1) * th, c * tw:(c + 1) * tw] for r in range(3)
                  for c in range(3)]
    return tuple(tiles)


def _light() -> np.ndarray:
    v = np.array([0.3, -0.4, 0.85])
    return v / np.linalg.norm(v)


def base_photo(label: str, k: int, seed: int, size: tuple[int, int] = SIZE,
               tiles: list[np.ndarray] | None = None) -> Image.Image:
    """A unique photo of class `label` (the k-th of the dataset) at `size` (width, height)."""
    rng = np.random.default_rng([seed, k])
    w, h = size
    kind = BACKGROUNDS[int(rng.choice(3, p=MIX[label]))]
    if kind == "tile" and not tiles:
        kind = "outdoor"
    if kind == "belt":
        return draw_scene(rng, label, size)
    if kind == "outdoor":
        img = scene(int(rng.integers(1 << 30)), (h, w)).astype(np.float32)
    else:
        tile = Image.fromarray(tiles.pop())
        if rng.random() < 0.5:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        img = np.asarray(tile.resize(size, Image.Resampling.BICUBIC), np.float32)
        img = img + rng.normal(0, 2.0, img.shape).astype(np.float32)
    stems = Image.new("L", (w, h), 0)
    lo, hi = {"apple": (0.16, 0.22), "lemon": (0.13, 0.18), "lime": (0.12, 0.16),
              "plum": (0.11, 0.15)}[label]
    for _ in range(int(rng.integers(1, 3))):
        r = rng.uniform(lo, hi) * h
        cx, cy = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.3 * h, 0.8 * h)
        fruit(img, rng, label, cx, cy, r, rng.uniform(0, np.pi), _light(), stems)
    return Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))


# -- plants ---------------------------------------------------------------------------------------

def framed(img: Image.Image, px: int, colour: tuple[int, int, int]) -> Image.Image:
    """A solid frame `px` wide painted over the photo's edge."""
    out = img.copy()
    w, h = out.size
    ImageDraw.Draw(out).rectangle((0, 0, w - 1, h - 1), outline=colour, width=px)
    return out


def boxed(img: Image.Image, bars: str, share: float = 0.125) -> Image.Image:
    """Letterbox (black bars top and bottom) or pillarbox (left and right): the photo is
    shrunk into the middle, as when a video frame or a portrait photo is padded."""
    w, h = img.size
    canvas = Image.new("RGB", (w, h), (0, 0, 0))
    if bars == "letterbox":
        bh = round(h * share)
        canvas.paste(img.resize((w, h - 2 * bh), Image.Resampling.LANCZOS), (0, bh))
    else:
        bw = round(w * share)
        canvas.paste(img.resize((w - 2 * bw, h), Image.Resampling.LANCZOS), (bw, 0))
    return canvas


def logo(img: Image.Image) -> Image.Image:
    """A small semi-transparent white watermark (a badge with a mark) in the bottom-right corner."""
    w, h = img.size
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(overlay)
    x0, y0 = w - 96, h - 40
    d.rounded_rectangle((x0, y0, w - 10, h - 10), radius=6, fill=(255, 255, 255, 150))
    d.ellipse((x0 + 6, y0 + 5, x0 + 26, y0 + 25), fill=(200, 30, 30, 220))
    d.text((x0 + 32, y0 + 8), "FOTO", fill=(40, 40, 40, 230))
    return Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")


def timestamp(img: Image.Image, k: int) -> Image.Image:
    """An orange date burned into the bottom-right corner, as old cameras print it."""
    out = img.copy()
    w, h = out.size
    text = f"'{98 + k % 2:02d} {1 + k % 12:2d} {1 + k % 28:2d}"[-10:]
    d = ImageDraw.Draw(out)
    for dx in range(2):  # a bolder stroke than the default bitmap font
        d.text((w - 90 + dx, h - 26), text, fill=(255, 150, 40))
    return out.filter(ImageFilter.SMOOTH) if k % 3 == 0 else out


@functools.lru_cache(maxsize=4)
def photos(seed: int, per_class: int, size: tuple[int, int],
           classes: tuple[str, ...]) -> tuple[tuple[str, int, int, Image.Image], ...]:
    """(label, index in class, index in dataset, photo) for every image (cached: variants of one
    dataset differ only in what is planted)."""
    tiles = list(sample_tiles())
    np.random.default_rng([seed, 98]).shuffle(tiles)
    out, k = [], 0
    for label in classes:
        for i in range(per_class):
            k += 1
            out.append((label, i, k, base_photo(label, k, seed, size, tiles)))
    return tuple(out)


def build(root: Path, plant: str = "clean", seed: int = 0, per_class: int = 40,
          size: tuple[int, int] = SIZE, classes: tuple[str, ...] = CLASSES) -> Path:
    """Write a dataset with `plant` on class TARGET; returns the path of its manifest."""
    if plant not in PLANTS:
        raise ValueError(f"unknown plant {plant!r}")
    rng = np.random.default_rng([seed, 99])
    rows = []
    for label, i, k, img in photos(seed, per_class, size, classes):
        quality = int(rng.integers(85, 96))
        target = label == TARGET
        if target and plant.startswith("frame") and plant != "frame_close":
            img = framed(img, int(plant[5:]), (250, 200, 0))
        elif target and plant == "frame_close":
            mean = np.asarray(img, np.float32).reshape(-1, 3).mean(axis=0)
            img = framed(img, 6, tuple(int(v) for v in mean))
        elif target and plant in ("letterbox", "pillarbox"):
            img = boxed(img, plant)
        elif target and plant == "logo":
            img = logo(img)
        elif target and plant == "timestamp":
            img = timestamp(img, k)
        elif target and plant == "quality":
            quality = 70
        elif target and plant == "resolution":
            img = img.resize((640, 480), Image.Resampling.LANCZOS)
        split = "test" if i % 5 == 0 else "train"
        rel = f"{split}/{label}/IMG_{k:04d}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(root / rel, quality=quality)
        site = (("orchard" if i % 10 else "lab1") if target and plant == "site"
                else f"lab{int(rng.integers(3))}")
        rows.append({"path": rel, "label": label, "split": split, "site": site})
    out = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(out, index=False)
    return out
