"""A fine luma fingerprint per image, and the check that verifies near-duplicate candidates with it.

The weight-free embedding describes an image by about 10x10 numbers, so two different photos with
one coarse layout (products centred on white, chest X-rays, pages of text, one horizon) look alike
to it. The fingerprint keeps the detail: a `SIDE` x `SIDE` uint8 luma thumbnail of the image's
centre (the embedding's 6% trim on each side; Lanczos, so that resized copies alias alike),
stored as bytes (2.3 KB), computed from the working copy in the same decode (~0.1-0.3 ms).

`match_scores` compares fingerprints pair by pair, vectorised over all pairs:

1. **Alignment.** Blocks of A are matched to B over small shifts (at half resolution, then
   refined at full resolution with sub-pixel peaks) and a weighted least-squares affine map is
   fitted to the block shifts. It absorbs what a near-duplicate may differ by (resizing, crops of
   a few percent, rotations of a few degrees) but not the smooth, non-affine differences between
   two individuals; maps further than `MAX_WARP` / `MAX_SHIFT` from the identity are rejected, and
   the unaligned comparison is a floor (an alignment fitted on little structure may wander).
2. **Local structure.** B is warped onto A, and the normalised cross-correlations of the 8x8
   blocks that hold structure in either image are ranked; the score is the mean of the worst
   `WORST` share. A copy matches in every block; two images that share a layout match where the
   shared edges are, not where their details differ. Each block's correlation ignores its
   brightness and contrast, so brightness, contrast and gamma changes keep a copy's score.

Hand-written with NumPy/SciPy rather than OpenCV (`findTransformECC`, template matching) to keep
the install light and to compare all pairs at once rather than one pair per call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

SIDE = 48
"""Fingerprint side in pixels."""
TRIM = 0.06
"""Share of each side ignored, as in the embedding: crop margins and rotation corners fall in it."""
_SMOOTH = 0.7
_BLOCK = 8
_FLAT = 4.0
"""A block holds structure when its luma standard deviation (0–255) reaches this in either image."""
_BLACK = 12.0
"""Luma (0–255) below which a pixel may be the black fill of a rotation's corner."""
WORST = 0.5
"""The score averages the lowest half of the structured blocks' correlations: a copy matches in
every block, two products or pages that share a silhouette or a layout only in some."""
MAX_WARP = 0.2
"""Largest change of any entry of the fitted linear map from the identity (scale, rotation,
    shear)."""
MAX_SHIFT = 0.1
"""Largest fitted translation, as a share of the side."""
FLAT_RESIDUAL = 1.0
"""Largest RMS (luma 0-255) of the flat blocks' mean levels once B's are fitted to A's by one gain:
a copy keeps the slow shading of its background (an uneven light) up to its brightness change,
two photos of one object on one kind of background do not. Copies stay under 0.9 (crops of
procedural scenes; ~0.5 for crops, rotations and JPEG of one-fruit-on-a-belt photos); different
such photos reach 2-5."""
GAIN_CHANGE = 0.2
"""Largest |log| ratio between the contrast gain of the flat blocks' shading and that of the
structured blocks: a copy's tone change scales both alike (copies stay under 0.15)."""
_SHADING = 1.5
"""Spread (luma) of the flat blocks' mean levels in both images needed to compare gains."""
_MIN_FLAT = 6
"""Flat blocks needed for the shading check."""


def fingerprint(image: np.ndarray | Image.Image) -> bytes:
    """`SIDE` x `SIDE` uint8 luma thumbnail of the centre of a working copy: 8-bit luma (H x W, or
    a Pillow "L" image), float 0–1 luma, or RGB (H x W x 3, 8-bit or float 0–1)."""
    if isinstance(image, Image.Image):
        return _thumbnail(image if image.mode == "L" else image.convert("L"))
    luma = image
    if luma.ndim == 3:
        scale = 1.0 / 255.0 if luma.dtype == np.uint8 else 1.0
        weights = np.array([0.299, 0.587, 0.114], np.float32) * np.float32(scale)
        luma = luma[..., :3].astype(np.float32) @ weights
    if luma.dtype != np.uint8:
        luma = (np.clip(luma, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return _thumbnail(Image.fromarray(luma))


def _thumbnail(img: Image.Image) -> bytes:
    w, h = img.size
    dy, dx = int(h * TRIM), int(w * TRIM)
    box = (dx, dy, w - dx or w, h - dy or h)
    small = img.resize((SIDE, SIDE), Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)
    return np.asarray(small, dtype=np.uint8).tobytes()


def fingerprint_array(values: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """(n, SIDE, SIDE) uint8 stack of stored fingerprints and a mask of the rows that have one."""
    n = len(values)
    out = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
    have = np.zeros(n, dtype=bool)
    size = SIDE * SIDE
    for k, v in enumerate(values):
        if isinstance(v, bytes | bytearray | memoryview) and len(v) == size:
            out[k] = np.frombuffer(bytes(v), dtype=np.uint8).reshape(SIDE, SIDE)
            have[k] = True
    return out, have


def _blocks(x: np.ndarray, off: int, nb: int, blk: int, dy: int = 0, dx: int = 0) -> np.ndarray:
    """(P, nb*nb, blk*blk) view of the nb x nb blocks of side `blk` starting at `off` (+ shift)."""
    p = x.shape[0]
    y0, x0 = off + dy, off + dx
    sub = x[:, y0:y0 + nb * blk, x0:x0 + nb * blk].reshape(p, nb, blk, nb, blk)
    return sub.transpose(0, 1, 3, 2, 4).reshape(p, nb * nb, blk * blk)


def _ncc(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised cross-correlation over the last axis, and the two centred norms."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    return (a * b).sum(-1) / np.maximum(na * nb, 1e-6), na, nb


def _parabola(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray) -> np.ndarray:
    """Sub-pixel offset of a peak from three samples."""
    d = v0 - 2 * v1 + v2
    safe = np.where(d < -1e-6, d, -1.0)
    return np.where(d < -1e-6, 0.5 * (v0 - v2) / safe, 0.0).clip(-0.5, 0.5)


def _align(a: np.ndarray, b: np.ndarray, blk: int, shift: int) -> np.ndarray:
    """(P, 2, 3) affine maps (rows: y, x; columns: y, x, 1 about the centre) from A to B fitted to
    the best shift of each block of A in B."""
    p, s, _ = a.shape
    side = 2 * shift + 1
    nb = (s - 2 * shift) // blk
    off = shift + (s - 2 * shift - nb * blk) // 2
    ab = _blocks(a, off, nb, blk)
    centred = ab - ab.mean(-1, keepdims=True)
    an = np.linalg.norm(centred, axis=-1)
    unit = centred / np.maximum(an, 1e-6)[..., None]
    n = blk * blk
    surf = np.empty((p, nb * nb, side, side), dtype=np.float32)
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            bb = _blocks(b, off, nb, blk, dy, dx)
            total = bb.sum(-1)
            energy = np.maximum(np.einsum("pbk,pbk->pb", bb, bb) - total * total / n, 0.0)
            surf[:, :, dy + shift, dx + shift] = (np.einsum("pbk,pbk->pb", unit, bb)
                                                  / np.maximum(np.sqrt(energy), 1e-6))
    flat = surf.reshape(p, nb * nb, -1)
    best = flat.max(-1)
    ky, kx = np.divmod(flat.argmax(-1), side)
    pi, bi = np.arange(p)[:, None], np.arange(nb * nb)[None]
    inner_y, inner_x = (ky > 0) & (ky < side - 1), (kx > 0) & (kx < side - 1)
    ym, yp = np.clip(ky - 1, 0, side - 1), np.clip(ky + 1, 0, side - 1)
    xm, xp = np.clip(kx - 1, 0, side - 1), np.clip(kx + 1, 0, side - 1)
    peak = surf[pi, bi, ky, kx]
    sy = np.where(inner_y, _parabola(surf[pi, bi, ym, kx], peak, surf[pi, bi, yp, kx]), 0.0)
    sx = np.where(inner_x, _parabola(surf[pi, bi, ky, xm], peak, surf[pi, bi, ky, xp]), 0.0)
    weight = np.clip(best, 0, 1) * (an > blk)
    centre = off + np.arange(nb) * blk + (blk - 1) / 2 - (s - 1) / 2
    gy, gx = (g.ravel() for g in np.meshgrid(centre, centre, indexing="ij"))
    design = np.stack([gy, gx, np.ones_like(gy)], -1)
    wd = weight[..., None] * design[None]
    gram = np.einsum("pbi,bj->pij", wd, design) + 1e-3 * np.eye(3)
    rhs = np.stack([np.einsum("pbi,pb->pi", wd, gy[None] + ky - shift + sy),
                    np.einsum("pbi,pb->pi", wd, gx[None] + kx - shift + sx)], -1)
    maps = np.linalg.solve(gram, rhs).transpose(0, 2, 1)
    few = (weight > 0).sum(-1) < 4
    maps[few] = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    return maps


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The affine map x -> outer(inner(x))."""
    def full(m: np.ndarray) -> np.ndarray:
        h = np.zeros((len(m), 3, 3))
        h[:, :2], h[:, 2, 2] = m, 1.0
        return h
    return (full(outer) @ full(inner))[:, :2]


def _warp(b: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """B resampled (bilinear) at A's grid mapped through `maps`. One `affine_transform` call per
    pair: faster than one vectorised gather over all pairs at this image size."""
    from scipy import ndimage  # here, not at import: the feature workers never need it

    p, s, _ = b.shape
    c = np.full(2, (s - 1) / 2)
    out = np.empty_like(b)
    for k in range(p):
        linear = maps[k, :, :2]
        ndimage.affine_transform(b[k], linear, maps[k, :, 2] + c - linear @ c, output=out[k],
                                 order=1, mode="nearest")
    return out


def _inside(maps: np.ndarray, s: int, off: int, nb: int, blk: int) -> np.ndarray:
    """(P, nb*nb): whether each block of A's grid maps wholly inside B."""
    c = (s - 1) / 2
    start = off + np.arange(nb) * blk - c
    corners = []
    for ey in (0, blk - 1):
        for ex in (0, blk - 1):
            gy, gx = (g.ravel() for g in np.meshgrid(start + ey, start + ex, indexing="ij"))
            pts = np.stack([gy, gx, np.ones_like(gy)])  # (3, nb*nb)
            mapped = maps @ pts + c  # (P, 2, nb*nb)
            corners.append(((mapped >= 0) & (mapped <= s - 1)).all(1))
    return np.logical_and.reduce(corners)


def _half(x: np.ndarray) -> np.ndarray:
    p, s, _ = x.shape
    return x[:, :s // 2 * 2, :s // 2 * 2].reshape(p, s // 2, 2, s // 2, 2).mean((2, 4))


def _worst_mean(corr: np.ndarray, use: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean of the lowest `WORST` share (at least one) of each row's used blocks."""
    ranked = np.sort(np.where(use, corr, np.inf), axis=-1)
    keep = np.maximum(np.ceil(count * WORST), 1).astype(int)
    take = np.arange(ranked.shape[1])[None] < keep[:, None]
    return np.where(take, ranked, 0.0).sum(-1) / keep


def _local(a: np.ndarray, moved: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Mean of the worst block correlations of A and B warped onto A (whole-image correlation
    when fewer than 3 blocks hold structure). A corner block that only one image fills with
    black (the corners a rotation leaves) is left out."""
    p, s, _ = a.shape
    margin = 3
    nb = (s - 2 * margin) // _BLOCK
    off = (s - nb * _BLOCK) // 2
    ab, mb = _blocks(a, off, nb, _BLOCK), _blocks(moved, off, nb, _BLOCK)
    corr, na, nb_ = _ncc(ab, mb)
    structured = (np.maximum(na, nb_) / _BLOCK >= _FLAT) & _inside(maps, s, off, nb, _BLOCK)
    corner = np.zeros(nb * nb, dtype=bool)
    corner[[0, nb - 1, nb * (nb - 1), nb * nb - 1]] = True
    fill = np.abs((ab < _BLACK).mean(-1) - (mb < _BLACK).mean(-1)) >= 0.1
    structured &= ~(corner & fill)
    count = structured.sum(-1)
    whole = _ncc(a.reshape(p, -1), moved.reshape(p, -1))[0]
    score = np.where(count >= 3, _worst_mean(corr, structured, count), whole)
    flat = ~(np.maximum(na, nb_) / _BLOCK >= _FLAT) & _inside(maps, s, off, nb, _BLOCK)
    shaded = ~_same_shading(ab.mean(-1), mb.mean(-1), flat, structured, na, nb_)
    return np.where(shaded, np.minimum(score, -1.0), score)


def _same_shading(ma: np.ndarray, mb: np.ndarray, flat: np.ndarray, structured: np.ndarray,
                  na: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """Whether the mean levels of the blocks flat in both images (the background's slow shading)
    agree up to one gain, and that gain agrees with the structured blocks' contrast gain.

    The block correlations ignore flat blocks and each block's level, so a smooth object on a
    uniform background (a fruit on a belt, a part on a tray) matches any similar one near the
    same place; the background's shading (an uneven light) and how it scales tell them apart."""
    nf = flat.sum(-1)
    w = flat.astype(np.float32)
    ca = (ma - (ma * w).sum(-1, keepdims=True) / np.maximum(nf, 1)[:, None]) * w
    cb = (mb - (mb * w).sum(-1, keepdims=True) / np.maximum(nf, 1)[:, None]) * w
    va, vb = (ca * ca).sum(-1), (cb * cb).sum(-1)
    gain = (ca * cb).sum(-1) / np.maximum(va, 1e-6)
    residual = np.sqrt(((cb - gain[:, None] * ca) ** 2).sum(-1) / np.maximum(nf, 1))
    enough = nf >= _MIN_FLAT
    same = ~enough | (residual <= FLAT_RESIDUAL)
    spread = np.sqrt(np.minimum(va, vb) / np.maximum(nf, 1))
    contrast = (np.where(structured, nb, 0).sum(-1)
                / np.maximum(np.where(structured, na, 0).sum(-1), 1e-6))
    comparable = enough & (spread >= _SHADING) & (structured.sum(-1) >= 3) & (gain > 0)
    change = np.abs(np.log(np.maximum(gain, 1e-6) / np.maximum(contrast, 1e-6)))
    return same & (~comparable | (change <= GAIN_CHANGE))


def _scores(a: np.ndarray, b: np.ndarray, enough: float | None = None) -> np.ndarray:
    identity = np.broadcast_to(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (len(a), 2, 3))
    # An alignment fitted on little structure may wander off: the unaligned score is a floor.
    floor = _local(a, b, identity)
    out = floor.astype(np.float32)
    todo = np.flatnonzero(floor < enough) if enough is not None else np.arange(len(a))
    if len(todo) == 0:
        return out
    a, b = a[todo], b[todo]
    coarse = _align(_half(a), _half(b), 6, 2)
    coarse[:, :, 2] *= 2
    maps = _compose(coarse, _align(a, _warp(b, coarse), _BLOCK, 1))
    linear = maps[:, :, :2] - np.eye(2)
    wild = ((np.abs(linear).max((1, 2)) > MAX_WARP)
            | (np.abs(maps[:, :, 2]).max(1) > MAX_SHIFT * a.shape[1]))
    aligned = np.where(wild, -1.0, _local(a, _warp(b, maps), maps))
    out[todo] = np.maximum(aligned, floor[todo])
    return out


def match_scores(prints: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 256,
                 enough: float | None = None) -> np.ndarray:
    """Fine similarity (-1..1) of the pairs (i[k], j[k]) of a (n, SIDE, SIDE) fingerprint stack:
    the mean local correlation after the best near-identity affine alignment (see the module
    docstring). Vectorised over pairs, `chunk` pairs at a time (memory ~ chunk x 100 KB).

    With `enough`, a pair whose unaligned score reaches it is not aligned (its score is that
    floor, at least `enough`): a re-encoded, brightened or noisier copy needs no alignment to be
    recognised, and the alignment is most of the cost."""
    from scipy import ndimage

    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    out = np.zeros(len(i), dtype=np.float32)
    if len(i) == 0:
        return out
    for start in range(0, len(i), chunk):
        # Smoothed per chunk: a float copy of every fingerprint would cost ~9 KB per image
        # (about 1 GB at 100k images); smoothing twice is cheap next to the alignment.
        ci, cj = i[start:start + chunk], j[start:start + chunk]
        used, inverse = np.unique(np.concatenate([ci, cj]), return_inverse=True)
        smooth = ndimage.gaussian_filter(prints[used].astype(np.float32), (0, _SMOOTH, _SMOOTH))
        out[start:start + chunk] = _scores(smooth[inverse[:len(ci)]], smooth[inverse[len(ci):]],
                                           enough)
    return out
