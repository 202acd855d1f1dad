"""Content hashes: of the file bytes, of the decoded pixels, and perceptual (pHash, dHash)."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from pitfalls.features.dct import dct2


def bytes_hash(data: bytes) -> str:
    """SHA-1 of the file's bytes, first 128 bits (SHA-1 runs in hardware on current CPUs, about
    twice as fast as BLAKE2b here; these hashes find copies, they are not a security boundary)."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()[:32]


def pixel_hash(rgb: np.ndarray) -> str:
    """SHA-1 (128 bits) of the decoded 8-bit RGB pixels and their shape (format- and
    metadata-blind)."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(np.asarray(rgb.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(rgb).data)  # the buffer itself, not a copy of it
    return h.hexdigest()[:32]


def _bits_to_int(bits: np.ndarray) -> int:
    value = int.from_bytes(np.packbits(bits.ravel().astype(bool)).tobytes(), "big")
    # Stored as a signed 64-bit integer so that Parquet and NumPy keep it exactly.
    return value - (1 << 64) if value >= (1 << 63) else value


def phash(gray_img: Image.Image) -> int:
    """64-bit perceptual hash: signs of the 8x8 low-frequency DCT of a 32x32 luma thumbnail (the
    scan gives it the near-duplicate fingerprint: the centre of the image, 6 % trimmed per side)."""
    small = np.asarray(gray_img.resize((32, 32), Image.Resampling.BOX), dtype=np.float64)
    coeffs = dct2(small)[:8, :8].ravel()
    middle = np.partition(coeffs, (31, 32))[31:33]  # the median of 64 values, without np.median
    return _bits_to_int(coeffs > 0.5 * (middle[0] + middle[1]))


def dhash(gray_img: Image.Image) -> int:
    """64-bit difference hash: horizontal gradient signs of a 9x8 luma thumbnail."""
    small = np.asarray(gray_img.resize((9, 8), Image.Resampling.BOX), dtype=np.float64)
    return _bits_to_int(small[:, 1:] > small[:, :-1])


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distance between signed-64-bit hash arrays (broadcasting)."""
    x = np.bitwise_xor(a.astype(np.int64), b.astype(np.int64)).view(np.uint64)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(axis=-1)
