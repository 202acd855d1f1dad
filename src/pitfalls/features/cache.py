"""A Parquet cache of per-image features keyed by file identity (path, size, mtime).

Computed rows are written as part files of a few hundred rows (`buffered`; uncompressed, without
statistics: a part is written once and read whole), so an interrupted scan keeps what it wrote and
resumes from there; once a pass leaves more than `MAX_PARTS` parts they are compacted into one.
The cache lives in a local folder or at any fsspec URL (`s3://…`, `gs://…`, `memory://…`).
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pitfalls.errors import InputError
from pitfalls.features.keys import KEY, cache_location, default_cache_root, file_key

__all__ = ["KEY", "BufferedWriter", "FeatureCache", "default_cache_root", "file_key"]

log = logging.getLogger(__name__)

MAX_PARTS = 32
"""Parts kept before `compact` merges them (reading a few dozen small files costs little)."""


class FeatureCache:
    """Feature rows stored as Parquet parts, one folder per (dataset, feature version, embedder).

    Nothing it holds is dropped on a mere I/O error: a part that cannot be read now is kept for
    the next scan, and parts are removed by `compact` only once their merged copy is written. A
    part whose bytes were read but do not parse is moved to `corrupt/` and named. What went
    wrong is logged and kept in `problems` (the scan puts it among the report's notes).
    """

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = None if directory is None else str(directory)
        self.enabled = directory is not None
        self.fs = None
        self.problems: list[str] = []
        if self.directory is not None:
            import fsspec

            try:
                self.fs, self.directory = fsspec.core.url_to_fs(self.directory)
            except (ImportError, ValueError) as exc:  # s3:// without s3fs, an unknown scheme
                raise InputError(
                    f"cannot use the feature cache {directory}: {exc}. Install the package "
                    "its URL needs (e.g. pip install s3fs for s3://), give a local folder, or "
                    "pass --no-cache") from None
            try:
                self.fs.makedirs(self.directory, exist_ok=True)
            except OSError as exc:
                self.enabled = False
                self._problem(f"feature cache {directory} cannot be created "
                              f"({exc.strerror or exc}): the scan runs without a cache, and "
                              "every image is computed again next time")

    @classmethod
    def for_dataset(cls, root: Path, version: int, embedder: str,
                    base: str | Path | None = None) -> FeatureCache:
        return cls(cache_location(root, version, embedder, base))

    def _problem(self, message: str) -> None:
        log.warning("%s", message)
        self.problems.append(message)

    def _parts(self) -> list[str]:
        if not self.enabled or self.fs is None:
            return []
        try:
            return sorted(self.fs.glob(f"{self.directory}/part-*.parquet"))
        except OSError as exc:
            self._problem(f"feature cache {self.directory} cannot be listed "
                          f"({exc.strerror or exc}): its rows are computed again")
            return []

    @property
    def _store(self) -> Any:
        """The open cache's file system (`fsspec`, untyped); reached only once `_parts` or
        `write` found one."""
        if self.fs is None:
            raise RuntimeError(f"feature cache {self.directory} is not open")
        return self.fs

    def _remove(self, part: str) -> None:
        try:
            self._store.rm(part)
        except FileNotFoundError:
            pass
        except OSError as exc:  # left behind: it is read again (its rows are still valid)
            log.warning("cannot remove cache file %s: %s", part, exc)

    def _read(self, part: str) -> pd.DataFrame | None:
        """One part's rows; None when it cannot be read (kept) or is corrupt (quarantined)."""
        try:
            with self._store.open(part, "rb") as fh:
                data = fh.read()
        except OSError as exc:  # perhaps transient (network, permissions): keep it
            self._problem(f"cache part {part} cannot be read now ({exc.strerror or exc}); "
                          "kept, its rows are computed again this time")
            return None
        try:
            frame = pq.read_table(pa.BufferReader(data)).to_pandas()
            if KEY not in frame.columns:
                raise ValueError(f"no {KEY!r} column")
        except MemoryError:
            raise
        except Exception as exc:  # the whole file was read and does not parse: corrupt
            self._quarantine(part, exc)
            return None
        return frame

    def _quarantine(self, part: str, exc: Exception) -> None:
        where = f"{self.directory}/corrupt/{part.rsplit('/', 1)[-1]}"
        try:
            self._store.makedirs(f"{self.directory}/corrupt", exist_ok=True)
            self._store.mv(part, where)
        except OSError as move_exc:
            log.warning("cannot move corrupt cache part %s aside: %s", part, move_exc)
            where = part
        self._problem(f"cache part {part} is corrupt ({type(exc).__name__}: {exc}); moved to "
                      f"{where}, its rows are computed again")

    def load(self, keys: set[str] | None = None) -> pd.DataFrame:
        """All cached rows (the latest per key), optionally only those whose key is in `keys`."""
        return self._load(self._parts(), keys)[0]

    def _load(self, parts: list[str], keys: set[str] | None = None,
              ) -> tuple[pd.DataFrame, list[str]]:
        """The rows of `parts` and the parts that were read."""
        frames, read = [], []
        for part in parts:
            frame = self._read(part)
            if frame is None:
                continue
            read.append(part)
            if keys is not None:
                frame = frame[frame[KEY].isin(keys)]
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=[KEY]), read
        out = pd.concat(frames, ignore_index=True)
        return out.drop_duplicates(KEY, keep="last").reset_index(drop=True), read

    def append(self, rows: pd.DataFrame, compress: bool = False) -> bool:
        """Write one part atomically (temporary name, then rename); names sort by time.
        Returns whether it was written (a failure is logged and noted, never raised)."""
        if not self.enabled or self.fs is None or rows.empty:
            return False
        name = f"{self.directory}/part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = name + ".tmp"
        try:
            with self.fs.open(tmp, "wb") as fh:
                options = {} if compress else {"compression": "none", "use_dictionary": False,
                                               "write_statistics": False}
                pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), fh, **options)
            self.fs.mv(tmp, name)
        except OSError as exc:  # a full disk, a lost connection: these rows are not cached
            self._remove(tmp)
            self._problem(f"cannot write to the feature cache {self.directory} "
                          f"({exc.strerror or exc}): {len(rows)} row(s) not cached")
            return False
        return True

    def buffered(self, rows: int = 512, seconds: float = 5.0) -> BufferedWriter:
        """A writer that gathers rows into parts of about `rows` rows (or `seconds` of work)."""
        return BufferedWriter(self, rows, seconds)

    def compact(self, max_parts: int = MAX_PARTS) -> None:
        """Merge all parts into one file when there are more than `max_parts`. A part is
        removed only when the merged file holding its rows was written."""
        parts = self._parts()
        if len(parts) <= max(max_parts, 1):
            return
        merged, read = self._load(parts)
        if not read or not self.append(merged, compress=True):
            return  # nothing merged: every part stays as it was
        for part in read:
            self._remove(part)


class BufferedWriter:
    """Gathers feature rows and writes them as one part per `rows` rows or `seconds` seconds.

    Each part costs a fixed overhead per column (about 70 columns), so writing every 128-image
    chunk as its own part cost the driver a tenth of the scan; an interrupted scan loses at most
    the unwritten buffer (the rest of it is written when the scan stops with an exception).
    Use as a context manager: leaving it writes what is left.
    """

    def __init__(self, cache: FeatureCache, rows: int, seconds: float) -> None:
        self.cache, self.rows, self.seconds = cache, rows, seconds
        self._pending: list[pd.DataFrame] = []
        self._n = 0
        self._since = time.monotonic()

    def add(self, frame: pd.DataFrame) -> None:
        if not self.cache.enabled or frame.empty:
            return
        self._pending.append(frame)
        self._n += len(frame)
        if self._n >= self.rows or time.monotonic() - self._since >= self.seconds:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.cache.append(pd.concat(self._pending, ignore_index=True)
                              if len(self._pending) > 1 else self._pending[0])
        self._pending, self._n, self._since = [], 0, time.monotonic()

    def __enter__(self) -> BufferedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
