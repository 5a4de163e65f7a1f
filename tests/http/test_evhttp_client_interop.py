"""The HTTP server against libevent's own client: tests/c/evhttp_get.c, built with gcc here.

evhttp_get uses evhttp_connection_base_new and evhttp_make_request, sends its
requests one after the other over one connection, and prints what it got as
``key value`` lines (see the comment at the top of the C file), which
:func:`run` turns into :class:`Reply` objects. Skipped when gcc or libevent's
headers are missing (``apt install gcc libevent-dev``).
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from evweb.http import HTTPServer, Request
from evweb.reactor import supported_methods
from tests.c.build import build
from tests.http.live import LiveServer, live_server

pytestmark = pytest.mark.parametrize("method", supported_methods())

STREAM_PIECE = bytes(range(256)) * 256  # 64 KiB
STREAM_PIECES = 16  # 1 MiB in all
STREAM_BODY = STREAM_PIECE * STREAM_PIECES
RUN_TIMEOUT = 60  # seconds for one client run (its own connection timeout is 10 s)


@pytest.fixture(scope="module")
def evhttp_get(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The client, compiled once for this module."""
    return build("evhttp_get", tmp_path_factory)


# --- the client's output -----------------------------------------------------------------


@dataclass
class Reply:
    """What evhttp_get printed for one request."""

    method: str
    uri: str
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: int | None = None
    length: int = -1
    sha256: str = ""
    body: bytes | None = None  # printed only up to 4096 bytes

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(values) <= 1, (name, values)
        return values[0] if values else None


@dataclass
class Run:
    """One run of evhttp_get: exit status, replies in order, error lines, raw output."""

    returncode: int
    replies: list[Reply]
    errors: list[str]
    output: str


def parse_output(output: str) -> tuple[list[Reply], list[str], int | None]:
    replies: list[Reply] = []
    errors: list[str] = []
    ok = None
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        if key == "request":
            _, method, uri = value.split(" ", 2)
            replies.append(Reply(method, uri))
        elif key == "status":
            code, _, reason = value.partition(" ")
            replies[-1].status, replies[-1].reason = int(code), reason
        elif key == "header":
            name, _, val = value.partition(": ")
            replies[-1].headers.append((name, val))
        elif key == "chunks":
            replies[-1].chunks = int(value)
        elif key == "body-length":
            replies[-1].length = int(value)
        elif key == "body-sha256":
            replies[-1].sha256 = value
        elif key == "body-hex":
            replies[-1].body = bytes.fromhex(value)
        elif key == "error":
            errors.append(value)
        elif key == "ok":
            ok = int(value)
        else:
            raise AssertionError(f"unexpected line from evhttp_get: {line!r}")
    return replies, errors, ok


def run(exe: Path, srv: LiveServer, *args: str, paths: tuple[str, ...] = ("/hello",)) -> Run:
    urls = [f"{srv.url}{path}" for path in paths]
    proc = subprocess.run(
        [str(exe), "-t", "10", *args, *urls],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    replies, errors, ok = parse_output(proc.stdout)
    if proc.returncode == 0:
        assert ok == len(replies), proc.stdout
    return Run(proc.returncode, replies, errors, proc.stdout + proc.stderr)


def ok(result: Run, count: int = 1) -> list[Reply]:
    """The replies of a run that must have succeeded."""
    assert result.returncode == 0, result.output
    assert not result.errors
    assert len(result.replies) == count
    for reply in result.replies:
        assert reply.length >= 0 and reply.sha256, reply
    return result.replies


# --- the server ------------------------------------------------------------------------


def hello(req: Request) -> None:
    req.response_headers["Content-Type"] = "text/plain"
    req.send_reply(200, None, b"Hello, World!")


def echo(req: Request) -> None:
    req.response_headers["Content-Type"] = "application/octet-stream"
    req.response_headers["X-Method"] = req.method
    req.response_headers["X-Request-Length"] = req.headers.get("content-length") or "-"
    req.send_reply(200, None, req.body)


def stream(req: Request) -> None:
    """1 MiB in 64 KiB chunks, each sent once the one before has left (back-pressure)."""
    req.response_headers["Content-Type"] = "application/octet-stream"
    req.start_reply(200)
    sent = [0]

    def next_piece(r: Request) -> None:
        if sent[0] == STREAM_PIECES:
            r.end_reply()
            return
        sent[0] += 1
        r.send_chunk(STREAM_PIECE, next_piece)

    next_piece(req)


def big(req: Request) -> None:
    req.response_headers["Content-Type"] = "application/octet-stream"
    req.send_reply(200, None, STREAM_BODY)


class Served:
    """The routes above, with every accepted connection counted."""

    def __init__(self) -> None:
        self.connections: list[Any] = []

    def setup(self, server: HTTPServer) -> None:
        server.set_cb("/hello", hello)
        server.set_cb("/echo", echo)
        server.set_cb("/stream", stream)
        server.set_cb("/big", big)
        server.on_connection = self._count

    def _count(self, conn: Any) -> None:
        self.connections.append(conn.peer)


# --- the tests ---------------------------------------------------------------------------


def test_get(method: str, evhttp_get: Path, callbacks_must_not_fail: None) -> None:
    served = Served()
    with live_server(served.setup, method=method) as srv:
        (reply,) = ok(run(evhttp_get, srv))
    assert (reply.method, reply.uri, reply.status, reply.reason) == ("GET", "/hello", 200, "OK")
    assert reply.body == b"Hello, World!"
    assert reply.sha256 == hashlib.sha256(b"Hello, World!").hexdigest()
    assert reply.header("Content-Length") == "13"
    assert reply.header("Content-Type") == "text/plain"
    assert reply.header("Date") is not None
    assert reply.header("Transfer-Encoding") is None


def test_not_found(method: str, evhttp_get: Path, callbacks_must_not_fail: None) -> None:
    with live_server(Served().setup, method=method) as srv:
        (reply,) = ok(run(evhttp_get, srv, paths=("/missing?x=1",)))
    assert (reply.uri, reply.status, reply.reason) == ("/missing?x=1", 404, "Not Found")
    assert reply.body is not None and b"/missing was not found" in reply.body
    assert reply.header("Content-Type") == "text/html; charset=utf-8"


def test_post_body_is_echoed(method: str, evhttp_get: Path, callbacks_must_not_fail: None) -> None:
    body = "field=value&other=" + "x" * 3000
    with live_server(Served().setup, method=method) as srv:
        (reply,) = ok(run(evhttp_get, srv, "-X", "POST", "-d", body, paths=("/echo",)))
    assert reply.status == 200
    assert reply.body == body.encode()
    assert reply.header("X-Method") == "POST"
    assert reply.header("X-Request-Length") == str(len(body))  # evhttp adds Content-Length


def test_chunked_reply_of_one_mebibyte(
    method: str, evhttp_get: Path, callbacks_must_not_fail: None
) -> None:
    """Read through evhttp_request_set_chunked_cb, then whole; 1 MiB each way."""
    digest = hashlib.sha256(STREAM_BODY).hexdigest()
    with live_server(Served().setup, method=method) as srv:
        streamed, whole = ok(run(evhttp_get, srv, "-c", paths=("/stream", "/big")), 2)
        (buffered,) = ok(run(evhttp_get, srv, paths=("/stream",)))
    assert streamed.status == 200
    assert streamed.header("Transfer-Encoding") == "chunked"
    assert streamed.header("Content-Length") is None
    assert (streamed.length, streamed.sha256) == (len(STREAM_BODY), digest)
    assert streamed.chunks is not None and streamed.chunks > 1  # it did arrive in pieces
    assert whole.header("Content-Length") == str(len(STREAM_BODY))
    assert (whole.length, whole.sha256) == (len(STREAM_BODY), digest)
    assert (buffered.length, buffered.sha256) == (len(STREAM_BODY), digest)


def test_keep_alive_reuses_one_connection(
    method: str, evhttp_get: Path, callbacks_must_not_fail: None
) -> None:
    served = Served()
    paths = ("/hello", "/echo?n=1", "/stream", "/missing")
    with live_server(served.setup, method=method) as srv:
        replies = ok(run(evhttp_get, srv, "-n", "3", paths=paths), 12)
    assert [r.uri for r in replies] == list(paths) * 3
    assert [r.status for r in replies] == [200, 200, 200, 404] * 3
    assert all(r.header("Connection") is None for r in replies)  # nobody asked to close
    assert {r.sha256 for r in replies[2::4]} == {hashlib.sha256(STREAM_BODY).hexdigest()}
    assert len(served.connections) == 1


def test_head(method: str, evhttp_get: Path, callbacks_must_not_fail: None) -> None:
    served = Served()
    with live_server(served.setup, method=method) as srv:
        first, second = ok(run(evhttp_get, srv, "-X", "HEAD", "-n", "2"), 2)
    for reply in (first, second):
        assert (reply.method, reply.status) == ("HEAD", 200)
        assert reply.header("Content-Length") == "13"  # the GET's length, no body
        assert reply.length == 0
    assert len(served.connections) == 1  # the body-less reply did not break keep-alive


def test_client_reports_a_refused_connection(method: str, evhttp_get: Path) -> None:
    """The harness itself: no server, a non-zero exit and an error line."""
    served = Served()
    with live_server(served.setup, method=method) as srv:
        pass  # stopped: its port is closed now
    result = run(evhttp_get, srv)
    assert result.returncode == 1
    assert result.errors and result.errors[0].startswith("1 ")
    assert result.replies[0].status == 0
