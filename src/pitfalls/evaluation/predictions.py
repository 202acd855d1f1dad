"""Load a predictions table and align it with the dataset, with precise messages on bad input.

A predictions table has a `path` column (as the dataset names its images) and a `pred` column
and/or one `prob_<class>` column per class. Rows are matched to the dataset by path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pitfalls.errors import InputError
from pitfalls.inputs import read_table

PROB_PREFIX = "prob_"
SUM_TOLERANCE = 0.01
"""Probability rows may sum to 1 ± this (rounding in CSV files)."""


@dataclass
class Predictions:
    """Predictions aligned with the dataset table (row i ↔ table row i).

    `pred` holds the predicted class name (None where the image has no prediction), `probs` the
    (n, k) class probabilities in the order of `classes` (NaN rows where absent), or None.
    """

    classes: list[str]
    pred: np.ndarray
    probs: np.ndarray | None
    source: str

    @property
    def has(self) -> np.ndarray:
        """Boolean mask of the rows that have a prediction."""
        return np.array([p is not None for p in self.pred], dtype=bool)

    def __len__(self) -> int:
        return int(self.has.sum())


def _examples(values: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def read_predictions(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The raw predictions table and a name for messages."""
    if isinstance(source, pd.DataFrame):
        return source.copy(), "predictions DataFrame"
    path = Path(source).expanduser()
    if not path.is_file():
        raise InputError(f"predictions file not found: {path}")
    return read_table(path), f"predictions file {path.name}"


def load_predictions(source: str | Path | pd.DataFrame, table: pd.DataFrame) -> Predictions:
    """Validate a predictions table and align it with the dataset `table` (its `path`, `label`)."""
    raw, name = read_predictions(source)
    raw = _standard_columns(raw, name)
    rows = _table_rows(raw["path"], table, name)
    labels = sorted({str(v) for v in table["label"].dropna()})
    n = len(table)
    pred = np.full(n, None, dtype=object)
    probs = None
    found = _probabilities(raw, labels, name)
    if found is not None:
        classes, values = found
        probs = np.full((n, len(classes)), np.nan)
        probs[rows] = values
        pred[rows] = np.asarray(classes, dtype=object)[values.argmax(axis=1)]
    else:
        classes = labels
    if "pred" in raw.columns:
        pred[rows] = _predicted_classes(raw, classes, labels, name)
    return Predictions(classes=list(classes), pred=pred, probs=probs, source=name)


def _standard_columns(raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """The table with its `path` (and `pred`) columns found whatever their case, and its paths
    written as the dataset writes them (forward slashes, no leading `./`), each listed once."""
    raw = raw.copy()
    raw.columns = [str(c).strip() for c in raw.columns]
    lower = {c.lower(): c for c in raw.columns}
    if "path" not in lower:
        raise InputError(f"{name} has no 'path' column (found: {_examples(list(raw.columns))}); "
                         "add each image's path as the dataset names it")
    raw = raw.rename(columns={lower["path"]: "path"})
    if "pred" in lower:
        raw = raw.rename(columns={lower["pred"]: "pred"})
    if "pred" not in raw.columns and not _prob_columns(raw):
        raise InputError(f"{name} has neither a 'pred' column nor 'prob_<class>' columns")
    if raw["path"].isna().any():
        raise InputError(f"{name}: {int(raw['path'].isna().sum())} row(s) have an empty 'path'")
    raw["path"] = raw["path"].astype(str).str.strip().str.replace("\\", "/", regex=False)
    raw["path"] = raw["path"].str.removeprefix("./")
    dup = raw["path"][raw["path"].duplicated()].unique().tolist()
    if dup:
        raise InputError(f"{name} lists {len(dup)} path(s) more than once: {_examples(dup)}")
    return raw


def _prob_columns(raw: pd.DataFrame) -> list[str]:
    return [c for c in raw.columns if c.lower().startswith(PROB_PREFIX)]


def _table_rows(paths: pd.Series, table: pd.DataFrame, name: str) -> np.ndarray:
    """The dataset row of each predicted path (every path must be the dataset's)."""
    index = pd.Series(np.arange(len(table)), index=table["path"].astype(str).values)
    unknown = [p for p in paths if p not in index.index]
    if unknown:
        example = f" (e.g. {table['path'].iloc[0]!r})" if len(table) else ""
        raise InputError(
            f"{name}: {len(unknown)} path(s) are not in the dataset: {_examples(unknown)}; "
            f"paths must be relative to the dataset root exactly as the dataset lists them"
            f"{example}")
    return index.loc[paths].to_numpy()


def _probabilities(raw: pd.DataFrame, labels: list[str], name: str
                   ) -> tuple[list[str], np.ndarray] | None:
    """The classes of the `prob_<class>` columns and their values (rows rescaled to sum to one
    exactly), checked to be probabilities over at least the dataset's classes; None without
    such columns."""
    prob_cols = _prob_columns(raw)
    if not prob_cols:
        return None
    classes = [c[len(PROB_PREFIX):] for c in prob_cols]
    missing = [c for c in labels if c not in classes]
    if missing:
        raise InputError(
            f"{name}: no probability column for class(es) {_examples(missing)}; "
            f"expected one 'prob_<class>' column per class ({len(labels)} classes)")
    values = raw[prob_cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise InputError(f"{name}: {int(bad.sum())} row(s) have missing or non-numeric "
                         f"probabilities, e.g. {_examples(raw['path'][bad].tolist(), 3)}")
    outside = ((values < 0) | (values > 1)).any(axis=1)
    if outside.any():
        raise InputError(f"{name}: {int(outside.sum())} row(s) have probabilities outside "
                         f"[0, 1], e.g. {_examples(raw['path'][outside].tolist(), 3)}")
    sums = values.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        first = int(np.flatnonzero(off)[0])
        raise InputError(
            f"{name}: probabilities do not sum to one on {int(off.sum())} row(s) "
            f"(e.g. {raw['path'].iloc[first]!r} sums to {sums[first]:.3f}); give softmax "
            "probabilities, not logits or scores")
    return classes, values / sums[:, None]


def _predicted_classes(raw: pd.DataFrame, classes: list[str], labels: list[str], name: str
                       ) -> np.ndarray:
    """The `pred` column, checked to name only classes that the probabilities or the dataset
    know."""
    given = raw["pred"]
    if given.isna().any():
        raise InputError(f"{name}: {int(given.isna().sum())} row(s) have an empty 'pred'")
    given = given.astype(str).str.strip()
    extra = sorted(set(given) - set(classes) - set(labels))
    if extra:
        raise InputError(f"{name}: predicted class(es) {_examples(extra)} are not among "
                         f"the dataset's classes ({_examples(labels)})")
    return given.to_numpy()


def predictions_from_probs(paths: list[str], probs: np.ndarray, classes: list[str]
                           ) -> pd.DataFrame:
    """A predictions table (`path`, `pred`, `prob_<class>`) from a probability matrix."""
    frame = pd.DataFrame(probs, columns=[f"{PROB_PREFIX}{c}" for c in classes])
    frame.insert(0, "pred", np.asarray(classes, dtype=object)[probs.argmax(axis=1)])
    frame.insert(0, "path", paths)
    return frame
