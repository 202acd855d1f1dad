"""The feature cache never loses what it holds: a failed write, an unreadable part and a corrupt
part each keep every row that can be kept, and say what happened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from cli_helpers import report_of, run_cli, unprivileged_prefix
from PIL import Image

from pitfalls.features.cache import FeatureCache

FILL = """
import sys
import pandas as pd
from pitfalls.features.cache import FeatureCache
cache = FeatureCache(sys.argv[1])
for start in range(0, 400, 10):  # 40 parts of 10 rows
    cache.append(pd.DataFrame({"_key": [f"k{i}" for i in range(start, start + 10)],
                               "value": [float(i) for i in range(start, start + 10)]}))
"""

COMPACT_ON_A_FULL_DISK = """
import resource, signal, sys
from pitfalls.features.cache import FeatureCache
cache = FeatureCache(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))  # the disk is "full"
cache.compact(max_parts=4)
print("\\n".join(cache.problems))
"""


def _python(code: str, *args: str | Path, prefix: list[str] | None = None) -> str:
    out = subprocess.run([*(prefix or []), sys.executable, "-c", code, *map(str, args)],
                         capture_output=True, text=True, check=True, timeout=120)
    return out.stdout


def test_compact_keeps_every_part_when_the_merged_file_cannot_be_written(tmp_path: Path) -> None:
    _python(FILL, tmp_path / "cache")
    parts = sorted((tmp_path / "cache").glob("part-*.parquet"))
    assert len(parts) == 40
    said = _python(COMPACT_ON_A_FULL_DISK, tmp_path / "cache")
    assert "cannot write to the feature cache" in said and "400 row(s) not cached" in said
    assert sorted((tmp_path / "cache").glob("part-*.parquet")) == parts
    assert not list((tmp_path / "cache").glob("*.tmp"))  # the half-written merge is removed
    rows = FeatureCache(tmp_path / "cache").load()
    assert sorted(rows["value"]) == [float(i) for i in range(400)]


def test_compact_removes_parts_once_merged(tmp_path: Path) -> None:
    _python(FILL, tmp_path / "cache")
    cache = FeatureCache(tmp_path / "cache")
    cache.compact(max_parts=4)
    assert len(list((tmp_path / "cache").glob("part-*.parquet"))) == 1 and not cache.problems
    assert sorted(cache.load()["value"]) == [float(i) for i in range(400)]


READ_AND_COMPACT = """
import sys
from pitfalls.features.cache import FeatureCache
cache = FeatureCache(sys.argv[1])
print(len(cache.load()))
cache.compact(max_parts=4)
print("\\n".join(cache.problems))
"""


def test_a_part_that_cannot_be_read_now_is_kept(tmp_path: Path) -> None:
    _python(FILL, tmp_path / "cache")
    locked = sorted((tmp_path / "cache").glob("part-*.parquet"))[0]
    locked.chmod(0)
    try:
        said = _python(READ_AND_COMPACT, tmp_path / "cache", prefix=unprivileged_prefix())
    finally:
        locked.chmod(0o644)
    lines = said.splitlines()
    assert lines[0] == "390"  # the 10 rows of the locked part are not read this time ...
    assert any("cannot be read now" in line and locked.name in line for line in lines)
    assert locked.exists()  # ... but they are not thrown away either
    values = sorted(FeatureCache(tmp_path / "cache").load()["value"])
    assert values == [float(i) for i in range(400)]


def _images(data: Path, n: int, seed: int) -> Path:
    """`n` small noise images in `data/cat/`."""
    rng = np.random.default_rng(seed)
    (data / "cat").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(
            data / "cat" / f"{i}.png")
    return data


def test_a_corrupt_part_is_moved_aside_and_named_in_the_report(tmp_path: Path) -> None:
    data = _images(tmp_path / "data", 4, seed=0)
    cache_dir = tmp_path / "cache"
    run_cli("scan", data, "--out", tmp_path / "out", "--cache", cache_dir, "--workers", "1",
            "--select", "QUAL001", codes=(0,))
    [folder] = {p.parent for p in cache_dir.rglob("part-*.parquet")}
    (folder / "part-0-corrupt.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    run_cli("scan", data, "--out", tmp_path / "out", "--cache", cache_dir, "--workers", "1",
            "--select", "QUAL001", codes=(0,))
    assert not (folder / "part-0-corrupt.parquet").exists()
    assert (folder / "corrupt" / "part-0-corrupt.parquet").exists()
    notes = report_of(tmp_path / "out")["dataset"]["notes"]
    assert any("is corrupt" in n and "part-0-corrupt.parquet" in n for n in notes)
    assert len(FeatureCache(folder).load()) == 4  # the good rows were kept


def test_a_cache_folder_that_cannot_be_created_is_said_loudly(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the cache folder should be")
    cache = FeatureCache(tmp_path / "blocker" / "cache")
    assert not cache.enabled and "cannot be created" in cache.problems[0]
    assert not cache.append(pd.DataFrame({"_key": ["a"]}))


def test_an_image_unreadable_for_a_while_is_read_once_it_can_be(tmp_path: Path) -> None:
    """A permission error said nothing about the image: it must not stay cached as unreadable
    (fixing the permission does not change the file's key)."""
    data = _images(tmp_path / "data", 3, seed=1)
    locked = data / "cat" / "0.png"
    locked.chmod(0)
    args = ("scan", data, "--out", tmp_path / "out", "--cache", tmp_path / "cache", "--workers",
            "1", "--select", "QUAL001")
    try:
        run_cli(*args, codes=(1,), unprivileged=True)
    finally:
        locked.chmod(0o644)
    [item] = [i for f in report_of(tmp_path / "out")["findings"] for i in f["items"]]
    assert item["kind"] == "unreadable" and "Permission denied" in item["reason"]
    run_cli(*args, codes=(0,), unprivileged=True)
    assert report_of(tmp_path / "out")["dataset"]["n_unreadable"] == 0
