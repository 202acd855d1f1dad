"""Run an ONNX classifier over the evaluation images with a small preprocessing spec (TOML).

    # preprocess.toml (every key optional; a [preprocess] table is accepted too)
    resize = 256              # shorter side to 256, or [height, width] exactly
    interpolation = "bilinear"  # nearest, box, bilinear, hamming, bicubic, lanczos
    crop = 224                # centre crop: int or [height, width]
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]
    channels = "RGB"          # or "BGR"
    layout = "NCHW"           # or "NHWC"
    scale = "0-1"             # input range before mean/std: "0-1" or "0-255"
    classes = ["ant", "bee"]  # output order (default: the dataset's labels, sorted)
    softmax = "auto"          # true, false, or "auto" (when outputs are not probabilities)
    batch_size = 32

Outputs are cached per (model file, spec, image file identity) like features.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from pitfalls.decode import DecodeError, decode_bytes
from pitfalls.errors import InputError
from pitfalls.evaluation.predictions import predictions_from_probs
from pitfalls.features.cache import KEY, FeatureCache, default_cache_root, file_key
from pitfalls.sources import read_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

INTERPOLATION = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX,
                 "bilinear": Image.Resampling.BILINEAR, "hamming": Image.Resampling.HAMMING,
                 "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


@dataclass(frozen=True)
class PreprocessSpec:
    """How the model expects its input (see the module docstring for the TOML keys)."""

    resize: int | tuple[int, int] | None = 224
    interpolation: str = "bilinear"
    crop: int | tuple[int, int] | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channels: str = "RGB"
    layout: str = "NCHW"
    scale: str = "0-1"
    classes: tuple[str, ...] | None = None
    softmax: bool | str = "auto"
    batch_size: int = 32

    def to_dict(self) -> dict[str, Any]:
        """The spec as a plain mapping that `parse_spec` reads back (JSON-ready)."""
        data = json.loads(json.dumps(asdict(self)))
        if data["classes"] is None:
            del data["classes"]
        return dict(data)

    def digest(self) -> str:
        data = asdict(self)
        return hashlib.blake2b(json.dumps(data, sort_keys=True).encode(),
                               digest_size=6).hexdigest()

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """One decoded 8-bit RGB image → the model's input tensor for it (no batch axis)."""
        img = Image.fromarray(rgb)
        method = INTERPOLATION[self.interpolation]
        if isinstance(self.resize, int):
            w, h = img.size
            s = self.resize / min(w, h)
            img = img.resize((max(1, round(w * s)), max(1, round(h * s))), method)
        elif self.resize is not None:
            img = img.resize((self.resize[1], self.resize[0]), method)
        if self.crop is not None:
            ch, cw = (self.crop, self.crop) if isinstance(self.crop, int) else self.crop
            w, h = img.size
            left, top = max(0, (w - cw) // 2), max(0, (h - ch) // 2)
            img = img.crop((left, top, left + cw, top + ch))
        x: np.ndarray = np.asarray(img, dtype=np.float32)
        if self.scale == "0-1":
            x = x / 255.0
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        if self.channels == "BGR":
            x = x[..., ::-1]
        if self.layout == "NCHW":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x, dtype=np.float32)


def _size(value: Any, key: str) -> int | tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and value > 0:
        return value
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and v > 0 for v in value)):
        return (value[0], value[1])
    raise InputError(f"preprocessing spec: '{key}' must be a positive integer or "
                     f"[height, width], not {value!r}")


def _triple(value: Any, key: str) -> tuple[float, float, float]:
    if isinstance(value, int | float):
        value = [value] * 3
    if not (isinstance(value, list) and len(value) == 3
            and all(isinstance(v, int | float) for v in value)):
        raise InputError(f"preprocessing spec: '{key}' must be three numbers, not {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def parse_spec(data: dict[str, Any]) -> PreprocessSpec:
    """Validate a spec mapping (keys as in the module docstring)."""
    data = dict(data.get("preprocess", data))
    known = {"resize", "interpolation", "crop", "mean", "std", "channels", "layout", "scale",
             "classes", "softmax", "batch_size"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"preprocessing spec: unknown key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    out: dict[str, Any] = {}
    if "resize" in data:
        out["resize"] = _size(data["resize"], "resize")
    if "crop" in data:
        out["crop"] = _size(data["crop"], "crop")
    for key in ("mean", "std"):
        if key in data:
            out[key] = _triple(data[key], key)
    if "std" in out and any(v == 0 for v in out["std"]):
        raise InputError("preprocessing spec: 'std' must not contain zero")
    for key, allowed in _CHOICES.items():
        if key in data:
            out[key] = _choice(data[key], key, allowed)
    return PreprocessSpec(**out, **_output_options(data))


_CHOICES = {"interpolation": tuple(INTERPOLATION), "channels": ("RGB", "BGR"),
            "layout": ("NCHW", "NHWC"), "scale": ("0-1", "0-255")}


def _choice(raw: Any, key: str, allowed: tuple[str, ...]) -> str:
    value = str(raw)
    value = value.lower() if key == "interpolation" else value.upper()
    if key == "scale":
        value = value.replace(" ", "")
    if value not in allowed:
        raise InputError(f"preprocessing spec: '{key}' must be one of "
                         f"{', '.join(allowed)}, not {raw!r}")
    return value


def _output_options(data: dict[str, Any]) -> dict[str, Any]:
    """The spec's `classes`, `softmax` and `batch_size`, checked."""
    out: dict[str, Any] = {}
    if "classes" in data:
        classes = data["classes"]
        if not (isinstance(classes, list) and classes and all(isinstance(c, str | int)
                                                               for c in classes)):
            raise InputError("preprocessing spec: 'classes' must be a list of class names")
        out["classes"] = tuple(str(c) for c in classes)
    if "softmax" in data:
        if data["softmax"] not in (True, False, "auto"):
            raise InputError("preprocessing spec: 'softmax' must be true, false or \"auto\"")
        out["softmax"] = data["softmax"]
    if "batch_size" in data:
        if not (isinstance(data["batch_size"], int) and data["batch_size"] > 0):
            raise InputError("preprocessing spec: 'batch_size' must be a positive integer")
        out["batch_size"] = data["batch_size"]
    return out


def load_spec(source: str | Path | dict[str, Any] | PreprocessSpec | None) -> PreprocessSpec:
    """A spec from a TOML file, a mapping, a spec, or None (defaults)."""
    if source is None:
        return PreprocessSpec()
    if isinstance(source, PreprocessSpec):
        return source
    if isinstance(source, dict):
        return parse_spec(source)
    path = Path(source).expanduser()
    if not path.is_file():
        raise InputError(f"preprocessing spec not found: {path}")
    try:
        return parse_spec(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"preprocessing spec {path.name} is not valid TOML: {exc}") from None


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ModelRunner:
    """An ONNX classifier and its preprocessing: images in, class probabilities out."""

    def __init__(self, path: str | Path, spec: PreprocessSpec) -> None:
        import onnxruntime as ort

        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise InputError(f"model not found: {self.path}")
        self.spec = spec
        blob = self.path.read_bytes()
        self.digest = hashlib.blake2b(blob, digest_size=6).hexdigest()
        try:
            self.session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InputError(f"cannot load {self.path.name} as an ONNX model: {exc}") from None
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, images: list[np.ndarray]) -> np.ndarray:
        batch = np.stack([self.spec.apply(im) for im in images])
        try:
            out = self.session.run(None, {self.input_name: batch})[0]
        except Exception as exc:
            raise InputError(f"model {self.path.name} rejected an input of shape "
                             f"{list(batch.shape)} (check the preprocessing spec): {exc}"
                             ) from None
        return np.asarray(out, dtype=np.float64).reshape(len(images), -1)

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        out = self.logits(images)
        if self.spec.softmax is True:
            return _softmax(out)
        if self.spec.softmax == "auto":
            looks_like_probs = (out >= 0).all() and np.allclose(out.sum(axis=1), 1, atol=1e-3)
            if not looks_like_probs:
                return _softmax(out)
        return out


def run_model(
    model: str | Path,
    spec: PreprocessSpec,
    root: Path,
    paths: list[str],
    labels: list[str],
    *,
    cache_dir: str | Path | bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Predictions (`path`, `pred`, `prob_<class>`) of the model on the given dataset paths.

    Unreadable images are left out. Class order: the spec's `classes`, else sorted `labels`.
    `cache_dir`: a folder or fsspec URL, None for the default cache folder, False for no cache.
    """
    runner = ModelRunner(model, spec)
    classes = list(spec.classes) if spec.classes else sorted(set(labels))
    base = str(cache_dir if isinstance(cache_dir, str | Path) else default_cache_root())
    where = hashlib.blake2b(str(root.resolve()).encode(), digest_size=6).hexdigest()
    cache = FeatureCache(None if cache_dir is False else
                         f"{base.rstrip('/')}/{root.name or 'root'}-{where}"
                         f"/predictions-{runner.digest}-{spec.digest()}")
    keys = [file_key(root / p) for p in paths]
    cached = cache.load({k for k in keys if k}) if cache.enabled else pd.DataFrame(columns=[KEY])
    known = dict(zip(cached[KEY], cached["probs"], strict=True)) if len(cached) else {}
    todo = [i for i, k in enumerate(keys) if k is not None and k not in known]
    step = spec.batch_size
    for start in range(0, len(todo), step):
        chunk, images = [], []
        for i in todo[start:start + step]:
            try:
                images.append(decode_bytes(read_bytes(root / paths[i])).rgb)
                chunk.append(i)
            except (DecodeError, OSError, ValueError):
                continue
        if not images:
            continue
        probs = runner.probabilities(images)
        if probs.shape[1] != len(classes):
            raise InputError(f"model {runner.path.name} outputs {probs.shape[1]} values per "
                             f"image but there are {len(classes)} classes "
                             f"({', '.join(classes[:10])}); list the output order in the "
                             "spec's 'classes'")
        rows = pd.DataFrame({KEY: [keys[i] for i in chunk],
                             "probs": [p.astype(np.float64) for p in probs]})
        cache.append(rows)
        known.update(zip(rows[KEY], rows["probs"], strict=True))
        if progress:
            progress(min(start + step, len(todo)), len(todo))
    have = [i for i, k in enumerate(keys) if k is not None and k in known]
    matrix = (np.stack([np.asarray(known[keys[i]], dtype=np.float64) for i in have])
              if have else np.zeros((0, len(classes))))
    if matrix.shape[1] != len(classes):
        raise InputError(f"model outputs {matrix.shape[1]} values per image but there are "
                         f"{len(classes)} classes")
    return predictions_from_probs([paths[i] for i in have], matrix, classes)
