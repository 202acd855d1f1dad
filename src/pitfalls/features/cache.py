"""A Parquet cache of per-image features keyed by file identity (path, size, mtime).

Each processed chunk is written as its own part file, so an interrupted scan keeps every chunk
it finished and resumes from there; parts are compacted into one file after a complete pass.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

KEY = "_key"


def default_cache_root() -> Path:
    """`$PITFALLS_CACHE_DIR`, else `$XDG_CACHE_HOME/pitfalls`, else `~/.cache/pitfalls`."""
    env = os.environ.get("PITFALLS_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pitfalls"


def file_key(path: Path) -> str | None:
    """Identity of a file's current content: absolute path, size and modification time."""
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


class FeatureCache:
    """Feature rows on disk, one folder per (dataset root, feature version, embedder)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.enabled = directory is not None
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError:
                self.enabled = False

    @classmethod
    def for_dataset(cls, root: Path, version: int, embedder: str,
                    base: Path | None = None) -> FeatureCache:
        digest = hashlib.blake2b(str(root.resolve()).encode(), digest_size=6).hexdigest()
        base = base if base is not None else default_cache_root()
        return cls(base / f"{root.name or 'root'}-{digest}" / f"features-v{version}-{embedder}")

    def _parts(self) -> list[Path]:
        if not self.enabled or self.directory is None:
            return []
        return sorted(self.directory.glob("*.parquet"), key=lambda p: p.stat().st_mtime_ns)

    def load(self, keys: set[str] | None = None) -> pd.DataFrame:
        """All cached rows (the latest per key), optionally only those whose key is in `keys`."""
        frames = []
        for part in self._parts():
            try:
                frame = pq.read_table(part).to_pandas()
            except Exception:  # a part cut short by an interrupted write: drop it, recompute later
                part.unlink(missing_ok=True)
                continue
            if keys is not None:
                frame = frame[frame[KEY].isin(keys)]
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=[KEY])
        out = pd.concat(frames, ignore_index=True)
        return out.drop_duplicates(KEY, keep="last").reset_index(drop=True)

    def append(self, rows: pd.DataFrame) -> None:
        """Write one part atomically (temporary name, then rename)."""
        if not self.enabled or self.directory is None or rows.empty:
            return
        name = self.directory / f"part-{uuid.uuid4().hex}.parquet"
        tmp = name.with_suffix(".tmp")
        try:
            pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), tmp)
            tmp.replace(name)
        except OSError:
            tmp.unlink(missing_ok=True)

    def compact(self) -> None:
        """Merge all parts into one file when there are several."""
        parts = self._parts()
        if len(parts) < 2:
            return
        merged = self.load()
        self.append(merged)
        newest = self._parts()[-1]
        for part in parts:
            if part != newest:
                part.unlink(missing_ok=True)
