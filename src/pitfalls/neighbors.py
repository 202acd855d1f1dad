"""Near-neighbour search over unit vectors: every pair whose cosine similarity reaches a threshold.

One seam, `NeighborIndex`, so that an approximate index (faiss, …) can replace the exact search for
very large sets without touching its callers. `ExactIndex` multiplies blocks of rows against all
rows (BLAS matrix products, so memory is `block x n`, never `n x n`) and keeps, per row, at most
`max_per_row` partners above the threshold: enough to connect a cluster of copies without letting
a large cluster of identical images produce a quadratic number of pairs.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(i, j, score) arrays with i < j, sorted by i then j."""


class NeighborIndex(Protocol):
    """Finds the pairs of indexed vectors whose cosine similarity is at least a threshold."""

    def pairs(self, threshold: float, max_per_row: int = 50) -> Pairs:
        ...


def _empty() -> Pairs:
    return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


class ExactIndex:
    """Exact search by blocked matrix products (fast enough for 10^5 vectors of ~100 dimensions)."""

    def __init__(self, vectors: np.ndarray, block: int = 2048) -> None:
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array, got shape {x.shape}")
        self.x = np.ascontiguousarray(x)
        self.block = max(1, int(block))

    def pairs(self, threshold: float, max_per_row: int = 50) -> Pairs:
        n = len(self.x)
        if n < 2:
            return _empty()
        out_i, out_j, out_s = [], [], []
        for start in range(0, n, self.block):
            stop = min(n, start + self.block)
            # Only columns after the block's first row: each pair is seen once (i < j).
            sims = self.x[start:stop] @ self.x[start:].T
            m = stop - start  # only the square diagonal block holds pairs with j <= i
            sims[:, :m][np.tril_indices(m)] = -np.inf
            ii, jj = np.nonzero(sims >= threshold)
            if ii.size == 0:
                continue
            ss = sims[ii, jj]
            counts = np.bincount(ii, minlength=stop - start)
            if counts.max() > max_per_row:
                keep = _top_per_row(ii, ss, max_per_row)
                ii, jj, ss = ii[keep], jj[keep], ss[keep]
            out_i.append(ii + start)
            out_j.append(jj + start)
            out_s.append(ss.astype(np.float32))
        if not out_i:
            return _empty()
        i, j, s = np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)
        order = np.lexsort((j, i))
        return i[order].astype(np.int64), j[order].astype(np.int64), s[order]


def _top_per_row(rows: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` best scores of each row (rows given per entry)."""
    order = np.lexsort((-scores, rows))
    sorted_rows = rows[order]
    first = np.searchsorted(sorted_rows, sorted_rows, side="left")
    rank = np.arange(len(order)) - first
    return np.sort(order[rank < k])


def make_index(vectors: np.ndarray, method: str = "exact") -> NeighborIndex:
    """The index for `vectors`: only "exact" for now (an ANN backend would be another method)."""
    if method != "exact":
        raise ValueError(f"unknown neighbour search method {method!r}; choose 'exact'")
    return ExactIndex(vectors)


def pair_scores(vectors: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Cosine similarity of given pairs of rows (unit vectors), without forming any matrix."""
    x = np.asarray(vectors, dtype=np.float32)
    if len(i) == 0:
        return np.zeros(0, dtype=np.float32)
    return np.einsum("ij,ij->i", x[i], x[j])
