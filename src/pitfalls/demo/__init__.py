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

The modules: `settings` (what is planted where), `drawing` (the photos), `planted` (one step per
planted pitfall), `field` (the factory camera's photos), `files` (JPEG, EXIF, manifest, key,
predictions) and `build` (the steps in order).
"""

from pitfalls.demo.build import build_demo
from pitfalls.demo.drawing import FRUIT, ODD_FRAMES, draw_scene
from pitfalls.demo.field import field_camera
from pitfalls.demo.files import jpeg, tree_digest
from pitfalls.demo.settings import CLASSES, DEMO_MODEL

__all__ = ["CLASSES", "DEMO_MODEL", "FRUIT", "ODD_FRAMES", "build_demo", "draw_scene",
           "field_camera", "jpeg", "tree_digest"]
