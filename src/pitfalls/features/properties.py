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


def luma_histogram(gray: np.ndarray) -> np.ndarray:
    """256-bin histogram of 0–1 luma, the basis of the exposure percentiles and the entropy."""
    return np.bincount((np.clip(gray, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).ravel(),
                       minlength=256)


def _hist_percentiles(hist: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    cdf = np.cumsum(hist) / max(int(hist.sum()), 1)
    return [float(np.searchsorted(cdf, q) / 255.0) for q in qs]


def exposure(gray: np.ndarray, hist: np.ndarray | None = None) -> dict[str, float]:
    """Brightness (mean luma), its 5th/50th/95th percentiles, contrast (std), clipped shares."""
    hist = luma_histogram(gray) if hist is None else hist
    p05, p50, p95 = _hist_percentiles(hist, (0.05, 0.5, 0.95))
    n = max(int(hist.sum()), 1)
    return {
        "brightness": float(gray.mean()),
        "brightness_p05": p05,
        "brightness_p50": p50,
        "brightness_p95": p95,
        "contrast": float(gray.std()),
        "clipped_dark": float(hist[:3].sum() / n),
        "clipped_light": float(hist[253:].sum() / n),
    }


def colour(rgb: np.ndarray, spread: np.ndarray | None = None) -> dict[str, float]:
    """Mean channels, saturation, colourfulness (Hasler–Süsstrunk), cast, and grayscale-ness.

    `spread` (per-pixel max minus min over channels) is computed when not given.
    """
    r, g, b = (np.ascontiguousarray(rgb[..., k]) for k in range(3))
    mx = np.maximum(np.maximum(r, g), b)
    if spread is None:
        spread = mx - np.minimum(np.minimum(r, g), b)
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


def channel_spread(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel max minus min over the three channels (0 for gray pixels)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)


def sharpness(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian (higher is sharper), on 0–255 luma."""
    g = gray * 255.0
    if min(g.shape) < 3:
        return 0.0
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def fine_detail(gray: np.ndarray) -> float:
    """Scale-relative blur measure: the finest band's detail over the next coarser band's.

    The variance of second differences on the working copy, divided by the same on a 2x2-box
    half-size copy, along rows and along columns; the smaller of the two is returned (so blur
    along one direction counts). Because both bands come from one image, the ratio does not
    depend on how much the scene contains (few edges make both small), and because the working
    copy has a fixed size relative to the image, it measures blur relative to the frame. Sharp
    photos give about 0.3-1.0; a Gaussian blur of 1 % of the image width gives about 0.1-0.2.
    """
    h, w = gray.shape
    if h < 8 or w < 8:
        return 1.0
    g = gray.astype(np.float64) * 255.0
    half = g[:h // 2 * 2, :w // 2 * 2].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    ratios = []
    for axis in (0, 1):
        coarse = float(np.diff(half, n=2, axis=axis).var())
        ratios.append(float(np.diff(g, n=2, axis=axis).var()) / coarse if coarse > 1e-6 else 1.0)
    return min(ratios)


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


def entropy(gray: np.ndarray, hist: np.ndarray | None = None) -> float:
    """Shannon entropy (bits) of the 256-bin luma histogram: low means little information."""
    hist = luma_histogram(gray) if hist is None else hist
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum())


def _moments(part: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-channel sum and sum of squares of an HxWx3 block, and its pixel count."""
    flat = part.reshape(-1, 3)
    return flat.sum(axis=0, dtype=np.float64), np.einsum("ij,ij->j", flat, flat,
                                                           dtype=np.float64), flat.shape[0]


def border(rgb: np.ndarray, fraction: float = BORDER_FRACTION,
           spread: np.ndarray | None = None) -> dict[str, float]:
    """Statistics of the outer ring (each side's mean colour, the ring's spread and uniformity).

    Computed from per-side moments (no copies of the ring): `spread` is the per-pixel
    max-minus-min over channels when the caller has it already.
    """
    h, w = rgb.shape[:2]
    bh, bw = max(1, round(h * fraction)), max(1, round(w * fraction))
    cuts = {
        "top": (slice(0, bh), slice(None)),
        "bottom": (slice(h - bh, h), slice(None)),
        "left": (slice(None), slice(0, bw)),
        "right": (slice(None), slice(w - bw, w)),
    }
    out: dict[str, float] = {}
    tot_s, tot_q, tot_n = np.zeros(3), np.zeros(3), 0
    for name, cut in cuts.items():
        s1, s2, n = _moments(np.ascontiguousarray(rgb[cut]))
        mean = s1 / n
        for ch, value in zip("rgb", mean, strict=True):
            out[f"border_{name}_{ch}"] = float(value)
        out[f"border_{name}_std"] = float(np.sqrt(np.maximum(s2 / n - mean**2, 0)).mean())
        tot_s, tot_q, tot_n = tot_s + s1, tot_q + s2, tot_n + n
    ring_mean = tot_s / tot_n
    out["border_std"] = float(np.sqrt(np.maximum(tot_q / tot_n - ring_mean**2, 0)).mean())
    if spread is None:
        spread = channel_spread(rgb)
    sp = [spread[cut].sum(dtype=np.float64) for cut in cuts.values()]
    out["border_sat"] = float(sum(sp) / tot_n)
    if h > 2 * bh and w > 2 * bw:
        inner_mean = rgb[bh:h - bh, bw:w - bw].reshape(-1, 3).mean(axis=0, dtype=np.float64)
        out["border_vs_centre"] = float(np.abs(ring_mean - inner_mean).mean())
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


def image_properties(work: np.ndarray, gray: np.ndarray | None = None) -> dict[str, float]:
    """Every property of a working copy (float RGB 0–1), as one flat dict."""
    gray = luma(work) if gray is None else gray
    hist = luma_histogram(gray)
    spread = channel_spread(work)
    props: dict[str, float] = {}
    props.update(exposure(gray, hist))
    props.update(colour(work, spread))
    props["sharpness"] = sharpness(gray)
    props["fine_detail"] = fine_detail(gray)
    props["edge_density"] = edge_density(gray)
    props["noise"] = noise_sigma(gray)
    props["entropy"] = entropy(gray, hist)
    props.update(border(work, spread=spread))
    props["is_grayscale"] = bool(props["max_channel_diff"] <= 2.5 / 255.0)
    return props
