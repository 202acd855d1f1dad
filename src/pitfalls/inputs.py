"""Turn what the user has (a folder or a manifest) into one table: a row per image.

Columns: `path` (relative to the dataset root, POSIX), `label`, `split`, `group`, then any other
manifest columns as metadata. Every later stage reads this table, never the folder layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pitfalls.cachedir import default_cache_root
from pitfalls.errors import InputError
from pitfalls.listing import Listing, list_folder
from pitfalls.splits import SPLIT_ALIASES, normalise_split

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


def load_folder(root: Path, listing: Listing | None = None) -> Dataset:
    """Read `root/<split>/<class>/…` or `root/<class>/…` (hidden files and folders ignored);
    `listing`, when given, is `list_folder(root)` done already. A folder of Parquet or
    WebDataset shards (and no loose images) is read as those shards."""
    listing = listing or list_folder(root)
    files, skipped = listing.files, listing.skipped
    if not files:
        shards = load_shard_folder(root)
        if shards is not None:
            return shards
        raise InputError(f"no files found under {root} (hidden files and folders are ignored)")
    table = pd.DataFrame(layout_rows(files), columns=list(RESERVED))
    notes = [f"{skipped} non-image file(s) (documents, text) ignored"] if skipped else []
    return Dataset(root=root, table=table, source="folder", notes=notes)


def layout_rows(files: list[tuple[str, ...]]) -> list[dict[str, str | None]]:
    """Rows of files laid out as `<split>/<class>/…` or `<class>/…` (relative path parts)."""
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
    return rows


def load_shard_folder(root: Path) -> Dataset | None:
    """A folder of Parquet shards with image bytes, or of WebDataset `.tar` shards; None when it
    holds neither."""
    from pitfalls.shards import find_shards, is_image_shard, load_parquet_shards, load_tar_shards

    found = find_shards(root, (".parquet", ".pq"))
    parquet = [p for p in found if is_image_shard(p)]
    if found and not parquet and not find_shards(root, (".tar",)):
        raise InputError(f"{len(found)} Parquet file(s) under {root} but none holds images (a "
                         "binary column, or a struct with 'bytes'); to scan a manifest, give "
                         "its file rather than the folder")
    if parquet:
        return Dataset(root=root, table=normalise_table(load_parquet_shards(parquet, root),
                                                        root.name), source="parquet")
    tars = find_shards(root, (".tar",))
    if tars:
        return Dataset(root=root, table=normalise_table(load_tar_shards(tars, root), root.name),
                       source="webdataset")
    return None


def load_archive(path: Path) -> Dataset:
    """One Parquet shard, WebDataset shard or zip archive, its images read in place."""
    from pitfalls.shards import load_parquet_shards, load_tar_shards, load_zip

    root = path.parent
    suffix = path.suffix.lower()
    if suffix == ".tar":
        table = load_tar_shards([path], root)
        return Dataset(root=root, table=normalise_table(table, path.name), source="webdataset")
    if suffix == ".zip":
        files, members, skipped = load_zip(path)
        if not files:
            raise InputError(f"no images in {path.name}")
        rows = layout_rows(files)
        for row, member in zip(rows, members, strict=True):
            row["path"] = f"{path.name}#{member}"
        notes = [f"{skipped} non-image file(s) in {path.name} ignored"] if skipped else []
        return Dataset(root=root, table=normalise_table(pd.DataFrame(rows), path.name),
                       source="zip", notes=notes)
    return Dataset(root=root, table=normalise_table(load_parquet_shards([path], root), path.name),
                   source="parquet")


def load_sequence(items: object) -> Dataset:
    """A Python dataset: a torchvision `ImageFolder`, a `datasets.Dataset`, or any sequence of
    `(image or path, label)` pairs. Files are read where they are; images held in memory are
    written once into a Parquet shard in the cache folder (named by their content's hash)."""
    from pitfalls.shards import load_parquet_shards, sequence_table, write_sequence_shard

    files = sequence_table(items)
    if files is not None:
        root, table = files
        return Dataset(root=root, table=normalise_table(table, "sequence"), source="sequence")
    shard = write_sequence_shard(items, default_cache_root() / "sequences")
    return Dataset(root=shard.parent,
                   table=normalise_table(load_parquet_shards([shard], shard.parent), shard.name),
                   source="sequence")


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


def load_dataset(source: str | Path | pd.DataFrame | object, root: str | Path | None = None,
                 listing: Listing | None = None) -> Dataset:
    """Load a folder, a manifest file, a shard or archive, a DataFrame (with `root` for its
    relative paths) or a Python sequence of `(image or path, label)` pairs.
    `listing` is the folder's `list_folder` when it was listed already."""
    if isinstance(source, pd.DataFrame):
        base = Path(root) if root is not None else Path.cwd()
        return Dataset(root=base.resolve(), table=normalise_table(source, "DataFrame"),
                       source="dataframe")
    if not isinstance(source, str | os.PathLike):
        return load_sequence(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"dataset not found: {path}")
    if path.is_dir():
        root_path = path.resolve()
        return load_folder(root_path, listing if listing and listing.root == root_path else None)
    suffix = path.suffix.lower()
    if suffix in (".tar", ".zip"):
        return load_archive(path.resolve())
    if suffix in (".parquet", ".pq"):
        from pitfalls.shards import is_image_shard

        if is_image_shard(path):
            return load_archive(path.resolve())
    if suffix not in MANIFEST_SUFFIXES:
        raise InputError(
            f"{path.name} is neither a folder, a manifest (.csv, .tsv, .parquet, .jsonl, .json) "
            "nor a shard or archive (.parquet with images, .tar, .zip)"
        )
    return load_manifest(path.resolve())
