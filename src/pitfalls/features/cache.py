"""A Parquet cache of per-image features keyed by file identity (path, size, mtime).

Computed rows are written as part files of a few hundred rows (`buffered`; uncompressed, without
statistics: a part is written once and read whole), so an interrupted scan keeps what it wrote and
resumes from there; once a pass leaves more than `MAX_PARTS` parts they are compacted into one.
The cache lives in a local folder or at any fsspec URL (`s3://…`, `gs://…`, `memory://…`).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pitfalls.features.keys import KEY, cache_location, default_cache_root, file_key

__all__ = ["KEY", "BufferedWriter", "FeatureCache", "default_cache_root", "file_key"]

MAX_PARTS = 32
"""Parts kept before `compact` merges them (reading a few dozen small files costs little)."""


class FeatureCache:
    """Feature rows stored as Parquet parts, one folder per (dataset, feature version, embedder)."""

    def __init__(self, directory: str | Path | None) -> None:
        self.directory = None if directory is None else str(directory)
        self.enabled = directory is not None
        self.fs = None
        if self.directory is not None:
            import fsspec

            try:
                self.fs, self.directory = fsspec.core.url_to_fs(self.directory)
                self.fs.makedirs(self.directory, exist_ok=True)
            except (OSError, ValueError, ImportError):
                self.enabled = False

    @classmethod
    def for_dataset(cls, root: Path, version: int, embedder: str,
                    base: str | Path | None = None) -> FeatureCache:
        return cls(cache_location(root, version, embedder, base))

    def _parts(self) -> list[str]:
        if not self.enabled or self.fs is None:
            return []
        try:
            return sorted(self.fs.glob(f"{self.directory}/part-*.parquet"))
        except OSError:
            return []

    def _remove(self, part: str) -> None:
        with contextlib.suppress(OSError, FileNotFoundError):
            self.fs.rm(part)

    def load(self, keys: set[str] | None = None) -> pd.DataFrame:
        """All cached rows (the latest per key), optionally only those whose key is in `keys`."""
        frames = []
        for part in self._parts():
            try:
                with self.fs.open(part, "rb") as fh:
                    frame = pq.read_table(fh).to_pandas()
            except Exception:  # a part cut short by an interrupted write: drop it, recompute later
                self._remove(part)
                continue
            if keys is not None:
                frame = frame[frame[KEY].isin(keys)]
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=[KEY])
        out = pd.concat(frames, ignore_index=True)
        return out.drop_duplicates(KEY, keep="last").reset_index(drop=True)

    def append(self, rows: pd.DataFrame, compress: bool = False) -> None:
        """Write one part atomically (temporary name, then rename); names sort by time."""
        if not self.enabled or self.fs is None or rows.empty:
            return
        name = f"{self.directory}/part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = name + ".tmp"
        try:
            with self.fs.open(tmp, "wb") as fh:
                options = {} if compress else {"compression": "none", "use_dictionary": False,
                                               "write_statistics": False}
                pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), fh, **options)
            self.fs.mv(tmp, name)
        except OSError:
            self._remove(tmp)

    def buffered(self, rows: int = 512, seconds: float = 5.0) -> BufferedWriter:
        """A writer that gathers rows into parts of about `rows` rows (or `seconds` of work)."""
        return BufferedWriter(self, rows, seconds)

    def compact(self, max_parts: int = MAX_PARTS) -> None:
        """Merge all parts into one file when there are more than `max_parts`."""
        parts = self._parts()
        if len(parts) <= max(max_parts, 1):
            return
        merged = self.load()
        self.append(merged, compress=True)
        for part in parts:
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
