"""Run the MON rules on one window: the same runner, catalogue and findings as a scan."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pitfalls.config import Config
from pitfalls.context import Context
from pitfalls.findings import Finding
from pitfalls.inputs import Dataset
from pitfalls.monitor.analysis.batch import WindowBatch, batch_for
from pitfalls.monitor.analysis.reference import Reference
from pitfalls.monitor.analysis.windows import Key, Replay

COLUMNS = ("path", "label", "split", "group", "ok")
log = logging.getLogger("pitfalls.monitor")


def window_context(batch: WindowBatch, config: Config | None = None) -> Context:
    """A context holding only the window: the image table is empty, so only rules that need
    `windows` (and nothing else) can run."""
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    config = config or Config()
    select = [s for s in (config.select or ["MON"]) if s.startswith("MON")] or ["MON"]
    cfg = config.merged(select=select)
    return Context(dataset=Dataset(root=Path("."), table=empty.drop(columns="ok"),
                                   source="monitor"),
                   table=empty, config=cfg, extras={"windows": batch})


def check_batch(batch: WindowBatch, config: Config | None = None
                ) -> tuple[list[Finding], list[str], list[dict[str, str]], list[dict[str, str]]]:
    """Findings, passed codes, skipped rules and rules that raised (with the error) of the MON
    rules on `batch` (`runner.run_rules`)."""
    from pitfalls.runner import run_rules

    return run_rules(window_context(batch, config))


def check_window(ref: Reference, table: pd.DataFrame, key: Key, config: Config | None = None,
                 lookback: int | None = None, volumes: pd.DataFrame | None = None,
                 until: pd.Timestamp | None = None, replay: Replay | None = None
                 ) -> list[Finding]:
    """The MON findings of window `key` (over every source) of the flattened record table;
    `volumes` (`captured_at`, `source`, `n`) gives the sources' history and the window's own
    counts (`table` may then be a sample), `until` the moment the records are known up to
    (`batch_for`); with `replay`, MON002 judges its estimate."""
    if lookback is None:
        params = (config or Config()).params_for("MON008")
        lookback = int(params.get("lookback", 24))
    findings, _, _, errors = check_batch(
        batch_for(ref, table, key, lookback, replay=replay, volumes=volumes, until=until),
        config)
    for e in errors:  # the runner logged the traceback; the service must hear of it too
        log.error("monitoring rule %s failed on window %s: %s", e.get("rule"), key.start,
                  e.get("error") or e)
    return findings
