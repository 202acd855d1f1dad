"""Near-duplicate precision on images that share one coarse layout, and recall on their copies.

Families from `scenes`: products centred on white, chest-X-ray-like images, text pages, one
horizon; plus procedural scenes and crops of scikit-learn's two photos. Seeds differ from the ones
the thresholds were tuned on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scenes import HARD_FAMILIES, scene
from test_embedding import EDITS, context, photo_crops, save

from pitfalls.features.fingerprint import SIDE, fingerprint, fingerprint_array, match_scores
from pitfalls.features.properties import working_copy
from pitfalls.similarity import LinkSettings, links

EDIT_NAMES = [*EDITS, "pair"]


def _edit(name: str, a: np.ndarray, r: np.random.Generator) -> np.ndarray:
    if name == "pair":
        f1, f2 = r.choice(list(EDITS), 2, replace=False)
        return np.ascontiguousarray(EDITS[f2](EDITS[f1](a, r), r))
    return np.ascontiguousarray(EDITS[name](a, r))


def _family_links(root: Path, images: list[np.ndarray], n_edited: int, seed: int,
                  settings: LinkSettings | None = None):
    """Distinct images in train (sequential names), copies of the first `n_edited` under every
    edit in test; returns (false links, pairs of distinct originals they join, {edit: recall})."""
    r = np.random.default_rng(seed)
    for k, a in enumerate(images):
        save(root, f"train/x/img_{k:04d}.png", a)
    for k in range(n_edited):
        for name in EDIT_NAMES:
            save(root, f"test/{name}/copy_{k:04d}.jpg", _edit(name, images[k], r))
    ctx = context(root)
    df = links(ctx, settings)
    paths = ctx.table["path"].tolist()
    ident = [int(p[-8:-4]) for p in paths]
    same = np.array([ident[i] == ident[j] for i, j in df[["i", "j"]].to_numpy()], dtype=bool)
    false = df[~same & df["kind"].isin(["near", "session"]).to_numpy()]
    joined = {tuple(sorted((ident[i], ident[j]))) for i, j in false[["i", "j"]].to_numpy()}
    found = {(paths[i], paths[j]) for i, j in df[df["kind"] != "session"][["i", "j"]].to_numpy()}
    found |= {(b, a) for a, b in found}
    recall = {name: float(np.mean([(f"train/x/img_{k:04d}.png", f"test/{name}/copy_{k:04d}.jpg")
                                   in found for k in range(n_edited)])) for name in EDIT_NAMES}
    return false, joined, recall


@pytest.mark.parametrize(("family", "allowed"), [("product", 1), ("xray", 0), ("horizon", 0)])
def test_hard_negatives_no_false_links_and_copies_found(tmp_path: Path, family: str,
                                                         allowed: int) -> None:
    make = HARD_FAMILIES[family]
    images = [make(5000 + s) for s in range(60)]
    false, joined, recall = _family_links(tmp_path, images, 8, seed=11)
    # Products of one shape and shade that differ only by a small label are still confused at
    # the fingerprint's resolution (at most one pair of the 1,770 here; the embedding alone
    # links far more, see benchmarks/near_precision.py).
    assert len(joined) <= allowed, false.head(5).to_dict("records")
    assert min(recall.values()) >= 0.85, recall  # 8 copies per edit: one miss is 0.875
    assert float(np.mean(list(recall.values()))) >= 0.95, recall


def test_documents_no_false_links_and_most_copies_found(tmp_path: Path) -> None:
    images = [HARD_FAMILIES["document"](5000 + s) for s in range(60)]
    false, _, recall = _family_links(tmp_path, images, 8, seed=12)
    assert false.empty, false.head(5).to_dict("records")
    # Pages are the hardest case: text lines sit near the fingerprint's resolution, and a crop
    # or rotation of a page changes its coarse embedding most. Every pixel-preserving edit is
    # found; geometric edits of pages are found most of the time.
    for name in ("resize", "jpeg", "brightness", "noise", "blur"):
        assert recall[name] == 1.0, recall
    assert float(np.mean(list(recall.values()))) >= 0.85, recall


def test_scenes_and_photos_recall_kept(tmp_path: Path) -> None:
    images = [scene(6000 + s, (120, 160)) for s in range(16)] + photo_crops()[:8]
    false, _, recall = _family_links(tmp_path, images, len(images), seed=13)
    assert false.empty, false.head(5).to_dict("records")
    assert min(recall.values()) >= 0.9, recall
    assert float(np.mean(list(recall.values()))) >= 0.95, recall


def test_fine_check_is_what_separates_one_horizon(tmp_path: Path) -> None:
    images = [HARD_FAMILIES["horizon"](7000 + s) for s in range(30)]
    for k, a in enumerate(images):
        save(tmp_path, f"{'train' if k % 2 else 'test'}/x/{k:04d}.jpg", a)
    ctx = context(tmp_path)
    coarse_only = links(ctx, LinkSettings(near_detail=-1.0, burst_detail=-1.0))
    assert (coarse_only["kind"] == "near").sum() > 0  # the 10x10 embedding alone confuses them
    assert links(ctx).empty


def test_fingerprint_of_odd_images() -> None:
    for arr in (np.zeros((1, 1, 3), np.uint8), np.full((5, 300, 3), 200, np.uint8),
                np.random.default_rng(0).integers(0, 256, (40, 30, 3)).astype(np.uint8)):
        fp = fingerprint(working_copy(arr))
        assert isinstance(fp, bytes) and len(fp) == SIDE * SIDE
    gray = working_copy(scene(1))[..., 1]
    assert len(fingerprint(gray)) == SIDE * SIDE
    prints, have = fingerprint_array([fingerprint(gray), None, float("nan"), b"short"])
    assert prints.shape == (4, SIDE, SIDE) and have.tolist() == [True, False, False, False]


def test_match_scores_identity_flat_and_empty() -> None:
    a, b = working_copy(scene(2)), working_copy(scene(3))
    flat = np.full((50, 50, 3), 0.5, np.float32)
    prints, _ = fingerprint_array([fingerprint(a), fingerprint(b), fingerprint(flat),
                                   fingerprint(flat * 0.9)])
    s = match_scores(prints, np.array([0, 0, 2]), np.array([0, 1, 3]))
    assert s[0] > 0.99 and s[1] < 0.85 and np.isfinite(s).all()
    assert match_scores(prints, np.array([], int), np.array([], int)).shape == (0,)


def test_enough_skips_alignment_without_changing_which_pairs_pass() -> None:
    rng = np.random.default_rng(5)
    originals = [scene(40 + k, (120, 160)) for k in range(6)]
    edits = ["jpeg", "brightness", "noise", "crop", "rotate", "resize"]
    images = originals + [_edit(e, o, rng) for e, o in zip(edits, originals, strict=True)]
    prints, _ = fingerprint_array([fingerprint(working_copy(x)) for x in images])
    i, j = np.triu_indices(len(images), 1)
    full = match_scores(prints, i, j)
    for enough in (0.5, 0.7, 0.9):
        fast = match_scores(prints, i, j, enough=enough)
        assert ((fast >= enough) == (full >= enough)).all()
        assert (fast <= full + 1e-6).all() and np.allclose(fast[full < enough], full[full < enough])


def test_links_without_fingerprints_fall_back_to_coarse_checks(tmp_path: Path) -> None:
    a = scene(21, (120, 160))
    save(tmp_path, "train/x/a.png", a)
    save(tmp_path, "test/x/b.jpg", _edit("jpeg", a, np.random.default_rng(0)))
    ctx = context(tmp_path)
    ctx.table = ctx.table.drop(columns="fingerprint")
    df = links(ctx)
    assert (df["kind"] == "near").sum() == 1


def _one_object(k: int, n: int, size: tuple[int, int] = (120, 160)) -> np.ndarray:
    """A shaded red disc near the centre of a tinted flat background lit unevenly from a
    direction that turns by 360/n degrees from photo to photo (a fixed camera over a belt)."""
    r = np.random.default_rng(100 + k)
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = 2 * np.pi * k / n
    light = 1.0 + 0.22 * (np.cos(angle) * (x - w / 2) + np.sin(angle) * (y - h / 2)) / w
    background = r.uniform(80, 120) * light[..., None] + r.normal(0, 3.5, 3)
    cx, cy = w / 2 + r.uniform(-0.04, 0.04) * w, h / 2 + r.uniform(-0.04, 0.04) * h
    rad = h * r.uniform(0.2, 0.23)
    d2 = ((x - cx) ** 2 + (y - cy) ** 2) / rad**2
    inside = np.clip((1 - np.sqrt(d2)) * rad, 0, 1)[..., None]
    shade = 0.35 + 0.65 * np.clip((-(x - cx) - (y - cy)) * 0.4 / rad
                                  + np.sqrt(np.clip(1 - d2, 0, 1)) * 0.8, 0, 1)
    disc = np.array([200, 40, 35], np.float32) * shade[..., None]
    img = background * (1 - inside) + disc * inside + r.normal(0, 2, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_one_object_on_a_uniform_background_is_not_a_duplicate(tmp_path: Path) -> None:
    """Smooth shading correlates between any two similar discs, so block correlations alone
    linked most of these pairs; the background's slow shading tells the photos apart."""
    n = 16
    images = [_one_object(k, n) for k in range(n)]
    r = np.random.default_rng(1)
    for k, a in enumerate(images):
        save(tmp_path, f"train/x/img_{k:04d}.jpg", a)
    for k in range(4):
        for name, edit in EDITS.items():
            save(tmp_path, f"test/{name}/copy_{k:04d}.jpg",
                 np.ascontiguousarray(edit(images[k], r)))
    ctx = context(tmp_path)
    df = links(ctx)
    paths = ctx.table["path"].tolist()
    ident = np.array([int(p[-8:-4]) for p in paths])
    false = df[ident[df["i"]] != ident[df["j"]]]
    assert false.empty, false.head(5).to_dict("records")
    found = {(paths[a], paths[b]) for a, b in df[["i", "j"]].to_numpy()}
    found |= {(b, a) for a, b in found}
    for name in EDITS:
        linked = [(f"train/x/img_{k:04d}.jpg", f"test/{name}/copy_{k:04d}.jpg") in found
                  for k in range(4)]
        assert all(linked), (name, linked)
