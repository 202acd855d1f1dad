"""Calibrate the shortcut (SHORT001-003), leakage (LEAK) and image-quality (QUAL) rules on
realistic datasets, and print a table.

    python benchmarks/calibrate_rules.py [--seeds 5] [--per-class 40] [--large]

Datasets (built by `tests/realistic.py`): four fruit classes on belts, outdoor scenes and tiles
of scikit-learn's sample photos, 512x384 JPEGs at quality 85-95, 20 % test split. For each seed
the clean dataset is scanned (every SHORT, LEAK and QUAL rule) and then every planted variant
(a shortcut on class 'apple': frames of 3, 6 and 30 px, a frame of the photo's own mean colour,
letter/pillarbox bars, a corner logo, a burned-in date, another JPEG quality, another
resolution, a `site` column). A blur variant blurs 5 % of the clean images (Gaussian sigma 2
and 3, horizontal motion of 9 px) and checks QUAL004 finds exactly those. `--large` adds a
clean 1024x768 dataset.

Each row says which rules warned; 'false warnings' counts warnings on clean data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy.ndimage import uniform_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import realistic as R  # noqa: E402

import pitfalls  # noqa: E402

EXPECT = {  # plant -> rules that must warn
    "clean": set(), "frame6": {"SHORT002"}, "frame3": {"SHORT002"}, "frame30": {"SHORT002"},
    "frame_close": {"SHORT002"}, "letterbox": {"SHORT002"}, "pillarbox": {"SHORT002"},
    "logo": {"SHORT002"}, "timestamp": {"SHORT002"}, "quality": {"SHORT001"},
    "resolution": {"SHORT001", "SHORT003"}, "site": {"SHORT003"},
}


def blur_copy(root: Path, share: float = 0.05, seed: int = 0) -> list[str]:
    """Blur `share` of the images in place (Gaussian 2 or 3 px, or 9 px horizontal motion)."""
    rng = np.random.default_rng(seed)
    files = sorted(root.rglob("*.jpg"))
    picked = rng.choice(len(files), max(3, int(share * len(files))), replace=False)
    out = []
    for n, i in enumerate(picked):
        img = Image.open(files[i]).convert("RGB")
        if n % 3 == 2:
            arr = uniform_filter1d(np.asarray(img, np.float32), 9, axis=1)
            img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
        else:
            img = img.filter(ImageFilter.GaussianBlur(2 + n % 2))
        img.save(files[i], quality=90)
        out.append(files[i].relative_to(root).as_posix())
    return out


def summarise(report: pitfalls.Report) -> dict[str, str]:
    cells = {}
    for f in report.findings:
        if f.rule.startswith(("SHORT", "LEAK", "QUAL")):
            m = f.metrics
            score = m.get("score", m.get("share", m.get("n_images", "")))
            text = f"{f.severity[0].upper()}{'' if score == '' else f':{score:.2f}'}"
            if f.rule == "SHORT002" and "class" in m:
                text += f"({m['class']}, flat {m.get('flatness_score', 0):.2f})"
            if f.rule.startswith("QUAL") and "n_images" in m:
                text = f"{f.severity[0].upper()}:{m['n_images']}"
            cells[f.rule] = (cells.get(f.rule, "") + " " + text).strip()
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--plants", default=",".join(R.PLANTS))
    ap.add_argument("--large", action="store_true", help="also a clean 1024x768 dataset")
    args = ap.parse_args()
    plants = args.plants.split(",")
    rows, clean_false, clean_runs, misses = [], 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(seed, plant, R.SIZE) for seed in range(args.seeds) for plant in plants]
        jobs += [(s, "blur", R.SIZE) for s in range(args.seeds)]
        if args.large:
            jobs.append((0, "clean", (1024, 768)))
        for seed, plant, size in jobs:
            root = Path(tmp) / f"{seed}-{plant}-{size[0]}"
            t0 = time.perf_counter()
            m = R.build(root, "clean" if plant == "blur" else plant, seed=seed,
                        per_class=args.per_class, size=size)
            blurred = blur_copy(root, seed=seed) if plant == "blur" else []
            full = plant in ("clean", "blur")
            report = pitfalls.scan(m, cache=False,
                                   select=["SHORT", "LEAK", "QUAL"] if full else ["SHORT"])
            warned = {f.rule for f in report.findings if f.severity != "info"}
            expected = EXPECT.get(plant, {"QUAL004"} if plant == "blur" else set())
            ok = (warned >= expected and not (warned - expected - {"QUAL004"})
                  if plant != "clean" else not warned)
            if plant == "blur":
                found = {p for f in report.by_rule("QUAL004") for i in f.items
                         for p in i["paths"]}
                ok = found == set(blurred) and not (warned - {"QUAL004"})
                extra = f"blur found {len(found & set(blurred))}/{len(blurred)}, " \
                        f"false {len(found - set(blurred))}"
            else:
                extra = ""
            if plant == "clean":
                clean_runs += 1
                clean_false += bool(warned)
            misses += not ok
            cells = summarise(report)
            rows.append((seed, f"{plant}@{size[0]}", "ok" if ok else "FAIL",
                         " ".join(f"{k}={v}" for k, v in sorted(cells.items())),
                         extra, time.perf_counter() - t0))
            print(f"{rows[-1][0]:>4} {rows[-1][1]:<18} {rows[-1][2]:<4} {rows[-1][5]:5.1f}s  "
                  f"{rows[-1][3]} {rows[-1][4]}", flush=True)
    print(f"\nclean false-warning rate: {clean_false}/{clean_runs} datasets; "
          f"required detections missed: {misses}")


if __name__ == "__main__":
    main()
