"""Per-image features: computed once per image in one decode, cached as Parquet, read by every
rule."""

from pitfalls.features.compute import FEATURE_VERSION, compute_file_features
from pitfalls.features.embedding import EMBED_DIM, Embedder, OnnxEmbedder, WeightFreeEmbedder

__all__ = [
    "EMBED_DIM",
    "FEATURE_VERSION",
    "Embedder",
    "OnnxEmbedder",
    "WeightFreeEmbedder",
    "compute_file_features",
]
