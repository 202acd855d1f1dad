"""Datasets whose images are stored inside other files, turned into the one input table:
Parquet shards with image bytes in a column (the Hugging Face `datasets` layout), WebDataset
`.tar` shards, zip archives, and in Python any sequence of `(image or path, label)` pairs
(a torchvision `ImageFolder`, a `datasets.Dataset`). Paths in the table are `shard#row`,
`shard#key` or `archive.zip#member`; `pitfalls.sources` reads them without unpacking anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pitfalls.errors import InputError
from pitfalls.listing import JUNK_NAMES, NOT_IMAGE_SUFFIXES
from pitfalls.sources import (
    image_column,
    image_member,
    read_tar_range,
    tar_index,
)
from pitfalls.splits import SPLIT_ALIASES, normalise_split

LABEL_KEYS = ("label", "labels", "class", "cls", "category")
"""Keys of a WebDataset sample's `.json` that hold its label."""


def _split_of(shard: Path, root: Path) -> str | None:
    """The split a shard's name or folder says: `train-00000-of-00004.parquet`, `test.tar`,
    `data/validation/0001.parquet`."""
    head = shard.name.split(".")[0].split("-")[0].split("_")[0].lower()
    if head in SPLIT_ALIASES:
        return normalise_split(head)
    for part in reversed(shard.relative_to(root).parent.parts):
        if part.lower() in SPLIT_ALIASES:
            return normalise_split(part)
    return None


def _rel(shard: Path, root: Path) -> str:
    return shard.relative_to(root).as_posix()


def find_shards(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Shard files under `folder` (hidden folders and files left out), sorted."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if any(p.startswith((".", "__")) for p in rel) or not path.is_file():
            continue
        if path.suffix.lower() in suffixes:
            found.append(path)
    return found


# -- Parquet ------------------------------------------------------------------------------------
def is_image_shard(path: Path) -> bool:
    """Whether a Parquet file holds image bytes (a shard) rather than paths (a manifest)."""
    import pyarrow.parquet as pq

    try:
        return image_column(pq.read_schema(path)) is not None
    except Exception as exc:  # noqa: BLE001  unreadable: read_table reports it as a manifest
        raise InputError(f"cannot read {path.name} as Parquet: {exc}") from None


def _class_names(schema: Any, column: str) -> list[str] | None:
    """The class names the `datasets` library stores for an integer label column."""
    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return None
    try:
        features = json.loads(meta).get("info", {}).get("features", {})
    except ValueError:
        return None
    spec = features.get(column) or {}
    names = spec.get("names")
    return [str(n) for n in names] if isinstance(names, list) else None


def load_parquet_shards(shards: list[Path], root: Path) -> pd.DataFrame:
    """The input table of Parquet shards: one row per image, every column but the image one
    read as label, split, group and metadata. Image bytes are not read here."""
    import pyarrow.parquet as pq

    frames = []
    for shard in shards:
        schema = pq.read_schema(shard)
        column = image_column(schema)
        if column is None:
            raise InputError(f"{_rel(shard, root)} has no image column (binary, or a struct "
                             "with 'bytes' as the `datasets` library writes)")
        others = [n for n in schema.names if n != column]
        table = pq.read_table(shard, columns=others).to_pandas() if others else \
            pd.DataFrame(index=range(pq.ParquetFile(shard).metadata.num_rows))
        for name in others:
            names = _class_names(schema, name)
            if names is not None and pd.api.types.is_integer_dtype(table[name]):
                table[name] = table[name].map(
                    lambda v, n=names: n[v] if 0 <= v < len(n) else str(v))
        table.columns = [str(c) for c in table.columns]
        if "path" in {c.lower() for c in table.columns}:  # a column of the data, not ours
            table = table.rename(columns={c: f"{c}_column" for c in table.columns
                                          if c.lower() == "path"})
        table.insert(0, "path", [f"{_rel(shard, root)}#{i}" for i in range(len(table))])
        if "split" not in {c.lower() for c in table.columns}:
            table["split"] = _split_of(shard, root)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["path"])


# -- WebDataset ---------------------------------------------------------------------------------
def _sample_fields(shard: Path, members: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """Label and metadata of one WebDataset sample from its `.cls`, `.txt` or `.json`."""
    fields: dict[str, Any] = {}
    if "json" in members:
        try:
            meta = json.loads(read_tar_range(shard, members["json"]))
        except ValueError:
            meta = None
        if isinstance(meta, dict):
            for key, value in meta.items():
                if isinstance(value, str | int | float | bool) or value is None:
                    fields["label" if key.lower() in LABEL_KEYS else key] = value
        elif isinstance(meta, str | int):
            fields["label"] = meta
    for ext in ("cls", "txt"):
        if ext in members and "label" not in fields:
            fields["label"] = read_tar_range(shard, members[ext]).decode("utf-8", "replace").strip()
    if "label" in fields and fields["label"] is not None:
        fields["label"] = str(fields["label"])
    return fields


def load_tar_shards(shards: list[Path], root: Path) -> pd.DataFrame:
    """The input table of WebDataset shards: a row per sample that has an image member."""
    rows = []
    for shard in shards:
        try:
            index = tar_index(shard, shard.stat().st_mtime_ns)
        except (tarfile.TarError, OSError) as exc:
            raise InputError(f"cannot read {_rel(shard, root)} as a tar archive: {exc}") from None
        split = _split_of(shard, root)
        for key, members in index.items():
            if image_member(members) is None:
                continue
            row = {"path": f"{_rel(shard, root)}#{key}", "split": split}
            row.update(_sample_fields(shard, members))
            rows.append(row)
    if not rows:
        raise InputError("no image samples (key.jpg, key.png, …) in the tar shards under "
                         f"{root}")
    return pd.DataFrame(rows)


# -- zip ----------------------------------------------------------------------------------------
def load_zip(archive: Path) -> tuple[list[tuple[str, ...]], list[str], int]:
    """The image members of a zip as path parts (a single top folder stripped, for the
    `<split>/<class>/` layout), their member names, and how many other files it holds."""
    try:
        with zipfile.ZipFile(archive) as z:
            names = [i.filename for i in z.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"cannot read {archive.name} as a zip archive: {exc}") from None
    keep, skipped = [], 0
    for name in sorted(names):
        parts = tuple(p for p in name.split("/") if p)
        if not parts or any(p.startswith((".", "__")) for p in parts) \
                or parts[-1].lower() in JUNK_NAMES:
            continue
        if Path(parts[-1]).suffix.lower() in NOT_IMAGE_SUFFIXES:
            skipped += 1
            continue
        keep.append((parts, name))
    tops = {parts[0] for parts, _ in keep if len(parts) > 1}
    strip = len(tops) == 1 and all(len(parts) > 1 for parts, _ in keep)
    files = [parts[1:] if strip else parts for parts, _ in keep]
    return files, [name for _, name in keep], skipped


# -- Python sequences ---------------------------------------------------------------------------
def _encode(image: Any) -> bytes:
    """Bytes of one image given as a path, bytes, a PIL image or an array."""
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    if isinstance(image, str | os.PathLike):
        return Path(image).read_bytes()
    if isinstance(image, dict) and ("bytes" in image or "path" in image):
        return bytes(image["bytes"]) if image.get("bytes") else Path(image["path"]).read_bytes()
    from PIL import Image

    if not isinstance(image, Image.Image):
        import numpy as np

        array = np.asarray(image)
        if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3, 4):
            array = array.transpose(1, 2, 0)  # a channels-first tensor
        if array.dtype != np.uint8:
            scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
            array = np.clip(array * scale, 0, 255).astype(np.uint8)
        image = Image.fromarray(array.squeeze())
    source = getattr(image, "filename", "")
    if source and Path(source).is_file():
        return Path(source).read_bytes()  # opened from a file: its bytes, as they are
    buf = io.BytesIO()
    if image.format == "JPEG" and getattr(image, "quantization", None):
        image.save(buf, format="JPEG", quality="keep")  # keep its compression as it is
    else:
        image.save(buf, format="PNG")
    return buf.getvalue()


def _pairs(items: Any) -> Iterator[tuple[Any, Any]]:
    """`(image, label)` pairs of a sequence, or of a `datasets.Dataset` (its image and label
    columns, undecoded where the library allows it)."""
    features = getattr(items, "features", None)
    if features is not None and hasattr(items, "column_names"):
        image_col = next((c for c, f in features.items() if type(f).__name__ == "Image"), None)
        if image_col is None:
            raise InputError("the dataset has no Image column")
        label_col = "label" if "label" in items.column_names else None
        names = getattr(features.get(label_col), "names", None) if label_col else None
        try:  # the encoded bytes as stored, not decoded PIL images
            from datasets import Image as ImageFeature

            items = items.cast_column(image_col, ImageFeature(decode=False))
        except Exception as exc:  # noqa: BLE001  older `datasets`: decode and re-encode
            import logging

            logging.getLogger("pitfalls").debug("datasets cast failed (%s): decoding", exc)
        for row in items:
            label = row.get(label_col) if label_col else None
            yield row[image_col], (names[label] if names and isinstance(label, int) else label)
        return
    for entry in items:
        if isinstance(entry, tuple | list) and len(entry) == 2:
            yield entry[0], entry[1]
        else:
            yield entry, None


def sequence_table(items: Any) -> tuple[Path, pd.DataFrame] | None:
    """A torchvision `ImageFolder`-like dataset (`samples` of (path, class index) and
    `classes`) or a sequence of (path, label) pairs whose images are files: the table of those
    files, relative to their common folder. None when the images are not all files."""
    samples = getattr(items, "samples", None)
    classes = getattr(items, "classes", None)
    if isinstance(samples, list) and isinstance(classes, list | tuple):
        pairs = [(Path(p), classes[i] if isinstance(i, int) and 0 <= i < len(classes) else i)
                 for p, i in samples]
    elif isinstance(items, Sequence) and not isinstance(items, str | bytes) and all(
            isinstance(e, tuple | list) and len(e) == 2 and isinstance(e[0], str | os.PathLike)
            for e in items):
        pairs = [(Path(p), label) for p, label in items]
    else:
        return None
    if not pairs:
        raise InputError("the dataset is empty")
    absolute = [p.expanduser().absolute() for p, _ in pairs]
    root = Path(os.path.commonpath([str(p.parent) for p in absolute]))
    table = pd.DataFrame({"path": [p.relative_to(root).as_posix() for p in absolute],
                          "label": [None if lab is None else str(lab) for _, lab in pairs]})
    return root, table


def write_sequence_shard(items: Iterable[Any], folder: Path, rows_per_group: int = 256) -> Path:
    """Write `(image, label)` pairs into one Parquet shard in `folder`, streamed a row group at a
    time, named by its content's hash so that the same data is written (and cached) once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("label", pa.string())])
    digest = hashlib.blake2b(digest_size=8)
    tmp = folder / f".sequence-{os.getpid()}.parquet.tmp"
    n = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        batch: list[tuple[bytes, Any]] = []

        def flush() -> None:
            writer.write_table(pa.table({
                "image": [{"bytes": b, "path": None} for b, _ in batch],
                "label": [None if lab is None else str(lab) for _, lab in batch]}, schema=schema))
            batch.clear()

        for image, label in _pairs(items):
            try:
                data = _encode(image)
            except (OSError, ValueError, TypeError) as exc:
                tmp.unlink(missing_ok=True)
                raise InputError(f"item {n}: cannot read its image: {exc}") from None
            digest.update(data)
            digest.update(b"\0" + str(label).encode() + b"\0")
            batch.append((data, label))
            n += 1
            if len(batch) >= rows_per_group:
                flush()
        if batch:
            flush()
    if n == 0:
        tmp.unlink(missing_ok=True)
        raise InputError("the dataset is empty")
    final = folder / f"sequence-{digest.hexdigest()}.parquet"
    if final.exists():
        tmp.unlink()  # the same data as before: keep the old file, and its cached features
    else:
        tmp.replace(final)
    return final
