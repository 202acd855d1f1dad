"""The reference the live traffic is compared with: the evaluation photos' features, the model's
probabilities on them (with their labels), and the accuracy range agreed on the expectation sheet.

`pitfalls scan --model/--predictions` writes these next to its report; the service loads them and
builds a `Reference`. Everything derived from it (conditions, ATC threshold, the
out-of-distribution limit) is computed once, on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from pitfalls.field.conditions import CONDITIONS, robust_scale
from pitfalls.monitor.analysis.records import COND_PREFIX, CONTENT_COLUMNS, flatten
from pitfalls.rules.quality import blur_score

OOD_COLUMNS = (*(COND_PREFIX + c for c in CONDITIONS), *CONTENT_COLUMNS)
"""What the out-of-distribution distance is measured on: the capture conditions and the image
properties that say what is in the picture (the scan's weight-free features)."""
OOD_NEIGHBOURS = 5


@dataclass
class Reference:
    """The evaluation split as the monitor sees it.

    `features`: one row per evaluation photo, the scan's feature columns. `probs`: the model's
    class probabilities on them, columns in `classes` order (None with hard predictions only:
    `preds` then). `labels`: their true classes. `expected_range`: the accuracy range promised on
    the expectation sheet (low, high), or None."""

    features: pd.DataFrame
    classes: list[str]
    probs: np.ndarray | None = None
    labels: Sequence[str] | None = None
    preds: Sequence[str] | None = None
    expected_range: tuple[float, float] | None = None
    ood_quantile: float = 0.95
    _cache: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.features = self.features.reset_index(drop=True)
        if self.probs is not None:
            self.probs = np.asarray(self.probs, dtype=float)
            if self.probs.shape != (len(self.features), len(self.classes)):
                raise ValueError(f"reference probabilities have shape {self.probs.shape}, "
                                 f"expected ({len(self.features)}, {len(self.classes)})")
        if self.expected_range is not None:
            lo, hi = (float(v) for v in self.expected_range)
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"expected accuracy range must be 0 <= low <= high <= 1, "
                                 f"not {self.expected_range}")
            self.expected_range = (lo, hi)

    # -- the reference as records --------------------------------------------------------------
    @cached_property
    def blur_median(self) -> float:
        ok = self.features.get("ok", pd.Series(True, index=self.features.index)).astype(bool)
        score = blur_score(self.features[ok])
        return float(score.median()) if len(score.dropna()) else float("nan")

    @cached_property
    def table(self) -> pd.DataFrame:
        """The reference flattened exactly as live records are (`records.flatten`)."""
        n = len(self.features)
        feats = self.features.to_dict("records")
        for f in feats:
            f.setdefault("ok", True)
        probs = ([dict(zip(self.classes, p, strict=True)) for p in self.probs]
                 if self.probs is not None else [None] * n)
        preds = (list(self.preds) if self.preds is not None else
                 [self.classes[int(i)] for i in self.probs.argmax(axis=1)]
                 if self.probs is not None else [None] * n)
        labels = list(self.labels) if self.labels is not None else [None] * n
        frame = pd.DataFrame({"id": [f"ref-{i}" for i in range(n)], "source": "reference",
                              "pred": preds, "label": labels, "probs": probs,
                              "features": feats})
        return flatten(frame, self.classes, self.blur_median)

    @property
    def usable(self) -> pd.DataFrame:
        return self.table[~self.table["unusable"]]

    @cached_property
    def correct(self) -> np.ndarray | None:
        """Whether the model was right on each reference photo (None without labels)."""
        t = self.table
        if t["label"].isna().all():
            return None
        return (t["pred"] == t["label"]).fillna(False).to_numpy(bool)

    @property
    def accuracy(self) -> float | None:
        c = self.correct
        return float(c.mean()) if c is not None and len(c) else None

    @property
    def prob_matrix(self) -> np.ndarray | None:
        cols = [f"p_{i}" for i in range(len(self.classes))]
        if self.probs is None:
            return None
        return self.table[cols].to_numpy(float)

    # -- out of distribution -------------------------------------------------------------------
    @cached_property
    def _ood(self) -> tuple[list[str], np.ndarray, np.ndarray, object, float]:
        from scipy.spatial import cKDTree

        ref = self.usable
        cols = [c for c in OOD_COLUMNS if c in ref and ref[c].notna().any()]
        if not cols:  # a reference without image features: nothing to measure a distance on
            return cols, np.zeros(0), np.zeros(0), None, float("inf")
        x = ref[cols].to_numpy(float)
        centre = np.nanmedian(x, axis=0)
        scale = np.array([robust_scale(x[:, j], c.removeprefix(COND_PREFIX))
                          for j, c in enumerate(cols)])
        z = np.where(np.isfinite(x), (x - centre) / scale, 0.0)
        tree = cKDTree(z)
        k = min(OOD_NEIGHBOURS, len(z) - 1)
        if k < 1:
            return cols, centre, scale, tree, float("inf")
        d, _ = tree.query(z, k=k + 1)  # the first neighbour of a reference photo is itself
        own = d[:, 1:].mean(axis=1)
        return cols, centre, scale, tree, float(np.quantile(own, self.ood_quantile))

    @property
    def ood_limit(self) -> float:
        """Mean distance to the `OOD_NEIGHBOURS` nearest reference photos beyond which an input
        counts as outside: the `ood_quantile` of the reference photos' own (leave-one-out)
        distances, so that about 1 - ood_quantile of ordinary inputs lie beyond it."""
        return self._ood[4]

    def ood_distance(self, table: pd.DataFrame) -> np.ndarray:
        """Each row's mean distance to its nearest reference photos (robustly standardised
        features; a missing value counts as typical)."""
        cols, centre, scale, tree, _ = self._ood
        if tree is None or not len(table):
            return np.zeros(len(table))
        x = table.reindex(columns=cols).to_numpy(float)
        z = np.where(np.isfinite(x), (x - centre) / scale, 0.0)
        k = min(OOD_NEIGHBOURS, tree.n)  # type: ignore[attr-defined]
        d, _ = tree.query(z, k=k)  # type: ignore[attr-defined]
        return d.reshape(len(z), -1).mean(axis=1)


def from_folder(folder: object) -> Reference:
    """The analysis's `Reference` of a reference folder as the service loads it
    (`pitfalls.monitor.reference.load_reference`): its feature rows, probabilities, labels and
    the expectation sheet's range (`expected_accuracy.range`)."""
    classes = list(folder.classes)  # type: ignore[attr-defined]
    feats = folder.table("features")  # type: ignore[attr-defined]
    preds = folder.table("predictions")  # type: ignore[attr-defined]
    feats = feats.drop(columns=[c for c in ("path", "embedding") if c in feats])
    cols = [f"prob_{c}" for c in classes]
    probs = preds[cols].to_numpy(float) if all(c in preds for c in cols) else None
    expected = (folder.expected_accuracy or {}).get("range")  # type: ignore[attr-defined]
    valid = (isinstance(expected, list | tuple) and len(expected) == 2
             and all(isinstance(v, int | float) for v in expected))
    return Reference(features=feats, classes=classes, probs=probs,
                     labels=preds["label"].astype(str).tolist() if "label" in preds else None,
                     preds=preds["pred"].astype(str).tolist() if "pred" in preds else None,
                     expected_range=tuple(expected) if valid else None)  # type: ignore[arg-type]
