"""`pitfalls bench`: accuracy against inference speed, measured honestly on the target hardware.

- `spec`: the preprocessing spec (shared with the evaluation package) and serving-style decoding;
- `timing`: the clock and latency statistics; `runner`: accuracy and timed queries of one model;
- `quantize`: int8 variants; `pareto`: dominance and the front; `skew`: train/serve preprocessing;
- `suite`: everything together (`run_bench`); `output`: bench.json, CSV and the report section.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BenchOptions", "BenchResult", "run_bench"]


def __getattr__(name: str) -> Any:
    """The suite (and onnxruntime with it) loads on first use, not when a rule module imports
    `pitfalls.bench.pareto`."""
    if name in __all__:
        from pitfalls.bench import suite

        return getattr(suite, name)
    raise AttributeError(f"module 'pitfalls.bench' has no attribute {name!r}")
