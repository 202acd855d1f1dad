"""Camera shifts for testing field-accuracy estimates, written independently of the capture model.

`pitfalls.field.capture` renders its own family of degradations, which the fit inverts; a test or
benchmark built from the same formulas would only check that the fit inverts itself. These shifts
use other formulas (tone curves, radial fall-off, line kernels at an angle, unsharp masking with
Pillow's filter, noise in YCbCr, white balance in linear light, resampling round trips, JPEG with
explicit chroma subsampling) and each returns 8-bit RGB.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Shift = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def tone_curve(rgb: np.ndarray, rng: np.random.Generator, gamma: float = 1.8,
               lift: float = 0.0) -> np.ndarray:
    """A power-law tone curve (gamma > 1 darkens the mid-tones) with an optional black lift."""
    g = gamma * rng.uniform(0.95, 1.05)
    x = (rgb.astype(np.float64) / 255.0) ** g
    return _u8(255.0 * (lift + (1 - lift) * x))


def vignette(rgb: np.ndarray, rng: np.random.Generator, strength: float = 0.65) -> np.ndarray:
    """Natural vignetting: cos^4 fall-off of the angle from the optical axis."""
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2)) / np.sqrt(2)  # 1 at corners
    half_angle = np.arctan(strength * rng.uniform(0.9, 1.1) * 1.6)
    fall = np.cos(np.arctan(r * np.tan(half_angle))) ** 4
    return _u8(rgb.astype(np.float64) * fall[..., None])


def motion_at_angle(rgb: np.ndarray, rng: np.random.Generator, length: float = 11.0,
                    angle_deg: float = 35.0) -> np.ndarray:
    """A straight streak of `length` pixels at `angle_deg`, drawn as an anti-aliased line kernel."""
    from scipy.signal import fftconvolve

    n = int(np.ceil(length)) | 1
    big = Image.new("L", (n * 4, n * 4), 0)
    a = np.deg2rad(angle_deg + rng.uniform(-5, 5))
    c, half = n * 2, length * 2
    ImageDraw.Draw(big).line((c - half * np.cos(a), c - half * np.sin(a),
                              c + half * np.cos(a), c + half * np.sin(a)), fill=255, width=4)
    k = np.asarray(big.resize((n, n), Image.Resampling.BOX), np.float64)
    k /= k.sum()
    x = rgb.astype(np.float64)
    pad = n
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    out = np.stack([fftconvolve(xp[..., ch], k, mode="same") for ch in range(3)], axis=-1)
    return _u8(out[pad:-pad, pad:-pad])


def sharpen(rgb: np.ndarray, rng: np.random.Generator, percent: int = 180,
            radius: float = 1.6) -> np.ndarray:
    """Unsharp masking as phone pipelines apply it (field photos sharper than the lab's)."""
    img = Image.fromarray(rgb)
    return np.asarray(img.filter(ImageFilter.UnsharpMask(radius=radius, percent=percent,
                                                         threshold=1)))


def chroma_noise(rgb: np.ndarray, rng: np.random.Generator, chroma: float = 14.0,
                 luma: float = 4.0) -> np.ndarray:
    """High-ISO noise: blotchy colour noise (low-passed, on Cb and Cr) over fine luma grain."""
    ycc = np.asarray(Image.fromarray(rgb).convert("YCbCr"), np.float64)
    h, w = ycc.shape[:2]
    small = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 2)) * chroma
    blotch = np.stack([np.asarray(Image.fromarray(small[..., k].astype(np.float32), mode="F")
                                  .resize((w, h), Image.Resampling.BILINEAR)) for k in range(2)],
                      axis=-1)
    ycc[..., 0] += rng.standard_normal((h, w)) * luma
    ycc[..., 1:] += blotch
    return np.asarray(Image.fromarray(_u8(ycc), mode="YCbCr").convert("RGB"))


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def white_balance(rgb: np.ndarray, rng: np.random.Generator, kelvin: float = 3200.0,
                  tint: float = 0.06) -> np.ndarray:
    """A white balance set for daylight under light of `kelvin` (warm below 6500), with a green
    (+) or magenta (-) tint, applied in linear light."""
    t = kelvin / 100.0  # Tanner Helland's fit of the Planckian locus to sRGB
    r = 255.0 if t <= 66 else 329.7 * (t - 60) ** -0.1332
    g = 99.47 * np.log(t) - 161.12 if t <= 66 else 288.12 * (t - 60) ** -0.0755
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.52 * np.log(t - 10) - 305.04)
    gains = np.array([r, g, b]) / np.array([255.0, 254.0, 255.0])  # 6500 K is about white
    gains = gains / gains[1] * np.array([1.0, 1.0 + tint, 1.0]) * rng.uniform(0.98, 1.02, 3)
    lin = _srgb_to_linear(rgb.astype(np.float64) / 255.0) * gains
    return _u8(255.0 * _linear_to_srgb(lin))


def resample(rgb: np.ndarray, rng: np.random.Generator, factor: float = 0.38,
             down: Image.Resampling = Image.Resampling.NEAREST,
             up: Image.Resampling = Image.Resampling.BICUBIC) -> np.ndarray:
    """A low-resolution sensor upscaled in software back to the original size."""
    img = Image.fromarray(rgb)
    w, h = img.size
    f = factor * rng.uniform(0.95, 1.05)
    small = img.resize((max(8, round(w * f)), max(8, round(h * f))), down)
    return np.asarray(small.resize((w, h), up))


def jpeg420(rgb: np.ndarray, rng: np.random.Generator, quality: int = 18) -> np.ndarray:
    """JPEG at low quality with 4:2:0 chroma subsampling, decoded back."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality + rng.integers(-2, 3)),
                              subsampling="4:2:0")
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def phone(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A phone pipeline before its encoder: downsize (Hamming), sharpen, cool the colour (the
    encoder's JPEG quality 45 is in FINAL_QUALITY)."""
    img = Image.fromarray(rgb)
    w, h = img.size
    small = np.asarray(img.resize((round(w * 0.55), round(h * 0.55)), Image.Resampling.HAMMING))
    out = sharpen(small, rng, percent=150, radius=1.2)
    return white_balance(out, rng, kelvin=9500.0, tint=-0.02)


def motion_vignette_gamma(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Motion blur at an angle through a vignetting lens, then a darker tone curve."""
    out = motion_at_angle(rgb, rng, length=9.0, angle_deg=-20.0)
    out = vignette(out, rng, strength=0.6)
    return tone_curve(out, rng, gamma=1.5)


SHIFTS: dict[str, Shift] = {
    "same camera": lambda rgb, rng: rgb,
    "gamma 1.8": tone_curve,
    "vignetting": vignette,
    "motion 11px at 35deg": motion_at_angle,
    "unsharp mask": sharpen,
    "chroma noise": chroma_noise,
    "3200K + green tint": white_balance,
    "nearest 0.38x -> bicubic": resample,
    "JPEG q18 4:2:0": lambda rgb, rng: rgb,
    "phone pipeline": phone,
    "motion+vignette+gamma": motion_vignette_gamma,
}
"""Every shift by name; "same camera" is the lab's own camera (no shift)."""

FINAL_QUALITY = {"JPEG q18 4:2:0": 18, "phone pipeline": 45}
"""Shifts whose camera writes JPEG at this quality (4:2:0); the others write quality 85-95."""


def encode(rgb: np.ndarray, name: str, rng: np.random.Generator) -> bytes:
    """The JPEG file the shifted camera writes for `rgb` (already through `SHIFTS[name]`)."""
    buf = io.BytesIO()
    quality = FINAL_QUALITY.get(name) or int(rng.integers(85, 96))
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling="4:2:0")
    return buf.getvalue()
