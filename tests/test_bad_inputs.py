"""Bad input never crashes: broken files are QUAL001 items, odd-but-valid files are read correctly,
bad manifests get a clear message, and the CLI exits 2 without a traceback."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_cli_ok
from PIL import Image
from typer.testing import CliRunner

import pitfalls
from pitfalls.cli import app
from pitfalls.errors import InputError
from pitfalls.features.compute import compute_file_features


def photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=2) % 256
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


def jpeg_bytes(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90, **kw)
    return buf.getvalue()


def png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def png_header_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring a huge image, followed by a tiny IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- broken files: QUAL001 items ----------------------------------------------------------------

BROKEN = {
    "truncated.jpg": ("truncated", "corrupt"),
    "truncated.png": ("truncated", "corrupt"),
    "empty.jpg": ("empty",),
    "header_only.jpg": ("not_an_image", "truncated", "corrupt"),
    "notes.jpg": ("not_an_image",),
    "bomb.png": ("too_large",),
}


@pytest.fixture
def broken_folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    good = jpeg_bytes(photo())
    png = png_bytes(Image.fromarray(photo(seed=1)))
    write(root / "cat" / "truncated.jpg", good[: len(good) // 2])
    write(root / "cat" / "truncated.png", png[: len(png) // 2])
    write(root / "cat" / "empty.jpg", b"")
    write(root / "cat" / "header_only.jpg", good[:20])
    write(root / "cat" / "notes.jpg", b"<html><body>404 Not Found</body></html>\n")
    write(root / "cat" / "bomb.png", png_header_bomb(60000, 60000))
    for i in range(3):
        write(root / "cat" / f"ok{i}.jpg", jpeg_bytes(photo(seed=10 + i)))
    write(root / "cat" / ".DS_Store", b"\x00\x00\x00\x01Bud1" + b"\x00" * 64)
    write(root / "cat" / "Thumbs.db", b"\xd0\xcf\x11\xe0" + b"\x00" * 64)
    return root


def test_broken_files_are_qual001_items(broken_folder: Path) -> None:
    report = pitfalls.scan(broken_folder, cache=False, select=["QUAL001"])
    [finding] = [f for f in report.by_rule("QUAL001") if f.severity == "error"]
    kinds = {item["paths"][0].split("/")[-1]: item["kind"] for item in finding.items}
    assert set(kinds) == set(BROKEN)
    for name, allowed in BROKEN.items():
        assert kinds[name] in allowed, (name, kinds[name])
    assert report.dataset["n_images"] == 9  # .DS_Store and Thumbs.db are not counted
    assert report.dataset["n_unreadable"] == 6


def test_decompression_bomb_is_refused_quickly_with_little_memory(tmp_path: Path) -> None:
    bomb = write(tmp_path / "bomb.png", png_header_bomb(60000, 60000))
    under_pil_limit = write(tmp_path / "big.png", png_header_bomb(10000, 9000))
    code = (
        "import json, sys, time\n"
        "from pitfalls.features.compute import compute_file_features\n"
        "t = time.time()\n"
        "rows = [compute_file_features(p) for p in sys.argv[1:]]\n"
        # VmHWM belongs to this process's address space; ru_maxrss would carry over the
        # (large) pytest parent's peak across fork+exec on Linux.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(json.dumps({'kinds': [r['error_kind'] for r in rows], 's': time.time() - t,\n"
        "  'rss_mb': int(hwm) / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(bomb), str(under_pil_limit)],
                         capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(out.stdout)
    assert result["kinds"] == ["too_large", "too_large"]
    assert result["s"] < 5
    assert result["rss_mb"] < 400  # the 60000x60000 RGB image would need 10 GB


# --- odd but valid files: read correctly ----------------------------------------------------------

def test_png_named_jpg_is_read_and_reported_as_info(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "a" / "really_png.jpg", png_bytes(Image.fromarray(photo())))
    write(root / "a" / "fine.jpg", jpeg_bytes(photo(seed=2)))
    report = pitfalls.scan(root, cache=False, select=["QUAL001"])
    [finding] = report.by_rule("QUAL001")
    assert finding.severity == "info"
    assert finding.items == [{"paths": ["a/really_png.jpg"], "format": "PNG", "suffix": ".jpg"}]


def test_cmyk_jpeg_is_read_in_colour(tmp_path: Path) -> None:
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 220
    buf = io.BytesIO()
    Image.fromarray(red).convert("CMYK").save(buf, format="JPEG", quality=95)
    row = compute_file_features(write(tmp_path / "cmyk.jpg", buf.getvalue()))
    assert row["ok"] and row["mode"] == "CMYK" and not row["is_grayscale"]
    assert row["mean_r"] > 0.7 and row["mean_g"] < 0.2 and row["mean_b"] < 0.2


def test_16_bit_grayscale_png_is_scaled_to_8_bit(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (32, 1))
    row = compute_file_features(write(tmp_path / "deep.png", png_bytes(Image.fromarray(ramp))))
    assert row["ok"] and row["mode"].startswith("I") and row["is_grayscale"]
    assert 0.4 < row["brightness"] < 0.6 and row["brightness_p95"] > 0.9  # not clipped to white


def test_rgba_palette_and_grayscale_are_read(tmp_path: Path) -> None:
    rgba = Image.fromarray(np.dstack([photo(), np.full((48, 64), 128, np.uint8)]), "RGBA")
    pal = Image.fromarray(photo(seed=3)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    gray = Image.fromarray(photo(seed=4)).convert("L")
    paths = {
        "RGBA": write(tmp_path / "rgba.png", png_bytes(rgba)),
        "P": write(tmp_path / "pal.png", png_bytes(pal, transparency=0)),
        "L": write(tmp_path / "gray.png", png_bytes(gray)),
    }
    for mode, path in paths.items():
        row = compute_file_features(path)
        assert row["ok"], row["error"]
        assert row["mode"] == mode and (row["width"], row["height"]) == (64, 48)
    assert compute_file_features(paths["L"])["is_grayscale"]


def test_exif_rotated_jpeg_is_turned_upright(tmp_path: Path) -> None:
    arr = np.zeros((40, 80, 3), np.uint8)  # stored landscape, left half white
    arr[:, :40] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    row = compute_file_features(write(tmp_path / "rot.jpg", jpeg_bytes(arr, exif=exif)))
    assert row["ok"] and row["exif_orientation"] == 6
    assert (row["width"], row["height"]) == (40, 80)  # displayed portrait
    # After rotating clockwise, the stored left (white) half is on top.
    assert row["border_top_r"] > 0.9 and row["border_bottom_r"] < 0.1


def test_jpeg_with_malformed_exif_is_still_read(tmp_path: Path) -> None:
    """A broken EXIF block is metadata trouble, not a broken image: the pixels are read."""
    good = jpeg_bytes(np.full((40, 60, 3), 120, np.uint8))
    junk = b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xf0" + bytes(range(40))  # IFD offset past the end
    app1 = b"\xff\xe1" + (len(junk) + 2).to_bytes(2, "big") + junk
    row = compute_file_features(write(tmp_path / "badexif.jpg", good[:2] + app1 + good[2:]))
    assert row["ok"], row["error"]
    assert (row["width"], row["height"]) == (60, 40) and row["exif_orientation"] == 1
    assert row["exif_make"] is None


def test_file_without_extension_is_read_and_text_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "dog" / "IMG_0001", jpeg_bytes(photo()))
    write(root / "dog" / "IMG_0002.jpg", jpeg_bytes(photo(seed=5)))
    write(root / "README", b"Photos of dogs, taken in 2023.\n")
    report = pitfalls.scan(root, cache=False, select=["QUAL001"])
    assert report.dataset["n_images"] == 2 and report.dataset["n_unreadable"] == 0
    assert "QUAL001" in report.passed


# --- manifests ------------------------------------------------------------------------------------

def test_manifest_without_path_column(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("file,label\na.jpg,cat\n")
    with pytest.raises(InputError, match="no 'path' column"):
        pitfalls.scan(tmp_path / "m.csv", cache=False)


def test_manifest_with_duplicate_paths(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,label\na.jpg,cat\na.jpg,dog\n")
    with pytest.raises(InputError, match="more than once"):
        pitfalls.scan(tmp_path / "m.csv", cache=False)


@pytest.mark.parametrize(("name", "data"), [("m.csv", b""), ("m.parquet", b"not parquet"),
                                            ("m.jsonl", b"{broken json\n")])
def test_unreadable_manifest(tmp_path: Path, name: str, data: bytes) -> None:
    write(tmp_path / name, data)
    with pytest.raises(InputError, match="cannot read"):
        pitfalls.scan(tmp_path / name, cache=False)


def test_manifest_with_missing_files(tmp_path: Path) -> None:
    write(tmp_path / "img" / "a.jpg", jpeg_bytes(photo()))
    (tmp_path / "m.csv").write_text("path,label\nimg/a.jpg,cat\nimg/gone.jpg,cat\n")
    report = pitfalls.scan(tmp_path / "m.csv", cache=False, select=["QUAL001"])
    [finding] = report.by_rule("QUAL001")
    assert finding.items == [{"paths": ["img/gone.jpg"], "kind": "missing",
                              "reason": "file not found"}]


# --- the command line never shows a traceback -----------------------------------------------------

@pytest.mark.parametrize("case", ["no_path_column", "duplicates", "empty_csv", "missing_dataset",
                                  "not_a_manifest", "empty_folder"])
def test_cli_exits_2_with_a_message(tmp_path: Path, case: str) -> None:
    target = {
        "no_path_column": ("m.csv", b"file,label\na.jpg,cat\n"),
        "duplicates": ("m.csv", b"path\na.jpg\na.jpg\n"),
        "empty_csv": ("m.csv", b""),
        "missing_dataset": None,
        "not_a_manifest": ("photo.jpg", jpeg_bytes(photo())),
        "empty_folder": ("empty/.hidden", b"x"),
    }[case]
    if target is None:
        data = tmp_path / "nowhere"
    else:
        data = write(tmp_path / target[0], target[1])
        data = data.parent if case == "empty_folder" else data
    result = CliRunner().invoke(app, ["scan", str(data), "--out", str(tmp_path / "out"),
                                      "--no-cache"])
    assert_cli_ok(result, 2, "error:")


def test_cli_on_a_folder_of_broken_files_reports_them(broken_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["scan", str(broken_folder), "--out", str(out),
                                      "--no-cache", "--select", "QUAL"])
    assert_cli_ok(result, 1)  # QUAL001 errors at the default --fail-on error
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["n_unreadable"] == 6
