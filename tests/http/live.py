"""A live HTTPServer on 127.0.0.1 in a background thread, for tests with real clients.

The server's loop runs in its own thread on a thread-safe base, so a test
can use blocking clients (requests, curl, raw sockets) from the main thread.
``call(fn)`` runs ``fn`` inside the loop thread and returns its result.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from evweb.http import HTTPServer, ServerConfig
from evweb.reactor import NO_EXIT_ON_EMPTY, TIMEOUT, EventBase, EventConfig

Setup = Callable[[HTTPServer], object]


class LiveServer:
    """An HTTPServer looping in a thread; ``port``, ``url`` and ``server`` are set once started."""

    def __init__(
        self,
        setup: Setup,
        *,
        method: str | None = None,
        config: ServerConfig | None = None,
        ssl_context: Any = None,
    ) -> None:
        self.setup = setup
        self.method = method
        self.config = config
        self.ssl_context = ssl_context
        self.port = 0
        self.server: HTTPServer | None = None
        self.base: EventBase | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            self.base = EventBase(EventConfig(method=self.method, threadsafe=True))
            self.server = HTTPServer(self.base, self.config)
            self.setup(self.server)
            bound = self.server.bind(("127.0.0.1", 0), ssl_context=self.ssl_context)
            self.port = bound.address[1]
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.base.loop(NO_EXIT_ON_EMPTY)
        self.server.close()
        self.base.close()

    def start(self) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("server did not start")
        if self._error is not None:
            raise self._error
        return self

    def call(self, fn: Callable[[], Any], timeout: float = 10) -> Any:
        """Run ``fn()`` in the loop thread; return its result (or raise its exception)."""
        assert self.base is not None
        box: queue.Queue[tuple[bool, Any]] = queue.Queue()

        def run(*_: Any) -> None:
            try:
                box.put((True, fn()))
            except BaseException as exc:
                box.put((False, exc))

        self.base.once(-1, TIMEOUT, run, None, 0)
        ok, value = box.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        if self.base is not None and self._thread.is_alive():
            self.base.loopbreak()
        self._thread.join(10)
        assert not self._thread.is_alive(), "server thread did not stop"


@contextmanager
def live_server(setup: Setup, **kwargs: Any) -> Iterator[LiveServer]:
    """Start a LiveServer for the block; stopped (and its fds closed) afterwards."""
    srv = LiveServer(setup, **kwargs).start()
    try:
        yield srv
    finally:
        srv.stop()


def raw_exchange(port: int, data: bytes, *, timeout: float = 5.0, shut: bool = False) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """Read one Content-Length-framed response from a blocking socket: (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head, rest[:length]
