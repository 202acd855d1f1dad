"""The field set (unlabelled photos from where the model will be used) and the lab rows it is
compared with."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pitfalls.context import TRAIN, Context
from pitfalls.errors import InputError
from pitfalls.field.conditions import compare, conditions
from pitfalls.pipeline import build_context


@dataclass
class FieldSet:
    """Field photos with their features (same extractor and embedder as the scan)."""

    root: Path
    table: pd.DataFrame
    embeddings: np.ndarray
    notes: list[str] = field(default_factory=list)
    """What loading the field folder noted (folders it could not list, odd names, the cache)."""

    @property
    def ok(self) -> np.ndarray:
        return self.table["ok"].astype(bool).to_numpy()

    def report_paths(self, scan_root: Path, rows: Any) -> list[str]:
        """Paths of field rows relative to the scan's root (what a report's thumbnails read)."""
        out = []
        for p in self.table["path"].to_numpy()[rows]:
            rel = os.path.relpath((self.root / str(p)).resolve(), Path(scan_root).resolve())
            out.append(Path(rel).as_posix())
        return out


def load_field(source: str | Path, config: Any, *, cache: bool | str | Path = True,
               progress: Any = None) -> FieldSet:
    """Read a field folder and compute its features with the scan's extractor and cache.

    Unreadable field files stay in the table (`ok` False; the report lists them); a missing or
    empty folder, or one without a single readable photo, is an `InputError`."""
    try:
        fctx = build_context(source, config, cache=cache, progress=(
            (lambda s, d, t: progress("field", d, t)) if progress else None))
    except InputError as exc:
        raise InputError(f"field photos (--field): {exc}") from None
    fs = FieldSet(root=fctx.root, table=fctx.table, embeddings=fctx.embeddings(),
                  notes=list(fctx.dataset.notes))
    if not fs.ok.any():
        kinds = fs.table["error_kind"].fillna("unreadable").value_counts()
        raise InputError(f"field photos (--field): none of the {len(fs.table)} file(s) under "
                         f"{fs.root} could be read as an image ("
                         + ", ".join(f"{n} {k}" for k, n in kinds.items()) + ")")
    return fs


def unreadable(fs: FieldSet, scan_root: Path) -> list[dict[str, str]]:
    """The field files that could not be read: report-relative path, error kind and message."""
    rows = np.flatnonzero(~fs.ok)
    paths = fs.report_paths(scan_root, rows)
    return [{"path": p, "error_kind": str(fs.table["error_kind"].iloc[r]),
             "error": str(fs.table["error"].iloc[r])} for p, r in zip(paths, rows, strict=True)]


def lab_rows(ctx: Context) -> np.ndarray:
    """Readable rows of the evaluation split the field is compared with (test, else val, else
    any evaluation split; every readable row when the data has no splits)."""
    ok = ctx.ok.to_numpy()
    split = ctx.table["split"]
    for name in sorted(ctx.eval_splits, key=lambda s: {"test": 0, "val": 1}.get(s, 2)):
        rows = np.flatnonzero(ok & (split == name).to_numpy())
        if len(rows):
            return rows
    rows = np.flatnonzero(ok & (split != TRAIN).to_numpy())
    return rows if len(rows) else np.flatnonzero(ok)


def lab_split(ctx: Context) -> str | None:
    rows = lab_rows(ctx)
    return str(ctx.table["split"].iloc[rows[0]]) if len(rows) and pd.notna(
        ctx.table["split"].iloc[rows[0]]) else None


def comparison(ctx: Context) -> pd.DataFrame:
    """`conditions.compare` of the lab rows against the readable field photos (cached)."""
    def build() -> pd.DataFrame:
        fs: FieldSet = ctx.extras["field"]
        lab = conditions(ctx.table.iloc[lab_rows(ctx)])
        fld = conditions(fs.table[fs.ok])
        return compare(lab, fld)
    return ctx.derived("field_comparison", build)
