"""Open one image file safely: every failure becomes a `DecodeError` with a reason, never a crash.

Handles wrong extensions, truncated and zero-byte files, decompression bombs, EXIF orientation,
and odd modes (CMYK, 16-bit, RGBA, palette, grayscale, float) by converting to 8-bit RGB.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 80_000_000
"""Images above this many pixels are refused as possible decompression bombs."""

FULL_DECODE_MAX_SIDE = 4096
"""JPEGs with a longer side than this are decoded at a reduced scale (JPEG draft mode)."""

_EXIF_IFD = 0x8769
_TAG_MAKE, _TAG_MODEL, _TAG_ORIENT, _TAG_DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_TAG_DATETIME_ORIGINAL = 0x9003


class DecodeError(Exception):
    """The file is not a readable image. `kind` is a short machine-readable reason."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Decoded:
    """A decoded image (8-bit RGB, orientation applied) with what the file said about itself."""

    rgb: np.ndarray
    format: str
    mode: str
    width: int
    height: int
    n_frames: int = 1
    exif: dict[str, str | int] = field(default_factory=dict)
    jpeg_quality: float = float("nan")
    reduced: bool = False
    image: Image.Image | None = None
    """The same pixels as a Pillow RGB image (saves a conversion for Pillow resampling)."""

    def pil(self) -> Image.Image:
        """The pixels as a Pillow RGB image."""
        if self.image is None:
            self.image = Image.fromarray(self.rgb)
        return self.image


def _exif_fields(img: Image.Image) -> dict[str, str | int]:
    try:
        exif = img.getexif()
    except Exception as exc:  # malformed EXIF is common in the wild; it is metadata, not the image
        log.debug("malformed EXIF ignored: %s", exc)
        return {}
    out: dict[str, str | int] = {}
    make, model = exif.get(_TAG_MAKE), exif.get(_TAG_MODEL)
    if make:
        out["make"] = str(make).strip("\x00 ").strip()
    if model:
        out["model"] = str(model).strip("\x00 ").strip()
    orient = exif.get(_TAG_ORIENT)
    if isinstance(orient, int):
        out["orientation"] = orient
    when = None
    try:
        when = exif.get_ifd(_EXIF_IFD).get(_TAG_DATETIME_ORIGINAL)
    except Exception as exc:
        log.debug("malformed EXIF sub-directory ignored: %s", exc)
        when = None
    when = when or exif.get(_TAG_DATETIME)
    if when:
        try:
            stamp = datetime.strptime(str(when).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
            out["datetime"] = stamp.isoformat()
        except ValueError:
            log.debug("EXIF date %r is not a date: ignored", when)
    return out


# The IJG standard luminance quantisation table (quality 50), in zig-zag-free row order.
_STD_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
     92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)
_STD_LUMA_SUM = float(_STD_LUMA.sum())


def estimate_jpeg_quality(img: Image.Image) -> float:
    """Estimate the IJG quality (1–100) a JPEG was saved with, from its luminance table."""
    tables = getattr(img, "quantization", None)
    if not tables or 0 not in tables:
        return float("nan")
    q = tables[0]
    if len(q) != 64:
        return float("nan")
    # IJG: table = floor((std * scale + 50) / 100), scale = 5000/Q (Q<50) or 200-2Q (Q>=50).
    scale = float(sum(q)) * 100.0 / _STD_LUMA_SUM
    quality = 5000.0 / scale if scale > 100 else (200.0 - scale) / 2.0
    return min(max(round(quality, 1), 1.0), 100.0)


def _to_rgb8(img: Image.Image) -> tuple[np.ndarray, Image.Image | None]:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        if mode == "F" and hi <= 1.0:
            arr = arr * 255.0
        elif hi > 255.0:
            arr = arr / (65535.0 if hi <= 65535.0 else hi) * 255.0
        gray = np.clip(arr, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), None
    if mode != "RGB":
        if mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8), img


def decode_bytes(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                 min_side: int | None = None) -> Decoded:
    """Decode image bytes into 8-bit RGB, applying EXIF orientation. Raises `DecodeError`.

    With `min_side`, a JPEG is decoded in the DCT domain at the smallest scale (1/2, 1/4, 1/8)
    whose longer side is still at least `min_side` (`reduced` is then True): several times
    cheaper than a full decode followed by a resize, and deterministic for the same JPEG data.
    """
    if not data:
        raise DecodeError("empty", "zero-byte file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise DecodeError(
                    "too_large",
                    f"{width}x{height} = {width * height:,} pixels exceeds the limit of "
                    f"{max_pixels:,} (possible decompression bomb); raise max_pixels to read it",
                )
            fmt = img.format or "unknown"
            mode = img.mode
            n_frames = int(getattr(img, "n_frames", 1) or 1)
            exif = _exif_fields(img)
            quality = estimate_jpeg_quality(img) if fmt == "JPEG" else float("nan")
            reduced = False
            side = min(min_side or FULL_DECODE_MAX_SIDE, FULL_DECODE_MAX_SIDE)
            if fmt == "JPEG" and max(width, height) >= 2 * side:
                s = side / max(width, height)
                img.draft("RGB", (max(1, math.ceil(width * s)), max(1, math.ceil(height * s))))
                reduced = img.size != (width, height)
            img.load()
            if exif.get("orientation", 1) != 1:
                img = ImageOps.exif_transpose(img) or img
            rgb, rgb_image = _to_rgb8(img)
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError("too_large", f"refused as a possible decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise DecodeError("not_an_image", "not a recognised image format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        text = str(exc) or type(exc).__name__
        kind = "truncated" if "truncat" in text.lower() or isinstance(exc, EOFError) else "corrupt"
        raise DecodeError(kind, f"cannot decode: {text}") from None
    except MemoryError:
        raise DecodeError("too_large", "not enough memory to decode") from None
    except Exception as exc:  # any other decoder failure is still a bad file, not our crash
        raise DecodeError("corrupt", f"cannot decode: {type(exc).__name__}: {exc}") from None
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise DecodeError("corrupt", "decoded to an empty image")
    if exif.get("orientation") in (5, 6, 7, 8):
        width, height = height, width
    return Decoded(rgb=rgb, format=fmt, mode=mode, width=width, height=height, n_frames=n_frames,
                   exif=exif, jpeg_quality=quality, reduced=reduced,
                   image=rgb_image)
