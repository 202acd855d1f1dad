"""LEAK001-LEAK004, the neighbour search and the link helpers, on real generated images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scenes import burst, scene

import pitfalls
from pitfalls.config import Config
from pitfalls.neighbors import ExactIndex, make_index
from pitfalls.pipeline import build_context
from pitfalls.similarity import components, leaked_rows, links


def save(root: Path, rel: str, arr: np.ndarray, camera: tuple[str, str] | None = None,
         when: str | None = None) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if camera:
        exif[0x010F], exif[0x0110] = camera
    if when:
        exif.get_ifd(0x8769)[0x9003] = when
    Image.fromarray(arr).save(path, exif=exif) if rel.endswith(".jpg") else \
        Image.fromarray(arr).save(path)


def clean(root: Path, n: int = 16, seed: int = 900) -> None:
    for k in range(n):
        save(root, f"{'train' if k % 4 else 'test'}/c{k % 2}/p{seed + k}.png", scene(seed + k))


def scan(root: Path, codes: str, **kw):
    return pitfalls.scan(root, select=codes, cache=False, **kw)


def edited(a: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a[3:-4, 4:-2]).rotate(3).save(buf, "JPEG", quality=50)
    return np.asarray(Image.open(buf).convert("RGB"))


def test_exact_index_matches_brute_force_and_caps_rows() -> None:
    r = np.random.default_rng(0)
    x = r.standard_normal((500, 6)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    i, j, s = ExactIndex(x, block=64).pairs(0.9)
    bi, bj = np.nonzero(np.triu(x @ x.T, 1) >= 0.9)
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == set(zip(bi.tolist(), bj.tolist(),
                                                                     strict=True))
    assert np.all(i < j) and np.all(s >= 0.9)
    same = np.ones((30, 4), dtype=np.float32) / 2  # one big cluster of copies
    ci, _, _ = ExactIndex(same).pairs(0.99, max_per_row=3)
    assert np.bincount(ci).max() <= 3 and set(ci.tolist()) == set(range(29))
    with pytest.raises(ValueError):
        ExactIndex(np.zeros(5))
    with pytest.raises(ValueError, match="unknown"):
        make_index(x, "no-such-index")


def test_leak001_bytes_and_pixels(tmp_path: Path) -> None:
    clean(tmp_path)
    a, b = scene(1), scene(2)
    save(tmp_path, "train/c0/a.png", a)
    save(tmp_path, "test/c0/a.png", a)
    save(tmp_path, "train/c1/b.png", b)
    save(tmp_path, "test/c1/b.bmp", b)
    [f] = scan(tmp_path, "LEAK001").findings
    kinds = {tuple(it["paths"]): it["kind"] for it in f.items}
    assert kinds == {("train/c0/a.png", "test/c0/a.png"): "bytes",
                     ("train/c1/b.png", "test/c1/b.bmp"): "pixels"}
    assert f.metrics["n_pairs"] == 2 and f.metrics["share_of_test"] == pytest.approx(2 / 6)


def test_leak002_near_duplicates_excluding_exact(tmp_path: Path) -> None:
    clean(tmp_path)
    a, b = scene(3), scene(4)
    save(tmp_path, "train/c0/a.png", a)
    save(tmp_path, "val/c0/a_edit.jpg", edited(a))
    save(tmp_path, "train/c1/b.png", b)
    save(tmp_path, "test/c1/b.png", b)  # exact: LEAK001's, not LEAK002's
    report = scan(tmp_path, "LEAK00")
    by = {f.rule: f for f in report.findings}
    [item] = by["LEAK002"].items
    assert item["paths"] == ["train/c0/a.png", "val/c0/a_edit.jpg"] and item["score"] >= 0.9
    assert by["LEAK002"].metrics["n_pairs"] == 1
    assert by["LEAK002"].metrics["share_of_test"] == pytest.approx(1 / 6)
    assert [it["paths"] for it in by["LEAK001"].items] == [["train/c1/b.png", "test/c1/b.png"]]


def test_leak002_threshold_is_configurable(tmp_path: Path) -> None:
    clean(tmp_path)
    a = scene(3)
    save(tmp_path, "train/c0/a.png", a)
    save(tmp_path, "test/c0/a_edit.jpg", edited(a))
    strict = scan(tmp_path, "LEAK002", rules={"LEAK002": {"near_candidate": 0.9999}})
    assert strict.findings == []


def test_leak_rules_silent_on_clean_split(tmp_path: Path) -> None:
    clean(tmp_path, n=40)
    report = scan(tmp_path, "LEAK")
    assert report.findings == []


def test_leak003_declared_group_in_several_splits(tmp_path: Path) -> None:
    rows = []
    for k in range(12):
        rel = f"img/{k}.png"
        save(tmp_path, rel, scene(700 + k))
        group = "patient_1" if k in (0, 5) else f"patient_{k + 10}"
        rows.append({"path": rel, "label": "ab"[k % 2], "split": "test" if k % 3 == 2 else "train",
                     "group": group})
    rows[5]["split"] = "test"
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    [f] = scan(tmp_path / "manifest.csv", "LEAK003").findings
    assert f.items == [{"group": "patient_1", "paths": ["img/0.png", "img/5.png"],
                        "splits": {"train": 1, "test": 1}}]
    rows[5]["split"] = "train"
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    assert scan(tmp_path / "manifest.csv", "LEAK003").findings == []


def _sessions(report) -> list[set[str]]:
    return [set(it["paths"]) for f in report.findings if f.rule == "LEAK004" for it in f.items]


def test_leak004_same_camera_burst_from_exif(tmp_path: Path) -> None:
    clean(tmp_path)
    shots = [scene(800 + k) for k in range(3)]  # different content: only EXIF ties them
    for k, (name, split) in enumerate([("a", "train"), ("q", "test"), ("m", "train")]):
        save(tmp_path, f"{split}/c0/{name}.jpg", shots[k], camera=("Canon", "EOS 80D"),
             when=f"2024:05:01 10:00:{3 + 20 * k:02d}")
    save(tmp_path, "test/c1/other.jpg", scene(810), camera=("Nikon", "D750"),
         when="2024:05:01 10:00:10")
    save(tmp_path, "test/c1/later.jpg", scene(811), camera=("Canon", "EOS 80D"),
         when="2024:05:01 11:00:00")
    report = scan(tmp_path, "LEAK004")
    assert _sessions(report) == [{"train/c0/a.jpg", "test/c0/q.jpg", "train/c0/m.jpg"}]
    [f] = report.findings
    assert f.metrics == {"n_sessions": 1, "n_images": 3}
    assert any("Canon EOS 80D" in e for e in f.items[0]["evidence"])


def test_leak004_name_sequence_with_capture_times(tmp_path: Path) -> None:
    clean(tmp_path)
    for k, split in enumerate(["train", "test", "train"]):  # no camera in EXIF, only times
        save(tmp_path, f"{split}/c1/DSC_{1041 + k}.jpg", scene(820 + k),
             when=f"2024:05:01 10:0{k}:00")
    [f] = scan(tmp_path, "LEAK004").findings
    assert len(f.items) == 1 and len(f.items[0]["paths"]) == 3
    assert any("consecutive names" in e for e in f.items[0]["evidence"])


def test_leak004_name_sequence_alone_is_not_a_session(tmp_path: Path) -> None:
    clean(tmp_path)
    for k, split in enumerate(["train", "test", "train", "test"]):
        save(tmp_path, f"{split}/c1/IMG_{2001 + k}.jpg", scene(830 + k))
    assert scan(tmp_path, "LEAK004").findings == []


def test_leak004_chain_of_very_similar_shots(tmp_path: Path) -> None:
    clean(tmp_path)
    shots = burst(11, 4, (96, 128), drift=0.04)
    for k, split in enumerate(["train", "test", "train", "test"]):
        save(tmp_path, f"{split}/c0/shot_{'wxyz'[k]}.png", shots[k])
    report = scan(tmp_path, "LEAK004,LEAK002")
    grouped = set().union(*_sessions(report)) if _sessions(report) else set()
    near = {p for f in report.findings if f.rule == "LEAK002" for it in f.items
            for p in it["paths"]}
    assert len(grouped | near) >= 3


def test_links_components_and_leaked_rows(tmp_path: Path) -> None:
    clean(tmp_path)
    a = scene(5)
    save(tmp_path, "train/c0/a.png", a)
    save(tmp_path, "test/c0/a_edit.jpg", edited(a))
    ctx = build_context(tmp_path, Config(), cache=False)
    df = links(ctx)
    assert list(df.columns) == ["i", "j", "kind", "score", "evidence"]
    assert (df["i"] < df["j"]).all() and df["evidence"].str.len().gt(0).all()
    assert links(ctx) is df  # computed once
    paths = ctx.table["path"].tolist()
    ia, ib = paths.index("train/c0/a.png"), paths.index("test/c0/a_edit.jpg")
    comp = components(ctx, ("near",))
    assert comp[ia] == comp[ib] and len(set(comp.tolist())) == len(paths) - 1
    assert leaked_rows(ctx) == {ib}
    with pytest.raises(ValueError, match="unknown link kind"):
        components(ctx, ("nearby",))
