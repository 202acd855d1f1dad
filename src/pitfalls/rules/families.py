"""Imports every rule module so that its rules register themselves."""

from pitfalls.rules import imbalance, quality  # noqa: F401
