"""Evaluation: predictions in (a file or an ONNX model), metrics with intervals, leak-free
scores."""

from pitfalls.evaluation.metrics import Scores, score, subset_comparison
from pitfalls.evaluation.predictions import Predictions, load_predictions

__all__ = ["Predictions", "Scores", "load_predictions", "score", "subset_comparison"]
