"""The preprocessing spec `pitfalls bench` uses: the evaluation package's spec (same TOML keys,
same `apply`), plus what benchmarking needs on top — finding a model's spec file, decoding
encoded bytes the way a server would, and listing how two specs differ (for PERF003)."""

from __future__ import annotations

import io
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from pitfalls.evaluation.model import INTERPOLATION, PreprocessSpec, load_spec, parse_spec

COMPARED = ("resize", "interpolation", "crop", "mean", "std", "channels", "layout", "scale")
"""Spec keys that change the tensor a model sees (PERF003 compares these)."""

__all__ = ["COMPARED", "INTERPOLATION", "PreprocessSpec", "decode_rgb", "differences",
           "load_spec", "parse_spec", "preprocess", "spec_for_model", "with_changes"]


def spec_for_model(model: str | Path) -> PreprocessSpec | None:
    """The spec next to a model (`model.toml` or `model.preprocess.toml`), if there is one."""
    model = Path(model)
    for cand in (model.with_suffix(".toml"), model.with_suffix(".preprocess.toml")):
        if cand.is_file():
            return load_spec(cand)
    return None


def differences(a: PreprocessSpec, b: PreprocessSpec) -> dict[str, tuple[Any, Any]]:
    """`{key: (a's, b's)}` for every compared key whose values differ."""
    da, db = asdict(a), asdict(b)
    return {k: (_plain(da[k]), _plain(db[k])) for k in COMPARED if da[k] != db[k]}


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def with_changes(spec: PreprocessSpec, **changes: Any) -> PreprocessSpec:
    """A copy of `spec` with some keys changed (e.g. a serving variant)."""
    return replace(spec, **changes)


def decode_rgb(data: bytes) -> np.ndarray:
    """Encoded bytes → 8-bit RGB array with EXIF orientation applied (what a server does with
    an uploaded image; kept lean because it sits inside the timed pre-processing)."""
    img: Image.Image = Image.open(io.BytesIO(data))
    img = ImageOps.exif_transpose(img) or img
    return np.asarray(img.convert("RGB"))


def preprocess(rgb: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """One decoded RGB image → the model input for it."""
    return spec.apply(rgb)
