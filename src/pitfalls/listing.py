"""Which files of a dataset folder are candidate images (standard library only: the command line
lists the folder and starts its workers before it loads pandas)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

NOT_IMAGE_SUFFIXES = {
    ".txt", ".md", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".xml", ".toml", ".py",
    ".parquet", ".pq", ".zip", ".tar", ".gz", ".pdf", ".html", ".htm", ".ipynb", ".log", ".ini",
}
"""Files with these suffixes in a dataset folder are documentation, not candidate images."""

JUNK_NAMES = {"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"}
"""System files that file managers drop into folders; never images."""


@dataclass(frozen=True)
class Listing:
    """The candidate images of a folder (relative parts, sorted) and how many files were not."""

    root: Path
    files: list[tuple[str, ...]]
    skipped: int

    def paths(self) -> list[str]:
        """Absolute paths of the files, in order, as `Dataset.abs_path` gives them."""
        return [str(self.root.joinpath(*rel)) for rel in self.files]


def list_folder(root: Path) -> Listing:
    """Every candidate image under `root`: hidden files and folders, system junk and text or
    document files are left out (a text file *named* like an image is kept for the decoder)."""
    files: list[tuple[str, ...]] = []
    skipped = 0
    image_suffixes = _image_suffixes()
    for rel in sorted(_walk_files(root)):
        p = root.joinpath(*rel)
        if p.name.lower() in JUNK_NAMES:
            continue
        suffix = p.suffix.lower()
        if suffix in NOT_IMAGE_SUFFIXES or (suffix not in image_suffixes and _is_text(p)):
            skipped += 1
            continue
        files.append(rel)
    return Listing(root, files, skipped)


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p.startswith("__") for p in parts)


def _walk_files(root: Path, prefix: tuple[str, ...] = (),
                seen: set[tuple[int, int]] | None = None) -> Iterator[tuple[str, ...]]:
    """Relative parts of every regular file under `root` (symlinks followed, each folder once,
    so a link loop ends), hidden names skipped. `os.scandir` knows file types without a `stat`
    per file, unlike `Path.rglob`."""
    seen = set() if seen is None else seen
    try:
        st = os.stat(root)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        if _hidden((entry.name,)):
            continue
        try:
            if entry.is_dir():
                yield from _walk_files(Path(entry.path), (*prefix, entry.name), seen)
            elif entry.is_file():
                yield (*prefix, entry.name)
        except OSError:  # vanished meanwhile, or unreadable: not a file we can scan
            continue


def _image_suffixes() -> set[str]:
    from PIL import Image

    Image.init()
    return set(Image.registered_extensions())


def _is_text(path: Path) -> bool:
    """True for a file that starts like plain text (README, LICENSE): not a candidate image.

    Only asked of files without an image suffix, so a text file *named* `.jpg` still reaches the
    decoder and is reported as not an image. ASCII image formats (PNM `P1`..`P6`, XBM) are kept.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    if not head or b"\0" in head or head[:2] in {b"P%d" % i for i in range(1, 8)}:
        return False
    if head.startswith((b"#define", b"GIF8", b"<?xml", b"<svg")):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut by the 512-byte read
    return True
