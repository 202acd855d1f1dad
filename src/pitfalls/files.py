"""Read a user's file without ever hanging: regular files only, a pipe only with a time limit.

A path named in a manifest or found in a folder may be a named pipe (FIFO), a directory, a socket
or a device; `open()` followed by `read()` on a FIFO blocks until someone writes to it, and on
`/dev/zero` never ends. `read_file` opens without blocking, looks at what it opened, and refuses
anything but a regular file with a `NotAFileError` (an `OSError`, so callers that already handle
unreadable files handle it too). Standard library only: worker processes import it.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time

PIPE_TIMEOUT = 10.0
"""Seconds a table read from a pipe may wait for data before it is given up."""

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class NotAFileError(OSError):
    """The path exists but is not a regular file (a directory, pipe, socket or device)."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        super().__init__(errno.EINVAL, f"not a regular file: it is {what}", str(path))
        self.what = what


def kind_of(mode: int) -> str:
    """What a file of this `st_mode` is, in words ("a directory", "a named pipe (FIFO)", …)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def text_of(path: str) -> str:
    """`path` as text that can be stored (Parquet, JSON): a name that is not valid UTF-8 keeps
    its odd bytes as `\\xNN` escapes instead of the lone surrogates Python decodes them to."""
    if path.isascii():
        return path
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_file(path: str | os.PathLike[str], *, pipe_timeout: float | None = None) -> bytes:
    """The bytes of the regular file at `path`.

    Raises `NotAFileError` for a directory, socket or device, and for a named pipe unless
    `pipe_timeout` is given: then the pipe is read until its writer closes it, and a pipe that
    stays silent for `pipe_timeout` seconds raises `TimeoutError`. Other failures raise the
    usual `OSError` (`FileNotFoundError`, `PermissionError`, …); a path holding a NUL byte
    raises `ValueError` as `open` does.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            return _read_all(fd, st.st_size)
        if stat.S_ISFIFO(st.st_mode) and pipe_timeout is not None:
            return _read_pipe(fd, path, pipe_timeout)
        raise NotAFileError(path, kind_of(st.st_mode))
    finally:
        os.close(fd)


def _read_all(fd: int, size: int) -> bytes:
    first = os.read(fd, size + 1)  # one byte more than it holds: all of it, and the end
    if len(first) == size or not first:
        return first
    chunks, left = [first], 1  # a short read, or the file grew since fstat: read to the end
    while True:
        chunk = os.read(fd, max(left, 1 << 16))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        left -= len(chunk)


def _read_pipe(fd: int, path: str | os.PathLike[str], timeout: float) -> bytes:
    """Read a pipe opened without blocking until its writer closes it; each wait for data is
    limited to `timeout` seconds (no writer at all counts as silence)."""
    chunks: list[bytes] = []
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        start = time.monotonic()
        if not poller.poll(timeout * 1000):
            raise TimeoutError(errno.ETIMEDOUT, f"a named pipe (FIFO) that sent nothing for "
                                                f"{timeout:g} s", str(path))
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:  # woken without data: wait again, for what is left of the limit
            timeout = max(0.0, timeout - (time.monotonic() - start))
            continue
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
