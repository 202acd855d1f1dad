"""Production streams for the monitoring tests: features from real generated photos run through
the scan's own extractor, and a simulated classifier whose accuracy is known by construction."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
from PIL import Image
from scenes import scene

from pitfalls.features.compute import compute_file_features
from pitfalls.field.capture import Capture, apply_capture
from pitfalls.monitor.analysis import Reference
from pitfalls.monitor.reference import MANIFEST, Profile

CLASSES = ("apple", "banana", "cherry", "date")
START = pd.Timestamp("2026-03-02T00:00:00Z")
HOUR = pd.Timedelta(hours=1)


def features_of(images: list[np.ndarray], quality: int = 90) -> list[dict]:
    """The scan extractor's scalar features of each image, saved as a JPEG first."""
    out = []
    with TemporaryDirectory() as tmp:
        for i, rgb in enumerate(images):
            path = Path(tmp) / f"{i}.jpg"
            Image.fromarray(rgb).save(path, quality=quality)
            row = compute_file_features(path)
            out.append({k: v for k, v in row.items()
                        if isinstance(v, bool | int | float) or v is None or k == "format"})
    return out


@lru_cache(maxsize=8)
def pool(kind: str, n: int, seed: int) -> tuple[dict, ...]:
    """Features of `n` generated photos, as taken (`kind` "plain") or darkened / blurred."""
    caps = {"plain": Capture(), "dark": Capture(gain=0.45), "blur": Capture(blur_sigma=2.5)}
    imgs = [apply_capture(scene(seed * 100_000 + i), caps[kind], seed=i) for i in range(n)]
    return tuple(features_of(imgs))


def classify(rng: np.random.Generator, n: int, margin: float = 2.5,
             mix: np.ndarray | None = None) -> tuple[list[str], list[dict], list[str]]:
    """A simulated classifier: true labels drawn from `mix`, logits = margin on the true class
    plus standard Gumbel-free normal noise. Lower margin = harder inputs = lower accuracy."""
    k = len(CLASSES)
    mix = np.full(k, 1 / k) if mix is None else mix
    y = rng.choice(k, size=n, p=mix)
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[np.arange(n), y] += margin
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    preds = [CLASSES[i] for i in p.argmax(axis=1)]
    labels = [CLASSES[i] for i in y]
    probs = [dict(zip(CLASSES, row.tolist(), strict=True)) for row in p]
    return preds, probs, labels


def true_accuracy(margin: float, n: int = 200_000, seed: int = 99) -> float:
    """Accuracy of `classify` at `margin`, by a large simulation."""
    preds, _, labels = classify(np.random.default_rng(seed), n, margin)
    return float(np.mean(np.array(preds) == np.array(labels)))


def reference(n: int = 300, seed: int = 1, expected: tuple[float, float] | None = None,
              margin: float = 2.5) -> Reference:
    feats = pd.DataFrame(list(pool("plain", n, seed)))
    preds, probs, labels = classify(np.random.default_rng(seed), n, margin)
    p = np.array([[d[c] for c in CLASSES] for d in probs])
    return Reference(features=feats, classes=list(CLASSES), probs=p, labels=labels,
                     expected_range=expected)


def records(rng: np.random.Generator, feats: list[dict], start: pd.Timestamp, n: int,
            source: str = "cam-1", every: pd.Timedelta = HOUR,
            margin: float = 2.5, mix: np.ndarray | None = None, labelled: bool = False,
            prefix: str = "") -> pd.DataFrame:
    """`n` records in the window from `start`, features resampled from `feats`."""
    preds, probs, labels = classify(rng, n, margin, mix)
    pick = rng.integers(0, len(feats), n)
    times = start + pd.to_timedelta(np.sort(rng.uniform(0, every.total_seconds() - 1, n)),
                                    unit="s")
    ids = [f"{prefix}{source}-{start:%Y%m%d%H}-{i}" for i in range(n)]
    return pd.DataFrame({"id": ids, "captured_at": times, "source": source,
                         "model_version": "v1", "pred": preds, "probs": probs,
                         "features": [feats[j] for j in pick],
                         "label": labels if labelled else [None] * n})


def stream(rng: np.random.Generator, feats: list[dict], windows: range,
           rates: dict[str, float], margin: float = 2.5, mix: np.ndarray | None = None,
           labelled: bool = True, prefix: str = "") -> pd.DataFrame:
    """Hourly windows `windows` (offsets from START) of Poisson-many records per source."""
    frames = [records(rng, feats, START + w * HOUR, int(rng.poisson(lam)), src, margin=margin,
                      mix=mix, labelled=labelled, prefix=f"{prefix}w{w}-")
              for w in windows for src, lam in rates.items()]
    return pd.concat(frames, ignore_index=True)


def write_reference(folder: Path, n: int = 300) -> Path:
    """A reference folder from real generated photos' features and a simulated classifier,
    with the expectation sheet's range around its true accuracy."""
    feats = pd.DataFrame(list(pool("plain", n, 1)))
    feats = feats.drop(columns=[c for c in feats if feats[c].dtype == object and c != "format"])
    preds, probs, labels = classify(np.random.default_rng(1), n, 2.5)
    table = pd.DataFrame({"path": [f"eval/{i}.jpg" for i in range(n)], "label": labels,
                          "pred": preds})
    for c in CLASSES:
        table[f"prob_{c}"] = [p[c] for p in probs]
    Profile(classes=list(CLASSES), split="test", features=feats.assign(path=table["path"]),
            predictions=table, feature_version=13).write(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    acc = true_accuracy(2.5)
    manifest["expected_accuracy"] = {"range": [acc - 0.03, min(1.0, acc + 0.05)],
                                     "basis": "lab"}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def as_json(frame: pd.DataFrame) -> list[dict]:
    """Records as the device sends them: ISO times, numeric features only, no NaN."""
    out = []
    for row in frame.to_dict("records"):
        feats = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                 for k, v in row["features"].items()
                 if v is None or isinstance(v, bool | int | float)}
        item = {"id": row["id"], "captured_at": row["captured_at"].isoformat(),
                "source": row["source"], "model_version": "v1", "pred": row["pred"],
                "probs": row["probs"], "features": feats}
        if row.get("label") is not None:
            item["label"] = row["label"]
        out.append(item)
    return out
