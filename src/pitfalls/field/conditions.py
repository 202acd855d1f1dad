"""Per-image capture conditions, read from the feature table (no image is decoded here).

Each condition is one number per image on a scale where a camera change moves it roughly
additively (logarithms for multiplicative quantities):

| condition    | from the features                          | a camera change that moves it |
|--------------|--------------------------------------------|-------------------------------|
| exposure     | mean luma                                  | darker / brighter light       |
| contrast     | log of luma std / mean luma                | haze, flat light, low contrast|
| tone         | Bowley skewness of luma (p95 + p05 - 2 p50)/(p95 - p05) | tone curve, gamma |
| cast_rg      | mean (R - G) / mean luma                   | white balance (red-green)     |
| cast_yb      | mean ((R + G) / 2 - B) / mean luma         | white balance (blue-yellow)   |
| blur         | -log of Laplacian var., noise removed, /luma²| focus, motion, soft lenses    |
| noise        | Immerkær noise sigma (0-255) / mean luma   | sensor noise, high ISO        |
| resolution   | log2 of the pixel side (sqrt of w x h)     | a lower-resolution camera     |
| jpeg_quality | estimated JPEG quality (100 for lossless)  | stronger compression          |
| aspect       | log of width / height                      | another sensor or crop        |
| vignetting   | log of the corners' mean luma / the photo's| lens fall-off, a cheap lens   |

Sensor noise raises the Laplacian variance as much as detail does (20 sigma² for the 4-neighbour
Laplacian of white noise), so `blur` subtracts that share; otherwise a noisier camera would look
"sharper" and blur and noise could not be told apart.

Contrast and colour cast are divided by the mean luma, so that a darker scene (every channel
scaled down alike) moves exposure only, and the condition that really changed ranks first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pitfalls.text import T


@dataclass(frozen=True)
class Condition:
    """One capture condition: its name, words for people, and which way is worse."""

    name: str
    label: T
    worse: T


CONDITIONS: dict[str, Condition] = {c.name: c for c in (
    Condition("exposure", T("exposure (brightness)", "露出（明るさ）"),
              T("darker", "暗い")),
    Condition("contrast", T("contrast", "コントラスト"), T("flatter", "低コントラスト")),
    Condition("tone", T("tone curve (mid-tones)", "トーンカーブ（中間調）"),
              T("darker mid-tones", "中間調が暗い")),
    Condition("cast_rg", T("colour cast (red-green)", "色かぶり（赤-緑）"),
              T("tinted", "色かぶり")),
    Condition("cast_yb", T("colour cast (blue-yellow, white balance)",
                           "色かぶり（青-黄、ホワイトバランス）"), T("tinted", "色かぶり")),
    Condition("blur", T("blur (focus, motion)", "ぼけ（ピント・手ぶれ）"),
              T("blurrier", "ぼけている")),
    Condition("noise", T("sensor noise", "センサーノイズ"), T("noisier", "ノイズが多い")),
    Condition("resolution", T("resolution", "解像度"), T("smaller", "低解像度")),
    Condition("jpeg_quality", T("JPEG quality (compression)", "JPEG 品質（圧縮）"),
              T("more compressed", "圧縮が強い")),
    Condition("aspect", T("aspect ratio", "縦横比"), T("different shape", "形が違う")),
    Condition("vignetting", T("vignetting (darker corners)", "周辺減光（四隅が暗い）"),
              T("darker corners", "四隅が暗い")),
)}

LAPLACIAN_NOISE_GAIN = 20.0
"""Variance of the 4-neighbour Laplacian of unit white noise (4 x 1 + 16 x 1)."""


def _num(table: pd.DataFrame, col: str) -> np.ndarray:
    if col not in table:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)


def blur_measure(sharpness: np.ndarray, noise: np.ndarray, lum: np.ndarray) -> np.ndarray:
    """-log10 of the Laplacian variance left after removing the noise's share, relative to the
    squared mean luma so that exposure alone does not move it (higher = blurrier)."""
    detail = np.asarray(sharpness, float) - LAPLACIAN_NOISE_GAIN * np.asarray(noise, float) ** 2
    rel = np.maximum(detail, 1.0) / np.maximum(np.asarray(lum, float), 0.02) ** 2
    return -np.log10(rel)


def tone_skew(p05: np.ndarray, p50: np.ndarray, p95: np.ndarray) -> np.ndarray:
    """Bowley's quantile skewness of luma, (p95 + p05 - 2 p50) / (p95 - p05): neither a gain
    nor a linear contrast change moves it, a tone curve does (gamma above 1 darkens the
    mid-tones and raises it); NaN where the photo is nearly flat."""
    p05, p50, p95 = (np.asarray(v, float) for v in (p05, p50, p95))
    width = p95 - p05
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(width >= 4 / 255, (p95 + p05 - 2 * p50) / width, np.nan)


def conditions(table: pd.DataFrame) -> pd.DataFrame:
    """One row per table row, one column per condition (NaN for unreadable images)."""
    ok = table["ok"].astype(bool).to_numpy() if "ok" in table else np.ones(len(table), bool)
    width, height = _num(table, "width"), _num(table, "height")
    quality = _num(table, "jpeg_quality")
    fmt = table["format"].astype(str).str.upper().to_numpy() if "format" in table else None
    lossless = np.zeros(len(table), bool) if fmt is None else ~np.isin(fmt, ["JPEG", "MPO"])
    quality = np.where(np.isnan(quality) & lossless, 100.0, quality)
    lum = np.maximum(_num(table, "brightness"), 0.02)
    corners = np.stack([_num(table, f"corner_{c}_lum") for c in ("tl", "tr", "bl", "br")])
    seen = np.isfinite(corners).any(axis=0)  # rows without corners: NaN, not a mean of nothing
    corner = np.full(len(table), np.nan)
    corner[seen] = np.nanmean(corners[:, seen], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "exposure": _num(table, "brightness"),
            "contrast": np.log(np.maximum(_num(table, "contrast") / lum, 1e-3)),
            "tone": tone_skew(_num(table, "brightness_p05"), _num(table, "brightness_p50"),
                              _num(table, "brightness_p95")),
            "cast_rg": _num(table, "cast_rg") / lum,
            "cast_yb": _num(table, "cast_yb") / lum,
            "blur": blur_measure(_num(table, "sharpness"), _num(table, "noise"), lum),
            "noise": _num(table, "noise") / lum,
            "resolution": np.log2(np.sqrt(width * height)),
            "jpeg_quality": quality,
            "aspect": np.log(width / height),
            "vignetting": np.log(np.maximum(corner, 1e-3)),
        }, index=table.index)
    out[~ok] = np.nan
    return out


def measure_image(rgb: np.ndarray, jpeg_quality: float | None = None) -> dict[str, float]:
    """The conditions of one decoded 8-bit RGB image (as `conditions` would read them)."""
    from pitfalls.features.properties import image_properties, working_copy

    props = image_properties(working_copy(rgb))
    h, w = rgb.shape[:2]
    row = pd.DataFrame([{**props, "ok": True, "width": w, "height": h,
                         "jpeg_quality": jpeg_quality,
                         "format": "JPEG" if jpeg_quality else "PNG"}])
    return {str(k): float(v) for k, v in conditions(row).iloc[0].items()}


SCALE_FLOOR = {"exposure": 0.01, "contrast": 0.03, "tone": 0.02, "cast_rg": 0.01, "cast_yb": 0.01,
               "blur": 0.03, "noise": 0.4, "resolution": 0.05, "jpeg_quality": 2.0,
               "aspect": 0.02, "vignetting": 0.03}
"""Smallest spread assumed per condition, so a perfectly uniform lab set (every photo at JPEG
quality 90) does not turn a negligible change into an infinite effect size."""


def robust_scale(values: np.ndarray, name: str) -> float:
    """Spread of the lab values: 1.4826 x MAD (a standard deviation under normality), floored."""
    v = values[np.isfinite(values)]
    mad = float(np.median(np.abs(v - np.median(v)))) * 1.4826 if len(v) else 0.0
    return max(mad, SCALE_FLOOR.get(name, 1e-6))


def compare(lab: pd.DataFrame, field: pd.DataFrame) -> pd.DataFrame:
    """Two-sample comparison of every condition, lab against field, ranked by effect size.

    Columns: condition, n_lab, n_field, lab_median, field_median, shift (field - lab median),
    effect (shift over the lab's robust spread), ks (Kolmogorov-Smirnov statistic), p_value,
    p_holm (Holm-adjusted over the conditions tested). The test is scipy's two-sample KS test,
    which compares whole distributions (a wider spread counts as well as a moved median).
    """
    from scipy.stats import ks_2samp

    rows = []
    for name in CONDITIONS:
        a = lab[name].to_numpy(dtype=float) if name in lab else np.zeros(0)
        b = field[name].to_numpy(dtype=float) if name in field else np.zeros(0)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) < 3 or len(b) < 3:
            continue
        if np.ptp(np.concatenate([a, b])) == 0:
            ks, p = 0.0, 1.0
        else:
            res = ks_2samp(a, b)
            ks, p = float(res.statistic), float(res.pvalue)
        shift = float(np.median(b) - np.median(a))
        rows.append({"condition": name, "n_lab": len(a), "n_field": len(b),
                     "lab_median": float(np.median(a)), "field_median": float(np.median(b)),
                     "shift": shift, "effect": shift / robust_scale(a, name),
                     "ks": ks, "p_value": p})
    out = pd.DataFrame(rows, columns=["condition", "n_lab", "n_field", "lab_median",
                                      "field_median", "shift", "effect", "ks", "p_value"])
    if out.empty:
        out["p_holm"] = []
        return out
    order = np.argsort(out["p_value"].to_numpy())
    m = len(out)
    adjusted = np.minimum(1.0, np.maximum.accumulate(
        out["p_value"].to_numpy()[order] * (m - np.arange(m))))
    out.loc[out.index[order], "p_holm"] = adjusted
    out["rank_key"] = out["effect"].abs() * out["ks"]
    return (out.sort_values("rank_key", ascending=False).drop(columns="rank_key")
            .reset_index(drop=True))


def changed(cmp: pd.DataFrame, alpha: float = 0.05, min_effect: float = 0.5) -> pd.DataFrame:
    """Conditions that differ: Holm-adjusted p below `alpha` and a median shift of at least
    `min_effect` lab standard deviations (ranked as in `cmp`)."""
    if cmp.empty:
        return cmp
    return cmp[(cmp["p_holm"] < alpha) & (cmp["effect"].abs() >= min_effect)]


RINGS = ((0.0, 0.3), (0.3, 0.6), (0.6, 0.8), (0.8, 1.0))
"""Rings of r (1 at the corners) whose brightness gives the radial profile."""
PROFILE_SIDE = 64
"""Longer side of the small copy the radial profile is measured on."""


def small_luma(rgb: np.ndarray, side: int = PROFILE_SIDE) -> np.ndarray:
    """Luma (0-255, float32) of a box-filtered copy whose longer side is `side`."""
    from PIL import Image

    h, w = rgb.shape[:2]
    k = side / max(h, w)
    small = np.asarray(Image.fromarray(rgb).resize((max(4, round(w * k)), max(4, round(h * k))),
                                                   Image.Resampling.BOX), np.float32)
    return small @ np.array([0.299, 0.587, 0.114], np.float32)


def _radii(shape: tuple[int, ...]) -> np.ndarray:
    """Each pixel's distance from the centre, 1 at the corners."""
    sh, sw = shape[:2]
    y = (np.arange(sh) - (sh - 1) / 2) / (sh / 2)
    x = (np.arange(sw) - (sw - 1) / 2) / (sw / 2)
    return np.sqrt((y[:, None] ** 2 + x[None, :] ** 2) / 2)


def _ring_means(values: np.ndarray) -> np.ndarray:
    """Mean of `values` in each ring of RINGS."""
    r = _radii(values.shape)
    return np.array([float(values[(r >= lo) & (r < hi)].mean())
                     if ((r >= lo) & (r < hi)).any() else np.nan for lo, hi in RINGS])


def rank_profile(g: np.ndarray) -> np.ndarray:
    """Mean brightness rank (0-1, within the photo) of each outer ring minus the centre disc's,
    for luma `g` (`small_luma`): ranks do not move under any global tone curve, so only a
    change that depends on the position, such as lens fall-off, lowers them; they stop moving
    once the corners are the darkest pixels (len(RINGS) - 1 values)."""
    flat = g.ravel()
    order = np.empty(flat.size)
    order[np.argsort(flat, kind="stable")] = np.arange(flat.size) / max(flat.size - 1, 1)
    means = _ring_means(order.reshape(g.shape))
    return means[1:] - means[0]


def radial_profile(g: np.ndarray) -> np.ndarray:
    """How much darker each outer ring of luma `g` (`small_luma`) is than the centre disc: the
    difference of mean log luma, over the photo's standard deviation of log luma. A gain adds a
    constant to log luma and a gamma multiplies it, so neither moves the profile much (near
    black, where the + 2 levels that keep it finite dominate, a gamma still does); unlike
    `rank_profile`, it keeps growing as the corners get darker (len(RINGS) - 1 values)."""
    logs = np.log(np.asarray(g, np.float64) + 2.0)
    means = _ring_means(logs)
    return (means[1:] - means[0]) / max(float(logs.std()), 1e-3)
