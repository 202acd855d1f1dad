"""The orthonormal 2-D DCT-II of small square thumbnails, as two matrix products.

For the 32x32 thumbnails of the hashes and the embedding this is about three times faster than
`scipy.fft.dctn` (whose per-call set-up dominates at that size) and equal to it to float precision.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def dct_matrix(n: int) -> np.ndarray:
    """The n x n orthonormal DCT-II matrix (rows are basis functions)."""
    k = np.arange(n)[:, None]
    m = np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    m.setflags(write=False)
    return m


def dct2(block: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D DCT-II of a square 2-D array (as `scipy.fft.dctn(x, norm="ortho")`)."""
    d = dct_matrix(block.shape[0])
    return d @ block @ d.T
