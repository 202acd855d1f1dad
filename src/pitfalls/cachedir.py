"""Where pitfalls keeps what it computes or unpacks (feature cache, shards written from Python
datasets) unless told otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_root() -> Path:
    """`$PITFALLS_CACHE_DIR`, else `$XDG_CACHE_HOME/pitfalls`, else `~/.cache/pitfalls`."""
    env = os.environ.get("PITFALLS_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pitfalls"
