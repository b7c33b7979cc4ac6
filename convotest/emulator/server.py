"""Serving the emulator with uvicorn: in a background thread (``EmulatorServer``) or blocking (``serve``)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from convotest.emulator.app import create_app
from convotest.emulator.config import EmulatorConfig, FaultConfig
from convotest.errors import ConfigError

__all__ = ["EmulatorServer", "serve"]


def _config(app: Starlette, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        # Keep-alive long enough for SDK clients that pause between turns.
        timeout_keep_alive=30,
    )


def _listen_socket(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose listening socket
    # says TCP, and without it every keep-alive request waits ~40 ms for a delayed ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"the emulator cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class EmulatorServer:
    """The emulator on ``host``:``port`` (0 picks a free port) in a daemon thread; a context manager."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self._socket = _listen_socket(host, port)
        try:
            self.app = create_app(self.config)
        except BaseException:
            self._socket.close()
            raise
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_config(self.app, "warning"))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The URL to give the SDK as ``base_url``: ``http://HOST:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        """Start serving and return once the port accepts connections."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="convotest-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start on {self.host}:{self.port}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, wait for the thread, flush state."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()
        self.app.state.emulator.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    db: str | None = None,
    *,
    seed: int = 0,
    faults: FaultConfig | None = None,
    delay_ms: int = 0,
    log_level: str = "info",
) -> None:
    """Serve until interrupted (``convotest serve``). A bad ``db`` raises ``ConfigError`` before listening."""
    config = EmulatorConfig(db=db, seed=seed, faults=faults, delay_ms=delay_ms)
    app = create_app(config)
    try:
        sock = _listen_socket(host, port)
    except ConfigError:
        app.state.emulator.close()
        raise
    bound = sock.getsockname()[1]
    print(f"convotest emulator: http://{host}:{bound}/v1 (state: {db or 'in memory'})", file=sys.stderr)
    try:
        uvicorn.Server(_config(app, log_level)).run(sockets=[sock])
    finally:
        sock.close()
        app.state.emulator.close()
