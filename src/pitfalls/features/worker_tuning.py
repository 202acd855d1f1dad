"""Per-process tuning of a feature worker: freed memory kept, BLAS on one thread.

Keep freed memory in the process: per-image arrays are reused, not re-faulted from the OS.

The working copy's planes and their differences are a few hundred kilobytes each. With glibc's
defaults such blocks are mapped fresh from the kernel and returned on free (or the heap top is
trimmed), so every image pays page faults for memory it just gave back: measured here, that
doubled the cost of the image properties. Raising the mmap and trim thresholds keeps a bounded
pool (at most `TRIM_BYTES` of free memory) in the process. Elsewhere than glibc this is a no-op.

BLAS on one thread: the per-image matrix products are tiny, and with one worker process per core
a multi-threaded BLAS only adds threads that wait on each other.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
MMAP_BYTES = 32 * 2**20
"""Blocks below this come from the heap (and return to it when freed)."""
TRIM_BYTES = 64 * 2**20
"""Free memory at the top of the heap kept rather than returned to the kernel."""


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Tune glibc malloc for this process (once); True when it applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES) == 1 and ok
    ok = mallopt(_M_TOP_PAD, 4 * 2**20) == 1 and ok
    return ok


@lru_cache(maxsize=1)
def tune_worker() -> None:
    """Everything a feature worker process sets once: `keep_freed_memory`, one BLAS thread and,
    in a worker process of ours (not a caller's process running the chunks itself), fewer
    cyclic-garbage passes: each image makes a few hundred small containers, none in cycles."""
    import gc
    import multiprocessing

    from threadpoolctl import threadpool_limits

    keep_freed_memory()
    threadpool_limits(limits=1, user_api="blas")
    if multiprocessing.parent_process() is not None:
        gc.set_threshold(100_000, 50, 100)
