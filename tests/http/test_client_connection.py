"""HTTPConnection (libevent's evhttp_connection) against real servers on loopback.

Two kinds of server: an evweb HTTPServer on the client's own base (both
driven by ``future.wait(timeout)``), and a ScriptedServer (tests/http/
scripted.py) whose connections each run a script in a thread, for servers
that must behave in one precise way. The cases follow regress_http.c
(inventory §8.7): simple, the methods, persist_connection, close_detection,
connection_fail, connection_retry, timeout_read_client, chunk_out,
stream_in, stream_in_cancel, cancel, unix_socket, set_family,
data_length_constraints; plus streamed uploads and 100-continue.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.errors import (
    ConfigError,
    ConnectError,
    ConnectTimeoutError,
    ContentTooLargeError,
    EventStateError,
    InvalidResponseError,
    ReadTimeoutError,
    RequestCancelledError,
    ServerDisconnectedError,
    WriteTimeoutError,
)
from evweb.http import (
    ClientRequest,
    ClientResponse,
    ConnectionState,
    HTTPConnection,
    HTTPServer,
    Request,
    ServerConfig,
    Timeouts,
)
from evweb.reactor import COUNT_ADDED, EventBase, EventConfig
from tests.http.scripted import Peer, RawRequest, free_port, scripted, serve_each

WAIT = 5.0  # upper bound of every future.wait
BIG = bytes(range(256)) * 4096  # 1 MiB
HOST = [("Host", "test")]


# --- servers ---------------------------------------------------------------------------


class Served:
    """An evweb HTTPServer on the client's base, counting the connections it accepts."""

    def __init__(self, base: EventBase, config: ServerConfig | None = None) -> None:
        self.base = base
        self.server = HTTPServer(base, config)
        self.peers: list[Any] = []
        self.server.on_connection = lambda conn: self.peers.append(conn.peer) and None
        self.held: list[Request] = []
        s = self.server
        s.set_cb("/", self.hello)
        s.set_cb("/echo", self.echo)
        s.set_cb("/peer", self.peer)
        s.set_cb("/big", self.big)
        s.set_cb("/slow", self.slow)
        s.set_cb("/never", self.held.append)
        self.port = s.bind(("127.0.0.1", 0)).address[1]

    def hello(self, req: Request) -> None:
        req.response_headers["Content-Type"] = "text/plain"
        req.send_reply(200, None, b"Hello, World!")

    def echo(self, req: Request) -> None:
        req.response_headers["X-Method"] = req.method
        req.response_headers["X-Length"] = req.headers.get("content-length") or "-"
        req.response_headers["X-TE"] = req.headers.get("transfer-encoding") or "-"
        req.response_headers["X-Version"] = "{}.{}".format(*req.version)
        req.send_reply(200, None, req.body)

    def peer(self, req: Request) -> None:
        req.send_reply(200, None, repr(req.remote_address).encode())

    def big(self, req: Request) -> None:
        """1 MiB chunked, 64 KiB at a time, each once the one before has left."""
        req.start_reply(200)
        pieces = [BIG[i : i + 65536] for i in range(0, len(BIG), 65536)]

        def next_piece(r: Request) -> None:
            if pieces:
                r.send_chunk(pieces.pop(0), next_piece)
            elif not r.finished:
                r.end_reply()

        next_piece(req)

    def slow(self, req: Request) -> None:
        def later(*_: Any) -> None:
            if not req.connection_lost:
                req.send_reply(200, None, b"slow")

        self.base.once(-1, 0x01, later, None, 0.2)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def base1() -> Iterator[EventBase]:
    """A base on the default backend (for the tests not repeated on each backend)."""
    b = EventBase()
    yield b
    b.close()


@pytest.fixture
def served(base: EventBase) -> Iterator[Served]:
    s = Served(base)
    yield s
    s.close()


@pytest.fixture
def served1(base1: EventBase) -> Iterator[Served]:
    s = Served(base1)
    yield s
    s.close()


def connect(base: EventBase, port: int, **kwargs: Any) -> HTTPConnection:
    return HTTPConnection(base, "127.0.0.1", port, **kwargs)


def get(conn: HTTPConnection, target: str = "/", **kwargs: Any) -> ClientResponse:
    return conn.request(ClientRequest("GET", target, HOST, **kwargs)).wait(WAIT)


def run_for(base: EventBase, seconds: float) -> None:
    """Run the loop for ``seconds`` (close detection, idle timers)."""
    base.loopexit(seconds)
    base.dispatch()


def fails_with(future: Any, error: type[BaseException]) -> BaseException:
    with pytest.raises(error) as info:
        future.wait(WAIT)
    return info.value


# --- simple requests (regress_http simple, post, put, delete, custom) -------------------------


def test_get(base: EventBase, served: Served, callbacks_must_not_fail: None) -> None:
    with connect(base, served.port) as conn:
        assert conn.state is ConnectionState.DISCONNECTED  # lazy: no socket yet
        r = get(conn)
        assert (r.status, r.reason, r.version, r.body) == (200, "OK", (1, 1), b"Hello, World!")
        assert r.headers["Content-Type"] == "text/plain"
        assert r.ok and r.keep_alive
        assert conn.state is ConnectionState.IDLE
        assert conn.peer == ("127.0.0.1", served.port)


@pytest.mark.parametrize("verb", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_methods_with_and_without_body(base1: EventBase, served1: Served, verb: str) -> None:
    with connect(base1, served1.port) as conn:
        r = conn.request(ClientRequest(verb, "/echo", HOST, b"payload")).wait(WAIT)
        assert (r.status, r.body, r.headers["X-Method"], r.headers["X-Length"]) == (
            200,
            b"payload",
            verb,
            "7",
        )
        r = conn.request(ClientRequest(verb, "/echo", HOST)).wait(WAIT)
        assert (r.status, r.body) == (200, b"")
        # evhttp's rule, completed: an empty POST/PUT/PATCH still says Content-Length: 0
        assert r.headers["X-Length"] == ("0" if verb in ("POST", "PUT", "PATCH") else "-")
        assert conn.requests_sent == 2


def test_head_has_no_body_and_keeps_the_connection(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port) as conn:
        r = conn.request(ClientRequest("HEAD", "/", HOST)).wait(WAIT)
        assert (r.status, r.body, r.headers["Content-Length"]) == (200, b"", "13")
        assert get(conn).body == b"Hello, World!"
        assert len(served1.peers) == 1


def test_custom_method(base1: EventBase) -> None:
    config = ServerConfig(allowed_methods=frozenset({"GET", "CUSTOM", "PROPFIND"}))
    s = Served(base1, config)
    try:
        with connect(base1, s.port) as conn:
            for verb in ("CUSTOM", "PROPFIND"):
                r = conn.request(ClientRequest(verb, "/echo", HOST, b"<x/>")).wait(WAIT)
                assert (r.status, r.headers["X-Method"], r.body) == (200, verb, b"<x/>")
            assert conn.request(ClientRequest("FROB", "/echo", HOST)).wait(WAIT).status == 501
    finally:
        s.close()


def test_request_that_cannot_be_framed_fails_in_request(base1: EventBase) -> None:
    with connect(base1, free_port()) as conn:
        with pytest.raises(ConfigError, match="method"):
            conn.request(ClientRequest("GE T", "/"))
        with pytest.raises(ConfigError, match="Content-Length"):
            conn.request(ClientRequest("POST", "/", [("Content-Length", "x")], b"a"))
        with pytest.raises(ConfigError, match="holds 1 bytes"):
            conn.request(ClientRequest("POST", "/", [("Content-Length", "3")], b"a"))
        with pytest.raises(ConfigError, match=r"HTTP/1\.0"):
            conn.request(ClientRequest("POST", "/", body=iter([b"a"]), version=(1, 0)))
        with pytest.raises(ConfigError, match="int"):
            conn.request(ClientRequest("POST", "/", body=42))  # type: ignore[arg-type]
        assert conn.pending == 0 and conn.state is ConnectionState.DISCONNECTED


def test_closed_connection_refuses_requests(base1: EventBase) -> None:
    conn = connect(base1, free_port())
    conn.close()
    conn.close()  # twice is fine
    assert conn.state is ConnectionState.CLOSED
    with pytest.raises(EventStateError):
        conn.request(ClientRequest())


# --- keep-alive (persist_connection, close_detection) -----------------------------------------


def test_keep_alive_reuses_one_socket(
    base: EventBase, served: Served, callbacks_must_not_fail: None
) -> None:
    with connect(base, served.port) as conn:
        ports = set()
        for n in range(1, 4):
            r = get(conn, "/peer")
            ports.add(r.body)
            assert conn.requests_sent == n
        assert len(ports) == 1 and len(served.peers) == 1
        assert eval(ports.pop())[1] == conn.bufferevent.socket.getsockname()[1]  # type: ignore[union-attr]


def test_queued_requests_go_one_at_a_time_in_order(
    base: EventBase, served: Served, callbacks_must_not_fail: None
) -> None:
    with connect(base, served.port) as conn:
        futures = [
            conn.request(ClientRequest("POST", "/echo", HOST, str(i).encode())) for i in range(5)
        ]
        assert conn.pending == 5
        order: list[int] = []
        for i, f in enumerate(futures):
            f.add_done_callback(lambda fut, i=i: order.append(i))
        bodies = [f.wait(WAIT).body for f in futures]
        assert bodies == [b"0", b"1", b"2", b"3", b"4"] and order == [0, 1, 2, 3, 4]
        assert len(served.peers) == 1 and conn.requests_sent == 5


def test_http10_request_closes_after_each_response(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port) as conn:
        for _ in range(2):
            r = get(conn, "/echo", version=(1, 0))
            assert r.headers["X-Version"] == "1.0"
            assert not r.keep_alive
            assert conn.state is ConnectionState.DISCONNECTED
        assert len(served1.peers) == 2
        r = conn.request(
            ClientRequest("GET", "/echo", [*HOST, ("Connection", "keep-alive")], version=(1, 0))
        ).wait(WAIT)
        assert r.keep_alive and conn.state is ConnectionState.IDLE


def test_connection_close_request_header_ends_the_connection(
    base1: EventBase, served1: Served
) -> None:
    closes: list[HTTPConnection] = []
    with connect(base1, served1.port) as conn:
        conn.on_close = closes.append
        r = conn.request(ClientRequest("GET", "/", [*HOST, ("Connection", "close")])).wait(WAIT)
        assert r.status == 200
        assert conn.state is ConnectionState.DISCONNECTED and closes == [conn]
        assert get(conn).status == 200
        assert len(served1.peers) == 2


def test_http10_server_reply_closes(base1: EventBase) -> None:
    def respond(peer: Peer, req: RawRequest) -> None:
        peer.send(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with scripted(serve_each(respond)) as srv, connect(base1, srv.port) as conn:
        for _ in range(2):
            r = get(conn)
            assert (r.version, r.body, r.keep_alive) == ((1, 0), b"ok", False)
        assert srv.accepted == 2


def test_close_detection(base: EventBase, callbacks_must_not_fail: None) -> None:
    """The server closes the idle connection: noticed at once; the next request reconnects."""
    s = Served(base, ServerConfig(keep_alive_timeout=0.05))
    closes: list[HTTPConnection] = []
    try:
        with connect(base, s.port) as conn:
            conn.on_close = closes.append
            assert get(conn).status == 200
            assert conn.state is ConnectionState.IDLE
            run_for(base, 0.25)
            assert conn.state is ConnectionState.DISCONNECTED and conn.bufferevent is None
            assert closes == [conn]
            assert get(conn).status == 200
            assert conn.requests_sent == 1 and len(s.peers) == 2
    finally:
        s.close()


def test_idle_timeout_closes_the_connection(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port, idle_timeout=0.05) as conn:
        get(conn)
        run_for(base1, 0.2)
        assert conn.state is ConnectionState.DISCONNECTED
        assert get(conn).status == 200
        assert len(served1.peers) == 2


def test_auto_close_after_the_last_request(base1: EventBase) -> None:
    def respond(peer: Peer, req: RawRequest) -> None:
        peer.reply(200, b"x")

    with scripted(serve_each(respond)) as srv:
        conn = connect(base1, srv.port)
        conn.auto_close = True
        f1 = conn.request(ClientRequest("GET", "/", HOST))
        f2 = conn.request(ClientRequest("GET", "/", HOST))
        assert f1.wait(WAIT).status == 200 and f2.wait(WAIT).status == 200
        assert conn.state is ConnectionState.CLOSED
        assert srv.accepted == 1


@pytest.mark.parametrize("glued", [True, False])
def test_unsolicited_bytes_close_the_connection(base1: EventBase, glued: bool) -> None:
    """Bytes after a response (glued to it, or later while idle) are never read as the
    next request's response: the connection is closed (libevent resets it)."""
    bogus = b"HTTP/1.1 404 Bogus\r\nContent-Length: 5\r\n\r\nbogus"

    def script(peer: Peer) -> None:
        while peer.read_request() is not None:
            if glued:
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx" + bogus)
            else:
                peer.reply(200, b"x")
                time.sleep(0.05)
                peer.send(bogus)

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        assert get(conn).body == b"x"
        if not glued:
            run_for(base1, 0.2)
        assert conn.state is ConnectionState.DISCONNECTED
        assert get(conn).body == b"x"  # over a new connection, not the bogus 404
        assert srv.accepted == 2


# --- connect failures and retries (connection_fail, connection_retry) ------------------------


def test_connection_refused_fails_every_queued_request(
    base: EventBase, callbacks_must_not_fail: None
) -> None:
    port = free_port()
    with connect(base, port) as conn:
        futures = [conn.request(ClientRequest("GET", f"/{i}", HOST)) for i in range(3)]
        for f in futures:
            error = fails_with(f, ConnectError)
            assert isinstance(error.__cause__, ConnectionRefusedError)
            assert error.address == f"127.0.0.1:{port}"  # type: ignore[attr-defined]
            assert error.request is f.request  # type: ignore[attr-defined]
        assert conn.state is ConnectionState.DISCONNECTED and conn.pending == 0


def test_request_from_a_failure_callback_gets_a_fresh_attempt(base1: EventBase) -> None:
    port = free_port()
    s: list[Served] = []
    with connect(base1, port) as conn:
        again: list[Any] = []

        def retry(fut: Any) -> None:
            # the server appears; a request queued from the callback dials again
            s.append(Served(base1))
            conn.port = conn.target.port = s[0].port
            again.append(conn.request(ClientRequest("GET", "/", HOST)))

        first = conn.request(ClientRequest("GET", "/", HOST))
        first.add_done_callback(retry)
        fails_with(first, ConnectError)
        assert again[0].wait(WAIT).status == 200
    s[0].close()


def test_connect_retries_with_doubling_delay(
    base1: EventBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "evweb.http.client")
    with connect(base1, free_port(), retries=3, initial_retry_delay=0.05) as conn:
        start = time.monotonic()
        fails_with(conn.request(ClientRequest("GET", "/", HOST)), ConnectError)
        elapsed = time.monotonic() - start
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert [r.args[2] for r in retries] == [1, 2, 3]  # type: ignore[index]
    assert [r.args[3] for r in retries] == [0.05, 0.1, 0.2]  # type: ignore[index]
    gaps = [b.created - a.created for a, b in itertools.pairwise(retries)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095
    assert 0.34 <= elapsed < 2.0


def test_connect_retry_reaches_a_server_that_starts_late(
    base: EventBase, callbacks_must_not_fail: None
) -> None:
    port = free_port()
    late: list[HTTPServer] = []

    def start_server(*_: Any) -> None:
        server = HTTPServer(base)
        server.set_cb("/", lambda req: req.send_reply(200, None, b"late"))
        server.bind(("127.0.0.1", port))
        late.append(server)

    base.once(-1, 0x01, start_server, None, 0.12)
    try:
        with connect(base, port, retries=-1, initial_retry_delay=0.03) as conn:
            r = get(conn)
            assert r.body == b"late"
            assert conn._retry_count == 0  # reset once connected
    finally:
        for server in late:
            server.close()


def test_cancelling_the_last_queued_request_stops_retrying(base1: EventBase) -> None:
    with connect(base1, free_port(), retries=-1, initial_retry_delay=0.02) as conn:
        f = conn.request(ClientRequest("GET", "/", HOST))
        run_for(base1, 0.1)
        assert conn.state is ConnectionState.CONNECTING
        assert f.cancel()
        run_for(base1, 0.1)
        assert conn.state is ConnectionState.DISCONNECTED
        assert base1.num_events(COUNT_ADDED) == 0  # no dial, no retry timer


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listen queue is full: the kernel drops further SYNs (no accept, no refusal)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.05)
    yield port
    for s in fillers:
        s.close()
    lst.close()


def test_connect_timeout(base: EventBase, full_backlog: int) -> None:
    with connect(base, full_backlog, timeouts=Timeouts(connect=0.15)) as conn:
        start = time.monotonic()
        error = fails_with(conn.request(ClientRequest("GET", "/", HOST)), ConnectTimeoutError)
        assert 0.14 <= time.monotonic() - start < 1.0
        assert isinstance(error, TimeoutError) and isinstance(error, ConnectError)
        assert conn.state is ConnectionState.DISCONNECTED


def test_connect_timeout_is_retried(base1: EventBase, full_backlog: int) -> None:
    timeouts = Timeouts(connect=0.1)
    with connect(base1, full_backlog, timeouts=timeouts, retries=1, initial_retry_delay=0.05) as c:
        start = time.monotonic()
        fails_with(c.request(ClientRequest("GET", "/", HOST)), ConnectTimeoutError)
        assert 0.24 <= time.monotonic() - start < 1.5  # 0.1 + 0.05 + 0.1


# --- read and write timeouts (timeout_read_client) ---------------------------------------------


def test_read_timeout(base: EventBase, served: Served) -> None:
    with connect(base, served.port, timeouts=Timeouts(read=0.1)) as conn:
        start = time.monotonic()
        error = fails_with(conn.request(ClientRequest("GET", "/never", HOST)), ReadTimeoutError)
        assert 0.09 <= time.monotonic() - start < 1.0
        assert isinstance(error, TimeoutError)
        assert conn.state is ConnectionState.DISCONNECTED
        assert get(conn, "/").status == 200  # the next one gets a new connection
        assert len(served.peers) == 2


def test_read_timeout_is_silence_not_total_time(base1: EventBase) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
        for byte in b"abcd":
            time.sleep(0.06)
            peer.send(bytes([byte]))
        peer.wait_eof()

    with scripted(script) as srv, connect(base1, srv.port, timeouts=Timeouts(read=0.15)) as c:
        assert get(c).body == b"abcd"  # 0.24 s in all, never 0.15 s of silence


def test_write_timeout(base1: EventBase) -> None:
    def script(peer: Peer) -> None:
        peer.read_head()
        peer.wait_eof(WAIT)  # reads nothing more until the client gives up

    def endless() -> Iterator[bytes]:
        while True:
            yield b"x" * 65536

    with scripted(script, rcvbuf=4096) as srv:
        conn = connect(base1, srv.port, timeouts=Timeouts(write=0.2))
        with conn:
            conn.request(ClientRequest("GET", "/", HOST)).cancel()  # dial first
            f = conn.request(ClientRequest("PUT", "/", HOST, endless()))
            error = fails_with(f, WriteTimeoutError)
            assert isinstance(error, TimeoutError)


# --- response framing (chunk_out, stream_out, until close) ---------------------------------------


def test_chunked_response_with_trailers(base: EventBase, callbacks_must_not_fail: None) -> None:
    def respond(peer: Peer, req: RawRequest) -> None:
        peer.send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
            b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Sum: 11\r\n\r\n"
        )

    with scripted(serve_each(respond)) as srv, connect(base, srv.port) as conn:
        r = get(conn)
        assert r.body == b"hello world"
        assert r.trailers["X-Sum"] == "11"
        assert r.keep_alive and get(conn).body == b"hello world"
        assert srv.accepted == 1


def test_body_until_close(base1: EventBase) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")
        time.sleep(0.02)
        peer.send(b"it")

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        r = get(conn)
        assert (r.body, r.keep_alive) == (b"all of it", False)
        assert conn.state is ConnectionState.DISCONNECTED


@pytest.mark.parametrize(
    ("method", "status", "extra"),
    [
        ("HEAD", 200, "Content-Length: 10\r\n"),
        ("GET", 204, ""),
        ("GET", 304, 'Content-Length: 10\r\nETag: "x"\r\n'),
        ("HEAD", 200, "Transfer-Encoding: chunked\r\n"),
    ],
)
def test_responses_without_a_body(base1: EventBase, method: str, status: int, extra: str) -> None:
    def respond(peer: Peer, req: RawRequest) -> None:
        if req.target == "/next":
            peer.reply(200, b"next")
        else:
            peer.send(f"HTTP/1.1 {status} X\r\n{extra}\r\n".encode())

    with scripted(serve_each(respond)) as srv, connect(base1, srv.port) as conn:
        r = conn.request(ClientRequest(method, "/", HOST)).wait(WAIT)
        assert (r.status, r.body, r.keep_alive) == (status, b"", True)
        assert get(conn, "/next").body == b"next"  # nothing was read as a body
        assert srv.accepted == 1


def test_interim_responses_are_skipped(base1: EventBase) -> None:
    def respond(peer: Peer, req: RawRequest) -> None:
        peer.send(b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        peer.reply(200, b"done")

    with scripted(serve_each(respond)) as srv, connect(base1, srv.port) as conn:
        r = get(conn)
        assert (r.status, r.body) == (200, b"done")
        assert get(conn).status == 200


def test_server_closing_mid_body(base: EventBase) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..")

    with scripted(script) as srv, connect(base, srv.port) as conn:
        error = fails_with(conn.request(ClientRequest("GET", "/", HOST)), ServerDisconnectedError)
        assert "in the middle of the response" in str(error)
        assert isinstance(error, ConnectionError)
        assert conn.state is ConnectionState.DISCONNECTED


def test_server_closing_before_responding(base1: EventBase) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        error = fails_with(conn.request(ClientRequest("GET", "/", HOST)), ServerDisconnectedError)
        assert "before responding" in str(error)


def test_a_mid_request_failure_fails_only_that_request(base1: EventBase) -> None:
    def script(peer: Peer) -> None:
        req = peer.read_request()
        if peer.index == 0:
            return  # close without a word
        while req is not None:
            peer.reply(200, req.target.encode())
            req = peer.read_request()

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        futures = [conn.request(ClientRequest("GET", f"/{i}", HOST)) for i in range(3)]
        fails_with(futures[0], ServerDisconnectedError)
        assert [f.wait(WAIT).body for f in futures[1:]] == [b"/1", b"/2"]
        assert srv.accepted == 2


# --- limits (data_length_constraints) -------------------------------------------------------------


def test_max_body_size_by_content_length(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port, max_body_size=12) as conn:
        fails_with(conn.request(ClientRequest("GET", "/", HOST)), ContentTooLargeError)
        assert conn.state is ConnectionState.DISCONNECTED
        r = conn.request(ClientRequest("GET", "/", HOST, max_body_size=None)).wait(WAIT)
        assert r.body == b"Hello, World!"  # the request's own limit wins
        small = ClientRequest("GET", "/", HOST, max_body_size=5)
        fails_with(conn.request(small), ContentTooLargeError)


def test_max_body_size_of_a_chunked_body(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port, max_body_size=100_000) as conn:
        fails_with(conn.request(ClientRequest("GET", "/big", HOST)), ContentTooLargeError)
        assert get(conn).status == 200


def test_max_header_size(base1: EventBase) -> None:
    def respond(peer: Peer, req: RawRequest) -> None:
        peer.reply(200, b"x", [("X-Big", "y" * 2000)])

    with scripted(serve_each(respond)) as srv, connect(base1, srv.port, max_header_size=1024) as c:
        error = fails_with(c.request(ClientRequest("GET", "/", HOST)), InvalidResponseError)
        assert not isinstance(error, ContentTooLargeError)


def test_malformed_status_line(base1: EventBase) -> None:
    def respond(peer: Peer, req: RawRequest) -> None:
        peer.send(b"HTTP/1.1 abc OK\r\n\r\n")

    with scripted(serve_each(respond)) as srv, connect(base1, srv.port) as conn:
        fails_with(conn.request(ClientRequest("GET", "/", HOST)), InvalidResponseError)
        assert conn.state is ConnectionState.DISCONNECTED


# --- cancel (cancel, stream_in_cancel) ----------------------------------------------------------


def test_cancel_a_queued_request(base: EventBase, served: Served) -> None:
    with connect(base, served.port) as conn:
        f1 = conn.request(ClientRequest("GET", "/slow", HOST))
        f2 = conn.request(ClientRequest("GET", "/", HOST))
        f3 = conn.request(ClientRequest("GET", "/", HOST))
        assert f2.cancel() and f2.cancelled() and not f2.cancel()
        fails_with(f2, RequestCancelledError)
        assert f1.wait(WAIT).body == b"slow" and f3.wait(WAIT).status == 200
        assert len(served.peers) == 1 and conn.requests_sent == 2


def test_cancel_the_active_request_resets_the_connection(
    base: EventBase, served: Served, callbacks_must_not_fail: None
) -> None:
    with connect(base, served.port) as conn:
        f1 = conn.request(ClientRequest("GET", "/never", HOST))
        f2 = conn.request(ClientRequest("GET", "/", HOST))
        run_for(base, 0.05)
        assert len(served.held) == 1  # the server has it
        f1.cancel()
        error = fails_with(f1, RequestCancelledError)
        assert error.request is f1.request  # type: ignore[attr-defined]
        assert f2.wait(WAIT).status == 200
        assert len(served.peers) == 2  # the cancelled one's connection was reset


def test_cancel_while_connecting(base1: EventBase, full_backlog: int) -> None:
    with connect(base1, full_backlog) as conn:
        f = conn.request(ClientRequest("GET", "/", HOST))
        run_for(base1, 0.02)
        assert conn.state is ConnectionState.CONNECTING
        f.cancel()
        assert conn.state is ConnectionState.DISCONNECTED


def test_wait_timeout_cancels(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port) as conn:
        f = conn.request(ClientRequest("GET", "/never", HOST))
        with pytest.raises(RequestCancelledError):
            f.wait(0.05)
        assert f.cancelled()


def test_close_cancels_queued_and_active_requests(base1: EventBase, served1: Served) -> None:
    conn = connect(base1, served1.port)
    f1 = conn.request(ClientRequest("GET", "/never", HOST))
    f2 = conn.request(ClientRequest("GET", "/", HOST))
    run_for(base1, 0.05)
    conn.close()
    assert f1.cancelled() and f2.cancelled()


def test_cancel_from_inside_on_chunk(
    base: EventBase, served: Served, callbacks_must_not_fail: None
) -> None:
    """stream_in_cancel: the chunk callback cancels; no more chunks, the connection is reset."""
    seen: list[int] = []
    box: list[Any] = []

    def on_chunk(response: ClientResponse, data: bytes) -> None:
        seen.append(len(data))
        box[0].cancel()

    with connect(base, served.port) as conn:
        box.append(conn.request(ClientRequest("GET", "/big", HOST, on_chunk=on_chunk)))
        fails_with(box[0], RequestCancelledError)
        assert len(seen) == 1
        assert get(conn).status == 200
        assert len(served.peers) == 2


def test_on_head_returning_false_aborts(base1: EventBase, served1: Served) -> None:
    heads: list[ClientResponse] = []

    def on_head(response: ClientResponse) -> bool:
        heads.append(response)
        return response.status == 200 and False

    with connect(base1, served1.port) as conn:
        f = conn.request(ClientRequest("GET", "/big", HOST, on_head=on_head))
        fails_with(f, RequestCancelledError)
        assert [h.status for h in heads] == [200]
        assert get(conn).status == 200


def test_on_head_and_on_chunk_stream_a_large_body(
    base: EventBase, served: Served, callbacks_must_not_fail: None
) -> None:
    heads: list[int] = []
    pieces: list[bytes] = []
    with connect(base, served.port) as conn:
        r = conn.request(
            ClientRequest(
                "GET",
                "/big",
                HOST,
                on_head=lambda resp: heads.append(resp.status),
                on_chunk=lambda resp, data: pieces.append(data),
            )
        ).wait(WAIT)
        assert heads == [200] and r.body == b""  # streamed, not kept
        assert b"".join(pieces) == BIG and len(pieces) > 1
        r = get(conn, "/big")
        assert r.body == BIG  # and whole, on the same connection
        assert len(served.peers) == 1


# --- where to connect: Unix sockets, family, local address ----------------------------------


def test_unix_socket(base: EventBase, callbacks_must_not_fail: None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "http.sock")
        server = HTTPServer(base)
        server.set_cb("/", lambda req: req.send_reply(200, None, b"over unix"))
        server.bind(path)
        try:
            with HTTPConnection(base, "localhost", unix_path=path) as conn:
                assert get(conn).body == b"over unix"
                assert get(conn).body == b"over unix"
                assert conn.peer == path and conn.requests_sent == 2
        finally:
            server.close()


def test_unix_socket_missing(base1: EventBase) -> None:
    with HTTPConnection(base1, unix_path="/nonexistent/dir/http.sock") as conn:
        error = fails_with(conn.request(ClientRequest("GET", "/", HOST)), ConnectError)
        assert error.address == "/nonexistent/dir/http.sock"  # type: ignore[attr-defined]


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback (::1) here")
def test_family_ipv6(base1: EventBase) -> None:
    server = HTTPServer(base1)
    server.set_cb("/", lambda req: req.send_reply(200, None, repr(req.remote_address).encode()))
    port = server.bind(("::1", 0)).address[1]
    try:
        with HTTPConnection(base1, "::1", port, family=socket.AF_INET6) as conn:
            assert get(conn).body.startswith(b"('::1'")
            assert conn.peer[0] == "::1"
        with HTTPConnection(base1, "[::1]", port) as conn:  # brackets are stripped
            assert get(conn).status == 200
        with HTTPConnection(base1, "127.0.0.1", port, family=socket.AF_INET6) as conn:
            fails_with(conn.request(ClientRequest("GET", "/", HOST)), ConnectError)
    finally:
        server.close()


def test_family_ipv4_for_localhost(base1: EventBase, served1: Served) -> None:
    with HTTPConnection(base1, "localhost", served1.port, family=socket.AF_INET) as conn:
        assert get(conn).status == 200
        assert conn.peer == ("127.0.0.1", served1.port)


def test_local_address(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port, local_address=("127.0.0.2", 0)) as conn:
        r = get(conn, "/peer")
        assert eval(r.body)[0] == "127.0.0.2"
    port = free_port()
    with connect(base1, served1.port, local_address=("127.0.0.1", port)) as conn:
        assert eval(get(conn, "/peer").body) == ("127.0.0.1", port)


def test_local_address_in_use(base1: EventBase, served1: Served) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        local = taken.getsockname()
        with connect(base1, served1.port, local_address=local) as conn:
            error = fails_with(conn.request(ClientRequest("GET", "/", HOST)), ConnectError)
            assert isinstance(error.__cause__, OSError)


# --- 100-continue --------------------------------------------------------------------------------


def test_expect_continue_holds_the_body_until_100(base: EventBase) -> None:
    def respond(peer: Peer, req: RawRequest) -> None:
        assert req.headers["Expect"] == "100-continue"
        assert peer.nothing_arrives(0.1), "the body came before the 100"
        peer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        peer.reply(200, peer.read_body(req))

    with scripted(lambda p: respond(p, p.read_head())) as srv, connect(base, srv.port) as conn:  # type: ignore[arg-type]
        headers = [*HOST, ("Expect", "100-continue")]
        r = conn.request(ClientRequest("PUT", "/", headers, b"the body")).wait(WAIT)
        assert (r.status, r.body) == (200, b"the body")


def test_expect_continue_final_status_first_means_no_body(base1: EventBase) -> None:
    got: list[bytes] = []

    def script(peer: Peer) -> None:
        peer.read_head()
        peer.reply(413, b"too big", reason="Content Too Large")
        got.append(peer.wait_eof())  # the client closes without sending the body

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        headers = [*HOST, ("Expect", "100-continue")]
        r = conn.request(ClientRequest("POST", "/", headers, b"x" * 5000)).wait(WAIT)
        assert (r.status, r.body, r.keep_alive) == (413, b"too big", False)
        assert conn.state is ConnectionState.DISCONNECTED
    assert got == [b""]


def test_expect_continue_final_status_first_stops_a_stream(base1: EventBase) -> None:
    pulled: list[int] = []

    def body() -> Iterator[bytes]:
        for i in range(100):
            pulled.append(i)
            yield b"y" * 65536

    def script(peer: Peer) -> None:
        peer.read_head()
        peer.reply(417, b"")
        peer.wait_eof()

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        headers = [*HOST, ("Expect", "100-continue")]
        r = conn.request(ClientRequest("POST", "/", headers, body())).wait(WAIT)
        assert r.status == 417 and pulled == []


def test_expect_timeout_sends_the_body_anyway(base1: EventBase) -> None:
    def script(peer: Peer) -> None:
        req = peer.read_head()
        assert req is not None
        start = time.monotonic()
        body = peer.read_body(req)
        assert time.monotonic() - start >= 0.08
        peer.reply(200, body)

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        headers = [*HOST, ("Expect", "100-continue")]
        request = ClientRequest("POST", "/", headers, b"anyway", expect_timeout=0.1)
        assert conn.request(request).wait(WAIT).body == b"anyway"


def test_expect_continue_with_a_streamed_body(base1: EventBase, served1: Served) -> None:
    """evweb's own server answers the 100; the stream goes chunked after it."""
    with connect(base1, served1.port) as conn:
        headers = [*HOST, ("Expect", "100-continue")]
        pieces = [b"a" * 70000, b"b" * 70000]
        r = conn.request(ClientRequest("POST", "/echo", headers, iter(pieces))).wait(WAIT)
        assert r.body == b"".join(pieces) and r.headers["X-TE"] == "chunked"


# --- streamed uploads -----------------------------------------------------------------------------


def test_upload_from_a_generator_goes_chunked(
    base: EventBase, served: Served, callbacks_must_not_fail: None
) -> None:
    pulled: list[int] = []

    def body() -> Iterator[bytes]:
        for i in range(20):
            pulled.append(i)
            yield bytes([i]) * 50_000

    with connect(base, served.port) as conn:
        r = conn.request(ClientRequest("POST", "/echo", HOST, body())).wait(WAIT)
        assert r.headers["X-TE"] == "chunked" and r.headers["X-Length"] == "-"
        assert r.body == b"".join(bytes([i]) * 50_000 for i in range(20))
        assert get(conn).status == 200 and len(served.peers) == 1


def test_upload_pieces_are_pulled_as_the_output_drains(base1: EventBase) -> None:
    """A stream is read only as fast as the server takes it: not all at once."""
    pulled: list[int] = []
    total = 200

    def body() -> Iterator[bytes]:
        for i in range(total):
            pulled.append(i)
            yield b"z" * 65536

    def script(peer: Peer) -> None:
        req = peer.read_head()
        assert req is not None
        time.sleep(0.2)  # take nothing for a while
        peer.reply(200, str(len(peer.read_body(req))).encode())

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        f = conn.request(ClientRequest("POST", "/", HOST, body()))
        run_for(base1, 0.1)
        assert 0 < len(pulled) < total // 2  # held back by the kernel buffers and the low mark
        assert f.wait(WAIT).body == str(total * 65536).encode()


def test_upload_from_a_file_has_a_content_length(base1: EventBase, served1: Served) -> None:
    with tempfile.TemporaryFile() as fh:
        fh.write(BIG)
        fh.seek(1000)
        with connect(base1, served1.port) as conn:
            r = conn.request(ClientRequest("PUT", "/echo", HOST, fh)).wait(WAIT)
            assert r.headers["X-Length"] == str(len(BIG) - 1000) and r.headers["X-TE"] == "-"
            assert r.body == BIG[1000:]
        assert not fh.closed  # the caller's


def test_upload_from_a_pipe_goes_chunked(base1: EventBase, served1: Served) -> None:
    r_fd, w_fd = os.pipe()
    os.write(w_fd, b"piped data")
    os.close(w_fd)
    with os.fdopen(r_fd, "rb") as pipe, connect(base1, served1.port) as conn:
        r = conn.request(ClientRequest("POST", "/echo", HOST, pipe)).wait(WAIT)
        assert (r.body, r.headers["X-TE"]) == (b"piped data", "chunked")


def test_upload_with_a_declared_length(base1: EventBase, served1: Served) -> None:
    headers = [*HOST, ("Content-Length", "6")]
    with connect(base1, served1.port) as conn:
        r = conn.request(ClientRequest("POST", "/echo", headers, iter([b"abc", b"def"])))
        resp = r.wait(WAIT)
        assert (resp.body, resp.headers["X-Length"], resp.headers["X-TE"]) == (b"abcdef", "6", "-")
        # str pieces go as UTF-8, bytearray and memoryview as bytes
        body = iter(["é", bytearray(b"x"), memoryview(b"yz")])
        resp = conn.request(ClientRequest("POST", "/echo", HOST, body)).wait(WAIT)  # type: ignore[arg-type]
        assert resp.body == "é".encode() + b"xyz"


@pytest.mark.parametrize(
    ("pieces", "message"),
    [([b"abc"], "ended after 3 of its 6 bytes"), ([b"abcd", b"efg"], "more than its 6 bytes")],
)
def test_upload_length_lies_fail_the_request(
    base1: EventBase, served1: Served, pieces: list[bytes], message: str
) -> None:
    headers = [*HOST, ("Content-Length", "6")]
    with connect(base1, served1.port) as conn:
        f = conn.request(ClientRequest("POST", "/echo", headers, iter(pieces)))
        with pytest.raises(ValueError, match=message):
            f.wait(WAIT)
        assert conn.state is ConnectionState.DISCONNECTED  # never desynchronised
        assert get(conn).status == 200
        assert len(served1.peers) == 2


def test_upload_stream_raising_fails_the_request_and_resets(
    base: EventBase, served: Served, callbacks_must_not_fail: None
) -> None:
    closed: list[bool] = []

    def body() -> Iterator[bytes]:
        try:
            yield b"a" * 1000
            yield b"b" * 1000
            raise RuntimeError("disk on fire")
        finally:
            closed.append(True)

    with connect(base, served.port) as conn:
        f = conn.request(ClientRequest("POST", "/echo", HOST, body()))
        with pytest.raises(RuntimeError, match="disk on fire"):
            f.wait(WAIT)
        assert closed == [True]
        assert conn.state is ConnectionState.DISCONNECTED
        assert get(conn).status == 200
        assert len(served.peers) == 2


def test_upload_stream_yielding_a_non_bytes_value(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port) as conn:
        f = conn.request(ClientRequest("POST", "/echo", HOST, iter([b"ok", 42])))  # type: ignore[list-item]
        with pytest.raises(ConfigError, match="must yield bytes, got int"):
            f.wait(WAIT)


def test_cancel_during_upload_closes_the_stream(base1: EventBase) -> None:
    closed: list[bool] = []

    def body() -> Iterator[bytes]:
        try:
            while True:
                yield b"q" * 65536
        finally:
            closed.append(True)

    def script(peer: Peer) -> None:
        peer.read_head()
        peer.wait_eof()

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        f = conn.request(ClientRequest("POST", "/", HOST, body()))
        run_for(base1, 0.05)
        f.cancel()
        assert closed == [True] and conn.state is ConnectionState.DISCONNECTED


def test_early_response_stops_the_upload(base1: EventBase) -> None:
    """The server answers 413 before the body is in: the rest is not sent, the 413 is read."""

    def endless() -> Iterator[bytes]:
        while True:
            yield b"e" * 65536

    def script(peer: Peer) -> None:
        peer.read_head()
        peer.read_exact(1000)
        peer.reply(413, b"no", [("Connection", "close")], reason="Content Too Large")

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        r = conn.request(ClientRequest("POST", "/", HOST, endless())).wait(WAIT)
        assert (r.status, r.body, r.keep_alive) == (413, b"no", False)


def test_upload_of_a_whole_large_body(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port) as conn:
        r = conn.request(ClientRequest("POST", "/echo", HOST, BIG)).wait(WAIT)
        assert r.body == BIG and r.headers["X-Length"] == str(len(BIG))


def test_bytes_io_is_streamed_with_its_length(base1: EventBase, served1: Served) -> None:
    with connect(base1, served1.port) as conn:
        r = conn.request(ClientRequest("POST", "/echo", HOST, io.BytesIO(b"buffered")))
        resp = r.wait(WAIT)
        # a BytesIO has no fileno: its length is unknown, so it goes chunked
        assert (resp.body, resp.headers["X-TE"]) == (b"buffered", "chunked")


def test_separate_bases_do_not_interfere(served1: Served) -> None:
    other = EventBase(EventConfig(method="poll")) if "poll" in _methods() else EventBase()
    try:
        with connect(other, free_port()) as conn:
            fails_with(conn.request(ClientRequest("GET", "/", HOST)), ConnectError)
    finally:
        other.close()


def _methods() -> list[str]:
    from evweb.reactor import supported_methods

    return list(supported_methods())


def test_a_retry_timer_left_by_a_cancelled_request_does_not_dial_twice(
    base1: EventBase, full_backlog: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel the only request while a retry is scheduled, queue another: one dial at a time."""
    import evweb.http.connection as connection_module

    dials: list[Any] = []

    class CountingDial(connection_module.Dial):
        def start(self) -> None:
            dials.append(self)
            super().start()

    monkeypatch.setattr(connection_module, "Dial", CountingDial)
    timeouts = Timeouts(connect=0.15)
    with connect(base1, full_backlog, timeouts=timeouts, retries=-1, initial_retry_delay=0.4) as c:
        first = c.request(ClientRequest("GET", "/", HOST))
        run_for(base1, 0.25)  # the first dial timed out at 0.15 s; a retry is due at 0.55 s
        assert len(dials) == 1
        first.cancel()
        second = c.request(ClientRequest("GET", "/", HOST))  # dials at once
        run_for(base1, 0.4)  # past 0.55 s; the second dial failed at 0.4 s, retries at 0.8 s
        assert len(dials) == 2, "the stale retry timer started another dial"
    assert second.cancelled()
    run_for(base1, 0.01)
    assert base1.num_events(COUNT_ADDED) == 0  # no orphaned dial, no timer


# --- callbacks that raise or close ---------------------------------------------------------------


@pytest.mark.parametrize("where", ["on_head", "on_chunk"])
def test_a_streaming_callback_that_raises_fails_its_request(
    base1: EventBase, served1: Served, where: str
) -> None:
    def boom(*args: Any) -> None:
        raise KeyError("oops")

    with connect(base1, served1.port) as conn:
        f = conn.request(ClientRequest("GET", "/big", HOST, **{where: boom}))
        start = time.monotonic()
        with pytest.raises(KeyError, match="oops"):
            f.wait(WAIT)
        assert time.monotonic() - start < 1.0  # at once, not at a timeout
        assert conn.state is ConnectionState.DISCONNECTED
        assert get(conn).status == 200


def test_a_done_callback_that_raises_does_not_stop_the_others(
    base1: EventBase, served1: Served, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[int] = []
    with connect(base1, served1.port) as conn:
        f = conn.request(ClientRequest("GET", "/", HOST))
        f.add_done_callback(lambda fut: seen.append(1))
        f.add_done_callback(lambda fut: 1 / 0)
        f.add_done_callback(lambda fut: seen.append(3))
        assert f.wait(WAIT).status == 200
        assert seen == [1, 3]
        assert any("ZeroDivisionError" in (r.exc_text or "") for r in caplog.records)
        assert get(conn).status == 200  # the connection is unharmed


def test_close_from_inside_on_chunk(base1: EventBase, served1: Served) -> None:
    conn = connect(base1, served1.port)
    f = conn.request(ClientRequest("GET", "/big", HOST, on_chunk=lambda r, d: conn.close()))
    fails_with(f, RequestCancelledError)
    assert conn.state is ConnectionState.CLOSED


def test_chained_requests_from_done_callbacks(base: EventBase, served: Served) -> None:
    results: list[int] = []
    with connect(base, served.port) as conn:

        def next_one(fut: Any) -> None:
            results.append(fut.result().status)
            if len(results) < 5:
                conn.request(ClientRequest("GET", "/", HOST)).add_done_callback(next_one)

        conn.request(ClientRequest("GET", "/", HOST)).add_done_callback(next_one)
        for _ in range(200):
            if len(results) == 5:
                break
            run_for(base, 0.01)
        assert results == [200] * 5 and len(served.peers) == 1


# --- stale keep-alive connections ---------------------------------------------------------


def _close_after_each_response(peer: Peer) -> None:
    """Answer one request with keep-alive framing, then close (an idle-timeout race)."""
    req = peer.read_request()
    if req is not None:
        peer.reply(200, req.target.encode())


@pytest.mark.parametrize("retry_stale", [True, False])
def test_stale_connection(base: EventBase, retry_stale: bool) -> None:
    with scripted(_close_after_each_response) as srv, connect(base, srv.port) as conn:
        assert get(conn, "/1").keep_alive
        time.sleep(0.05)  # the server has closed; the loop has not run to notice
        request = ClientRequest("GET", "/2", HOST)
        request.retry_stale = retry_stale
        f = conn.request(request)
        if retry_stale:
            assert f.wait(WAIT).body == b"/2"  # sent again over a new connection, once
            assert srv.accepted == 2 and conn.requests_sent == 1
        else:
            fails_with(f, ServerDisconnectedError)


def test_stale_retry_happens_only_once(base1: EventBase) -> None:
    def script(peer: Peer) -> None:
        if peer.index == 0:
            _close_after_each_response(peer)
        else:
            peer.read_request()  # the resend meets a server that closes again

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        get(conn, "/1")
        time.sleep(0.05)
        request = ClientRequest("GET", "/2", HOST)
        request.retry_stale = True
        fails_with(conn.request(request), ServerDisconnectedError)
        assert srv.accepted == 2


def test_a_streamed_body_is_not_resent(base1: EventBase) -> None:
    with scripted(_close_after_each_response) as srv, connect(base1, srv.port) as conn:
        get(conn, "/1")
        time.sleep(0.05)
        request = ClientRequest("PUT", "/2", HOST, iter([b"once"]))
        request.retry_stale = True
        fails_with(conn.request(request), ServerDisconnectedError)
        assert srv.accepted == 1


def test_read_timeout_after_a_streamed_upload(base1: EventBase) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.wait_eof()

    with scripted(script) as srv, connect(base1, srv.port, timeouts=Timeouts(read=0.1)) as conn:
        f = conn.request(ClientRequest("POST", "/", HOST, iter([b"a", b"b"])))
        fails_with(f, ReadTimeoutError)


def test_http10_request_to_an_http11_server_is_not_kept(base1: EventBase) -> None:
    """The server closes after answering an HTTP/1.0 request even when its HTTP/1.1 reply
    does not say so: the client must not send the next request over that connection."""

    def script(peer: Peer) -> None:
        if peer.read_request() is not None:
            peer.reply(200, b"once")  # HTTP/1.1, no Connection field, then close

    with scripted(script) as srv, connect(base1, srv.port) as conn:
        r = get(conn, version=(1, 0))
        assert (r.body, r.keep_alive) == (b"once", False)
        assert conn.state is ConnectionState.DISCONNECTED
        assert get(conn, version=(1, 0)).body == b"once"  # at once: no stale connection
        assert srv.accepted == 2


def test_wait_refuses_to_spin_when_nothing_can_complete_the_future() -> None:
    from evweb.errors import EventStateError
    from evweb.http.exchange import ClientRequest, ResponseFuture

    base = EventBase()
    orphan = ResponseFuture(base, ClientRequest("GET", "/"))
    with pytest.raises(EventStateError, match="cannot complete"):
        orphan.wait()
    base.close()
