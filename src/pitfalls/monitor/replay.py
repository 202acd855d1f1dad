"""The capture replay in the service: whether it can run, and the estimator it binds.

`replay_setup` decides at start, from the reference (`reference.json`'s `model` and `photos`)
and the command line's overrides, whether the window estimates are replayed: the model file
must exist and have the SHA-256 the scan recorded, and the evaluation photos must be under the
photos' root. It says why not in one line. `WindowReplay` builds the scan context of the
reference photos on its first call (features through the scan's cache), in the thread that calls
it — the service's analysis thread, never a request — and then replays windows
(`analysis.estimate.replay_estimate`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitfalls.monitor.reference import Reference, sha256_of

if TYPE_CHECKING:
    import pandas as pd

    from pitfalls.context import Context
    from pitfalls.monitor.analysis.estimate import Estimate
    from pitfalls.monitor.analysis.reference import Reference as AnalysisReference

log = logging.getLogger("pitfalls.monitor")

PROBE = 20
"""Evaluation photos looked for under the photos' root at start (all of them when fewer)."""
FALLBACK = "windows carry the ATC estimate"


class ReplayError(Exception):
    """The replay cannot run (the message says why)."""


@dataclass(frozen=True)
class ReplaySetup:
    """What the replay needs, checked: the model, its spec and where the reference photos are."""

    model: str
    sha256: str
    preprocess: dict[str, Any]
    photos: str
    cache: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplaySetup:
        return cls(**data)


def replay_setup(ref: Reference, wanted: bool | None = None, model: str | Path | None = None,
                 photos: str | Path | None = None, min_n: int = 50
                 ) -> tuple[ReplaySetup | None, str]:
    """The replay's setup, or None, and the line that says which and why. `wanted`: True
    (`--replay`), False (`--no-replay`) or None (on when it can run); `model` and `photos`
    replace the reference's paths (a reference moved to another machine); `min_n` (MON002's)
    is named in the line. `ReplayError` when it was asked for and cannot run."""
    if wanted is False:
        return None, f"capture replay: off (--no-replay); {FALLBACK}"
    try:
        setup = _checked(ref, model, photos)
    except ReplayError as exc:
        if wanted:
            raise
        return None, f"capture replay: off, {exc}; {FALLBACK}"
    return setup, (f"capture replay: on (model {setup.model}, reference photos under "
                   f"{setup.photos}); windows of {min_n} or more records carry it, ATC beside "
                   f"it")


def _checked(ref: Reference, model: str | Path | None, photos: str | Path | None
             ) -> ReplaySetup:
    recorded = ref.model
    if recorded is None:
        raise ReplayError("the reference names no model (write it with 'pitfalls scan "
                          "--model M.onnx')")
    path = Path(model if model is not None else recorded["path"]).expanduser()
    if not path.is_file():
        raise ReplayError(f"the model {path} is not there (pass --model where it is now)")
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise ReplayError(f"the model {path} cannot be read ({exc.strerror or exc})") from None
    if digest != recorded["sha256"]:
        raise ReplayError(f"{path} is not the model the reference was made with (its SHA-256 "
                          f"differs)")
    from pitfalls.errors import InputError
    from pitfalls.evaluation.model import load_spec

    try:
        load_spec(recorded["preprocess"])
    except InputError as exc:
        raise ReplayError(f"the reference's preprocessing spec is invalid: {exc}") from None
    root = photos if photos is not None else ref.photos
    if root is None:
        raise ReplayError("the reference does not say where its photos are (pass --photos)")
    root = Path(root).expanduser()
    paths = [str(p) for p in ref.table("predictions")["path"]]
    probe = paths[:PROBE]
    if not root.is_dir() or not probe or not any((root / p).exists() for p in probe):
        raise ReplayError(f"the reference's photos are not under {root} (pass --photos where "
                          f"they are now)")
    return ReplaySetup(model=str(path.resolve()), sha256=digest,
                       preprocess=dict(recorded["preprocess"]), photos=str(root.resolve()),
                       cache=ref.cache)


class WindowReplay:
    """A `Replay` of windows on the reference photos; the scan context is built on first use
    and kept. Calls are serialised (one analysis thread calls it anyway)."""

    def __init__(self, setup: ReplaySetup, reference: Reference) -> None:
        self.setup = setup
        self.reference = reference
        self._ctx: Context | None = None
        self._lock = threading.Lock()

    def context(self) -> Context:
        """The scan context of the evaluation photos listed in the reference (paths, labels
        and split from `predictions.parquet`), features from the scan's cache; `ReplayError`
        when none of them can be read."""
        if self._ctx is not None:
            return self._ctx
        import pandas as pd

        from pitfalls.config import Config
        from pitfalls.pipeline import build_context

        preds = self.reference.table("predictions")
        frame = pd.DataFrame({"path": preds["path"].astype(str),
                              "label": preds["label"].astype(str),
                              "split": self.reference.split or "test"})
        cache: bool | str = self.setup.cache or True
        ctx = build_context(frame, Config(workers=1), root=self.setup.photos, cache=cache)
        readable = int(ctx.ok.sum())
        if not readable:
            raise ReplayError(f"none of the {len(frame)} reference photos under "
                              f"{self.setup.photos} can be read")
        log.info("capture replay: %d of %d reference photos read under %s", readable,
                 len(frame), self.setup.photos)
        self._ctx = ctx
        return ctx

    def __call__(self, rows: pd.DataFrame) -> Estimate:
        """The replay estimate of a window's rows (`ReplayError` when it cannot be made; other
        exceptions are the replay's own failures)."""
        from pitfalls.evaluation.model import load_spec
        from pitfalls.monitor.analysis.estimate import replay_estimate

        with self._lock:
            ctx = self.context()
            return replay_estimate(ctx, rows, self.setup.model,
                                   load_spec(self.setup.preprocess))


REFRESH = 0.2
"""A window's replay is made again once its record count has moved by more than this share of
the count it was made on: a replay costs seconds, and a window filling up would otherwise be
replayed on every analysis pass."""
QUEUE = 48
"""Most windows waiting for a replay that a read asked for (the latest windows are kept)."""


@dataclass
class Replayed:
    """A window's replay: the record count it was made on and its estimate (None: it failed,
    and the window carries ATC until its count moves)."""

    n: int
    estimate: Estimate | None


class ReplayBook:
    """Replay estimates per window (`analysis.windows.Key`), each made once per record count
    (within `REFRESH`), and the windows reads asked for. `estimate` runs the replay and is for
    the analysis thread only; `fresh`, `want` and `overlay` are cheap and serve the reads."""

    def __init__(self, replayer: WindowReplay, ref: AnalysisReference, min_n: int) -> None:
        self.replayer: WindowReplay | None = replayer
        self.ref = ref
        self.min_n = min_n
        self._done: dict[Any, Replayed] = {}
        self._wanted: dict[Any, int] = {}
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.replayer is not None

    def fresh(self, key: Any, n: int) -> Replayed | None:
        """The replay of window `key` if one was made on about `n` records."""
        with self._lock:
            hit = self._done.get(key)
        return hit if hit is not None and abs(n - hit.n) <= REFRESH * hit.n else None

    def estimate(self, key: Any, n: int, rows: pd.DataFrame) -> Estimate | None:
        """The replay estimate of window `key` holding `n` records (`rows`: them, or a sample):
        the one made already on about as many, else made now; None where it failed (logged
        with the reason) or the window is under `min_n`."""
        if n < self.min_n or self.replayer is None:
            return None
        hit = self.fresh(key, n)
        if hit is None:
            hit = Replayed(n, self._run(key, n, rows))
            with self._lock:
                self._done[key] = hit
        return hit.estimate

    def _run(self, key: Any, n: int, rows: pd.DataFrame) -> Estimate | None:
        import time

        where = f"{key.every} window {key.start.isoformat()} of {key.source}"
        began = time.perf_counter()
        try:
            assert self.replayer is not None
            est = self.replayer(rows)
        except ReplayError as exc:
            log.error("capture replay: off from now, %s; %s", exc, FALLBACK)
            self.replayer = None
            return None
        except Exception as exc:  # this window carries ATC; the next count tries again
            log.warning("capture replay of the %s failed (%s: %s); it carries ATC", where,
                        type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            return None
        if est.value is None:
            log.warning("capture replay of the %s gave no estimate (no readable inputs); it "
                        "carries ATC", where)
            return None
        log.info("capture replay of the %s (%d records, %d read): %.3f [%.3f, %.3f] in %.1f s",
                 where, n, len(rows), est.value, est.ci[0], est.ci[1],
                 time.perf_counter() - began)
        return est

    def bound(self, key: Any, table: pd.DataFrame, counts: pd.Series) -> Any:
        """The `Replay` a MON check of window `key` (every source) hands its batch: each scope
        it is called on (all sources, or one source's rows) is replayed through `estimate`;
        where that gives nothing, ATC as without a replay. `counts`: records per source in the
        window (`table` may be a sample of it)."""
        from pitfalls.monitor.analysis.estimate import atc_estimate

        many = table["source"].nunique() > 1
        total = int(counts.sum()) or len(table)

        def replay(rows: pd.DataFrame) -> Estimate:
            sources = rows["source"].unique()
            scope = str(sources[0]) if many and len(sources) == 1 else key.source
            n = total if scope == key.source else int(counts.get(scope, len(rows)))
            est = self.estimate(key._replace(source=scope), n, rows)
            return est if est is not None else atc_estimate(self.ref, rows)

        return replay

    def want(self, items: list[tuple[Any, int]]) -> None:
        """Ask for the replays of windows a read found without one (made later, off the
        request, by the analysis thread); only the latest `QUEUE` windows wait."""
        with self._lock:
            for key, n in items:
                self._wanted[key] = n
            if len(self._wanted) > QUEUE:
                keep = sorted(self._wanted, key=lambda k: k.start)[-QUEUE:]
                self._wanted = {k: self._wanted[k] for k in keep}

    def next_wanted(self) -> tuple[Any, int] | None:
        """The latest window waiting for its replay (taken off the queue), or None."""
        with self._lock:
            if not self._wanted or self.replayer is None:
                self._wanted.clear()
                return None
            key = max(self._wanted, key=lambda k: k.start)
            return key, self._wanted.pop(key)

    def waiting(self) -> bool:
        with self._lock:
            return bool(self._wanted) and self.replayer is not None

    def overlay(self, keyed: list[tuple[dict[str, Any], Any]]) -> list[tuple[Any, int]]:
        """Put the replay (value, interval, method "replay") into the windows that have one
        (in place; ATC stays beside it); returns the windows of at least `min_n` records
        still without one."""
        if self.replayer is None:
            return []
        missing = []
        for w, key in keyed:
            if w["n"] < self.min_n:
                continue
            hit = self.fresh(key, w["n"])
            if hit is None:
                missing.append((key, w["n"]))
            elif hit.estimate is not None and hit.estimate.value is not None:
                w.update({"estimated_accuracy": float(hit.estimate.value),
                          "ci": [float(v) for v in hit.estimate.ci],
                          "estimate_method": "replay"})
        return missing
