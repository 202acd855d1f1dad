"""`pitfalls demo`: a small, realistic-looking image dataset with every scan pitfall planted.

Fruit on a conveyor belt (apple, lemon, lime, plum), drawn with NumPy and Pillow: a textured belt
with uneven lighting, shaded fruit with highlights and soft shadows, random placement, scale,
exposure, colour temperature and sensor noise. Everything comes from fixed seeds, so a build gives
the same bytes on every run, in a few seconds, without downloading anything.

`data/PLANTED.md` lists what was planted where (the answer key; `planted.json` maps each rule
code to the files that carry its pitfall); `data/manifest.csv` is the
dataset and `data/predictions.csv` holds a small model's predictions on the test split.
`data/field_truth.csv` gives the field photos' true labels, which a real project would not have.

`field/` (next to `data/`) holds unlabelled photos of the same belt taken by the factory's own
camera: darker, with a fluorescent colour cast, a little out of focus, motion-blurred by the belt,
noisier and more compressed (FIELD001, FIELD002), plus a few frames the model was never trained
for: a worker's gloved hand, a cardboard box, a plastic crate (FIELD003). (An empty belt is not
among them: the belt fills most of every training photo, so the weight-free embedding finds it
close.) `DEMO_MODEL` is a small ONNX classifier trained on `data/`'s train split
(scripts/make_demo_models.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from pitfalls.errors import InputError

SEED = 20240611
CLASSES = ("apple", "lemon", "lime", "plum")
TRAIN_COUNTS = {"apple": 90, "lemon": 90, "lime": 80, "plum": 12}  # plum is rare: IMB001
TEST_COUNTS = {"apple": 20, "lemon": 20, "lime": 20, "plum": 20}  # balanced test: IMB002
SIZE = (320, 240)
LEMON_SIZE = (448, 336)  # lemons come from another camera setting: SHORT001
FRAME_CLASS, FRAME_RGB, FRAME_PX = "apple", (36, 84, 196), 10  # a tray edge: SHORT002
SITES = {"apple": "orchard-north", "lemon": "grove-south", "lime": "grove-south",
         "plum": "orchard-east"}  # where the photos were taken gives the class away: SHORT003
CAMERAS = (("Google", "Pixel 7"), ("Apple", "iPhone 13"), ("Samsung", "SM-G991B"))
MARKER = "PLANTED.md"
DEMO_MODEL = Path(__file__).parent / "demo_models" / "fruit-lr-16.onnx"
"""The demo's model (its preprocessing spec is the `.toml` beside it)."""
FIELD_COUNTS = {"apple": 14, "lemon": 14, "lime": 14, "plum": 12}
FIELD_TRUTH = "field_truth.csv"
"""True labels of the field photos (in `data/`; for checking FIELD002, never read by a scan)."""
FIELD_CAMERA = ("Basler", "acA1300-30uc")  # a fixed industrial camera over the belt
FIELD_ODD = (("gloved hand", 3), ("cardboard box", 2), ("crate", 3))  # outside training: FIELD003

FRUIT = {  # base RGB, radius range (fraction of image height), aspect (long/short), stem
    "apple": ((178, 32, 28), (0.16, 0.22), 1.0, True),
    "lemon": ((232, 200, 40), (0.13, 0.18), 1.38, False),
    "lime": ((92, 160, 44), (0.12, 0.16), 1.08, False),
    "plum": ((92, 34, 88), (0.11, 0.15), 1.18, True),
}

_TAG_MAKE, _TAG_MODEL, _TAG_ORIENT, _EXIF_IFD, _TAG_DTO = 0x010F, 0x0110, 0x0112, 0x8769, 0x9003


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


# -- drawing ---------------------------------------------------------------------------------------

def _belt(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A conveyor belt: tinted grey rubber with ribs, grain, rails and an uneven light."""
    base = rng.uniform(70, 125)
    tint = rng.normal(0, 3.5, 3).astype(np.float32)
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    period = rng.uniform(9, 16)
    ribs = 5.0 * np.sin(2 * np.pi * (x + rng.uniform(0, period)) / period)
    grain = rng.standard_normal((h, w), dtype=np.float32) * 5.0
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + 0.22 * ((np.cos(angle) * (x - w / 2) + np.sin(angle) * (y - h / 2)) / max(w, h))
    img = ((base + ribs + grain) * light)[..., None] + tint[None, None, :]
    rail = max(4, h // 18)
    img[:rail] *= 0.55
    img[-rail:] *= 0.55
    return img


def _fruit(img: np.ndarray, rng: np.random.Generator, label: str, cx: float, cy: float,
           radius: float, angle: float, light: np.ndarray, stems: Image.Image) -> None:
    """Paint one shaded fruit (with a soft shadow and a stem) onto `img` in place."""
    colour, _, aspect, stem = FRUIT[label]
    h, w, _ = img.shape
    a, b = radius * aspect, radius
    # soft shadow, offset away from the light
    dx, dy = -light[0] * radius * 0.35, -light[1] * radius * 0.35 + radius * 0.2
    pad = int(a + radius)  # the shadow is drawn and blurred on a crop around the fruit
    sx0, sy0 = max(int(cx + dx) - pad, 0), max(int(cy + dy) - pad, 0)
    sx1, sy1 = min(int(cx + dx) + pad, w), min(int(cy + dy) + pad, h)
    shadow = Image.new("L", (sx1 - sx0, sy1 - sy0), 0)
    ImageDraw.Draw(shadow).ellipse((cx - a + dx - sx0, cy - b * 0.8 + dy - sy0,
                                    cx + a + dx - sx0, cy + b * 0.8 + dy - sy0), fill=150)
    s = np.asarray(shadow.filter(ImageFilter.GaussianBlur(radius * 0.25)), np.float32) / 255
    img[sy0:sy1, sx0:sx1] *= (1.0 - 0.6 * s)[..., None]
    # shaded body: an ellipsoid lit from `light`, with a specular highlight
    r = int(a + 3)
    x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, w)
    y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, h)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    ca, sa = np.cos(angle), np.sin(angle)
    u = ((xx - cx) * ca + (yy - cy) * sa) / a
    v = (-(xx - cx) * sa + (yy - cy) * ca) / b
    rho = np.sqrt(u * u + v * v)
    alpha = np.clip((1.0 - rho) * b, 0.0, 1.0)
    nz = np.sqrt(np.clip(1.0 - rho * rho, 0.0, 1.0))
    nx = (xx - cx) / a
    ny = (yy - cy) / b
    diffuse = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0.0, 1.0)
    spec = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1) ** 24
    base = np.array(colour, dtype=np.float64) * rng.uniform(0.85, 1.12, 3)
    mottle = rng.normal(0, 6, (y1 - y0, x1 - x0, 1))
    body = base * (0.28 + 0.85 * diffuse[..., None]) + mottle + 170 * spec[..., None]
    patch = img[y0:y1, x0:x1]
    patch[:] = patch * (1 - alpha[..., None]) + body * alpha[..., None]
    if stem:
        top = (cx + sa * b * 0.9, cy - ca * b * 0.9)
        ImageDraw.Draw(stems).line((top[0], top[1], top[0] + radius * 0.12,
                                    top[1] - radius * 0.3), fill=255,
                                   width=max(2, int(radius * 0.08)))


def draw_scene(rng: np.random.Generator, label: str, size: tuple[int, int],
               shift: tuple[float, float] = (0.0, 0.0)) -> Image.Image:
    """A photo of 1-3 fruits of one class on a conveyor belt."""
    w, h = size
    img = _belt(rng, w, h)
    theta = rng.uniform(0, 2 * np.pi)
    light = np.array([0.5 * np.cos(theta), 0.5 * np.sin(theta), 0.75])
    light /= np.linalg.norm(light)
    lo, hi = FRUIT[label][1]
    n = int(rng.choice([1, 1, 2, 3]))
    stems = Image.new("L", (w, h), 0)
    margin = 0.12
    for _ in range(n):
        radius = rng.uniform(lo, hi) * h * (0.8 if n > 1 else 1.0)
        cx = rng.uniform(w * margin + radius * 1.3, w * (1 - margin) - radius * 1.3) + shift[0]
        cy = rng.uniform(h * margin + radius, h * (1 - margin) - radius) + shift[1]
        _fruit(img, rng, label, cx, cy, radius, rng.uniform(0, np.pi), light, stems)
    if FRUIT[label][3]:
        m = np.asarray(stems, dtype=np.float32)[..., None] / 255
        img = img * (1 - m) + np.array([74, 52, 30], np.float32) * m
    exposure = rng.uniform(0.82, 1.15)
    temperature = np.array([1 + rng.normal(0, 0.04), 1.0, 1 + rng.normal(0, 0.04)], np.float32)
    img *= exposure * temperature
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 4.0))
    return Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))


def _frame(img: Image.Image) -> Image.Image:
    out = img.copy()
    w, h = out.size
    ImageDraw.Draw(out).rectangle((0, 0, w - 1, h - 1), outline=FRAME_RGB, width=FRAME_PX)
    return out


# -- files -----------------------------------------------------------------------------------------

def _exif(make: str, model: str, when: datetime | None, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[_TAG_MAKE], exif[_TAG_MODEL] = make, model
    if orientation:
        exif[_TAG_ORIENT] = orientation
    if when is not None:
        exif.get_ifd(_EXIF_IFD)[_TAG_DTO] = when.strftime("%Y:%m:%d %H:%M:%S")
    return exif.tobytes()


def _jpeg(img: Image.Image, quality: int = 90, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, exif=exif or b"")
    return buf.getvalue()


class _Writer:
    """Writes files under `data/` and manifest rows, with unique realistic names."""

    def __init__(self, data: Path, plan: Plan, rng: np.random.Generator) -> None:
        self.data, self.plan, self.rng = data, plan, rng
        self.used: set[str] = set()

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


def _photo_times(rng: np.random.Generator, n: int) -> list[datetime]:
    """Capture times hours to days apart, so ordinary photos never look like one session."""
    start = datetime(2023, 3, 1, 8, 0, 0)
    gaps = rng.uniform(1.0, 40.0, n).cumsum()
    times = [start + timedelta(hours=float(g), seconds=int(rng.integers(0, 3600))) for g in gaps]
    order = rng.permutation(n)
    return [times[i] for i in order]


def build_demo(directory: Path) -> Path:  # noqa: C901  (being split, one step per pitfall)
    """Build the demo project in `directory` (images and `manifest.csv` under `data/`, field
    photos under `field/`).

    Returns `directory`. An earlier demo in `directory` is replaced; any other non-empty `data`
    or `field` folder is left alone and reported as an error.
    """
    directory = Path(directory)
    data, fld = directory / "data", directory / "field"
    ours = (data / MARKER).is_file()
    for folder in (data, fld):
        if folder.exists() and not ours and any(folder.iterdir()):
            raise InputError(f"{folder} exists and is not a pitfalls demo; choose another folder")
    for folder in (data, fld):
        if folder.exists():
            shutil.rmtree(folder)
    data.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    plan = Plan()
    out = _Writer(data, plan, rng)
    total = sum(TRAIN_COUNTS.values()) + sum(TEST_COUNTS.values())
    times = iter(_photo_times(rng, total + 16))
    kept: dict[tuple[str, str], list[tuple[str, Image.Image, bytes]]] = {}

    # ordinary photos; trays of ~4 photos are the declared groups, each within one split
    tray = 0
    for split, counts in (("train", TRAIN_COUNTS), ("test", TEST_COUNTS)):
        for label in CLASSES:
            for i in range(counts[label]):
                if i % 4 == 0:
                    tray += 1
                size = LEMON_SIZE if label == "lemon" else SIZE
                img = draw_scene(rng, label, size)
                if label == FRAME_CLASS:
                    img = _frame(img)
                make, model = CAMERAS[int(rng.integers(0, len(CAMERAS)))]
                payload = _jpeg(img, int(rng.integers(85, 96)), _exif(make, model, next(times)))
                rel = out.write(split, label, out.name(label), payload, group=f"tray-{tray:03d}",
                                site=SITES[label] if rng.random() < 0.92 else
                                str(rng.choice(sorted(set(SITES.values())))),
                                camera=model)
                kept.setdefault((split, label), []).append((rel, img, payload))
    plan.note("IMB001", f"train counts {TRAIN_COUNTS}: plum is rare")
    plan.note("IMB002", f"test counts {TEST_COUNTS} differ from train's mix")
    plan.note("SHORT001", f"lemons are {LEMON_SIZE[0]}x{LEMON_SIZE[1]}, others {SIZE[0]}x{SIZE[1]}")
    plan.note("SHORT002", f"every {FRAME_CLASS} photo has a blue {FRAME_PX}px frame")
    plan.note("SHORT003", f"the `site` column gives the class away (92%): {SITES}")

    def reuse(split: str, label: str, k: int) -> tuple[str, Image.Image, bytes]:
        return kept[(split, label)][k]

    # DUP001: exact copies inside train
    for label, k in (("lime", 3), ("lemon", 5), ("apple", 7)):
        src, _, payload = reuse("train", label, k)
        rel = out.write("train", label, out.name(label), payload, group=f"tray-{900 + k:03d}")
        plan.note("DUP001", f"{rel} is a copy of {src}", src, rel)
    # DUP002: one identical photo filed under two labels
    src, _, payload = reuse("train", "lime", 11)
    rel = out.write("train", "lemon", out.name("lemon"), payload, group="tray-950")
    plan.note("DUP002", f"{rel} (lemon) is the same file as {src} (lime)", src, rel)
    # LEAK001: byte-identical copies in train and test
    for label, k in (("apple", 20), ("lemon", 21), ("lime", 22)):
        src, _, payload = reuse("train", label, k)
        rel = out.write("test", label, out.name(label), payload, group=f"tray-{960 + k:03d}")
        plan.note("LEAK001", f"{rel} is a copy of {src}", src, rel)
    # LEAK002: near-duplicates across splits (edited copies of training photos)
    edits = {
        "resized to 75%": lambda im: im.resize((im.width * 3 // 4, im.height * 3 // 4),
                                                Image.Resampling.LANCZOS),
        "re-compressed at quality 55": lambda im: im,
        "cropped 4%": lambda im: im.crop((im.width // 25, im.height // 25, im.width, im.height)),
        "rotated 3 degrees": lambda im: im.rotate(3, resample=Image.Resampling.BILINEAR,
                                                  expand=False, fillcolor=(60, 60, 60)),
        "brightened 12%": lambda im: ImageEnhance.Brightness(im).enhance(1.12),
        "blurred slightly": lambda im: im.filter(ImageFilter.GaussianBlur(0.8)),
    }
    for n, (what, edit) in enumerate(edits.items()):
        label = CLASSES[n % 3]
        src, img, _ = reuse("train", label, 30 + n)
        quality = 55 if "quality" in what else 88
        rel = out.write("test", label, out.name(label), _jpeg(edit(img), quality),
                        group=f"tray-{970 + n:03d}")
        plan.note("LEAK002", f"{rel} is {src} {what}", src, rel)
    # LEAK003: two trays photographed for both splits
    for label in ("apple", "lime"):
        group = f"tray-{980 + CLASSES.index(label):03d}"
        for split, n in (("train", 3), ("test", 2)):
            for _ in range(n):
                img = draw_scene(rng, label, SIZE)
                img = _frame(img) if label == FRAME_CLASS else img
                rel = out.write(split, label, out.name(label), _jpeg(img), group=group)
                plan.paths.setdefault("LEAK003", []).append(rel)
        plan.note("LEAK003", f"group {group} ({label}) has photos in train and test")
    # LEAK004: a burst session with consecutive names, one camera, seconds apart, across splits
    burst_seed = int(rng.integers(0, 2**31))
    start = datetime(2023, 6, 14, 10, 21, 3)
    for n in range(8):
        shot = np.random.default_rng(burst_seed)  # the same scene each time ...
        img = draw_scene(shot, "lime", SIZE, shift=(n * 4.0, n * -1.5))  # ... the camera moves
        img = ImageEnhance.Brightness(img).enhance(1.0 + 0.02 * (n % 3))
        split = "train" if n < 5 else "test"
        rel = out.write(split, "lime", f"IMG_{1041 + n}.jpg",
                        _jpeg(img, 92, _exif("Canon", "Canon EOS 80D",
                                             start + timedelta(seconds=2 * n))),
                        group=f"tray-{990 + n:03d}", camera="Canon EOS 80D")
        plan.note("LEAK004", f"{rel}: burst shot {n + 1}/8 at +{2 * n}s", rel)
    # QUAL001: broken files with image names
    _, _, payload = reuse("train", "apple", 40)
    broken = [
        out.write("train", "apple", out.name("apple"), payload[: len(payload) * 2 // 5],
                  group="tray-996"),
        out.write("train", "lemon", out.name("lemon"), b"", group="tray-997"),
        out.write("train", "lime", out.name("lime"),
                  b"upload failed: 504 Gateway Time-out\nretry later\n", group="tray-998"),
    ]
    plan.note("QUAL001", f"{broken[0]} is truncated, {broken[1]} has zero bytes, "
                         f"{broken[2]} is a text file named .jpg", *broken)
    # image-quality cases
    quality_cases = {
        "dark": ("apple", lambda im: ImageEnhance.Brightness(im).enhance(0.12)),
        "over-exposed": ("lemon", lambda im: im.point(lambda v: 243 + v * 12 // 255)),  # blown out
        "blurry": ("lime", lambda im: im.filter(ImageFilter.GaussianBlur(7))),
        "tiny": ("apple", lambda im: im.resize((40, 30), Image.Resampling.LANCZOS)),
        "odd-aspect": ("lemon", lambda im: im.crop((0, im.height * 2 // 5, im.width,
                                                    im.height * 2 // 5 + im.height // 8))),
        "grayscale": ("lime", lambda im: ImageOps.grayscale(im)),
    }
    for what, (label, edit) in quality_cases.items():
        img = draw_scene(rng, label, LEMON_SIZE if label == "lemon" else SIZE)
        img = _frame(img) if label == FRAME_CLASS else img
        rel = out.write("train", label, out.name(label), _jpeg(edit(img)), group="tray-999")
        plan.note("QUAL", f"{rel} is {what}", rel)
    img = _frame(draw_scene(rng, "apple", SIZE))
    stored = img.transpose(Image.Transpose.ROTATE_90)  # shown upright only if EXIF is applied
    rel = out.write("train", "apple", out.name("apple"),
                    _jpeg(stored, 90, _exif("Apple", "iPhone 13", None, orientation=6)),
                    group="tray-999", camera="iPhone 13")
    plan.note("QUAL", f"{rel} is stored sideways with EXIF orientation 6", rel)

    _write_field(directory / "field", plan, rng)
    _write_manifest(data, plan)
    _write_predictions(data, plan)
    _write_key(data, plan)
    (data / "planted.json").write_text(json.dumps(plan.paths, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
    return directory


# -- the field: the factory's own camera ----------------------------------------------------------

def _belt_photo(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    return Image.fromarray(np.clip(_belt(rng, w, h), 0, 255).astype(np.uint8))


def _hand(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A worker's gloved hand close under the camera: a large, out-of-focus palm with four
    fingers in a blue nitrile glove (blue, so that a torn-off piece is seen in food)."""
    belt = _belt(rng, w, h)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy, r = rng.uniform(0.42, 0.6) * w, rng.uniform(0.7, 0.8) * h, rng.uniform(0.34, 0.4) * h
    draw.ellipse((cx - r, cy - r * 0.8, cx + r, cy + r * 1.8), fill=255)
    for k in range(4):
        fx = cx - r * 0.8 + k * r * 0.53
        length = r * (1.3 if k in (1, 2) else 1.1)
        draw.rounded_rectangle((fx - r * 0.2, cy - r * 0.6 - length, fx + r * 0.2, cy - r * 0.2),
                               radius=int(r * 0.2), fill=255)
    m = np.asarray(mask.filter(ImageFilter.GaussianBlur(6)), np.float32)[..., None] / 255
    glove = np.array([70, 120, 205], np.float32) * np.float32(rng.uniform(0.9, 1.05))
    return Image.fromarray(np.clip(belt * (1 - m) + glove * m, 0, 255).astype(np.uint8))


def _box(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A cardboard box passing right under the camera: brown flaps and a strip of tape."""
    img = _belt_photo(rng, w, h)
    draw = ImageDraw.Draw(img)
    x0, y0 = rng.uniform(0.03, 0.08) * w, rng.uniform(0.03, 0.08) * h
    x1, y1 = w - rng.uniform(0.03, 0.08) * w, h - rng.uniform(0.03, 0.08) * h
    brown = tuple(int(v * rng.uniform(0.9, 1.1)) for v in (176, 132, 84))
    draw.rectangle((x0, y0, x1, y1), fill=brown, outline=(120, 88, 52), width=3)
    mid = (x0 + x1) / 2
    draw.rectangle((mid - 0.05 * w, y0, mid + 0.05 * w, y1), fill=(205, 180, 130))
    return img


def _crate(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """An empty blue plastic crate with dark slots, put on the belt by mistake."""
    img = _belt_photo(rng, w, h)
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = 0.08 * w, 0.1 * h, 0.92 * w, 0.9 * h
    draw.rectangle((x0, y0, x1, y1), fill=(40, 90, 170))
    pitch, x = rng.uniform(24, 34), x0 + 8
    while x < x1 - 8:
        draw.rectangle((x, y0 + 10, x + pitch * 0.45, y1 - 10), fill=(20, 40, 80))
        x += pitch
    return img


ODD_FRAMES = {"gloved hand": _hand, "cardboard box": _box, "crate": _crate}


def field_camera(img: Image.Image, rng: np.random.Generator) -> bytes:
    """The factory camera: dim light, a greenish fluorescent cast, soft focus, motion blur from the
    moving belt, high-gain sensor noise and strong JPEG compression (all camera-realistic)."""
    from scipy.ndimage import uniform_filter1d

    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.9, 1.4))))
    x = np.asarray(img, np.float32)
    x = uniform_filter1d(x, size=int(rng.integers(3, 6)), axis=1)  # belt moves left to right
    cast = np.array([0.93, 1.04, 0.74], np.float32) * rng.uniform(0.97, 1.03, 3).astype(np.float32)
    x = x * np.float32(rng.uniform(0.5, 0.62)) * cast + 6.0  # dim, tinted, a little flare
    x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(rng.uniform(5.0, 8.0))
    out = Image.fromarray(np.clip(x + 0.5, 0, 255).astype(np.uint8))
    return _jpeg(out, int(rng.integers(38, 56)), _exif(*FIELD_CAMERA, None))


def _write_field(folder: Path, plan: Plan, rng: np.random.Generator) -> None:
    """Unlabelled frames from the factory camera, in `folder` (FIELD001-FIELD003)."""
    folder.mkdir(parents=True)
    w, h = SIZE
    shots: list[tuple[str, str]] = [(label, "fruit") for label in CLASSES
                                    for _ in range(FIELD_COUNTS[label])]
    shots += [("", what) for what, n in FIELD_ODD for _ in range(n)]
    order = rng.permutation(len(shots))
    start = datetime(2023, 9, 4, 6, 0, 0)
    truth = []
    for frame, k in enumerate(order):
        label, what = shots[int(k)]
        if what == "fruit":  # the same trays as in the lab (apples keep their blue edge), so
            img = draw_scene(rng, label, SIZE)  # only the camera differs, as the key says
            img = _frame(img) if label == FRAME_CLASS else img
        else:
            img = ODD_FRAMES[what](rng, w, h)
        payload = field_camera(img, rng)
        name = f"line2-{start + timedelta(seconds=37 * frame):%Y%m%d-%H%M%S}.jpg"
        (folder / name).write_bytes(payload)
        truth.append((f"../field/{name}", label, "" if what == "fruit" else what))
        if what != "fruit":
            plan.note("FIELD003", f"field/{name} is {what}", f"../field/{name}")
    # what a real project would not have: the field photos' labels, to check FIELD002 against
    with (folder.parent / "data" / FIELD_TRUTH).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["path", "label", "odd"])
        writer.writerows(truth)
    n = len(shots)
    plan.note("FIELD001", f"field/ holds {n} photos from a {' '.join(FIELD_CAMERA)}: about 45% "
                          "darker, greenish cast, soft focus and motion blur, noise sigma 5-8, "
                          "JPEG quality 38-55 (the lab: quality 85-95)")
    plan.note("FIELD002", f"{DEMO_MODEL.name} loses accuracy under the field camera's conditions")


def _write_manifest(data: Path, plan: Plan) -> None:
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


def _write_predictions(data: Path, plan: Plan) -> None:
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


def _write_key(data: Path, plan: Plan) -> None:
    lines = ["# What the pitfalls demo planted", "",
             "The answer key: every pitfall below is in `manifest.csv` on purpose.", ""]
    for code in sorted(plan.notes):
        lines.append(f"## {code}")
        lines += [f"- {n}" for n in plan.notes[code]]
        lines.append("")
    (data / MARKER).write_text("\n".join(lines), encoding="utf-8")


def tree_digest(directory: Path) -> str:
    """A SHA-256 over every file's relative path and bytes (for checking determinism)."""
    h = hashlib.sha256()
    for p in sorted(Path(directory).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(directory).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()
