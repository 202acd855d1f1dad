"""Predicted field accuracy against the truth, on shifts outside the capture model's family.

    python benchmarks/field_accuracy.py                    # 25 photos per class on each side
    python benchmarks/field_accuracy.py --n 100            # the estimators' own errors
    python benchmarks/field_accuracy.py --n 20 --shifts "gamma 1.8,phone pipeline"

The lab is the demo's evaluation split drawn afresh (fruit on a belt, the demo's cameras, JPEG
85-95). The field photos are OTHER scenes (another seed: other fruit, places, light) taken by a
shifted camera from `tests/field_shifts.py`, whose degradations are written independently of
`pitfalls.field.capture` (tone curves, cos^4 vignetting, angled line kernels, unsharp masking,
YCbCr chroma noise, white balance in linear light, resampling round trips, JPEG 4:2:0). The true
field accuracy is the model's accuracy on those labelled field photos. For every shift and model
it prints the truth, the capture replay's estimate and 95% interval, ATC, their errors, whether
the interval covers the truth, FIELD001's severity (the lab's own camera must leave it silent)
and the conditions the replay could not reproduce, with the accuracy of the replay pushed on to
close them; then the mean and largest errors and the coverage. At 25 photos per class the
field's scenes alone move the truth by about 5 points (see the "same camera" rows): `--n 100`
shows the estimators' own errors.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from field_shifts import SHIFTS, encode  # noqa: E402

from pitfalls import demo  # noqa: E402
from pitfalls.config import find_config  # noqa: E402
from pitfalls.decode import decode_bytes  # noqa: E402
from pitfalls.demo.drawing import tray_edge  # noqa: E402
from pitfalls.demo.settings import DEMO_MODEL, FRAME_CLASS, LEMON_SIZE, SIZE  # noqa: E402
from pitfalls.evaluation.model import ModelRunner, load_spec  # noqa: E402
from pitfalls.field.data import load_field  # noqa: E402
from pitfalls.field.predict import predict_field  # noqa: E402
from pitfalls.pipeline import build_context  # noqa: E402
from pitfalls.rules.field import FieldConditions  # noqa: E402

MODELS = ("fruit-mlp-16", "fruit-mlp-24", "fruit-mlp-32")
LAB_SEED, FIELD_SEED = 101, 202


def scene(rng: np.random.Generator, label: str) -> np.ndarray:
    """One raw scene as the demo draws its photos (lemons larger, apples framed)."""
    size = LEMON_SIZE if label == "lemon" else SIZE
    img = demo.draw_scene(rng, label, size)
    img = tray_edge(img) if label == FRAME_CLASS else img
    return np.asarray(img)


def write_lab(folder: Path, n: int) -> None:
    rng = np.random.default_rng(LAB_SEED)
    for label in demo.CLASSES:
        (folder / "test" / label).mkdir(parents=True)
        for i in range(n):
            (folder / "test" / label / f"{i}.jpg").write_bytes(
                encode(scene(rng, label), "same camera", rng))


def write_field(folder: Path, name: str, n: int) -> list[tuple[Path, str]]:
    rng = np.random.default_rng(FIELD_SEED)
    folder.mkdir(parents=True)
    truth = []
    for label in demo.CLASSES:
        for i in range(n):
            path = folder / f"{label[:2]}{i:03d}.jpg"
            path.write_bytes(encode(SHIFTS[name](scene(rng, label), rng), name, rng))
            truth.append((path, label))
    return truth


def true_accuracy(model: Path, truth: list[tuple[Path, str]]) -> float:
    spec = load_spec(model.with_suffix(".toml"))
    runner = ModelRunner(model, spec)
    images = [decode_bytes(p.read_bytes()).rgb for p, _ in truth]
    probs = np.vstack([runner.probabilities(images[i:i + 32]) for i in range(0, len(images), 32)])
    classes = list(spec.classes)
    return float(np.mean([classes[k] == lab for k, (_, lab) in
                          zip(probs.argmax(1), truth, strict=True)]))


def run_shift(name: str, n: int, models: list[Path], tmp_path: Path) -> list[dict]:
    """Every model's truth and estimates on one shift (a process of its own)."""
    cfg = find_config().merged(workers=1)
    ctx = build_context(tmp_path / "lab", cfg, cache=tmp_path / "cache")
    truth = write_field(tmp_path / "field" / name.replace(" ", "_"), name, n)
    ctx.extras["field"] = load_field(truth[0][0].parent, cfg, cache=tmp_path / "cache")
    rows = []
    for model in models:
        t0 = time.perf_counter()
        fp = predict_field(ctx, model, load_spec(model.with_suffix(".toml")), sweep=False)
        assert fp is not None
        true = true_accuracy(model, truth)
        ctx.extras["field_prediction"] = fp
        field001 = [f.severity for f in FieldConditions().check(ctx)]
        est, (lo, hi) = fp.predicted_field_accuracy, fp.ci
        replay = getattr(fp, "atc_replay", est)  # ATC calibrated on the replay (after the change)
        atc = fp.atc_estimate if fp.atc_estimate is not None else float("nan")
        rows.append({"shift": name, "model": model.stem, "lab": fp.lab_accuracy, "truth": true,
                     "replay": replay, "est": est, "lo": lo, "hi": hi,
                     "covers": lo <= true <= hi, "atc": atc, "err": abs(est - true),
                     "err_replay": abs(replay - true), "err_atc": abs(atc - true),
                     "missed": ",".join(str(m["condition"]) for m in
                                        getattr(fp, "unreproduced", [])),
                     "field001": field001[0] if field001 else "-",
                     "pushed": fp.pushed_accuracy, "untoned": fp.untoned_accuracy,
                     "seconds": time.perf_counter() - t0})
    return rows


HEAD = (f"{'shift':24s} {'model':12s} {'lab':>5s} {'truth':>5s} {'replay':>6s} {'ATC':>5s} "
        f"{'ATC-r':>5s} {'95% interval':>13s} {'cover':>5s} {'e_rep':>5s} {'e_ATC':>5s} "
        f"{'e_ATr':>5s} {'F001':>7s} {'s':>4s}  unreproduced (pushed replay)")


def show(r: dict) -> str:
    return (f"{r['shift']:24s} {r['model']:12s} {r['lab']:5.0%} {r['truth']:5.1%} "
            f"{r['est']:6.1%} {r['atc']:5.1%} {r['replay']:5.1%} "
            f"[{r['lo']:5.1%},{r['hi']:5.1%}] {'yes' if r['covers'] else 'NO':>5s} "
            f"{r['err'] * 100:5.1f} {r['err_atc'] * 100:5.1f} {r['err_replay'] * 100:5.1f} "
            f"{r['field001']:>7s} {r['seconds']:4.0f}  {r['missed']}"
            + (f" ({r['pushed']:.1%})" if r["pushed"] is not None else "")
            + (f" untoned {r['untoned']:.1%}" if r["untoned"] is not None else ""))


def main() -> None:
    from concurrent.futures import ProcessPoolExecutor

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=25, help="photos per class, lab and field alike")
    ap.add_argument("--shifts", default=",".join(SHIFTS), help="comma-separated shift names")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--jobs", type=int, default=2, help="shifts measured at once")
    args = ap.parse_args()
    models = [DEMO_MODEL.parent / f"{m}.onnx"
              for m in args.models.split(",")]
    rows: list[dict] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_lab(tmp_path / "lab", args.n)
        build_context(tmp_path / "lab", find_config().merged(workers=1),
                      cache=tmp_path / "cache")  # the lab's features, once for every worker
        print(HEAD, flush=True)
        with ProcessPoolExecutor(args.jobs) as pool:
            for got in pool.map(run_shift, args.shifts.split(","), [args.n] * 99,
                                [models] * 99, [tmp_path] * 99):
                rows += got
                for r in got:
                    print(show(r), flush=True)
    print()
    for key, what in (("err", "replay (FIELD002)"), ("err_atc", "ATC (lab-calibrated)"),
                      ("err_replay", "ATC from the replay")):
        e = np.array([r[key] for r in rows])
        print(f"{what:22s} mean abs error {np.nanmean(e) * 100:4.1f} points, max "
              f"{np.nanmax(e) * 100:4.1f}, within 5 points {np.mean(e <= 0.05):4.0%}")
    cover = np.array([r["covers"] for r in rows])
    width = np.array([r["hi"] - r["lo"] for r in rows])
    same = [r["field001"] for r in rows if r["shift"] == "same camera"]
    if same:
        print(f"FIELD001 on the lab's own camera: {', '.join(same)} (- is silent)")
    print(f"interval coverage {cover.mean():.0%} ({cover.sum()}/{len(cover)}), mean width "
          f"{width.mean() * 100:.1f} points")
    print(f"{args.n * 4} lab and {args.n * 4} field photos per shift; "
          f"{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
