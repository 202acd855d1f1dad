"""Turn what the user has (a folder or a manifest) into one table: a row per image.

Columns: `path` (relative to the dataset root, POSIX), `label`, `split`, `group`, then any other
manifest columns as metadata. Every later stage reads this table, never the folder layout.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pitfalls.errors import InputError

SPLIT_ALIASES = {
    "train": "train", "training": "train", "trn": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test", "tst": "test", "holdout": "test",
}
"""Recognised split names and the canonical name each maps to."""

NOT_IMAGE_SUFFIXES = {
    ".txt", ".md", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".xml", ".toml", ".py",
    ".parquet", ".pq", ".zip", ".tar", ".gz", ".pdf", ".html", ".htm", ".ipynb", ".log", ".ini",
}
"""Files with these suffixes in a dataset folder are documentation, not candidate images."""

JUNK_NAMES = {"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"}
"""System files that file managers drop into folders; never images."""

RESERVED = ("path", "label", "split", "group")
MANIFEST_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json"}


@dataclass
class Dataset:
    """The input table and where its paths are relative to."""

    root: Path
    table: pd.DataFrame
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def meta_columns(self) -> list[str]:
        """Columns other than path/label/split/group: user metadata."""
        return [c for c in self.table.columns if c not in RESERVED]

    def abs_path(self, rel: str) -> Path:
        return self.root / rel

    def __len__(self) -> int:
        return len(self.table)


def normalise_split(value: object) -> str | None:
    """Map a split name to its canonical form (`train`, `val`, `test`); other names are kept."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    return SPLIT_ALIASES.get(text.lower(), text)


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


def load_folder(root: Path) -> Dataset:
    """Read `root/<split>/<class>/…` or `root/<class>/…` (hidden files and folders ignored)."""
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
    if not files:
        raise InputError(f"no files found under {root} (hidden files and folders are ignored)")
    top_dirs = {parts[0] for parts in files if len(parts) > 1}
    by_split = bool(top_dirs) and any(d.lower() in SPLIT_ALIASES for d in top_dirs)
    rows = []
    for parts in files:
        split = label = None
        rest = parts
        if by_split and len(parts) > 1 and parts[0].lower() in SPLIT_ALIASES:
            split, rest = normalise_split(parts[0]), parts[1:]
        if len(rest) > 1:
            label = rest[0]
        rows.append({"path": "/".join(parts), "label": label, "split": split, "group": None})
    table = pd.DataFrame(rows, columns=list(RESERVED))
    notes = [f"{skipped} non-image file(s) (documents, text) ignored"] if skipped else []
    return Dataset(root=root, table=table, source="folder", notes=notes)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV/TSV, Parquet or JSON Lines file into a DataFrame, with clear errors."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".json":
            return pd.read_json(path, dtype=False)
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str,
                           keep_default_na=True)
    except Exception as exc:
        raise InputError(f"cannot read {path.name} as a {suffix or 'CSV'} table: {exc}") from None


def load_manifest(path: Path) -> Dataset:
    """Read a manifest with a `path` column (relative to the manifest) and optional columns."""
    table = normalise_table(read_table(path), path.name)
    return Dataset(root=path.parent, table=table, source="manifest")


def normalise_table(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Validate a manifest-like table and bring it to the canonical columns."""
    table = table.copy()
    table.columns = [str(c).strip() for c in table.columns]
    lower = {c.lower(): c for c in table.columns}
    if "path" not in lower:
        found = ", ".join(map(repr, table.columns)) or "none"
        raise InputError(
            f"manifest {name} has no 'path' column (found: {found}); "
            "add a column 'path' with each image's path relative to the manifest"
        )
    table = table.rename(columns={lower[c]: c for c in RESERVED if c in lower})
    for col in RESERVED:
        if col not in table.columns:
            table[col] = None
    if table["path"].isna().any():
        rows = [int(i) + 2 for i in table.index[table["path"].isna()][:5]]
        raise InputError(f"manifest {name}: empty 'path' on line(s) {rows}")
    table["path"] = table["path"].astype(str).str.strip().str.replace("\\", "/", regex=False)
    dup = table["path"][table["path"].duplicated(keep=False)]
    if len(dup):
        shown = ", ".join(sorted(set(dup))[:5])
        raise InputError(
            f"manifest {name} lists {dup.nunique()} path(s) more than once (e.g. {shown}); "
            "each image must appear on one row"
        )
    table["split"] = table["split"].map(normalise_split)
    for col in ("label", "group"):
        table[col] = table[col].map(lambda v: None if v is None or pd.isna(v) else str(v))
    table = table[list(RESERVED) + [c for c in table.columns if c not in RESERVED]]
    return table.reset_index(drop=True)


def load_dataset(source: str | Path | pd.DataFrame, root: str | Path | None = None) -> Dataset:
    """Load a folder, a manifest file, or a DataFrame (with `root` for its relative paths)."""
    if isinstance(source, pd.DataFrame):
        base = Path(root) if root is not None else Path.cwd()
        return Dataset(root=base.resolve(), table=normalise_table(source, "DataFrame"),
                       source="dataframe")
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"dataset not found: {path}")
    if path.is_dir():
        return load_folder(path.resolve())
    if path.suffix.lower() not in MANIFEST_SUFFIXES:
        raise InputError(
            f"{path.name} is neither a folder nor a manifest (.csv, .tsv, .parquet, .jsonl, .json)"
        )
    return load_manifest(path.resolve())

