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


# Hard negatives: distinct images that share one coarse layout (what a 10x10 description of the
# image cannot tell apart). Each family draws a new individual per seed.


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int,
                  amount: float) -> np.ndarray:
    """A smooth random field in [-amount, amount] (bicubic upsampling of a coarse random grid)."""
    small = rng.uniform(-1, 1, (cells, cells))
    img = Image.fromarray(((small + 1) * 127.5).astype(np.uint8))
    return (np.asarray(img.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64) / 127.5
            - 1) * amount


def product(seed: int, size: tuple[int, int] = (128, 128)) -> np.ndarray:
    """A product shot: one object (shape, colour, printed label or texture) centred, give or take a
    few percent, on a plain white or light-grey background with a soft shadow."""
    rng = np.random.default_rng(seed)
    h, w = size
    bg = float(rng.choice([255, 250, 242, 232]))
    img = Image.new("RGB", (w, h), (int(bg),) * 3)
    draw = ImageDraw.Draw(img)
    cx, cy = w * rng.uniform(0.46, 0.54), h * rng.uniform(0.46, 0.54)
    rx, ry = w * rng.uniform(0.18, 0.32), h * rng.uniform(0.2, 0.36)
    shadow = tuple(int(bg * 0.8) for _ in range(3))
    draw.ellipse((cx - rx, cy + ry * 0.8, cx + rx, cy + ry * 1.1), fill=shadow)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    box = (cx - rx, cy - ry, cx + rx, cy + ry)
    kind = int(rng.integers(4))
    if kind == 0:
        draw.ellipse(box, fill=colour)
    elif kind == 1:
        draw.rounded_rectangle(box, radius=int(min(rx, ry) * rng.uniform(0.1, 0.6)), fill=colour)
    elif kind == 2:  # bottle: body and neck
        draw.rounded_rectangle((cx - rx * 0.6, cy - ry * 0.4, cx + rx * 0.6, cy + ry), radius=6,
                               fill=colour)
        draw.rectangle((cx - rx * 0.2, cy - ry, cx + rx * 0.2, cy - ry * 0.4), fill=colour)
    else:
        pts = [(cx + rx * np.cos(a), cy + ry * np.sin(a))
               for a in np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 9))))]
        draw.polygon(pts, fill=colour)
    arr = np.asarray(img, dtype=np.float64)
    mask = (np.abs(arr - np.asarray(colour, dtype=np.float64)).sum(axis=2) < 1)[..., None]
    tex = _texture(rng, h, w)[..., None] * rng.uniform(10, 45)
    label = np.zeros((h, w, 1))
    if rng.random() < 0.7:  # a printed label: a band of text-like marks
        yy, xx = np.mgrid[0:h, 0:w]
        top = cy + ry * rng.uniform(-0.3, 0.1)
        band = (yy > top) & (yy < top + ry * rng.uniform(0.3, 0.6)) & (np.abs(xx - cx) < rx * 0.5)
        marks = rng.random((h // 3 + 1, w // 2 + 1)) < 0.4
        band &= marks[yy // 3, xx // 2]
        label[band] = rng.uniform(-120, 120)
    arr = np.where(mask, arr + tex + label, arr)
    shade = 1 - 0.25 * np.clip((np.mgrid[0:h, 0:w][1] - cx) / max(rx, 1), -1, 1)[..., None]
    arr = np.where(mask, arr * shade, arr)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    arr = np.asarray(out, dtype=np.float64) + rng.normal(0, rng.uniform(0.5, 3), (h, w, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def xray(seed: int, size: tuple[int, int] = (128, 128)) -> np.ndarray:
    """A grayscale chest-X-ray-like image: the same anatomy (lungs, spine, ribs, heart, clavicles)
    for every seed, deformed smoothly and with its own tissue texture and noise: a new patient."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    y = yy / h + _smooth_field(rng, h, w, 4, 0.04)  # anatomy coordinates, deformed
    x = xx / w + _smooth_field(rng, h, w, 4, 0.04)
    body = 0.55 + 0.1 * rng.uniform(-1, 1)
    img = np.full((h, w), 0.1) + body * (np.abs(x - 0.5) < 0.45 + 0.03 * rng.uniform(-1, 1))
    for side in (-1, 1):  # lungs: dark ellipses
        lx, ly = 0.5 + side * rng.uniform(0.17, 0.21), rng.uniform(0.47, 0.53)
        ax, ay = rng.uniform(0.12, 0.16), rng.uniform(0.27, 0.33)
        inside = ((x - lx) / ax) ** 2 + ((y - ly) / ay) ** 2 < 1
        img -= 0.35 * inside
        for k in range(9):  # ribs: bright arcs crossing the lungs
            ry = 0.25 + k * 0.055 + rng.uniform(-0.01, 0.01)
            arc = ry + 0.12 * ((x - 0.5) * side) ** 2 * 4
            img += 0.12 * (np.abs(y - arc) < 0.011) * inside
    img += 0.25 * (np.abs(x - 0.5) < 0.035)  # spine
    img += 0.2 * (((x - 0.53) / rng.uniform(0.12, 0.16)) ** 2
                  + ((y - 0.68) / rng.uniform(0.1, 0.14)) ** 2 < 1)  # heart
    for side in (-1, 1):  # clavicles
        img += 0.2 * (np.abs(y - (0.2 + 0.15 * np.abs(x - 0.5))) < 0.012) * (
            np.abs(x - 0.5 - side * 0.18) < 0.16)
    img += 0.08 * _texture(rng, h, w) + _smooth_field(rng, h, w, 6, 0.06)  # tissue
    img = np.asarray(Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0.5, 1.0))), dtype=np.float64)
    img += rng.normal(0, rng.uniform(2, 6), img.shape)
    gray = np.clip(img, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def document(seed: int, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """A scanned page: margins, a title, paragraphs of text-like word marks, sometimes a figure;
    every page has the same layout and different words."""
    rng = np.random.default_rng(seed)
    h, w = size
    paper = int(rng.integers(235, 256))
    img = Image.new("L", (w, h), paper)
    draw = ImageDraw.Draw(img)
    left, right = int(w * rng.uniform(0.1, 0.13)), int(w * rng.uniform(0.87, 0.9))
    y = int(h * rng.uniform(0.08, 0.11))
    line = max(3, int(h * 0.03))
    title_w = int((right - left) * rng.uniform(0.4, 0.8))
    draw.rectangle((left, y, left + title_w, y + line + 1), fill=int(rng.integers(0, 60)))
    y += 3 * line
    while y < h * 0.9:
        x = left + (int(rng.integers(2, 6)) if rng.random() < 0.2 else 0)
        end = right if rng.random() > 0.15 else int(left + (right - left) * rng.uniform(0.2, 0.9))
        while x < end:
            word = int(rng.integers(2, 9)) * max(1, w // 80)
            draw.rectangle((x, y, min(x + word, end), y + line - 2), fill=int(rng.integers(0, 90)))
            x += word + max(1, w // 60)
        y += int(line * rng.uniform(1.5, 1.9))
        if rng.random() < 0.12:
            y += line
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7))), dtype=np.float64)
    arr = arr + rng.normal(0, rng.uniform(1, 4), arr.shape)
    gray = np.clip(arr, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def horizon(seed: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """A landscape with the horizon at the same height and the same sky and ground colours as every
    other seed (one photographer's series from one spot of a flat coast): only the sky's clouds,
    the ground's texture and small features differ."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy = np.mgrid[0:h, 0:w][0].astype(np.float64)
    level = h * (0.5 + rng.uniform(-0.02, 0.02))
    t = np.clip(yy / level, 0, 1)[..., None]
    sky = np.array([80.0, 130, 200]) * (1 - t) + np.array([190.0, 215, 240]) * t
    sky = sky + 25 * np.clip(_texture(rng, h, w), 0, 1)[..., None]  # clouds
    depth = np.clip((yy - level) / (h - level), 0, 1)[..., None]
    ground = np.array([90.0, 110, 70]) * (0.8 + 0.3 * depth) + 30 * _texture(rng, h, w)[..., None]
    arr = np.where((yy >= level)[..., None], ground, sky)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 4))):  # small trees, rocks, posts
        x, base = rng.uniform(0, w), level + rng.uniform(0, 0.3 * h)
        r = rng.uniform(0.015, 0.05) * w
        col = tuple(int(c) for c in _jitter(rng, (50, 60, 40), 20))
        draw.ellipse((x - r, base - 2 * r, x + r, base), fill=col)
    arr = np.asarray(img, dtype=np.float64) + rng.normal(0, rng.uniform(1, 4), (h, w, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


HARD_FAMILIES = {"product": product, "xray": xray, "document": document, "horizon": horizon}
"""Families of distinct images with one shared coarse layout (seed -> uint8 RGB image)."""
