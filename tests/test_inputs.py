"""Folder and manifest loading: layouts, split aliases, hidden and junk files, text files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pitfalls.errors import InputError
from pitfalls.inputs import load_dataset


def img(path: Path, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 200, 30)).save(path, format=fmt or "PNG")


def test_split_class_layout_with_aliases(tmp_path: Path) -> None:
    img(tmp_path / "Training" / "cat" / "a.png")
    img(tmp_path / "validation" / "dog" / "b.png")
    ds = load_dataset(tmp_path)
    assert ds.table[["path", "label", "split"]].values.tolist() == [
        ["Training/cat/a.png", "cat", "train"], ["validation/dog/b.png", "dog", "val"]]


def test_hidden_junk_and_text_files_are_ignored(tmp_path: Path) -> None:
    img(tmp_path / "cat" / "a.png")
    img(tmp_path / "cat" / "IMG_0002", fmt="JPEG")  # an image without an extension is kept
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "cat" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "._a.png").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "LICENSE").write_text("Apache License 2.0\n")
    (tmp_path / "cat" / "notes.md").write_text("# notes\n")
    (tmp_path / "cat" / "ascii.pgm").write_text("P2\n2 2\n255\n0 255\n255 0\n")
    ds = load_dataset(tmp_path)
    assert sorted(ds.table["path"]) == ["cat/IMG_0002", "cat/a.png", "cat/ascii.pgm"]
    assert ds.notes and "2 non-image" in ds.notes[0]


def test_text_named_as_an_image_is_kept_for_the_decoder(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "error_page.jpg").write_text("<html>403 Forbidden</html>")
    assert load_dataset(tmp_path).table["path"].tolist() == ["cat/error_page.jpg"]


def test_manifest_columns_become_metadata(tmp_path: Path) -> None:
    img(tmp_path / "x" / "a.png")
    (tmp_path / "m.csv").write_text("Path,Label,Split,site\nx/a.png,cat,Test,farm\n")
    ds = load_dataset(tmp_path / "m.csv")
    assert ds.meta_columns == ["site"]
    assert ds.table.loc[0, ["label", "split", "site"]].tolist() == ["cat", "test", "farm"]


def test_missing_dataset_and_wrong_file_type(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_dataset(tmp_path / "nope")
    img(tmp_path / "a.png")
    with pytest.raises(InputError, match="neither a folder, a manifest .* nor a shard or archive"):
        load_dataset(tmp_path / "a.png")


def test_symlinked_folders_are_followed_and_a_link_loop_ends(tmp_path: Path) -> None:
    img(tmp_path / "data" / "cat" / "a.jpg")
    img(tmp_path / "elsewhere" / "b.jpg")
    (tmp_path / "data" / "dog").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "data" / "cat" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)
    (tmp_path / "data" / "cat" / "gone.jpg").symlink_to(tmp_path / "nothing.jpg")  # broken
    ds = load_dataset(tmp_path / "data")
    # The broken link stays in the table (QUAL001 names it), never silently dropped.
    assert sorted(ds.table["path"]) == ["cat/a.jpg", "cat/gone.jpg", "dog/b.jpg"]
    assert dict(zip(ds.table["path"], ds.table["label"], strict=True))["dog/b.jpg"] == "dog"
