"""The monitoring service inside this process: uvicorn on a thread, bound to the loopback
address (a free port unless told), for the demo and for scripts that want a service for a while.

    with LocalService(db, reference) as svc:
        ... # svc.url answers the API; svc.wait_idle() waits for the analysis
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from pitfalls.errors import InputError

HOST = "127.0.0.1"


def bind(port: int = 0, host: str = HOST) -> socket.socket:
    """A listening socket on `host`:`port` (0: a free port); `InputError` when it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


class LocalService:
    """`pitfalls monitor serve` on a thread of this process (the database migrated first)."""

    def __init__(self, db: str, reference: str | Path, port: int = 0, **settings: Any) -> None:
        from pitfalls.monitor.storage import migrate

        migrate(db)
        self.db, self.reference, self.settings = db, Path(reference), settings
        self.sock = bind(port)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://{HOST}:{self.port}"
        self.server: Any = None
        self.app: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> LocalService:
        import uvicorn

        from pitfalls.monitor.server import Settings, create_app

        settings = Settings(db=self.db, reference=str(self.reference.resolve()), **self.settings)
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, log_level="warning", server_header=False,
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                        name="monitor-service", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the monitoring service did not start")
            time.sleep(0.05)
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_idle(self, timeout: float = 300.0) -> bool:
        """Wait until the analysis has checked every window the stored records touched."""
        live = self.app.state.service.live if self.app is not None else None
        if live is None:
            return True
        return bool(live.idle.wait(timeout))

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.join(timeout)
        self.sock.close()

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
