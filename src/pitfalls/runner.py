"""Run the selected rules over a context and collect findings, passes and skips."""

from __future__ import annotations

import logging
import os
import threading
import traceback

from threadpoolctl import threadpool_limits

from pitfalls.config import Config
from pitfalls.context import Context
from pitfalls.contract import skip_reason
from pitfalls.errors import ConfigError
from pitfalls.findings import Finding
from pitfalls.rules import registry
from pitfalls.rules.base import Rule

log = logging.getLogger("pitfalls")


def check_rule_config(config: Config) -> None:
    """A `ConfigError` (exit 2) unless every `[rules.CODE]` table names a rule and each of its
    values is a parameter of that rule with an allowed value. Called after the early start (the
    catalogue loads pandas and SciPy); a config without rule tables costs nothing."""
    if not config.rules:
        return
    known = registry()
    for code, values in config.rules.items():
        if code not in known:
            raise ConfigError(f"[rules.{code}]: no rule has the code {code!r}")
        known[code].check_params(values)


Outcome = tuple[list[Finding], list[str], list[dict[str, str]], list[dict[str, str]]]


def run_rules(ctx: Context) -> Outcome:
    """Findings, codes that passed, rules skipped (with why) and rules that raised (with the
    error) for the context's config.

    A rule that raises does not lose the others' results, but it is no pass and no skip: it is
    an error of the run (`Report.errors`, exit code 2), logged with its traceback at debug
    level (`--verbose`). Under `PITFALLS_STRICT` the exception propagates instead.

    BLAS runs single-threaded here: the rules' matrices are small (thousands of rows, ~100
    columns), where a second BLAS thread gains little, and on a busy machine its spin-waiting
    made the embedding probe 10-50x slower (2,500 images: 0.2 s single-threaded, 1.4-10 s with
    two threads on two shared cores). OpenMP pools (faiss) are left as they are.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_rules(ctx)


def _selected(ctx: Context) -> tuple[list[Rule], list[dict[str, str]]]:
    """The rules to run (configured), and those skipped for want of an input."""
    rules: list[Rule] = []
    skipped: list[dict[str, str]] = []
    have = ctx.available()
    for code, cls in registry().items():
        if not ctx.config.selects(code):
            continue
        missing = set(cls.needs) - have
        if missing:
            skipped.append({"rule": code, "reason": skip_reason(missing)})
            continue
        rules.append(cls(**ctx.config.params_for(code)))
    return rules, skipped


def _prefetch(ctx: Context, rules: list[Rule]) -> threading.Thread | None:
    """Run the rules' prefetches on one background thread (a failure there is left for the
    rule's own check to meet and report)."""
    ahead = [r for r in rules if type(r).prefetch is not Rule.prefetch]
    if not ahead:
        return None

    def work() -> None:
        for rule in ahead:
            try:
                rule.prefetch(ctx)
            except Exception:  # noqa: BLE001  the check recomputes and reports it
                log.debug("prefetch of %s failed:\n%s", rule.code, traceback.format_exc())

    thread = threading.Thread(target=work, name="pitfalls-prefetch", daemon=True)
    thread.start()
    return thread


def _run_rules(ctx: Context) -> Outcome:
    findings: list[Finding] = []
    passed: list[str] = []
    errors: list[dict[str, str]] = []
    rules, skipped = _selected(ctx)
    ahead = _prefetch(ctx, rules)
    for rule in rules:
        try:
            found = list(rule.check(ctx) or [])
        except Exception as exc:  # one broken rule must not lose the others' results
            if os.environ.get("PITFALLS_STRICT"):
                raise
            error = f"{type(exc).__name__}: {exc}"
            log.error("rule %s raised %s (its results are missing; --verbose shows the "
                      "traceback)", rule.code, error)
            log.debug("rule %s failed:\n%s", rule.code, traceback.format_exc())
            errors.append({"rule": rule.code, "error": error})
            continue
        if found:
            findings.extend(found)
        else:
            passed.append(rule.code)
    if ahead is not None:
        ahead.join()
    return findings, passed, skipped, errors
