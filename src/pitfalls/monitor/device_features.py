"""Features of one image on the device, by the scan's own extractor, as a record carries them.

The same `compute_bytes_features` that fills the scan's feature table (same code, same
`FEATURE_VERSION`) runs on the encoded image, so a record's features compare with the reference
profile's and the image itself need not leave the site. Text columns (format, hashes as hex,
EXIF strings) and the fingerprint bytes are left out: a record's features are numbers, booleans
and number vectors (the embedding).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from pitfalls.errors import InputError
from pitfalls.features.compute import FEATURE_VERSION, compute_bytes_features

ImageInput = Any
"""A path (str or Path), encoded bytes, a Pillow image or an 8-bit RGB/gray NumPy array."""

_LEFT_OUT = frozenset({"ok", "error_kind", "error", "fingerprint"})


def image_bytes(image: ImageInput) -> tuple[bytes, str]:
    """The encoded bytes of `image` and a name for messages. Pillow images and arrays are
    encoded as PNG (lossless; their `jpeg_quality` then reads 100, as for any PNG)."""
    if isinstance(image, str | Path):
        path = Path(image).expanduser()
        try:
            return path.read_bytes(), str(image)
        except FileNotFoundError:
            raise InputError(f"{image}: file not found") from None
        except OSError as exc:
            raise InputError(f"{image}: cannot read file: {exc.strerror or exc}") from None
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image), "image bytes"
    from PIL import Image

    if isinstance(image, np.ndarray):
        try:
            image = Image.fromarray(np.ascontiguousarray(image))
        except (TypeError, ValueError) as exc:
            raise InputError(f"an array of shape {image.shape} and dtype {image.dtype} is not "
                             f"an image (8-bit HxW or HxWx3): {exc}") from None
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue(), "image"
    raise InputError(f"cannot log a {type(image).__name__}: give a path, encoded bytes, a "
                     "Pillow image or a NumPy array")


def _float32(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (half the JSON of a float64)."""
    return float(str(np.float32(value)))


def record_features(row: dict[str, Any]) -> dict[str, Any]:
    """A feature row (as the scan computes it) as a record's `features`: numbers, booleans,
    null for non-finite values, the embedding as a list of float32 values."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in _LEFT_OUT or name.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            out[name] = [_float32(v) for v in value.ravel().tolist()]
        elif isinstance(value, bool | np.bool_):
            out[name] = bool(value)
        elif isinstance(value, int | np.integer):
            out[name] = int(value)
        elif isinstance(value, float | np.floating):
            out[name] = float(value) if math.isfinite(value) else None
    return out


def image_features(data: bytes, name: str = "image") -> tuple[dict[str, Any], str]:
    """(record features, byte hash) of one encoded image; `InputError` naming it when it
    cannot be decoded."""
    row = compute_bytes_features(data)
    if not row["ok"]:
        raise InputError(f"{name}: {row['error'] or 'cannot decode the image'}")
    return record_features(row), str(row["byte_hash"])


__all__ = ["FEATURE_VERSION", "ImageInput", "image_bytes", "image_features", "record_features"]
