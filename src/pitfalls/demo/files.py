"""The demo's files: JPEG bytes with EXIF, the manifest rows and the answer key they record, and
the tables written beside the images (manifest, predictions, the key)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pitfalls.demo.settings import MARKER, SITES

_TAG_MAKE, _TAG_MODEL, _TAG_ORIENT, _EXIF_IFD, _TAG_DTO = 0x010F, 0x0110, 0x0112, 0x8769, 0x9003

Kept = tuple[str, Image.Image, bytes]
"""A written photo: its path under `data/`, the image and the file's bytes."""


@dataclass
class Row:
    """One manifest row (and the file it names)."""

    path: str
    label: str
    split: str
    group: str
    site: str
    camera: str


@dataclass
class Plan:
    """What was planted, for the answer key."""

    rows: list[Row] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    paths: dict[str, list[str]] = field(default_factory=dict)

    def note(self, code: str, text: str, *paths: str) -> None:
        """Record what was planted for `code` and the files that carry it."""
        self.notes.setdefault(code, []).append(text)
        self.paths.setdefault(code, []).extend(p for p in paths if p not in self.paths[code])


def exif(make: str, model: str, when: datetime | None, orientation: int | None = None) -> bytes:
    """An EXIF block: camera make and model, capture time and orientation."""
    block = Image.Exif()
    block[_TAG_MAKE], block[_TAG_MODEL] = make, model
    if orientation:
        block[_TAG_ORIENT] = orientation
    if when is not None:
        block.get_ifd(_EXIF_IFD)[_TAG_DTO] = when.strftime("%Y:%m:%d %H:%M:%S")
    return block.tobytes()


def jpeg(img: Image.Image, quality: int = 90, exif: bytes | None = None) -> bytes:
    """`img` as JPEG bytes (with an EXIF block when given)."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, exif=exif or b"")
    return buf.getvalue()


class Writer:
    """Writes files under `data/` and manifest rows, with unique realistic names; holds what the
    planting steps share: the random generator (each step draws from it in turn, so the build
    is the same on every run), the answer key and the ordinary photos later steps reuse."""

    def __init__(self, data: Path, plan: Plan, rng: np.random.Generator) -> None:
        self.data, self.plan, self.rng = data, plan, rng
        self.used: set[str] = set()
        self.kept: dict[tuple[str, str], list[Kept]] = {}

    def keep(self, split: str, label: str, photo: Kept) -> None:
        """Remember an ordinary photo for the steps that copy or edit one."""
        self.kept.setdefault((split, label), []).append(photo)

    def reuse(self, split: str, label: str, k: int) -> Kept:
        """The `k`-th ordinary photo of `label` in `split`."""
        return self.kept[(split, label)][k]

    def name(self, label: str, suffix: str = ".jpg") -> str:
        while True:
            stem = f"{label}-{self.rng.integers(0, 16**8):08x}"
            if stem not in self.used:
                self.used.add(stem)
                return stem + suffix

    def write(self, split: str, label: str, filename: str, payload: bytes, *, group: str,
              site: str | None = None, camera: str = "") -> str:
        rel = f"{split}/{label}/{filename}"
        target = self.data / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
        self.plan.rows.append(Row(rel, label, split, group, site or SITES[label], camera))
        return rel


def photo_times(rng: np.random.Generator, n: int) -> list[datetime]:
    """Capture times hours to days apart, so ordinary photos never look like one session."""
    start = datetime(2023, 3, 1, 8, 0, 0)
    gaps = rng.uniform(1.0, 40.0, n).cumsum()
    times = [start + timedelta(hours=float(g), seconds=int(rng.integers(0, 3600))) for g in gaps]
    order = rng.permutation(n)
    return [times[i] for i in order]


def write_manifest(data: Path, plan: Plan) -> None:
    """`manifest.csv`: one row per image under `data/`."""
    with (data / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "label", "split", "group", "site", "camera"])
        for r in plan.rows:
            writer.writerow([r.path, r.label, r.split, r.group, r.site, r.camera])


def _thumb(path: Path) -> np.ndarray | None:
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            return np.asarray(im.resize((16, 16), Image.Resampling.BOX), dtype=np.float64).ravel()
    except Exception:  # broken files are QUAL001's business, not the model's
        return None


def write_predictions(data: Path, plan: Plan) -> None:
    """Predictions on the test split from a small model trained on train's 16x16 thumbnails.

    Leaked copies are predicted right, as they would be by any model that saw them in training.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xs, ys, test = [], [], []
    for r in plan.rows:
        t = _thumb(data / r.path)
        if t is None:
            continue
        if r.split == "train":
            xs.append(t)
            ys.append(r.label)
        else:
            test.append((r.path, t))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000))
    model.fit(np.array(xs), np.array(ys))
    probs = model.predict_proba(np.array([t for _, t in test]))
    classes = [str(c) for c in model.classes_]
    with (data / "predictions.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "pred", *[f"prob_{c}" for c in classes]])
        for (path, _), p in zip(test, probs, strict=True):
            p = np.round(p, 4)
            writer.writerow([path, classes[int(np.argmax(p))], *[f"{v:.4f}" for v in p]])


def write_key(data: Path, plan: Plan) -> None:
    """The answer key: `PLANTED.md` for people, `planted.json` (rule code -> files) for tests."""
    lines = ["# What the pitfalls demo planted", "",
             "The answer key: every pitfall below is in `manifest.csv` on purpose.", ""]
    for code in sorted(plan.notes):
        lines.append(f"## {code}")
        lines += [f"- {n}" for n in plan.notes[code]]
        lines.append("")
    (data / MARKER).write_text("\n".join(lines), encoding="utf-8")
    (data / "planted.json").write_text(json.dumps(plan.paths, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")


def tree_digest(directory: Path) -> str:
    """A SHA-256 over every file's relative path and bytes (for checking determinism)."""
    h = hashlib.sha256()
    for p in sorted(Path(directory).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(directory).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()
