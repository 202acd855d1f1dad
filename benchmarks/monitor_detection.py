"""Detection delay of the MON rules on planted shifts, against their false alerts without one.

A reference of generated photos (the scan's own extractor) and a simulated classifier; then
hourly windows from two cameras in which one thing changes step by step from window 0:
- darkening: cam-1's exposure gain falls from 1.0 to 0.4 over 12 windows (the model's margin
  falls with it),
- blur: cam-1's focus blur grows from 0 to 3 px (sigma) over 12 windows,
- class mix: the share of one class grows from 25% to 70% over 12 windows,
- silent: cam-2's traffic halves every window;
and a null stream of the same length with no change. Printed: for each scenario, the first
window at which each rule alerts (the delay) and the shift's size there; for the null stream the
false alerts per 100 windows. The baseline in the same run is the usual dashboard rule, an
uncorrected 3-standard-error test of each condition's window mean: its delay and false alerts
are printed beside ours.

    PYTHONPATH=src python benchmarks/monitor_detection.py [--per-window 100] [--null 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from monitor_data import (  # noqa: E402
    CLASSES,
    HOUR,
    START,
    features_of,
    pool,
    records,
    reference,
    true_accuracy,
)
from scenes import scene  # noqa: E402

from pitfalls.field.capture import Capture, apply_capture  # noqa: E402
from pitfalls.field.conditions import CONDITIONS  # noqa: E402
from pitfalls.monitor.analysis import ALL, Key, batch_for, check_batch  # noqa: E402
from pitfalls.monitor.analysis.records import COND_PREFIX, flatten  # noqa: E402

STEPS = 12
LOOKBACK = 6
SEEDS = {"darkening": 1, "blur": 2, "class mix": 3, "silent": 4, "null": 5}


def shifted_pool(kind: str, step: int, n: int) -> list[dict]:
    frac = step / (STEPS - 1)
    cap = (Capture(gain=1.0 - 0.6 * frac) if kind == "darkening"
           else Capture(blur_sigma=3.0 * frac))
    return features_of([apply_capture(scene(7_000_000 + step * 1000 + i), cap, seed=i)
                        for i in range(n)])


def naive_alerts(ref_table: pd.DataFrame, rows: pd.DataFrame) -> bool:
    """The usual dashboard rule: some condition's window mean more than 3 standard errors from
    the reference mean (no correction over conditions or sources)."""
    for _, scope in [(ALL, rows), *rows.groupby("source")]:
        for c in CONDITIONS:
            ref = ref_table[COND_PREFIX + c].dropna()
            live = scope[COND_PREFIX + c].dropna()
            sd = float(ref.std())
            if len(live) < 10 or sd == 0:
                continue
            if abs(float(live.mean()) - float(ref.mean())) > 3 * sd / np.sqrt(len(live)):
                return True
    return False


def run(scenario: str, ref, plain: list[dict], per_window: int, windows: int,
        rng: np.random.Generator) -> tuple[dict[str, int], dict[str, int], int | None, int]:
    """First alerting window per rule, windows alerting per rule, and the naive baseline's first
    alert and alert count."""
    frames = [records(rng, plain, START + w * HOUR, per_window, src, labelled=True,
                      prefix="h") for w in range(LOOKBACK) for src in ("cam-1", "cam-2")]
    for step in range(windows):
        at = START + (LOOKBACK + step) * HOUR
        frac = min(step, STEPS - 1) / (STEPS - 1)
        cam1, margin, mix, n2 = plain, 2.5, None, per_window
        if scenario in ("darkening", "blur") and step < STEPS:
            cam1 = shifted_pool(scenario, step, per_window)
            margin = 2.5 - 1.5 * frac
        elif scenario == "class mix":
            mix = np.array([0.25 + 0.45 * frac, *[(0.75 - 0.45 * frac) / 3] * 3])
        elif scenario == "silent":
            n2 = int(per_window * 0.5 ** (step + 1))
        frames.append(records(rng, cam1, at, per_window, "cam-1", margin=margin, mix=mix,
                              labelled=True, prefix=f"s{step}"))
        if n2:
            frames.append(records(rng, plain, at, n2, "cam-2", mix=mix, labelled=True,
                                  prefix=f"s{step}"))
    table = flatten(pd.concat(frames, ignore_index=True), CLASSES, ref.blur_median)
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    naive_first, naive_count = None, 0
    for step in range(windows):
        key = Key("1h", START + (LOOKBACK + step) * HOUR, ALL)
        batch = batch_for(ref, table, key, LOOKBACK)
        findings, _, _, _ = check_batch(batch)
        for rule in {f.rule for f in findings}:
            first.setdefault(rule, step)
            counts[rule] = counts.get(rule, 0) + 1
        if scenario in ("darkening", "blur", "null") and naive_alerts(ref.table, batch.records):
            naive_count += 1
            naive_first = step if naive_first is None else naive_first
    return first, counts, naive_first, naive_count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-window", type=int, default=100)
    ap.add_argument("--null", type=int, default=60, help="windows of the null stream")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    acc = true_accuracy(2.5)
    ref = reference(n=300, seed=1, expected=(acc - 0.03, min(1.0, acc + 0.05)))
    plain = list(pool("plain", 400, 7))
    print(f"reference: 300 photos, accuracy {ref.accuracy:.3f}, agreed range "
          f"{ref.expected_range[0]:.3f}-{ref.expected_range[1]:.3f}; {args.per_window} records "
          f"per camera per window; shift ramps over {STEPS} windows")
    print(f"{'scenario':<11} {'rule':<8} {'delay (windows)':>15}  shift at alert")
    for scenario in ("darkening", "blur", "class mix", "silent"):
        first, _, naive_first, _ = run(scenario, ref, plain, args.per_window, STEPS,
                                       np.random.default_rng(SEEDS[scenario]))
        for rule in sorted(first):
            step = first[rule]
            frac = min(step, STEPS - 1) / (STEPS - 1)
            size = {"darkening": f"gain {1.0 - 0.6 * frac:.2f}",
                    "blur": f"blur sigma {3.0 * frac:.2f} px",
                    "class mix": f"apple share {0.25 + 0.45 * frac:.2f}",
                    "silent": f"cam-2 at {0.5 ** (step + 1):.1%} of its rate"}[scenario]
            print(f"{scenario:<11} {rule:<8} {step:>15}  {size}")
        if scenario in ("darkening", "blur"):
            shown = naive_first if naive_first is not None else "-"
            print(f"{scenario:<11} {'naive':<8} {shown:>15}"
                  "  (3-SE test of each condition's mean, uncorrected)")
    _, counts, _, naive_count = run("null", ref, plain, args.per_window, args.null,
                                    np.random.default_rng(SEEDS["null"]))
    print(f"null stream, {args.null} windows: MON alerts per 100 windows: "
          + (", ".join(f"{r} {100 * c / args.null:.1f}" for r, c in sorted(counts.items()))
             or "none"))
    print(f"null stream, {args.null} windows: naive alerts per 100 windows: "
          f"{100 * naive_count / args.null:.1f}")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
