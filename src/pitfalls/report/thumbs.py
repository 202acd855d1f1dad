"""Thumbnails for the HTML report: small JPEGs embedded as base64 data URIs.

Each file is decoded at most once per render (results are memoised by path), with EXIF orientation
applied. A missing or unreadable file gives a `Thumb` without a URI and with the reason, which the
template shows as a placeholder; nothing here raises on bad files.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pitfalls.decode import DEFAULT_MAX_PIXELS, DecodeError, decode_bytes
from pitfalls.sources import read_bytes

THUMB_SIDE = 160
"""Longest side of a thumbnail, in pixels."""

JPEG_QUALITY = 78


@dataclass(frozen=True)
class Thumb:
    """A thumbnail of one dataset path: `uri` is a data URI, or None with `error` saying why."""

    path: str
    uri: str | None
    width: int = 0
    height: int = 0
    error: str | None = None  # "missing" or a `DecodeError.kind`


def _jpeg_draft(data: bytes, side: int, max_pixels: int) -> np.ndarray | None:
    """Fast path for JPEGs: let libjpeg decode at a reduced scale (DCT scaling).

    A full decode of a 12-megapixel photo takes ~100 ms, a draft decode a fraction of that, which
    matters when a report shows hundreds of thumbnails. Anything unusual returns None, and the
    caller falls back to the safe `pitfalls.decode.decode_bytes`.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            if img.format != "JPEG" or img.width * img.height > max_pixels:
                return None
            img.draft("RGB", (side * 2, side * 2))
            img.load()
            img = ImageOps.exif_transpose(img) or img
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception:  # any trouble: the safe decoder decides and explains
        return None


def _encode(rgb: np.ndarray, side: int) -> tuple[str, int, int]:
    img = Image.fromarray(rgb)
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return uri, img.width, img.height


class Thumbnailer:
    """Makes (and remembers) thumbnails of paths relative to a dataset root."""

    def __init__(self, root: str | Path | None, side: int = THUMB_SIDE,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.root = Path(root) if root is not None else None
        self.side = side
        self.max_pixels = max_pixels
        self._memo: dict[str, Thumb] = {}

    def __len__(self) -> int:
        return len(self._memo)

    def __call__(self, path: str) -> Thumb:
        path = str(path)
        if path not in self._memo:
            self._memo[path] = self._make(path)
        return self._memo[path]

    def prefetch(self, paths: Iterable[str], threads: int = 2) -> None:
        """Make the thumbnails of `paths` now, on `threads` threads (Pillow's decoding, resizing
        and encoding release the GIL, so they run in parallel)."""
        todo = [p for p in dict.fromkeys(str(p) for p in paths) if p not in self._memo]
        if len(todo) < 2 or threads < 2:
            return
        with ThreadPoolExecutor(min(threads, len(todo))) as pool:
            for path, thumb in zip(todo, pool.map(self._make, todo), strict=True):
                self._memo[path] = thumb

    def _make(self, path: str) -> Thumb:
        if self.root is None:
            return Thumb(path, None, error="missing")
        file = self.root / path
        try:
            data = read_bytes(file)  # never a pipe or a device: it would block the report
        except (OSError, ValueError):  # ValueError: a NUL byte in the name
            return Thumb(path, None, error="missing")
        rgb = _jpeg_draft(data, self.side, self.max_pixels)
        try:
            if rgb is None:
                rgb = decode_bytes(data, max_pixels=self.max_pixels).rgb
            uri, w, h = _encode(rgb, self.side)
        except DecodeError as exc:
            return Thumb(path, None, error=exc.kind)
        except Exception:  # a thumbnail must never break the report
            return Thumb(path, None, error="corrupt")
        return Thumb(path, uri, w, h)
