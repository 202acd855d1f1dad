"""`build_demo`: the demo project, written step by step from one seed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from pitfalls.demo.field import write_field
from pitfalls.demo.files import Plan, Writer, write_key, write_manifest, write_predictions
from pitfalls.demo.planted import STEPS
from pitfalls.demo.settings import MARKER, SEED
from pitfalls.errors import InputError


def build_demo(directory: Path) -> Path:
    """Build the demo project in `directory` (images and `manifest.csv` under `data/`, field
    photos under `field/`).

    Returns `directory`. An earlier demo in `directory` is replaced; any other non-empty `data`
    or `field` folder is left alone and reported as an error.
    """
    directory = Path(directory)
    data = _fresh_folders(directory)
    plan = Plan()
    out = Writer(data, plan, np.random.default_rng(SEED))
    for step in STEPS:
        step(out)
    write_field(directory / "field", plan, out.rng)
    write_manifest(data, plan)
    write_predictions(data, plan)
    write_key(data, plan)
    return directory


def _fresh_folders(directory: Path) -> Path:
    """Empty `data/` (returned) and no `field/` under `directory`, replacing an earlier demo's;
    an error if either holds anything else."""
    data, fld = directory / "data", directory / "field"
    ours = (data / MARKER).is_file()
    for folder in (data, fld):
        if folder.exists() and not ours and any(folder.iterdir()):
            raise InputError(f"{folder} exists and is not a pitfalls demo; choose another folder")
    for folder in (data, fld):
        if folder.exists():
            shutil.rmtree(folder)
    data.mkdir(parents=True)
    return data
