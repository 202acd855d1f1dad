"""Read one image's bytes wherever it is stored: a plain file, a row of a Parquet shard
(`shard.parquet#17`), a sample of a WebDataset tar (`shard.tar#key`) or a member of a zip
(`archive.zip#folder/a.jpg`). Nothing is unpacked to disk; open shards are remembered per process
and only the row group or member needed is read.

Light to import (standard library; pyarrow only when a Parquet shard is read): feature workers
use it before the command line has loaded pandas.
"""

from __future__ import annotations

import os
import re
import tarfile
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pitfalls.files import read_file, text_of

CONTAINER_SUFFIXES = (".parquet", ".pq", ".tar", ".zip")
EMBEDDED = re.compile(r"^(?P<shard>.+?\.(?:parquet|pq|tar|zip))#(?P<member>.+)$", re.IGNORECASE)
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "ppm", "pgm")
"""Sample members of a WebDataset shard that hold the image, in order of preference."""

MAX_MEMBER_BYTES = 1 << 30
"""Largest member read from a zip (its declared uncompressed size): a zip bomb is refused."""

_lock = threading.Lock()


@dataclass(frozen=True)
class Embedded:
    """Where an embedded image lives: its container file and its member (row number, sample
    key or member name)."""

    shard: Path
    member: str

    @property
    def kind(self) -> str:
        suffix = self.shard.suffix.lower()
        return {".pq": "parquet", ".parquet": "parquet", ".tar": "tar", ".zip": "zip"}[suffix]


def embedded(path: str | os.PathLike[str]) -> Embedded | None:
    """The container and member of `path` when it names an embedded image, else None.

    A real file whose name holds a `#` (`photo#1.jpg`, even `a.zip#b` on disk) stays a file.
    """
    text = os.fspath(path)
    if "#" not in text:
        return None
    match = EMBEDDED.match(text)
    if match is None or os.path.exists(text):
        return None
    return Embedded(Path(match["shard"]), match["member"])


def name_in_container(path: str) -> str:
    """The part of a dataset path that names the image itself: the member of an embedded
    image (a row number, a sample key, a zip member), else the path (no file system access)."""
    match = EMBEDDED.match(path)
    return match["member"] if match else path


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the image at `path`; raises `FileNotFoundError` / `OSError` as
    `Path.read_bytes` does (a missing member is a `FileNotFoundError`; a path that is not a
    regular file, `files.NotAFileError`)."""
    where = embedded(path)
    if where is None:
        return read_file(path)  # a regular file only: a FIFO or a device would block
    if not where.shard.is_file():
        raise FileNotFoundError(2, "no such shard", str(where.shard))
    try:
        if where.kind == "parquet":
            return _parquet_cell(where.shard, where.member)
        if where.kind == "tar":
            return _tar_member(where.shard, where.member)
        return _zip_member(where.shard, where.member)
    except (KeyError, IndexError, ValueError) as exc:
        raise FileNotFoundError(2, f"no {where.member!r} in {where.shard.name}: {exc}",
                                str(path)) from None
    except (tarfile.TarError, zipfile.BadZipFile) as exc:
        raise OSError(f"cannot read {where.shard.name}: {exc}") from None


def identity(path: str | os.PathLike[str]) -> str | None:
    """Identity of the content at `path` for the feature cache: absolute path, size and
    modification time of the file, or of the container for an embedded image (a shard that is
    rewritten changes every key in it); None when it cannot be read."""
    where = embedded(path)
    target = os.fspath(path) if where is None else str(where.shard)
    try:
        st = os.stat(target)
    except (OSError, ValueError):  # ValueError: an embedded NUL byte
        return None
    name = text_of(os.path.abspath(target)) + ("" if where is None else f"#{where.member}")
    return f"{name}|{st.st_size}|{st.st_mtime_ns}"


# -- Parquet ------------------------------------------------------------------------------------
def image_column(schema: Any) -> str | None:
    """The column holding image bytes: a struct with a binary `bytes` field (the Hugging Face
    `datasets` layout) or a plain binary column; `image`/`img` first when several qualify."""
    import pyarrow as pa

    found = []
    for field in schema:
        t = field.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            found.append(field.name)
        elif pa.types.is_struct(t):
            idx = t.get_field_index("bytes")
            if idx >= 0 and (pa.types.is_binary(t.field(idx).type)
                             or pa.types.is_large_binary(t.field(idx).type)):
                found.append(field.name)
    preferred = [n for n in found if n.lower() in ("image", "img", "jpg", "png", "picture")]
    return (preferred or found or [None])[0]


@lru_cache(maxsize=2)  # an open reader holds its last column chunks' buffers (~4 MiB each)
def _parquet(shard: Path, mtime_ns: int) -> tuple[Any, str, list[int]]:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(shard)
    column = image_column(file.schema_arrow)
    if column is None:
        raise ValueError("no image column (binary, or a struct with 'bytes')")
    starts, total = [], 0
    for i in range(file.metadata.num_row_groups):
        starts.append(total)
        total += file.metadata.row_group(i).num_rows
    starts.append(total)
    return file, column, starts


_GROUPS: OrderedDict[tuple[str, int, int], list[Any]] = OrderedDict()
_GROUPS_KEPT = 2  # row groups kept per process: consecutive rows hit the same group


def _parquet_cell(shard: Path, member: str) -> bytes:
    import bisect

    row = int(member)
    file, column, starts = _parquet(shard, shard.stat().st_mtime_ns)
    if not 0 <= row < starts[-1]:
        raise IndexError(f"row {row} of {starts[-1]}")
    group = bisect.bisect_right(starts, row) - 1
    key = (str(shard), shard.stat().st_mtime_ns, group)
    with _lock:
        values = _GROUPS.get(key)
        if values is not None:
            _GROUPS.move_to_end(key)
    if values is None:
        values = file.read_row_group(group, columns=[column]).column(0).to_pylist()
        with _lock:
            _GROUPS[key] = values
            while len(_GROUPS) > _GROUPS_KEPT:
                _GROUPS.popitem(last=False)
    value = values[row - starts[group]]
    data = value.get("bytes") if isinstance(value, dict) else value
    if data is None:
        # The `datasets` layout may hold only a path to a file beside the shard.
        ref = value.get("path") if isinstance(value, dict) else None
        if ref:
            return read_file(shard.parent / ref)
        raise ValueError(f"row {row} has no image bytes")
    return bytes(data)


# -- WebDataset tar -----------------------------------------------------------------------------
def sample_key(member: str) -> tuple[str, str]:
    """WebDataset's split of a member name into the sample key and the extension: the key is
    everything before the first dot of the file name (folders included)."""
    folder, _, name = member.rpartition("/")
    stem, _, ext = name.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


@lru_cache(maxsize=32)
def tar_index(shard: Path, mtime_ns: int) -> dict[str, dict[str, tuple[int, int]]]:
    """Sample key → {extension: (offset, size)} of a tar's members, from its headers alone."""
    index: dict[str, dict[str, tuple[int, int]]] = {}
    with tarfile.open(shard, mode="r:") as tar:
        for info in tar:
            if not info.isfile():
                continue
            key, ext = sample_key(info.name)
            index.setdefault(key, {})[ext] = (info.offset_data, info.size)
    return index


def image_member(members: dict[str, tuple[int, int]]) -> str | None:
    """The extension of a sample's image member."""
    for ext in IMAGE_EXTENSIONS:
        if ext in members:
            return ext
    return None


def read_tar_range(shard: Path, where: tuple[int, int]) -> bytes:
    offset, size = where
    with shard.open("rb") as fh:
        fh.seek(offset)
        data = fh.read(size)
    if len(data) != size:
        raise OSError(f"{shard.name} is truncated")
    return data


def _tar_member(shard: Path, key: str) -> bytes:
    members = tar_index(shard, shard.stat().st_mtime_ns)[key]
    ext = image_member(members)
    if ext is None:
        raise KeyError(f"sample {key!r} has no image")
    return read_tar_range(shard, members[ext])


# -- zip ----------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _zip(shard: Path, mtime_ns: int) -> zipfile.ZipFile:
    return zipfile.ZipFile(shard)


def _zip_member(shard: Path, member: str) -> bytes:
    archive = _zip(shard, shard.stat().st_mtime_ns)
    with _lock:  # one file handle per archive, shared by threads
        info = archive.getinfo(member)
        if info.file_size > MAX_MEMBER_BYTES:
            raise OSError(f"{member} in {shard.name} unpacks to {info.file_size:,} bytes "
                          f"(more than {MAX_MEMBER_BYTES:,}): not read")
        return archive.read(info)
