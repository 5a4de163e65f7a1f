"""The client against servers it did not grow up with: Python's http.server and C libevent evhttp.

http.server runs in a thread (ThreadingHTTPServer, HTTP/1.1 or HTTP/1.0
handlers); evhttp is tests/c/evhttp_server.c, compiled with gcc once per
module (skipped when gcc or libevent's headers are missing) and run as a
child process that prints its port and stops when its stdin closes.
"""

from __future__ import annotations

import contextlib
import http.server
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evweb.errors import ReadTimeoutError
from evweb.http import (
    Client,
    ClientRequest,
    ClientResponse,
    ConnectionState,
    HTTPConnection,
    Limits,
    Timeouts,
)
from evweb.reactor import EventBase
from tests.c.build import build

WAIT = 5.0
HOST = [("Host", "interop")]


@pytest.fixture
def base1() -> Iterator[EventBase]:
    b = EventBase()
    yield b
    b.close()


def run_for(base: EventBase, seconds: float) -> None:
    base.loopexit(seconds)
    base.dispatch()


# --- Python's http.server -------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes for the client; ``server.peers`` collects each request's client address."""

    protocol_version = "HTTP/1.1"
    timeout = 5.0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        self.server.peers.append(self.client_address)  # type: ignore[attr-defined]
        path = self.path
        if path == "/hello":
            self._send(200, b"Hello, World!", Content_Type="text/plain")
        elif path == "/echo":
            body = self._body()
            te = self.headers.get("Transfer-Encoding") or "-"
            self._send(200, body, X_Method=self.command, X_TE=te)
        elif path == "/peer":
            self._send(200, repr(self.client_address).encode())
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"one ", b"two ", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        elif path == "/unframed":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True
        elif path == "/redirect":
            self._send(301, b"", Location="/hello")
        else:
            self.send_error(404, "no such page")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _route  # noqa: N815


class Handler10(Handler):
    protocol_version = "HTTP/1.0"


@contextlib.contextmanager
def python_server(handler: type[Handler] = Handler) -> Iterator[Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.peers = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()  # joins the handler threads (the clients are closed by now)
        thread.join(WAIT)


def test_python_server_get_and_keep_alive(base: EventBase) -> None:
    with python_server() as srv, Client(base) as c:
        for _ in range(3):
            r = c.get(srv.url + "/hello").wait(WAIT)
            assert (r.status, r.body, r.content_type) == (200, b"Hello, World!", "text/plain")
        assert len(set(srv.peers)) == 1 and len(srv.peers) == 3


def test_python_server_methods_and_bodies(base1: EventBase) -> None:
    with python_server() as srv, Client(base1) as c:
        for verb in ("POST", "PUT", "PATCH", "DELETE"):
            r = c.request(verb, srv.url + "/echo", body=b"payload").wait(WAIT)
            assert (r.body, r.headers["X-Method"]) == (b"payload", verb)
        r = c.post(srv.url + "/echo", body=iter([b"streamed ", b"in pieces"])).wait(WAIT)
        assert (r.body, r.headers["X-TE"]) == (b"streamed in pieces", "chunked")
        r = c.head(srv.url + "/hello").wait(WAIT)
        assert (r.status, r.body, r.headers["Content-Length"]) == (200, b"", "13")
        assert len(set(srv.peers)) == 1


def test_python_server_chunked_reply_with_trailers(base1: EventBase) -> None:
    with python_server() as srv, Client(base1) as c:
        r = c.get(srv.url + "/chunked").wait(WAIT)
        assert (r.body, r.trailers["X-Trailer"]) == (b"one two three", "yes")
        assert c.get(srv.url + "/hello").wait(WAIT).status == 200
        assert len(set(srv.peers)) == 1


def test_python_server_body_until_close(base1: EventBase) -> None:
    with python_server() as srv, Client(base1) as c:
        r = c.get(srv.url + "/unframed").wait(WAIT)
        assert (r.body, r.keep_alive) == (b"until the end", False)
        assert c.get(srv.url + "/hello").wait(WAIT).status == 200
        assert len(set(srv.peers)) == 2


def test_python_server_error_page_and_redirect(base1: EventBase) -> None:
    with python_server() as srv, Client(base1, follow_redirects=True) as c:
        r = c.get(srv.url + "/missing").wait(WAIT)
        assert r.status == 404 and b"no such page" in r.body
        r = c.get(srv.url + "/redirect").wait(WAIT)
        assert (r.status, r.body, [h.status for h in r.history]) == (200, b"Hello, World!", [301])


def test_python_server_expect_continue(base1: EventBase) -> None:
    with python_server() as srv, HTTPConnection(base1, "127.0.0.1", srv.server_address[1]) as conn:
        headers = [*HOST, ("Expect", "100-continue")]
        request = ClientRequest("PUT", "/echo", headers, b"after the 100", expect_timeout=5.0)
        start = time.monotonic()
        r = conn.request(request).wait(WAIT)
        assert r.body == b"after the 100"
        assert time.monotonic() - start < 2.0  # released by the 100, not the expect timeout


def test_python_http10_server_closes_each_time(base1: EventBase) -> None:
    with python_server(Handler10) as srv, Client(base1) as c:
        for _ in range(3):
            r = c.get(srv.url + "/hello").wait(WAIT)
            assert (r.version, r.body, r.keep_alive) == ((1, 0), b"Hello, World!", False)
        assert len(set(srv.peers)) == 3 and c.pool.total == 0


def test_python_http10_request(base1: EventBase) -> None:
    with python_server() as srv, HTTPConnection(base1, "127.0.0.1", srv.server_address[1]) as conn:
        r = conn.request(ClientRequest("GET", "/hello", HOST, version=(1, 0))).wait(WAIT)
        assert r.body == b"Hello, World!" and not r.keep_alive
        assert conn.state is ConnectionState.DISCONNECTED


# --- C libevent evhttp ----------------------------------------------------------------------------

CHUNK = 16384


@pytest.fixture(scope="module")
def evhttp_server_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("evhttp_server", tmp_path_factory)


class CServer:
    """evhttp_server running as a child; stops when its stdin closes."""

    def __init__(self, exe: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(exe), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("port "), line
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        assert self.proc.returncode == 0


@contextlib.contextmanager
def c_server(exe: Path, *args: str) -> Iterator[CServer]:
    srv = CServer(exe, *args)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def evhttpd(evhttp_server_exe: Path) -> Iterator[CServer]:
    with c_server(evhttp_server_exe) as srv:
        yield srv


def chunk_bytes(k: int) -> bytes:
    return bytes((k + i) % 251 for i in range(CHUNK))


def connect(base: EventBase, srv: CServer, **kwargs: Any) -> HTTPConnection:
    return HTTPConnection(base, "127.0.0.1", srv.port, **kwargs)


def test_evhttp_get_and_keep_alive(base: EventBase, evhttpd: CServer) -> None:
    with connect(base, evhttpd) as conn:
        r = conn.request(ClientRequest("GET", "/hello", HOST)).wait(WAIT)
        assert (r.status, r.body, r.headers["Content-Type"]) == (
            200,
            b"Hello, World!",
            "text/plain",
        )
        peers = {
            conn.request(ClientRequest("GET", "/peer", HOST)).wait(WAIT).body for _ in range(4)
        }
        assert len(peers) == 1 and conn.requests_sent == 5
        local = conn.bufferevent.socket.getsockname()  # type: ignore[union-attr]
        assert peers == {f"127.0.0.1:{local[1]}".encode()}


@pytest.mark.parametrize("verb", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_evhttp_methods(base1: EventBase, evhttpd: CServer, verb: str) -> None:
    with connect(base1, evhttpd) as conn:
        r = conn.request(ClientRequest(verb, "/echo", HOST, b"body of " + verb.encode())).wait(WAIT)
        assert (r.body, r.headers["X-Method"]) == (b"body of " + verb.encode(), verb)
        assert r.headers["X-Length"] == str(len(r.body))


def test_evhttp_head(base1: EventBase, evhttpd: CServer) -> None:
    """libevent 2.1's server sends the GET's body after a HEAD's head (without a
    Content-Length). The client ends the HEAD at its head and closes the connection rather
    than read those bytes as the next response."""
    with connect(base1, evhttpd) as conn:
        r = conn.request(ClientRequest("HEAD", "/hello", HOST)).wait(WAIT)
        assert (r.status, r.body) == (200, b"")
        get = conn.request(ClientRequest("GET", "/hello", HOST)).wait(WAIT)
        assert (get.status, get.body) == (200, b"Hello, World!")


def test_evhttp_chunked_reply(base: EventBase, evhttpd: CServer) -> None:
    expected = b"".join(chunk_bytes(k) for k in range(64))  # 1 MiB
    pieces: list[bytes] = []
    with connect(base, evhttpd) as conn:
        r = conn.request(ClientRequest("GET", "/chunked?n=64", HOST)).wait(WAIT)
        assert r.headers["Transfer-Encoding"] == "chunked" and r.body == expected
        streamed = ClientRequest(
            "GET", "/chunked?n=64", HOST, on_chunk=lambda resp, d: pieces.append(d)
        )
        assert conn.request(streamed).wait(WAIT).body == b""
        assert b"".join(pieces) == expected and conn.requests_sent == 2


def test_evhttp_chunked_upload(base: EventBase, evhttpd: CServer) -> None:
    pieces = [chunk_bytes(k) for k in range(20)]
    with connect(base, evhttpd) as conn:
        r = conn.request(ClientRequest("POST", "/echo", HOST, iter(pieces))).wait(WAIT)
        assert r.headers["X-TE"] == "chunked" and r.body == b"".join(pieces)


def test_evhttp_file_upload(base1: EventBase, evhttpd: CServer, tmp_path: Path) -> None:
    data = b"".join(chunk_bytes(k) for k in range(8))
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    with connect(base1, evhttpd) as conn, path.open("rb") as fh:
        r = conn.request(ClientRequest("PUT", "/echo", HOST, fh)).wait(WAIT)
        assert r.headers["X-Length"] == str(len(data)) and r.body == data


def test_evhttp_expect_continue(base1: EventBase, evhttpd: CServer) -> None:
    """libevent answers Expect: 100-continue with a 100; the held body follows it."""
    headers = [*HOST, ("Expect", "100-continue")]
    with connect(base1, evhttpd) as conn:
        request = ClientRequest("POST", "/echo", headers, b"x" * 50_000, expect_timeout=5.0)
        start = time.monotonic()
        r = conn.request(request).wait(WAIT)
        assert r.body == b"x" * 50_000
        assert time.monotonic() - start < 2.0  # the 100 released it, not the timer


def test_evhttp_connection_close(base1: EventBase, evhttpd: CServer) -> None:
    with connect(base1, evhttpd) as conn:
        first = conn.request(ClientRequest("GET", "/peer", HOST)).wait(WAIT).body
        r = conn.request(ClientRequest("GET", "/close", HOST)).wait(WAIT)
        assert (r.body, r.keep_alive) == (b"bye", False)
        assert conn.state is ConnectionState.DISCONNECTED
        assert conn.request(ClientRequest("GET", "/peer", HOST)).wait(WAIT).body != first


def test_evhttp_not_found(base1: EventBase, evhttpd: CServer) -> None:
    with Client(base1) as c:
        r = c.get(evhttpd.url + "/missing").wait(WAIT)
        assert r.status == 404 and b"404" in r.body
        assert c.get(evhttpd.url + "/hello").wait(WAIT).status == 200


def test_evhttp_client_features(base1: EventBase, evhttpd: CServer) -> None:
    with Client(base1, follow_redirects=True) as c:
        r = c.get(evhttpd.url + "/redirect").wait(WAIT)
        assert (r.body, [h.status for h in r.history]) == (b"Hello, World!", [302])
        sent = c.get(evhttpd.url + "/headers", params={"a": "b"}).wait(WAIT).text
        assert f"Host: 127.0.0.1:{evhttpd.port}" in sent
        assert "Accept-Encoding: identity" in sent and "User-Agent: evweb/" in sent
        r = c.post(evhttpd.url + "/echo", json={"k": [1, 2]}).wait(WAIT)
        assert r.json() == {"k": [1, 2]}


def test_evhttp_pool_limit(base: EventBase, evhttpd: CServer) -> None:
    with Client(base, limits=Limits(max_connections=2)) as c:
        futures = [c.get(evhttpd.url + "/peer") for _ in range(10)]
        peers = {f.wait(WAIT).body for f in futures}
        assert len(peers) <= 2 and c.pool.total <= 2


def test_evhttp_read_timeout(base1: EventBase, evhttpd: CServer) -> None:
    with connect(base1, evhttpd, timeouts=Timeouts(read=0.05)) as conn:
        with pytest.raises(ReadTimeoutError):
            conn.request(ClientRequest("GET", "/slow", HOST)).wait(WAIT)
        assert conn.request(ClientRequest("GET", "/hello", HOST)).wait(WAIT).status == 200


def test_evhttp_close_detection(base1: EventBase, evhttp_server_exe: Path) -> None:
    """evhttp closes the idle connection after its timeout; the client notices and redials."""
    closes: list[HTTPConnection] = []
    with c_server(evhttp_server_exe, "-t", "100") as srv, connect(base1, srv) as conn:
        conn.on_close = closes.append
        first = conn.request(ClientRequest("GET", "/peer", HOST)).wait(WAIT).body
        deadline = time.monotonic() + 3.0
        while conn.state is ConnectionState.IDLE and time.monotonic() < deadline:
            run_for(base1, 0.05)
        assert conn.state is ConnectionState.DISCONNECTED and closes == [conn]
        assert conn.request(ClientRequest("GET", "/peer", HOST)).wait(WAIT).body != first


def _responses(futures: list[Any]) -> list[ClientResponse]:
    return [f.wait(WAIT) for f in futures]


def test_evhttp_queue_of_mixed_requests(base1: EventBase, evhttpd: CServer) -> None:
    with connect(base1, evhttpd) as conn:
        requests: list[Callable[[], ClientRequest]] = [
            lambda: ClientRequest("GET", "/hello", HOST),
            lambda: ClientRequest("POST", "/echo", HOST, b"abc"),
            lambda: ClientRequest("GET", "/chunked?n=2", HOST),
            lambda: ClientRequest("PUT", "/echo", HOST, iter([b"x", b"y"])),
            lambda: ClientRequest("GET", "/missing", HOST),
        ]
        rs = _responses([conn.request(make()) for make in requests * 2])
        assert [r.status for r in rs] == [200, 200, 200, 200, 404] * 2
        assert rs[1].body == b"abc" and rs[2].body == chunk_bytes(0) + chunk_bytes(1)
        assert rs[3].body == b"xy" and rs[3].headers["X-TE"] == "chunked"
        assert conn.requests_sent == 5  # evhttp_send_error's 404 says Connection: close
