"""The evaluation rules on real generated images with planted predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import pitfalls
from pitfalls.errors import InputError

EVAL002_KEYS = {"metric", "score_all", "score_leak_free", "ci_all", "ci_leak_free", "n_all",
                "n_leak_free", "difference", "ci_difference", "p_value"}


def picture(seed: int, label: str, size: int = 32) -> np.ndarray:
    """A distinct smooth random pattern, tinted by class (red for 'a', blue for 'b')."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC),
                     dtype=np.float64)
    img[..., 0 if label == "a" else 2] = 0.4 * img[..., 0 if label == "a" else 2] + 150
    return img.clip(0, 255).astype(np.uint8)


def build(root: Path, n_train: int = 120, n_test: int = 120, leaked: int = 0,
          labels: list[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """train/test images; the first `leaked` test images are byte copies of train images."""
    rows = []
    for i in range(n_train):
        lab = "ab"[i % 2]
        rows.append((f"train/{lab}/{i}.png", lab, "train", seed * 10_000 + i))
    test_labels = labels or ["ab"[i % 2] for i in range(n_test)]
    for i, lab in enumerate(test_labels):
        source = rows[i][3] if i < leaked else seed * 10_000 + 5000 + i
        lab = rows[i][1] if i < leaked else lab
        rows.append((f"test/{lab}/{i}.png", lab, "test", source))
    for path, lab, _, src in rows:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture(src, lab)).save(root / path)
    table = pd.DataFrame([r[:3] for r in rows], columns=["path", "label", "split"])
    table.to_csv(root / "manifest.csv", index=False)
    return table


def planted(table: pd.DataFrame, right: np.ndarray, confidence: float | np.ndarray = 0.9
            ) -> pd.DataFrame:
    """Probabilities for the test rows: right where `right` is true, with that confidence."""
    test = table[table["split"] == "test"].reset_index(drop=True)
    conf = np.broadcast_to(np.asarray(confidence, dtype=float), (len(test),))
    is_a = (test["label"] == "a").to_numpy() == right
    prob_a = np.where(is_a, conf, 1 - conf)
    return pd.DataFrame({"path": test["path"], "prob_a": prob_a, "prob_b": 1 - prob_a})


def test_leak_inflated_score_is_found_and_rescored(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = build(tmp_path, leaked=50)
    n_test = 120
    is_leaked = np.arange(n_test) < 50
    right = is_leaked | (rng.random(n_test) < 0.5)
    preds = planted(table, right)
    preds.to_csv(tmp_path / "preds.csv", index=False)
    report = pitfalls.scan(tmp_path / "manifest.csv", predictions=tmp_path / "preds.csv",
                           cache=False)
    (finding,) = report.by_rule("EVAL002")
    m = finding.metrics
    assert finding.severity == "error"
    assert set(m) >= EVAL002_KEYS
    truth = right[~is_leaked].mean()
    assert abs(m["score_leak_free"] - truth) <= 0.02
    assert m["score_all"] == pytest.approx(right.mean())
    assert m["n_all"] == n_test and m["n_leak_free"] == n_test - 50
    assert m["p_value"] < 0.01 and m["ci_difference"][0] > 0
    assert m["ci_leak_free"][0] <= m["score_leak_free"] <= m["ci_leak_free"][1]
    assert set(finding.items[0]["paths"]) == set(table[table["split"] == "test"]["path"][:50])
    # the report carries every figure of the evaluation
    section = report.to_dict()["sections"]["evaluation"]
    assert section["split"] == "test"
    assert section["leak"]["score_leak_free"] == pytest.approx(m["score_leak_free"])
    assert {"accuracy", "balanced_accuracy", "macro_f1"} <= set(section["metrics"])
    assert len(section["confusion"]["matrix"]) == 2
    assert section["calibration"]["bins"]
    # overconfident (0.9 confidence, ~70% right): EVAL003
    (cal,) = report.by_rule("EVAL003")
    assert cal.metrics["ece"] > 0.1 and "overconfident" in cal.summary["en"]
    assert "過信" in cal.summary["ja"]


def test_clean_data_has_no_eval002_and_calibrated_model_passes_eval003(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = build(tmp_path, leaked=0, seed=1)
    conf = rng.uniform(0.55, 1.0, 120)
    right = rng.random(120) < conf  # calibrated: right as often as it says
    preds = planted(table, right, conf)
    report = pitfalls.scan(tmp_path / "manifest.csv", predictions=preds, cache=False)
    assert not [c for c in report.codes if c.startswith("LEAK")]
    assert "EVAL002" in report.passed
    assert "EVAL003" in report.passed
    assert report.sections["evaluation"]["leak"]["n_leak_free"] == 120


def test_hidden_minority_failure_and_small_test_set(tmp_path: Path) -> None:
    labels = ["a"] * 110 + ["b"] * 10
    table = build(tmp_path, labels=labels, seed=2)
    right = np.array([True] * 110 + [True, True] + [False] * 8)
    report = pitfalls.scan(tmp_path / "manifest.csv", predictions=planted(table, right),
                           cache=False, select="IMB003,EVAL001")
    (imb,) = report.by_rule("IMB003")
    assert imb.metrics["failed_classes"] == {"b": pytest.approx(0.2)}
    assert imb.metrics["accuracy"] > 0.9
    (small,) = report.by_rule("EVAL001")
    needed = small.metrics["more_needed"]
    assert set(needed) == {"b"}  # 'a' (110 of 110 right) is already measured to ±2%
    assert needed["b"] > 100
    item_b = next(i for i in small.items if i["label"] == "b")
    assert item_b["n"] == 10 and item_b["half_width"] > 0.05


def test_weak_slice_with_failure_examples(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    table = build(tmp_path, seed=3)
    test = table["split"] == "test"
    site = np.where(np.arange(len(table)) % 3 == 0, "night", "day")
    table["site"] = site
    table.to_csv(tmp_path / "manifest.csv", index=False)
    night = site[test.to_numpy()] == "night"
    right = np.where(night, rng.random(120) < 0.4, rng.random(120) < 0.95)
    report = pitfalls.scan(tmp_path / "manifest.csv", predictions=planted(table, right),
                           cache=False, select="EVAL004")
    (finding,) = report.by_rule("EVAL004")
    item = finding.items[0]
    assert (item["column"], item["value"]) == ("site", "night")
    assert item["q_value"] < 0.05 and item["accuracy"] < item["accuracy_rest"]
    failures = set(table[test]["path"][night & ~right])
    assert item["paths"] and set(item["paths"]) <= failures
    assert finding.metrics["correction"] == "benjamini-hochberg"
    # Each failed example carries its true label and the (wrong) prediction, image by image.
    truth = dict(zip(table["path"], table["label"], strict=True))
    assert item["label"] == [truth[p] for p in item["paths"]]
    assert all(p != t for p, t in zip(item["pred"], item["label"], strict=True))
    # The report shows the worst slices' failed examples as labelled thumbnails.
    html = report.to_html()
    section = html[html.index("slice-fails"):]
    shown = item["paths"][0]
    assert f'alt="{shown}"' in section and "data:image/" in section
    assert f"{truth[shown]} → {item['pred'][0]}" in section


def test_label_errors_from_predictions_and_from_probe(tmp_path: Path) -> None:
    table = build(tmp_path, n_train=160, n_test=120, seed=4)
    flipped = [3, 10, 17, 24, 31]  # test rows whose label is wrong; the model is right
    test_idx = table.index[table["split"] == "test"]
    truth = table.loc[test_idx, "label"].to_numpy().copy()
    for k in flipped:
        table.loc[test_idx[k], "label"] = "b" if truth[k] == "a" else "a"
    table.to_csv(tmp_path / "manifest.csv", index=False)
    test = table.loc[test_idx].reset_index(drop=True)
    prob_a = np.where(truth == "a", 0.95, 0.05)
    preds = pd.DataFrame({"path": test["path"], "prob_a": prob_a, "prob_b": 1 - prob_a})
    report = pitfalls.scan(tmp_path / "manifest.csv", predictions=preds, cache=False,
                           select="LABEL001")
    (finding,) = report.by_rule("LABEL001")
    found = {i["paths"][0] for i in finding.items}
    assert found == set(test["path"][flipped])
    assert finding.metrics["source"] == "predictions"
    # no predictions: out-of-fold probe on the embeddings (colour separates the classes)
    report = pitfalls.scan(tmp_path / "manifest.csv", cache=False, select="LABEL001")
    (finding,) = report.by_rule("LABEL001")
    found = {i["paths"][0] for i in finding.items}
    assert set(test["path"][flipped]) <= found
    assert len(found) <= 15
    assert finding.metrics["probe_balanced_accuracy"] > 0.9


def test_rules_skip_without_predictions_and_bad_inputs_fail_clearly(tmp_path: Path) -> None:
    build(tmp_path, n_train=20, n_test=20, seed=5)
    report = pitfalls.scan(tmp_path / "manifest.csv", cache=False, select="EVAL,IMB003")
    assert {s["rule"] for s in report.skipped} >= {"EVAL001", "EVAL002", "EVAL003", "EVAL004",
                                                   "IMB003"}
    assert "evaluation" not in report.sections
    bad = pd.DataFrame({"path": ["test/a/nope.png"], "pred": ["a"]})
    with pytest.raises(InputError, match="not in the dataset"):
        pitfalls.scan(tmp_path / "manifest.csv", predictions=bad, cache=False)
    with pytest.raises(InputError, match="either predictions or a model"):
        pitfalls.scan(tmp_path / "manifest.csv", predictions=bad, model="m.onnx", cache=False)


def _camera_scan(tmp_path, n: int, seed: int, camera_of, listed_of):
    """Photos whose EXIF names camera_of(i), a manifest whose 'camera' column says
    listed_of(i, camera), and predictions that fail on 'Phone Y': the scanned EVAL004 report."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    import pitfalls

    rng = np.random.default_rng(seed)
    rows, preds = [], []
    for i in range(n):
        split = "test" if i % 2 else "train"
        label = "a" if i % 3 else "b"
        camera = camera_of(i)
        exif = Image.Exif()
        exif[0x0110] = camera
        arr = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
        name = f"{split}_{i:03d}.jpg"
        Image.fromarray(arr).resize((64, 48)).save(tmp_path / name, exif=exif)
        rows.append({"path": name, "label": label, "split": split,
                     "camera": listed_of(i, camera)})
        if split == "test":
            wrong = camera == "Phone Y" and i % 5 != 0
            preds.append({"path": name, "pred": ("b" if label == "a" else "a") if wrong else label})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    pd.DataFrame(preds).to_csv(tmp_path / "preds.csv", index=False)
    return pitfalls.scan(tmp_path / "manifest.csv", predictions=tmp_path / "preds.csv",
                         workers=1, cache=False, select=["EVAL004"])


def test_same_partition_under_two_names_is_one_slice(tmp_path) -> None:
    """A manifest 'camera' column equal to the EXIF camera must not be tested twice."""
    report = _camera_scan(tmp_path, 120, 5, lambda i: "Phone X" if i % 4 < 2 else "Phone Y",
                          lambda i, camera: camera)
    slices = report.sections["evaluation"]["slices"]
    camera_rows = [s for s in slices if s.get("column") == "camera" and s.get("value") == "Phone Y"]
    assert len(camera_rows) == 1


def test_one_camera_from_two_sources_that_disagree_elsewhere_is_one_slice(tmp_path) -> None:
    """The demo's case: the manifest's 'camera' column is empty on a few rows whose EXIF names a
    camera, so the two partitions differ, but 'Phone Y' holds the same images in both: one
    slice, listed once; where the sources differ the EXIF slice says where it comes from."""
    # the manifest lost the camera of some Phone X and Phone Z shots
    cameras = ("Phone X", "Phone Y", "Phone Z")
    report = _camera_scan(tmp_path, 160, 6, lambda i: cameras[(i // 2) % 3],
                          lambda i, camera: "" if camera != "Phone Y" and i % 8 in (1, 7)
                          else camera)
    slices = report.sections["evaluation"]["slices"]
    phone_y = [s for s in slices if s["value"] == "Phone Y"]
    assert len(phone_y) == 1 and phone_y[0]["column"] == "camera"
    shown = [(s["column"], s["value"]) for s in slices]
    assert len(shown) == len(set(shown))
    assert {c for c, v in shown if v in ("Phone X", "Phone Z")} <= {"camera", "camera (EXIF)"}
    [finding] = report.by_rule("EVAL004")
    assert sum(it["value"] == "Phone Y" for it in finding.items) == 1
