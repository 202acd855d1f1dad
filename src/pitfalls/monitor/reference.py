"""The reference profile: what the monitor compares production against.

`pitfalls scan --model/--predictions` writes it next to its report, in `reference/`:
`reference.json` (the manifest: version, classes, feature version, evaluation split, expected
accuracy range from the expectation sheet, the fitted capture model when `--field` gave one;
with `--model`, the model's absolute path, SHA-256 and preprocessing spec, and always the
photos' root and the feature cache the scan used, which the service's capture replay needs),
`features.parquet` (the evaluation split's feature rows) and `predictions.parquet` (their path
relative to the photos' root, label, pred and `prob_<class>` columns).
`pitfalls monitor serve --reference DIR` loads it; a reference written before the model and
photos were recorded still loads (the service then runs without the replay).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitfalls.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from pitfalls.context import Context

REFERENCE_VERSION = 1
MANIFEST = "reference.json"
FEATURES = "features.parquet"
PREDICTIONS = "predictions.parquet"
NOT_FEATURES = {"path", "label", "split", "group", "ok", "error", "error_kind", "phash", "dhash",
                "byte_hash", "pixel_hash", "key", "file_size"}
"""Columns of the scan's table that are inputs or identities, not measurements of the image."""


class ReferenceError(InputError):
    """The reference folder is missing or unusable (exit 2)."""


@dataclass
class Profile:
    """A reference profile in memory, before it is written."""

    classes: list[str]
    split: str | None
    features: pd.DataFrame
    predictions: pd.DataFrame
    feature_version: int
    capture: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    """`path` (absolute), `sha256` and `preprocess` (the spec as a mapping) of the scan's model."""
    photos: str | None = None
    """The absolute root the evaluation photos' paths are relative to."""
    cache: str | None = None
    """The feature cache folder or URL the scan used (None: the default cache)."""

    def write(self, out: str | Path, report: dict[str, Any] | None = None) -> Path:
        """Write the folder; `report` (the report dict) gives the expected accuracy range."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.features.to_parquet(out / FEATURES, index=False)
        self.predictions.to_parquet(out / PREDICTIONS, index=False)
        manifest = {
            "version": REFERENCE_VERSION, "classes": self.classes, "split": self.split,
            "n_eval": len(self.predictions), "feature_version": self.feature_version,
            "expected_accuracy": expected_accuracy(report or {}),
            "capture": self.capture, "model": self.model, "photos": self.photos,
            "cache": self.cache, "files": {"features": FEATURES,
                                               "predictions": PREDICTIONS},
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_plain),
                                    encoding="utf-8")
        return out


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def expected_accuracy(report: dict[str, Any]) -> dict[str, Any]:
    """The accuracy the expectation sheet states: lab and predicted field figures with their
    intervals, and `range`, the interval the monitor holds production to (the field one when
    the scan had field photos, else the lab one)."""
    from pitfalls.sheet import sheet_data

    data = sheet_data(report) if report else {}
    lab = {k: (data.get("lab") or {}).get(k) for k in ("value", "ci")}
    fld = {k: (data.get("field") or {}).get(k) for k in ("value", "ci")}
    chosen = fld if fld.get("ci") else lab
    ci = chosen.get("ci")
    return {"lab": lab, "field": fld if fld.get("value") is not None else None,
            "range": list(ci) if ci else None,
            "basis": "field" if chosen is fld else "lab"}


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_entry(model: str | Path, preprocess: Any = None) -> dict[str, Any]:
    """What the reference records of the scan's model: absolute path, SHA-256 and the
    preprocessing spec as a mapping (`PreprocessSpec.to_dict`)."""
    from pitfalls.evaluation.model import load_spec

    path = Path(model).expanduser().resolve()
    return {"path": str(path), "sha256": sha256_of(path),
            "preprocess": load_spec(preprocess).to_dict()}


def build_profile(ctx: Context, model: str | Path | None = None, preprocess: Any = None,
                  cache: str | Path | None = None) -> Profile | None:
    """The profile of a scan with predictions (None without them or without an eval set);
    `model` and `preprocess` are the scan's (recorded for the capture replay), `cache` the
    feature cache folder or URL it used (None: the default)."""
    import numpy as np
    import pandas as pd

    from pitfalls.evaluation.evalset import eval_set
    from pitfalls.features.compute import FEATURE_VERSION

    es = eval_set(ctx)
    if es is None or len(es) == 0:
        return None
    table = ctx.table.iloc[es.rows].reset_index(drop=True)
    numeric = [c for c in table.columns if c not in NOT_FEATURES and (
        pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]))]
    features = table[["path", *numeric]].copy()
    if "embedding" in table:
        features["embedding"] = [None if v is None or isinstance(v, float)
                                 else np.asarray(v, dtype=np.float32) for v in table["embedding"]]
    classes = [str(c) for c in es.classes]
    preds = pd.DataFrame({"path": table["path"].astype(str),
                          "label": [classes[i] for i in es.y_true],
                          "pred": [classes[i] for i in es.y_pred]})
    if es.probs is not None:
        for j, name in enumerate(classes):
            preds[f"prob_{name}"] = es.probs[:, j].astype(float)
    fp = ctx.extras.get("field_prediction")
    capture = dict(fp.capture) if fp is not None and getattr(fp, "capture", None) else None
    if cache is not None and "://" not in str(cache):
        cache = Path(cache).expanduser().resolve()
    return Profile(classes=classes, split=es.split, features=features, predictions=preds,
                   feature_version=FEATURE_VERSION, capture=capture,
                   model=model_entry(model, preprocess) if model is not None else None,
                   photos=str(Path(ctx.root).resolve()),
                   cache=str(cache) if cache is not None else None)


@dataclass
class Reference:
    """A reference folder as the service reads it (the tables load on first use)."""

    root: Path
    version: int
    classes: list[str]
    feature_version: int | None
    split: str | None
    n_eval: int
    expected_accuracy: dict[str, Any] | None
    capture: dict[str, Any] | None
    model: dict[str, Any] | None = None
    """`path`, `sha256` and `preprocess` of the scan's model (None: not recorded)."""
    photos: str | None = None
    cache: str | None = None
    _tables: dict[str, Any] = field(default_factory=dict, repr=False)

    def table(self, name: str) -> pd.DataFrame:
        """`features` or `predictions`, read from Parquet once."""
        if name not in self._tables:
            import pandas as pd

            self._tables[name] = pd.read_parquet(self.root / (FEATURES if name == "features"
                                                              else PREDICTIONS))
        return self._tables[name]

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "classes": self.classes, "n_eval": self.n_eval,
                "feature_version": self.feature_version,
                "expected_accuracy": self.expected_accuracy}


def load_reference(folder: str | Path) -> Reference:
    """Read and check a reference folder; `ReferenceError` says what is wrong."""
    root = Path(folder)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise ReferenceError(f"{root} is not a reference folder (no {MANIFEST}); run "
                             f"'pitfalls scan DATA --model M' or '--predictions P' and pass its "
                             f"report folder's reference/")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReferenceError(f"{manifest} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ReferenceError(f"{manifest} is not a JSON object")
    version = data.get("version")
    if version != REFERENCE_VERSION:
        raise ReferenceError(f"{manifest} has version {version!r}; this pitfalls reads "
                             f"version {REFERENCE_VERSION}")
    classes = data.get("classes")
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(c, str) and c for c in classes)):
        raise ReferenceError(f"{manifest} has no class list")
    for name in (FEATURES, PREDICTIONS):
        if not (root / name).is_file():
            raise ReferenceError(f"{root / name} is missing")
    n_eval = data.get("n_eval")
    fv = data.get("feature_version")
    expected = data.get("expected_accuracy")
    capture = data.get("capture")
    model = data.get("model")
    valid_model = (isinstance(model, dict) and isinstance(model.get("path"), str)
                   and isinstance(model.get("sha256"), str)
                   and isinstance(model.get("preprocess"), dict))
    photos, cache = data.get("photos"), data.get("cache")
    return Reference(root=root, version=version, classes=classes,
                     feature_version=fv if isinstance(fv, int) else None,
                     split=data.get("split") if isinstance(data.get("split"), str) else None,
                     n_eval=n_eval if isinstance(n_eval, int) else 0,
                     expected_accuracy=expected if isinstance(expected, dict) else None,
                     capture=capture if isinstance(capture, dict) else None,
                     model=model if valid_model else None,
                     photos=photos if isinstance(photos, str) and photos else None,
                     cache=cache if isinstance(cache, str) and cache else None)
