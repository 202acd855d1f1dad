"""Classification metrics with 95% intervals that hold at small n and extreme proportions.

Proportions (accuracy, top-k accuracy, per-class recall, precision and F1) get a Jeffreys interval
(Brown, Cai & DasGupta 2001) with Clopper–Pearson's exact limit when every trial succeeds or
fails, on the effective sample size n / design effect when images come in groups (Kish 1965; the
design effect of the ratio estimator, from the spread of the groups' own rates). A percentile
bootstrap collapses to [1, 1] when every prediction is right (20 right of 20 is compatible with a
true accuracy of 85%); these intervals do not, and they cover the truth 93-99% of the time at
n = 20-200 and accuracies of 0.6-0.98, independent or grouped (tests/test_intervals.py). The
difference of two proportions (EVAL002) gets the MOVER interval of Zou & Donner (2008) built from
them, Newcombe's hybrid score method with Jeffreys limits. Balanced accuracy, macro-F1 and ECE
keep a bootstrap interval, the first two widened to at least the proportion interval of their
point value.

Every metric here is a function of a few sums over images (true positives per class, support per
class, predicted count per class, top-k hits, calibration-bin sums). The bootstrap draws resample
*weights* for whole units (an image, or a group of related images) and gets every resample's sums
with one matrix product, so thousands of resamples cost milliseconds. scikit-learn's metrics give
the same point estimates, but would have to be called once per resample; this vectorised form is
why the bootstrap is written here rather than looped over `sklearn.metrics`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

N_RESAMPLES = 1000
N_BINS = 15
LEVEL = 0.95


def unit_ids(units: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Dense unit ids 0..G-1 per row (each row its own unit when `units` is None)."""
    if units is None or n == 0:
        return np.arange(n), n
    _, dense = np.unique(np.asarray(units), return_inverse=True)
    return dense.ravel(), int(dense.max()) + 1 if n else 0


def resample_weights(n_units: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(B, G) counts: how often each unit is drawn in each bootstrap resample."""
    if n_units == 0:
        return np.zeros((n_resamples, 0))
    draws = rng.integers(0, n_units, size=(n_resamples, n_units))
    offset = (np.arange(n_resamples) * n_units)[:, None]
    counts = np.bincount((draws + offset).ravel(), minlength=n_resamples * n_units)
    return counts.reshape(n_resamples, n_units).astype(np.float64)


def bootstrap_sums(agg: np.ndarray, n_resamples: int, rng: np.random.Generator,
                   max_cells: int = 4_000_000) -> np.ndarray:
    """(B, m) per-resample sums of the unit statistics `agg` (G, m), in memory-bounded chunks."""
    g = agg.shape[0]
    step = max(1, max_cells // max(g, 1))
    out = [resample_weights(g, min(step, n_resamples - start), rng) @ agg
           for start in range(0, n_resamples, step)]
    return np.vstack(out) if out else np.zeros((0, agg.shape[1]))


def aggregate(stats: np.ndarray, units: np.ndarray, n_units: int) -> np.ndarray:
    """Sum the per-row statistics (n, m) within each unit → (G, m)."""
    out = np.zeros((n_units, stats.shape[1]))
    np.add.at(out, units, stats)
    return out


def interval(samples: np.ndarray, level: float = LEVEL) -> list[float]:
    """Percentile interval of bootstrap samples (NaN resamples ignored)."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return [float("nan"), float("nan")]
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return [float(lo), float(hi)]


def jeffreys_interval(hits: np.ndarray | float, trials: np.ndarray | float,
                      level: float = LEVEL) -> np.ndarray:
    """(..., 2) Jeffreys intervals of `hits` successes in `trials` (both may be fractional: an
    effective sample size). At 0 or all successes the open end is Clopper–Pearson's exact one
    ((α/2)^(1/n)), where Jeffreys' own is too short; NaN where `trials` is 0."""
    from scipy import stats  # lazily: the rules are imported on a thread while features run

    x = np.asarray(hits, dtype=float)
    n = np.asarray(trials, dtype=float)
    a = (1 - level) / 2
    ok = n > 0
    n1 = np.where(ok, n, 1.0)
    x1 = np.clip(np.where(ok, x, 0.0), 0, n1)
    lo = stats.beta.ppf(a, x1 + 0.5, n1 - x1 + 0.5)
    hi = stats.beta.ppf(1 - a, x1 + 0.5, n1 - x1 + 0.5)
    exact = a ** (1 / n1)
    lo = np.where(x1 <= 0, 0.0, np.where(x1 >= n1, exact, lo))
    hi = np.where(x1 >= n1, 1.0, np.where(x1 <= 0, 1 - exact, hi))
    out = np.stack([lo, hi], axis=-1)
    return np.where(ok[..., None], out, np.nan)


def design_effect(hits: np.ndarray, trials: np.ndarray,
                  fallback: np.ndarray | float | None = None) -> np.ndarray:
    """Design effect of the ratio Σhits / Σtrials whose units (an image, or a group of related
    images) lie on the last axis: the variance of the ratio estimated from the units' residuals
    over the binomial variance, between 1 and Σm²/Σm (every group all right or all wrong).

    1 when every unit holds at most one trial. When every trial succeeds (or fails) the spread
    within groups cannot be measured here: `fallback` is taken (the design effect of the whole
    evaluation set, for a class or a subset of it), else the bound Σm²/Σm: the groups, not
    the images, are then the independent evidence.
    """
    y = np.asarray(hits, dtype=float)
    m = np.asarray(trials, dtype=float)
    n = m.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = y.sum(axis=-1) / n
        g = (m > 0).sum(axis=-1)
        resid = ((y - p[..., None] * m) ** 2).sum(axis=-1)
        var = g / np.maximum(g - 1, 1) * resid / n ** 2
        deff = var * n / (p * (1 - p))
        most = (m ** 2).sum(axis=-1) / n
    most = np.where(np.isfinite(most), np.maximum(most, 1.0), 1.0)
    degenerate = ~np.isfinite(deff) | (p <= 0) | (p >= 1)
    if fallback is not None:
        fallback = np.asarray(fallback, dtype=float)
        fallback = np.where(np.isfinite(fallback), np.clip(fallback, 1.0, most), most)
    deff = np.where(degenerate, most if fallback is None else fallback, np.clip(deff, 1.0, most))
    return np.where(m.max(axis=-1, initial=0) <= 1, 1.0, deff)


def proportion_interval(hits: np.ndarray, trials: np.ndarray, level: float = LEVEL,
                        fallback: np.ndarray | float | None = None) -> np.ndarray:
    """(..., 2) interval of Σhits / Σtrials over units on the last axis: Jeffreys on the
    effective sample size Σtrials / design effect (`fallback`: see `design_effect`)."""
    hits = np.asarray(hits, dtype=float)
    trials = np.asarray(trials, dtype=float)
    deff = design_effect(hits, trials, fallback)
    return jeffreys_interval(hits.sum(axis=-1) / deff, trials.sum(axis=-1) / deff, level)


def difference_interval(p1: np.ndarray, ci1: np.ndarray, p2: np.ndarray, ci2: np.ndarray
                        ) -> np.ndarray:
    """(..., 2) MOVER interval of p1 − p2 from each proportion's own interval (..., 2) (Zou &
    Donner 2008; Newcombe's hybrid score method when those are Wilson intervals)."""
    p1, p2, ci1, ci2 = (np.asarray(v, dtype=float) for v in (p1, p2, ci1, ci2))
    d = p1 - p2
    lo = d - np.sqrt((p1 - ci1[..., 0]) ** 2 + (ci2[..., 1] - p2) ** 2)
    hi = d + np.sqrt((ci1[..., 1] - p1) ** 2 + (p2 - ci2[..., 0]) ** 2)
    return np.stack([np.maximum(lo, -1.0), np.minimum(hi, 1.0)], axis=-1)


def subset_intervals(correct: np.ndarray, rows: np.ndarray, kept: np.ndarray,
                     kept_correct: np.ndarray, level: float = LEVEL) -> dict[str, np.ndarray]:
    """(..., 2) intervals of the accuracy on all rows, on the kept rows, and of their difference
    (all − kept), from per-unit counts on the last axis (right answers, rows, kept rows, right
    answers among them).

    all − kept = share_out × (accuracy_out − accuracy_kept), two disjoint proportions: the
    difference's interval is their MOVER interval scaled by the share of rows left out.
    """
    correct, rows, kept, kept_correct = (np.asarray(v, dtype=float)
                                         for v in (correct, rows, kept, kept_correct))
    out_hits, out_rows = correct - kept_correct, rows - kept
    n, n_kept, n_out = rows.sum(axis=-1), kept.sum(axis=-1), out_rows.sum(axis=-1)
    deff = design_effect(correct, rows)  # a part all right: the whole set's design effect
    ci_kept = proportion_interval(kept_correct, kept, level, deff)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_out = out_hits.sum(axis=-1) / n_out
        p_kept = kept_correct.sum(axis=-1) / n_kept
        share = n_out / n
    diff = share[..., None] * difference_interval(
        p_out, proportion_interval(out_hits, out_rows, level, deff), p_kept, ci_kept)
    diff = np.where((n_out == 0)[..., None] & (n_kept > 0)[..., None], 0.0, diff)
    return {"all": proportion_interval(correct, rows, level), "kept": ci_kept,
            "difference": diff}


def _ends(ci: np.ndarray) -> list[float]:
    return [float(ci[0]), float(ci[1])]


def _union(a: list[float], b: np.ndarray) -> list[float]:
    """The smallest interval holding both (NaN ends ignored)."""
    lo = np.nanmin([a[0], b[0]]) if np.isfinite([a[0], b[0]]).any() else float("nan")
    hi = np.nanmax([a[1], b[1]]) if np.isfinite([a[1], b[1]]).any() else float("nan")
    return [float(lo), float(hi)]


def wilson_half_width(p: float, n: int, z: float = 1.959964) -> float:
    """Half-width of the Wilson score interval of a proportion `p` measured on `n` trials."""
    if n <= 0:
        return float("nan")
    return float(z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n))


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def rates_from_counts(tp: np.ndarray, support: np.ndarray, predicted: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy, macro-F1 and per-class precision/recall/F1 from counts.

    Arrays have classes on the last axis; leading axes (e.g. resamples) are kept. Classes absent
    from the labels are left out of balanced accuracy and macro-F1 (as scikit-learn warns about).
    """
    n = support.sum(axis=-1)
    recall = _div(tp, support)
    precision = _div(tp, predicted)
    f1 = _div(2 * tp, support + predicted)
    present = support > 0
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples stay NaN
        bal = np.nanmean(np.where(present, recall, np.nan), axis=-1) if recall.size else recall
        macro = np.nanmean(np.where(present, np.nan_to_num(f1), np.nan), axis=-1)
    return {"accuracy": _div(tp.sum(axis=-1), n), "balanced_accuracy": bal, "macro_f1": macro,
            "precision": precision, "recall": recall, "f1": f1}


@dataclass
class Scores:
    """Point estimates and intervals of one evaluation set."""

    n: int
    classes: list[str]
    metrics: dict[str, dict[str, Any]]
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    calibration: dict[str, Any] | None = None
    samples: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def value(self, name: str) -> float:
        return float(self.metrics[name]["value"])

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "classes": self.classes, "metrics": self.metrics,
                "per_class": self.per_class,
                "confusion": {"labels": self.classes, "matrix": self.confusion},
                "calibration": self.calibration}


def calibration_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS
                     ) -> tuple[np.ndarray, list[dict[str, Any]], float]:
    """Per-row bin statistics (n, 3*n_bins), the reliability bins and the ECE.

    ECE is the equal-width binned expected calibration error of the top-class confidence
    (Guo et al. 2017): the count-weighted mean |accuracy − confidence| over bins.
    """
    idx = np.clip((confidence * n_bins).astype(int), 0, n_bins - 1)
    stats = np.zeros((len(confidence), 3 * n_bins))
    rows = np.arange(len(confidence))
    stats[rows, idx] = 1.0
    stats[rows, n_bins + idx] = confidence
    stats[rows, 2 * n_bins + idx] = correct
    tot = stats.sum(axis=0)
    bins = []
    for b in range(n_bins):
        cnt = tot[b]
        bins.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": int(cnt),
                     "confidence": float(tot[n_bins + b] / cnt) if cnt else None,
                     "accuracy": float(tot[2 * n_bins + b] / cnt) if cnt else None})
    return stats, bins, float(ece_from_sums(tot[None, :], n_bins)[0])


def ece_from_sums(sums: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """ECE for each row of bin sums (B, 3*n_bins)."""
    cnt, conf, acc = sums[:, :n_bins], sums[:, n_bins:2 * n_bins], sums[:, 2 * n_bins:]
    total = cnt.sum(axis=1)
    return _div(np.abs(acc - conf).sum(axis=1), total)


def score(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: list[str],
    probs: np.ndarray | None = None,
    units: np.ndarray | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    top_k: tuple[int, ...] = (2, 3, 5),
    level: float = LEVEL,
) -> Scores:
    """All metrics of one evaluation set with 95% intervals (see the module's docstring).

    `y_true`/`y_pred` hold class indices into `classes`; `probs` (n, k) is optional; `units` gives
    a group id per row so that the bootstrap resamples whole groups.
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    n, k = len(y_true), len(classes)
    eye = np.eye(k)
    blocks = [eye[y_true] * (y_true == y_pred)[:, None], eye[y_true], eye[y_pred]]
    names = []
    if probs is not None:
        order = np.argsort(-probs, axis=1)
        for kk in top_k:
            if kk < k:
                blocks.append(np.any(order[:, :kk] == y_true[:, None], axis=1)[:, None] * 1.0)
                names.append(f"top_{kk}_accuracy")
        confidence = probs.max(axis=1)
        cal_stats, bins, ece = calibration_bins(confidence, (y_pred == y_true) * 1.0)
        blocks.append(cal_stats)
    stats = np.hstack(blocks) if n else np.zeros((0, 3 * k))
    uid, g = unit_ids(units, n)
    agg = aggregate(stats, uid, g)
    boot = bootstrap_sums(agg, n_resamples, np.random.default_rng(seed))
    point = agg.sum(axis=0)[None, :]

    def split(sums: np.ndarray) -> dict[str, np.ndarray]:
        out = rates_from_counts(sums[:, :k], sums[:, k:2 * k], sums[:, 2 * k:3 * k])
        col = 3 * k
        for name in names:
            out[name] = _div(sums[:, col], sums[:, k:2 * k].sum(axis=1))
            col += 1
        if probs is not None:
            out["ece"] = ece_from_sums(sums[:, col:])
        return out

    pt, bs = split(point), split(boot)
    tp, support, predicted = agg[:, :k].T, agg[:, k:2 * k].T, agg[:, 2 * k:3 * k].T
    total = support.sum(axis=0)
    deff = design_effect(tp.sum(axis=0), total)  # a class all right: the whole set's
    acc_ci = proportion_interval(tp.sum(axis=0), total, level)
    metrics = {"accuracy": {"value": float(pt["accuracy"][0]), "ci": _ends(acc_ci)}}
    n_support = point[0, k:2 * k]
    present = n_support > 0
    # balanced accuracy and macro-F1 average per-class rates: their bootstrap interval is
    # widened to at least a proportion interval on n* = k² / Σ 1/n_c (the size at which a
    # single proportion has the variance of a mean of k rates), over the design effect.
    n_star = (present.sum() ** 2 / np.sum(1 / n_support[present]) if present.any() else 0.0)
    n_star /= float(deff) if len(total) else 1.0
    for name in ("balanced_accuracy", "macro_f1"):
        value = float(pt[name][0])
        floor = jeffreys_interval(value * n_star, n_star, level) if np.isfinite(value) \
            else np.array([np.nan, np.nan])
        metrics[name] = {"value": value, "ci": _union(interval(bs[name], level), floor)}
    for i, name in enumerate(names):
        metrics[name] = {"value": float(pt[name][0]),
                         "ci": _ends(proportion_interval(agg[:, 3 * k + i], total, level, deff))}
    cis = {"recall": proportion_interval(tp, support, level, deff),
           "precision": proportion_interval(tp, predicted, level, deff),
           "f1": proportion_interval(tp, (support + predicted) / 2, level, deff)}
    per_class = []
    for c, label in enumerate(classes):
        row: dict[str, Any] = {"label": label, "n": int(n_support[c])}
        for name in ("precision", "recall", "f1"):
            row[name] = float(pt[name][0, c])
            row[f"{name}_ci"] = _ends(cis[name][c])
        per_class.append(row)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)
    calibration = None
    if probs is not None:
        calibration = {"ece": ece, "ci": interval(bs["ece"], level), "bins": bins,
                       "n_bins": N_BINS}
    samples = {name: bs[name] for name in ("accuracy", "balanced_accuracy", "macro_f1")}
    samples["recall"] = bs["recall"]
    return Scores(n=n, classes=list(classes), metrics=metrics, per_class=per_class,
                  confusion=confusion.tolist(), calibration=calibration, samples=samples)


def subset_comparison(
    correct: np.ndarray,
    keep: np.ndarray,
    units: np.ndarray | None = None,
    *,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Accuracy on all rows vs on the rows where `keep` is true.

    Returns both scores with their intervals, their difference (all − kept) with its interval
    (`subset_intervals`), and the one-sided p-value of "the difference is ≤ 0" (the excluded
    rows do not inflate the score) from the same interval: the smallest α at which the lower
    limit of the 1 − 2α interval stays above zero. A percentile bootstrap's p-value was
    anti-conservative here: an excluded part whose answers are all right has no spread in its
    resamples (16 leaked images all right against 78% on the rest gave p = 0.0005).
    """
    correct = np.asarray(correct, dtype=float)
    keep = np.asarray(keep, dtype=bool)
    n = len(correct)
    stats = np.column_stack([np.ones(n), correct, keep * 1.0, correct * keep])
    uid, g = unit_ids(units, n)
    agg = aggregate(stats, uid, g)
    point = agg.sum(axis=0)
    score_all = float(point[1] / point[0]) if point[0] else float("nan")
    score_kept = float(point[3] / point[2]) if point[2] else float("nan")

    def intervals(at: float) -> dict[str, np.ndarray]:
        return subset_intervals(agg[:, 1], agg[:, 0], agg[:, 2], agg[:, 3], at)

    cis = {k: _ends(v) for k, v in intervals(level).items()}
    return {
        "metric": "accuracy",
        "score_all": score_all,
        "score_leak_free": score_kept,
        "ci_all": cis["all"],
        "ci_leak_free": cis["kept"],
        "n_all": int(n),
        "n_leak_free": int(keep.sum()),
        "difference": score_all - score_kept,
        "ci_difference": cis["difference"],
        "p_value": _one_sided_p(lambda a: float(intervals(1 - 2 * a)["difference"][0])),
        "score_leaked": float(point[1] - point[3]) / float(point[0] - point[2])
        if point[0] > point[2] else None,
        "n_leaked": int(n - keep.sum()),
        "n_units": int(g),
    }


def _one_sided_p(lower: Any, steps: int = 40) -> float:
    """The smallest α in (0, 0.5) at which `lower(α)`, the lower limit of a 1 − 2α interval
    (rising with α), is above zero; 1 when it never is (by bisection)."""
    if not np.isfinite(lower(0.5 - 1e-9)) or lower(0.5 - 1e-9) <= 0:
        return 1.0
    lo, hi = 0.0, 0.5 - 1e-9
    if lower(1e-12) > 0:
        return 1e-12
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if lower(mid) > 0 else (mid, hi)
    return float(hi)
