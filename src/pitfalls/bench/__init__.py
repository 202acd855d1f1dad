"""`pitfalls bench`: accuracy against inference speed, measured honestly on the target hardware.

- `spec`: the preprocessing spec (shared with the evaluation package) and serving-style decoding;
- `timing`: the clock and latency statistics; `runner`: accuracy and timed queries of one model;
- `quantize`: int8 variants; `pareto`: dominance and the front; `skew`: train/serve preprocessing;
- `suite`: everything together (`run_bench`); `output`: bench.json, CSV and the report section.
"""

from pitfalls.bench.suite import BenchOptions, BenchResult, run_bench

__all__ = ["BenchOptions", "BenchResult", "run_bench"]
