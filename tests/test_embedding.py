"""The weight-free embedding and near-duplicate links: recall under edits, no false links."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scenes import scene
from sklearn.datasets import load_sample_images

from pitfalls.config import Config
from pitfalls.features.embedding import EMBED_DIM, WeightFreeEmbedder
from pitfalls.features.properties import working_copy
from pitfalls.pipeline import build_context
from pitfalls.similarity import links


def resize(a: np.ndarray, r: np.random.Generator) -> np.ndarray:
    f, im = r.uniform(0.5, 2.0), Image.fromarray(a)
    return np.asarray(im.resize((int(im.width * f), int(im.height * f)), Image.Resampling.BICUBIC))


def jpeg(a: np.ndarray, r: np.random.Generator) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=int(r.integers(30, 96)))
    return np.asarray(Image.open(buf).convert("RGB"))


def crop(a: np.ndarray, r: np.random.Generator) -> np.ndarray:
    h, w = a.shape[:2]
    left, top, right, bottom = r.uniform(0, 0.05, 4)
    return a[int(top * h):h - int(bottom * h), int(left * w):w - int(right * w)]


def rotate(a: np.ndarray, r: np.random.Generator) -> np.ndarray:
    angle = r.uniform(-5, 5)
    out = np.asarray(Image.fromarray(a).rotate(angle, Image.Resampling.BICUBIC))
    if r.random() < 0.5:  # half keep the black corners, half are cropped inside them
        h, w = a.shape[:2]
        m = np.tan(np.radians(abs(angle)))
        dx, dy = int(m * h / 2) + 1, int(m * w / 2) + 1
        out = out[dy:h - dy, dx:w - dx]
    return out


def brighten(a: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return np.clip(a * r.uniform(0.85, 1.15), 0, 255).astype(np.uint8)


def noise(a: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return np.clip(a + r.normal(0, r.uniform(2, 8), a.shape), 0, 255).astype(np.uint8)


def blur(a: np.ndarray, r: np.random.Generator) -> np.ndarray:
    radius = r.uniform(0.5, 1.5) * max(a.shape) / 256
    return np.asarray(Image.fromarray(a).filter(ImageFilter.GaussianBlur(radius)))


EDITS = {"resize": resize, "jpeg": jpeg, "crop": crop, "rotate": rotate, "brightness": brighten,
         "noise": noise, "blur": blur}


def photo_crops() -> list[np.ndarray]:
    """Non-overlapping 128x160 regions of scikit-learn's two bundled photos (real pictures)."""
    out = []
    for photo in load_sample_images().images:
        for y in range(0, photo.shape[0] - 128, 142):
            for x in range(0, photo.shape[1] - 160, 160):
                out.append(np.ascontiguousarray(photo[y:y + 128, x:x + 160]))
    return out


def save(root: Path, rel: str, arr: np.ndarray) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=95) if rel.endswith(".jpg") else \
        Image.fromarray(arr).save(path)


def context(root: Path):
    return build_context(root, Config(), cache=False)


def test_embedding_is_unit_and_brightness_invariant() -> None:
    emb = WeightFreeEmbedder()
    a = working_copy(scene(3, (120, 160)))
    v = emb.embed_one(a)
    assert v.shape == (EMBED_DIM,) and v.dtype == np.float32
    assert abs(float(np.linalg.norm(v)) - 1) < 1e-5
    assert float(v @ emb.embed_one(a * 0.9)) > 0.99
    flat = emb.embed_one(np.full((40, 40, 3), 0.5, dtype=np.float32))  # no structure: no crash
    assert np.isfinite(flat).all()


def test_near_duplicate_recall_under_edits_and_pairs_of_edits(tmp_path: Path) -> None:
    r = np.random.default_rng(7)
    originals = [scene(s, (144, 192)) for s in range(24)] + photo_crops()[:8]
    names = list(EDITS) + ["pair"]
    for k, a in enumerate(originals):
        save(tmp_path, f"train/x/orig_{k}.png", a)
        for name in names:
            if name == "pair":
                f1, f2 = r.choice(list(EDITS), 2, replace=False)
                b = EDITS[f2](EDITS[f1](a, r), r)
            else:
                b = EDITS[name](a, r)
            save(tmp_path, f"test/x/{name}_{k}.jpg", np.ascontiguousarray(b))
    ctx = context(tmp_path)
    df = links(ctx)
    paths = ctx.table["path"].tolist()
    linked = {(paths[i], paths[j]) for i, j in df[df["kind"] != "session"][["i", "j"]].to_numpy()}
    linked |= {(b, a) for a, b in linked}
    recall = {}
    for name in names:
        hits = [(f"train/x/orig_{k}.png", f"test/x/{name}_{k}.jpg") in linked
                for k in range(len(originals))]
        recall[name] = float(np.mean(hits))
    assert min(recall.values()) >= 0.9, recall
    assert float(np.mean(list(recall.values()))) >= 0.95, recall


def test_no_near_or_session_link_between_distinct_photos(tmp_path: Path) -> None:
    images = [scene(s, (96, 128)) for s in range(240)] + photo_crops()
    r = np.random.default_rng(1)
    for k, a in enumerate(images):  # sequential names, random split: the clean case
        split = "train" if r.random() < 0.8 else "test"
        save(tmp_path, f"{split}/c{k % 3}/{k:04d}.jpg", a)
    df = links(context(tmp_path))
    assert df.empty, df.head(10).to_dict("records")


def test_flat_images_match_by_colour_alone() -> None:
    """A flat image has no luma structure: its vector is its colour grid, whatever its size."""
    emb = WeightFreeEmbedder()
    small = emb.embed_one(np.full((48, 64, 3), (120, 80, 40), dtype=np.uint8))
    large = emb.embed_one(np.full((300, 200, 3), (120, 80, 40), dtype=np.uint8))
    other = emb.embed_one(np.full((48, 64, 3), (40, 80, 120), dtype=np.uint8))
    assert np.isfinite(small).all() and float(small @ large) > 0.9999
    assert float(small @ other) < 0.5
