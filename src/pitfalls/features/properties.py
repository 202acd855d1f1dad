"""Image properties as small pure functions of an 8-bit RGB array (or its float luma)."""

from __future__ import annotations

import numpy as np
from PIL import Image

WORK_SIDE = 256
"""Properties are measured on a copy whose longer side is at most this many pixels."""

BORDER_FRACTION = 0.08
"""Share of each side taken as the border region."""


def working_copy(rgb: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """Downscale (area-averaging) so the longer side is at most `side`; returns float32 RGB 0–1."""
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    img = Image.fromarray(rgb)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = img.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    return np.asarray(img, dtype=np.float32) / 255.0


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of a float RGB array."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def exposure(gray: np.ndarray) -> dict[str, float]:
    """Brightness (mean luma), its 5th/95th percentiles, contrast (std) and clipped shares."""
    p05, p50, p95 = np.percentile(gray, [5, 50, 95])
    return {
        "brightness": float(gray.mean()),
        "brightness_p05": float(p05),
        "brightness_p50": float(p50),
        "brightness_p95": float(p95),
        "contrast": float(gray.std()),
        "clipped_dark": float((gray <= 2 / 255).mean()),
        "clipped_light": float((gray >= 253 / 255).mean()),
    }


def colour(rgb: np.ndarray) -> dict[str, float]:
    """Mean channels, saturation, colourfulness (Hasler–Süsstrunk), cast, and grayscale-ness."""
    r, g, b = (np.ascontiguousarray(rgb[..., k]) for k in range(3))
    mx, mn = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    spread = mx - mn
    sat = spread / np.maximum(mx, 1e-6)
    rg, yb = r - g, 0.5 * (r + g) - b
    colourfulness = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    return {
        "mean_r": float(r.mean()),
        "mean_g": float(g.mean()),
        "mean_b": float(b.mean()),
        "saturation": float(sat.mean()),
        "colourfulness": colourfulness,
        "cast_rg": float(rg.mean()),
        "cast_yb": float(yb.mean()),
        "max_channel_diff": float(spread.max()),
    }


def sharpness(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian (higher is sharper), on 0–255 luma."""
    g = gray * 255.0
    if min(g.shape) < 3:
        return 0.0
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def edge_density(gray: np.ndarray) -> float:
    """Share of pixels whose gradient magnitude exceeds a fixed threshold (on 0–1 luma)."""
    if min(gray.shape) < 2:
        return 0.0
    gx = np.abs(np.diff(gray, axis=1))[:-1, :]
    gy = np.abs(np.diff(gray, axis=0))[:, :-1]
    return float(((gx + gy) > 0.08).mean())


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkær's fast estimate of Gaussian noise sigma, on 0–255 luma."""
    h, w = gray.shape
    if h < 3 or w < 3:
        return 0.0
    g = gray * 255.0
    m = (
        g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:]
        - 2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1] - 2 * g[1:-1, 2:]
        + g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:]
    )
    return float(np.sqrt(np.pi / 2.0) * np.abs(m).sum() / (6.0 * (w - 2) * (h - 2)))


def entropy(gray: np.ndarray) -> float:
    """Shannon entropy (bits) of the 256-bin luma histogram: low means little information."""
    hist = np.bincount(np.clip(gray * 255.0, 0, 255).astype(np.uint8).ravel(), minlength=256)
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum())


def border(rgb: np.ndarray, fraction: float = BORDER_FRACTION) -> dict[str, float]:
    """Statistics of the outer ring (each side's mean colour, the ring's spread and uniformity)."""
    h, w = rgb.shape[:2]
    bh, bw = max(1, round(h * fraction)), max(1, round(w * fraction))
    sides = {
        "top": rgb[:bh, :, :],
        "bottom": rgb[h - bh:, :, :],
        "left": rgb[:, :bw, :],
        "right": rgb[:, w - bw:, :],
    }
    out: dict[str, float] = {}
    for name, part in sides.items():
        mean = part.reshape(-1, 3).mean(axis=0)
        for ch, value in zip("rgb", mean, strict=True):
            out[f"border_{name}_{ch}"] = float(value)
        out[f"border_{name}_std"] = float(part.reshape(-1, 3).std(axis=0).mean())
    ring = np.concatenate([p.reshape(-1, 3) for p in sides.values()])
    out["border_std"] = float(ring.std(axis=0).mean())
    out["border_sat"] = float(np.ptp(ring, axis=1).mean())
    if h > 2 * bh and w > 2 * bw:
        inner_mean = rgb[bh:h - bh, bw:w - bw].mean(axis=(0, 1))
        out["border_vs_centre"] = float(np.abs(ring.mean(axis=0) - inner_mean).mean())
    else:
        out["border_vs_centre"] = 0.0
    return out


FRAME_DEPTH = 2
"""Pixels (at full resolution) of the outermost ring measured by `frame`."""


def frame(rgb: np.ndarray, depth: int = FRAME_DEPTH) -> dict[str, float]:
    """The outermost ring at full resolution: mean colour, spread, and how many sides are flat.

    A painted frame or letterbox (even a few pixels wide) makes this ring nearly constant, which
    the 8 % border strip of `border` dilutes; photos almost never have four flat edges.
    """
    h, w = rgb.shape[:2]
    d = max(1, min(depth, h // 4, w // 4))
    sides = [rgb[:d], rgb[h - d:], rgb[:, :d], rgb[:, w - d:]]
    flat = [s.reshape(-1, 3).astype(np.float32) / 255.0 for s in sides]
    ring = np.concatenate(flat)
    mean = ring.mean(axis=0)
    stds = [float(s.std(axis=0).mean()) for s in flat]
    return {
        "frame_r": float(mean[0]),
        "frame_g": float(mean[1]),
        "frame_b": float(mean[2]),
        "frame_std": float(ring.std(axis=0).mean()),
        "frame_flat_sides": float(sum(s < 0.02 for s in stds)),
    }


def image_properties(work: np.ndarray) -> dict[str, float]:
    """Every property of a working copy (float RGB 0–1), as one flat dict."""
    gray = luma(work)
    props: dict[str, float] = {}
    props.update(exposure(gray))
    props.update(colour(work))
    props["sharpness"] = sharpness(gray)
    props["edge_density"] = edge_density(gray)
    props["noise"] = noise_sigma(gray)
    props["entropy"] = entropy(gray)
    props.update(border(work))
    return props
