"""Where work runs: in this process, or in a pool of local processes.

An executor maps a picklable function over chunks and yields results as they complete, so the
caller can save each chunk at once. A Dask executor can be added behind the same `map`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol


class Executor(Protocol):
    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        ...


class InProcessExecutor:
    """Runs every chunk here, one after another."""

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)


class LocalExecutor:
    """A pool of `workers` processes, at most `2 * workers` chunks in flight."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or default_workers())

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else None)
        with ProcessPoolExecutor(self.workers, mp_context=ctx) as pool:
            pending: set[Future[Any]] = set()
            it = iter(items)
            for item in it:
                pending.add(pool.submit(fn, item))
                if len(pending) >= 2 * self.workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()


def default_workers() -> int:
    """One process per available core, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def make_executor(workers: int | None, n_items: int) -> Executor:
    """In-process for small jobs or one worker; a local pool otherwise."""
    w = workers if workers is not None else default_workers()
    if w <= 1 or n_items <= 2:
        return InProcessExecutor()
    return LocalExecutor(w)
