"""Predicted field accuracy: run the model on the lab photos as the field's cameras would take them.

`predict_field` decodes the labelled evaluation photos once, fits a capture per photo
(`fit.fit_one`, quantile-matched to the field's conditions), and runs the model on the originals
(lab accuracy), on the transformed photos (predicted field accuracy, bootstrap interval), on each
condition alone (which costs most), and on a severity sweep per condition. Beside it, Average
Thresholded Confidence (Garg et al., ICLR 2022) estimates accuracy on the field photos themselves
without labels: the confidence threshold that the lab's share of confident predictions matches its
accuracy, applied to the field photos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pitfalls.context import Context
from pitfalls.decode import DecodeError, decode_bytes
from pitfalls.evaluation.metrics import proportion_interval
from pitfalls.evaluation.model import ModelRunner, PreprocessSpec
from pitfalls.field.capture import PARAMS_OF, SWEEP, Capture, apply_capture, sweep_capture
from pitfalls.field.conditions import conditions, measure_image
from pitfalls.field.data import FieldSet, comparison, lab_rows
from pitfalls.field.fit import SIMULATED, fit_one, quantile_targets, summarise
from pitfalls.sources import read_bytes

MAX_IMAGES = 400
"""Evaluation photos transformed (a fixed random sample beyond this)."""
SWEEP_IMAGES = 60
"""Evaluation photos used by the severity sweep."""
APPLY_P = 0.05
"""A condition is simulated when its two-sample test gives p below this (uncorrected: missing a
real shift costs more here than simulating a small one)."""


@dataclass
class Photo:
    rgb: np.ndarray
    quality: float | None
    label: int


@dataclass
class FieldPrediction:
    """Everything FIELD002 and the report show."""

    lab_accuracy: float
    lab_ci: list[float]
    predicted_field_accuracy: float
    ci: list[float]
    atc_estimate: float | None
    n_eval: int
    n_field: int
    simulated: list[str]
    costs: list[dict[str, Any]] = field(default_factory=list)
    sweep: list[dict[str, Any]] = field(default_factory=list)
    capture: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _accuracy_ci(correct: np.ndarray) -> list[float]:
    """95% interval of an accuracy (never [1, 1] when every answer is right)."""
    lo, hi = proportion_interval(np.asarray(correct, dtype=float), np.ones(len(correct)))
    return [float(lo), float(hi)]


def neg_entropy(probs: np.ndarray) -> np.ndarray:
    p = np.clip(probs, 1e-12, 1.0)
    return (p * np.log(p)).sum(axis=1)


def atc(lab_probs: np.ndarray, lab_correct: np.ndarray, field_probs: np.ndarray) -> float | None:
    """Average Thresholded Confidence with the negative-entropy score (ATC-NE)."""
    if len(lab_probs) == 0 or len(field_probs) == 0:
        return None
    s_lab, s_field = neg_entropy(lab_probs), neg_entropy(field_probs)
    threshold = float(np.quantile(s_lab, 1.0 - float(lab_correct.mean())))
    return float((s_field > threshold).mean())


def _decode(path: Path) -> tuple[np.ndarray, float | None] | None:
    try:
        dec = decode_bytes(read_bytes(path))
    except (DecodeError, OSError, ValueError):
        return None
    return dec.rgb, dec.jpeg_quality


class _Model:
    def __init__(self, path: str | Path, spec: PreprocessSpec, classes: list[str]) -> None:
        self.runner = ModelRunner(path, spec)
        self.classes = list(spec.classes) if spec.classes else classes

    def probs(self, images: list[np.ndarray]) -> np.ndarray:
        step = self.runner.spec.batch_size
        out = [self.runner.probabilities(images[i:i + step]) for i in range(0, len(images), step)]
        return np.vstack(out) if out else np.zeros((0, len(self.classes)))


def simulated_conditions(ctx: Context) -> list[str]:
    cmp = comparison(ctx)
    return [c for c in cmp.loc[cmp["p_value"] < APPLY_P, "condition"] if c in SIMULATED]


def predict_field(ctx: Context, model: str | Path, spec: PreprocessSpec,
                  seed: int = 0, *, sweep: bool = True,
                  field_photos: bool = True) -> FieldPrediction | None:
    """Predicted field accuracy of `model` (None without labelled evaluation photos).

    Without `sweep` the severity sweep is skipped; without `field_photos` the field set is
    features only (production records: no photo to decode, so no ATC on them here)."""
    fs: FieldSet = ctx.extras["field"]
    t = ctx.table
    rows = [int(r) for r in lab_rows(ctx) if isinstance(t["label"].iloc[r], str)
            or t["label"].notna().iloc[r]]
    classes = sorted({str(v) for v in t["label"].dropna()})
    net = _Model(model, spec, classes)
    index = {c: i for i, c in enumerate(net.classes)}
    rows = [r for r in rows if str(t["label"].iloc[r]) in index]
    if not rows:
        return None
    rng = np.random.default_rng(seed)
    if len(rows) > MAX_IMAGES:
        rows = sorted(rng.choice(rows, MAX_IMAGES, replace=False).tolist())
    photos: list[Photo] = []
    kept: list[int] = []
    for r in rows:
        got = _decode(ctx.root / str(t["path"].iloc[r]))
        if got is not None:
            photos.append(Photo(got[0], got[1], index[str(t["label"].iloc[r])]))
            kept.append(r)
    if not photos:
        return None
    y = np.array([p.label for p in photos])
    simulated = simulated_conditions(ctx)
    lab_cond = conditions(t.iloc[kept]).reset_index(drop=True)
    targets = quantile_targets(lab_cond, conditions(fs.table[fs.ok]), simulated)
    captures = [fit_one(p.rgb, p.quality, {str(k): float(v) for k, v in targets.iloc[i].items()},
                        measure_image(p.rgb, p.quality), seed=seed + i)
                for i, p in enumerate(photos)] if simulated else [Capture()] * len(photos)

    def run(caps: list[Capture], subset: list[int] | None = None) -> np.ndarray:
        idx = subset if subset is not None else range(len(photos))
        imgs = [apply_capture(photos[i].rgb, caps[i] if len(caps) > 1 else caps[0], seed + i)
                for i in idx]
        return net.probs(imgs)

    lab_probs = net.probs([p.rgb for p in photos])
    lab_ok = lab_probs.argmax(axis=1) == y
    field_ok = run(captures).argmax(axis=1) == y if simulated else lab_ok
    costs: list[dict[str, Any]] = []
    groups: dict[tuple[str, ...], list[str]] = {}
    for c in simulated:
        groups.setdefault(PARAMS_OF[c], []).append(c)
    for params, names in groups.items():
        acc = float((run([c.only(*params) for c in captures]).argmax(axis=1) == y).mean())
        costs.append({"conditions": names, "accuracy": acc,
                      "cost": float(lab_ok.mean()) - acc})
    costs.sort(key=lambda d: -d["cost"])
    field_images = []
    for p in fs.table["path"].to_numpy()[fs.ok] if field_photos else []:
        got = _decode(fs.root / str(p))
        if got is not None:
            field_images.append(got[0])
    atc_value = atc(lab_probs, lab_ok, net.probs(field_images)) if field_images else None
    sub = sorted(rng.choice(len(photos), min(SWEEP_IMAGES, len(photos)), replace=False).tolist())
    sweeps = []
    for name, (label, param, values) in SWEEP.items() if sweep else ():
        accs = []
        for v in values:
            cap = sweep_capture(param, v)
            if cap == Capture():  # the neutral step: the lab photos as they are
                accs.append(float(lab_ok[sub].mean()))
                continue
            accs.append(float((run([cap], sub).argmax(axis=1) == y[sub]).mean()))
        sweeps.append({"condition": name, "label": dict(label), "param": param,
                       "severity": [float(v) for v in values], "accuracy": accs})
    return FieldPrediction(
        lab_accuracy=float(lab_ok.mean()), lab_ci=_accuracy_ci(lab_ok),
        predicted_field_accuracy=float(field_ok.mean()), ci=_accuracy_ci(field_ok),
        atc_estimate=atc_value, n_eval=len(photos), n_field=len(field_images),
        simulated=simulated, costs=costs, sweep=sweeps, capture=summarise(captures))
