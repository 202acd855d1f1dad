"""The accuracy / latency Pareto front and which configurations are dominated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def dominated_by(rows: Sequence[dict[str, Any]], latency_key: str = "p95",
                 acc_tol: float = 0.0, lat_tol: float = 0.0) -> dict[int, int]:
    """`{i: j}` for every row i that row j dominates: j is at least as accurate (within `acc_tol`)
    and faster by more than `lat_tol` (relative), or as fast and strictly more accurate.

    Rows without accuracy or latency are left out. The dominating row chosen is the fastest."""
    lat = _timed(rows, latency_key)
    out: dict[int, int] = {}
    for i, li in lat.items():
        ai = rows[i]["accuracy"]
        best: int | None = None
        for j, lj in lat.items():
            if j == i:
                continue
            aj = rows[j]["accuracy"]
            faster = lj < li * (1.0 - lat_tol)
            as_fast = lj <= li
            dominates = (aj >= ai - acc_tol and faster) or (aj > ai and as_fast)
            if dominates and (best is None or lj < lat[best]):
                best = j
        if best is not None:
            out[i] = best
    return out


def pareto_front(rows: Sequence[dict[str, Any]], latency_key: str = "p95") -> list[int]:
    """Indices of the rows no other row dominates, fastest first."""
    dom = dominated_by(rows, latency_key)
    lat = _timed(rows, latency_key)
    return sorted((i for i in lat if i not in dom), key=lambda i: lat[i])


def best_under_budget(rows: Sequence[dict[str, Any]], budget_ms: float | None,
                      latency_key: str = "p95") -> int | None:
    """The most accurate row whose latency meets the budget (fastest on ties); None if none does."""
    lat = _timed(rows, latency_key)
    cands = [i for i, li in lat.items() if budget_ms is None or li <= budget_ms]
    if not cands:
        return None
    return max(cands, key=lambda i: (rows[i]["accuracy"], -lat[i]))


def _timed(rows: Sequence[dict[str, Any]], key: str) -> dict[int, float]:
    """`{i: latency}` of the rows that have both an accuracy and a latency, in row order."""
    out: dict[int, float] = {}
    for i, r in enumerate(rows):
        li = _lat(r, key)
        if r.get("accuracy") is not None and li is not None:
            out[i] = li
    return out


def _lat(row: dict[str, Any], key: str) -> float | None:
    v = (row.get("latency_ms") or {}).get(key)
    return None if v is None or v != v else float(v)
