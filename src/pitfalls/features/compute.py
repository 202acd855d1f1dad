"""Compute every feature of one image file in a single read and a single decode."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pitfalls.decode import DEFAULT_MAX_PIXELS, DecodeError, decode_bytes
from pitfalls.features.embedding import Embedder, WeightFreeEmbedder
from pitfalls.features.fingerprint import SIDE as FINGERPRINT_SIDE
from pitfalls.features.fingerprint import fingerprint
from pitfalls.features.hashes import bytes_hash, dhash, phash, pixel_hash
from pitfalls.features.properties import (
    FRAME_DEPTH,
    WORK_SIDE,
    Planes,
    frame,
    image_properties,
    working_image,
)
from pitfalls.files import NotAFileError
from pitfalls.sources import read_bytes

FEATURE_VERSION = 13
"""Bump when any feature's definition changes: the cache keys on it."""

_DEFAULT_EMBEDDER = WeightFreeEmbedder()


def _base() -> dict[str, Any]:
    return {"ok": False, "error_kind": None, "error": None, "file_size": None}


def compute_file_features(
    path: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    embedder: Embedder | None = None,
    keep_work: bool = False,
) -> dict[str, Any]:
    """Read, decode and measure one file. Never raises for a bad file: `ok` is False instead.

    Returns a flat dict of scalars plus `embedding` (float32 vector, or None when unreadable).
    With `keep_work`, the 8-bit working copy is returned under `_work` (for batch embedders).
    """
    path = Path(path)
    return _features(lambda: read_bytes(path), max_pixels, embedder, keep_work, path)


def compute_bytes_features(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    embedder: Embedder | None = None,
    keep_work: bool = False,
) -> dict[str, Any]:
    """`compute_file_features` of an encoded image already in memory (the file's bytes)."""
    return _features(lambda: data, max_pixels, embedder, keep_work)


def _features(read: Callable[[], bytes], max_pixels: int, embedder: Embedder | None,
              keep_work: bool, path: Path | None = None) -> dict[str, Any]:
    row = _base()
    try:
        data = read()
    except FileNotFoundError:
        broken = path is not None and os.path.islink(path)
        row.update(error_kind="missing",
                   error="broken symbolic link" if broken else "file not found")
        return row
    except NotAFileError as exc:
        row.update(error_kind="not_a_file", error=f"not a regular file: it is {exc.what}")
        return row
    except OSError as exc:
        row.update(error_kind="unreadable", error=f"cannot read file: {exc.strerror or exc}")
        return row
    except ValueError as exc:  # a NUL byte or an unencodable character: no file has that name
        row.update(error_kind="bad_path", error=f"not a usable file name: {exc}")
        return row
    row["file_size"] = len(data)
    row["byte_hash"] = bytes_hash(data)
    try:
        dec = decode_bytes(data, max_pixels=max_pixels, min_side=WORK_SIDE)
    except DecodeError as exc:
        row.update(error_kind=exc.kind, error=str(exc))
        return row
    del data
    image = dec.pil()
    work_image = working_image(image)
    work = dec.rgb if work_image is image else np.asarray(work_image)
    planes = Planes.of(work, work_image)
    # Thumbnails (hashes, fingerprint, embedding) start from the half-size colour copy when it
    # keeps at least twice the fingerprint's resolution, else from the working copy itself.
    thumb = planes.small if min(planes.small.size) >= 2 * FINGERPRINT_SIDE else work_image
    small_gray = thumb.convert("L")
    exif = dec.exif
    row.update(
        ok=True,
        format=dec.format,
        mode=dec.mode,
        width=dec.width,
        height=dec.height,
        aspect=dec.width / dec.height,
        megapixels=dec.width * dec.height / 1e6,
        n_frames=dec.n_frames,
        jpeg_quality=dec.jpeg_quality,
        decoded_reduced=dec.reduced,
        exif_make=exif.get("make"),
        exif_model=exif.get("model"),
        exif_datetime=exif.get("datetime"),
        exif_orientation=int(exif.get("orientation", 1) or 1),
        pixel_hash=pixel_hash(dec.rgb),
    )
    # The frame ring is FRAME_DEPTH pixels of the original: thinner when decoded reduced.
    scale = dec.rgb.shape[1] / max(dec.width, 1)  # both are after EXIF orientation
    row.update(frame(dec.rgb, depth=max(1, round(FRAME_DEPTH * scale))))
    del dec
    row.update(image_properties(work, planes))
    if embedder is None or isinstance(embedder, WeightFreeEmbedder):
        row["embedding"] = (embedder or _DEFAULT_EMBEDDER).embed_one(thumb)
    row["fingerprint"] = fingerprint(small_gray)  # fine luma thumbnail: verifies near-duplicates
    # The perceptual hashes are taken of that thumbnail (the image's centre), not of a third one.
    thumb_image = Image.frombytes("L", (FINGERPRINT_SIDE, FINGERPRINT_SIDE), row["fingerprint"])
    row["phash"], row["dhash"] = phash(thumb_image), dhash(thumb_image)
    if keep_work:
        row["_work"] = work
    return row
