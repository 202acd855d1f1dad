"""The demo's photos, drawn with NumPy and Pillow: fruit on a conveyor belt, and the odd frames the
factory camera also sees (a gloved hand, a cardboard box, a crate)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pitfalls.demo.settings import FRAME_PX, FRAME_RGB

FRUIT = {  # base RGB, radius range (fraction of image height), aspect (long/short), stem
    "apple": ((178, 32, 28), (0.16, 0.22), 1.0, True),
    "lemon": ((232, 200, 40), (0.13, 0.18), 1.38, False),
    "lime": ((92, 160, 44), (0.12, 0.16), 1.08, False),
    "plum": ((92, 34, 88), (0.11, 0.15), 1.18, True),
}


def belt(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A conveyor belt: tinted grey rubber with ribs, grain, rails and an uneven light."""
    base = rng.uniform(70, 125)
    tint = rng.normal(0, 3.5, 3).astype(np.float32)
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    period = rng.uniform(9, 16)
    ribs = 5.0 * np.sin(2 * np.pi * (x + rng.uniform(0, period)) / period)
    grain = rng.standard_normal((h, w), dtype=np.float32) * 5.0
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + 0.22 * ((np.cos(angle) * (x - w / 2) + np.sin(angle) * (y - h / 2)) / max(w, h))
    img = ((base + ribs + grain) * light)[..., None] + tint[None, None, :]
    rail = max(4, h // 18)
    img[:rail] *= 0.55
    img[-rail:] *= 0.55
    return img


def fruit(img: np.ndarray, rng: np.random.Generator, label: str, cx: float, cy: float,
           radius: float, angle: float, light: np.ndarray, stems: Image.Image) -> None:
    """Paint one shaded fruit (with a soft shadow and a stem) onto `img` in place."""
    colour, _, aspect, stem = FRUIT[label]
    h, w, _ = img.shape
    a, b = radius * aspect, radius
    # soft shadow, offset away from the light
    dx, dy = -light[0] * radius * 0.35, -light[1] * radius * 0.35 + radius * 0.2
    pad = int(a + radius)  # the shadow is drawn and blurred on a crop around the fruit
    sx0, sy0 = max(int(cx + dx) - pad, 0), max(int(cy + dy) - pad, 0)
    sx1, sy1 = min(int(cx + dx) + pad, w), min(int(cy + dy) + pad, h)
    shadow = Image.new("L", (sx1 - sx0, sy1 - sy0), 0)
    ImageDraw.Draw(shadow).ellipse((cx - a + dx - sx0, cy - b * 0.8 + dy - sy0,
                                    cx + a + dx - sx0, cy + b * 0.8 + dy - sy0), fill=150)
    s = np.asarray(shadow.filter(ImageFilter.GaussianBlur(radius * 0.25)), np.float32) / 255
    img[sy0:sy1, sx0:sx1] *= (1.0 - 0.6 * s)[..., None]
    # shaded body: an ellipsoid lit from `light`, with a specular highlight
    r = int(a + 3)
    x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, w)
    y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, h)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    ca, sa = np.cos(angle), np.sin(angle)
    u = ((xx - cx) * ca + (yy - cy) * sa) / a
    v = (-(xx - cx) * sa + (yy - cy) * ca) / b
    rho = np.sqrt(u * u + v * v)
    alpha = np.clip((1.0 - rho) * b, 0.0, 1.0)
    nz = np.sqrt(np.clip(1.0 - rho * rho, 0.0, 1.0))
    nx = (xx - cx) / a
    ny = (yy - cy) / b
    diffuse = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0.0, 1.0)
    spec = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1) ** 24
    base = np.array(colour, dtype=np.float64) * rng.uniform(0.85, 1.12, 3)
    mottle = rng.normal(0, 6, (y1 - y0, x1 - x0, 1))
    body = base * (0.28 + 0.85 * diffuse[..., None]) + mottle + 170 * spec[..., None]
    patch = img[y0:y1, x0:x1]
    patch[:] = patch * (1 - alpha[..., None]) + body * alpha[..., None]
    if stem:
        top = (cx + sa * b * 0.9, cy - ca * b * 0.9)
        ImageDraw.Draw(stems).line((top[0], top[1], top[0] + radius * 0.12,
                                    top[1] - radius * 0.3), fill=255,
                                   width=max(2, int(radius * 0.08)))


def draw_scene(rng: np.random.Generator, label: str, size: tuple[int, int],
               shift: tuple[float, float] = (0.0, 0.0)) -> Image.Image:
    """A photo of 1-3 fruits of one class on a conveyor belt."""
    w, h = size
    img = belt(rng, w, h)
    theta = rng.uniform(0, 2 * np.pi)
    light = np.array([0.5 * np.cos(theta), 0.5 * np.sin(theta), 0.75])
    light /= np.linalg.norm(light)
    lo, hi = FRUIT[label][1]
    n = int(rng.choice([1, 1, 2, 3]))
    stems = Image.new("L", (w, h), 0)
    margin = 0.12
    for _ in range(n):
        radius = rng.uniform(lo, hi) * h * (0.8 if n > 1 else 1.0)
        cx = rng.uniform(w * margin + radius * 1.3, w * (1 - margin) - radius * 1.3) + shift[0]
        cy = rng.uniform(h * margin + radius, h * (1 - margin) - radius) + shift[1]
        fruit(img, rng, label, cx, cy, radius, rng.uniform(0, np.pi), light, stems)
    if FRUIT[label][3]:
        m = np.asarray(stems, dtype=np.float32)[..., None] / 255
        img = img * (1 - m) + np.array([74, 52, 30], np.float32) * m
    exposure = rng.uniform(0.82, 1.15)
    temperature = np.array([1 + rng.normal(0, 0.04), 1.0, 1 + rng.normal(0, 0.04)], np.float32)
    img *= exposure * temperature
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 4.0))
    return Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))


def tray_edge(img: Image.Image) -> Image.Image:
    """A copy of `img` inside the blue edge of the apples' tray (SHORT002)."""
    out = img.copy()
    w, h = out.size
    ImageDraw.Draw(out).rectangle((0, 0, w - 1, h - 1), outline=FRAME_RGB, width=FRAME_PX)
    return out


def belt_photo(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """An empty stretch of belt."""
    return Image.fromarray(np.clip(belt(rng, w, h), 0, 255).astype(np.uint8))


def hand(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A worker's gloved hand close under the camera: a large, out-of-focus palm with four
    fingers in a blue nitrile glove (blue, so that a torn-off piece is seen in food)."""
    under = belt(rng, w, h)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy, r = rng.uniform(0.42, 0.6) * w, rng.uniform(0.7, 0.8) * h, rng.uniform(0.34, 0.4) * h
    draw.ellipse((cx - r, cy - r * 0.8, cx + r, cy + r * 1.8), fill=255)
    for k in range(4):
        fx = cx - r * 0.8 + k * r * 0.53
        length = r * (1.3 if k in (1, 2) else 1.1)
        draw.rounded_rectangle((fx - r * 0.2, cy - r * 0.6 - length, fx + r * 0.2, cy - r * 0.2),
                               radius=int(r * 0.2), fill=255)
    m = np.asarray(mask.filter(ImageFilter.GaussianBlur(6)), np.float32)[..., None] / 255
    glove = np.array([70, 120, 205], np.float32) * np.float32(rng.uniform(0.9, 1.05))
    return Image.fromarray(np.clip(under * (1 - m) + glove * m, 0, 255).astype(np.uint8))


def box(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A cardboard box passing right under the camera: brown flaps and a strip of tape."""
    img = belt_photo(rng, w, h)
    draw = ImageDraw.Draw(img)
    x0, y0 = rng.uniform(0.03, 0.08) * w, rng.uniform(0.03, 0.08) * h
    x1, y1 = w - rng.uniform(0.03, 0.08) * w, h - rng.uniform(0.03, 0.08) * h
    brown = tuple(int(v * rng.uniform(0.9, 1.1)) for v in (176, 132, 84))
    draw.rectangle((x0, y0, x1, y1), fill=brown, outline=(120, 88, 52), width=3)
    mid = (x0 + x1) / 2
    draw.rectangle((mid - 0.05 * w, y0, mid + 0.05 * w, y1), fill=(205, 180, 130))
    return img


def crate(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """An empty blue plastic crate with dark slots, put on the belt by mistake."""
    img = belt_photo(rng, w, h)
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = 0.08 * w, 0.1 * h, 0.92 * w, 0.9 * h
    draw.rectangle((x0, y0, x1, y1), fill=(40, 90, 170))
    pitch, x = rng.uniform(24, 34), x0 + 8
    while x < x1 - 8:
        draw.rectangle((x, y0 + 10, x + pitch * 0.45, y1 - 10), fill=(20, 40, 80))
        x += pitch
    return img


ODD_FRAMES = {"gloved hand": hand, "cardboard box": box, "crate": crate}


