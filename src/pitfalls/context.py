"""What rules read: the input table joined with the feature table, and tables derived from it.

Derived tables (duplicate pairs, sessions, …) are computed once on first use and shared by every
rule that asks for them, via `ctx.derived(name, compute)`; a table being computed on another
thread (a rule's prefetch) is waited for, not computed twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from pitfalls.config import Config
from pitfalls.inputs import Dataset

V = TypeVar("V")
TRAIN = "train"


@dataclass
class Context:
    """The shared, read-only view every rule gets."""

    dataset: Dataset
    table: pd.DataFrame
    config: Config
    extras: dict[str, Any] = field(default_factory=dict)
    _derived: dict[str, Any] = field(default_factory=dict, repr=False)
    _locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def root(self) -> Path:
        return self.dataset.root

    @property
    def ok(self) -> pd.Series:
        """Rows whose image was read."""
        return self.table["ok"].astype(bool)

    @property
    def readable(self) -> pd.DataFrame:
        return self.table[self.ok]

    def embeddings(self) -> np.ndarray:
        """(n, d) float32 unit vectors for every row; zeros for unreadable rows."""
        def build() -> np.ndarray:
            col: Iterable[Any] = self.table.get("embedding", [])
            dims = {len(v) for v in col if v is not None and not _isna(v)}
            dim = max(dims) if dims else 1
            out = np.zeros((len(self.table), dim), dtype=np.float32)
            for i, v in enumerate(col):
                if v is not None and not _isna(v) and len(v) == dim:
                    out[i] = np.asarray(v, dtype=np.float32)
            return out
        return self.derived("embeddings", build)

    @property
    def splits(self) -> list[str]:
        return sorted(self.table["split"].dropna().unique().tolist())

    @property
    def eval_splits(self) -> list[str]:
        return [s for s in self.splits if s != TRAIN]

    def available(self) -> set[str]:
        """The kinds of input present (`pitfalls.contract.Need` values): features, labels,
        splits, groups, and the keys of `extras` that hold something."""
        have = {"features"}
        if self.table["label"].notna().any():
            have.add("labels")
        if TRAIN in self.splits and self.eval_splits:
            have.add("splits")
        if self.table["group"].notna().any():
            have.add("groups")
        have.update(k for k, v in self.extras.items() if v is not None)
        return have

    def derived(self, name: str, compute: Callable[[], V]) -> V:
        """The table `name`, computed by `compute` on first use (once, whatever the threads)."""
        if name in self._derived:
            return self._derived[name]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # derived tables read others, never themselves: no lock cycle
            if name not in self._derived:
                self._derived[name] = compute()
        return self._derived[name]


def _isna(v: Any) -> bool:
    return isinstance(v, float) and np.isnan(v)
