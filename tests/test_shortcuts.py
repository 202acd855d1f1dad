"""SHORT001-SHORT003 on generated natural-looking photos: clean classes raise no warning; a frame,
a JPEG quality, an image size or a metadata column that gives a class away is caught."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw
from scenes import scene
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import CategoricalNB

import pitfalls
from pitfalls.probe import Probe, _cv_predict, encode
from pitfalls.report.document import Report

CLASSES = ("apple", "bluebird", "fern")
TINTS = {"apple": (1.1, 0.95, 0.9), "bluebird": (0.9, 0.95, 1.12), "fern": (0.93, 1.08, 0.93)}
OBJECTS = {"apple": (200, 30, 30), "bluebird": (40, 60, 210), "fern": (40, 160, 50)}
PER_CLASS = 30


def photo(label: str, k: int) -> Image.Image:
    """A unique scene whose content (tint, a coloured object) differs by class, as real classes
    do."""
    rng = np.random.default_rng(k)
    arr = scene(5000 + k, (192, 256)).astype(float) * TINTS[label]
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    x, y, r = int(rng.integers(40, 210)), int(rng.integers(40, 150)), int(rng.integers(12, 40))
    colour = tuple(int(np.clip(v + rng.integers(-30, 30), 0, 255)) for v in OBJECTS[label])
    ImageDraw.Draw(img).ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return img


def framed(img: Image.Image, width: int, colour=(250, 200, 0)) -> Image.Image:
    arr = np.asarray(img).copy()
    arr[:width], arr[-width:], arr[:, :width], arr[:, -width:] = colour, colour, colour, colour
    return Image.fromarray(arr)


def build(root: Path, variant: str) -> Path:
    """root/<split>/<class>/img.jpg with one planted cue on class 'apple' (or none: 'clean')."""
    k = 0
    for label in CLASSES:
        for i in range(PER_CLASS):
            k += 1
            img, quality = photo(label, k), 90
            if label == "apple" and variant == "frame":
                img = framed(img, 6 + k % 5)  # a 6-10 px solid frame
            if label == "apple" and variant == "quality":
                quality = 40
            if label == "apple" and variant == "size":
                img = img.resize((224, 168))
            path = root / ("test" if i % 5 == 0 else "train") / label / f"IMG_{k:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path, quality=quality)
    return root


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {v: build(tmp_path_factory.mktemp(v), v) for v in ("clean", "frame", "quality", "size")}


@pytest.fixture(scope="module")
def reports(roots: dict[str, Path]) -> dict[str, Report]:
    return {v: pitfalls.scan(root, cache=False, select=["SHORT"]) for v, root in roots.items()}


def warnings_of(report: Report, code: str) -> list:
    return [f for f in report.by_rule(code) if f.severity == "warning"]


def test_clean_classes_raise_no_shortcut_warning(reports: dict[str, Report]) -> None:
    report = reports["clean"]
    assert not [f for f in report.findings if f.severity != "info"]
    assert {"SHORT001", "SHORT002"} <= set(report.passed) | report.codes


def test_frame_around_one_class_is_caught_by_short002(reports: dict[str, Report]) -> None:
    [finding] = warnings_of(reports["frame"], "SHORT002")
    m = finding.metrics
    assert m["class"] == "apple" and m["score"] >= 0.9 and m["p_value"] <= 0.01
    assert m["chance"] == 0.5
    assert m["features"][0]["feature"].startswith(("frame_", "border_"))
    paths = [p for item in finding.items for p in item["paths"]]
    assert paths and all("/apple/" in p for p in paths)


def test_jpeg_quality_of_one_class_is_caught_by_short001(reports: dict[str, Report]) -> None:
    [finding] = warnings_of(reports["quality"], "SHORT001")
    assert finding.metrics["probe"] == "acquisition"
    assert finding.metrics["best_class"] == "apple"
    assert finding.metrics["features"][0]["feature"] == "jpeg_quality"
    assert not warnings_of(reports["quality"], "SHORT002")


def test_image_size_of_one_class_is_caught(reports: dict[str, Report]) -> None:
    [finding] = warnings_of(reports["size"], "SHORT001")
    assert finding.metrics["features"][0]["feature"] in {"width", "height", "megapixels"}
    [meta] = warnings_of(reports["size"], "SHORT003")
    assert meta.metrics["column"] == "resolution"


def manifest(root: Path, name: str, site_of, extra: dict[str, list] | None = None) -> Path:
    """Reuse the clean photos through a manifest with metadata columns."""
    rows = []
    for path in sorted(root.rglob("*.jpg")):
        rel = path.relative_to(root).as_posix()
        label = rel.split("/")[1]
        rows.append({"path": rel, "label": label, "split": rel.split("/")[0],
                     "site": site_of(label, len(rows))})
    table = pd.DataFrame(rows)
    table["sample_id"] = [f"S{i:05d}" for i in range(len(table))]
    table["class_id"] = table["label"].map({c: i for i, c in enumerate(CLASSES)})
    for k, v in (extra or {}).items():
        table[k] = v
    out = root / name
    table.to_csv(out, index=False)
    return out


def test_metadata_column_that_gives_the_label_away(roots: dict[str, Path]) -> None:
    # 'apple' photos come from the orchard site, except a few; other classes from two labs.
    m = manifest(roots["clean"], "site.csv",
                 lambda label, i: "orchard" if label == "apple" and i % 9 else f"lab{i % 2}")
    report = pitfalls.scan(m, cache=False, select=["SHORT003"])
    [finding] = report.by_rule("SHORT003")
    assert finding.severity == "warning"
    assert finding.metrics["column"] == "site" and finding.metrics["best_class"] == "apple"
    assert finding.metrics["p_value"] <= 0.01
    skipped = finding.metrics["skipped_columns"]
    assert "identifier" in skipped["sample_id"] and "label" in skipped["class_id"]
    item = finding.items[0]
    assert item["column"] == "site" and item["value"] == "orchard"
    assert all("/apple/" in p for p in item["paths"])


def test_metadata_unrelated_to_the_label_is_quiet(roots: dict[str, Path]) -> None:
    rng = np.random.default_rng(1)
    n = len(CLASSES) * PER_CLASS
    m = manifest(roots["clean"], "random.csv", lambda label, i: f"site{i % 3}",
                 extra={"operator": rng.choice(["ann", "bo", "cy"], n),
                        "temperature": rng.normal(20, 3, n).round(2)})
    report = pitfalls.scan(m, cache=False, select=["SHORT003"])
    assert "SHORT003" in report.passed


def test_probe_matches_scikit_learn_categorical_nb() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 6, (300, 5))
    y = (codes[:, 0] + rng.integers(0, 3, 300)) % 4
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(codes, y))
    ours = _cv_predict(codes, y, folds, 4)
    theirs = np.empty_like(ours)
    for train, test in folds:
        nb = CategoricalNB(alpha=1.0, fit_prior=False, min_categories=codes.max(axis=0) + 1)
        theirs[test] = nb.fit(codes[train], y[train]).predict(codes[test])
    assert (ours == theirs).all()


def test_permutation_test_finds_nothing_in_noise() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(400, 6)), columns=list("abcdef"))
    labels = pd.Series(rng.choice(list("xyz"), 400))
    probe = Probe(encode(frame), labels)
    result = probe.permutation_test(probe.run(), 99)
    assert 0.4 < result.score < 0.65 and result.p_value > 0.05
    frame["a"] += (labels == "y") * 3  # now one column gives 'y' away
    probe = Probe(encode(frame), labels)
    result = probe.permutation_test(probe.run(), 99)
    assert result.best_class == "y" and result.p_value == 0.01
    assert next(iter(probe.single_feature_scores("y"))) == "a"


def test_sequential_permutation_test_decides_as_the_full_one() -> None:
    rng = np.random.default_rng(4)
    labels = pd.Series(rng.choice(list("xyz"), 300))
    for strength in (0.0, 0.3, 0.6, 3.0):  # from noise to an obvious cue
        frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
        frame["a"] += (labels == "x") * strength
        probe = Probe(encode(frame), labels)
        full = probe.permutation_test(probe.run(), 99)
        fast = probe.permutation_test(probe.run(), 99, stop_above=0.05)
        assert (fast.p_value <= 0.05) == (full.p_value <= 0.05)
        assert fast.n_permutations <= full.n_permutations == 99
        if full.p_value <= 0.05:
            assert fast.p_value == full.p_value  # nothing cut short when it is significant


def test_encode_gives_top_values_rare_values_and_missing_their_own_codes() -> None:
    from pitfalls.probe import MAX_LEVELS

    common = [f"cam{i}" for i in range(MAX_LEVELS)]
    values = common * 3 + ["rare-a", "rare-b", None, None]
    codes = encode(pd.DataFrame({"camera": values}))["camera"].to_numpy()
    top = codes[: 3 * MAX_LEVELS]
    assert len(np.unique(top)) == MAX_LEVELS  # each frequent value keeps its own code
    rare, missing = codes[-4:-2], codes[-2:]
    assert rare[0] == rare[1] and rare[0] not in top  # values past the top share one code
    assert missing[0] == missing[1] and missing[0] not in set(top) | {rare[0]}
