"""Image properties of a working copy, measured in a few fused passes.

Every property is a small function of `Planes`, the shared intermediates of one working copy
(the colour planes, their squares, the per-pixel channel spread, the luma and its histogram), so
that each pixel is converted once and each statistic costs a sum or a dot product over a
contiguous array rather than its own pass (strided reductions over an HxWx3 array are ten to
thirty times slower in NumPy). Values are on 0–1 scales as documented per property.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

WORK_SIDE = 256
"""Properties are measured on a copy whose longer side is at most this many pixels."""

BORDER_FRACTION = 0.08
"""Share of each side taken as the border region."""

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights."""

SIDES = ("top", "bottom", "left", "right")


def working_image(image: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    """Downscale (area-averaging) so the longer side is at most `side`; the image itself if it is
    small enough already."""
    w, h = image.size
    scale = side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(size, Image.Resampling.BOX, reducing_gap=2.0)


def working_copy_u8(rgb: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """`working_image` of 8-bit RGB, as 8-bit RGB."""
    if side / max(rgb.shape[:2]) >= 1.0:
        return rgb
    return np.asarray(working_image(Image.fromarray(rgb), side))


def working_copy(rgb: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """`working_copy_u8` as float32 RGB 0–1."""
    return working_copy_u8(rgb, side).astype(np.float32) * np.float32(1.0 / 255.0)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB array (HxWx3), in the array's own scale, float32."""
    flat = np.ascontiguousarray(rgb).reshape(-1, 3).astype(np.float32, copy=False)
    return (flat @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)).reshape(rgb.shape[:2])


COLOUR_SIDE = 128
"""Colour and border statistics (means and spreads) are taken on a 2x2-box half-size copy once
the working copy's longer side exceeds this: four times fewer pixels, the same means."""


@dataclass
class Planes:
    """The shared intermediates of one working copy, on a 0–255 scale.

    `stack` holds R, G, B, the channel spread (max minus min) and R², G², B² as contiguous
    float32 planes of the colour copy (half size above `COLOUR_SIDE`), `peak` its per-pixel
    channel maximum, `small` the colour copy as a Pillow image (thumbnails for the hashes and
    the embedding start from it); `gray` is the luma of the full working copy, `gray8` its 8-bit
    rounding and `hist` its histogram.
    """

    stack: np.ndarray
    peak: np.ndarray
    gray: np.ndarray
    gray8: np.ndarray
    hist: np.ndarray
    small: Image.Image

    @classmethod
    def of(cls, work: np.ndarray, image: Image.Image | None = None) -> Planes:
        """From 8-bit RGB, or float RGB on 0–1; `image`, when given, is `work` as a Pillow image
        (it saves a conversion)."""
        if work.dtype != np.uint8:
            work = (np.clip(work, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        work = np.ascontiguousarray(work)
        h, w = work.shape[:2]
        gray = luma(work)
        gray8 = (gray + np.float32(0.5)).astype(np.uint8)
        hist = np.asarray(Image.fromarray(gray8).histogram(), dtype=np.int64)
        small_image = image or Image.fromarray(work)
        if max(h, w) > COLOUR_SIDE and min(h, w) >= 4:
            small_image = small_image.reduce(2)
        small = np.asarray(small_image) if small_image.size != (w, h) else work
        sh, sw = small.shape[:2]
        stack = np.empty((7, sh, sw), dtype=np.float32)
        for k in range(3):
            stack[k] = small[..., k]
        r, g, b = stack[0], stack[1], stack[2]
        peak = np.maximum(np.maximum(r, g), b)
        np.subtract(peak, np.minimum(np.minimum(r, g), b), out=stack[3])
        np.multiply(stack[:3], stack[:3], out=stack[4:])
        return cls(stack=stack, peak=peak, gray=gray, gray8=gray8, hist=hist, small=small_image)


def _mean_std(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of a float32 array: a (pairwise, so accurate) float32 sum, a
    centring and a dot product."""
    flat = x.ravel()
    if flat.size == 0:
        return 0.0, 0.0
    mean = float(flat.sum()) / flat.size
    c = flat - np.float32(mean)
    return mean, float(np.sqrt(max(float(np.dot(c, c)) / flat.size, 0.0)))


_LEVELS = np.arange(256, dtype=np.float64)
_LEVELS_SQ = _LEVELS**2


def _hist_percentiles(hist: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    cdf = np.cumsum(hist) / max(int(hist.sum()), 1)
    return [float(np.searchsorted(cdf, q) / 255.0) for q in qs]


def exposure(p: Planes) -> dict[str, float]:
    """Brightness (mean luma), its 5th/50th/95th percentiles, contrast (std), clipped shares.

    All from the 256-bin histogram of the 8-bit luma (rounding moves the mean by well under
    0.001 and the standard deviation by under 0.3 levels in quadrature)."""
    p05, p50, p95 = _hist_percentiles(p.hist, (0.05, 0.5, 0.95))
    n = max(int(p.hist.sum()), 1)
    mean = float(p.hist @ _LEVELS) / n
    std = float(np.sqrt(max(float(p.hist @ _LEVELS_SQ) / n - mean * mean, 0.0)))
    return {
        "brightness": mean / 255.0,
        "brightness_p05": p05,
        "brightness_p50": p50,
        "brightness_p95": p95,
        "contrast": std / 255.0,
        "clipped_dark": float(p.hist[:3].sum() / n),
        "clipped_light": float(p.hist[253:].sum() / n),
    }


def colour(p: Planes) -> dict[str, float]:
    """Mean channels, saturation, colourfulness (Hasler–Süsstrunk), cast, and grayscale-ness."""
    r, g, b, spread = p.stack[0], p.stack[1], p.stack[2], p.stack[3]
    sat = spread / np.maximum(p.peak, np.float32(1e-6))
    rg = r - g
    yb = (r + g) * np.float32(0.5) - b
    rg_mean, rg_std = _mean_std(rg)
    yb_mean, yb_std = _mean_std(yb)
    n = r.size
    return {
        "mean_r": float(r.sum()) / n / 255.0,
        "mean_g": float(g.sum()) / n / 255.0,
        "mean_b": float(b.sum()) / n / 255.0,
        "saturation": float(sat.sum()) / n,
        "colourfulness": float(np.hypot(rg_std, yb_std) + 0.3 * np.hypot(rg_mean, yb_mean)) / 255.0,
        "cast_rg": rg_mean / 255.0,
        "cast_yb": yb_mean / 255.0,
        "max_channel_diff": float(spread.max()) / 255.0,
    }


def _var0(x: np.ndarray) -> float:
    """Variance of an array whose mean is near zero (differences): one sum and one dot product."""
    flat = x.ravel()
    if flat.size == 0:
        return 0.0
    mean = float(flat.sum()) / flat.size
    return max(float(np.dot(flat, flat)) / flat.size - mean * mean, 0.0)


def _second_differences(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First and second differences of a 2-D array: dx, dy, dxx (along columns), dyy (rows)."""
    dx = g[:, 1:] - g[:, :-1]
    dy = g[1:] - g[:-1]
    return dx, dy, dx[:, 1:] - dx[:, :-1], dy[1:] - dy[:-1]


def _half(g: np.ndarray) -> np.ndarray:
    """2x2 box average (odd last row/column dropped)."""
    h, w = g.shape[0] // 2 * 2, g.shape[1] // 2 * 2
    rows = g[0:h:2, :w] + g[1:h:2, :w]
    return (rows[:, 0::2] + rows[:, 1::2]) * np.float32(0.25)


def detail(g: np.ndarray) -> dict[str, float]:
    """The measures built on differences of 0–255 luma (HxW float32): see each key below.

    - `sharpness`: variance of the 4-neighbour Laplacian (higher is sharper).
    - `fine_detail`: scale-relative blur — the finest band's detail over the next coarser band's:
      the variance of second differences on the working copy over the same on a 2x2-box half-size
      copy, along rows and along columns, the smaller kept (so blur along one direction counts).
      Both bands come from one image, so the ratio does not depend on how much the scene holds,
      and the working copy has a fixed size relative to the image, so it measures blur relative to
      the frame. Sharp photos give about 0.3-1.0; a Gaussian blur of 1 % of the width 0.1-0.2.
    - `edge_density`: share of pixels whose |dx| + |dy| exceeds 0.08 of the range.
    - `noise`: Immerkær's fast estimate of Gaussian noise sigma (0–255).
    """
    h, w = g.shape
    out = {"sharpness": 0.0, "fine_detail": 1.0, "edge_density": 0.0, "noise": 0.0}
    if h < 2 or w < 2:
        return out
    if h < 3 or w < 3:
        grad = np.abs(g[:-1, 1:] - g[:-1, :-1]) + np.abs(g[1:, :-1] - g[:-1, :-1])
        out["edge_density"] = float(np.count_nonzero(grad > np.float32(0.08 * 255.0))) / grad.size
        return out
    dx, dy, dxx, dyy = _second_differences(g)
    grad = np.abs(dx[:-1])
    grad += np.abs(dy[:, :-1])
    out["edge_density"] = float(np.count_nonzero(grad > np.float32(0.08 * 255.0))) / grad.size
    out["sharpness"] = _var0(dxx[1:-1, :] + dyy[:, 1:-1])
    mdy = dxx[1:] - dxx[:-1]
    m = np.abs(mdy[1:] - mdy[:-1])
    out["noise"] = float(np.sqrt(np.pi / 2.0) * float(m.sum())
                         / (6.0 * (w - 2) * (h - 2)))
    if h >= 8 and w >= 8:
        _, _, cxx, cyy = _second_differences(_half(g))
        ratios = []
        for fine, coarse in ((dyy, cyy), (dxx, cxx)):
            c = _var0(coarse)
            ratios.append(_var0(fine) / c if c > 1e-6 else 1.0)
        out["fine_detail"] = min(ratios)
    return out


def entropy(hist: np.ndarray) -> float:
    """Shannon entropy (bits) of the 256-bin luma histogram: low means little information."""
    p = hist[hist > 0] / max(int(hist.sum()), 1)
    return float(-(p * np.log2(p)).sum())


def border(p: Planes, fraction: float = BORDER_FRACTION) -> dict[str, float]:
    """The outer ring (`fraction` of each side): each side's mean colour and spread, the ring's
    spread, saturation, and how far its colour is from the centre's.

    Top and bottom strips span the width, left and right the height. Every sum comes from the
    column sums of the seven planes, of the whole image and of the top and bottom strips.
    """
    _, h, w = p.stack.shape
    bh, bw = max(1, round(h * fraction)), max(1, round(w * fraction))
    # Column sums in float32 (a few hundred terms each), everything after in float64.
    cols = p.stack.sum(axis=1).astype(np.float64)            # (7, W)
    top = p.stack[:, :bh].sum(axis=1).astype(np.float64)
    bottom = p.stack[:, h - bh:].sum(axis=1).astype(np.float64)
    sides = np.stack([top.sum(axis=1), bottom.sum(axis=1), cols[:, :bw].sum(axis=1),
                      cols[:, w - bw:].sum(axis=1)])          # (4 sides, 7 planes)
    counts = np.array([[bh * w], [bh * w], [h * bw], [h * bw]], dtype=np.float64)
    means = sides[:, :3] / counts
    stds = np.sqrt(np.maximum(sides[:, 4:] / counts - means**2, 0)).mean(axis=1)
    out: dict[str, float] = {}
    for name, mean, std in zip(SIDES, (means / 255.0).tolist(), (stds / 255.0).tolist(),
                               strict=True):
        out.update({f"border_{name}_r": mean[0], f"border_{name}_g": mean[1],
                    f"border_{name}_b": mean[2], f"border_{name}_std": std})
    total, count = sides.sum(axis=0), float(counts.sum())
    ring = total[:3] / count
    out["border_std"] = float(np.sqrt(np.maximum(total[4:] / count - ring**2, 0)).mean()) / 255.0
    out["border_sat"] = float(total[3] / count) / 255.0
    if h > 2 * bh and w > 2 * bw:
        inner = (cols - top - bottom)[:3, bw:w - bw].sum(axis=1) / ((h - 2 * bh) * (w - 2 * bw))
        out["border_vs_centre"] = float(np.abs(ring - inner).mean()) / 255.0
    else:
        out["border_vs_centre"] = 0.0
    return out


CORNER_SHARE = (0.15, 0.22)
"""Height and width of each corner patch measured by `corners`, as shares of the image's."""
CORNERS = ("tl", "tr", "bl", "br")
CORNER_KEYS = ("lum", "std", "edge", "peak_edge", "sat", "peak_sat")


def corners(p: Planes, share: tuple[float, float] = CORNER_SHARE) -> dict[str, float]:
    """Each corner patch: how much it differs from the image (luma mean, relative to the whole),
    its luma spread, its edge strength (mean absolute step) and strongest edge, and its saturation
    (mean and largest channel spread over the patch of the colour copy). A watermark, a logo or a
    burned-in date sits in one corner of every photo of a source; the 8 % border strips of
    `border` dilute it over a whole side, and a date's few sharp, vivid pixels barely move a
    corner's means (hence the strongest edge and the most saturated pixel)."""
    g = p.gray
    h, w = g.shape
    ch, cw = max(2, round(h * share[0])), max(2, round(w * share[1]))
    if h < 2 * ch or w < 2 * cw:
        return {f"corner_{c}_{k}": 0.0 for c in CORNERS for k in CORNER_KEYS}
    patches = np.stack([g[:ch, :cw], g[:ch, w - cw:], g[h - ch:, :cw], g[h - ch:, w - cw:]])
    mean = patches.mean(axis=(1, 2))
    std = patches.std(axis=(1, 2))
    steps_x = np.abs(np.diff(patches, axis=2))
    steps_y = np.abs(np.diff(patches, axis=1))
    edge = steps_x.mean(axis=(1, 2)) + steps_y.mean(axis=(1, 2))
    peak_edge = np.maximum(steps_x.max(axis=(1, 2)), steps_y.max(axis=(1, 2)))
    spread = p.stack[3]
    sh, sw = spread.shape
    sch, scw = max(1, round(sh * share[0])), max(1, round(sw * share[1]))
    sat_patches = np.stack([spread[:sch, :scw], spread[:sch, sw - scw:],
                            spread[sh - sch:, :scw], spread[sh - sch:, sw - scw:]])
    sat = sat_patches.mean(axis=(1, 2))
    peak_sat = sat_patches.max(axis=(1, 2))
    overall = max(float(p.hist @ _LEVELS) / max(int(p.hist.sum()), 1), 1.0)
    out: dict[str, float] = {}
    for k, c in enumerate(CORNERS):
        out[f"corner_{c}_lum"] = float(mean[k] / overall)
        out[f"corner_{c}_std"] = float(std[k]) / 255.0
        out[f"corner_{c}_edge"] = float(edge[k]) / 255.0
        out[f"corner_{c}_peak_edge"] = float(peak_edge[k]) / 255.0
        out[f"corner_{c}_sat"] = float(sat[k]) / 255.0
        out[f"corner_{c}_peak_sat"] = float(peak_sat[k]) / 255.0
    return out


FRAME_DEPTH = 2
"""Pixels (at full resolution) of the outermost ring measured by `frame`."""


def frame(rgb: np.ndarray, depth: int = FRAME_DEPTH) -> dict[str, float]:
    """The outermost ring of 8-bit RGB at full resolution: mean colour, spread, and how many sides
    are flat.

    A painted frame or letterbox (even a few pixels wide) makes this ring nearly constant, which
    the 8 % border strip of `border` dilutes; photos almost never have four flat edges.
    """
    h, w = rgb.shape[:2]
    d = max(1, min(depth, h // 4, w // 4))
    sides = [rgb[:d], rgb[h - d:], rgb[:, :d], rgb[:, w - d:]]
    ring = np.concatenate([s.reshape(-1, 3) for s in sides]).astype(np.float64)
    n_rows, n_cols = d * w, d * h
    starts = [0, n_rows, 2 * n_rows, 2 * n_rows + n_cols]
    counts = np.array([[n_rows], [n_rows], [n_cols], [n_cols]], dtype=np.float64)
    s1 = np.add.reduceat(ring, starts, axis=0)
    s2 = np.add.reduceat(ring * ring, starts, axis=0)
    side_std = np.sqrt(np.maximum(s2 / counts - (s1 / counts) ** 2, 0)).mean(axis=1) / 255.0
    mean = s1.sum(axis=0) / len(ring)
    ring_std = np.sqrt(np.maximum(s2.sum(axis=0) / len(ring) - mean**2, 0)).mean() / 255.0
    mean = mean / 255.0
    return {
        "frame_r": float(mean[0]),
        "frame_g": float(mean[1]),
        "frame_b": float(mean[2]),
        "frame_std": float(ring_std),
        "frame_flat_sides": float((side_std < 0.02).sum()),
    }


def image_properties(work: np.ndarray, planes: Planes | None = None) -> dict[str, float]:
    """Every property of a working copy (8-bit RGB, or float RGB 0–1), as one flat dict."""
    p = planes or Planes.of(work)
    props: dict[str, float] = {}
    props.update(exposure(p))
    props.update(colour(p))
    props.update(detail(p.gray))
    props["entropy"] = entropy(p.hist)
    props.update(border(p))
    props.update(corners(p))
    props["is_grayscale"] = bool(props["max_channel_diff"] <= 2.5 / 255.0)
    return props
