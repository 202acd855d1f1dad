"""Int8 variants of a model with `onnxruntime.quantization`.

- static: weights and activations in int8, activation ranges calibrated on training images run
  through the model's own preprocessing (a `CalibrationDataReader`), QDQ format.
- dynamic: int8 weights, activation ranges computed at run time (no calibration data needed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from pitfalls.bench.runner import Images, _batch
from pitfalls.bench.spec import PreprocessSpec
from pitfalls.errors import InputError

METHODS = ("static", "dynamic")


class ImageCalibrationReader:
    """Feeds preprocessed training images to the calibrator, `batch_size` at a time.

    Implements onnxruntime's `CalibrationDataReader` protocol (`get_next`, `rewind`)."""

    def __init__(self, images: Images, spec: PreprocessSpec, input_name: str,
                 batch_size: int = 1, limit: int = 128, seed: int = 0,
                 fixed_batch: int | None = None) -> None:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(images))[:limit]
        bs = fixed_batch or batch_size
        self._batches = [order[i:i + bs] for i in range(0, len(order), bs)]
        if fixed_batch:
            self._batches = [b for b in self._batches if len(b) == fixed_batch]
        self._images, self._spec, self._name = images, spec, input_name
        self._it: Iterator[np.ndarray] = iter(self._batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        idx = next(self._it, None)
        return None if idx is None else {self._name: _batch(self._images, idx, self._spec)}

    def rewind(self) -> None:
        self._it = iter(self._batches)


def quantize(model: str | Path, out: str | Path, method: str,
             calibration: ImageCalibrationReader | None = None) -> Path:
    """Write the `method` int8 variant of `model` to `out`; returns `out`."""
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError as exc:  # onnxruntime's quantizer needs the onnx package
        raise InputError(f"int8 quantization needs the 'onnx' package (pip install "
                         f"'pitfalls[quantize]'): {exc}") from None

    model, out = Path(model), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _root_level(logging.ERROR):  # the quantizer logs at INFO on the root logger
        _quantize(method, model, out, calibration)
    return out


@contextmanager
def _root_level(level: int) -> Iterator[None]:
    """The root logger at `level` for the block, and back to what it was after: a notebook's
    (or a test's) warnings must not stay silenced once the quantizer is done."""
    root = logging.getLogger()
    before = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(before)


def _quantize(method: str, model: Path, out: Path, calibration: Any) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if method == "dynamic":
        quantize_dynamic(str(model), str(out), weight_type=QuantType.QInt8)
    elif method == "static":
        if calibration is None:
            raise InputError("static quantization needs calibration images (a train split)")
        source = calibration

        class _Reader(CalibrationDataReader):
            def get_next(self) -> dict[str, np.ndarray] | None:
                return source.get_next()

            def rewind(self) -> None:
                source.rewind()

        calibration.rewind()
        quantize_static(str(model), str(out), _Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=False)
    else:
        raise InputError(f"unknown quantization {method!r}; choose from {', '.join(METHODS)}")
