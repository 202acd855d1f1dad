"""`pitfalls split`: stratified by label, groups / duplicates / near-duplicate bursts kept whole,
and a re-scan of its manifest finds no leak."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_cli_ok
from PIL import Image
from typer.testing import CliRunner

import pitfalls
from pitfalls.cli import app
from pitfalls.errors import InputError
from pitfalls.split import assign, check_sizes

SHARES = {"a": 0.5, "b": 0.3, "c": 0.2}


def picture(seed: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))


def build(root: Path, n: int = 500) -> pd.DataFrame:
    """Images of three classes with declared groups, exact copies and near-duplicate bursts."""
    rng = np.random.default_rng(0)
    rows: list[dict[str, object]] = []
    labels = rng.choice(list(SHARES), size=n, p=list(SHARES.values()))
    seed = 0
    while len(rows) < n:
        label = str(labels[len(rows)])
        kind = rng.choice(["single", "group", "copy", "burst"], p=[0.55, 0.2, 0.1, 0.15])
        seed += 1
        base = picture(seed)
        count = {"single": 1, "group": 4, "copy": 2, "burst": 3}[kind]
        for k in range(count):
            if kind == "group":
                img = picture(seed * 100 + k)  # different photos of one subject
            elif kind == "burst":
                noise = np.random.default_rng(seed * 7 + k).normal(0, 3, base.shape)
                img = np.clip(base + noise, 0, 255).astype(np.uint8)
            else:
                img = base
            path = f"img/{label}/{seed}_{k}.png"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / path)
            rows.append({"path": path, "label": label, "kind": str(kind),
                         "group": f"g{seed}" if kind == "group" else None, "cluster": seed})
    table = pd.DataFrame(rows)
    table.to_csv(root / "manifest.csv", index=False)
    return table


def test_split_keeps_clusters_whole_and_rescan_finds_no_leak(tmp_path: Path) -> None:
    data = tmp_path / "data"
    table = build(data)
    out = tmp_path / "out" / "split.csv"
    result = CliRunner().invoke(app, ["split", str(data / "manifest.csv"), "--out", str(out),
                                      "--test-size", "0.2", "--val-size", "0.1"])
    assert_cli_ok(result, 0, "class share per split")
    assert "test" in result.output
    assert "--allow-outside-root" in result.output  # out/ is beside data/: paths start with ../
    manifest = pd.read_csv(out)
    assert len(manifest) == len(table)
    assert (tmp_path / "out" / manifest["path"].iloc[0]).is_file()  # paths relative to it
    merged = manifest.assign(cluster=table["cluster"].to_numpy())
    assert (merged.groupby("cluster")["split"].nunique() == 1).all()
    sizes = manifest["split"].value_counts(normalize=True)
    assert sizes["test"] == pytest.approx(0.2, abs=0.02)
    assert sizes["val"] == pytest.approx(0.1, abs=0.02)
    overall = manifest["label"].value_counts(normalize=True)
    for split, rows in manifest.groupby("split"):
        share = rows["label"].value_counts(normalize=True)
        for label in overall.index:
            assert abs(share.get(label, 0) - overall[label]) <= 0.02, (split, label)
    report = pitfalls.scan(out, cache=False, select="LEAK", allow_outside_root=True)
    assert not report.findings, [f.summary["en"] for f in report.findings]
    assert {"LEAK001", "LEAK002", "LEAK003"} <= set(report.passed)


def test_naive_random_split_of_the_same_data_leaks(tmp_path: Path) -> None:
    """The control: a random split of the same images does leak (so the test above means it)."""
    table = build(tmp_path)
    rng = np.random.default_rng(1)
    table["split"] = np.where(rng.random(len(table)) < 0.2, "test", "train")
    table.to_csv(tmp_path / "manifest.csv", index=False)
    report = pitfalls.scan(tmp_path / "manifest.csv", cache=False, select="LEAK")
    assert {"LEAK001", "LEAK003"} <= report.codes


def test_greedy_assignment_hits_class_targets() -> None:
    rng = np.random.default_rng(2)
    comps = np.repeat(np.arange(300), rng.integers(1, 6, 300))
    labels = rng.choice(["x", "y", "z"], p=[0.7, 0.2, 0.1], size=300)[comps]
    split = assign(comps, labels, {"train": 0.75, "test": 0.25}, seed=0)
    frame = pd.DataFrame({"c": comps, "label": labels, "split": split})
    assert (frame.groupby("c")["split"].nunique() == 1).all()
    for label in "xyz":
        share = (frame[frame["label"] == label]["split"] == "test").mean()
        assert share == pytest.approx(0.25, abs=0.03)


def test_input_errors_exit_2(tmp_path: Path) -> None:
    for sizes in ((0.0, 0.0), (1.2, 0.0), (0.5, 0.5), (0.2, -0.1)):
        with pytest.raises(InputError):
            check_sizes(*sizes)
    runner = CliRunner()
    result = runner.invoke(app, ["split", str(tmp_path / "missing"), "--out",
                                 str(tmp_path / "m.csv")])
    assert_cli_ok(result, 2, "error")
    result = runner.invoke(app, ["split", str(tmp_path), "--test-size", "1.5", "--out",
                                 str(tmp_path / "m.csv")])
    assert_cli_ok(result, 2, "test-size")
