"""Which files of a dataset folder are candidate images (standard library only: the command line
lists the folder and starts its workers before it loads pandas)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

NOT_IMAGE_SUFFIXES = {
    ".txt", ".md", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".xml", ".toml", ".py",
    ".parquet", ".pq", ".zip", ".tar", ".gz", ".pdf", ".html", ".htm", ".ipynb", ".log", ".ini",
}
"""Files with these suffixes in a dataset folder are documentation, not candidate images."""

log = logging.getLogger(__name__)

JUNK_NAMES = {"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"}
"""System files that file managers drop into folders; never images."""


@dataclass(frozen=True)
class Listing:
    """The candidate images of a folder (relative parts, sorted), how many files were not, and
    the folders that could not be listed (relative POSIX path, reason): their files are unknown."""

    root: Path
    files: list[tuple[str, ...]]
    skipped: int
    unlisted: list[tuple[str, str]] = field(default_factory=list)

    def paths(self) -> list[str]:
        """Absolute paths of the files, in order, as `Dataset.abs_path` gives them."""
        return [str(self.root.joinpath(*rel)) for rel in self.files]


def list_folder(root: Path) -> Listing:
    """Every candidate image under `root`: hidden files and folders, system junk and text or
    document files are left out (a text file *named* like an image is kept for the decoder).

    An entry with an image's name that is not a regular file (a named pipe, a socket, a device,
    a symbolic link to nothing) is kept too: the decoder refuses it without opening it, so it is
    counted and named as unreadable instead of vanishing. A folder that cannot be listed is
    recorded in `unlisted`; `root` itself raises its `OSError`.
    """
    files: list[tuple[str, ...]] = []
    skipped = 0
    unlisted: list[tuple[str, str]] = []
    image_suffixes = _image_suffixes()
    for rel, regular in sorted(_walk_files(root, unlisted=unlisted)):
        p = root.joinpath(*rel)
        if p.name.lower() in JUNK_NAMES:
            continue
        suffix = p.suffix.lower()
        if not regular:
            if suffix in image_suffixes:
                files.append(rel)
            else:
                skipped += 1
            continue
        if suffix in NOT_IMAGE_SUFFIXES or (suffix not in image_suffixes and _is_text(p)):
            skipped += 1
            continue
        files.append(rel)
    return Listing(root, files, skipped, sorted(unlisted))


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p.startswith("__") for p in parts)


def _walk_files(root: Path, prefix: tuple[str, ...] = (),
                seen: set[tuple[int, int]] | None = None,
                unlisted: list[tuple[str, str]] | None = None,
                ) -> Iterator[tuple[tuple[str, ...], bool]]:
    """Relative parts of every file under `root` with whether it is a regular file (symlinks
    followed, each folder once, so a link loop ends), hidden names skipped. `os.scandir` knows
    file types without a `stat` per file, unlike `Path.rglob`. A folder that cannot be listed is
    appended to `unlisted` with the reason (the top folder raises instead)."""
    seen = set() if seen is None else seen
    try:
        st = os.stat(root)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        entries = list(os.scandir(root))
    except OSError as exc:
        if not prefix or unlisted is None:
            raise
        unlisted.append(("/".join(prefix), exc.strerror or str(exc)))
        return
    for entry in entries:
        if _hidden((entry.name,)):
            continue
        try:
            is_dir = entry.is_dir()
            regular = not is_dir and entry.is_file()
        except OSError as exc:  # cannot even tell what it is: name it rather than drop it
            is_dir, regular = False, False
            log.warning("cannot tell what %s is: %s", entry.path, exc)
        if is_dir:
            yield from _walk_files(Path(entry.path), (*prefix, entry.name), seen, unlisted)
        else:
            yield (*prefix, entry.name), regular


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
    except OSError:  # kept as a candidate: the decoder names it as unreadable, with the reason
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
