"""Hold the scan against a peer's suite: CleanVision's own test images and what it flags on them.

The images live beside the repository (`../shared/peer-cases/cleanvision`, see its EXPECTED.md);
they are read in place, never copied here. Deliberate differences are documented in each rule's
notes (`pitfalls rules QUAL004`).
"""

from __future__ import annotations

import pytest
from conftest import PEER_CASES
from flagged import flagged_paths

import pitfalls
from pitfalls.report.document import Report
from pitfalls.rules import registry

FOLDER = PEER_CASES / "cleanvision"

pytestmark = pytest.mark.skipif(
    not (FOLDER / "EXPECTED.md").exists(),
    reason=f"CleanVision's test images are not present at {FOLDER}",
)


@pytest.fixture(scope="module")
def report() -> Report:
    return pitfalls.scan(FOLDER, cache=False)


# One row per line of EXPECTED.md: image -> the rule that must agree with CleanVision.
SINGLE_IMAGE_ROWS = [
    ("image_101.png", "QUAL008"),  # grayscale
    ("image_417.png", "QUAL002"),  # dark
    ("image_588.png", "QUAL003"),  # light
    ("image_588.png", "QUAL005"),  # low information
    ("image_591.png", "QUAL005"),  # low information
    ("image_601.png", "QUAL004"),  # blurry
    ("image_604.png", "QUAL006"),  # odd size
    ("image_604.png", "QUAL007"),  # odd aspect ratio
]


@pytest.mark.parametrize(("image", "code"), SINGLE_IMAGE_ROWS)
def test_agrees_with_cleanvision(report: Report, image: str, code: str) -> None:
    assert image in flagged_paths(report, code)


@pytest.mark.parametrize("code", ["QUAL002", "QUAL003", "QUAL004", "QUAL005", "QUAL006",
                                  "QUAL007"])
def test_no_extra_images_flagged(report: Report, code: str) -> None:
    """Each quality rule flags exactly the images CleanVision flags for that issue."""
    expected = {image for image, c in SINGLE_IMAGE_ROWS if c == code}
    assert flagged_paths(report, code) == expected


def test_documentation_files_are_not_images(report: Report) -> None:
    """The folder's LICENSE file (no extension, plain text) is skipped, not a broken image."""
    assert report.dataset["n_images"] == 10
    assert not report.by_rule("QUAL001")


@pytest.mark.parametrize(("pair", "kind"), [(("image_103.png", "image_408.png"), "near"),
                                            (("image_142.png", "image_236.png"), "exact")])
def test_duplicates_agree(report: Report, pair: tuple[str, str], kind: str) -> None:
    if "DUP001" not in registry():
        pytest.skip("DUP001 is not in the catalogue of this build")
    groups = [set(item["paths"]) for f in report.by_rule("DUP001") for item in f.items]
    assert any(set(pair) <= g for g in groups), f"{kind} duplicates {pair} not reported"
