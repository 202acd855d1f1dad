"""What the demo plants and where: classes, counts, sizes, sites, cameras and the field's camera."""

from __future__ import annotations

from pathlib import Path

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
DEMO_MODEL = Path(__file__).parent.parent / "demo_models" / "fruit-lr-16.onnx"
"""The demo's model (its preprocessing spec is the `.toml` beside it)."""
FIELD_COUNTS = {"apple": 14, "lemon": 14, "lime": 14, "plum": 12}
FIELD_TRUTH = "field_truth.csv"
"""True labels of the field photos (in `data/`; for checking FIELD002, never read by a scan)."""
FIELD_CAMERA = ("Basler", "acA1300-30uc")  # a fixed industrial camera over the belt
FIELD_ODD = (("gloved hand", 3), ("cardboard box", 2), ("crate", 3))  # outside training: FIELD003
