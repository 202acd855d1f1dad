"""The most shifted recent inputs that carry a thumbnail, for `GET /api/v1/thumbnails`.

The ranking is the analysis's own out-of-distribution distance (`Reference.ood_distance` over
`flatten`ed records), so what the dashboard shows is what `ood_share` and MON rules count. The
read is bounded: a sample of at most about `sample` records of the period, without their
thumbnails; the thumbnails of the chosen records only are read afterwards, and each is decoded
and written as a fresh JPEG (`thumbnail.reencode`) before it is served, never passed through.
"""

from __future__ import annotations

import base64
import logging
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pitfalls.monitor.thumbnail import reencode

if TYPE_CHECKING:
    import pandas as pd

    from pitfalls.monitor.analysis.reference import Reference
    from pitfalls.monitor.storage import Store

log = logging.getLogger("pitfalls.monitor")

TOP_CONDITIONS = 3
ROUNDS = 4
"""Batches of `limit` thumbnails read at most: bad ones are skipped, a flood of them is not
chased through the whole period."""


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def lab_conditions(ref: Reference) -> dict[str, tuple[float, float]]:
    """Each capture condition's median and robust spread on the reference's usable photos."""
    import numpy as np

    from pitfalls.field.conditions import CONDITIONS, robust_scale
    from pitfalls.monitor.analysis.records import COND_PREFIX

    usable = ref.usable
    out = {}
    for name in CONDITIONS:
        col = COND_PREFIX + name
        if col not in usable:
            continue
        x = usable[col].to_numpy(float)
        if np.isfinite(x).any():
            out[name] = (float(np.nanmedian(x)), robust_scale(x, name))
    return out


def furthest(row: pd.Series, lab: dict[str, tuple[float, float]], lang: str
             ) -> list[dict[str, Any]]:
    """The `TOP_CONDITIONS` capture conditions of one flattened record furthest from the lab,
    in lab spreads (`z`: signed, the record's value minus the lab median)."""
    from pitfalls.field.conditions import CONDITIONS
    from pitfalls.monitor.analysis.records import COND_PREFIX

    found: list[tuple[float, str, float]] = []
    for name, (centre, scale) in lab.items():
        value = _number(row.get(COND_PREFIX + name))
        if value is not None:
            found.append(((value - centre) / scale, name, value))
    found.sort(key=lambda c: -abs(c[0]))
    return [{"condition": name, "label": CONDITIONS[name].label.get_text(lang), "value": value,
             "lab": lab[name][0], "z": z} for z, name, value in found[:TOP_CONDITIONS]]


def _item(row: pd.Series, distance: float, lab: dict[str, tuple[float, float]],
          jpeg: bytes, lang: str) -> dict[str, Any]:
    when = row["captured_at"]
    kind = row.get("unusable_kind")
    return {"id": str(row["id"]), "source": str(row["source"]),
            "captured_at": when.isoformat().replace("+00:00", "Z") if when == when else None,
            "model_version": None if row["model_version"] is None else str(row["model_version"]),
            "pred": str(row["pred"]), "confidence": _number(row["conf"]),
            "distance": float(distance), "unusable": kind if isinstance(kind, str) else None,
            "conditions": furthest(row, lab, lang),
            "thumbnail": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")}


def most_shifted(store: Store, ref: Reference, start: datetime, end: datetime, *,
                 source: str | None = None, limit: int = 12, sample: int = 5000,
                 lang: str = "en") -> dict[str, Any]:
    """Up to `limit` records captured in [start, end) that carry a thumbnail, the furthest
    from the reference first (the more recent first among equals), each with its thumbnail as
    a JPEG data URL; `scanned` says how many records with a thumbnail were ranked."""
    import numpy as np
    import pandas as pd

    from pitfalls.monitor.analysis.records import UNREAD, flatten

    rows = store.records_between(start, end, source=source, sample=sample, with_thumbnail=True,
                                 drop_features=UNREAD)
    limit_ood = _number(ref.ood_limit)
    if not rows:
        return {"scanned": 0, "ood_limit": limit_ood, "items": []}
    table = flatten(pd.DataFrame(rows), ref.classes, ref.blur_median)
    del rows
    distance = ref.ood_distance(table)
    when = table["captured_at"].astype("int64").to_numpy()
    order = np.lexsort((-when, -distance))
    lab = lab_conditions(ref)
    items: list[dict[str, Any]] = []
    for at in range(0, min(len(order), ROUNDS * limit), limit):
        chosen = order[at:at + limit]
        thumbs = store.thumbnails(table["id"].iloc[chosen].tolist())
        for i in chosen:
            data = thumbs.get(str(table["id"].iat[i]))
            jpeg = reencode(data) if data is not None else None
            if jpeg is None:
                continue
            items.append(_item(table.iloc[i], distance[i], lab, jpeg, lang))
            if len(items) == limit:
                return {"scanned": len(table), "ood_limit": limit_ood, "items": items}
    return {"scanned": len(table), "ood_limit": limit_ood, "items": items}


__all__ = ["furthest", "lab_conditions", "most_shifted"]
