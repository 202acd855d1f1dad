"""Turn the user's predictions (a table or an ONNX model) into `Predictions` aligned with a scan."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pitfalls.context import Context
from pitfalls.errors import InputError
from pitfalls.evaluation.model import load_spec, run_model
from pitfalls.evaluation.predictions import Predictions, load_predictions


def model_rows(ctx: Context) -> np.ndarray:
    """Rows a model is run on: readable images of the evaluation splits (all when none)."""
    t = ctx.table
    ok = ctx.ok.to_numpy()
    if ctx.eval_splits:
        return np.flatnonzero(ok & t["split"].isin(ctx.eval_splits).to_numpy())
    return np.flatnonzero(ok)


def attach_predictions(
    ctx: Context,
    predictions: str | Path | pd.DataFrame | Predictions | None = None,
    model: str | Path | None = None,
    preprocess: str | Path | dict[str, Any] | None = None,
    *,
    cache_dir: str | Path | bool | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Predictions | None:
    """Load or compute the predictions and store them in `ctx.extras["predictions"]`."""
    if predictions is not None and model is not None:
        raise InputError("give either predictions or a model, not both")
    if preprocess is not None and model is None:
        raise InputError("a preprocessing spec needs a model (--model)")
    if isinstance(predictions, Predictions):
        preds: Predictions | None = predictions
    elif predictions is not None:
        preds = load_predictions(predictions, ctx.table)
    elif model is not None:
        rows = model_rows(ctx)
        t = ctx.table
        frame = run_model(
            model, load_spec(preprocess), ctx.root, t["path"].to_numpy()[rows].tolist(),
            [str(v) for v in t["label"].dropna()], cache_dir=cache_dir,
            progress=(lambda d, n: progress("model", d, n)) if progress else None)
        preds = load_predictions(frame, t)
        preds.source = f"model {Path(model).name}"
    else:
        preds = None
    if preds is not None:
        ctx.extras["predictions"] = preds
    return preds

