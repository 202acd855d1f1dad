"""Approximate neighbour search (faiss HNSW) against the exact search, and the fallback."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pitfalls.neighbors import ANN_MIN, ExactIndex, HNSWIndex, make_index, pair_scores

faiss = pytest.importorskip("faiss")


def planted(n: int = 4000, d: int = 131, copies: int = 250, seed: int = 0):
    """Clustered unit vectors (like photos of a few scenes) with planted near-copies >= 0.99."""
    r = np.random.default_rng(seed)
    centres = r.standard_normal((60, d))
    x = centres[r.integers(0, len(centres), n)] * 0.45 + r.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    targets = r.choice(n, copies, replace=False)
    sources = r.choice(np.setdiff1d(np.arange(n), targets), copies, replace=False)
    noisy = x[sources] + 0.04 * r.standard_normal((copies, d)) / np.sqrt(d)
    x[targets] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return x.astype(np.float32), set(zip(np.minimum(sources, targets).tolist(),
                                         np.maximum(sources, targets).tolist(), strict=True))


def as_set(p) -> set[tuple[int, int]]:
    return set(zip(p[0].tolist(), p[1].tolist(), strict=True))


@pytest.mark.parametrize("threshold", [0.99, 0.95, 0.90])
def test_hnsw_recall_and_verified_pairs_match_exact(threshold: float) -> None:
    x, truth = planted()
    exact = ExactIndex(x).pairs(threshold)
    approx = HNSWIndex(x).pairs(threshold)
    e, a = as_set(exact), as_set(approx)
    assert truth <= e  # every planted copy is a true pair at these thresholds
    assert a <= e  # verified: the approximate index returns no pair the exact search rejects
    assert len(a & e) / len(e) >= 0.99
    assert truth <= a
    # Scores are exact cosines, identical to the exact search's for the same pairs.
    common = sorted(a & e)
    ei = {p: s for p, s in zip(zip(exact[0].tolist(), exact[1].tolist(), strict=True),
                                exact[2].tolist(), strict=True)}
    ai = {p: s for p, s in zip(zip(approx[0].tolist(), approx[1].tolist(), strict=True),
                                approx[2].tolist(), strict=True)}
    assert np.allclose([ai[p] for p in common], [ei[p] for p in common], atol=1e-5)
    i, j, s = approx
    assert np.all(i < j) and np.all(s >= threshold)
    assert np.all(np.lexsort((j, i)) == np.arange(len(i)))
    assert np.allclose(s, pair_scores(x, i, j))


def test_hnsw_caps_pairs_per_row_in_a_cluster_of_copies() -> None:
    x, _ = planted(n=600, copies=10)
    x[:80] = x[0]  # 80 identical images: far more than max_per_row partners each
    i, j, _ = HNSWIndex(x).pairs(0.99, max_per_row=5)
    inside = (i < 80) & (j < 80)
    assert inside.sum() <= 80 * 5  # not the 3,160 pairs of the whole cluster
    graph = coo_matrix((np.ones(inside.sum()), (i[inside], j[inside])), shape=(80, 80))
    assert connected_components(graph, directed=False)[0] == 1  # still one cluster


def test_make_index_chooses_by_size_and_falls_back_without_faiss(monkeypatch) -> None:
    x, _ = planted(n=300, copies=5)
    assert isinstance(make_index(x), ExactIndex)
    assert isinstance(make_index(x, ann_min=100), HNSWIndex)
    assert isinstance(make_index(x, "hnsw"), HNSWIndex)
    assert ANN_MIN >= 10_000
    monkeypatch.setitem(sys.modules, "faiss", None)  # as if faiss were not installed
    monkeypatch.setattr("pitfalls.neighbors.have_faiss", lambda: False)
    assert isinstance(make_index(x, ann_min=100), ExactIndex)
    with pytest.raises(ImportError, match="pitfalls\\[scale\\]"):
        make_index(x, "hnsw")


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown"):
        make_index(np.zeros((3, 4), dtype=np.float32), "lsh")
    with pytest.raises(ValueError, match="2-D"):
        HNSWIndex(np.zeros(5))
    for n in (0, 1):
        i, j, s = HNSWIndex(np.ones((n, 4), dtype=np.float32) / 2).pairs(0.9)
        assert len(i) == len(j) == len(s) == 0
    i, j, _ = HNSWIndex(np.ones((2, 4), dtype=np.float32) / 2).pairs(0.9)
    assert (i.tolist(), j.tolist()) == ([0], [1])


def test_exact_search_blocks_bound_memory_without_changing_pairs() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    x[1500:1600] = x[:100] + 0.01 * rng.standard_normal((100, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    one_block = ExactIndex(x, block=3000).pairs(0.9, 5)
    small = ExactIndex(x, block_bytes=64 * 1024)  # 64 KiB: 16-row blocks (the floor)
    assert small.block == 16
    i, j, score = small.pairs(0.9, 5)
    assert np.array_equal(i, one_block[0]) and np.array_equal(j, one_block[1])
    assert np.allclose(score, one_block[2], atol=1e-5)
    assert len(i) >= 100
