"""Where work runs: in this process, in a pool of local processes, or on a Dask cluster.

An executor maps a picklable function over chunks and yields results as they complete, so the
caller can save each chunk at once. `DaskExecutor` runs the same chunks on a Dask cluster.
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

    workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)


class LocalExecutor:
    """A pool of `workers` processes, at most `2 * workers` chunks in flight."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or default_workers())
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalExecutor:
        """Start the workers now: forked before the caller builds its (large) input tables,
        they share none of them, so a worker's memory does not grow with the dataset. Entering
        a started executor again keeps its workers."""
        if self._pool is not None:
            return self
        self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context(_start_method()))
        list(self._pool.map(_noop, range(self.workers)))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        if self._pool is not None:
            yield from self.feed(fn, items)
            return
        with ProcessPoolExecutor(self.workers, mp_context=mp.get_context(_start_method())) as pool:
            yield from Feed(pool, fn, items, 2 * self.workers)

    def feed(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Feed:
        """Submit the first `2 * workers` items now (the pool must be started) and return the
        results, in completion order, as they are iterated; the rest are submitted as earlier
        ones finish."""
        if self._pool is None:
            raise RuntimeError("start the executor (with LocalExecutor(...) as pool) before feed()")
        return Feed(self._pool, fn, items, 2 * self.workers)


class Feed:
    """Items fed to a process pool with at most `window` in flight; iterate for the results."""

    def __init__(self, pool: ProcessPoolExecutor, fn: Callable[[Any], Any], items: Iterable[Any],
                 window: int) -> None:
        self._pool, self._fn, self._items, self._window = pool, fn, iter(items), window
        self._pending: set[Future[Any]] = set()
        self._fill()

    def _fill(self) -> None:
        while len(self._pending) < self._window:
            try:
                item = next(self._items)
            except StopIteration:
                return
            self._pending.add(self._pool.submit(self._fn, item))

    def __iter__(self) -> Iterator[Any]:
        while self._pending:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            self._fill()  # keep the workers busy before handing results back
            for fut in done:
                yield fut.result()


def _noop(_: object) -> None:
    return None


class DaskExecutor:
    """Runs chunks as tasks on a Dask cluster (a `distributed.Client` or a scheduler address).

    Tasks are pure (a chunk of paths in, a feature frame out), so a task lost with a killed
    worker is simply re-run by Dask elsewhere; the caller saves each result once, as it arrives.
    """

    def __init__(self, client: Any) -> None:
        from dask.distributed import Client

        self.client = client if isinstance(client, Client) else Client(str(client))
        self._owns = not isinstance(client, Client)

    @property
    def workers(self) -> int:
        """Threads across the cluster's workers (1 when the scheduler cannot say)."""
        try:
            info = self.client.scheduler_info()["workers"].values()
            return max(1, sum(int(w.get("nthreads", 1)) for w in info))
        except Exception:  # the scheduler went away: the first task will say why
            return 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        from dask.distributed import as_completed

        items = list(items)
        if not items:
            return
        futures = self.client.map(fn, items, pure=False)
        try:
            for fut in as_completed(futures):
                yield fut.result()
                fut.release()
        finally:
            if self._owns:
                self.client.close()


def _start_method() -> str | None:
    """`fork` where the OS has it: workers start at once with the modules already imported,
    and scripts or notebooks that call `pitfalls.scan()` without an `if __name__ == "__main__"`
    guard still work (as PyTorch's DataLoader does on Linux). Elsewhere the platform default."""
    return "fork" if "fork" in mp.get_all_start_methods() else None


def default_workers() -> int:
    """One process per available core, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def make_executor(workers: int | None, n_items: int, scheduler: Any = None) -> Executor:
    """A Dask executor when a scheduler/client is given; else in-process for small jobs or one
    worker, and a local process pool otherwise."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    w = workers if workers is not None else default_workers()
    if w <= 1 or n_items <= 2:
        return InProcessExecutor()
    return LocalExecutor(w)
