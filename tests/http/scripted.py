"""A raw HTTP server on loopback whose every connection runs a script, for client tests.

Each accepted connection is handed, as a :class:`Peer` (a blocking socket
with a timeout and a read buffer), to ``handler(peer)`` in its own thread,
so a test can make a server misbehave in exactly one way: answer late, never,
twice, with trailers, close at a chosen moment. The client under test runs
on the main thread (``future.wait(timeout)`` drives its loop).

:meth:`ScriptedServer.close` stops accepting, shuts every connection, joins
the threads and re-raises the first exception a handler raised (an
assertion inside a handler fails the test).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from evweb.http.headers import Headers

TIMEOUT = 5.0  # any single blocking read in a script


@dataclass
class RawRequest:
    """A request as the script read it."""

    method: str
    target: str
    version: str
    headers: Headers
    body: bytes = b""
    raw_head: bytes = b""
    chunk_sizes: list[int] = field(default_factory=list)


class Peer:
    """One accepted connection, as a script sees it."""

    def __init__(self, sock: socket.socket, address: Any, index: int) -> None:
        self.sock = sock
        self.address = address
        self.index = index  # 0 for the first connection the server accepted
        self.requests = 0
        self._buf = b""
        sock.settimeout(TIMEOUT)

    # -- reading --------------------------------------------------------------------

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            return False
        self._buf += data
        return True

    def read_until(self, marker: bytes) -> bytes | None:
        """Bytes up to and including ``marker``; None when EOF comes first."""
        while marker not in self._buf:
            if not self._fill():
                return None
        head, _, self._buf = self._buf.partition(marker)
        return head + marker

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise EOFError(f"EOF after {len(self._buf)} of {n} bytes")
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def read_head(self) -> RawRequest | None:
        """The next request head (its body not read); None at EOF."""
        raw = self.read_until(b"\r\n\r\n")
        if raw is None:
            return None
        lines = raw[:-4].decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = Headers()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
        self.requests += 1
        return RawRequest(method, target, version, headers, raw_head=raw)

    def read_body(self, req: RawRequest) -> bytes:
        """The body ``req``'s head announced (Content-Length or chunked)."""
        if req.headers.has_token("transfer-encoding", "chunked"):
            parts = []
            while True:
                line = self.read_until(b"\r\n")
                if line is None:
                    raise EOFError("EOF in a chunked body")
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.read_until(b"\r\n") not in (b"\r\n", None):
                        pass  # trailers
                    break
                req.chunk_sizes.append(size)
                parts.append(self.read_exact(size))
                self.read_exact(2)
            req.body = b"".join(parts)
        else:
            req.body = self.read_exact(int(req.headers.get("content-length") or 0))
        return req.body

    def read_request(self) -> RawRequest | None:
        """The next whole request; None at EOF."""
        req = self.read_head()
        if req is not None:
            self.read_body(req)
        return req

    def nothing_arrives(self, seconds: float) -> bool:
        """Whether no byte (and no EOF) arrives for ``seconds``."""
        if self._buf:
            return False
        ready, _, _ = select.select([self.sock], [], [], seconds)
        return not ready

    def wait_eof(self, timeout: float = TIMEOUT) -> bytes:
        """Read until the client closes; what arrived meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], deadline - time.monotonic())
            if ready and not self._fill():
                data, self._buf = self._buf, b""
                return data
        raise TimeoutError("the client did not close")

    # -- writing --------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        *,
        reason: str = "OK",
        length: bool = True,
    ) -> None:
        """Send a response with ``Content-Length`` (unless ``length`` is False)."""
        fields = list(headers or [])
        if length:
            fields.append(("Content-Length", str(len(body))))
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields)
        self.send(head.encode("latin-1") + b"\r\n" + body)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


Handler = Callable[[Peer], object]


def serve_each(respond: Callable[[Peer, RawRequest], object]) -> Handler:
    """A handler calling ``respond(peer, request)`` for each request until the client closes."""

    def handler(peer: Peer) -> None:
        while (req := peer.read_request()) is not None:
            respond(peer, req)

    return handler


class ScriptedServer:
    """Listens on 127.0.0.1 (or ``host``, or a Unix ``unix_path``); see the module docstring."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        unix_path: str | None = None,
        backlog: int = 16,
        port: int = 0,
        rcvbuf: int | None = None,
    ) -> None:
        self.handler = handler
        self.unix_path = unix_path
        if unix_path is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.bind(unix_path)
        else:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self._sock = socket.socket(family, socket.SOCK_STREAM)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
        if rcvbuf is not None:  # inherited by accepted sockets: a client's writes stall sooner
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._sock.listen(backlog)
        self.port = 0 if unix_path is not None else self._sock.getsockname()[1]
        self.peers: list[Any] = []
        """The address of each accepted connection, in order."""
        self.errors: list[BaseException] = []
        self._conns: list[Peer] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self.peers)

    def _accept_loop(self) -> None:
        while True:
            ready, _, _ = select.select([self._sock, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                sock, address = self._sock.accept()
            except OSError:
                continue
            with self._lock:
                peer = Peer(sock, address, len(self.peers))
                self.peers.append(address)
                self._conns.append(peer)
                thread = threading.Thread(target=self._run, args=(peer,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _run(self, peer: Peer) -> None:
        try:
            self.handler(peer)
        except (ConnectionError, EOFError):
            pass  # the client went away: its side of the test says whether that was right
        except BaseException as exc:  # reported by close()
            self.errors.append(exc)
        finally:
            peer.close()

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._acceptor.join(TIMEOUT)
        self._sock.close()
        os.close(self._stop_r)
        os.close(self._stop_w)
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for peer in conns:
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(TIMEOUT)
            assert not thread.is_alive(), "a script thread did not end"
        if self.unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_path)
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def scripted(handler: Handler, **kwargs: Any) -> Iterator[ScriptedServer]:
    """A ScriptedServer for the block."""
    with ScriptedServer(handler, **kwargs) as server:
        yield server


def free_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
