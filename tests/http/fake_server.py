"""A raw-socket HTTP server that plays scripts, for testing the client against bad servers.

Each accepted connection plays the next script of the queue (then the
default one): a list of steps such as "read a request", "send these bytes",
"drip them one byte at a time", "sleep", "close", "reset". The server runs
in threads with blocking sockets, so the client under test keeps its loop
in the main thread. ``close()`` stops everything and joins the threads;
every socket is closed by then.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

IO_TIMEOUT = 5.0  # bounds every blocking call of the server threads


class Conn:
    """One accepted connection as a script sees it."""

    def __init__(self, sock: socket.socket, server: FakeServer) -> None:
        self.sock = sock
        self.server = server
        self.buf = b""

    def read_request(self) -> bytes | None:
        """Read one request (head and Content-Length body); None when the client closed."""
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            data = self.sock.recv(65536)
            if not data:
                return None
            rest += data
        self.buf = rest[length:]
        self.server.requests.append(head + b"\r\n\r\n")
        return head


Step = Callable[[Conn], bool]
"""A step of a script; returning False ends the script (the client went away)."""


def recv(conn: Conn) -> bool:
    """Read one request."""
    return conn.read_request() is not None


@dataclass
class send:  # noqa: N801 - reads as a verb in scripts
    """Send bytes at once."""

    data: bytes

    def __call__(self, conn: Conn) -> bool:
        conn.sock.sendall(self.data)
        return True


@dataclass
class drip:  # noqa: N801
    """Send ``data`` ``size`` bytes at a time, ``interval`` seconds apart."""

    data: bytes
    interval: float
    size: int = 1

    def __call__(self, conn: Conn) -> bool:
        for i in range(0, len(self.data), self.size):
            conn.sock.sendall(self.data[i : i + self.size])
            if conn.server.stopping.wait(self.interval):
                return False
        return True


@dataclass
class sleep:  # noqa: N801
    """Wait (interrupted when the server stops)."""

    seconds: float

    def __call__(self, conn: Conn) -> bool:
        return not conn.server.stopping.wait(self.seconds)


def close(conn: Conn) -> bool:
    """Close the connection gracefully (FIN)."""
    with contextlib.suppress(OSError):
        conn.sock.shutdown(socket.SHUT_RDWR)
    return False


def reset(conn: Conn) -> bool:
    """Close with SO_LINGER 0: the client gets a RST."""
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()
    return False


def wait_for_close(conn: Conn) -> bool:
    """Wait until the client closes its side (reading and dropping what it sends)."""
    with contextlib.suppress(OSError):
        while conn.sock.recv(65536):
            pass
    return False


def response(
    body: bytes = b"ok", status: int = 200, headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """A well-formed response with a Content-Length."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def serve(conn: Conn) -> bool:
    """Answer every request with ``200 ok`` until the client closes."""
    while conn.read_request() is not None:
        conn.sock.sendall(response())
    return False


Script = Sequence[Step]
GOOD: Script = (serve,)


class FakeServer:
    """Listens on 127.0.0.1:0; connection n plays ``scripts[n]``, later ones ``default``."""

    def __init__(self, *scripts: Script, default: Script = GOOD) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.scripts: deque[Script] = deque(scripts)
        self.default = default
        self.accepted = 0
        self.requests: list[bytes] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(IO_TIMEOUT)
            with self._lock:
                script = self.scripts.popleft() if self.scripts else self.default
                self.accepted += 1
                self._conns.append(sock)
                thread = threading.Thread(target=self._play, args=(sock, script), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _play(self, sock: socket.socket, script: Script) -> None:
        conn = Conn(sock, self)
        try:
            for step in script:
                if not step(conn):
                    break
        except (ConnectionError, TimeoutError):
            pass  # the client went away first: what a hostile script expects
        except OSError as exc:
            if not self.stopping.is_set() and sock.fileno() != -1:
                self.errors.append(exc)
        except BaseException as exc:  # pragma: no cover - a bug in a script
            self.errors.append(exc)
        finally:
            sock.close()

    def close(self) -> None:
        """Stop accepting, cut live connections, join every thread."""
        self.stopping.set()
        self._acceptor.join(IO_TIMEOUT)
        self.listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for sock in conns:
            with contextlib.suppress(OSError):
                if sock.fileno() != -1:
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(IO_TIMEOUT)
        assert not any(t.is_alive() for t in threads), "a fake server thread did not stop"
        assert not self.errors, f"the fake server failed: {self.errors!r}"

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def fake_server(*scripts: Script, default: Script = GOOD) -> Iterator[FakeServer]:
    """A FakeServer for the block."""
    server = FakeServer(*scripts, default=default)
    try:
        yield server
    finally:
        server.close()
