"""QUAL002-QUAL009 on generated images: each planted problem is flagged, ordinary photos are not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flagged import flagged_paths
from PIL import Image, ImageFilter
from scenes import scene

import pitfalls
from pitfalls.report.document import Report

N_NORMAL = 24


def save(root: Path, name: str, img: Image.Image, **kw) -> None:
    path = root / "things" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Report:
    root = tmp_path_factory.mktemp("quality")
    for i in range(N_NORMAL):
        save(root, f"normal_{i:02d}.jpg", Image.fromarray(scene(100 + i, (144, 192))), quality=90)
    base = Image.fromarray(scene(7, (144, 192)))
    save(root, "dark.jpg", Image.fromarray((np.asarray(base) * 0.08).astype(np.uint8)))
    save(root, "light.jpg", Image.fromarray(
        (255 - (255 - np.asarray(base, dtype=float)) * 0.05).astype(np.uint8)))
    save(root, "blurry.jpg", base.filter(ImageFilter.GaussianBlur(6)))
    save(root, "blank.png", Image.new("RGB", (192, 144), (120, 130, 140)))
    save(root, "tiny.jpg", base.resize((24, 18)))
    save(root, "huge.jpg", base.resize((1600, 1200)))
    save(root, "strip.jpg", base.resize((640, 80)))
    save(root, "gray.jpg", base.convert("L"))
    exif = Image.Exif()
    exif[0x0112] = 6
    save(root, "rotated.jpg", base, exif=exif)
    return pitfalls.scan(root, cache=False, select=["QUAL"])


def flagged(report: Report, code: str, severity: str | None = None) -> set[str]:
    return {p.split("/")[-1] for p in flagged_paths(report, code, severity)}


@pytest.mark.parametrize(("code", "expected"), [
    ("QUAL002", {"dark.jpg"}),
    ("QUAL003", {"light.jpg"}),
    ("QUAL005", {"blank.png"}),
    ("QUAL006", {"tiny.jpg", "huge.jpg"}),
    ("QUAL007", {"strip.jpg"}),
    ("QUAL009", {"rotated.jpg"}),
])
def test_each_planted_problem_is_flagged_alone(planted: Report, code: str, expected: set) -> None:
    assert flagged(planted, code) == expected


def test_blurry_image_is_flagged_first_without_a_flood(planted: Report) -> None:
    """The generator blurs half its scenes slightly; at most a few of the softest may join."""
    [finding] = planted.by_rule("QUAL004")
    assert finding.items[0]["paths"] == ["things/blurry.jpg"]
    assert len(flagged(planted, "QUAL004")) <= 1 + N_NORMAL // 8


def test_grayscale_in_colour_dataset(planted: Report) -> None:
    assert flagged(planted, "QUAL008", "warning") == {"gray.jpg"}
    modes = [f for f in planted.by_rule("QUAL008") if "modes" in f.metrics]
    assert modes and modes[0].metrics["modes"]["L"] == 1


def test_findings_carry_numbers(planted: Report) -> None:
    [dark] = planted.by_rule("QUAL002")
    assert dark.metrics["n_images"] == 1 and dark.items[0]["score"] < 0.25
    assert dark.to_dict("ja")["summary"] != dark.to_dict("en")["summary"]


def test_condition_shared_by_most_images_is_only_info(tmp_path: Path) -> None:
    """A night-time dataset is dark by nature: reported as info, not as a warning."""
    for i in range(10):
        arr = (scene(300 + i, (96, 128)).astype(float) * 0.08).astype(np.uint8)
        save(tmp_path, f"night_{i}.jpg", Image.fromarray(arr))
    report = pitfalls.scan(tmp_path, cache=False, select=["QUAL002"])
    [finding] = report.by_rule("QUAL002")
    assert finding.severity == "info" and finding.metrics["share"] == 1.0


def test_all_grayscale_dataset_is_not_flagged(tmp_path: Path) -> None:
    for i in range(6):
        save(tmp_path, f"xray_{i}.png", Image.fromarray(scene(400 + i, (96, 128))).convert("L"))
    report = pitfalls.scan(tmp_path, cache=False, select=["QUAL008"])
    assert "QUAL008" in report.passed
