"""Run the selected rules over a context and collect findings, passes and skips."""

from __future__ import annotations

import logging
import os
import traceback

from threadpoolctl import threadpool_limits

from pitfalls.context import Context
from pitfalls.findings import Finding
from pitfalls.rules import registry

log = logging.getLogger("pitfalls")

NEEDS_TEXT = {
    "labels": "needs labels (a label column or class folders)",
    "splits": "needs a train split and an evaluation split",
    "groups": "needs a 'group' column",
    "metadata": "needs metadata columns in a manifest",
    "predictions": "needs predictions (--predictions) or a model (--model)",
    "model": "needs a model (--model)",
    "field": "needs field images (--field)",
    "bench": "needs benchmark results (pitfalls bench)",
}


def run_rules(ctx: Context) -> tuple[list[Finding], list[str], list[dict[str, str]]]:
    """Findings, codes that passed, and rules skipped (with why) for the context's config.

    BLAS runs single-threaded here: the rules' matrices are small (thousands of rows, ~100
    columns), where a second BLAS thread gains little, and on a busy machine its spin-waiting
    made the embedding probe 10-50x slower (2,500 images: 0.2 s single-threaded, 1.4-10 s with
    two threads on two shared cores). OpenMP pools (faiss) are left as they are.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_rules(ctx)


def _run_rules(ctx: Context) -> tuple[list[Finding], list[str], list[dict[str, str]]]:
    findings: list[Finding] = []
    passed: list[str] = []
    skipped: list[dict[str, str]] = []
    have = ctx.available()
    for code, cls in registry().items():
        if not ctx.config.selects(code):
            continue
        missing = sorted(set(cls.needs) - have)
        if missing:
            skipped.append({"rule": code, "reason": "; ".join(NEEDS_TEXT.get(m, f"needs {m}")
                                                              for m in missing)})
            continue
        rule = cls(**ctx.config.params_for(code))
        try:
            found = list(rule.check(ctx) or [])
        except Exception as exc:  # one broken rule must not lose the others' results
            if os.environ.get("PITFALLS_STRICT"):
                raise
            log.debug("rule %s failed:\n%s", code, traceback.format_exc())
            skipped.append({"rule": code, "reason": f"internal error: {type(exc).__name__}: {exc}"})
            continue
        if found:
            findings.extend(found)
        else:
            passed.append(code)
    return findings, passed, skipped
