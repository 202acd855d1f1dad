"""Where a dataset's features are cached and how a file is recognised there (no heavy imports:
the command line uses these before it loads pandas)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pitfalls.cachedir import default_cache_root
from pitfalls.files import text_of
from pitfalls.sources import identity

KEY = "_key"
"""The cache's key column: `file_key` of the image file."""

__all__ = ["KEY", "cache_location", "default_cache_root", "file_key"]


def cache_location(root: Path, version: int, embedder: str,
                   base: str | Path | None = None) -> str:
    """The cache folder (or URL) of the dataset at `root` for a feature version and embedder."""
    digest = hashlib.blake2b(str(root.resolve()).encode(), digest_size=6).hexdigest()
    base = str(base if base is not None else default_cache_root()).rstrip("/")
    return f"{base}/{root.name or 'root'}-{digest}/features-v{version}-{embedder}"


def file_key(path: Path) -> str | None:
    """Identity of a file's current content: absolute path, size and modification time (of its
    shard or archive, for an embedded image: `pitfalls.sources.identity`).

    The path is made absolute lexically (no `resolve`, which costs a system call per folder
    level): the same file reached through a symlink only misses the cache, it is never confused.
    """
    return identity(path)


def missing_key(path: str) -> str:
    """The key of a file that could not be found (`file_key` gave None)."""
    return f"{text_of(path)}|missing"
