"""A parametric capture model: how a different camera, light or setting changes a photo.

`Capture` holds one photo's parameters; `apply_capture` renders it in the order a camera does:
light and white balance on the scene (exposure gain, contrast, per-channel gains), then the lens
(fall-off towards the corners) and the tone curve (gamma), optics and motion (Gaussian and motion
blur) or the camera's sharpening, then the sensor
(down-scaling, additive noise) and finally the encoder (JPEG at a given quality). Pillow and NumPy
do the work; every step is skipped at its neutral value, so `Capture()` returns the photo
unchanged.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from pitfalls.text import T


@dataclass(frozen=True)
class Capture:
    """Parameters of one simulated capture (neutral values change nothing)."""

    gain: float = 1.0          # exposure: multiplies linear-ish intensities (0.5 = one stop darker)
    contrast: float = 1.0      # scales deviations from the photo's mean luma
    gain_r: float = 1.0        # white balance: red and blue channel gains
    gain_b: float = 1.0
    gamma: float = 1.0         # tone curve out = in^gamma on 0-1 (above 1: darker mid-tones)
    vignette: float = 0.0      # radial fall-off: intensities times 1 - vignette x r^shape,
    vignette_shape: float = 2.0  # r = 1 at the corners (1: falls from the centre on, 4: late)
    blur_sigma: float = 0.0    # Gaussian blur, pixels of the original photo
    motion_px: float = 0.0     # horizontal motion blur length, pixels
    sharpen: float = 0.0       # unsharp-mask amount (1 = 100%), as phone pipelines sharpen,
    sharpen_radius: float = 1.0  # with this radius in pixels of the original photo
    scale: float = 1.0         # down-scaling factor of the pixel side (0.5 = half the width)
    noise_sigma: float = 0.0   # additive Gaussian sensor noise, 0-255 units
    jpeg_quality: int | None = None  # re-encode at this quality (None: no re-encoding)

    def only(self, *names: str) -> Capture:
        """This capture with every parameter not in `names` set back to neutral."""
        neutral = Capture()
        return replace(neutral, **{k: v for k, v in asdict(self).items() if k in names})

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


PARAMS_OF = {"exposure": ("gain",), "contrast": ("contrast",), "tone": ("gamma",),
             "cast_rg": ("gain_r", "gain_b"), "cast_yb": ("gain_r", "gain_b"),
             "blur": ("blur_sigma", "motion_px", "sharpen"), "noise": ("noise_sigma",),
             "resolution": ("scale",), "jpeg_quality": ("jpeg_quality",), "aspect": (),
             "vignetting": ("vignette",)}
"""Which capture parameters reproduce each measured condition."""


def falloff(h: int, w: int, depth: float, shape: float = 2.0) -> np.ndarray:
    """The lens's relative illumination, 1 - depth x r^shape (r = 1 at the corners), float32.

    One family holds the usual lenses: shape near 1 falls from the centre on, like the cos⁴ law
    of a wide lens; 2 is the parabola of a simple lens; 4 and more keep the centre flat and
    darken only the corners, like a lens hood."""
    y = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / max(h / 2, 1)
    x = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / max(w / 2, 1)
    r2 = (y[:, None] ** 2 + x[None, :] ** 2) * np.float32(0.5)
    fall = np.float32(np.clip(depth, 0.0, 0.98)) * r2 ** np.float32(max(shape, 0.1) / 2)
    return np.clip(np.float32(1.0) - fall, np.float32(0.02), np.float32(1.0))


def apply_capture(rgb: np.ndarray, cap: Capture, seed: int = 0) -> np.ndarray:
    """Render 8-bit RGB `rgb` as captured under `cap`; returns 8-bit RGB."""
    x = rgb.astype(np.float32)
    if cap.contrast != 1.0:
        mean = float((x @ np.array([0.299, 0.587, 0.114], np.float32)).mean())
        x = mean + (x - mean) * np.float32(cap.contrast)
    gains = np.array([cap.gain * cap.gain_r, cap.gain, cap.gain * cap.gain_b], np.float32)
    if not np.allclose(gains, 1.0):
        x = x * gains
    if cap.vignette > 1e-3:
        x = x * falloff(x.shape[0], x.shape[1], cap.vignette, cap.vignette_shape)[..., None]
    if abs(cap.gamma - 1.0) > 1e-3:
        x = np.float32(255.0) * (np.clip(x, 0, 255) / np.float32(255.0)) ** np.float32(cap.gamma)
    img = Image.fromarray(np.clip(x + 0.5, 0, 255).astype(np.uint8))
    if cap.blur_sigma > 0.05:
        img = img.filter(ImageFilter.GaussianBlur(cap.blur_sigma))
    if cap.motion_px >= 1.5:  # a straight horizontal streak: a box filter along the rows
        from scipy.ndimage import uniform_filter1d

        arr = uniform_filter1d(np.asarray(img, np.float32), size=int(round(cap.motion_px)),
                               axis=1, mode="nearest")
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    if cap.sharpen > 0.01:
        img = img.filter(ImageFilter.UnsharpMask(max(cap.sharpen_radius, 0.1),
                                                 round(cap.sharpen * 100), 0))
    if cap.scale < 0.999:
        w, h = img.size
        img = img.resize((max(8, round(w * cap.scale)), max(8, round(h * cap.scale))),
                         Image.Resampling.LANCZOS)
    if cap.noise_sigma > 0.05:
        rng = np.random.default_rng(seed)
        arr = np.asarray(img, np.float32)
        arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * np.float32(cap.noise_sigma)
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    if cap.jpeg_quality is not None:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(np.clip(cap.jpeg_quality, 1, 100)))
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return np.asarray(img, dtype=np.uint8)


SWEEP: dict[str, tuple[T, str, list[float]]] = {
    "exposure": (T("exposure (gain)", "露出（ゲイン）"), "gain", [1.0, 0.8, 0.6, 0.45, 0.3]),
    "contrast": (T("contrast", "コントラスト"), "contrast", [1.0, 0.85, 0.7, 0.55, 0.4]),
    "white_balance": (T("white balance (warm cast)", "ホワイトバランス（暖色かぶり）"), "gain_b",
                      [1.0, 0.93, 0.86, 0.78, 0.7]),
    "gaussian_blur": (T("focus blur (sigma, px)", "ピントぼけ（σ, px）"), "blur_sigma",
                      [0.0, 0.5, 1.0, 1.5, 2.5]),
    "motion_blur": (T("motion blur (length, px)", "手ぶれ（長さ, px）"), "motion_px",
                    [0.0, 3.0, 5.0, 9.0, 15.0]),
    "noise": (T("sensor noise (sigma)", "センサーノイズ（σ）"), "noise_sigma",
              [0.0, 3.0, 6.0, 10.0, 15.0]),
    "downscale": (T("resolution (scale)", "解像度（倍率）"), "scale", [1.0, 0.75, 0.5, 0.35, 0.25]),
    "jpeg": (T("JPEG quality", "JPEG 品質"), "jpeg_quality", [95, 80, 60, 45, 30]),
}
"""Camera-realistic severities per condition for the robustness sweep (the first is neutral or
nearly so). These stop where real cameras and apps still go — JPEG quality 30, a stop and a half
of under-exposure, noise of a phone at high ISO — rather than at ImageNet-C's extremes."""


def sweep_capture(param: str, value: float) -> Capture:
    """A capture changing one parameter only."""
    if param == "jpeg_quality":
        return Capture(jpeg_quality=int(value))
    if param == "gain_b":
        return Capture(gain_b=float(value), gain_r=float(2.0 - value) if value < 1 else 1.0)
    changes: dict[str, Any] = {param: float(value)}  # one field, named at run time
    return replace(Capture(), **changes)
