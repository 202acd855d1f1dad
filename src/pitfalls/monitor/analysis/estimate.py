"""Accuracy per window: estimated without labels, and realised once labels arrive.

- **ATC** (Average Thresholded Confidence, Garg et al., ICLR 2022; `field.predict.atc`): the
  negative-entropy threshold at which the reference's share of confident predictions equals its
  accuracy, applied to the window's probabilities. Needs the reference's probabilities and labels
  and the window's probabilities; no model, no images.
- **Capture replay** (`field.predict`): the window's measured conditions replayed on the reference
  photos through the model. Needs the model and the reference photos, so the service runs it when
  it has them (`replay_estimate`), and each window says which estimate it carries.
- **Realised accuracy** on the labelled records, with a Wilson interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pitfalls.context import Context
from pitfalls.monitor.analysis.records import features_table
from pitfalls.monitor.analysis.reference import Reference

if TYPE_CHECKING:
    from pitfalls.evaluation.model import PreprocessSpec

LEVEL = 0.95


def wilson(k: int, n: int, level: float = LEVEL) -> list[float]:
    """Wilson score interval of k successes in n trials ([nan, nan] when n is 0)."""
    from scipy.stats import binomtest

    if n <= 0:
        return [float("nan"), float("nan")]
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return [float(ci.low), float(ci.high)]


@dataclass
class Estimate:
    """An accuracy figure for one window, how it was obtained, and its interval."""

    value: float | None
    ci: list[float]
    n: int
    method: str  # "atc", "replay", "labels" or "none"


def window_probs(ref: Reference, records: pd.DataFrame) -> np.ndarray:
    """The rows' probabilities in the reference's class order (rows without any dropped)."""
    cols = [f"p_{i}" for i in range(len(ref.classes))]
    if not cols or not set(cols) <= set(records.columns):
        return np.zeros((0, len(cols)))
    p = records[cols].to_numpy(float)
    return p[np.isfinite(p).all(axis=1)]


def atc_estimate(ref: Reference, records: pd.DataFrame) -> Estimate:
    """ATC on the window's records, with the interval of the thresholded share widened by the
    uncertainty of the threshold itself (fitted on a finite reference)."""
    from scipy.stats import norm

    from pitfalls.field.predict import atc

    lab_probs, correct = ref.prob_matrix, ref.correct
    probs = window_probs(ref, records)
    if lab_probs is None or correct is None or not len(probs):
        return Estimate(None, [float("nan"), float("nan")], len(probs), "none")
    value = atc(lab_probs, correct, probs)
    assert value is not None
    n, n_ref = len(probs), len(correct)
    p = min(max(value, 1e-3), 1 - 1e-3)
    half = norm.ppf(0.5 + LEVEL / 2) * np.sqrt(p * (1 - p) * (1 / n + 1 / n_ref))
    return Estimate(float(value), [max(0.0, value - half), min(1.0, value + half)], n, "atc")


def replay_below_range_p(est: Estimate, low: float) -> float:
    """One-sided p-value that a replay estimate is below `low`: the binomial test of its value
    on the effective sample size its 95% interval implies (v(1 - v) x (3.92 / width)²), with
    the binomial's CDF continued to fractional counts by the regularised incomplete beta. A normal
    approximation from the width lost power where the interval is skewed (near 1)."""
    from scipy.special import betainc
    from scipy.stats import norm

    value = float(est.value or 0.0)
    width = max(est.ci[1] - est.ci[0], 1e-6)
    v = min(max(value, 1e-3), 1 - 1e-3)
    n_eff = v * (1 - v) * (2 * norm.ppf(0.5 + LEVEL / 2) / width) ** 2
    k = value * n_eff
    return float(betainc(max(n_eff - k, 1e-9), k + 1.0, 1.0 - min(max(low, 0.0), 1.0)))


def below_range_p(value: float, n: int, n_ref: int, low: float) -> float:
    """One-sided p-value that a window's accuracy is below `low`, for an ATC-like estimate
    measured on `n` inputs with a threshold fitted on `n_ref` reference photos (normal
    approximation; the reference's share adds its own variance)."""
    from scipy.stats import norm

    p0 = min(max(low, 1e-3), 1 - 1e-3)
    var = p0 * (1 - p0) * (1 / max(n, 1) + 1 / max(n_ref, 1))
    return float(norm.cdf((value - low) / np.sqrt(var)))


def realised(records: pd.DataFrame) -> Estimate:
    """Accuracy on the window's labelled records, with its Wilson interval."""
    lab = records[records["label"].notna() & records["pred"].notna()]
    k = int((lab["pred"] == lab["label"]).sum())
    n = len(lab)
    return Estimate(k / n if n else None, wilson(k, n), n, "labels" if n else "none")


def replay_estimate(ctx: Context, records: pd.DataFrame, model: str | Path,
                    spec: PreprocessSpec, seed: int = 0) -> Estimate:
    """The capture replay (`field.predict.predict_field`) with the window as the field set:
    the window's measured conditions are fitted on the reference photos of the scan context
    `ctx`, and the model's accuracy on the transformed photos is the estimate, with its bootstrap
    interval. `records` are raw records (their `features` dicts) or flattened ones; needs the
    model and the reference photos, so the service runs it where it has them (pass it to
    `WindowStore` / `WindowBatch` as `replay`)."""
    from pitfalls.field.data import FieldSet
    from pitfalls.field.predict import predict_field
    feats = features_table(records.reset_index(drop=True))
    feats["path"] = [f"record-{i}" for i in range(len(feats))]
    if not feats["ok"].any():
        return Estimate(None, [float("nan"), float("nan")], 0, "none")
    fs = FieldSet(root=ctx.root, table=feats, embeddings=np.zeros((len(feats), 1), np.float32))
    wctx = Context(dataset=ctx.dataset, table=ctx.table, config=ctx.config,
                   extras={**ctx.extras, "field": fs})
    fp = predict_field(wctx, model, spec, seed, sweep=False, field_photos=False,
                       costs=False)
    if fp is None:
        return Estimate(None, [float("nan"), float("nan")], int(feats["ok"].sum()), "none")
    return Estimate(fp.predicted_field_accuracy, list(fp.ci), int(feats["ok"].sum()), "replay")
