"""Field accuracy from the replay and the field photos' own confidences, with an honest interval.

The capture replay (the lab photos re-taken by the fitted capture) gives labelled photos that look
like the field's; the field photos themselves have no labels. Average Thresholded Confidence
(Garg et al., ICLR 2022) carries accuracy from labelled photos to unlabelled ones through the
model's confidence. Calibrated on the lab photos it must bridge the whole lab-to-field gap (and
is often tens of points off); calibrated on the replay it only bridges what the replay missed.
The estimate is the replay's accuracy (measured with labels); ATC calibrated on the replay is its
check, and the interval:

- resamples lab photos (the replay's accuracy and threshold) and field photos together;
- spans both the replay and the ATC-from-replay estimate (the mismatch term): where the replay
  reproduced the field, the model is as confident on both and the term vanishes; where it did not
  (a shift outside the capture model), the interval widens by the disagreement.

On the field-accuracy benchmark, a model confidently wrong under a shift fools ATC (lab-calibrated
ATC was off by up to 70 points under vignetting), so ATC widens the interval but is not the point
estimate.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

N_RESAMPLES = 1000
LEVEL = 0.95


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


def _atc_rows(s_ref: np.ndarray, ok_ref: np.ndarray, s_field: np.ndarray) -> np.ndarray:
    """ATC per row of resampled (B, n) reference scores/correctness and (B, m) field scores."""
    acc = ok_ref.mean(axis=1)
    srt = np.sort(s_ref, axis=1)
    n = s_ref.shape[1]
    k = np.clip(np.floor((1.0 - acc) * (n - 1)).astype(int), 0, n - 1)
    thr = srt[np.arange(len(srt)), k]
    return (s_field > thr[:, None]).mean(axis=1)


class FieldEstimate(TypedDict):
    """What `field_estimate` returns."""

    estimate: float
    atc_replay: float
    mismatch: float
    ci: list[float]


def field_estimate(replay_probs: np.ndarray, replay_ok: np.ndarray, field_probs: np.ndarray,
                   seed: int = 0) -> FieldEstimate:
    """The field accuracy estimate and its interval.

    Keys: `estimate` (the replay's accuracy), `atc_replay` (ATC calibrated on the replay, read
    from the field photos' confidences), `mismatch` (|atc_replay - estimate|) and `ci` (the
    bootstrap intervals of both, over lab and field photos, joined)."""
    replay = float(replay_ok.mean()) if len(replay_ok) else float("nan")
    if len(field_probs) == 0 or len(replay_probs) == 0:
        return {"estimate": replay, "atc_replay": replay, "mismatch": 0.0,
                "ci": [replay, replay]}
    s_rep, s_fld = neg_entropy(replay_probs), neg_entropy(field_probs)
    est = float(_atc_rows(s_rep[None], replay_ok[None].astype(float), s_fld[None])[0])
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(s_rep), (N_RESAMPLES, len(s_rep)))
    j = rng.integers(0, len(s_fld), (N_RESAMPLES, len(s_fld)))
    boot = _atc_rows(s_rep[i], replay_ok[i].astype(float), s_fld[j])
    rep_boot = replay_ok[i].mean(axis=1)
    lo, hi = np.percentile(boot, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    # the mismatch: the truth may lie with either estimate, so the interval spans both
    r_lo, r_hi = np.percentile(rep_boot, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    mismatch = abs(est - replay)
    ci = [float(min(lo, r_lo)), float(max(hi, r_hi))]
    return {"estimate": replay, "atc_replay": est, "mismatch": mismatch, "ci": ci}
