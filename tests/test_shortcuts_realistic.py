"""Calibration at realistic size: 512x384 JPEGs (quality 85-95) of four fruit classes on belts,
outdoor scenes and tiles of real photos. A clean split raises no SHORT/LEAK warning and no
quality flood; frames (3, 6, 30 px, or of the photo's own colour), letterbox bars, a corner logo
and a burned-in date (by the corner patches), another JPEG
quality or resolution and a telling `site` column are caught; blurred copies are found by QUAL004
while soft photos are not. (`benchmarks/calibrate_rules.py` runs the same over several seeds.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flagged import flagged_paths
from PIL import Image, ImageFilter
from realistic import TARGET, build

import pitfalls
from pitfalls.report.document import Report

PER_CLASS = 30
CLASSES = ("apple", "lemon", "lime")


def warned(report: Report) -> set[str]:
    return {f.rule for f in report.findings if f.severity != "info"}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Report]:
    m = build(tmp_path_factory.mktemp("clean"), "clean", seed=0, per_class=PER_CLASS,
              classes=CLASSES)
    return m, pitfalls.scan(m, cache=False, select=["SHORT", "LEAK", "QUAL"])


def test_clean_split_raises_no_shortcut_leak_or_quality_warning(clean) -> None:
    manifest, report = clean
    assert not {c for c in warned(report) if c.startswith(("SHORT", "LEAK"))}
    for f in report.findings:  # no flood: at most a few % of the images per rule
        assert f.metrics.get("share", 0.0) <= 0.05, f.rule
    # the scene generator draws some night scenes: a dark-image warning must be a dark image
    assert warned(report) <= {"QUAL002"}
    for f in report.by_rule("QUAL002"):
        for item in f.items:
            luma = np.asarray(Image.open(manifest.parent / item["paths"][0]).convert("L"))
            assert np.percentile(luma, 95) < 0.25 * 255


@pytest.mark.parametrize("plant", ["frame6", "frame3", "frame_close", "letterbox", "logo",
                                   "timestamp"])
def test_frame_on_one_class_is_caught_by_short002(tmp_path: Path, plant: str) -> None:
    data = build(tmp_path, plant, seed=0, per_class=PER_CLASS, classes=CLASSES)
    report = pitfalls.scan(data, cache=False,
                           select=["SHORT002"])
    [finding] = report.by_rule("SHORT002")
    assert finding.severity == "warning"
    assert finding.metrics["class"] == TARGET and finding.metrics["p_value"] <= 0.01
    assert all(f"/{TARGET}/" in p for item in finding.items for p in item["paths"])


@pytest.mark.parametrize(("plant", "codes"), [("quality", {"SHORT001"}),
                                              ("resolution", {"SHORT001", "SHORT003"}),
                                              ("site", {"SHORT003"})])
def test_acquisition_and_metadata_cues_are_caught(tmp_path: Path, plant: str,
                                                  codes: set[str]) -> None:
    data = build(tmp_path, plant, seed=0, per_class=PER_CLASS, classes=CLASSES)
    report = pitfalls.scan(data, cache=False,
                           select=["SHORT"])
    assert warned(report) == codes
    for code in codes:
        [finding] = [f for f in report.by_rule(code) if f.severity == "warning"]
        assert finding.metrics["best_class"] == TARGET


def test_blurred_copies_are_flagged_and_soft_photos_are_not(clean, tmp_path: Path) -> None:
    """Gaussian sigma 2 and 3 px and a 9 px motion blur at 512 px, at JPEG quality 70-90."""
    manifest, _ = clean
    root = manifest.parent
    files = sorted(root.rglob("*.jpg"))[::12][:8]
    out = tmp_path / "data"
    blurred = set()
    for n, src in enumerate(files):
        img = Image.open(src).convert("RGB")
        if n % 4 == 3:  # horizontal motion blur, 15 px
            arr = np.asarray(img, np.float32)
            arr = sum(np.roll(arr, s, axis=1) for s in range(-7, 8)) / 15
            img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
        else:
            img = img.filter(ImageFilter.GaussianBlur(2 + n % 2))
        rel = f"train/{TARGET}/blur_{n}.jpg"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(out / rel, quality=(70, 80, 90)[n % 3])
        blurred.add(rel)
    for src in sorted(root.rglob("*.jpg")):
        rel = src.relative_to(root).as_posix()
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(src.read_bytes())
    report = pitfalls.scan(out, cache=False, select=["QUAL004"])
    found = flagged_paths(report, "QUAL004")
    gaussian = {f"train/{TARGET}/blur_{n}.jpg" for n in range(len(files)) if n % 4 != 3}
    assert len(gaussian & found) >= len(gaussian) - 1  # sigma 2 at quality 70 may score 0.045
    assert len(found - blurred) <= 2  # at most ~1 % of the soft-but-ordinary photos
