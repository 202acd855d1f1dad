"""The capture fit against camera shifts written apart from the capture model
(tests/field_shifts.py): a tone curve and cos⁴ lens fall-off are recovered from the field photos
alone; an unreproduced condition is pushed on; the interval counts the field sample's noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from field_shifts import sharpen, tone_curve, vignette
from PIL import Image, ImageEnhance
from scenes import scene

from pitfalls.evaluation.metrics import jeffreys_interval
from pitfalls.field.capture import Capture, apply_capture
from pitfalls.field.conditions import measure_image, small_luma
from pitfalls.field.fit import fit_set, fit_vignette
from pitfalls.field.predict import MAX_PUSH, _predictive_ci, extrapolate, push_factors
from pitfalls.monitor.analysis.estimate import Estimate, replay_below_range_p


@pytest.fixture(scope="module")
def lab() -> list[np.ndarray]:
    return [scene(1000 + i) for i in range(60)]


@pytest.fixture(scope="module")
def other() -> list[np.ndarray]:
    """Other scenes than the lab's, for the field."""
    return [scene(5000 + i) for i in range(60)]


def table(images: list[np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame([measure_image(im) for im in images])


def enhanced(rgb: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    img = ImageEnhance.Brightness(Image.fromarray(rgb)).enhance(brightness)
    return np.asarray(ImageEnhance.Contrast(img).enhance(contrast))


def test_tone_moves_with_a_tone_curve_not_with_gain_or_contrast(lab: list[np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    base = table(lab)["tone"]
    for b, c in ((0.7, 1.0), (1.0, 0.7), (0.8, 1.25)):
        moved = table([enhanced(im, b, c) for im in lab])["tone"]
        assert abs(float((moved - base).median())) < 0.03, (b, c)
    curved = table([tone_curve(im, rng, gamma=1.7) for im in lab])["tone"]
    assert float((curved - base).median()) > 0.1


def test_gamma_recovered_from_other_scenes(lab: list[np.ndarray],
                                           other: list[np.ndarray]) -> None:
    rng = np.random.default_rng(1)
    field = [tone_curve(im, rng, gamma=2.0) for im in other]
    names = ["exposure", "contrast", "tone"]
    caps, shown, replay = fit_set(lab, [None] * len(lab), table(lab), table(field), names)
    assert 1.7 < float(np.median([c.gamma for c in caps])) < 2.4
    # other scenes differ a little from the lab's, so even the field's own camera applied to
    # the lab photos misses the field's medians: the replay must come as close, give or take a
    # fifth of the lab's spread
    f = table(field)
    own = table([tone_curve(im, rng, gamma=2.0) for im in lab])
    for n in names:
        spread = float(table(lab)[n].std())
        reached = abs(float(replay[n].median() - f[n].median()))
        assert reached < abs(float(own[n].median() - f[n].median())) + 0.2 * spread, n


def test_cos4_falloff_recovered_from_other_scenes(lab: list[np.ndarray],
                                                  other: list[np.ndarray]) -> None:
    """Deep natural vignetting (corners at about a quarter): the fitted fall-off darkens the lab
    photos' corners as much as the field's, relative to their centres."""
    rng = np.random.default_rng(2)
    field = [vignette(im, rng, strength=0.65) for im in other]
    depth, shape = fit_vignette([small_luma(im) for im in lab], [small_luma(im) for im in field])
    assert depth > 0.5

    def corner_ratio(images: list[np.ndarray]) -> float:
        g = np.array([small_luma(im)[[0, 0, -1, -1], [0, -1, 0, -1]].mean()
                      / small_luma(im)[20:28, 28:36].mean() for im in images])
        return float(np.median(g))

    replayed = [apply_capture(im, Capture(vignette=depth, vignette_shape=shape)) for im in lab]
    drop_field = corner_ratio(field) / corner_ratio(other)
    drop_replay = corner_ratio(replayed) / corner_ratio(lab)
    assert drop_field < 0.5
    assert abs(drop_replay - drop_field) < 0.08, (drop_replay, drop_field, depth, shape)


def test_no_falloff_fitted_when_the_corners_are_as_bright(lab: list[np.ndarray],
                                                          other: list[np.ndarray]) -> None:
    rng = np.random.default_rng(3)
    field = [tone_curve(im, rng, gamma=1.5) for im in other]  # darker, but not at the corners
    depth, _ = fit_vignette([small_luma(im) for im in lab], [small_luma(im) for im in field])
    assert depth == 0.0


def test_push_goes_on_by_the_share_the_fit_fell_short() -> None:
    # the fit closed half the gap: twice as far from neutral
    k = push_factors([{"condition": "vignetting", "before": 2.0, "after": 1.0}])
    assert k == {"vignette": pytest.approx(2.0)}
    pushed = extrapolate(Capture(gain=0.8, vignette=0.3), {"vignette": 2.0, "gain": 2.0})
    assert pushed.vignette == pytest.approx(0.6) and pushed.gain == pytest.approx(0.64)
    # an overshoot pulls back; a condition moved the wrong way is pushed as far as allowed
    assert push_factors([{"condition": "exposure", "before": 2.0,
                          "after": -1.0}])["gain"] == pytest.approx(2 / 3)
    assert push_factors([{"condition": "blur", "before": 2.0, "after": 2.5}]) == {
        "blur_sigma": MAX_PUSH, "motion_px": MAX_PUSH, "sharpen": MAX_PUSH}


def test_predictive_interval_covers_the_field_sample() -> None:
    """Replay on 100 lab photos, truth on 100 field photos, both at the same rate: the interval
    must cover the field's own accuracy about 95% of the time (a lab-only interval does not)."""
    rng = np.random.default_rng(4)
    hits_pred = hits_lab = 0
    trials = 2000
    for _ in range(trials):
        replay = rng.random(100) < 0.8
        truth = float(np.mean(rng.random(100) < 0.8))
        lo, hi = _predictive_ci(replay, 100)
        hits_pred += lo <= truth <= hi
        lo, hi = jeffreys_interval(replay.sum(), 100)
        hits_lab += lo <= truth <= hi
    assert hits_pred / trials > 0.93
    assert hits_lab / trials < 0.9


def test_replay_p_value_holds_its_false_alarm_rate() -> None:
    """At a true accuracy of exactly the agreed low end, p < 0.05 about 5% of the time at most;
    well below it, nearly always."""
    rng = np.random.default_rng(5)
    n = 60

    def p_at(rate: float) -> np.ndarray:
        out = []
        for k in rng.binomial(n, rate, 3000):
            lo, hi = jeffreys_interval(k, n)
            out.append(replay_below_range_p(Estimate(k / n, [float(lo), float(hi)], n,
                                                     "replay"), 0.9))
        return np.array(out)

    assert float(np.mean(p_at(0.9) < 0.05)) < 0.07
    assert float(np.mean(p_at(0.7) < 0.05)) > 0.9


def test_fit_spread_shrinks_with_more_field_photos() -> None:
    from pitfalls.field.predict import fit_spread

    rng = np.random.default_rng(6)
    lab = pd.DataFrame({"exposure": rng.normal(0.5, 0.05, 200)})
    costs = [{"conditions": ["exposure"], "cost": 0.2}]

    def spread(n: int, cost: float = 0.2) -> float:
        field = pd.DataFrame({"exposure": rng.normal(0.4, 0.05, n)})
        return fit_spread(lab, field, [{**costs[0], "cost": cost}], seed=1)

    assert spread(20) > 2.5 * spread(400) > 0
    assert spread(50, cost=0.0) == 0.0


def test_sharpening_recovered_from_other_scenes(lab: list[np.ndarray],
                                                other: list[np.ndarray]) -> None:
    """A phone's unsharp masking (Pillow's filter, written in the shift) makes the field sharper
    than the lab: the fit answers with sharpening, not with nothing, and reaches the field's
    blur as closely as the field's own camera applied to the lab photos does."""
    rng = np.random.default_rng(7)
    field = [sharpen(im, rng) for im in other]
    caps, _, replay = fit_set(lab, [None] * len(lab), table(lab), table(field), ["blur"])
    assert float(np.median([c.sharpen for c in caps])) > 0.3
    assert all(c.blur_sigma == 0.0 for c in caps if c.sharpen > 0)
    f, own = table(field), table([sharpen(im, rng) for im in lab])
    before = abs(float(table(lab)["blur"].median() - f["blur"].median()))
    reached = abs(float(replay["blur"].median() - f["blur"].median()))
    assert reached < abs(float(own["blur"].median() - f["blur"].median())) + 0.2 * before


def test_a_flat_photo_has_no_tone_and_gets_no_curve() -> None:
    """A uniform photo (a lens cap, a blank wall) has no luma spread to read a tone curve from:
    its tone is missing, not a division by zero, and the fit leaves its gamma alone."""
    from pitfalls.field.fit import fit_one

    flat = np.full((48, 64, 3), 120, np.uint8)
    now = measure_image(flat)
    assert np.isnan(now["tone"])
    cap = fit_one(flat, None, {"tone": 0.3, "exposure": now["exposure"]}, now)
    assert cap.gamma == 1.0 and np.isfinite(cap.gain)
