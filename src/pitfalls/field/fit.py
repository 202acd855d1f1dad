"""Fit the capture model so the transformed lab photos match the field's conditions.

Quantile matching, one condition at a time: a lab photo at quantile q of the lab's exposure
distribution is given the exposure at quantile q of the field's, and so on for every condition that
differs. Each photo's parameters are then solved in the camera's order: the lens fall-off from the
field's radial profile (`fit_vignette`, once for the set); the tone curve from the luma skewness
and contrast; exposure, contrast and white-balance gains in closed form from its measured means;
the Gaussian blur sigma (or, for a field sharper than the lab, the unsharp-mask amount) by
bisection on the measured blur; the scale from the pixel side; the added noise from the noise
still missing; the JPEG quality directly. So the transformed set reproduces the field's whole
distributions, not only their medians. Conditions that cannot be told apart from the lab's are
left alone, and a tone curve or a linear contrast change is fitted only where the simpler fit
leaves the field's tone or contrast unexplained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from pitfalls.features.properties import WORK_SIDE
from pitfalls.field.capture import Capture, apply_capture, falloff
from pitfalls.field.conditions import measure_image

SIMULATED = ("exposure", "contrast", "tone", "cast_rg", "cast_yb", "blur", "noise", "resolution",
             "jpeg_quality", "vignetting")
"""Conditions the capture model reproduces (aspect ratio would need cropping the scene)."""


def quantile_targets(lab: pd.DataFrame, field: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per lab row, the field value at the same quantile (NaN where the lab value is NaN)."""
    out = pd.DataFrame(index=lab.index)
    for name in names:
        a = lab[name].to_numpy(float)
        b = field[name].to_numpy(float)
        b = b[np.isfinite(b)]
        ok = np.isfinite(a)
        q = np.full(len(a), np.nan)
        if ok.any() and len(b):
            ranks = pd.Series(a[ok]).rank(method="average").to_numpy()
            q[ok] = np.quantile(b, (ranks - 0.5) / ok.sum())
        out[name] = q
    return out


def _cast_gains(means: tuple[float, float, float], rg: float, yb: float) -> tuple[float, float]:
    """Red and blue gains giving normalised casts (rg, yb) for a photo with channel means."""
    r, g, b = means

    def resid(p: np.ndarray) -> np.ndarray:
        rr, bb = r * p[0], b * p[1]
        lum = max(0.299 * rr + 0.587 * g + 0.114 * bb, 1e-3)
        return np.array([(rr - g) / lum - rg, (0.5 * (rr + g) - bb) / lum - yb])

    sol = least_squares(resid, x0=[1.0, 1.0], bounds=([0.3, 0.3], [3.0, 3.0]))
    return float(sol.x[0]), float(sol.x[1])


SHARPEN_RADIUS = 1.0
"""Radius of the unsharp mask `_focus` fits, in pixels of the scan's working copy."""


def _focus(work: np.ndarray, target: float, scale_up: float) -> tuple[float, float]:
    """The Gaussian sigma (in pixels of the full photo) that brings `blur` up to `target`, or,
    where the field is sharper than the photo, the unsharp-mask amount that brings it down
    (phone pipelines sharpen): (sigma, amount), one of them 0. Bisection on the working copy
    `work` (8-bit), `scale_up` being the full photo's side over the copy's."""
    from PIL import Image, ImageFilter

    from pitfalls.features.properties import detail, luma
    from pitfalls.field.conditions import blur_measure

    img = Image.fromarray(work)

    def measured(shown: Image.Image) -> float:
        g = luma(np.asarray(shown, np.float32) / 255.0)
        m = detail(g * np.float32(255.0))  # sharpness and noise from one pass
        return float(blur_measure(np.array([m["sharpness"]]), np.array([m["noise"]]),
                                  np.array([g.mean()]))[0])

    def blur_at(sigma: float) -> float:
        return measured(img.filter(ImageFilter.GaussianBlur(sigma)) if sigma > 0.05 else img)

    def sharp_at(amount: float) -> float:
        return measured(img.filter(ImageFilter.UnsharpMask(
            SHARPEN_RADIUS, round(amount * 100), 0)) if amount > 0.01 else img)

    now = blur_at(0.0)
    if abs(now - target) < 1e-6:
        return 0.0, 0.0
    sharpen = now > target
    at, hi = (sharp_at, 4.0) if sharpen else (blur_at, 8.0)

    def short(x: float) -> bool:  # not yet as sharp (or as blurred) as the target
        return at(x) > target if sharpen else at(x) < target

    lo = 0.0
    if not short(hi):
        for _ in range(9):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if short(mid) else (lo, mid)
        hi = 0.5 * (lo + hi)
    return (0.0, hi) if sharpen else (hi * scale_up, 0.0)


VIGNETTE_DEPTHS = tuple(float(d) for d in np.linspace(0.05, 0.95, 19))
VIGNETTE_SHAPES = (0.8, 1.0, 1.4, 2.0, 3.0, 4.5, 7.0)
"""The grid of fall-offs 1 - depth x r^shape that `fit_vignette` starts from."""
MIN_RANK_DROP = 0.04
"""Smallest drop of an outer ring's mean brightness rank (`conditions.rank_profile`) that
`fit_vignette` acts on."""
MIN_PROFILE_DROP = 0.1
"""Smallest darkening of an outer ring (`conditions.radial_profile`, in standard deviations of
log luma) that `fit_vignette` acts on."""


def fit_vignette(lab: list[np.ndarray], field: list[np.ndarray]) -> tuple[float, float]:
    """The fall-off (depth, shape) of 1 - depth x r^shape whose replay on the lab photos' small
    lumas (`conditions.small_luma`) best matches the field's mean radial profile (in log luma
    over its spread, so a tone curve does not pass for vignetting): the best point of a grid,
    refined by Nelder-Mead; (0, 2) when the field's outer rings are no darker than the lab's."""
    from scipy.optimize import minimize

    from pitfalls.field.conditions import radial_profile, rank_profile

    def mean(profile: Callable[[np.ndarray], np.ndarray], lumas: list[np.ndarray]) -> np.ndarray:
        return np.nanmean(np.array([profile(g) for g in lumas]), axis=0)

    goal = mean(radial_profile, field)
    # the outer rings must be darker by rank (which no tone curve moves) before the log-luma
    # profile, which keeps growing with the fall-off, sets how much
    if (float(np.max(mean(rank_profile, lab) - mean(rank_profile, field))) < MIN_RANK_DROP
            or float(np.max(mean(radial_profile, lab) - goal)) < MIN_PROFILE_DROP):
        return 0.0, 2.0
    falls: dict[tuple[int, int], dict[tuple[float, float], np.ndarray]] = {}

    def err(depth: float, shape: float) -> float:
        depth, shape = float(np.clip(depth, 0.0, 0.98)), float(np.clip(shape, 0.5, 10.0))
        profs = []
        for g in lab:
            cache = falls.setdefault(g.shape, {})
            fall = cache.get((depth, shape))
            if fall is None:
                fall = cache[(depth, shape)] = falloff(g.shape[0], g.shape[1], depth, shape)
            profs.append(radial_profile(g * fall))
        return float(np.sum((np.nanmean(np.array(profs), axis=0) - goal) ** 2))

    start = min(((d, q) for d in VIGNETTE_DEPTHS for q in VIGNETTE_SHAPES),
                key=lambda dq: err(*dq))
    sol = minimize(lambda x: err(float(x[0]), float(x[1])), np.array(start),
                   method="Nelder-Mead", options={"xatol": 0.01, "fatol": 1e-7, "maxiter": 60})
    best = sol.x if sol.fun < err(*start) else np.array(start)
    return float(np.clip(best[0], 0.0, 0.98)), float(np.clip(best[1], 0.5, 10.0))


def _gamma_for(rgb: np.ndarray, cap: Capture, shifts: dict[str, float]) -> float:
    """The gamma that moves the photo's `tone` (luma skewness, `conditions.tone_skew`) and/or
    `contrast` (log of luma std over mean) by the given shifts, as rendered under `cap` so far:
    per condition a bisection in [1/3, 3] on the scan's working copy, the curve applied to each
    channel and read as the features are (luma to the power gamma overstated the gamma by a
    seventh on colourful photos); with both, the geometric mean of the two."""
    from pitfalls.features.properties import luma, working_copy
    from pitfalls.field.conditions import tone_skew

    shown = apply_capture(rgb, cap) if cap != Capture() else rgb
    work = working_copy(shown)

    def measure(name: str, g: float) -> float:
        y = luma(work ** np.float32(g))
        if name == "contrast":
            return float(np.log(max(float(y.std()), 1e-4) / max(float(y.mean()), 1e-3)))
        level = np.rint(y * 255.0).ravel()
        a, b, c = np.quantile(level, [0.05, 0.5, 0.95], method="inverted_cdf") / 255.0
        return float(tone_skew(np.array(a), np.array(b), np.array(c)))

    logs = []
    for name, shift in shifts.items():
        target = measure(name, 1.0) + shift
        if not np.isfinite(target):
            continue
        lo, hi = 1.0 / 3.0, 3.0
        if measure(name, lo) >= target:
            logs.append(np.log(lo))
            continue
        if measure(name, hi) <= target:
            logs.append(np.log(hi))
            continue
        for _ in range(16):
            mid = float(np.sqrt(lo * hi))
            lo, hi = (mid, hi) if measure(name, mid) < target else (lo, mid)
        logs.append(0.5 * np.log(lo * hi))
    return float(np.exp(np.mean(logs))) if logs else 1.0


def fit_one(rgb: np.ndarray, quality: float | None, target: dict[str, float],
            now: dict[str, float] | None = None, seed: int = 0,
            base: Capture | None = None) -> Capture:
    """The capture parameters that move one photo's conditions to `target` (missing keys and
    NaN targets are left as they are)."""
    now = now or measure_image(rgb, quality)

    def want(name: str) -> float | None:
        v = target.get(name)
        return None if v is None or not np.isfinite(v) else float(v)

    cap = base or Capture()
    shifts = {name: float(t - now[name]) for name, t in (("tone", want("tone")),
                                                          ("contrast", want("tone_contrast")))
              if t is not None and np.isfinite(now.get(name, np.nan))}
    if "tone" in shifts:  # the tone curve (and the contrast it alone must explain)
        cap = replace(cap, gamma=_gamma_for(rgb, cap, shifts))
    toned, shown0 = now, rgb
    if cap != Capture():  # the fall-off and the tone curve already moved the others
        shown0 = apply_capture(rgb, cap)
        toned = measure_image(shown0)
    if (t := want("exposure")) is not None and toned["exposure"] > 1e-3:
        cap = replace(cap, gain=float(np.clip((t / toned["exposure"]) ** (1.0 / cap.gamma),
                                              0.1, 4.0)))
    if (t := want("contrast")) is not None:
        cap = replace(cap, contrast=float(np.clip(np.exp(t - toned["contrast"]), 0.2, 3.0)))
    rg, yb = want("cast_rg"), want("cast_yb")
    if rg is not None or yb is not None:
        x = shown0.reshape(-1, 3).mean(axis=0) / 255.0
        gr, gb = _cast_gains((float(x[0]), float(x[1]), float(x[2])),
                             rg if rg is not None else toned["cast_rg"],
                             yb if yb is not None else toned["cast_yb"])
        # the gains act before the tone curve, which raises them to its power
        cap = replace(cap, gain_r=gr ** (1.0 / cap.gamma), gain_b=gb ** (1.0 / cap.gamma))
    if (t := want("blur")) is not None:
        from pitfalls.features.properties import working_copy

        shown = apply_capture(rgb, cap)
        work = (working_copy(shown) * 255.0 + 0.5).astype(np.uint8)
        scale_up = max(rgb.shape[:2]) / max(work.shape[:2])
        sigma, amount = _focus(work, t, scale_up)
        cap = replace(cap, blur_sigma=sigma, sharpen=amount,
                      sharpen_radius=SHARPEN_RADIUS * scale_up)
    if (t := want("resolution")) is not None:
        cap = replace(cap, scale=float(np.clip(2.0 ** (t - now["resolution"]), 0.05, 1.0)))
    if (t := want("noise")) is not None:
        shown = apply_capture(rgb, cap, seed)
        now_shown = measure_image(shown)
        have = now_shown["noise"]  # relative to mean luma, like the target
        lum = max(now_shown["exposure"], 0.02)
        side = max(shown.shape[:2])
        down = max(1.0, side / WORK_SIDE)  # area-averaging to the working copy divides sigma
        if t > have:
            sigma = float(np.sqrt(t * t - have * have) * down * lum)
            got = measure_image(apply_capture(rgb, replace(cap, noise_sigma=sigma), seed))["noise"]
            excess = np.sqrt(max(got * got - have * have, 1e-6))
            sigma *= float(np.clip(np.sqrt(t * t - have * have) / excess, 0.5, 2.0))
            cap = replace(cap, noise_sigma=sigma)
    if (t := want("jpeg_quality")) is not None and t < min(now["jpeg_quality"], 100) - 1:
        cap = replace(cap, jpeg_quality=int(round(t)))
    return cap


def summarise(captures: list[Capture]) -> dict[str, float]:
    """Median of every parameter over the fitted captures (what the field looks like)."""
    if not captures:
        return {}
    frame = pd.DataFrame([c.as_dict() for c in captures])
    out = {}
    for col in frame.columns:
        v = pd.to_numeric(frame[col], errors="coerce").dropna()
        if len(v):
            out[col] = float(v.median())
    return out


def unreproduced(lab: pd.DataFrame, replay: pd.DataFrame, field: pd.DataFrame,
                 names: list[str], min_effect: float = 0.5,
                 alpha: float = 0.01) -> list[dict[str, float | str]]:
    """Conditions the replay did not bring to the field's: after the fit, the replayed lab photos
    still differ from the field photos (KS p below `alpha` and a median gap of at least
    `min_effect` lab standard deviations). Each: condition, effect before and after the fit."""
    from scipy.stats import ks_2samp

    from pitfalls.field.conditions import robust_scale

    out: list[dict[str, float | str]] = []
    for name in names:
        a, r, f = (d[name].to_numpy(float) for d in (lab, replay, field))
        a, r, f = a[np.isfinite(a)], r[np.isfinite(r)], f[np.isfinite(f)]
        if min(len(a), len(r), len(f)) < 3:
            continue
        scale = robust_scale(a, name)
        after = float(np.median(r) - np.median(f)) / scale
        if abs(after) >= min_effect and ks_2samp(r, f).pvalue < alpha:
            out.append({"condition": name, "after": after,
                        "before": float(np.median(a) - np.median(f)) / scale})
    return out


def _gap(replay: pd.DataFrame, field: pd.DataFrame, lab: pd.DataFrame, names: list[str]) -> float:
    """Sum over `names` of |median replay - median field| in lab standard deviations."""
    from pitfalls.field.conditions import robust_scale

    total = 0.0
    for n in names:
        r, f = replay[n].to_numpy(float), field[n].to_numpy(float)
        r, f = r[np.isfinite(r)], f[np.isfinite(f)]
        if len(r) and len(f):
            total += abs(float(np.median(r) - np.median(f))) / robust_scale(
                lab[n].to_numpy(float), n)
    return total


EXPLAINED_P = 0.05
"""A condition counts as explained by the simpler fit unless the replay still differs from the
field at this p (and by half a lab SD): the level at which a condition is simulated at all."""
REFINED = ("exposure", "contrast", "tone", "cast_rg", "cast_yb", "blur", "noise")
"""Conditions that interact in the camera's order (vignetting darkens and adds contrast, blur
removes noise...), so their targets are corrected from what the first replay reached."""


def fit_set(images: list[np.ndarray], qualities: list[float | None], lab: pd.DataFrame,
            field: pd.DataFrame, names: list[str], seed: int = 0, rounds: int = 1,
            base: Capture | None = None) -> tuple[list[Capture], list[np.ndarray], pd.DataFrame]:
    """Fit every photo's capture to the field's quantiles, then correct the targets by what
    the replay missed (`rounds` times, kept only where the gap to the field shrinks).

    Returns the captures, the replayed photos and their measured conditions."""
    targets = quantile_targets(lab, field, [n for n in names if n != "vignetting"])
    now = [measure_image(im, q) for im, q in zip(images, qualities, strict=True)]

    def attempt(tg: pd.DataFrame) -> tuple[list[Capture], list[np.ndarray], pd.DataFrame]:
        caps = [fit_one(im, q, {str(k): float(v) for k, v in tg.iloc[i].items()}, now[i],
                        seed=seed + i, base=base)
                for i, (im, q) in enumerate(zip(images, qualities, strict=True))]
        shown = [apply_capture(im, c, seed + i) for i, (im, c) in enumerate(
            zip(images, caps, strict=True))]
        return caps, shown, pd.DataFrame([measure_image(s) for s in shown])

    best = None
    if "tone" in names:
        # blur, noise and compression reshape the histogram too: a tone curve is fitted only
        # where the other conditions leave the field's tone unexplained
        best = attempt(targets.drop(columns="tone"))
        if unreproduced(lab, best[2], field, ["tone"], alpha=EXPLAINED_P):
            best = None
        else:
            names = [n for n in names if n != "tone"]
            targets = targets.drop(columns="tone")
    if "tone" in names:
        # the curve moves the exposure and the contrast too: it must keep what the field did
        # not change, and it is fitted to the contrast as well as the tone, with no linear
        # contrast change besides (a second free tone parameter soaked up the lab's and the
        # field's differences in scenes and in lens fall-off, flattening the replay by half)
        if "exposure" not in names:
            targets["exposure"] = lab["exposure"].to_numpy(float)
        if "contrast" in names:
            targets = targets.rename(columns={"contrast": "tone_contrast"})
            names = [n for n in names if n != "contrast"]
        else:
            targets["tone_contrast"] = lab["contrast"].to_numpy(float)
    goal = targets
    if best is None:
        best = attempt(targets)
    tuned = [n for n in names if n in REFINED]
    gap = _gap(best[2], field, lab, tuned)
    for _ in range(rounds if tuned else 0):
        corrected = targets.copy()
        for n in [*tuned, *(["tone_contrast"] if "tone_contrast" in targets else [])]:
            reached = best[2][n.removeprefix("tone_")].to_numpy(float)
            corrected[n] = corrected[n] + (goal[n] - reached)
        trial = attempt(corrected)
        trial_gap = _gap(trial[2], field, lab, tuned)
        if trial_gap >= gap:
            break
        best, gap, targets = trial, trial_gap, corrected
    return best
