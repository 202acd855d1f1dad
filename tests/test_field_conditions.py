"""Capture conditions: FIELD001's false-alarm rate on same-distribution draws, and the condition
that really changed ranked first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from pitfalls.field.capture import Capture, apply_capture
from pitfalls.field.conditions import changed, compare, measure_image


def scene(rng: np.random.Generator, side: int = 72) -> np.ndarray:
    """A photo-like scene: smooth gradient, a few shaded blobs, sensor noise, random exposure."""
    y, x = np.mgrid[0:side, 0:side] / side
    img = np.stack([0.4 + 0.2 * x, 0.4 + 0.15 * y, 0.35 + 0.1 * x * y], -1) * 255
    for _ in range(3):
        cx, cy, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.08, 0.2)]
        m = ((x - cx) ** 2 + (y - cy) ** 2) < r * r
        img[m] = rng.uniform(40, 230, 3)
    img = np.asarray(Image.fromarray(img.astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7)),
                     np.float32)
    img = img * rng.uniform(0.85, 1.15) + rng.normal(0, rng.uniform(1.5, 3.5), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pool() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [scene(rng) for _ in range(160)]


def measured(images: list[np.ndarray], cap: Capture | None = None, quality: int = 92
             ) -> pd.DataFrame:
    rows = []
    for i, im in enumerate(images):
        shown = apply_capture(im, cap or Capture(), seed=i)
        q = cap.jpeg_quality if cap and cap.jpeg_quality else quality
        rows.append(measure_image(apply_capture(shown, Capture(jpeg_quality=q)), q))
    return pd.DataFrame(rows)


def test_false_alarm_rate_on_same_distribution(pool: list[np.ndarray]) -> None:
    """Field photos from the lab's own distribution: FIELD001's test fires in at most 5% of
    repeated draws."""
    table = measured(pool)
    rng = np.random.default_rng(0)
    draws, fired = 60, 0
    for _ in range(draws):
        order = rng.permutation(len(table))
        lab, field = table.iloc[order[:100]], table.iloc[order[100:130]]
        fired += int(not changed(compare(lab, field)).empty)
    assert fired / draws <= 0.05, f"fired in {fired} of {draws} same-distribution draws"


@pytest.mark.parametrize(("what", "cap", "expected"), [
    ("darker", Capture(gain=0.55), "exposure"),
    ("blurred", Capture(blur_sigma=1.6), "blur"),
    ("noisier", Capture(noise_sigma=10.0), "noise"),
    ("compressed", Capture(jpeg_quality=35), "jpeg_quality"),
    ("recoloured", Capture(gain_r=1.2, gain_b=0.8), "cast_rg"),
])
def test_changed_condition_ranked_first(pool: list[np.ndarray], what: str, cap: Capture,
                                        expected: str) -> None:
    lab = measured(pool[:100])
    field = measured(pool[100:130], cap)
    found = changed(compare(lab, field))
    assert not found.empty, what
    top = found.iloc[0]["condition"]
    assert top == expected or (expected == "cast_rg" and top == "cast_yb"), (what, found)


def test_too_few_or_missing_values_are_skipped() -> None:
    lab = pd.DataFrame({"exposure": [0.4, 0.5]})
    assert compare(lab, lab).empty
    nan = pd.DataFrame({"exposure": [np.nan] * 5})
    assert changed(compare(nan, nan)).empty
