"""Links between images (exact, pixel-identical, near-duplicate, same session, same group).

Contract used by rules and by `pitfalls split`:

- `links(ctx, settings=None) -> pd.DataFrame` with columns `i`, `j` (row positions in `ctx.table`,
  i < j), `kind` (one of "bytes", "pixels", "near", "session", "group"), `score` (float, 1.0 for
  exact), and `evidence` (short text, e.g. "same camera, 4 s apart, consecutive names").
  Computed once per context and settings via `ctx.derived`.
- `components(ctx, kinds, settings=None) -> np.ndarray` of a component id per row: connected
  components of the links of the given kinds (rows with no link get their own id).
- `leaked_rows(ctx, settings=None) -> set[int]`: evaluation rows whose component (by any leak kind)
  holds a training row.

Thresholds live in `LinkSettings`; the rules expose them as params (`NEAR_PARAMS`,
`SESSION_PARAMS`), and `LinkSettings.for_context` reads the user's LEAK002 / LEAK004 settings.
Exact groups are linked as stars (each member to the first), so a group of k copies costs k-1 links.

Links are a function of the set of images, not of the order of the rows: they are computed on the
rows sorted by path (every greedy step, the stars' centres, the neighbour caps and ties of equal
scores then see one order), and mapped back to the table's positions.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import DisjointSet
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pitfalls.context import TRAIN, Context
from pitfalls.contract import Param
from pitfalls.features.embedding import EMBED_DIM, LUMA_DIMS
from pitfalls.features.fingerprint import fingerprint_array, match_scores
from pitfalls.neighbors import make_index, pair_scores

KINDS = ("bytes", "pixels", "near", "session", "group")
LEAK_KINDS = KINDS
COLUMNS = ["i", "j", "kind", "score", "evidence"]


def _setting(default: Any, group: str, help: str, **bounds: Any) -> Any:
    """A field of `LinkSettings` that a rule exposes as a parameter of the `group` ("near" or
    "session"): its `Param` lives in the field's metadata, so the default is written once."""
    return field(default=default, metadata={"group": group,
                                            "param": Param(default, help, **bounds)})


def _cosine(default: float, group: str, help: str) -> Any:
    return _setting(default, group, help, low=0.0, high=1.0)


@dataclass(frozen=True)
class LinkSettings:
    """Thresholds of every link kind (see `NEAR_PARAMS` and `SESSION_PARAMS` for their meaning)."""

    near_candidate: float = _cosine(0.85, "near", "cosine similarity of embeddings that makes a "
                                     "pair a near-duplicate candidate")
    near_luma: float = _cosine(0.85, "near", "verification: cosine of the luma (layout) part "
                               "required")
    near_chroma: float = _cosine(0.85, "near", "verification: cosine of the colour part required "
                                 "(when both images have colour)")
    near_luma_gray: float = _cosine(0.85, "near", "verification: luma cosine required when an "
                                    "image has (almost) no colour")
    near_detail: float = _cosine(0.85, "near", "verification: mean local correlation of the fine "
                                 "fingerprints after alignment (tells apart different photos that "
                                 "share one coarse layout: products on white, X-rays, documents)")
    colour_ratio: float = _cosine(0.5, "near", "verification: the less colourful image of a pair "
                                  "keeps at least this share of the other's colourfulness (when "
                                  "either has colour): a copy keeps its colours")
    max_aspect_change: float = _setting(0.25, "near", "verification: largest |log| ratio of "
                                        "aspect ratios (a crop of 5% per side changes it by at "
                                        "most ~0.1)")
    max_fine_per_row: int = _setting(8, "near", "fine verification runs on at most this many of "
                                     "each image's best candidates (bounds the work where every "
                                     "photo shares one layout)", low=1)
    weak_chroma: float = 0.03
    max_per_row: int = 50
    session_seconds: float = _setting(60.0, "session", "same camera (EXIF make+model) and shots "
                                      "at most this many seconds apart make a session")
    name_gap: int = _setting(2, "session", "file numbers at most this far apart count as a name "
                             "sequence")
    name_seconds: float = _setting(300.0, "session", "a name sequence with EXIF times at most "
                                   "this many seconds apart makes a session")
    name_similarity: float = _cosine(0.85, "session", "a name sequence whose embeddings reach "
                                     "this cosine makes a session")
    burst_similarity: float = _cosine(0.90, "session", "embedding cosine of very similar shots "
                                      "that chain into a session without any other evidence")
    burst_luma: float = _cosine(0.85, "session", "luma-part cosine required of similarity-based "
                                "sessions")
    burst_chroma: float = _cosine(0.90, "session", "colour-part cosine required of burst "
                                  "sessions")
    burst_detail: float = _cosine(0.85, "session", "fine-fingerprint correlation required of "
                                  "similarity-based sessions")
    burst_luma_gray: float = _cosine(0.95, "session", "luma cosine required of burst sessions "
                                     "when an image has (almost) no colour")

    @classmethod
    def from_params(cls, params: dict[str, Any], base: LinkSettings | None = None) -> LinkSettings:
        """`base` (or the defaults) with the entries of `params` that name a setting."""
        names = {f.name for f in fields(cls)}
        return replace(base or cls(), **{k: v for k, v in params.items() if k in names})

    @classmethod
    def for_context(cls, ctx: Context, params: dict[str, Any] | None = None) -> LinkSettings:
        """Defaults, then the configured LEAK002 and LEAK004 params, then `params` (a rule's
        own)."""
        out = cls()
        for code in ("LEAK002", "LEAK004"):
            out = cls.from_params(ctx.config.params_for(code), out)
        return cls.from_params(params or {}, out)


def _params(group: str) -> dict[str, Param]:
    """The settings of `group` as rule parameters, in field order."""
    return {f.name: f.metadata["param"] for f in fields(LinkSettings)
            if f.metadata.get("group") == group}


NEAR_PARAMS: dict[str, Param] = _params("near")
SESSION_PARAMS: dict[str, Param] = _params("session")


def _frame(rows: list[tuple[int, int, str, float, str]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.astype({"i": "int64", "j": "int64", "kind": "object", "score": "float64",
                      "evidence": "object"})


def links(ctx: Context, settings: LinkSettings | None = None) -> pd.DataFrame:
    """Every link between rows of `ctx.table` (see the module docstring), computed once."""
    s = settings or LinkSettings.for_context(ctx)
    key = "links:" + repr(sorted(asdict(s).items()))
    return ctx.derived(key, lambda: _links(ctx, s))


LINK_COLUMNS = ("path", "split", "label", "group", "byte_hash", "pixel_hash", "exif_make",
                "exif_model", "exif_datetime", "fingerprint", "aspect")
"""The columns of the table that links read."""


def canonical_order(t: pd.DataFrame) -> np.ndarray:
    """Row positions sorted by path (stable): the order every link computation runs in."""
    return np.argsort(t["path"].astype(str).to_numpy(), kind="stable")


def by_path(ctx: Context, rows: np.ndarray | list[int]) -> np.ndarray:
    """`rows` sorted by their path: how findings list images, whatever the order of the table."""
    rows = np.asarray(rows, dtype=np.int64)
    paths = ctx.table["path"].astype(str).to_numpy()[rows]
    return rows[np.argsort(paths, kind="stable")]


def _links(ctx: Context, s: LinkSettings) -> pd.DataFrame:
    order = canonical_order(ctx.table)
    t = ctx.table[[c for c in LINK_COLUMNS if c in ctx.table]].iloc[order].reset_index(drop=True)
    rows: list[tuple[int, int, str, float, str]] = []
    ok = np.flatnonzero(ctx.ok.to_numpy()[order])
    rows += _exact_links(t, ok)
    rows += _group_links(t)
    sim = _Similarity(t, ctx.embeddings()[order], ok, ctx.config.embedder)
    near, burst = _near_links(t, sim, s)
    rows += near
    rows += _exif_links(t, ok, s)
    rows += _name_links(t, ok, sim, s)
    rows += burst
    df = _frame(rows)
    if df.empty:
        return df
    i, j = order[df["i"].to_numpy()], order[df["j"].to_numpy()]
    df["i"], df["j"] = np.minimum(i, j), np.maximum(i, j)
    return df.drop_duplicates(["i", "j", "kind"]).sort_values(["i", "j", "kind"]).reset_index(
        drop=True)


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _stars(codes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Star links of groups: (centre, member, group code) linking each member (in `rows` order)
    to its group's first row; `codes` < 0 belong to no group. Vectorised: one pass of NumPy
    instead of a Python loop per group (a scan of 10^5 images has ~10^5 singleton groups)."""
    valid = codes >= 0
    codes, rows = codes[valid], rows[valid]
    if codes.size == 0:
        return rows[:0], rows[:0], codes[:0]
    uniq, first = np.unique(codes, return_index=True)
    centre = rows[first][np.searchsorted(uniq, codes)]
    member = np.ones(len(rows), dtype=bool)
    member[first] = False
    return centre[member], rows[member], codes[member]


def _star_rows(codes: np.ndarray, rows: np.ndarray, kind: str,
               evidence) -> list[tuple[int, int, str, float, str]]:
    a, b, c = _stars(codes, rows)
    lo, hi = np.minimum(a, b).tolist(), np.maximum(a, b).tolist()
    text = [evidence] * len(lo) if isinstance(evidence, str) else [evidence(k) for k in c]
    return list(zip(lo, hi, [kind] * len(lo), [1.0] * len(lo), text, strict=True))


def _exact_links(t: pd.DataFrame, ok: np.ndarray) -> list[tuple[int, int, str, float, str]]:
    out = []
    sub = t.iloc[ok]
    if "byte_hash" in t:
        codes = pd.factorize(sub["byte_hash"])[0]  # missing hashes: -1, in no group
        out += _star_rows(codes, ok, "bytes", "identical file bytes")
    if "pixel_hash" in t:
        # One representative per distinct file (byte hash) in each pixel group.
        cols = ["pixel_hash", "byte_hash"] if "byte_hash" in t else ["pixel_hash"]
        rep = ~sub.duplicated(cols).to_numpy()
        codes = pd.factorize(sub["pixel_hash"])[0][rep]
        out += _star_rows(codes, ok[rep], "pixels", "identical pixels, different files")
    return out


def _group_links(t: pd.DataFrame) -> list[tuple[int, int, str, float, str]]:
    if "group" not in t:
        return []
    groups = t["group"].dropna()
    codes, names = pd.factorize(groups.astype(str))
    return _star_rows(codes, groups.index.to_numpy(), "group",
                      lambda k: f"same group '{names[k]}'")


class _Similarity:
    """Cosine similarity of embeddings, whole and (weight-free embedder) per part."""

    def __init__(self, table: pd.DataFrame, x: np.ndarray, ok: np.ndarray,
                 embedder: str | None) -> None:
        self.x = x
        self.ok = ok
        self.parts = self.x.shape[1] == EMBED_DIM and embedder in (None, "", "default", "dct2")
        if self.parts:
            luma, chroma = self.x[:, :LUMA_DIMS], self.x[:, LUMA_DIMS:]
            ln = np.linalg.norm(luma, axis=1, keepdims=True)
            cn = np.linalg.norm(chroma, axis=1, keepdims=True)
            self.luma = luma / np.maximum(ln, 1e-9)
            self.chroma = chroma / np.maximum(cn, 1e-9)
            self.colour = (cn / np.maximum(ln, 1e-9)).ravel()
        self._stored = table["fingerprint"].tolist() if "fingerprint" in table else []
        aspect = table.get("aspect")
        self.aspect = (np.log(pd.to_numeric(aspect, errors="coerce").to_numpy(dtype=float))
                       if aspect is not None else np.zeros(len(self.x)))

    def whole(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return pair_scores(self.x, i, j)

    def colour_ratio(self, i: np.ndarray, j: np.ndarray, weak: float) -> np.ndarray:
        """Less over more colourful of each pair; 1 where neither reaches `weak` colourfulness
        or the parts are unknown."""
        if not self.parts:
            return np.ones(len(i))
        lo = np.minimum(self.colour[i], self.colour[j])
        hi = np.maximum(self.colour[i], self.colour[j])
        return np.where(hi >= weak, lo / np.maximum(hi, 1e-9), 1.0)

    def split(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(luma cosine, colour cosine, both-coloured mask); ones when parts are unavailable."""
        if not self.parts:
            one = np.ones(len(i), dtype=np.float32)
            return one, one, np.zeros(len(i), dtype=bool)
        return (pair_scores(self.luma, i, j), pair_scores(self.chroma, i, j),
                np.minimum(self.colour[i], self.colour[j]))

    def detail(self, i: np.ndarray, j: np.ndarray, enough: float | None = None) -> np.ndarray:
        """Fine-fingerprint similarity of pairs (`fingerprint.match_scores`, not aligned where
        the unaligned score reaches `enough`); +inf where either image has no fingerprint (the
        coarse checks then decide alone)."""
        out = np.full(len(i), np.inf, dtype=np.float32)
        if not self._stored or len(i) == 0:
            return out
        # Only the fingerprints of the images in these pairs are unpacked (2.3 KB each).
        rows, inverse = np.unique(np.concatenate([i, j]), return_inverse=True)
        prints, have = fingerprint_array([self._stored[r] for r in rows])
        li, lj = inverse[:len(i)], inverse[len(i):]
        both = have[li] & have[lj]
        out[both] = match_scores(prints, li[both], lj[both], enough=enough)
        return out

    def aspect_change(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        d = np.abs(self.aspect[i] - self.aspect[j])
        return np.where(np.isfinite(d), d, 0.0)


def _near_links(t: pd.DataFrame, sim: _Similarity, s: LinkSettings):
    """Near-duplicate links (verified part by part) and burst-session links from one search."""
    if len(sim.ok) < 2:
        return [], []
    floor = min(s.near_candidate, s.burst_similarity)
    li, lj, score = make_index(sim.x[sim.ok]).pairs(floor, s.max_per_row)
    i, j = sim.ok[li], sim.ok[lj]
    if "pixel_hash" in t:
        ph = t["pixel_hash"].to_numpy()
        keep = ph[i] != ph[j]
        i, j, score = i[keep], j[keep], score[keep]
    luma, chroma, colour = sim.split(i, j)
    coloured = colour >= s.weak_chroma
    shape_ok = sim.aspect_change(i, j) <= s.max_aspect_change
    hues_ok = sim.colour_ratio(i, j, s.weak_chroma) >= s.colour_ratio  # copies keep colours
    near = ((score >= s.near_candidate) & (luma >= s.near_luma) & shape_ok & hues_ok
            & np.where(coloured, chroma >= s.near_chroma, luma >= s.near_luma_gray))
    burst = ((score >= s.burst_similarity) & (luma >= s.burst_luma) & hues_ok
             & np.where(coloured, chroma >= s.burst_chroma, luma >= s.burst_luma_gray))
    # The fine check runs on the coarse survivors only, and on at most `max_fine_per_row` of
    # each image's best-scoring ones: where every photo shares one layout (a conveyor belt, a
    # lab bench) the coarse survivors grow with n times the neighbour cap, the checks must not.
    check = (near | burst) & top_per_row(i, j, score, s.max_fine_per_row)
    detail = _verify(t, sim, i, j, score, check, near, s)
    near &= detail >= s.near_detail
    burst &= ~near & (detail >= s.burst_detail)
    near_rows = [(int(a), int(b), "near", float(c),
                  f"cosine {c:.3f} (layout {lc:.2f}, colour {cc:.2f}, detail {dd:.2f})")
                 for a, b, c, lc, cc, dd in zip(i[near], j[near], score[near], luma[near],
                                                chroma[near], detail[near], strict=True)]
    burst_rows = [(int(a), int(b), "session", float(c), f"very similar shots (cosine {c:.2f})")
                  for a, b, c in zip(i[burst], j[burst], score[burst], strict=True)]
    return near_rows, burst_rows


def _verify(t: pd.DataFrame, sim: _Similarity, i: np.ndarray, j: np.ndarray, score: np.ndarray,
            check: np.ndarray, near: np.ndarray, s: LinkSettings, batch: int = 256,
            skip_joined: bool = True) -> np.ndarray:
    """Fine-fingerprint scores of the pairs in `check` (-inf elsewhere), best candidates first.

    A pair of one split and one label whose images near-duplicate or pixel-identical links of
    that split and label already join is not checked: it would add no group, no cross-split
    pair, no pair of duplicates with different labels and no session that spans splits, only a
    redundant edge inside a group. Where most images are copies of a few (crops of one photo,
    frames of one video) this skips most of the checks; cross-split pairs and pairs with
    different labels are always checked, so that every leaked pair and every conflicting pair
    is listed. Pairs of equal score are taken in the order of the rows (the canonical order of
    `_links`)."""
    detail = np.full(len(i), -np.inf, dtype=np.float32)
    todo = np.flatnonzero(check)
    if len(todo) == 0:
        return detail
    todo = todo[np.lexsort((j[todo], i[todo], -score[todo]))]
    keys = [c for c in ("split", "label") if c in t]
    side = (t[keys].astype("string").fillna("(none)").groupby(keys, sort=False).ngroup()
            .to_numpy() if keys else np.zeros(len(t), dtype=np.int64))
    joined = DisjointSet(range(len(t)))
    if "pixel_hash" in t:  # identical pixels on one side are joined from the start
        same = pd.DataFrame({"h": t["pixel_hash"].to_numpy(), "s": side,
                             "r": np.arange(len(t))}).dropna()
        same = same[same.duplicated(["h", "s"], keep=False)]
        for _, members in same.groupby(["h", "s"])["r"]:
            first, *rest = members.tolist()
            for r in rest:
                joined.merge(first, r)
    for start in range(0, len(todo), batch):
        part = todo[start:start + batch]
        a, b = i[part], j[part]
        inside = side[a] == side[b]
        needed = np.array([not (skip_joined and w and joined.connected(x, y))
                           for x, y, w in zip(a.tolist(), b.tolist(), inside.tolist(),
                                              strict=True)], dtype=bool)
        part, a, b, inside = part[needed], a[needed], b[needed], inside[needed]
        if len(part) == 0:
            continue
        detail[part] = sim.detail(a, b, enough=s.near_detail)
        verified = inside & near[part] & (detail[part] >= s.near_detail)
        for x, y in zip(a[verified].tolist(), b[verified].tolist(), strict=True):
            joined.merge(x, y)
    return detail


def top_per_row(i: np.ndarray, j: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Mask of pairs that are among the `k` highest-scoring pairs of `i[p]` or of `j[p]`."""
    n = len(i)
    if n == 0:
        return np.zeros(0, dtype=bool)
    ends = np.concatenate([i, j])
    pair = np.concatenate([np.arange(n), np.arange(n)])
    order = np.lexsort((-np.concatenate([score, score]), ends))
    sorted_ends = ends[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_ends)) + 1]
    starts = np.repeat(first, np.diff(np.r_[first, len(order)]))
    rank = np.arange(len(order)) - starts
    keep = np.zeros(n, dtype=bool)
    keep[pair[order][rank < k]] = True
    return keep


def _times(t: pd.DataFrame) -> np.ndarray:
    """EXIF capture time in seconds (NaN when absent)."""
    if "exif_datetime" not in t:
        return np.full(len(t), np.nan)
    when = pd.to_datetime(t["exif_datetime"], errors="coerce")
    secs = (when - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return secs.to_numpy(dtype=float)


def _exif_links(t: pd.DataFrame, ok: np.ndarray, s: LinkSettings):
    """Same camera (make + model) and consecutive shots at most `session_seconds` apart."""
    if "exif_make" not in t or "exif_model" not in t:
        return []
    secs = _times(t)
    sub = pd.DataFrame({"row": ok, "camera": (t["exif_make"].iloc[ok].astype("string").str.strip()
                                              + " " + t["exif_model"].iloc[ok].astype("string")
                                              .str.strip()).to_numpy(), "t": secs[ok]})
    sub = sub.dropna().sort_values(["camera", "t", "row"])
    out = []
    for camera, g in sub.groupby("camera", sort=False):
        rows, times = g["row"].to_numpy(), g["t"].to_numpy()
        gaps = np.diff(times)
        for k in np.flatnonzero(gaps <= s.session_seconds):
            out.append((*_pair(int(rows[k]), int(rows[k + 1])), "session", 1.0,
                        f"same camera ({camera}), {gaps[k]:.0f} s apart"))
    return out


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _stem(path: str) -> str:
    """`PurePosixPath(path).stem` by string operations (about 20x faster, same result for file
    paths; pathlib's parsing dominated the name links of large datasets)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def _name_links(t: pd.DataFrame, ok: np.ndarray, sim: _Similarity, s: LinkSettings):
    """Consecutive file numbers with the same prefix, backed by capture time or similarity."""
    stems = np.empty(len(t), dtype=object)
    stems[ok] = [_stem(str(p)) for p in t["path"].to_numpy()[ok]]
    recs = []
    for row in ok:
        m = _NUMBERED.match(stems[row])
        if m:
            recs.append((m.group(1).lower(), int(m.group(2)), int(row)))
    if len(recs) < 2:
        return []
    df = pd.DataFrame(recs, columns=["prefix", "num", "row"]).sort_values(["prefix", "num", "row"])
    a, b, gap = [], [], []
    for _, g in df.groupby("prefix", sort=False):
        nums, rows = g["num"].to_numpy(), g["row"].to_numpy()
        for step in range(1, 1 + max(1, int(s.name_gap))):  # neighbours up to name_gap entries on
            if len(nums) <= step:
                break
            d = nums[step:] - nums[:-step]
            sel = (d >= 1) & (d <= s.name_gap)
            a += rows[:-step][sel].tolist()
            b += rows[step:][sel].tolist()
            gap += d[sel].tolist()
    if not a:
        return []
    ia, ib = np.asarray(a), np.asarray(b)
    secs = _times(t)
    dt = np.abs(secs[ia] - secs[ib])
    timed = dt <= s.name_seconds
    score = sim.whole(ia, ib)
    luma, chroma, colour = sim.split(ia, ib)
    similar = ((score >= s.name_similarity) & (luma >= s.burst_luma)
               & np.where(colour >= s.weak_chroma, chroma >= s.near_chroma, True))
    check = similar & ~timed  # the fine check runs on similarity-only name sequences
    if check.any():
        similar[check] = sim.detail(ia[check], ib[check]) >= s.burst_detail
    out = []
    for k in np.flatnonzero(timed | similar):
        names = f"{stems[ia[k]]}/{stems[ib[k]]}"
        why = f"{dt[k]:.0f} s apart" if timed[k] else f"similar (cosine {score[k]:.2f})"
        out.append((*_pair(int(ia[k]), int(ib[k])), "session", float(score[k]),
                    f"consecutive names {names}, {why}"))
    return out


def components(ctx: Context, kinds: tuple[str, ...] | list[str] | set[str] = KINDS,
               settings: LinkSettings | None = None) -> np.ndarray:
    """Connected-component id per row over the links of the given kinds."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown link kind(s) {', '.join(sorted(unknown))}; use {KINDS}")
    df = links(ctx, settings)
    df = df[df["kind"].isin(list(kinds))]
    n = len(ctx.table)
    graph = coo_matrix((np.ones(len(df)), (df["i"].to_numpy(), df["j"].to_numpy())), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def leaked_rows(ctx: Context, settings: LinkSettings | None = None) -> set[int]:
    """Evaluation rows connected (by any leak kind) to a training row."""
    split = ctx.table["split"].to_numpy()
    if TRAIN not in set(split) or not ctx.eval_splits:
        return set()
    comp = components(ctx, LEAK_KINDS, settings)
    train_comps = set(comp[split == TRAIN].tolist())
    is_eval = np.isin(split, ctx.eval_splits)
    return {int(r) for r in np.flatnonzero(is_eval) if comp[r] in train_comps}
