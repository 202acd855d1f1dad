"""Feature extraction started before the heavy imports gives the same features as the ordinary
path, and is only used where it is safe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from conftest import assert_cli_ok
from PIL import Image
from scenes import scene

from pitfalls.config import Config
from pitfalls.features.early import start_early
from pitfalls.pipeline import build_context


def _folder(root: Path, n: int = 24) -> Path:
    for i in range(n):
        folder = root / ("train" if i % 4 else "test") / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scene(i, (96, 128))).save(folder / f"img_{i:03d}.jpg", quality=90)
    (root / "train" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    (root / "README.txt").write_text("not an image")
    return root


def test_early_start_gives_the_features_of_the_ordinary_path(tmp_path: Path) -> None:
    data = _folder(tmp_path / "data")
    config = Config(workers=2)
    early = start_early(data, config, cache=tmp_path / "cache-a", chunk_size=4)
    assert early is not None and len(early.jobs) > 2
    fast = build_context(data, config, cache=tmp_path / "cache-a", early=early).table
    plain = build_context(data, config, cache=tmp_path / "cache-b").table
    assert list(fast["path"]) == list(plain["path"])
    assert list(fast["byte_hash"]) == list(plain["byte_hash"])
    assert list(fast["error_kind"].fillna("")) == list(plain["error_kind"].fillna(""))
    ok = plain["ok"].to_numpy()
    assert np.allclose(np.stack(fast["embedding"][ok]), np.stack(plain["embedding"][ok]))
    assert np.allclose(fast["sharpness"][ok], plain["sharpness"][ok])
    # The early run filled its cache: a second scan reads it, so it starts nothing early.
    assert any((tmp_path / "cache-a").rglob("part-*.parquet"))
    assert start_early(data, config, cache=tmp_path / "cache-a") is None


def test_early_start_only_where_safe(tmp_path: Path) -> None:
    data = _folder(tmp_path / "data", n=6)
    manifest = tmp_path / "data" / "manifest.csv"
    pd.DataFrame({"path": ["train/cat/img_001.jpg"]}).to_csv(manifest, index=False)
    assert start_early(manifest, Config(workers=2)) is None  # a manifest: the ordinary path
    assert start_early(data, Config(workers=1)) is None  # one process: nothing to overlap
    assert start_early(data, Config(workers=2, scheduler="tcp://localhost:1")) is None
    assert start_early(data, Config(workers=2, embedder="model.onnx")) is None
    assert start_early(data, Config(workers=2), cache="memory://somewhere") is None
    early = start_early(data, Config(workers=2), cache=False)
    assert early is not None
    early.close()
    early.close()  # twice is fine


def test_cli_scan_of_a_folder_uses_the_early_start(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pitfalls.cli import app

    data = _folder(tmp_path / "data", n=12)
    args = ["scan", str(data), "--out", str(tmp_path / "r"), "--cache", str(tmp_path / "c"),
            "--workers", "2", "--fail-on", "never"]
    first = CliRunner().invoke(app, args)
    assert_cli_ok(first, 0)
    second = CliRunner().invoke(app, args)  # warm: read from the cache
    assert_cli_ok(second, 0)
    assert (tmp_path / "r" / "report.json").is_file()
