"""The corpus of odd files in `tests/data/odd/` and what a scan must make of each.

Every file there was written by `write_corpus` (run this module to write them again) and is kept
small (a few kilobytes). `EXPECTED` maps each file name to `None` (read as an image) or the
error kinds QUAL001 may give it; `IGNORED` are files that are not images at all.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

CORPUS = Path(__file__).resolve().parent / "data" / "odd"

EXPECTED: dict[str, tuple[str, ...] | None] = {
    "plain.jpg": None,
    "truncated.jpg": ("truncated", "corrupt"),
    "truncated.png": ("truncated", "corrupt"),
    "zero-byte.jpg": ("empty",),
    "header-only.jpg": ("not_an_image", "truncated", "corrupt"),
    "png-named.jpg": None,
    "bomb-60000x60000.png": ("too_large",),
    "cmyk.jpg": None,
    "gray-16bit.png": None,
    "palette-transparent.png": None,
    "exif-rotated.jpg": None,
    "exif-malformed.jpg": None,
    "error-page.jpg": ("not_an_image",),
    "animated.gif": None,
    "float.tiff": None,
    "photo.webp": None,
    "photo.bmp": None,
    "one-pixel.png": None,
    "sliver-1x400.png": None,
    "gray-alpha.png": None,
    "bad-crc.png": ("corrupt", "truncated"),
    "trailing-garbage.jpg": None,
    "IMG_0001": None,
    "日本語の名前.png": None,
    "[bold] brackets & spaces.png": None,
}
IGNORED = ("README.txt",)
"""Files in the corpus that are not candidate images (counted as ignored)."""


def _photo(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 7, yy * 9, (xx + yy) * 3], axis=2) % 256
    return np.clip(base + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _bomb(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))


def corpus_bytes() -> dict[str, bytes]:
    """Each odd file's name and bytes."""
    rgb = Image.fromarray(_photo())
    jpg = _save(rgb, "JPEG", quality=85)
    png = _save(Image.fromarray(_photo(seed=1)), "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6
    junk_exif = b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xf0" + bytes(range(40))
    app1 = b"\xff\xe1" + (len(junk_exif) + 2).to_bytes(2, "big") + junk_exif
    frames = [Image.fromarray(_photo(seed=s)).convert("P") for s in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    ramp = np.tile(np.linspace(0, 65535, 32, dtype=np.uint16), (24, 1))
    bad_crc = png[:33] + _png_chunk(b"IDAT", zlib.compress(b"\x01" * 50), crc=0) + png[-12:]
    files = {
        "plain.jpg": jpg,
        "truncated.jpg": jpg[: len(jpg) // 2],
        "truncated.png": png[: len(png) // 2],
        "zero-byte.jpg": b"",
        "header-only.jpg": jpg[:20],
        "png-named.jpg": png,
        "bomb-60000x60000.png": _bomb(60000, 60000),
        "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG", quality=90),
        "gray-16bit.png": _save(Image.fromarray(ramp), "PNG"),
        "palette-transparent.png": _save(rgb.convert("P", palette=Image.Palette.ADAPTIVE,
                                                     colors=8), "PNG", transparency=0),
        "exif-rotated.jpg": _save(Image.fromarray(_photo(seed=2)), "JPEG", exif=exif),
        "exif-malformed.jpg": jpg[:2] + app1 + jpg[2:],
        "error-page.jpg": b"<html><body>404 Not Found</body></html>\n",
        "animated.gif": gif.getvalue(),
        "float.tiff": _save(Image.fromarray(_photo(seed=3)[:, :, 0].astype(np.float32) / 255,
                                            "F"), "TIFF"),
        "photo.webp": _save(Image.fromarray(_photo(seed=4)), "WEBP", quality=80),
        "photo.bmp": _save(Image.fromarray(_photo(8, 8, seed=5)), "BMP"),
        "one-pixel.png": _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"),
        "sliver-1x400.png": _save(Image.fromarray(_photo(400, 1, seed=6)), "PNG"),
        "gray-alpha.png": _save(Image.fromarray(_photo(seed=7)).convert("LA"), "PNG"),
        "bad-crc.png": bad_crc,
        "trailing-garbage.jpg": _save(Image.fromarray(_photo(seed=8)), "JPEG") + b"\x00junk" * 20,
        "IMG_0001": _save(Image.fromarray(_photo(seed=9)), "JPEG"),
        "日本語の名前.png": _save(Image.fromarray(_photo(seed=10)), "PNG"),
        "[bold] brackets & spaces.png": _save(Image.fromarray(_photo(seed=11)), "PNG"),
        "README.txt": b"Odd files for the bad-input tests; see tests/odd_corpus.py.\n",
    }
    assert set(files) == set(EXPECTED) | set(IGNORED)
    return files


def write_corpus(folder: Path = CORPUS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in corpus_bytes().items():
        (folder / name).write_bytes(data)


if __name__ == "__main__":
    write_corpus()
