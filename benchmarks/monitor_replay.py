"""Time one window's capture replay as the monitoring service makes it, on the demo project.

    python benchmarks/monitor_replay.py [--dir DIR] [--repeat 3]

Builds the demo (`pitfalls demo`'s data and field photos) in DIR, scans it with the demo's
model (`pitfalls scan --model`, which writes the reference with the model and the photos' root),
then replays one window — the field photos' features, as the device client measures them — with
the service's `WindowReplay`: the first call includes building the reference photos' context
(features from the scan's cache), the next ones are the per-window cost. Prints wall-clock and
CPU seconds of each, with the estimate and the model's true accuracy on those photos.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="pitfalls-replay-"))

    from PIL import Image

    from pitfalls.demo import DEMO_MODEL, build_demo
    from pitfalls.evaluation.model import ModelRunner, load_spec
    from pitfalls.monitor.device_features import image_features
    from pitfalls.monitor.reference import load_reference
    from pitfalls.monitor.replay import WindowReplay, replay_setup

    if not (base / "data" / "manifest.csv").exists():
        build_demo(base)
    spec = DEMO_MODEL.with_suffix(".toml")
    if not (base / "out" / "reference" / "reference.json").exists():
        subprocess.run([sys.executable, "-m", "pitfalls", "scan", str(base / "data" /
                        "manifest.csv"), "--model", str(DEMO_MODEL), "--preprocess", str(spec),
                        "--out", str(base / "out"), "--fail-on", "never"],
                       check=True, stdout=subprocess.DEVNULL)
    ref = load_reference(base / "out" / "reference")
    setup, line = replay_setup(ref)
    print(line)
    assert setup is not None
    truth = pd.read_csv(base / "data" / "field_truth.csv")
    runner = ModelRunner(DEMO_MODEL, load_spec(spec))
    classes = list(load_spec(spec).classes or ())
    rows, right = [], []
    for path, label in zip(truth["path"], truth["label"], strict=True):
        file = (base / "data" / path).resolve()  # the truth's paths are relative to data/
        feats, _ = image_features(file.read_bytes(), file.name)
        rows.append({"id": str(len(rows)), "features": feats})
        if isinstance(label, str) and label in classes:
            probs = runner.probabilities([np.asarray(Image.open(file).convert("RGB"))])[0]
            right.append(classes[int(probs.argmax())] == label)
    window = pd.DataFrame(rows)
    replay = WindowReplay(setup, ref)
    for i in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        est = replay(window)
        print(f"{'first (builds the context)' if i == 0 else 'next'}: "
              f"{time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU; "
              f"{len(window)} records, {ref.n_eval} reference photos: estimate "
              f"{est.value:.3f} [{est.ci[0]:.3f}, {est.ci[1]:.3f}]")
    print(f"true accuracy on the labelled field photos: {np.mean(right):.3f} ({len(right)})")


if __name__ == "__main__":
    main()
