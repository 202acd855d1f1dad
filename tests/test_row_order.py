"""Findings are a function of the set of images, not of the order of the rows: the same manifest
shuffled gives the same DUP/LEAK findings, and near-duplicates are not chained into groups of
photos that are not duplicates of each other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scenes import scene

import pitfalls

RULES = ("DUP001", "DUP002", "LEAK001", "LEAK002", "LEAK004")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A chain of 12 glass photos, each a 4% pan of the last (near-duplicates of their
    neighbours, not of the far end), a byte copy of the last one labelled metal, one training
    photo with two byte copies in test, and unrelated photos."""
    root = tmp_path_factory.mktemp("order")
    rows = []
    wide = scene(77, size=(192, 192 + 12 * 8))
    for k in range(12):
        name = f"chain/c{k:02d}.jpg"
        (root / "chain").mkdir(exist_ok=True)
        Image.fromarray(wide[:, k * 8:k * 8 + 192]).save(root / name, quality=92)
        rows.append((name, "glass", "test" if k in (5, 10) else "train"))
    shutil.copy(root / "chain/c11.jpg", root / "chain/metal_copy.jpg")
    rows.append(("chain/metal_copy.jpg", "metal", "train"))
    Image.fromarray(scene(5, size=(160, 200))).save(root / "train_x.png")
    for name in ("a_test_copy.png", "b_test_copy.png"):  # sort before the training original
        shutil.copy(root / "train_x.png", root / name)
        rows.append((name, "metal", "test"))
    rows.append(("train_x.png", "metal", "train"))
    for k in range(10):
        name = f"other/o{k}.jpg"
        (root / "other").mkdir(exist_ok=True)
        Image.fromarray(scene(300 + k, size=(160, 200))).save(root / name, quality=90)
        rows.append((name, ("glass", "metal")[k % 2], ("train", "test")[k % 3 == 0]))
    return root, pd.DataFrame(rows, columns=["path", "label", "split"])


def _findings(root: Path, table: pd.DataFrame, name: str) -> dict[str, str]:
    manifest = root / name
    table.to_csv(manifest, index=False)
    report = pitfalls.scan(manifest, select=list(RULES))
    return {f.rule: json.dumps(f.to_dict(), sort_keys=True) for f in report.findings}


def test_shuffled_rows_give_identical_findings(data: tuple[Path, pd.DataFrame]) -> None:
    root, table = data
    first = _findings(root, table, "manifest.csv")
    assert {"DUP002", "LEAK001", "LEAK002"} <= set(first)
    rng = np.random.default_rng(11)
    for k in range(6):
        order = rng.permutation(len(table)) if k else np.arange(len(table))[::-1]
        shuffled = _findings(root, table.iloc[order], f"manifest_{k}.csv")
        for rule in RULES:
            assert shuffled.get(rule) == first.get(rule), f"{rule} changed with order {k}"


def test_near_duplicates_are_not_chained_and_every_copy_is_paired(
        data: tuple[Path, pd.DataFrame]) -> None:
    root, table = data
    table.to_csv(root / "manifest.csv", index=False)
    report = pitfalls.scan(root / "manifest.csv", select=list(RULES))
    [dup] = report.by_rule("DUP002")
    sets = [set(it["paths"]) for it in dup.to_dict()["items"]]
    assert {"chain/c11.jpg", "chain/metal_copy.jpg"} in sets
    for s in sets:  # the metal copy with its glass original and glass near-duplicates only
        assert "chain/metal_copy.jpg" in s and len(s) <= 3, s
        assert "chain/c00.jpg" not in s and "chain/c05.jpg" not in s
    # both test copies of the training photo are leaks, whichever copy sorts first
    [exact] = report.by_rule("LEAK001")
    assert exact.metrics["n_eval_images"] == 2
    assert sorted(it["paths"][1] for it in exact.items) == ["a_test_copy.png", "b_test_copy.png"]
    assert {it["paths"][0] for it in exact.items} == {"train_x.png"}
