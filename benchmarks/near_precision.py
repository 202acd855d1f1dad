"""Near-duplicate precision and recall on images that share one coarse layout, and the fine
check's cost.

    python benchmarks/near_precision.py                 # 120 distinct images per family, 20 copied
    python benchmarks/near_precision.py --n 200 --copies 40 --families xray,document
    python benchmarks/near_precision.py --cost          # per-image and per-pair cost only

For each family (products centred on white, X-ray-like images, text pages, one horizon, procedural
scenes, crops of scikit-learn's two photos) it writes N distinct images (sequential names, all in
train) and, for the first `copies` of them, one copy per edit (resize 50-200%, JPEG 30-95, crops
up to 5% per side, rotations up to 5 degrees, brightness +-15%, noise, blur, and a pair of two
edits) in test, scans the folder, and prints:

- false links: near or session links between two different originals (a copy counts as its
  original), the number a clean split of unique photos must keep at zero;
- recall per edit: share of originals linked (by a non-session link) to their edited copy.

`--cost` times the fingerprint per image and the verification of 5,000 candidate pairs drawn from
16,000 images.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from scenes import HARD_FAMILIES, scene  # noqa: E402
from test_embedding import EDITS, context, photo_crops, save  # noqa: E402

from pitfalls.features.fingerprint import fingerprint, fingerprint_array, match_scores  # noqa: E402
from pitfalls.features.properties import luma, working_copy  # noqa: E402
from pitfalls.similarity import links  # noqa: E402


def families() -> dict:
    crops = photo_crops()
    out = dict(HARD_FAMILIES)
    out["scene"] = lambda s: scene(s, (96, 128))
    out["photo"] = lambda s: crops[s % len(crops)]
    out["belt"] = _belt  # the demo's and the speed benchmark's fruit-on-a-belt photos
    return out


def _belt(seed: int) -> np.ndarray:
    from pitfalls.demo import FRUIT, draw_scene

    labels = sorted(FRUIT)
    rng = np.random.default_rng((7, seed))
    return np.asarray(draw_scene(rng, labels[seed % len(labels)], (512, 384)).convert("RGB"))


def measure(name: str, make, n: int, copies: int, seed: int = 3, first: int = 0) -> str:
    if name == "photo":
        n = min(n, len(photo_crops()))
    copies = min(copies, n)
    r = np.random.default_rng(seed)
    edits = [*EDITS, "pair"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = [make(first + s) for s in range(n)]
        for k, a in enumerate(images):
            save(root, f"train/x/img_{k:04d}.png", a)
        for k in range(copies):
            for edit in edits:
                if edit == "pair":
                    f1, f2 = r.choice(list(EDITS), 2, replace=False)
                    b = EDITS[f2](EDITS[f1](images[k], r), r)
                else:
                    b = EDITS[edit](images[k], r)
                save(root, f"test/{edit}/copy_{k:04d}.jpg", np.ascontiguousarray(b))
        start = time.perf_counter()
        ctx = context(root)
        df = links(ctx)
        seconds = time.perf_counter() - start
        paths = ctx.table["path"].tolist()
        ident = np.array([int(p[-8:-4]) for p in paths])
        i, j, kind = df["i"].to_numpy(), df["j"].to_numpy(), df["kind"].to_numpy()
        false = ident[i] != ident[j]
        found = {(paths[a], paths[b]) for a, b, k in zip(i, j, kind, strict=True) if k != "session"}
        found |= {(b, a) for a, b in found}
        recall = {e: np.mean([(f"train/x/img_{k:04d}.png", f"test/{e}/copy_{k:04d}.jpg") in found
                              for k in range(copies)]) for e in edits} if copies else {}
    shown = " ".join(f"{e}={v:.2f}" for e, v in recall.items()) if copies else "-"
    return (f"{name:9s} {n} distinct + {copies * len(edits)} copies: false near "
            f"{int((false & (kind == 'near')).sum())}, false session "
            f"{int((false & (kind == 'session')).sum())} | recall {shown} | scan {seconds:.1f} s")


def cost(n_images: int = 16_000, n_pairs: int = 5_000) -> None:
    base = [scene(s, (384, 512)) for s in range(50)]
    works = [working_copy(a) for a in base]
    grays = [luma(w) for w in works]
    start = time.perf_counter()
    for _ in range(4):
        prints = [fingerprint(g) for g in grays]
    per_image = (time.perf_counter() - start) / (4 * len(grays)) * 1000
    print(f"fingerprint: {per_image:.3f} ms per image (from the working copy's luma)")
    r = np.random.default_rng(0)
    stored = [prints[k % len(prints)] for k in range(n_images)]
    start = time.perf_counter()
    stack, _ = fingerprint_array(stored)
    print(f"{n_images} stored fingerprints to an array: {time.perf_counter() - start:.2f} s, "
          f"{stack.nbytes / 1e6:.0f} MB")
    i, j = r.integers(0, n_images, n_pairs), r.integers(0, n_images, n_pairs)
    start = time.perf_counter()
    match_scores(stack, i, j)
    took = time.perf_counter() - start
    print(f"verification of {n_pairs} candidate pairs: {took:.2f} s "
          f"({took / n_pairs * 1e3:.3f} ms per pair)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=120, help="distinct images per family")
    parser.add_argument("--copies", type=int, default=20, help="originals copied under each edit")
    parser.add_argument("--families", default=",".join(families()))
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first image")
    parser.add_argument("--cost", action="store_true", help="only time the fine check")
    args = parser.parse_args()
    if args.cost:
        cost()
        return
    fams = families()
    for name in args.families.split(","):
        print(measure(name, fams[name], args.n, args.copies, first=args.first_seed), flush=True)


if __name__ == "__main__":
    main()
