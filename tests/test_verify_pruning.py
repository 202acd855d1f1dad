"""Near-duplicate verification skips a pair of one split that verified links already join: the
groups, the cross-split pairs and the sessions that span splits come out as when every candidate
is checked, with fewer fine checks where many images are copies of a few."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scenes import scene
from scipy.cluster.hierarchy import DisjointSet

from pitfalls import similarity
from pitfalls.config import Config
from pitfalls.pipeline import build_context
from pitfalls.similarity import LinkSettings, _near_links, _Similarity


@pytest.fixture()
def copies(tmp_path: Path) -> Path:
    """Two photos with 14 light crops each (11 in train, 3 in test), and 12 unrelated photos."""
    rng = np.random.default_rng(3)
    for base in range(2):
        photo = scene(500 + base, size=(240, 320))
        for k in range(14):
            h, w = photo.shape[:2]
            top, left, bottom, right = (rng.uniform(0, 0.04, 4) * [h, w, h, w]).astype(int)
            split = "test" if k >= 11 else "train"
            folder = tmp_path / split / f"c{base}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo[top:h - bottom, left:w - right]).save(
                folder / f"copy{base}_{k}.jpg", quality=int(rng.integers(70, 95)))
    for k in range(12):
        Image.fromarray(scene(900 + k, size=(240, 320))).save(
            tmp_path / ("train", "test")[k % 3 == 0] / f"c{k % 2}" / f"other{k}.jpg")
    return tmp_path


def _outcome(ctx, skip_joined: bool, monkeypatch: pytest.MonkeyPatch):
    checked = []
    detail = _Similarity.detail

    def counted(self, i, j, enough=None):
        checked.append(len(i))
        return detail(self, i, j, enough)

    monkeypatch.setattr(_Similarity, "detail", counted)
    monkeypatch.setattr(similarity, "_verify",
                        functools.partial(_VERIFY, skip_joined=skip_joined, batch=16))
    ok = np.flatnonzero(ctx.ok.to_numpy())
    near, burst = _near_links(ctx.table, _Similarity(ctx.table, ctx.embeddings(), ok, None),
                              LinkSettings())
    split = ctx.table["split"].to_numpy()
    n = len(ctx.table)
    joined = DisjointSet(range(n))
    for a, b, *_ in near:
        if split[a] == split[b]:
            joined.merge(a, b)
    groups = sorted(tuple(sorted(g)) for g in joined.subsets())
    cross = sorted((a, b) for a, b, *_ in near if split[a] != split[b])
    return groups, cross, sum(checked)


_VERIFY = similarity._verify


def test_skipping_joined_pairs_keeps_groups_and_cross_split_pairs(
        copies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = build_context(copies, Config(), cache=False)
    groups, cross, checked = _outcome(ctx, True, monkeypatch)
    every_groups, every_cross, every_checked = _outcome(ctx, False, monkeypatch)
    assert groups == every_groups
    assert cross == every_cross
    # each photo's 11 train copies and its 3 test copies
    assert sorted(len(g) for g in groups if len(g) > 1) == [3, 3, 11, 11]
    assert len(cross) >= 2 * 3  # every test copy has its train originals
    assert checked < every_checked
