"""Every odd file met so far, scanned at once by the command: exit 0 or 1, no traceback, and
every entry accounted for (read, named as unreadable, or counted as ignored)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from cli_helpers import items_of, report_of, run_cli
from odd_corpus import CORPUS, EXPECTED, IGNORED
from PIL import Image

SCRIPT_NAME = "<script>alert(1)'\".png"  # not committed: no such name on Windows


def test_the_odd_corpus_is_scanned_and_every_file_accounted_for(tmp_path: Path) -> None:
    data = tmp_path / "odd"
    shutil.copytree(CORPUS, data)
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(data / SCRIPT_NAME, format="PNG")
    os.mkfifo(data / "stream.jpg")
    (data / "gone.png").symlink_to(tmp_path / "nowhere.png")
    shutil.copyfile(CORPUS / "plain.jpg", os.fsencode(data) + b"/latin1-\xe9t\xe9.jpg")
    (data / "locked").mkdir()
    shutil.copyfile(CORPUS / "plain.jpg", data / "locked" / "hidden-from-us.jpg")
    (data / "locked").chmod(0)
    out = tmp_path / "out"
    try:
        run_cli("scan", data, "--out", out, "--no-cache", "--workers", "2", codes=(0, 1),
                timeout=300, unprivileged=True)
    finally:
        (data / "locked").chmod(0o755)
    report = report_of(out)
    dataset = report["dataset"]

    unreadable = {name: kinds for name, kinds in EXPECTED.items() if kinds is not None}
    unreadable |= {"stream.jpg": ("not_a_file",), "gone.png": ("missing",)}
    n_files = len(EXPECTED) + 4  # the script name, the FIFO, the link, the Latin-1 name
    assert dataset["n_images"] == n_files
    assert dataset["n_unreadable"] == len(unreadable)
    assert any(f"{len(IGNORED)} non-image" in n for n in dataset["notes"])
    assert dataset["unlisted_folders"] == [{"path": "locked", "reason": "Permission denied"}]

    items = items_of(report, "QUAL001")
    kinds = {i["paths"][0]: i["kind"] for i in items if "kind" in i}
    for name, allowed in unreadable.items():
        assert kinds.pop(name) in allowed, name
    assert kinds.pop("locked") == "unlisted_folder"
    assert set(kinds.values()) <= {"listed_twice"}, kinds  # nothing else is called unreadable
    mistyped = {i["paths"][0] for i in items if "format" in i}
    assert mistyped == {"png-named.jpg"}

    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html
