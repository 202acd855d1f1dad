"""Content hashes: of the file bytes, of the decoded pixels, and perceptual (pHash, dHash)."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image
from scipy.fft import dctn


def bytes_hash(data: bytes) -> str:
    """BLAKE2b-128 of the file's bytes."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def pixel_hash(rgb: np.ndarray) -> str:
    """BLAKE2b-128 of the decoded 8-bit RGB pixels and their shape (format- and metadata-blind)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.asarray(rgb.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def _bits_to_int(bits: np.ndarray) -> int:
    value = 0
    for bit in bits.ravel():
        value = (value << 1) | int(bit)
    # Stored as a signed 64-bit integer so that Parquet and NumPy keep it exactly.
    return value - (1 << 64) if value >= (1 << 63) else value


def phash(gray_img: Image.Image) -> int:
    """64-bit perceptual hash: signs of the 8x8 low-frequency DCT of a 32x32 luma thumbnail."""
    small = np.asarray(gray_img.resize((32, 32), Image.Resampling.BOX), dtype=np.float64)
    coeffs = dctn(small, norm="ortho")[:8, :8]
    return _bits_to_int(coeffs > np.median(coeffs))


def dhash(gray_img: Image.Image) -> int:
    """64-bit difference hash: horizontal gradient signs of a 9x8 luma thumbnail."""
    small = np.asarray(gray_img.resize((9, 8), Image.Resampling.BOX), dtype=np.float64)
    return _bits_to_int(small[:, 1:] > small[:, :-1])


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distance between signed-64-bit hash arrays (broadcasting)."""
    x = np.bitwise_xor(a.astype(np.int64), b.astype(np.int64)).view(np.uint64)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(axis=-1)
