"""Predictions in: alignment with the dataset and a clear message for every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pitfalls.errors import InputError
from pitfalls.evaluation.predictions import load_predictions

TABLE = pd.DataFrame({
    "path": ["train/a/0.png", "test/a/1.png", "test/b/2.png", "test/c/3.png"],
    "label": ["a", "a", "b", "c"],
    "split": ["train", "test", "test", "test"],
})


def _probs(**over: object) -> pd.DataFrame:
    frame = pd.DataFrame({"path": ["test/a/1.png", "test/b/2.png", "test/c/3.png"],
                          "prob_a": [0.7, 0.2, 0.1], "prob_b": [0.2, 0.7, 0.1],
                          "prob_c": [0.1, 0.1, 0.8]})
    return frame.assign(**over)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_file_formats_align_with_the_dataset(tmp_path: Path, suffix: str) -> None:
    frame = _probs()
    path = tmp_path / f"preds{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    preds = load_predictions(path, TABLE)
    assert preds.classes == ["a", "b", "c"]
    assert preds.has.tolist() == [False, True, True, True]
    assert preds.pred.tolist() == [None, "a", "b", "c"]
    assert np.isnan(preds.probs[0]).all()
    assert preds.probs[3] == pytest.approx([0.1, 0.1, 0.8])


def test_pred_column_only() -> None:
    frame = pd.DataFrame({"path": ["test/a/1.png", "./test/b/2.png"], "pred": ["b", "b"]})
    preds = load_predictions(frame, TABLE)
    assert preds.probs is None
    assert preds.pred.tolist() == [None, "b", "b", None]


def test_windows_separators_are_accepted() -> None:
    preds = load_predictions(_probs(path=["test\\a\\1.png", "test/b/2.png", "test/c/3.png"]),
                             TABLE)
    assert preds.has.sum() == 3


def test_unknown_paths() -> None:
    bad = _probs(path=["test/a/1.png", "test/b/2.png", "elsewhere/x.png"])
    with pytest.raises(InputError, match=r"1 path\(s\) are not in the dataset: 'elsewhere/x.png'"):
        load_predictions(bad, TABLE)


def test_missing_class_column() -> None:
    with pytest.raises(InputError, match=r"no probability column for class\(es\) 'c'"):
        load_predictions(_probs().drop(columns=["prob_c"]), TABLE)


def test_probabilities_not_summing_to_one() -> None:
    bad = _probs(prob_a=[2.0, 0.2, 0.1], prob_b=[1.0, 0.7, 0.1], prob_c=[0.5, 0.1, 0.8])
    with pytest.raises(InputError, match="outside"):
        load_predictions(bad, TABLE)
    bad = _probs(prob_a=[0.5, 0.2, 0.1])  # 0.5 + 0.2 + 0.1 = 0.8
    with pytest.raises(InputError, match=r"do not sum to one on 1 row\(s\).*'test/a/1.png' "
                                         r"sums to 0.800.*logits"):
        load_predictions(bad, TABLE)


def test_non_numeric_probabilities() -> None:
    with pytest.raises(InputError, match="non-numeric"):
        load_predictions(_probs(prob_a=["x", 0.2, 0.1]), TABLE)


def test_unknown_predicted_class() -> None:
    frame = pd.DataFrame({"path": ["test/a/1.png"], "pred": ["zebra"]})
    with pytest.raises(InputError, match="'zebra' are not among the dataset's classes"):
        load_predictions(frame, TABLE)


def test_structure_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no 'path' column"):
        load_predictions(pd.DataFrame({"file": ["x"], "pred": ["a"]}), TABLE)
    with pytest.raises(InputError, match="neither a 'pred' column nor 'prob_<class>'"):
        load_predictions(pd.DataFrame({"path": ["test/a/1.png"], "score": [1]}), TABLE)
    with pytest.raises(InputError, match="more than once"):
        load_predictions(pd.DataFrame({"path": ["test/a/1.png"] * 2, "pred": ["a", "a"]}), TABLE)
    with pytest.raises(InputError, match="empty 'pred'"):
        load_predictions(pd.DataFrame({"path": ["test/a/1.png"], "pred": [None]}), TABLE)
    with pytest.raises(InputError, match="predictions file not found"):
        load_predictions(tmp_path / "missing.csv", TABLE)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="cannot read broken.parquet"):
        load_predictions(broken, TABLE)
