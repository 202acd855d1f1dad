"""Procedural, natural-looking photos for tests: distinct scenes, and burst shots of one scene.

Each scene has a sky (or wall) gradient, a horizon (tilted, hilly), a textured ground, a few
shaded objects, directional lighting, a vignette and sensor noise, all drawn from a seed, so that
hundreds of scenes share the layout of real photos (sky above, ground below) without being copies
of each other: the hard case for a near-duplicate detector.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SKIES = [((70, 120, 200), (180, 210, 240)), ((250, 140, 60), (250, 220, 150)),
         ((120, 125, 135), (200, 200, 205)), ((15, 20, 50), (60, 60, 110)),
         ((200, 190, 170), (235, 230, 215)), ((90, 160, 220), (240, 240, 250))]
GROUNDS = [(60, 120, 40), (150, 120, 80), (90, 90, 95), (200, 190, 150), (40, 70, 50),
           (170, 160, 150), (110, 70, 40), (230, 230, 235)]


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth random texture in [-1, 1] at a random scale (grass, gravel, sand, carpet…)."""
    scale = int(rng.integers(2, 24))
    small = rng.standard_normal((max(2, h // scale + 2), max(2, w // scale + 2)))
    img = Image.fromarray(((small - small.min()) / (np.ptp(small) + 1e-9) * 255).astype(np.uint8))
    tex = np.asarray(img.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64) / 127.5 - 1
    if rng.random() < 0.4:  # stripes: fields, planks, tiles
        yy, xx = np.mgrid[0:h, 0:w]
        ang, period = rng.uniform(0, np.pi), rng.uniform(4, 30)
        tex = 0.6 * tex + 0.4 * np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / period)
    return tex


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int], amount: float) -> np.ndarray:
    return np.clip(np.asarray(colour, dtype=np.float64) + rng.normal(0, amount, 3), 0, 255)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    top, bottom = SKIES[int(rng.integers(len(SKIES)))]
    top, bottom = _jitter(rng, top, 25), _jitter(rng, bottom, 25)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    horizon = h * rng.uniform(0.2, 0.8) + (xx - w / 2) * rng.uniform(-0.3, 0.3)
    for _ in range(int(rng.integers(0, 4))):  # hills
        horizon += rng.uniform(0, h * 0.12) * np.sin(xx / w * rng.uniform(1, 8) + rng.uniform(0, 6))
    t = np.clip(yy / np.maximum(horizon, 1), 0, 1)[..., None]
    sky = top * (1 - t) + bottom * t
    ground_col = _jitter(rng, GROUNDS[int(rng.integers(len(GROUNDS)))], 30)
    depth = np.clip((yy - horizon) / np.maximum(h - horizon, 1), 0, 1)[..., None]
    ground = ground_col * (0.75 + 0.35 * depth) + 40 * rng.uniform(0.3, 1) * _texture(rng, h, w)[
        ..., None]
    return np.where((yy >= horizon)[..., None], ground, sky)


def _objects(rng: np.random.Generator, img: Image.Image, n: int) -> None:
    draw = ImageDraw.Draw(img)
    w, h = img.size
    for _ in range(n):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shade = tuple(int(c * 0.6) for c in colour)
        cx, cy = rng.uniform(0, w), rng.uniform(0.2 * h, h)
        rx, ry = rng.uniform(0.04, 0.25) * w, rng.uniform(0.04, 0.3) * h
        kind = rng.integers(3)
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        if kind == 0:
            draw.ellipse(box, fill=colour, outline=shade, width=2)
        elif kind == 1:
            draw.rectangle(box, fill=colour, outline=shade, width=2)
        else:
            pts = [(cx + rx * np.cos(a), cy + ry * np.sin(a))
                   for a in np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))]
            draw.polygon(pts, fill=colour, outline=shade)


def _light(rng: np.random.Generator, arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ang = rng.uniform(0, 2 * np.pi)
    grad = ((xx / w - 0.5) * np.cos(ang) + (yy / h - 0.5) * np.sin(ang)) * rng.uniform(0, 0.5)
    vignette = 1 - rng.uniform(0, 0.5) * (((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2)
    gain = rng.uniform(0.7, 1.2) * (1 + grad) * vignette
    return arr * gain[..., None]


def scene(seed: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """A distinct natural-looking photo (uint8 RGB, `size` = (height, width)) from a seed."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = Image.fromarray(np.clip(_background(rng, h, w), 0, 255).astype(np.uint8))
    _objects(rng, img, int(rng.integers(1, 7)))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    arr = _light(rng, np.asarray(img, dtype=np.float64))
    arr += rng.normal(0, rng.uniform(1, 6), arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def burst(seed: int, n: int = 4, size: tuple[int, int] = (96, 128),
          drift: float = 0.15) -> list[np.ndarray]:
    """`n` shots of one scene taken seconds apart: the camera drifts (up to `drift` of the frame)
    and a subject moves."""
    rng = np.random.default_rng(seed)
    h, w = size
    big_h, big_w = int(h * (1 + drift)), int(w * (1 + drift))
    base = Image.fromarray(np.clip(_background(rng, big_h, big_w), 0, 255).astype(np.uint8))
    _objects(rng, base, int(rng.integers(1, 5)))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    sx, sy = rng.uniform(0.3, 0.7) * big_w, rng.uniform(0.5, 0.8) * big_h
    r = rng.uniform(0.06, 0.12) * big_w
    gain = rng.uniform(0.8, 1.1)
    shots = []
    for _ in range(n):
        frame = base.copy()
        sx += rng.uniform(-0.3, 0.3) * drift * big_w
        ImageDraw.Draw(frame).ellipse((sx - r, sy - r, sx + r, sy + r), fill=colour)
        ox, oy = int(rng.integers(0, big_w - w + 1)), int(rng.integers(0, big_h - h + 1))
        arr = np.asarray(frame.crop((ox, oy, ox + w, oy + h)), dtype=np.float64)
        arr = arr * gain * rng.uniform(0.95, 1.05) + rng.normal(0, 3, arr.shape)
        shots.append(np.clip(arr, 0, 255).astype(np.uint8))
    return shots
