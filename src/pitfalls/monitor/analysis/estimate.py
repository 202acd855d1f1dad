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

import numpy as np
import pandas as pd
from scipy.stats import binomtest, norm

from pitfalls.field.predict import atc
from pitfalls.monitor.analysis.reference import Reference

LEVEL = 0.95


def wilson(k: int, n: int, level: float = LEVEL) -> list[float]:
    """Wilson score interval of k successes in n trials ([nan, nan] when n is 0)."""
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


def below_range_p(value: float, n: int, n_ref: int, low: float) -> float:
    """One-sided p-value that a window's accuracy is below `low`, for an ATC-like estimate
    measured on `n` inputs with a threshold fitted on `n_ref` reference photos (normal
    approximation; the reference's share adds its own variance)."""
    p0 = min(max(low, 1e-3), 1 - 1e-3)
    var = p0 * (1 - p0) * (1 / max(n, 1) + 1 / max(n_ref, 1))
    return float(norm.cdf((value - low) / np.sqrt(var)))


def realised(records: pd.DataFrame) -> Estimate:
    """Accuracy on the window's labelled records, with its Wilson interval."""
    lab = records[records["label"].notna() & records["pred"].notna()]
    k = int((lab["pred"] == lab["label"]).sum())
    n = len(lab)
    return Estimate(k / n if n else None, wilson(k, n), n, "labels" if n else "none")
