"""Small JPEG thumbnails of logged images: made on the device (opt-in) and re-encoded by the
service before a browser sees one.

Both sides decode with Pillow and write a fresh baseline JPEG, so nothing but pixels is kept:
no EXIF (GPS, camera serial), no ICC or XMP, no comment. The service never passes stored bytes
through as they came: `reencode` decodes them (JPEG, PNG or WebP only, bounded pixel count) and
writes its own JPEG, or says the bytes are not an image.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from pitfalls.errors import InputError
from pitfalls.monitor.records import MAX_THUMBNAIL

log = logging.getLogger(__name__)

MIN_SIZE, MAX_SIZE = 16, 512
"""Bounds of `thumbnail_size`, the longest side in pixels."""
QUALITY = 70
FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
MAX_PIXELS = 4096 * 4096
"""A stored thumbnail larger than this (a small PNG can claim a huge canvas) is refused before
its pixels are decoded."""
SERVED_SIDE = 256
"""Longest side of the JPEG the service serves."""


def _jpeg(image: Any, side: int, quality: int) -> bytes:
    """`image` shrunk to fit `side` x `side` and saved as a plain JPEG (no metadata)."""
    from PIL import Image

    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    if image.mode != "RGB":
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert("RGB")
    clean = Image.new("RGB", image.size)  # pixels only: no info dict, no EXIF, no profile
    clean.paste(image)
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def make_thumbnail(data: bytes, size: int = 128, quality: int = QUALITY) -> bytes:
    """A JPEG of the encoded image `data`, its longest side at most `size` pixels, upright (EXIF
    orientation applied) and without metadata; at most `MAX_THUMBNAIL` bytes. `InputError` when
    Pillow cannot read the image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            upright = ImageOps.exif_transpose(image)
            upright.load()
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot make a thumbnail: {exc}") from None
    side = size
    while True:
        thumb = _jpeg(upright.copy(), side, quality)
        if len(thumb) <= MAX_THUMBNAIL or side <= MIN_SIZE:
            return thumb
        side = max(MIN_SIZE, int(side * 0.7))


def check_size(size: int) -> int:
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise InputError(f"thumbnail_size must be a whole number of pixels from {MIN_SIZE} to "
                         f"{MAX_SIZE}, not {size!r}")
    return size


def reencode(data: bytes, side: int = SERVED_SIDE) -> bytes | None:
    """The stored thumbnail `data` decoded (JPEG, PNG or WebP) and written as a fresh JPEG, or
    None (logged) when it is not such an image."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=sorted(FORMATS)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ValueError(f"{image.width}x{image.height} pixels")
                image.draft("RGB", (side, side))
                image.load()
                return _jpeg(image.copy(), side, 80)
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        log.warning("a stored thumbnail is not a readable image (%s: %s); not served",
                    type(exc).__name__, str(exc)[:120])
        return None


__all__ = ["check_size", "make_thumbnail", "reencode"]
