"""The record contract's checks, value by value (the service's fast paths included)."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from pitfalls.monitor.records import make_record, validate_batch, validate_record

CLASSES = ["a", "b"]
NAN, INF = float("nan"), float("inf")


def base(**over: object) -> dict:
    record = make_record(pred="a", source="s", model_version="1",
                         features={"x": 0.5, "embedding": [0.1, 0.2, 0.3]})
    record.update(over)
    return record


def codes(record: dict) -> list[str]:
    got, issues = validate_record(record, CLASSES)
    assert (got is None) == bool(issues)
    return [issue.code for issue in issues]


@pytest.mark.parametrize(("probs", "expected"), [
    ({"a": 0.5, "b": 0.5}, []), ({"a": 1}, []), ({"a": -0.0, "b": 1.0}, []),
    ({"a": 0.5, "b": NAN}, ["not_finite"]), ({"a": NAN, "b": 0.5}, ["not_finite"]),
    ({"a": INF}, ["not_finite"]), ({"a": 10**400}, ["not_finite"]), ({"a": True}, ["type"]),
    ({"a": "0.5"}, ["type"]), ({"a": -1e-9, "b": 1.0}, ["range"]), ({"a": 1.5}, ["range"]),
    ({"a": 0.3, "b": 0.3}, ["sum"]), ({"a": 0.7, "b": 0.7}, ["sum"]),
    ({"c": 1.0}, ["unknown_class"]),
    ({}, ["type"]), ([0.5, 0.5], ["type"]),
])
def test_probabilities(probs: object, expected: list[str]) -> None:
    for _ in range(2):  # the second pass runs with the remembered names
        assert codes(base(probs=probs)) == expected


@pytest.mark.parametrize(("features", "expected"), [
    ({"x": 1.0, "n": 3, "flag": True, "gone": None, "embedding": [1.0, 2]}, []),
    ({"x": NAN}, ["not_finite"]), ({"x": 0.1, "y": INF}, ["not_finite"]),
    ({"x": 10**400}, ["not_finite"]), ({"x": 1e308, "y": 1e308}, []),
    ({"x": "bright"}, ["type"]), ({"x": {"nested": 1}}, ["type"]),
    ({"embedding": 0.5}, []), ({"embedding": "v"}, ["type"]),
    ({"embedding": [1.0, NAN]}, ["vector"]), ({"embedding": [1.0, "x"]}, ["vector"]),
    ({"embedding": [0.0] * 4097}, ["vector"]), ({"": 1.0}, ["name"]),
    ({"x" * 65: 1.0}, ["name"]), ({"a\nb": 1.0}, ["name"]), ([1.0], ["type"]),
    ({f"f{i}": 1.0 for i in range(257)}, ["size"]),
])
def test_features(features: object, expected: list[str]) -> None:
    for _ in range(2):
        assert codes(base(features=features)) == expected


def test_times_texts_and_fields() -> None:
    now = datetime.now(timezone.utc)
    assert codes(base(captured_at=(now + timedelta(hours=23)).isoformat())) == []
    assert codes(base(captured_at=(now + timedelta(hours=25)).isoformat())) == ["future"]
    assert codes(base(captured_at="1999-12-31T23:59:59Z")) == ["past"]
    assert codes(base(captured_at="2026-01-01 10:00")) == []  # naive: UTC
    assert codes(base(captured_at="2026-13-01T00:00:00Z")) == ["format"]
    assert codes(base(captured_at=1700000000)) == ["type"]
    assert codes(base(id="")) == ["length"] and codes(base(id="x" * 129)) == ["length"]
    assert codes(base(source="cam\x00")) == ["characters"]
    assert codes(base(pred="c")) == ["unknown_class"]
    assert codes(base(label="b")) == [] and codes(base(label=3)) == ["type"]
    assert codes(base(feature_version=True)) == ["type"]
    assert codes(base(extra=1)) == ["unknown_field"]
    missing = base()
    del missing["model_version"]
    assert codes(missing) == ["missing"]


def test_thumbnails() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "JPEG")
    jpeg = base64.b64encode(buffer.getvalue()).decode()
    assert codes(base(thumbnail=jpeg)) == []
    assert codes(base(thumbnail="not base64!")) == ["format"]
    assert codes(base(thumbnail=base64.b64encode(b"GIF89a....").decode())) == ["format"]
    assert codes(base(thumbnail="A" * 100_000)) == ["size"]


def test_batch_keeps_the_first_of_repeated_ids() -> None:
    valid, rejected = validate_batch({"records": [base(id="1"), base(id="1"), base(id="2")]},
                                     CLASSES)
    assert [r.id for r in valid] == ["1", "2"]
    assert [(r.index, r.issues[0].code) for r in rejected] == [(1, "duplicate_in_batch")]


def test_make_record_turns_numpy_and_non_finite_values_into_json() -> None:
    """The features' fast paths (plain floats, all-finite lists) give what the slow path gave:
    NumPy scalars and arrays as numbers and lists, every non-finite value as None."""
    import json

    import numpy as np

    features = {
        "f": 0.25, "nan": NAN, "inf": -INF, "i": 3, "b": True, "s": "jpeg", "none": None,
        "np_f32": np.float32(0.5), "np_i64": np.int64(7), "np_nan": np.float64("nan"),
        "vec": np.array([0.5, 1.5], dtype=np.float32), "vec_nan": np.array([0.5, np.nan]),
        "list": [1, 2.5, True], "list_inf": [1.0, INF], "nested": [[1.0, NAN], [2.0]],
        "mixed": ["a", 1.0, NAN], "huge": [10**400, 1.0],
    }
    got = make_record(pred="a", source="s", model_version="1", features=features)["features"]
    assert got == {
        "f": 0.25, "nan": None, "inf": None, "i": 3, "b": True, "s": "jpeg", "none": None,
        "np_f32": 0.5, "np_i64": 7, "np_nan": None, "vec": [0.5, 1.5], "vec_nan": [0.5, None],
        "list": [1, 2.5, True], "list_inf": [1.0, None], "nested": [[1.0, None], [2.0]],
        "mixed": ["a", 1.0, None], "huge": [10**400, 1.0],
    }
    assert all(type(v) is not np.generic for v in got.values())
    json.dumps(got, allow_nan=False)
