"""Split names: the ones recognised in folder names, manifests and shard names, and their
canonical form. Standard library only, so the listing and the shard readers can share it."""

from __future__ import annotations

import math

SPLIT_ALIASES = {
    "train": "train", "training": "train", "trn": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test", "tst": "test", "holdout": "test",
}
"""Recognised split names and the canonical name each maps to."""


def normalise_split(value: object) -> str | None:
    """Map a split name to its canonical form (`train`, `val`, `test`); other names are kept."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    return SPLIT_ALIASES.get(text.lower(), text)
