"""Imports every rule module so that its rules register themselves."""

from pitfalls.rules import (  # noqa: F401
    duplicates,
    evaluation,
    field,
    imbalance,
    leakage,
    performance,
    quality,
    shortcuts,
)
