"""Datasets stored as Parquet shards (the `datasets` layout), WebDataset tars, zip archives and
Python sequences give the same findings as the same images in a folder; their paths are
`shard#row` / `shard#key` / `archive#member`, thumbnails and `pitfalls split` work for them."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_cli_ok
from PIL import Image
from typer.testing import CliRunner

import pitfalls
from pitfalls.cli import app
from pitfalls.demo import draw_scene

CLASSES = ["lime", "plum"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/<split>/<class>/*.jpg with one training photo copied into test (LEAK001) and a
    near-duplicate (re-encoded) across splits (LEAK002)."""
    root = tmp_path_factory.mktemp("folder")
    for split, seeds in (("train", range(0, 14)), ("test", range(100, 106))):
        for c, fruit in enumerate(CLASSES):
            d = root / split / fruit
            d.mkdir(parents=True)
            for s in seeds:
                draw_scene(np.random.default_rng(s + 1000 * c), fruit, (128, 96)).save(
                    d / f"{fruit}_{s:04d}.jpg", quality=90)
    (root / "test" / "lime" / "lime_0900.jpg").write_bytes(
        (root / "train" / "lime" / "lime_0003.jpg").read_bytes())
    Image.open(root / "train" / "plum" / "plum_0005.jpg").save(
        root / "test" / "plum" / "plum_0901.jpg", quality=70)
    return root


def _files(root: Path) -> list[tuple[str, str, Path]]:
    """(split, label, file) of the folder, in a fixed order."""
    return [(p.parts[-3], p.parts[-2], p) for p in sorted(root.rglob("*.jpg"))]


def _summary(report: dict, to_file: dict[str, str]) -> dict:
    """What must not depend on the storage: counts, and each finding's rule and image files."""
    findings = sorted(
        (f["rule"], f["severity"],
         tuple(sorted(tuple(sorted(to_file.get(p, p) for p in it.get("paths", [])))
                      for it in f["items"])))
        for f in report["findings"])
    d = report["dataset"]
    return {"n": d["n_images"], "splits": d["splits"], "labels": d["labels"],
            "findings": findings}


def _scan(data: object, out: Path) -> dict:
    report = pitfalls.scan(data, cache=False, select=["LEAK", "DUP", "IMB", "QUAL001"], out=out)
    return report.to_dict()


@pytest.fixture(scope="module")
def baseline(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("out")
    report = _scan(folder, out)
    to_file = {p.relative_to(folder).as_posix(): p.relative_to(folder).as_posix()
               for _, _, p in _files(folder)}
    summary = _summary(report, to_file)
    assert {"LEAK001", "LEAK002"} <= {f[0] for f in summary["findings"]}
    return summary


def _rel(folder: Path, p: Path) -> str:
    return p.relative_to(folder).as_posix()


def test_parquet_shards_in_the_datasets_layout(folder: Path, baseline: dict,
                                              tmp_path: Path) -> None:
    """Shards as the `datasets` library writes them: `image` a struct of bytes and path, an
    integer `label` whose class names are in the schema's metadata, split from the shard name."""
    shards = tmp_path / "hub" / "data"
    shards.mkdir(parents=True)
    meta = {"info": {"features": {
        "image": {"_type": "Image"},
        "label": {"names": CLASSES, "_type": "ClassLabel"}}}}
    to_file = {}
    for split in ("train", "test"):
        files = [(lab, p) for s, lab, p in _files(folder) if s == split]
        table = pa.table({
            "image": [{"bytes": p.read_bytes(), "path": p.name} for _, p in files],
            "label": pa.array([CLASSES.index(lab) for lab, _ in files], pa.int64())})
        table = table.replace_schema_metadata({"huggingface": json.dumps(meta)})
        name = f"{split}-00000-of-00001.parquet"
        pq.write_table(table, shards / name, row_group_size=7)  # rows span several groups
        to_file |= {f"data/{name}#{i}": _rel(folder, p) for i, (_, p) in enumerate(files)}
    out = tmp_path / "out"
    report = _scan(tmp_path / "hub", out)
    assert _summary(report, to_file) == baseline
    paths = [p for f in report["findings"] for it in f["items"] for p in it.get("paths", [])]
    assert paths and all("#" in p for p in paths)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/" in html  # thumbnails of embedded images


def test_one_parquet_shard_with_plain_binary_column(folder: Path, tmp_path: Path) -> None:
    files = _files(folder)
    pq.write_table(pa.table({"jpg": [p.read_bytes() for *_, p in files],
                             "label": [lab for _, lab, _ in files],
                             "split": [s for s, _, _ in files]}), tmp_path / "all.parquet")
    report = _scan(tmp_path / "all.parquet", tmp_path / "out")
    assert report["dataset"]["n_images"] == len(files)
    assert report["dataset"]["splits"] == {"train": 28, "test": 14}
    leak = [f for f in report["findings"] if f["rule"] == "LEAK001"]
    assert leak and all(p.startswith("all.parquet#") for p in leak[0]["items"][0]["paths"])


def test_webdataset_tar_shards(folder: Path, baseline: dict, tmp_path: Path) -> None:
    to_file = {}
    shards = tmp_path / "wds"
    shards.mkdir()
    for split in ("train", "test"):
        name = f"{split}-000000.tar"
        with tarfile.open(shards / name, "w") as tar:
            for i, (_, lab, p) in enumerate(f for f in _files(folder) if f[0] == split):
                key = f"sample{i:05d}"
                for ext, data in (("jpg", p.read_bytes()), ("cls", str(lab).encode())):
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                to_file[f"{name}#{key}"] = _rel(folder, p)
    report = _scan(shards, tmp_path / "out")
    assert _summary(report, to_file) == baseline


def test_webdataset_json_labels_and_groups(folder: Path, tmp_path: Path) -> None:
    """A sample's `.json` gives its label and metadata (a `group` among them)."""
    files = _files(folder)
    with tarfile.open(tmp_path / "train.tar", "w") as tar:
        for i, (_, lab, p) in enumerate(files):
            for ext, data in (("jpg", p.read_bytes()),
                              ("json", json.dumps({"class": lab, "group": f"g{i % 3}"}).encode())):
                info = tarfile.TarInfo(f"shots/{i:04d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    ds = pitfalls.inputs.load_dataset(tmp_path / "train.tar")
    assert ds.table["label"].tolist() == [lab for _, lab, _ in files]
    assert set(ds.table["group"]) == {"g0", "g1", "g2"}
    assert ds.table["path"][0] == "train.tar#shots/0000"


def test_zip_archive(folder: Path, baseline: dict, tmp_path: Path) -> None:
    archive = tmp_path / "photos.zip"
    to_file = {}
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("photos/README.txt", "not an image")
        for _, _, p in _files(folder):
            member = f"photos/{_rel(folder, p)}"
            z.write(p, member)
            to_file[f"photos.zip#{member}"] = _rel(folder, p)
    report = _scan(archive, tmp_path / "out")
    assert _summary(report, to_file) == baseline


def test_python_sequence_of_images_and_labels(folder: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """In a notebook: (PIL image, label) pairs; the images are written once, by content."""
    monkeypatch.setenv("PITFALLS_CACHE_DIR", str(tmp_path / "cache"))
    pairs = [(Image.open(p), lab) for _, lab, p in _files(folder) if p.parts[-3] == "train"]
    pairs.append((Image.open(folder / "train" / "lime" / "lime_0003.jpg"), "lime"))  # a duplicate
    report = pitfalls.scan(pairs, cache=False, select=["DUP001", "IMB001"]).to_dict()
    assert report["dataset"]["n_images"] == 29
    assert report["dataset"]["labels"] == {"lime": 15, "plum": 14}
    assert any(f["rule"] == "DUP001" for f in report["findings"])
    shards = list((tmp_path / "cache" / "sequences").glob("sequence-*.parquet"))
    assert len(shards) == 1
    pitfalls.scan(pairs, cache=False, select=["IMB001"])  # the same data: the same shard
    assert list((tmp_path / "cache" / "sequences").glob("sequence-*.parquet")) == shards


def test_sequence_of_paths_is_read_in_place(folder: Path, baseline: dict, tmp_path: Path) -> None:
    """(path, label) pairs, as a torchvision ImageFolder's `samples` hold them: no copy."""
    pairs = [(str(p), lab) for _, lab, p in _files(folder)]
    ds = pitfalls.inputs.load_dataset(pairs)
    assert ds.root == folder and ds.table["path"][0] == _rel(folder, _files(folder)[0][2])


def test_datasets_library_dataset(folder: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("PITFALLS_CACHE_DIR", str(tmp_path / "cache"))
    files = [(lab, p) for s, lab, p in _files(folder) if s == "train"]
    ds = datasets.Dataset.from_dict(
        {"image": [str(p) for _, p in files], "label": [CLASSES.index(lab) for lab, _ in files]},
        features=datasets.Features({"image": datasets.Image(),
                                    "label": datasets.ClassLabel(names=CLASSES)}))
    report = pitfalls.scan(ds, cache=False, select=["IMB001"]).to_dict()
    assert report["dataset"]["labels"] == {"lime": 14, "plum": 14}
    assert report["dataset"]["n_images"] == 28


def test_split_writes_a_manifest_of_embedded_paths(folder: Path, tmp_path: Path) -> None:
    files = _files(folder)
    pq.write_table(pa.table({"image": [p.read_bytes() for *_, p in files],
                             "label": [lab for _, lab, _ in files]}), tmp_path / "all.parquet")
    result = CliRunner().invoke(app, ["split", str(tmp_path / "all.parquet"), "--out",
                                      str(tmp_path / "manifest.csv"), "--no-cache"])
    assert_cli_ok(result, 0)
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    assert manifest["path"].str.startswith("all.parquet#").all()
    assert set(manifest["split"]) == {"train", "test"}
    rescanned = _scan(tmp_path / "manifest.csv", tmp_path / "out")
    assert rescanned["dataset"]["n_images"] == len(files)
    assert "LEAK001" not in {f["rule"] for f in rescanned["findings"]}  # the copy stays together


@pytest.mark.parametrize("make", ["truncated_tar", "bad_zip", "no_image_column"])
def test_broken_containers_are_input_errors(tmp_path: Path, make: str) -> None:
    if make == "truncated_tar":
        path = tmp_path / "train.tar"
        with tarfile.open(path, "w") as tar:
            data = b"x" * 5000
            info = tarfile.TarInfo("a.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        path.write_bytes(path.read_bytes()[:700])
    elif make == "bad_zip":
        path = tmp_path / "photos.zip"
        path.write_bytes(b"PK\x03\x04 not really a zip")
    else:
        path = tmp_path / "shards"
        path.mkdir()
        pq.write_table(pa.table({"x": [1, 2]}), path / "train-0.parquet")
    result = CliRunner().invoke(app, ["scan", str(path), "--out", str(tmp_path / "out"),
                                      "--no-cache"])
    expected = {"truncated_tar": "cannot read train.tar as a tar archive",
                "bad_zip": "cannot read photos.zip as a zip archive",
                "no_image_column": "none holds images"}[make]
    assert_cli_ok(result, 2, expected)


def test_unreadable_member_is_a_finding_not_a_crash(folder: Path, tmp_path: Path) -> None:
    """A sample whose image bytes are not an image is reported (QUAL001) and counted."""
    files = _files(folder)[:6]
    images = [p.read_bytes() for *_, p in files] + [b"\xff\xd8\xff truncated"]
    pq.write_table(pa.table({"image": images, "label": ["a"] * len(images)}),
                   tmp_path / "train.parquet")
    report = _scan(tmp_path / "train.parquet", tmp_path / "out")
    assert report["dataset"]["n_unreadable"] == 1
    qual = [f for f in report["findings"] if f["rule"] == "QUAL001"]
    assert qual and qual[0]["items"][0]["paths"] == ["train.parquet#6"]
