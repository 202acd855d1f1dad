"""Train/serve preprocessing skew: run the training spec and the serving spec on the same images
and count how many predictions change and what it does to accuracy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from pitfalls.bench.runner import Images, predict
from pitfalls.bench.spec import PreprocessSpec, decode_rgb, differences

ServeFn = Callable[[np.ndarray], np.ndarray]
"""A user's serving function: RGB array (H, W, 3 uint8) → the model's input for one image."""


@dataclass
class SkewResult:
    model: str
    differences: dict[str, tuple[Any, Any]]
    n: int
    n_flipped: int
    flip_rate: float
    accuracy_train_spec: float | None
    accuracy_serving_spec: float | None
    accuracy_change: float | None
    accuracy_change_ci: list[float] | None
    flipped_paths: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model,
                "differences": {k: [a, b] for k, (a, b) in self.differences.items()},
                "n": self.n, "n_flipped": self.n_flipped, "flip_rate": self.flip_rate,
                "accuracy_train_spec": self.accuracy_train_spec,
                "accuracy_serving_spec": self.accuracy_serving_spec,
                "accuracy_change": self.accuracy_change,
                "accuracy_change_ci": self.accuracy_change_ci,
                "flipped_paths": self.flipped_paths[:50]}


def _predict_fn(session: ort.InferenceSession, fn: ServeFn, images: Images) -> np.ndarray:
    name = session.get_inputs()[0].name
    out = []
    for blob in images.data:
        x = np.asarray(fn(decode_rgb(blob)), dtype=np.float32)[None]
        out.append(int(np.asarray(session.run(None, {name: x})[0]).reshape(1, -1).argmax()))
    return np.asarray(out)


def compare(session: ort.InferenceSession, train: PreprocessSpec,
            serving: PreprocessSpec | ServeFn, images: Images, labels: list[str],
            model: str | Path = "model", n_boot: int = 1000, seed: int = 0) -> SkewResult:
    """Predict every image with both pipelines; flip rate and accuracy change (serving − train)
    with a paired bootstrap 95% interval."""
    p_train = predict(session, train, images)
    if isinstance(serving, PreprocessSpec):
        p_serve = predict(session, serving, images)
        diffs = differences(train, serving)
    else:
        p_serve = _predict_fn(session, serving, images)
        diffs = {"function": ("training spec", getattr(serving, "__name__", "serving function"))}
    flipped = p_train != p_serve
    names = np.asarray(labels, dtype=object)
    truth = np.asarray(images.labels, dtype=object)
    has = np.array([v is not None for v in truth])
    acc_t = acc_s = change = None
    ci = None
    if has.any() and len(labels):
        ct = (names[p_train] == truth)[has].astype(float)
        cs = (names[p_serve] == truth)[has].astype(float)
        acc_t, acc_s = float(ct.mean()), float(cs.mean())
        change = acc_s - acc_t
        rng = np.random.default_rng(seed)
        boot = rng.integers(0, ct.size, size=(n_boot, ct.size))
        d = cs[boot].mean(axis=1) - ct[boot].mean(axis=1)
        ci = [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))]
    return SkewResult(model=Path(str(model)).stem, differences=diffs, n=len(images),
                      n_flipped=int(flipped.sum()), flip_rate=float(flipped.mean()),
                      accuracy_train_spec=acc_t, accuracy_serving_spec=acc_s,
                      accuracy_change=change, accuracy_change_ci=ci,
                      flipped_paths=[p for p, f in zip(images.paths, flipped, strict=True) if f])
