"""The fused image properties agree with their textbook definitions, computed independently."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scenes import scene
from scipy import ndimage, signal

from pitfalls.decode import decode_bytes
from pitfalls.features.compute import compute_file_features
from pitfalls.features.dct import dct2
from pitfalls.features.properties import (
    Planes,
    border,
    detail,
    frame,
    image_properties,
    working_copy,
)
from pitfalls.features.worker_tuning import keep_freed_memory


def _photo(seed: int, size: tuple[int, int] = (192, 256)) -> np.ndarray:
    return scene(seed, size)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_detail_matches_reference_filters(seed: int) -> None:
    rgb = _photo(seed)
    g = Planes.of(rgb).gray.astype(np.float64)
    got = detail(g.astype(np.float32))
    lap = ndimage.laplace(g)[1:-1, 1:-1]  # 4-neighbour Laplacian, valid part only
    assert got["sharpness"] == pytest.approx(lap.var(), rel=1e-3)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    h, w = g.shape
    immerkaer = np.abs(signal.convolve2d(g, kernel, mode="valid")).sum()
    assert got["noise"] == pytest.approx(np.sqrt(np.pi / 2) * immerkaer / (6 * (w - 2) * (h - 2)),
                                         rel=1e-3)
    half = g.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    ratios = [np.diff(g, 2, axis=a).var() / np.diff(half, 2, axis=a).var() for a in (0, 1)]
    assert got["fine_detail"] == pytest.approx(min(ratios), rel=1e-3)
    grad = np.abs(np.diff(g, axis=1))[:-1] + np.abs(np.diff(g, axis=0))[:, :-1]
    assert got["edge_density"] == pytest.approx((grad > 0.08 * 255).mean(), abs=2e-3)


def test_colour_and_exposure_match_reference() -> None:
    rgb = _photo(4)
    props = image_properties(rgb)
    x = rgb.astype(np.float64) / 255.0
    gray = x @ np.array([0.299, 0.587, 0.114])
    assert props["brightness"] == pytest.approx(gray.mean(), abs=1e-4)
    assert props["contrast"] == pytest.approx(gray.std(), rel=1e-3)
    # Colour statistics are taken on the 2x2 half-size copy: the same means to rounding.
    for k, ch in enumerate("rgb"):
        assert props[f"mean_{ch}"] == pytest.approx(x[..., k].mean(), abs=3e-3)
    small = np.asarray(Image.fromarray(rgb).reduce(2), dtype=np.float64) / 255.0
    r, g, b = small[..., 0], small[..., 1], small[..., 2]
    mx, mn = small.max(axis=2), small.min(axis=2)
    assert props["saturation"] == pytest.approx(((mx - mn) / np.maximum(mx, 1e-6)).mean(), rel=1e-4)
    rg, yb = r - g, 0.5 * (r + g) - b
    cf = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    assert props["colourfulness"] == pytest.approx(cf, rel=1e-4)
    assert props["max_channel_diff"] == pytest.approx((mx - mn).max(), abs=1e-6)
    assert props["is_grayscale"] is False


def test_border_matches_slicing() -> None:
    rgb = _photo(5, (96, 128))  # at most 128 on the longer side: no half-size copy
    got = border(Planes.of(rgb))
    x = rgb.astype(np.float64) / 255.0
    h, w = x.shape[:2]
    bh, bw = round(h * 0.08), round(w * 0.08)
    strips = {"top": x[:bh], "bottom": x[h - bh:], "left": x[:, :bw], "right": x[:, w - bw:]}
    for name, strip in strips.items():
        flat = strip.reshape(-1, 3)
        for k, ch in enumerate("rgb"):
            assert got[f"border_{name}_{ch}"] == pytest.approx(flat[:, k].mean(), abs=1e-6)
        assert got[f"border_{name}_std"] == pytest.approx(flat.std(axis=0).mean(), abs=1e-5)
    ring = np.concatenate([s.reshape(-1, 3) for s in strips.values()])
    inner = x[bh:h - bh, bw:w - bw].reshape(-1, 3)
    assert got["border_std"] == pytest.approx(ring.std(axis=0).mean(), abs=1e-5)
    assert got["border_vs_centre"] == pytest.approx(
        np.abs(ring.mean(axis=0) - inner.mean(axis=0)).mean(), abs=1e-6)
    spread = x.max(axis=2) - x.min(axis=2)
    ring_spread = np.concatenate([spread[:bh].ravel(), spread[h - bh:].ravel(),
                                  spread[:, :bw].ravel(), spread[:, w - bw:].ravel()])
    assert got["border_sat"] == pytest.approx(ring_spread.mean(), abs=1e-6)


def test_frame_counts_flat_sides() -> None:
    rgb = _photo(6).copy()
    rgb[:2], rgb[-2:] = (200, 30, 30), (200, 30, 30)  # a letterbox: top and bottom flat
    got = frame(rgb, depth=2)
    assert got["frame_flat_sides"] == 2.0
    ring = np.concatenate([rgb[:2].reshape(-1, 3), rgb[-2:].reshape(-1, 3),
                           rgb[:, :2].reshape(-1, 3), rgb[:, -2:].reshape(-1, 3)]) / 255.0
    assert got["frame_r"] == pytest.approx(ring[:, 0].mean(), abs=1e-9)
    assert got["frame_std"] == pytest.approx(ring.std(axis=0).mean(), abs=1e-9)


def test_float_and_8bit_inputs_give_the_same_properties() -> None:
    rgb = _photo(7)
    a, b = image_properties(rgb), image_properties(working_copy(rgb))
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key


def test_tiny_and_flat_images_do_not_fail() -> None:
    for shape in [(1, 1, 3), (2, 5, 3), (3, 3, 3), (7, 300, 3)]:
        props = image_properties(np.full(shape, 128, dtype=np.uint8))
        assert props["sharpness"] == 0.0
        assert props["is_grayscale"] is True
        assert all(np.isfinite(v) for v in props.values())


def test_dct_matches_scipy() -> None:
    from scipy.fft import dctn

    x = np.random.default_rng(0).random((32, 32))
    assert np.allclose(dct2(x), dctn(x, norm="ortho"), atol=1e-12)


def test_file_features_equal_with_and_without_the_pillow_image(tmp_path) -> None:
    """compute_file_features reuses the decoder's Pillow image; the array path must agree."""
    buf = io.BytesIO()
    Image.fromarray(_photo(8, (384, 512))).save(buf, "JPEG", quality=90)
    path = tmp_path / "a.jpg"
    path.write_bytes(buf.getvalue())
    row = compute_file_features(path)
    dec = decode_bytes(buf.getvalue(), min_side=256)
    assert dec.reduced and dec.rgb.shape == (192, 256, 3)
    props = image_properties(dec.rgb)
    for key, value in props.items():
        assert row[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_keep_freed_memory_is_safe_to_call_twice() -> None:
    first = keep_freed_memory()
    assert keep_freed_memory() is first


def test_worker_tuning_limits_blas_to_one_thread() -> None:
    """Feature workers run one BLAS thread each (one worker per core already fills the cores)."""
    import subprocess
    import sys

    code = ("from threadpoolctl import threadpool_info\n"
            "from pitfalls.features.worker_tuning import tune_worker\n"
            "import numpy\n"
            "tune_worker()\n"
            "print(max(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
