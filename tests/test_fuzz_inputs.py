"""Fuzzing, bounded in time: the decoder and the manifest reader either succeed or raise their
own error (`DecodeError`, `InputError`), whatever bytes they are given."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odd_corpus import corpus_bytes

from pitfalls.decode import DecodeError, decode_bytes
from pitfalls.errors import InputError
from pitfalls.features.compute import compute_file_features
from pitfalls.inputs import load_dataset

FUZZ = settings(max_examples=150, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
"""About five seconds a test: the same examples on every run (CI never flakes on a new one)."""

SEEDS = [data for data in corpus_bytes().values() if data]


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    """A real image file of the corpus, cut short, with bytes flipped, spliced or appended."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "append"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data += draw(st.binary(max_size=64))
    return bytes(data)


def _check_decoded(data: bytes) -> None:
    try:
        dec = decode_bytes(data, max_pixels=4_000_000)
    except DecodeError as exc:
        assert exc.kind in {"empty", "not_an_image", "truncated", "corrupt", "too_large"}
        return
    assert dec.rgb.dtype == np.uint8 and dec.rgb.ndim == 3 and dec.rgb.shape[2] == 3
    assert dec.rgb.shape[0] > 0 and dec.rgb.shape[1] > 0


@FUZZ
@given(mutated_images())
def test_decoder_on_damaged_images(data: bytes) -> None:
    _check_decoded(data)


@FUZZ
@given(st.binary(max_size=512))
def test_decoder_on_random_bytes(data: bytes) -> None:
    _check_decoded(data)


@settings(FUZZ, max_examples=40)
@given(mutated_images())
def test_feature_row_on_damaged_images(data: bytes) -> None:
    """The whole per-file feature pass (decode, then every measurement) never raises."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.jpg"
        path.write_bytes(data)
        row = compute_file_features(path, max_pixels=4_000_000)
    assert row["ok"] or row["error_kind"] in {"empty", "not_an_image", "truncated", "corrupt",
                                              "too_large"}


CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["a.png", "./a.png", "../a.png", "/etc/passwd", "a\x00b", "a;b", '"q"',
                     "train", "TEST", "", " ", "\\\\server\\x.png", "sep=;", "path"]),
)
SEPS = st.sampled_from([",", ";", "\t", "|", " "])
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "cp932", "latin-1", "utf-16"])


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    """A CSV-like file: a header that may or may not hold `path`, rows of odd cells, any
    separator, any encoding, sometimes cut short."""
    sep = draw(SEPS)
    header = draw(st.lists(st.sampled_from(["path", "Path", "label", "split", "group", "site",
                                            "", "path;label"]), min_size=0, max_size=4))
    rows = draw(st.lists(st.lists(CELLS, max_size=5), max_size=6))
    text = "\n".join(sep.join(r) for r in [header, *rows])
    encoding = draw(ENCODINGS)
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@FUZZ
@given(manifests(), st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".parquet"]))
def test_manifest_reader_on_odd_tables(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"m{suffix}"
        path.write_bytes(data)
        try:
            ds = load_dataset(path)
        except InputError as exc:
            assert str(exc)
            return
    assert len(ds.table) > 0 and list(ds.table.columns[:4]) == ["path", "label", "split", "group"]
    assert ds.table["path"].map(lambda p: isinstance(p, str)).all()


@pytest.mark.parametrize(("data", "message"), [
    (b"path,Path\na.png,b.png\n", "2 columns named 'path'"),  # found by the fuzzer
    (b"path\n,\n", "empty 'path' on line"),  # a row longer than the header: found too
    (b"path\n\x00\n", None),
    (b"\xff\xfe\x00p\x00a", "no 'path' column"),
])
def test_manifest_reader_examples(tmp_path: Path, data: bytes, message: str | None) -> None:
    (tmp_path / "m.csv").write_bytes(data)
    if message is None:
        assert len(load_dataset(tmp_path / "m.csv")) == 1
    else:
        with pytest.raises(InputError, match=message):
            load_dataset(tmp_path / "m.csv")
