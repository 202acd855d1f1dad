"""The accuracy / latency Pareto front and which configurations are dominated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def dominated_by(rows: Sequence[dict[str, Any]], latency_key: str = "p95",
                 acc_tol: float = 0.0, lat_tol: float = 0.0) -> dict[int, int]:
    """`{i: j}` for every row i that row j dominates: j is at least as accurate (within `acc_tol`)
    and faster by more than `lat_tol` (relative), or as fast and strictly more accurate.

    Rows without accuracy or latency are left out. The dominating row chosen is the fastest."""
    ok = [i for i, r in enumerate(rows)
          if r.get("accuracy") is not None and _lat(r, latency_key) is not None]
    out: dict[int, int] = {}
    for i in ok:
        ai, li = rows[i]["accuracy"], _lat(rows[i], latency_key)
        best = None
        for j in ok:
            if j == i:
                continue
            aj, lj = rows[j]["accuracy"], _lat(rows[j], latency_key)
            faster = lj < li * (1.0 - lat_tol)
            as_fast = lj <= li
            dominates = (aj >= ai - acc_tol and faster) or (aj > ai and as_fast)
            if dominates and (best is None or lj < _lat(rows[best], latency_key)):
                best = j
        if best is not None:
            out[i] = best
    return out


def pareto_front(rows: Sequence[dict[str, Any]], latency_key: str = "p95") -> list[int]:
    """Indices of the rows no other row dominates, fastest first."""
    dom = dominated_by(rows, latency_key)
    front = [i for i, r in enumerate(rows)
             if i not in dom and r.get("accuracy") is not None and _lat(r, latency_key) is not None]
    return sorted(front, key=lambda i: _lat(rows[i], latency_key))


def best_under_budget(rows: Sequence[dict[str, Any]], budget_ms: float | None,
                      latency_key: str = "p95") -> int | None:
    """The most accurate row whose latency meets the budget (fastest on ties); None if none does."""
    cands = [i for i, r in enumerate(rows) if r.get("accuracy") is not None
             and _lat(r, latency_key) is not None
             and (budget_ms is None or _lat(r, latency_key) <= budget_ms)]
    if not cands:
        return None
    return max(cands, key=lambda i: (rows[i]["accuracy"], -_lat(rows[i], latency_key)))


def _lat(row: dict[str, Any], key: str) -> float | None:
    v = (row.get("latency_ms") or {}).get(key)
    return None if v is None or v != v else float(v)
