"""Embedders turn an image into a unit vector whose cosine similarity finds near-duplicates.

The default needs no weights: low-frequency DCT coefficients of a contrast-normalised 32x32 luma
thumbnail of the image's centre (6% of each side ignored) plus a coarse grid of chroma. It is
invariant to brightness scaling and JPEG re-compression, and stable under resizing, crops and
rotations of a few percent or degrees, noise and mild blur. An ONNX model given by the user can
replace it (`--embedder model.onnx`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from pitfalls.features.dct import dct_matrix

_DCT_BLOCK = 10
_CHROMA_GRID = 4
_CHROMA_WEIGHT = 0.5
_TRIM = 0.06
"""Share of each side ignored: crops of a few percent and a rotation's corners fall in it."""
LUMA_DIMS = _DCT_BLOCK * _DCT_BLOCK - 1
"""The first `LUMA_DIMS` values of a weight-free vector are its luma part, the rest its chroma part
(`similarity` verifies near-duplicate candidates part by part)."""
EMBED_DIM = LUMA_DIMS + 2 * _CHROMA_GRID * _CHROMA_GRID
_LUMA = np.array([0.299, 0.587, 0.114])
_CHROMA = np.array([[1.0, 0.5], [-1.0, 0.5], [0.0, -1.0]])


class Embedder(Protocol):
    """Anything that maps working copies (HxWx3, 8-bit RGB or float RGB 0–1) to unit vectors."""

    name: str
    dim: int

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        """Return an (n, dim) float32 array of L2-normalised vectors."""
        ...


def _as_u8(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB as is; float RGB 0–1 rounded to 8 bits."""
    if rgb.dtype == np.uint8:
        return rgb
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _resize(rgb: np.ndarray | Image.Image, size: int,
            box: tuple[int, int, int, int] | None = None, top: float = 1.0) -> np.ndarray:
    """Area-average `box` (left, top, right, bottom; default all) of RGB to size x size, as
    float64 on 0..`top` (255 keeps the 8-bit values)."""
    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(_as_u8(rgb))
    small = np.asarray(img.resize((size, size), Image.Resampling.BOX, box=box), dtype=np.float64)
    return small if top == 255.0 else small * (top / 255.0)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.where(n > 1e-12, n, 1.0)).astype(np.float32)


class WeightFreeEmbedder:
    """The default embedder: DCT of normalised luma plus a chroma grid. Needs no weights."""

    name = "dct2"
    dim = EMBED_DIM

    def embed_one(self, rgb: np.ndarray | Image.Image) -> np.ndarray:
        """One image (8-bit RGB, float RGB 0–1, or a Pillow RGB image) to its unit vector."""
        w, h = rgb.size if isinstance(rgb, Image.Image) else (rgb.shape[1], rgb.shape[0])
        dy, dx = int(h * _TRIM), int(w * _TRIM)
        box = (dx, dy, w - dx or w, h - dy or h)
        small = _resize(rgb, 32, box, top=255.0)
        gray = small @ _LUMA  # 0-255: every use below is scale-free but the flatness floor
        std = gray.std()
        flat = std <= 1e-3 * 255.0
        scale = 255.0 if flat else std
        # Only the first block of the DCT is kept and the DC term dropped, so the mean need not
        # be removed; the division by the contrast cancels in the normalisation. A flat image has
        # no luma structure: its coefficients are rounding noise, set to zero.
        d = dct_matrix(32)[:_DCT_BLOCK]
        coeffs = (d @ gray @ d.T).ravel()[1:]
        coeffs = coeffs * 0.0 if flat else coeffs / max(float(np.sqrt(coeffs @ coeffs)), 1e-12)
        k = 32 // _CHROMA_GRID  # mean colour of each cell: sums over rows of cells, then columns
        cells = small.reshape(_CHROMA_GRID, k, 32 * 3).sum(axis=1)
        cells = cells.reshape(_CHROMA_GRID, _CHROMA_GRID, k, 3).sum(axis=2).reshape(-1, 3)
        grid = (cells @ _CHROMA).ravel()  # (R - G, (R + G) / 2 - B) per cell
        grid *= _CHROMA_WEIGHT / np.sqrt(grid.size) / scale / (k * k)
        out = np.concatenate([coeffs, grid])
        return (out / max(float(np.sqrt(out @ out)), 1e-12)).astype(np.float32)

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed_one(im) for im in images])


class OnnxEmbedder:
    """An embedding model given as an ONNX file: NCHW float input, ImageNet normalisation.

    The output (any shape per image) is flattened and L2-normalised. Input size is read from the
    model when it is fixed, else `size`.
    """

    def __init__(self, path: str | Path, size: int = 224,
                 mean: tuple[float, float, float] = (0.485, 0.456, 0.406),
                 std: tuple[float, float, float] = (0.229, 0.224, 0.225)) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"embedder model not found: {self.path}")
        digest = hashlib.blake2b(self.path.read_bytes(), digest_size=6).hexdigest()
        self.name = f"onnx-{digest}"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts,
                                            providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        self.size = int(shape[2]) if len(shape) == 4 and isinstance(shape[2], int) else size
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        probe = self.embed([np.zeros((8, 8, 3), dtype=np.float32)])
        self.dim = int(probe.shape[1])

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        batch = np.stack([
            (_resize(im, self.size).astype(np.float32) - self.mean) / self.std for im in images
        ]).transpose(0, 3, 1, 2)
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(batch)})[0]
        return _unit(np.asarray(out, dtype=np.float32).reshape(len(images), -1))


def is_default_embedder(spec: str | Path | None) -> bool:
    """Whether an embedder spec names the weight-free default (None, "", "default", "dct2")."""
    return spec is None or str(spec) in ("", "default", WeightFreeEmbedder.name)


def make_embedder(spec: str | Path | None) -> Embedder:
    """The default embedder for `None`, else an `OnnxEmbedder` for a path to a `.onnx` file."""
    if spec is None or is_default_embedder(spec):
        return WeightFreeEmbedder()
    return OnnxEmbedder(spec)
