"""Timing primitives: a low-overhead clock and latency statistics.

`time.perf_counter_ns` is the monotonic, highest-resolution clock Python offers; reading it costs
tens of nanoseconds, far below 1% of a 1 ms inference (see `benchmarks/timer_overhead.py`).
Statistics are NumPy percentiles (linear interpolation, as timm and onnxruntime's perf test report).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

now_ns = time.perf_counter_ns
"""The clock every measurement uses."""

PERCENTILES = (50, 90, 95, 99)
SPREAD_WARN = 0.10
"""Run-to-run IQR/median above which results are flagged as too noisy to trust (as
`torch.utils.benchmark` warns)."""


def latency_stats(ms: np.ndarray | list[float]) -> dict[str, float]:
    """p50/p90/p95/p99/max/mean of latencies in milliseconds (NaN when empty)."""
    a = np.asarray(ms, dtype=np.float64)
    if a.size == 0:
        return {f"p{p}": float("nan") for p in PERCENTILES} | {"max": float("nan"),
                                                               "mean": float("nan")}
    qs = np.percentile(a, PERCENTILES)
    return {f"p{p}": float(q) for p, q in zip(PERCENTILES, qs, strict=True)} | {
        "max": float(a.max()), "mean": float(a.mean())}


def percentile(ms: np.ndarray | list[float], q: float) -> float:
    a = np.asarray(ms, dtype=np.float64)
    return float(np.percentile(a, q)) if a.size else float("nan")


@dataclass(frozen=True)
class Spread:
    """How much repeated runs of the same measurement disagree."""

    block_medians_ms: tuple[float, ...]
    iqr_over_median: float

    @property
    def too_wide(self) -> bool:
        return self.iqr_over_median > SPREAD_WARN


def spread(ms: np.ndarray | list[float], n_blocks: int = 5) -> Spread:
    """Split a run into `n_blocks` consecutive repeats and compare their medians: the IQR of the
    block medians over their median (the run-to-run spread)."""
    a = np.asarray(ms, dtype=np.float64)
    n_blocks = max(1, min(n_blocks, a.size))
    if a.size == 0:
        return Spread((), float("nan"))
    medians = np.array([np.median(b) for b in np.array_split(a, n_blocks)])
    mid = float(np.median(medians))
    q75, q25 = np.percentile(medians, [75, 25])
    return Spread(tuple(float(m) for m in medians),
                  float((q75 - q25) / mid) if mid > 0 else float("nan"))


def timer_overhead_ns(n: int = 100_000) -> float:
    """Mean cost in nanoseconds of one clock reading (measured, not assumed)."""
    clock = now_ns
    t0 = clock()
    for _ in range(n):
        clock()
    return (clock() - t0) / n
