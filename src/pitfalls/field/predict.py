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

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pitfalls.context import Context
from pitfalls.decode import DecodeError, decode_bytes
from pitfalls.evaluation.metrics import jeffreys_interval, proportion_interval
from pitfalls.evaluation.model import ModelRunner, PreprocessSpec
from pitfalls.field.capture import PARAMS_OF, SWEEP, Capture, apply_capture, sweep_capture
from pitfalls.field.conditions import conditions, robust_scale, small_luma
from pitfalls.field.data import FieldSet, comparison, lab_rows
from pitfalls.field.estimate import atc, field_estimate
from pitfalls.field.fit import SIMULATED, fit_set, fit_vignette, summarise, unreproduced
from pitfalls.sources import read_bytes

MAX_IMAGES = 400
"""Evaluation photos transformed (a fixed random sample beyond this)."""
SWEEP_IMAGES = 60
"""Evaluation photos used by the severity sweep."""
APPLY_P = 0.05
"""A condition is simulated when its two-sample test gives p below this (uncorrected: missing a
real shift costs more here than simulating a small one)."""
VIGNETTE_IMAGES = 80
"""Evaluation photos the fall-off is fitted on."""
FIELD_RESAMPLES = 400
"""Bootstrap resamples of the field photos' conditions behind `fit_spread`."""
MULTIPLICATIVE = ("gain", "contrast", "gain_r", "gain_b", "scale", "gamma")
"""Capture parameters whose neutral value is 1 and which act as factors (extrapolated in logs)."""
MAX_PUSH = 3.0
"""Largest factor by which `extrapolate` scales a parameter's departure from neutral."""


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
    replay_accuracy: float
    replay_ci: list[float]
    atc_replay: float
    mismatch: float
    atc_estimate: float | None
    n_eval: int
    n_field: int
    simulated: list[str]
    costs: list[dict[str, Any]] = field(default_factory=list)
    sweep: list[dict[str, Any]] = field(default_factory=list)
    capture: dict[str, float] = field(default_factory=dict)
    unreproduced: list[dict[str, Any]] = field(default_factory=list)
    pushed_accuracy: float | None = None
    """Accuracy of the replay pushed on to close the unreproduced conditions (`extrapolate`)."""
    untoned_accuracy: float | None = None
    """Accuracy of the replay fitted without a tone curve, where conditions went unreproduced."""
    fit_sd: float = 0.0
    """Spread of the replayed accuracy from fitting to a sample of field photos (`fit_spread`)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _accuracy_ci(correct: np.ndarray) -> list[float]:
    """95% interval of an accuracy (never [1, 1] when every answer is right)."""
    lo, hi = proportion_interval(np.asarray(correct, dtype=float), np.ones(len(correct)))
    return [float(lo), float(hi)]


def _predictive_ci(correct: np.ndarray, n_field: int) -> list[float]:
    """95% interval of the accuracy the model will reach on `n_field` field photos, from its
    right answers on the replayed lab photos: both samples' noise, as a Jeffreys interval on the
    effective sample size 1 / (1/n_lab + 1/n_field)."""
    n = len(correct)
    if n == 0 or n_field <= 0:
        return _accuracy_ci(correct)
    n_eff = 1.0 / (1.0 / n + 1.0 / n_field)
    lo, hi = jeffreys_interval(float(np.mean(correct)) * n_eff, n_eff)
    return [float(lo), float(hi)]


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


def extrapolate(cap: Capture, factors: dict[str, float]) -> Capture:
    """`cap` with each named parameter's departure from neutral scaled by its factor (in logs
    for the multiplicative ones), as if the fit had gone that much further."""
    changes: dict[str, Any] = {}
    for name, k in factors.items():
        v = getattr(cap, name)
        if v is None:
            continue
        if name in MULTIPLICATIVE:
            changes[name] = float(np.clip(max(float(v), 1e-3) ** k, 0.05, 4.0))
        else:
            changes[name] = float(max(float(v) * k, 0.0))
    return replace(cap, **changes)


def push_factors(missed: list[dict[str, Any]]) -> dict[str, float]:
    """Per capture parameter, how far the fit must go on to close each condition it left
    open: the gap before the fit over the way the fit moved it (capped at MAX_PUSH; a
    condition the fit did not move, or moved the wrong way, is pushed by MAX_PUSH)."""
    out: dict[str, float] = {}
    for m in missed:
        before, after = float(m["before"]), float(m["after"])
        moved = before - after
        k = before / moved if abs(moved) > 1e-6 and before / moved > 0 else MAX_PUSH
        for param in PARAMS_OF.get(str(m["condition"]), ()):
            if param != "jpeg_quality":
                k_param = float(np.clip(k, 0.0, MAX_PUSH))
                # two conditions on one parameter: the stronger push
                if abs(np.log(max(k_param, 1e-3))) > abs(np.log(max(out.get(param, 1.0), 1e-3))):
                    out[param] = k_param
    return out


def fit_spread(lab: pd.DataFrame, field: pd.DataFrame, costs: list[dict[str, Any]],
               seed: int = 0) -> float:
    """Standard deviation of the replayed accuracy that comes from fitting to a sample of field
    photos: per condition group, the bootstrap spread of the field's median (in lab standard
    deviations), carried to accuracy by what the group costs per standard deviation it moved.

    Refitting the whole capture per resample was tried first: on a sample of evaluation photos
    small enough to afford, each photo's target jumps between neighbouring field quantiles, and
    that noise, not the fit's, set the spread (9 points at 100 field photos)."""
    rng = np.random.default_rng(seed + 17)
    total = 0.0
    for group in costs:
        best: tuple[float, float] | None = None  # (|gap| in lab SDs, bootstrap SD of the median)
        for name in group["conditions"]:
            a = lab[name].to_numpy(float)
            f = field[name].to_numpy(float)
            a, f = a[np.isfinite(a)], f[np.isfinite(f)]
            if len(a) < 3 or len(f) < 3:
                continue
            scale = robust_scale(a, name)
            medians = np.median(f[rng.integers(0, len(f), (FIELD_RESAMPLES, len(f)))], axis=1)
            gap = abs(float(np.median(f) - np.median(a))) / scale
            if best is None or gap > best[0]:
                best = (gap, float(np.std(medians)) / scale)
        if best is not None:
            total += (abs(float(group["cost"])) / max(best[0], 0.5) * best[1]) ** 2
    return float(np.sqrt(total))


def _union(a: list[float], b: list[float]) -> list[float]:
    return [min(a[0], b[0]), max(a[1], b[1])]


def widen(ci: list[float], value: float, sd: float) -> list[float]:
    """`ci` around `value` with an independent error of standard deviation `sd` added to each
    side in quadrature."""
    z = 1.959963984540054
    lo = value - float(np.hypot(value - ci[0], z * sd))
    hi = value + float(np.hypot(ci[1] - value, z * sd))
    return [max(lo, 0.0), min(hi, 1.0)]


def _sweep(accuracy_under: Callable[[Capture], float], neutral: float) -> list[dict[str, Any]]:
    """Accuracy against each SWEEP condition's severities (`neutral`: the lab photos as they
    are, for the step that changes nothing)."""
    curves = []
    for name, (label, param, values) in SWEEP.items():
        caps = [sweep_capture(param, v) for v in values]
        accs = [neutral if cap == Capture() else accuracy_under(cap) for cap in caps]
        curves.append({"condition": name, "label": dict(label), "param": param,
                       "severity": [float(v) for v in values], "accuracy": accs})
    return curves


def simulated_conditions(ctx: Context) -> list[str]:
    cmp = comparison(ctx)
    return [c for c in cmp.loc[cmp["p_value"] < APPLY_P, "condition"] if c in SIMULATED]


def _lab_photos(ctx: Context, net: _Model, rng: np.random.Generator
                ) -> tuple[list[Photo], list[int]]:
    """The labelled evaluation photos the model knows the classes of (a sample of MAX_IMAGES),
    decoded, and their table rows."""
    t = ctx.table
    index = {c: i for i, c in enumerate(net.classes)}
    rows = [int(r) for r in lab_rows(ctx) if t["label"].notna().iloc[r]
            and str(t["label"].iloc[r]) in index]
    if len(rows) > MAX_IMAGES:
        rows = sorted(rng.choice(rows, MAX_IMAGES, replace=False).tolist())
    photos: list[Photo] = []
    kept: list[int] = []
    for r in rows:
        got = _decode(ctx.root / str(t["path"].iloc[r]))
        if got is not None:
            photos.append(Photo(got[0], got[1], index[str(t["label"].iloc[r])]))
            kept.append(r)
    return photos, kept


def predict_field(ctx: Context, model: str | Path, spec: PreprocessSpec,
                  seed: int = 0, sweep: bool = True, field_photos: bool = True,
                  costs: bool = True) -> FieldPrediction | None:
    """Predicted field accuracy of `model` (None without labelled evaluation photos); `sweep`
    False skips the severity sweep (the report's curves); `field_photos` False uses the field
    set's measured conditions only (a monitoring window has features, not images), so neither
    the vignetting fit nor ATC on the field photos runs; `costs` False skips what each condition
    alone costs (a model run per condition group; the monitor needs only the estimate) and with
    them the fit's own uncertainty (`fit_spread`)."""
    fs: FieldSet = ctx.extras["field"]
    t = ctx.table
    net = _Model(model, spec, sorted({str(v) for v in t["label"].dropna()}))
    rng = np.random.default_rng(seed)
    photos, kept = _lab_photos(ctx, net, rng)
    if not photos:
        return None
    y = np.array([p.label for p in photos])
    simulated = simulated_conditions(ctx)
    lab_cond = conditions(t.iloc[kept]).reset_index(drop=True)
    field_cond = conditions(fs.table[fs.ok])
    field_images = []
    for p in fs.table["path"].to_numpy()[fs.ok] if field_photos else []:
        got = _decode(fs.root / str(p))
        if got is not None:
            field_images.append(got[0])
    base = Capture()
    if simulated:
        if "vignetting" in simulated and field_images:
            # a random sample: the photos come sorted by class, and the first classes' framing
            # passed for a fall-off
            pick = rng.choice(len(photos), min(VIGNETTE_IMAGES, len(photos)), replace=False)
            a, b = fit_vignette([small_luma(photos[i].rgb) for i in pick],
                                [small_luma(im) for im in field_images])
            base = Capture(vignette=a, vignette_shape=b)
        captures, replayed, replay_cond = fit_set(
            [p.rgb for p in photos], [p.quality for p in photos], lab_cond, field_cond,
            simulated, seed, base=base)
    else:
        captures, replayed, replay_cond = ([Capture()] * len(photos), [p.rgb for p in photos],
                                           lab_cond)

    def render(caps: list[Capture], subset: list[int] | None = None) -> list[np.ndarray]:
        idx = subset if subset is not None else range(len(photos))
        return [apply_capture(photos[i].rgb, caps[i] if len(caps) > 1 else caps[0], seed + i)
                for i in idx]

    def run(caps: list[Capture], subset: list[int] | None = None) -> np.ndarray:
        return net.probs(render(caps, subset))

    lab_probs = net.probs([p.rgb for p in photos])
    lab_ok = lab_probs.argmax(axis=1) == y
    replay_probs = net.probs(replayed) if simulated else lab_probs
    missed = unreproduced(lab_cond, replay_cond, field_cond,
                          [c for c in simulated if c != "jpeg_quality"])
    field_ok = replay_probs.argmax(axis=1) == y
    cost_list: list[dict[str, Any]] = []
    groups: dict[tuple[str, ...], list[str]] = {}
    for c in simulated if costs else ():
        groups.setdefault(PARAMS_OF[c], []).append(c)
    for params, names in groups.items():
        acc = float((run([c.only(*params) for c in captures]).argmax(axis=1) == y).mean())
        cost_list.append({"conditions": names, "accuracy": acc,
                          "cost": float(lab_ok.mean()) - acc})
    cost_list.sort(key=lambda d: -d["cost"])
    field_probs = net.probs(field_images) if field_images else np.zeros((0, len(net.classes)))
    atc_value = atc(lab_probs, lab_ok, field_probs) if field_images else None
    est = field_estimate(replay_probs, field_ok, field_probs, seed)
    sub = sorted(rng.choice(len(photos), min(SWEEP_IMAGES, len(photos)), replace=False).tolist())
    curves = _sweep(lambda cap: float((run([cap], sub).argmax(axis=1) == y[sub]).mean()),
                    float(lab_ok[sub].mean())) if sweep else []
    n_field = int(fs.ok.sum())
    replay_ci = _predictive_ci(field_ok, n_field)  # never [1, 1]: the interval keeps it
    fit_sd = 0.0
    if cost_list and n_field >= 3:
        fit_sd = fit_spread(lab_cond, field_cond, cost_list, seed)
        replay_ci = widen(replay_ci, float(field_ok.mean()), fit_sd)
    ci = _union(est["ci"], replay_ci)
    pushed = untoned = None
    if missed:  # the truth may lie as far again as the fit fell short: the interval spans it
        factors = push_factors(missed)
        further = [extrapolate(c, factors) for c in captures]
        if further != captures:
            pushed_ok = run(further).argmax(axis=1) == y
            pushed = float(pushed_ok.mean())
            ci = _union(ci, _predictive_ci(pushed_ok, n_field))
    if missed and "tone" in simulated:
        # the tone curve is the least identified part of the capture: where the fit left
        # conditions unreproduced, the fit without one is as plausible, so the estimate is the
        # mean of the two replays and the interval spans both
        _, plain, _ = fit_set([p.rgb for p in photos], [p.quality for p in photos], lab_cond,
                              field_cond, [c for c in simulated if c != "tone"], seed,
                              base=base)
        plain_ok = net.probs(plain).argmax(axis=1) == y
        untoned = float(plain_ok.mean())
        ci = _union(ci, _predictive_ci(plain_ok, n_field))
    estimate = float(est["estimate"]) if untoned is None else 0.5 * (float(
        field_ok.mean()) + untoned)
    return FieldPrediction(
        lab_accuracy=float(lab_ok.mean()), lab_ci=_accuracy_ci(lab_ok),
        predicted_field_accuracy=estimate, ci=ci,
        replay_accuracy=float(field_ok.mean()), replay_ci=replay_ci,
        atc_replay=float(est["atc_replay"]),
        mismatch=float(est["mismatch"]), atc_estimate=atc_value, n_eval=len(photos),
        n_field=len(field_images),
        simulated=simulated, costs=cost_list, sweep=curves, capture=summarise(captures),
        unreproduced=missed, pushed_accuracy=pushed, untoned_accuracy=untoned, fit_sd=fit_sd)
