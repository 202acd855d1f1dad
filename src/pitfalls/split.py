"""A leak-free split: stratified by label, never cutting a group, a session or a duplicate cluster.

Rows linked by a declared group, an inferred capture session, a near-duplicate, or identical bytes
or pixels form components; each component goes to one split as a whole. Components are assigned
greedily, largest first, each to the split where it most reduces the squared distance between the
per-class counts reached and the per-class targets. scikit-learn's `StratifiedGroupKFold` does a
similar greedy search but only for k equal folds, not for arbitrary test/val sizes, hence this.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from pitfalls.context import Context
from pitfalls.errors import InputError
from pitfalls.similarity import components

LINK_KINDS = ("group", "session", "near", "bytes", "pixels")
NO_LABEL = "(no label)"


def check_sizes(test_size: float, val_size: float) -> None:
    if not 0 < test_size < 1:
        raise InputError(f"--test-size must be between 0 and 1 (a share), not {test_size}")
    if not 0 <= val_size < 1:
        raise InputError(f"--val-size must be between 0 and 1 (a share), not {val_size}")
    if test_size + val_size >= 1:
        raise InputError(f"--test-size + --val-size must leave images for train "
                         f"(they add up to {test_size + val_size:g})")


def assign(components: np.ndarray, labels: np.ndarray, shares: dict[str, float],
           seed: int = 0) -> np.ndarray:
    """The split name of each row: whole components, per-class counts near `shares`."""
    names = list(shares)
    comp_ids, comp = np.unique(components, return_inverse=True)
    classes, lab = np.unique(labels.astype(str), return_inverse=True)
    counts = np.zeros((len(comp_ids), len(classes)))
    np.add.at(counts, (comp, lab), 1)
    share = np.array([shares[s] for s in names])
    target = share[:, None] * counts.sum(axis=0)[None, :]
    reached = np.zeros_like(target)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(comp_ids)), -counts.sum(axis=1)))
    where = np.empty(len(comp_ids), dtype=int)
    for c in order:
        v = counts[c]
        # increase of the squared error per split if the component went there
        cost = (v[None, :] * (2 * (reached - target) + v[None, :])).sum(axis=1)
        s = int(np.argmin(cost))
        where[c] = s
        reached[s] += v
    return np.asarray(names, dtype=object)[where[comp]]


def make_split(ctx: Context, test_size: float = 0.2, val_size: float = 0.0,
               seed: int = 0) -> pd.DataFrame:
    """The dataset table with a new `split` column (train/val/test), keeping linked rows
    together."""
    check_sizes(test_size, val_size)
    comp = components(ctx, LINK_KINDS)
    labels = ctx.table["label"].fillna(NO_LABEL).astype(str).to_numpy()
    shares = {"train": 1 - test_size - val_size, "test": test_size}
    if val_size > 0:
        shares["val"] = val_size
    out = ctx.dataset.table.copy()
    out["split"] = assign(comp, labels, shares, seed)
    return out


def proportions(table: pd.DataFrame) -> pd.DataFrame:
    """Share of each class (rows) within each split (columns), plus the overall share."""
    t = table.assign(label=table["label"].fillna(NO_LABEL))
    shares = pd.crosstab(t["label"], t["split"], normalize="columns")
    shares["all"] = t["label"].value_counts(normalize=True)
    order = [c for c in ("train", "val", "test") if c in shares.columns] + ["all"]
    return shares[order]


def write_manifest(table: pd.DataFrame, root: Path, out: Path) -> Path:
    """Write the split manifest as CSV with paths relative to the manifest's folder."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    base = out.parent.resolve()
    frame = table.copy()
    frame["path"] = [Path(os.path.relpath(root / p, base)).as_posix() for p in frame["path"]]
    frame = frame.dropna(axis=1, how="all").drop(columns=[], errors="ignore")
    for col in ("path", "label", "split"):
        if col not in frame:
            frame[col] = None
    frame.to_csv(out, index=False)
    return out
