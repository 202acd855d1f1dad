"""Hostile inputs through the command: every one ends with exit 0, 1 or 2, no traceback, a message
or a finding that names the problem, and no file silently left out of the counts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import items_of, report_of, run_cli
from conftest import assert_cli_ok
from PIL import Image
from typer.testing import CliRunner

import pitfalls
from pitfalls.cli import app
from pitfalls.errors import InputError


def image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(path)
    return path


def scan(data: Path, out: Path, *args: str, codes: tuple[int, ...] = (0, 1), **kw):
    return run_cli("scan", data, "--out", out, "--no-cache", "--select", "QUAL001", *args,
                   codes=codes, **kw)


# --- item 1: tracebacks and hangs ---------------------------------------------------------------

def test_file_name_that_is_not_utf8_is_scanned_and_shown_escaped(tmp_path: Path) -> None:
    image(tmp_path / "data" / "cat" / "a.png")
    image(tmp_path / "data" / "cat" / "b.png", seed=1)
    folder = tmp_path / "data" / "cat"
    os.rename(folder / "b.png", os.fsencode(folder) + b"/\xff\xfe.png")
    scan(tmp_path / "data", tmp_path / "out", codes=(0,))
    report = report_of(tmp_path / "out")
    assert report["dataset"]["n_images"] == 2 and report["dataset"]["n_unreadable"] == 0
    assert any("not valid UTF-8" in n and "\\xff\\xfe.png" in n for n in report["dataset"]["notes"])


def test_manifest_with_a_header_and_no_rows(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,label\n")
    proc = scan(tmp_path / "m.csv", tmp_path / "out", codes=(2,))
    assert "lists no images" in proc.stderr


def test_nul_byte_in_a_manifest_path_is_a_qual001_item(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text('path,label\na.png,cat\n"b\x00.png",dog\n')
    scan(tmp_path / "m.csv", tmp_path / "out", codes=(1,))
    [item] = items_of(report_of(tmp_path / "out"), "QUAL001")
    assert item["kind"] == "bad_path" and "null byte" in item["reason"]


def test_manifest_rows_naming_a_fifo_or_a_folder_do_not_hang(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "m.csv").write_text("path,label\na.png,cat\npipe.png,dog\nfolder.jpg,dog\n")
    scan(tmp_path / "m.csv", tmp_path / "out", "--workers", "2", codes=(1,), timeout=90)
    items = {i["paths"][0]: i for i in items_of(report_of(tmp_path / "out"), "QUAL001")}
    assert items["pipe.png"]["kind"] == "not_a_file" and "pipe" in items["pipe.png"]["reason"]
    assert items["folder.jpg"]["kind"] == "not_a_file"
    assert "directory" in items["folder.jpg"]["reason"]


def test_a_silent_pipe_is_given_up_and_a_device_is_refused(tmp_path: Path) -> None:
    from pitfalls.files import NotAFileError, read_file

    os.mkfifo(tmp_path / "p")
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        read_file(tmp_path / "p", pipe_timeout=0.3)
    assert time.monotonic() - start < 5
    with pytest.raises(NotAFileError, match="named pipe"):
        read_file(tmp_path / "p")
    with pytest.raises(NotAFileError, match="character device"):
        read_file("/dev/zero")


def test_manifest_read_from_a_named_pipe(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    os.mkfifo(tmp_path / "m.csv")

    def writer() -> None:
        with open(tmp_path / "m.csv", "w") as fh:
            fh.write("path,label\na.png,cat\n")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    scan(tmp_path / "m.csv", tmp_path / "out", codes=(0,), timeout=90)
    assert report_of(tmp_path / "out")["dataset"]["n_images"] == 1


# --- item 2: nothing lost without a word --------------------------------------------------------

def test_folder_that_cannot_be_listed_is_counted_and_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for split in ("train", "test"):
        for i in range(2):
            image(data / split / "cat" / f"{i}.png", seed=i + (split == "test") * 5)
    (data / "test").chmod(0)
    try:
        scan(data, tmp_path / "out", codes=(1,), unprivileged=True)
    finally:
        (data / "test").chmod(0o755)
    report = report_of(tmp_path / "out")
    assert report["dataset"]["n_images"] == 2
    assert report["dataset"]["unlisted_folders"] == [{"path": "test",
                                                      "reason": "Permission denied"}]
    [item] = items_of(report, "QUAL001")
    assert item == {"paths": ["test"], "kind": "unlisted_folder", "reason": "Permission denied"}
    assert any("NOT in this scan" in n for n in report["dataset"]["notes"])


def test_fifo_and_dangling_link_with_image_names_are_counted_and_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    image(data / "cat" / "a.png")
    os.mkfifo(data / "cat" / "stream.jpg")
    (data / "cat" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    os.mkfifo(data / "cat" / "control")  # no image name: counted among the non-image files
    scan(data, tmp_path / "out", "--workers", "2", codes=(1,), timeout=90)
    report = report_of(tmp_path / "out")
    assert report["dataset"]["n_images"] == 3 and report["dataset"]["n_unreadable"] == 2
    kinds = {i["paths"][0]: (i["kind"], i["reason"]) for i in items_of(report, "QUAL001")}
    assert kinds["cat/stream.jpg"][0] == "not_a_file"
    assert kinds["cat/gone.jpg"] == ("missing", "broken symbolic link")
    assert any("1 non-image" in n for n in report["dataset"]["notes"])


def test_cache_url_without_its_package_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    if any(_installed(m) for m in ("s3fs",)):
        pytest.skip("s3fs is installed")
    image(tmp_path / "data" / "cat" / "a.png")
    proc = run_cli("scan", tmp_path / "data", "--out", tmp_path / "out", "--cache",
                   "s3://bucket/cache", "--workers", "1", codes=(2,))
    assert "s3fs" in proc.stderr and "--no-cache" in proc.stderr


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# --- item 5: manifests that reach outside their folder -------------------------------------------

@pytest.mark.parametrize("spelling", ["absolute", "dotdot"])
def test_manifest_paths_outside_its_folder_are_refused(tmp_path: Path, spelling: str) -> None:
    secret = image(tmp_path / "private" / "secret.png")
    image(tmp_path / "set" / "a.png", seed=1)
    row = str(secret) if spelling == "absolute" else "../private/secret.png"
    (tmp_path / "set" / "m.csv").write_text(f"path,label\na.png,cat\n{row},cat\n")
    proc = scan(tmp_path / "set" / "m.csv", tmp_path / "out", codes=(2,))
    assert "outside its folder" in proc.stderr and "--allow-outside-root" in proc.stderr
    assert not (tmp_path / "out" / "report.html").exists()
    scan(tmp_path / "set" / "m.csv", tmp_path / "out", "--allow-outside-root", codes=(0,))
    assert report_of(tmp_path / "out")["dataset"]["n_images"] == 2
    report = pitfalls.scan(tmp_path / "set" / "m.csv", cache=False, select=["QUAL001"],
                           allow_outside_root=True)
    assert report.dataset["n_images"] == 2


def test_outside_root_allowed_in_the_configuration(tmp_path: Path) -> None:
    image(tmp_path / "shared" / "x.png")
    image(tmp_path / "proj" / "a.png", seed=1)
    (tmp_path / "proj" / "m.csv").write_text("path\na.png\n../shared/x.png\n")
    with pytest.raises(InputError, match="outside its folder"):
        pitfalls.scan(tmp_path / "proj" / "m.csv", cache=False)
    (tmp_path / "proj" / "pitfalls.toml").write_text("allow-outside-root = true\n")
    proc = scan(tmp_path / "proj" / "m.csv", tmp_path / "out", codes=(0,), cwd=tmp_path / "proj")
    assert proc.returncode == 0 and report_of(tmp_path / "out")["dataset"]["n_images"] == 2


def test_an_absolute_path_inside_the_folder_is_accepted(tmp_path: Path) -> None:
    inside = image(tmp_path / "set" / "img" / "a.png")
    (tmp_path / "set" / "m.csv").write_text(f"path\n{inside}\n")
    scan(tmp_path / "set" / "m.csv", tmp_path / "out", codes=(0,))


def test_same_file_under_two_spellings_is_listed_twice_not_a_duplicate(tmp_path: Path) -> None:
    image(tmp_path / "img" / "a.png")
    image(tmp_path / "img" / "b.png", seed=3)
    (tmp_path / "img" / "x").mkdir()
    (tmp_path / "m.csv").write_text("path,label\nimg/a.png,cat\n./img/a.png,cat\n"
                                    "img/x/../b.png,dog\nimg//b.png,dog\n")
    run_cli("scan", tmp_path / "m.csv", "--out", tmp_path / "out", "--no-cache",
            "--select", "QUAL001,DUP001", codes=(0,))
    report = report_of(tmp_path / "out")
    assert report["dataset"]["n_images"] == 2
    assert sorted(t["kept"] for t in report["dataset"]["listed_twice"]) == ["img/a.png",
                                                                          "img/x/../b.png"]
    assert not items_of(report, "DUP001")
    assert {i["kind"] for i in items_of(report, "QUAL001")} == {"listed_twice"}


def test_same_file_under_two_spellings_with_different_labels_is_an_error(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text("path,label\na.png,cat\n./a.png,dog\n")
    proc = scan(tmp_path / "m.csv", tmp_path / "out", codes=(2,))
    assert "same file on 2 rows" in proc.stderr and "./a.png" in proc.stderr


# --- item 8: messages ---------------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "sep", "label"), [
    ("utf-8", ";", "chat"), ("latin-1", ";", "café"), ("cp932", ",", "りんご"),
    ("utf-8-sig", "\t", "猫"), ("latin-1", "|", "Müller"),
])
def test_csv_separator_and_encoding_are_detected(tmp_path: Path, encoding: str, sep: str,
                                                 label: str) -> None:
    image(tmp_path / "img" / "a.png")
    image(tmp_path / "img" / "b.png", seed=2)
    text = sep.join(["path", "label", "split"]) + "\n" + "\n".join(
        sep.join([f"img/{n}.png", label, s]) for n, s in (("a", "train"), ("b", "test"))) + "\n"
    (tmp_path / "m.csv").write_bytes(text.encode(encoding))
    scan(tmp_path / "m.csv", tmp_path / "out", codes=(0,))
    report = report_of(tmp_path / "out")
    assert report["dataset"]["labels"] == {label: 2}
    assert report["dataset"]["splits"] == {"test": 1, "train": 1}
    notes = " ".join(report["dataset"]["notes"])
    if encoding in ("latin-1", "cp932"):
        assert ("Latin-1" if encoding == "latin-1" else "Shift-JIS") in notes
    if sep not in (",",):
        assert repr(sep) in notes


def test_excel_sep_line_is_honoured(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text("sep=;\npath;label\na.png;cat\n")
    report = pitfalls.scan(tmp_path / "m.csv", cache=False, select=["QUAL001"])
    assert report.dataset["labels"] == {"cat": 1}


def test_config_error_keeps_its_brackets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image(tmp_path / "data" / "cat" / "a.png")
    (tmp_path / "pitfalls.toml").write_text("[rules.IMB001]\nbogus = 1\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["scan", str(tmp_path / "data"), "--no-cache",
                                      "--out", str(tmp_path / "out")])
    assert_cli_ok(result, 2, "[rules.IMB001]: unknown parameter(s) bogus")


def test_labels_with_brackets_print_as_text_in_the_split_table(tmp_path: Path) -> None:
    for i in range(6):
        image(tmp_path / "data" / "[bold]x" / f"{i}.png", seed=i)
    result = CliRunner().invoke(app, ["split", str(tmp_path / "data"), "--no-cache",
                                      "--out", str(tmp_path / "m.csv")])
    assert_cli_ok(result, 0, "[bold]x")


# --- the command never prints a traceback for an unwritable report folder -----------------------

def test_report_folder_that_cannot_be_written(tmp_path: Path) -> None:
    image(tmp_path / "data" / "cat" / "a.png")
    (tmp_path / "out").write_text("a file where the report folder should be")
    proc = scan(tmp_path / "data", tmp_path / "out", codes=(2,))
    assert "error" in proc.stderr.lower() and "out" in proc.stderr


def test_interpreter_sees_the_same_errors_via_subprocess_env() -> None:
    """The helper runs this checkout's code, not an installed copy."""
    out = subprocess.run([sys.executable, "-c", "import pitfalls.files, sys; "
                          "print(pitfalls.files.__file__)"], capture_output=True, text=True,
                         check=True)
    assert Path(out.stdout.strip()).resolve().is_relative_to(Path(__file__).resolve().parents[1])


def test_rows_longer_than_the_header_keep_their_columns(tmp_path: Path) -> None:
    """pandas took the first column of such a file for the index: every label shifted by one."""
    image(tmp_path / "a.png")
    image(tmp_path / "b.png", seed=1)
    (tmp_path / "m.csv").write_text("path,label\na.png,cat,\nb.png,dog,\n")  # trailing commas
    report = pitfalls.scan(tmp_path / "m.csv", cache=False, select=["QUAL001"])
    assert report.dataset["labels"] == {"cat": 1, "dog": 1}
    assert report.dataset["n_unreadable"] == 0
    (tmp_path / "m.csv").write_text("path,label\na.png,cat,extra\nb.png,dog\n")
    report = pitfalls.scan(tmp_path / "m.csv", cache=False, select=["QUAL001"])
    assert report.dataset["labels"] == {"cat": 1, "dog": 1}
    assert any("extra fields were ignored" in n for n in report.dataset["notes"])


def test_a_worker_killed_mid_scan_is_a_clear_error_and_the_rerun_resumes(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for i in range(600):
        (data / "cat").mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8)).save(
            data / "cat" / f"{i:03d}.jpg", quality=90)
    args = [sys.executable, "-m", "pitfalls", "scan", str(data), "--out", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache"), "--workers", "2", "--select", "QUAL001"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and proc.poll() is None and time.monotonic() < deadline:
        children = psutil.Process(proc.pid).children()
        if children:
            victim = children[0]
            victim.kill()  # SIGKILL, as the kernel's out-of-memory killer does
        time.sleep(0.005)
    out, err = proc.communicate(timeout=120)
    assert victim is not None, "the scan ended before a worker could be killed"
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in out + err and "worker process died" in err
    run_cli("scan", data, "--out", tmp_path / "out", "--cache", tmp_path / "cache",
            "--workers", "2", "--select", "QUAL001", codes=(0,))
    assert report_of(tmp_path / "out")["dataset"]["n_images"] == 600


@pytest.mark.parametrize(("name", "text", "message"), [
    ("pitfalls.toml", b"lang = \"\xff\xfe\"\n", "cannot read"),
    ("pitfalls.toml", b"allow-outside-root = \"yes\"\n", "must be true or false"),
])
def test_bad_configuration_files(tmp_path: Path, name: str, text: bytes, message: str) -> None:
    image(tmp_path / "data" / "cat" / "a.png")
    (tmp_path / name).write_bytes(text)
    proc = scan(tmp_path / "data", tmp_path / "out", codes=(2,), cwd=tmp_path)
    assert message in proc.stderr


def test_preprocessing_spec_that_is_not_utf8(tmp_path: Path) -> None:
    from pitfalls.evaluation.model import load_spec

    (tmp_path / "spec.toml").write_bytes(b"size = \xff\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_spec(tmp_path / "spec.toml")


def test_what_the_field_folder_notes_reaches_the_report(tmp_path: Path) -> None:
    for s, split in enumerate(("train", "test")):
        for j, label in enumerate(("a", "b")):
            for i in range(4):
                image(tmp_path / "data" / split / label / f"{i}.png", seed=s * 100 + j * 10 + i)
    for i in range(4):
        image(tmp_path / "field" / f"{i}.png", seed=100 + i)
    os.rename(tmp_path / "field" / "3.png", os.fsencode(tmp_path / "field") + b"/\xe9t\xe9.png")
    report = pitfalls.scan(tmp_path / "data", cache=False, field=tmp_path / "field",
                           select=["FIELD001"])
    assert any(n.startswith("field photos (--field):") and "not valid UTF-8" in n
               for n in report.dataset["notes"])
