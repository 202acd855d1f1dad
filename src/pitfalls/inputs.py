"""Turn what the user has (a folder or a manifest) into one table: a row per image.

Columns: `path` (relative to the dataset root, POSIX), `label`, `split`, `group`, then any other
manifest columns as metadata. Every later stage reads this table, never the folder layout.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pitfalls.cachedir import default_cache_root
from pitfalls.errors import InputError
from pitfalls.files import PIPE_TIMEOUT, read_file, text_of
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
    unlisted: list[dict[str, str]] = field(default_factory=list)
    """Folders that could not be listed (`path`, `reason`): their images are not in the table."""
    listed_twice: list[dict[str, Any]] = field(default_factory=list)
    """Manifest rows that named a file already listed under another spelling (`paths`, `kept`)."""
    fs_names: dict[str, str] = field(default_factory=dict)
    """Table path -> name on disk, for file names that are not valid UTF-8 (shown escaped)."""

    @property
    def meta_columns(self) -> list[str]:
        """Columns other than path/label/split/group: user metadata."""
        return [c for c in self.table.columns if c not in RESERVED]

    def abs_path(self, rel: str) -> Path:
        return self.root / self.fs_names.get(rel, rel)

    def __len__(self) -> int:
        return len(self.table)


def load_folder(root: Path, listing: Listing | None = None) -> Dataset:
    """Read `root/<split>/<class>/…` or `root/<class>/…` (hidden files and folders ignored);
    `listing`, when given, is `list_folder(root)` done already. A folder of Parquet or
    WebDataset shards (and no loose images) is read as those shards."""
    if listing is None:
        try:
            listing = list_folder(root)
        except OSError as exc:
            raise InputError(f"cannot list the folder {root}: {exc.strerror or exc}") from None
    files, skipped = listing.files, listing.skipped
    unlisted = [{"path": p, "reason": r} for p, r in listing.unlisted]
    if not files:
        shards = load_shard_folder(root)
        if shards is not None:
            return shards
        why = (f"; {len(unlisted)} folder(s) could not be listed: " + ", ".join(
            f"{u['path']} ({u['reason']})" for u in unlisted[:5])) if unlisted else ""
        raise InputError(f"no files found under {root} (hidden files and folders are ignored)"
                         + why)
    table = pd.DataFrame(layout_rows(files), columns=list(RESERVED))
    fs_names = {"/".join(map(text_of, parts)): "/".join(parts) for parts in files
                if not all(map(str.isascii, parts)) and any(text_of(p) != p for p in parts)}
    notes = [f"{skipped} non-image file(s) (documents, text) ignored"] if skipped else []
    if fs_names:
        notes.append(f"{len(fs_names)} file or folder name(s) are not valid UTF-8 and are shown "
                     "with \\x escapes (e.g. " + ", ".join(list(fs_names)[:3]) + "); rename them "
                     "so that other tools can read them")
    if unlisted:
        notes.append(f"{len(unlisted)} folder(s) could not be listed and their images are NOT in "
                     "this scan: " + ", ".join(f"{u['path']} ({u['reason']})"
                                               for u in unlisted[:5]))
    return Dataset(root=root, table=table, source="folder", notes=notes, unlisted=unlisted,
                   fs_names=fs_names)


def layout_rows(files: list[tuple[str, ...]]) -> list[dict[str, str | None]]:
    """Rows of files laid out as `<split>/<class>/…` or `<class>/…` (relative path parts); a
    name that is not valid UTF-8 is shown with `\\xNN` escapes."""
    top_dirs = {parts[0] for parts in files if len(parts) > 1}
    by_split = bool(top_dirs) and any(d.lower() in SPLIT_ALIASES for d in top_dirs)
    rows = []
    for parts in files:
        split = label = None
        shown = tuple(text_of(p) for p in parts)
        rest = shown
        if by_split and len(shown) > 1 and shown[0].lower() in SPLIT_ALIASES:
            split, rest = normalise_split(shown[0]), shown[1:]
        if len(rest) > 1:
            label = rest[0]
        rows.append({"path": "/".join(shown), "label": label, "split": split, "group": None})
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


def load_sequence(items: Any) -> Dataset:
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


ENCODINGS = ("utf-8-sig", "cp932", "latin-1")
"""Text encodings a CSV is tried in, in order: UTF-8 (with or without Excel's BOM), Japanese
Windows (Shift-JIS), then Latin-1 (which reads any bytes: the last resort)."""

SEPARATORS = (",", ";", "\t", "|")


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV/TSV, Parquet or JSON Lines file into a DataFrame, with clear errors."""
    return read_table_noting(path)[0]


def read_table_noting(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """`read_table`, with notes on what had to be guessed (a CSV's encoding or separator).

    Only regular files are read (a pipe is read if it sends data within `PIPE_TIMEOUT`
    seconds), so a manifest that is a FIFO or a device never hangs the scan.
    """
    suffix = path.suffix.lower()
    try:
        data = read_file(path, pipe_timeout=PIPE_TIMEOUT)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot read {path.name}: {reason}") from None
    notes: list[str] = []
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(io.BytesIO(data)), notes
        if suffix in (".jsonl", ".ndjson", ".json"):
            text = data.decode("utf-8-sig")
            return pd.read_json(io.StringIO(text), lines=suffix != ".json", dtype=False), notes
        text, encoding = _decode_text(data)
        sep, skip = _separator(text, "\t" if suffix == ".tsv" else ",")
        if encoding != "utf-8-sig":
            notes.append(f"{path.name} is not UTF-8: read as {ENCODING_NAMES[encoding]}; save it "
                         "as UTF-8 to be sure of every character")
        if sep != ("\t" if suffix == ".tsv" else ","):
            notes.append(f"{path.name} is separated by {sep!r}, not commas: read as such")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=True,
                                skiprows=skip, index_col=False)  # never a path as the index
        if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
            notes.append(f"{path.name}: some rows have more fields than the header has columns; "
                         "the extra fields were ignored")
        return table, notes
    except Exception as exc:
        raise InputError(f"cannot read {path.name} as a {suffix or 'CSV'} table: {exc}") from None


ENCODING_NAMES = {"utf-8-sig": "UTF-8", "cp932": "cp932 (Shift-JIS)", "latin-1": "Latin-1"}


def _decode_text(data: bytes) -> tuple[str, str]:
    """The text of a CSV and the first of `ENCODINGS` that reads it without error."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _separator(text: str, default: str) -> tuple[str, int]:
    """The separator of a CSV and how many lines precede its header: Excel's `sep=;` line if
    there is one, else the first of the default and `SEPARATORS` that splits the header into
    a `path` column, else the one the header holds most of (the default on a tie)."""
    first = text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    if first.lower().startswith("sep=") and len(first) == 5:
        return first[4], 1
    for sep in (default, *SEPARATORS):
        if any(c.strip().strip('"').strip().lower() == "path" for c in first.split(sep)):
            return sep, 0
    counts = {sep: first.count(sep) for sep in (default, *SEPARATORS)}
    best = max(counts, key=lambda k: counts[k])
    return (best if counts[best] > counts[default] else default), 0


def load_manifest(path: Path, allow_outside_root: bool = False) -> Dataset:
    """Read a manifest with a `path` column (relative to the manifest) and optional columns.

    Paths that lead outside the manifest's folder (absolute, or through `..`) are refused unless
    `allow_outside_root`: a shared report embeds a thumbnail of every file it names. A file
    named twice under different spellings (`a.jpg`, `./a.jpg`) is kept once and noted.
    """
    raw, notes = read_table_noting(path)
    table = normalise_table(raw, path.name)
    if table.empty:
        raise InputError(f"manifest {path.name} lists no images (a header and no rows); "
                         "add one row per image")
    root = path.parent
    forms, outside = _normal_forms(table["path"], root)
    if outside and not allow_outside_root:
        _refuse(outside, root, path.name)
    table, twice = _listed_twice(table, forms, root, path.name)
    if twice:
        notes.append(f"{len(twice)} file(s) listed twice under different spellings, kept once: "
                     + ", ".join(" = ".join(map(repr, t["paths"])) for t in twice[:3]))
    return Dataset(root=root, table=table, source="manifest", notes=notes, listed_twice=twice)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _entry(root: str, rel: str) -> str:
    """The absolute path of the directory entry that `rel` names under `root`, as far as its
    spelling goes: `.` and doubled slashes dropped; a path through `..` resolved as the system
    does (symbolic links first), since `link/../x` is not `x` when `link` leads elsewhere."""
    full = os.path.join(root, rel)
    if ".." not in rel.split("/"):
        return os.path.normpath(full)
    head, tail = os.path.split(os.path.normpath(full) if rel.endswith("..") else full)
    return os.path.realpath(full) if tail in ("", ".", "..") else os.path.join(
        os.path.realpath(head), tail)


ODD_SPELLING = r"(?:^|/)\.{1,2}(?:/|$)|//|/$|^/|^[A-Za-z]:/"
"""A path with `.` or `..` components, doubled or trailing slashes, or absolute: its entry is
worked out one by one (`_entry`); every other path is its own normal form, inside the root."""


def _normal_forms(paths: pd.Series, root: Path) -> tuple[pd.Series, list[tuple[int, str]]]:
    """Each path's normal form (relative to `root` when it stays below it, else absolute; see
    `_entry`) and the (line, path) of those that lead outside `root` (an absolute path reached
    through a link to `root` is inside)."""
    base = str(root)
    forms = paths.copy()
    outside = []
    for i in np.flatnonzero(paths.str.contains(ODD_SPELLING, regex=True).to_numpy()).tolist():
        rel = str(paths.iat[i])
        entry = _entry(base, rel)
        if _inside(entry, base):
            forms.iat[i] = os.path.relpath(entry, base)
        else:
            forms.iat[i] = entry
            if not _inside(os.path.realpath(os.path.dirname(entry)), os.path.realpath(base)):
                outside.append((i + 2, rel))
    return forms, outside


def _refuse(outside: list[tuple[int, str]], root: Path, name: str) -> None:
    shown = ", ".join(f"line {n}: {text_of(rel)!r}" for n, rel in outside[:5])
    raise InputError(
        f"manifest {name} names {len(outside)} file(s) outside its folder {root} ({shown}); "
        "paths must be relative to the manifest and stay below it. If that is intended, "
        "pass --allow-outside-root (or allow_outside_root=True, or allow-outside-root = true "
        "in the configuration)")


def _listed_twice(table: pd.DataFrame, forms: pd.Series, root: Path, name: str,
                  ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Keep one row per file where the manifest spells the same entry twice (`a.jpg`, `./a.jpg`,
    or case only on a disk that ignores case; `forms` from `_normal_forms`) with the same label,
    split and group; two spellings with different labels are an `InputError`. Different files
    with the same content (links, copies) stay: they are duplicates, which the duplicate and
    leakage rules are there to report."""
    same = forms.str.lower()
    twice: list[dict[str, Any]] = []
    drop: list[int] = []
    candidates = same[same.duplicated(keep=False)]  # the rare rows worth a closer look
    for rows in candidates.groupby(candidates).groups.values():
        for members in _same_files([int(r) for r in rows], forms, root):
            if len(members) < 2:
                continue
            info = table.loc[members, ["label", "split", "group"]].astype(str)
            if len(info.drop_duplicates()) > 1:
                shown = ", ".join(f"line {m + 2}: {table['path'][m]!r}" for m in members[:4])
                raise InputError(
                    f"manifest {name} lists the same file on {len(members)} rows with different "
                    f"label, split or group ({shown}); each image must appear on one row")
            twice.append({"paths": [table["path"][m] for m in members],
                          "kept": table["path"][members[0]]})
            drop.extend(members[1:])
    if drop:
        table = table.drop(index=drop).reset_index(drop=True)
    return table, twice


def _same_files(rows: list[int], forms: pd.Series, root: Path) -> list[list[int]]:
    """`rows` (whose normal forms agree but for letter case) grouped by the directory entry they
    name: the same form, or one that differs in case on a disk that ignores it (same inode)."""
    groups: dict[object, list[int]] = {}
    spelt = {r: str(forms.iat[r]) for r in rows}
    for r in rows:
        ident: object = spelt[r]
        if any(spelt[o] != spelt[r] for o in rows):
            try:
                st = os.stat(os.path.join(root, spelt[r]))
                ident = (st.st_dev, st.st_ino, os.path.basename(spelt[r]).lower())
            except (OSError, ValueError):
                pass
        groups.setdefault(ident, []).append(r)
    return list(groups.values())


def normalise_table(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Validate a manifest-like table and bring it to the canonical columns."""
    table = table.reset_index(drop=True)  # positions, for line numbers in messages
    table.columns = [str(c).strip() for c in table.columns]
    lower = {c.lower(): c for c in table.columns}
    for col in RESERVED:
        same = [c for c in table.columns if c.lower() == col]
        if len(same) > 1:
            raise InputError(f"manifest {name} has {len(same)} columns named {col!r} "
                             f"({', '.join(map(repr, same))}); keep one")
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
                 listing: Listing | None = None, allow_outside_root: bool = False) -> Dataset:
    """Load a folder, a manifest file, a shard or archive, a DataFrame (with `root` for its
    relative paths) or a Python sequence of `(image or path, label)` pairs.
    `listing` is the folder's `list_folder` when it was listed already; `allow_outside_root`
    lets a manifest name files outside its own folder."""
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
    return load_manifest(path.resolve(), allow_outside_root=allow_outside_root)
