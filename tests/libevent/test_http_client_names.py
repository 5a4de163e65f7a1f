"""evhttp client C names: evhttp_connection_*, evhttp_request_new, evhttp_make_request.

Server and client share one EventBase, as in libevent's regress_http.c; the
loop runs bounded (``run_until``). The callbacks are C-shaped and record
what they see; the asserts follow regress_http.c where a case comes from it,
and libevent's http.c (``evhttp_connection_fail_``, ``evhttp_connection_cb_cleanup``)
for which callbacks run, in which order, with which ``EVREQ_HTTP_*`` code.
"""

from __future__ import annotations

import io
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import trustme

import evweb.libevent as le
from evweb.http import HTTPConnection, HTTPServer, Request
from evweb.io import BevOption, Buffer, BufferEvent, Listener, SocketBufferEvent
from evweb.io.resolve import Addresses, ResolveCallback
from evweb.libevent import _http_client
from evweb.libevent._http_client import OutgoingRequest
from evweb.reactor import ONCE, READ, EventBase, EventConfig

pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")

WAIT = 5.0
BASIC_REQUEST_BODY = b"This is funny"
CHUNKS = [b"This is funny", b"but not hilarious.", b"bwv 1052"]

NAMES = [
    "evhttp_connection_base_new", "evhttp_connection_base_bufferevent_new",
    "evhttp_connection_base_bufferevent_unix_new", "evhttp_connection_free",
    "evhttp_connection_free_on_completion", "evhttp_connection_set_family",
    "evhttp_connection_set_local_address", "evhttp_connection_set_local_port",
    "evhttp_connection_set_timeout", "evhttp_connection_set_timeout_tv",
    "evhttp_connection_set_connect_timeout_tv", "evhttp_connection_set_read_timeout_tv",
    "evhttp_connection_set_write_timeout_tv", "evhttp_connection_set_initial_retry_tv",
    "evhttp_connection_set_retries", "evhttp_connection_set_closecb",
    "evhttp_connection_set_max_headers_size", "evhttp_connection_set_max_body_size",
    "evhttp_connection_get_peer", "evhttp_connection_get_addr",
    "evhttp_connection_get_bufferevent", "evhttp_connection_get_base",
    "evhttp_connection_get_server", "evhttp_request_new", "evhttp_request_set_chunked_cb",
    "evhttp_request_set_header_cb", "evhttp_request_set_error_cb", "evhttp_make_request",
    "evhttp_cancel_request", "evhttp_request_get_response_code",
    "evhttp_request_get_response_code_line", "evhttp_request_get_input_headers",
    "evhttp_request_get_output_headers", "evhttp_request_get_input_buffer",
    "evhttp_request_get_output_buffer", "evhttp_request_get_command",
    "evhttp_request_get_uri", "evhttp_request_get_connection", "evhttp_request_get_host",
]  # fmt: skip
ERRORS = {
    "EVREQ_HTTP_TIMEOUT": 0, "EVREQ_HTTP_EOF": 1, "EVREQ_HTTP_INVALID_HEADER": 2,
    "EVREQ_HTTP_BUFFER_ERROR": 3, "EVREQ_HTTP_REQUEST_CANCEL": 4, "EVREQ_HTTP_DATA_TOO_LONG": 5,
}  # fmt: skip


# --- running the loop, a server on the same base -------------------------------------------


def run_until(base: EventBase, done: Callable[[], object], seconds: float = WAIT) -> None:
    """Loop until ``done()`` holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    wake = base.timer(lambda fd, what, arg: None)
    try:
        while not done():
            assert time.monotonic() < deadline, "condition not reached"
            wake.add(0.05)  # loop(ONCE) returns at least this often
            base.loop(ONCE)
    finally:
        wake.delete()


def run_for(base: EventBase, seconds: float) -> None:
    end = time.monotonic() + seconds
    run_until(base, lambda: time.monotonic() >= end)


class Served:
    """An evhttp server on the test's base, with regress_http.c-like callbacks."""

    def __init__(self, base: EventBase) -> None:
        self.base = base
        http = le.evhttp_new(base)
        assert http is not None
        self.http: HTTPServer = http
        bound = le.evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)
        assert bound is not None
        self.port = int(bound.address[1])
        self.seen: list[Request] = []
        self.peers: list[tuple[str | None, int]] = []
        le.evhttp_set_cb(http, "/test", self.basic_cb, None)
        le.evhttp_set_cb(http, "/echo", self.echo_cb, None)
        le.evhttp_set_cb(http, "/chunked", self.chunked_cb, None)
        le.evhttp_set_cb(http, "/slow", self.slow_cb, None)
        le.evhttp_set_cb(http, "/big", self.big_cb, None)
        le.evhttp_set_cb(http, "/fat-head", self.fat_head_cb, None)

    def basic_cb(self, req: Request, arg: Any) -> None:
        self.seen.append(req)
        evb = le.evbuffer_new()
        le.evbuffer_add(evb, BASIC_REQUEST_BODY)
        le.evhttp_add_header(
            le.evhttp_request_get_output_headers(req), "Content-Type", "text/plain"
        )
        le.evhttp_send_reply(req, le.HTTP_OK, "Everything is fine", evb)

    def echo_cb(self, req: Request, arg: Any) -> None:
        """The body back; the method and the client's port (from the connection) in headers."""
        self.seen.append(req)
        conn = le.evhttp_request_get_connection(req)
        assert conn is not None
        host, port = le.evhttp_connection_get_peer(conn)
        self.peers.append((host, port))
        assert le.evhttp_connection_get_server(conn) is self.http
        assert le.evhttp_connection_get_base(conn) is self.base
        assert le.evhttp_connection_get_bufferevent(conn) is not None
        out = le.evhttp_request_get_output_headers(req)
        le.evhttp_add_header(out, "X-Method", req.method)
        le.evhttp_add_header(out, "X-Peer-Port", str(port))
        le.evhttp_send_reply(req, le.HTTP_OK, "OK", le.evhttp_request_get_input_buffer(req))

    def chunked_cb(self, req: Request, arg: Any) -> None:
        """regress_http.c's http_chunked_cb: three chunks, 20 ms apart."""
        self.seen.append(req)
        le.evhttp_send_reply_start(req, le.HTTP_OK, "Everything is fine")
        pending = list(CHUNKS)

        def trickle(fd: int, what: int, arg: Any) -> None:
            if req.connection_lost:
                return
            evb = le.evbuffer_new()
            le.evbuffer_add(evb, pending.pop(0))
            le.evhttp_send_reply_chunk(req, evb)
            if pending:
                le.event_base_once(self.base, -1, le.EV_TIMEOUT, trickle, None, 0.02)
            else:
                le.evhttp_send_reply_end(req)

        le.event_base_once(self.base, -1, le.EV_TIMEOUT, trickle, None, 0.02)

    def slow_cb(self, req: Request, arg: Any) -> None:
        self.seen.append(req)  # never answered

    def big_cb(self, req: Request, arg: Any) -> None:
        evb = le.evbuffer_new()
        le.evbuffer_add(evb, b"x" * 100)
        le.evhttp_send_reply(req, le.HTTP_OK, "OK", evb)

    def fat_head_cb(self, req: Request, arg: Any) -> None:
        le.evhttp_add_header(le.evhttp_request_get_output_headers(req), "X-Fat", "f" * 500)
        le.evhttp_send_reply(req, le.HTTP_OK, "OK", None)

    def close(self) -> None:
        le.evhttp_free(self.http)


@pytest.fixture
def base() -> Iterator[EventBase]:
    b = EventBase()
    yield b
    b.close()


@pytest.fixture
def served(base: EventBase, callbacks_must_not_fail: None) -> Iterator[Served]:
    s = Served(base)
    yield s
    s.close()


class Calls:
    """Records the callbacks of requests in order: ("cb", req), ("error", code), ("chunk", data)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def cb(self, req: OutgoingRequest | None, arg: Any) -> None:
        self.log.append(("cb", req))

    def error_cb(self, code: int, arg: Any) -> None:
        self.log.append(("error", code))

    def new(self, cb: Callable[[OutgoingRequest | None, Any], object] | None = None) -> Any:
        req = le.evhttp_request_new(cb or self.cb, self)
        le.evhttp_request_set_error_cb(req, self.error_cb)
        le.evhttp_add_header(le.evhttp_request_get_output_headers(req), "Host", "somehost")
        return req

    def ended(self) -> bool:
        return any(kind == "cb" for kind, _ in self.log)


def connect(base: EventBase, port: int) -> HTTPConnection:
    evcon = le.evhttp_connection_base_new(base, None, "127.0.0.1", port)
    assert evcon is not None
    return evcon


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- names ---------------------------------------------------------------------------------


def test_names_and_constants_are_libevents() -> None:
    for name in NAMES:
        assert callable(getattr(le, name)), name
        assert name in le.__all__
    for name, value in ERRORS.items():
        constant = getattr(le, name)
        assert constant == value and type(constant) is int, name
    # one function per name, serving server and client requests alike
    assert le.evhttp_request_get_input_headers is _http_client.evhttp_request_get_input_headers


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", le.event_get_supported_methods())
def test_get_round_trip(method: str, callbacks_must_not_fail: None) -> None:
    """http/basic through the client names: every response getter on the request."""
    base = EventBase(EventConfig(method=method))
    served = Served(base)
    calls = Calls()
    evcon = connect(base, served.port)
    req = calls.new()
    assert le.evhttp_request_get_response_code(req) == 0
    assert le.evhttp_request_get_uri(req) is None
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/test?x=1") == 0
    run_until(base, calls.ended)

    assert calls.log == [("cb", req)]
    assert le.evhttp_request_get_response_code(req) == le.HTTP_OK
    assert le.evhttp_request_get_response_code_line(req) == "Everything is fine"
    headers = le.evhttp_request_get_input_headers(req)
    assert le.evhttp_find_header(headers, "content-type") == "text/plain"
    assert le.evhttp_find_header(headers, "Content-Length") == str(len(BASIC_REQUEST_BODY))
    buf = le.evhttp_request_get_input_buffer(req)
    assert le.evbuffer_get_length(buf) == len(BASIC_REQUEST_BODY)
    assert bytes(le.evbuffer_pullup(buf, -1) or b"") == BASIC_REQUEST_BODY
    assert le.evhttp_request_get_command(req) == le.EVHTTP_REQ_GET
    assert le.evhttp_request_get_uri(req) == "/test?x=1"
    assert le.evhttp_request_get_connection(req) is evcon
    assert le.evhttp_request_get_host(req) == "somehost"
    out = le.evhttp_request_get_output_headers(req)
    assert le.evhttp_find_header(out, "Host") == "somehost"
    assert le.evhttp_find_header(out, "Content-Length") is None  # a GET without a body

    seen = served.seen[0]
    assert seen.target == "/test?x=1" and seen.headers.get("host") == "somehost"
    assert le.evhttp_request_get_response_code(seen) == 200  # the server's view
    assert le.evhttp_request_get_response_code_line(seen) == "OK"  # standard phrase
    le.evhttp_connection_free(evcon)
    served.close()
    base.close()


def test_post_body_from_the_output_buffer(base: EventBase, served: Served) -> None:
    calls = Calls()
    evcon = connect(base, served.port)
    req = calls.new()
    le.evbuffer_add(le.evhttp_request_get_output_buffer(req), b"hello ")
    le.evbuffer_add_printf(le.evhttp_request_get_output_buffer(req), "%s", "world")
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_POST, "/echo") == 0
    assert le.evbuffer_get_length(le.evhttp_request_get_output_buffer(req)) == 0  # sent
    run_until(base, calls.ended)
    assert calls.log == [("cb", req)]
    assert le.evbuffer_remove(le.evhttp_request_get_input_buffer(req), 100) == b"hello world"
    headers = le.evhttp_request_get_input_headers(req)
    assert le.evhttp_find_header(headers, "X-Method") == "POST"
    assert served.seen[0].headers.get("content-length") == "11"  # added, as libevent does
    assert le.evhttp_request_get_command(req) == le.EVHTTP_REQ_POST
    le.evhttp_connection_free(evcon)


def test_requests_queue_on_one_connection(base: EventBase, served: Served) -> None:
    """Requests go one at a time over one keep-alive connection, callbacks in order."""
    calls = Calls()
    closes: list[Any] = []
    evcon = connect(base, served.port)
    le.evhttp_connection_set_closecb(evcon, lambda c, arg: closes.append((c, arg)), "x")
    reqs = [calls.new() for _ in range(3)]
    for req in reqs:
        assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/echo") == 0
    run_until(base, lambda: len(calls.log) == 3)
    assert calls.log == [("cb", req) for req in reqs]
    ports = {port for _, port in served.peers}
    assert len(ports) == 1 and closes == []  # one socket, kept alive
    le.evhttp_connection_free(evcon)
    assert closes == [(evcon, "x")]  # freeing an open connection closes it


def test_connection_getters_family_and_local_address(base: EventBase, served: Served) -> None:
    calls = Calls()
    evcon = connect(base, served.port)
    local_port = unused_port()
    le.evhttp_connection_set_family(evcon, socket.AF_INET)
    le.evhttp_connection_set_local_address(evcon, "127.0.0.1")
    le.evhttp_connection_set_local_port(evcon, local_port)
    assert evcon.target.local_address == ("127.0.0.1", local_port)
    assert le.evhttp_connection_get_peer(evcon) == ("127.0.0.1", served.port)
    assert le.evhttp_connection_get_addr(evcon) is None  # not connected yet
    assert le.evhttp_connection_get_bufferevent(evcon) is None
    assert le.evhttp_connection_get_base(evcon) is base
    assert le.evhttp_connection_get_server(evcon) is None
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/echo") == 0
    run_until(base, calls.ended)
    assert served.peers == [("127.0.0.1", local_port)]  # the server saw our bound port
    headers = le.evhttp_request_get_input_headers(req)
    assert le.evhttp_find_header(headers, "X-Peer-Port") == str(local_port)
    assert le.evhttp_connection_get_addr(evcon) == ("127.0.0.1", served.port)
    bev = le.evhttp_connection_get_bufferevent(evcon)
    assert isinstance(bev, BufferEvent) and not bev.closed
    le.evhttp_connection_free(evcon)


def test_closecb_and_free_on_completion(base: EventBase, served: Served) -> None:
    calls = Calls()
    closes: list[Any] = []
    evcon = connect(base, served.port)
    le.evhttp_connection_set_closecb(evcon, lambda c, arg: closes.append(arg), 42)
    le.evhttp_connection_free_on_completion(evcon)
    req = calls.new()
    le.evhttp_add_header(le.evhttp_request_get_output_headers(req), "Connection", "close")
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/test") == 0
    run_until(base, calls.ended)
    assert calls.log == [("cb", req)] and closes == [42]
    assert evcon.state.value == "closed"  # freed after its last request
    assert le.evhttp_make_request(evcon, calls.new(), le.EVHTTP_REQ_GET, "/test") == -1


def test_unix_socket(base: EventBase, served: Served, tmp_path: Path) -> None:
    path = str(tmp_path / "http.sock")
    served.http.bind(path)
    calls = Calls()
    evcon = le.evhttp_connection_base_bufferevent_unix_new(base, None, path)
    assert evcon is not None
    assert le.evhttp_connection_get_peer(evcon) == (None, 0)
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/test") == 0
    run_until(base, calls.ended)
    assert le.evhttp_request_get_response_code(req) == 200
    le.evhttp_connection_free(evcon)
    assert le.evhttp_connection_base_bufferevent_unix_new(base, None, "/" + "x" * 200) is None


def test_settings_land_in_the_connection(base: EventBase) -> None:
    evcon = connect(base, 80)
    assert (evcon.timeouts.connect, evcon.timeouts.read, evcon.timeouts.write) == (45, 50, 50)
    le.evhttp_connection_set_timeout(evcon, 5)
    assert (evcon.timeouts.connect, evcon.timeouts.read, evcon.timeouts.write) == (45, 5, 5)
    le.evhttp_connection_set_timeout(evcon, -1)  # libevent's defaults again
    assert (evcon.timeouts.read, evcon.timeouts.write) == (50, 50)
    le.evhttp_connection_set_timeout(evcon, 0)
    assert (evcon.timeouts.read, evcon.timeouts.write) == (None, None)
    le.evhttp_connection_set_timeout_tv(evcon, 0.25)
    assert (evcon.timeouts.read, evcon.timeouts.write) == (0.25, 0.25)
    le.evhttp_connection_set_timeout_tv(evcon, None)
    assert (evcon.timeouts.read, evcon.timeouts.write) == (50, 50)
    le.evhttp_connection_set_connect_timeout_tv(evcon, 1.5)
    le.evhttp_connection_set_read_timeout_tv(evcon, None)
    le.evhttp_connection_set_write_timeout_tv(evcon, le.event_base_init_common_timeout(base, 3))
    assert (evcon.timeouts.connect, evcon.timeouts.read, evcon.timeouts.write) == (1.5, None, 3)
    le.evhttp_connection_set_initial_retry_tv(evcon, 0.5)
    assert evcon.initial_retry_delay == 0.5
    le.evhttp_connection_set_initial_retry_tv(evcon, None)
    assert evcon.initial_retry_delay == 2.0
    le.evhttp_connection_set_retries(evcon, 3)
    assert evcon.retries == 3
    le.evhttp_connection_set_retries(evcon, -7)
    assert evcon.retries == -1  # forever
    le.evhttp_connection_set_max_body_size(evcon, 10)
    assert evcon.max_body_size == 10
    le.evhttp_connection_set_max_body_size(evcon, -1)
    assert evcon.max_body_size is None
    le.evhttp_connection_set_max_headers_size(evcon, 100)
    assert evcon.max_header_size == 100
    le.evhttp_connection_set_max_headers_size(evcon, -1)
    assert evcon.max_header_size > 1 << 40
    le.evhttp_connection_set_local_port(evcon, 0)
    assert evcon.target.local_address is None
    le.evhttp_connection_set_local_port(evcon, 5555)
    assert evcon.target.local_address == ("", 5555)
    le.evhttp_connection_set_local_address(evcon, "::1")
    assert evcon.target.local_address == ("::1", 5555)
    le.evhttp_connection_free(evcon)


def test_bufferevent_argument(base: EventBase) -> None:
    """None, a socket-less socket or TLS bufferevent, or an SSLContext; anything else: NULL."""
    ctx = ssl.create_default_context()
    plain = le.bufferevent_socket_new(base, -1, le.BEV_OPT_CLOSE_ON_FREE)
    tls = le.bufferevent_openssl_socket_new(
        base, -1, ctx, le.BUFFEREVENT_SSL_CONNECTING, le.BEV_OPT_CLOSE_ON_FREE, "example.com"
    )
    assert plain is not None and tls is not None
    cases: list[tuple[Any, ssl.SSLContext | None, str | None]] = [
        (None, None, None),
        (plain, None, None),
        (tls, ctx, "example.com"),
        (ctx, ctx, "127.0.0.1"),  # evweb's shorthand; the address checked against the cert
    ]
    for bev, want_ctx, want_name in cases:
        evcon = le.evhttp_connection_base_bufferevent_new(base, None, bev, "127.0.0.1", 443)
        assert evcon is not None
        assert evcon.target.ssl_context is want_ctx
        assert evcon.target.server_hostname == want_name
        le.evhttp_connection_free(evcon)
    assert plain.closed and tls.closed  # freed with their connection, as in C

    ends = le.bufferevent_pair_new(base, 0)
    assert ends is not None
    left, right = ends
    connected = SocketBufferEvent(base, socket.socket(), BevOption.CLOSE_ON_FREE)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side = le.bufferevent_openssl_socket_new(
        base, -1, server_ctx, le.BUFFEREVENT_SSL_ACCEPTING, le.BEV_OPT_CLOSE_ON_FREE
    )
    assert server_side is not None
    bads: list[Any] = [left, connected, server_side, "nonsense"]
    for bad in bads:
        assert le.evhttp_connection_base_bufferevent_new(base, None, bad, "h", 80) is None
    assert le.evhttp_connection_base_new(base, None, "127.0.0.1", 70000) is None
    for bev in (left, right, connected, server_side):
        bev.close()


# --- failures and their callbacks -----------------------------------------------------------


def test_refused_connection_calls_back_with_the_request(base: EventBase) -> None:
    """http_connection_retry_done: req non-NULL, code 0, no headers, empty body, no error_cb."""
    calls = Calls()
    evcon = connect(base, unused_port())
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/?arg=val") == 0
    start = time.monotonic()
    run_until(base, calls.ended)
    assert time.monotonic() - start < 1.0
    assert calls.log == [("cb", req)]
    assert le.evhttp_request_get_response_code(req) != le.HTTP_OK
    assert le.evhttp_request_get_response_code(req) == 0
    assert le.evhttp_find_header(le.evhttp_request_get_input_headers(req), "Content-Type") is None
    assert le.evbuffer_get_length(le.evhttp_request_get_input_buffer(req)) == 0
    assert le.evhttp_request_get_connection(req) is None  # libevent's request->evcon = NULL
    le.evhttp_connection_free(evcon)


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listen queue is full: the kernel drops further SYNs (no accept, no refusal)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = int(lst.getsockname()[1])
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


def test_free_from_the_callback(base: EventBase) -> None:
    """http/connection_fail's callback frees the connection and leaves the loop."""
    ended: list[Any] = []

    def done(req: OutgoingRequest | None, evcon: HTTPConnection) -> None:
        ended.append(req)
        le.evhttp_connection_free(evcon)
        le.event_base_loopexit(le.evhttp_connection_get_base(evcon), None)

    evcon = connect(base, unused_port())
    req = le.evhttp_request_new(done, evcon)
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/") == 0
    run_until(base, lambda: ended)
    assert ended == [req] and evcon.state.value == "closed"


def test_connect_timeout_calls_back_with_the_request(base: EventBase, full_backlog: int) -> None:
    calls = Calls()
    evcon = connect(base, full_backlog)
    le.evhttp_connection_set_connect_timeout_tv(evcon, 0.15)
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/") == 0
    start = time.monotonic()
    run_until(base, calls.ended)
    assert 0.14 <= time.monotonic() - start < 1.5
    assert calls.log == [("cb", req)] and le.evhttp_request_get_response_code(req) == 0
    le.evhttp_connection_free(evcon)


class FakeResolver:
    """A dnsbase: answers ``names`` with their addresses, fails the rest (from the loop)."""

    def __init__(self, base: EventBase, names: dict[str, str]) -> None:
        self.base = base
        self.names = names
        self.asked: list[str] = []

    def resolve(self, host: str, port: int, family: int, callback: ResolveCallback) -> Any:
        self.asked.append(host)
        answer: Addresses | Exception
        if host in self.names:
            answer = [(socket.AF_INET, (self.names[host], port))]
        else:
            answer = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        timer = self.base.timer(lambda fd, what, arg: callback(answer))
        timer.add(0)
        return _Handle(timer)


class _Handle:
    def __init__(self, timer: Any) -> None:
        self.timer = timer

    def cancel(self) -> None:
        self.timer.delete()


def test_dnsbase_resolves_the_host(base: EventBase, served: Served) -> None:
    resolver = FakeResolver(base, {"www.example.test": "127.0.0.1"})
    calls = Calls()
    evcon = le.evhttp_connection_base_new(base, resolver, "www.example.test", served.port)
    assert evcon is not None
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/test") == 0
    run_until(base, calls.ended)
    assert resolver.asked == ["www.example.test"]
    assert le.evhttp_request_get_response_code(req) == 200
    assert le.evhttp_connection_get_peer(evcon) == ("www.example.test", served.port)
    le.evhttp_connection_free(evcon)


def test_unresolvable_host_is_an_eof_error(base: EventBase) -> None:
    """A connect failure other than refusal or timeout: error_cb(EOF), then cb(NULL)."""
    resolver = FakeResolver(base, {})
    calls = Calls()
    evcon = le.evhttp_connection_base_new(base, resolver, "nowhere.test", 80)
    assert evcon is not None
    assert le.evhttp_make_request(evcon, calls.new(), le.EVHTTP_REQ_GET, "/") == 0
    run_until(base, calls.ended)
    assert calls.log == [("error", le.EVREQ_HTTP_EOF), ("cb", None)]
    le.evhttp_connection_free(evcon)


def test_read_timeout(base: EventBase, served: Served) -> None:
    calls = Calls()
    evcon = connect(base, served.port)
    le.evhttp_connection_set_read_timeout_tv(evcon, 0.2)
    assert le.evhttp_make_request(evcon, calls.new(), le.EVHTTP_REQ_GET, "/slow") == 0
    start = time.monotonic()
    run_until(base, calls.ended)
    assert 0.19 <= time.monotonic() - start < 2.0
    assert calls.log == [("error", le.EVREQ_HTTP_TIMEOUT), ("cb", None)]
    le.evhttp_connection_free(evcon)


class RawServer:
    """Answers each request with ``reply`` (None: closes without a word), then closes."""

    def __init__(self, base: EventBase, reply: bytes | None) -> None:
        self.base = base
        self.reply = reply
        self.bevs: list[SocketBufferEvent] = []
        self.listener = Listener.bind(base, self.on_accept, ("127.0.0.1", 0))
        self.port = int(self.listener.address[1])

    def on_accept(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        bev = SocketBufferEvent(self.base, sock, BevOption.CLOSE_ON_FREE)
        self.bevs.append(bev)
        bev.set_callbacks(self.on_read, self.on_flushed, None)
        bev.enable(READ)

    def on_read(self, bev: BufferEvent, arg: Any) -> None:
        if bev.input.search(b"\r\n\r\n") < 0:
            return
        if self.reply is None:
            bev.close()
        else:
            bev.write(self.reply)

    def on_flushed(self, bev: BufferEvent, arg: Any) -> None:
        bev.close()

    def close(self) -> None:
        self.listener.close()
        for bev in self.bevs:
            bev.close()


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (None, le.EVREQ_HTTP_EOF),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", le.EVREQ_HTTP_EOF),
        (b"HTTP/1.1 abc\r\n\r\n", le.EVREQ_HTTP_INVALID_HEADER),
        (b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n", le.EVREQ_HTTP_INVALID_HEADER),
    ],
)
def test_broken_responses(base: EventBase, reply: bytes | None, code: int) -> None:
    raw = RawServer(base, reply)
    calls = Calls()
    evcon = connect(base, raw.port)
    assert le.evhttp_make_request(evcon, calls.new(), le.EVHTTP_REQ_GET, "/") == 0
    run_until(base, calls.ended)
    assert calls.log == [("error", code), ("cb", None)]
    le.evhttp_connection_free(evcon)
    raw.close()


def test_trailers_join_the_input_headers(base: EventBase) -> None:
    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n"
    )
    raw = RawServer(base, reply)
    calls = Calls()
    evcon = connect(base, raw.port)
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/") == 0
    run_until(base, calls.ended)
    assert calls.log == [("cb", req)]
    headers = le.evhttp_request_get_input_headers(req)
    assert le.evhttp_find_header(headers, "X-Sum") == "5"
    assert le.evhttp_find_header(headers, "Transfer-Encoding") == "chunked"
    assert le.evbuffer_remove(le.evhttp_request_get_input_buffer(req), 100) == b"hello"
    le.evhttp_connection_free(evcon)
    raw.close()


def test_data_too_long(base: EventBase, served: Served) -> None:
    """http/data_length_constraints, client side: a body over the limit."""
    calls = Calls()
    evcon = connect(base, served.port)
    le.evhttp_connection_set_max_body_size(evcon, 10)
    assert le.evhttp_make_request(evcon, calls.new(), le.EVHTTP_REQ_GET, "/big") == 0
    run_until(base, calls.ended)
    assert calls.log == [("error", le.EVREQ_HTTP_DATA_TOO_LONG), ("cb", None)]
    calls.log.clear()
    le.evhttp_connection_set_max_body_size(evcon, -1)
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/big") == 0
    run_until(base, calls.ended)
    assert calls.log == [("cb", req)]
    assert le.evbuffer_get_length(le.evhttp_request_get_input_buffer(req)) == 100
    le.evhttp_connection_free(evcon)


def test_headers_too_large(base: EventBase, served: Served) -> None:
    calls = Calls()
    evcon = connect(base, served.port)
    le.evhttp_connection_set_max_headers_size(evcon, 200)
    assert le.evhttp_make_request(evcon, calls.new(), le.EVHTTP_REQ_GET, "/fat-head") == 0
    run_until(base, calls.ended)
    assert calls.log == [("error", le.EVREQ_HTTP_INVALID_HEADER), ("cb", None)]
    le.evhttp_connection_free(evcon)


def test_cancel_the_request_in_progress(base: EventBase, served: Served) -> None:
    """http/cancel: error_cb(REQUEST_CANCEL), no cb; the connection resets and serves on."""
    calls = Calls()
    closes: list[int] = []
    evcon = connect(base, served.port)
    le.evhttp_connection_set_closecb(evcon, lambda c, arg: closes.append(arg), 1)
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/slow") == 0
    run_until(base, lambda: served.seen)
    le.evhttp_cancel_request(req)
    assert calls.log == [("error", le.EVREQ_HTTP_REQUEST_CANCEL)]
    assert closes == [1]  # reset
    le.evhttp_cancel_request(req)  # again: nothing
    run_for(base, 0.05)
    assert calls.log == [("error", le.EVREQ_HTTP_REQUEST_CANCEL)]

    calls.log.clear()
    again = calls.new()
    assert le.evhttp_make_request(evcon, again, le.EVHTTP_REQ_GET, "/test") == 0
    run_until(base, calls.ended)
    assert calls.log == [("cb", again)]
    le.evhttp_connection_free(evcon)


def test_cancel_a_queued_request_calls_nothing(base: EventBase, served: Served) -> None:
    calls = Calls()
    evcon = connect(base, served.port)
    first, second = calls.new(), calls.new()
    assert le.evhttp_make_request(evcon, first, le.EVHTTP_REQ_GET, "/test") == 0
    assert le.evhttp_make_request(evcon, second, le.EVHTTP_REQ_GET, "/test") == 0
    le.evhttp_cancel_request(second)
    run_until(base, calls.ended)
    run_for(base, 0.05)
    assert calls.log == [("cb", first)]
    assert len(served.seen) == 1
    le.evhttp_connection_free(evcon)


def test_cancel_while_connecting(base: EventBase, full_backlog: int) -> None:
    """The first request is libevent's request in progress even before the connect ends."""
    calls = Calls()
    evcon = connect(base, full_backlog)
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/") == 0
    run_for(base, 0.02)
    le.evhttp_cancel_request(req)
    assert calls.log == [("error", le.EVREQ_HTTP_REQUEST_CANCEL)]
    le.evhttp_connection_free(evcon)


def test_free_drops_queued_requests_without_callbacks(base: EventBase, served: Served) -> None:
    calls = Calls()
    evcon = connect(base, served.port)
    for target in ("/slow", "/test"):
        assert le.evhttp_make_request(evcon, calls.new(), le.EVHTTP_REQ_GET, target) == 0
    run_until(base, lambda: served.seen)
    le.evhttp_connection_free(evcon)
    run_for(base, 0.05)
    assert calls.log == []


def test_make_request_refusals(base: EventBase) -> None:
    calls = Calls()
    evcon = connect(base, unused_port())
    assert le.evhttp_make_request(evcon, calls.new(), 1 << 20, "/") == -1  # no such method
    bad_target = calls.new()
    assert le.evhttp_make_request(evcon, bad_target, le.EVHTTP_REQ_GET, "/a b\r\n") == -1
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/") == 0
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/") == -1  # made already
    le.evhttp_connection_free(evcon)
    assert le.evhttp_make_request(evcon, calls.new(), le.EVHTTP_REQ_GET, "/") == -1  # freed
    assert calls.log == []


# --- streaming: chunked and header callbacks ------------------------------------------------


def test_chunked_cb_gets_each_read_and_the_buffer_is_drained(
    base: EventBase, served: Served
) -> None:
    """http/chunk_out, client side: evhttp_request_set_chunked_cb."""
    calls = Calls()
    pieces: list[bytes] = []

    def chunked(req: OutgoingRequest, arg: Calls) -> None:
        assert arg is calls
        buf = le.evhttp_request_get_input_buffer(req)
        assert le.evbuffer_get_length(buf) > 0  # never called empty
        pieces.append(bytes(le.evbuffer_pullup(buf, -1) or b""))
        if len(pieces) == 1:
            le.evbuffer_drain(buf, 1)  # the callback may drain some itself

    evcon = connect(base, served.port)
    req = calls.new()
    le.evhttp_request_set_chunked_cb(req, chunked)
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/chunked") == 0
    run_until(base, calls.ended)
    assert calls.log == [("cb", req)]
    assert len(pieces) >= 2  # 20 ms apart: more than one read
    assert b"".join(pieces) == b"".join(CHUNKS)  # each call saw only new bytes
    assert le.evbuffer_get_length(le.evhttp_request_get_input_buffer(req)) == 0
    assert le.evhttp_request_get_response_code(req) == 200
    le.evhttp_connection_free(evcon)


def test_cancel_from_the_chunked_cb(base: EventBase, served: Served) -> None:
    calls = Calls()

    def chunked(req: OutgoingRequest, arg: Any) -> None:
        le.evhttp_cancel_request(req)

    evcon = connect(base, served.port)
    req = calls.new()
    le.evhttp_request_set_chunked_cb(req, chunked)
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/chunked") == 0
    run_until(base, lambda: calls.log)
    run_for(base, 0.1)
    assert calls.log == [("error", le.EVREQ_HTTP_REQUEST_CANCEL)]
    le.evhttp_connection_free(evcon)


def test_header_cb_sees_the_head_before_the_body(base: EventBase, served: Served) -> None:
    calls = Calls()
    heads: list[tuple[int, str | None, int]] = []

    def header_cb(req: OutgoingRequest, arg: Any) -> int:
        ctype = le.evhttp_find_header(le.evhttp_request_get_input_headers(req), "Content-Type")
        body = le.evbuffer_get_length(le.evhttp_request_get_input_buffer(req))
        heads.append((le.evhttp_request_get_response_code(req), ctype, body))
        return 0

    evcon = connect(base, served.port)
    req = calls.new()
    le.evhttp_request_set_header_cb(req, header_cb)
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/test") == 0
    run_until(base, calls.ended)
    assert heads == [(200, "text/plain", 0)]
    assert calls.log == [("cb", req)]
    le.evhttp_connection_free(evcon)


def test_header_cb_returning_negative_aborts(base: EventBase, served: Served) -> None:
    """A header callback < 0 closes the connection: error_cb(EOF), then cb(NULL)."""
    calls = Calls()
    closes: list[Any] = []
    evcon = connect(base, served.port)
    le.evhttp_connection_set_closecb(evcon, lambda c, arg: closes.append(arg), None)
    req = calls.new()
    le.evhttp_request_set_header_cb(req, lambda r, arg: -1)
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/chunked") == 0
    run_until(base, calls.ended)
    assert calls.log == [("error", le.EVREQ_HTTP_EOF), ("cb", None)]
    assert closes == [None]
    le.evhttp_connection_free(evcon)


# --- retries (http/connection_retry) --------------------------------------------------------


def test_retries_then_give_up(base: EventBase) -> None:
    """With one retry 0.2 s later, the refused request ends after that delay."""
    calls = Calls()
    evcon = connect(base, unused_port())
    le.evhttp_connection_set_timeout_tv(evcon, 0.5)
    le.evhttp_connection_set_initial_retry_tv(evcon, 0.2)
    le.evhttp_connection_set_retries(evcon, 1)
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/?arg=val") == 0
    start = time.monotonic()
    run_until(base, calls.ended)
    assert 0.19 <= time.monotonic() - start < 1.5
    assert calls.log == [("cb", req)] and le.evhttp_request_get_response_code(req) == 0
    le.evhttp_connection_free(evcon)


def test_retries_reach_a_server_that_starts_late(base: EventBase) -> None:
    calls = Calls()
    port = unused_port()
    evcon = connect(base, port)
    le.evhttp_connection_set_initial_retry_tv(evcon, 0.1)
    le.evhttp_connection_set_retries(evcon, 3)
    late: list[HTTPServer] = []

    def start_server(fd: int, what: int, arg: Any) -> None:
        http = le.evhttp_new(base)
        assert http is not None
        assert le.evhttp_bind_socket(http, "127.0.0.1", port) == 0
        le.evhttp_set_gencb(http, lambda r, arg: le.evhttp_send_reply(r, 200, "OK", None), None)
        late.append(http)

    le.event_base_once(base, -1, le.EV_TIMEOUT, start_server, None, 0.15)
    req = calls.new()
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, "/?arg=val") == 0
    run_until(base, calls.ended)
    assert calls.log == [("cb", req)]
    assert le.evhttp_request_get_response_code(req) == le.HTTP_OK
    le.evhttp_connection_free(evcon)
    le.evhttp_free(late[0])


# --- libevent's samples ----------------------------------------------------------------------


def http_get_sample(base: EventBase, url: str, dnsbase: Any = None) -> None:
    """sample/http-connect.c's get_cb and the request it makes, without the proxy step.

    Parse the URL, connect, GET its path with ``Host`` and ``Connection: close``,
    write the body to stdout.
    """
    location = le.evhttp_uri_parse(url)
    assert location is not None
    host, port = le.evhttp_uri_get_host(location), le.evhttp_uri_get_port(location)
    assert host is not None and port > 0

    def get_cb(req: OutgoingRequest | None, arg: Any) -> None:
        assert req is not None
        evbuf = le.evhttp_request_get_input_buffer(req)
        length = le.evbuffer_get_length(evbuf)
        print(bytes(le.evbuffer_pullup(evbuf, length) or b"").decode(), end="")
        le.evbuffer_drain(evbuf, length)
        le.event_base_loopexit(base, None)

    evcon = le.evhttp_connection_base_new(base, dnsbase, host, port)
    assert evcon is not None
    req = le.evhttp_request_new(get_cb, None)
    le.evhttp_add_header(le.evhttp_request_get_output_headers(req), "Connection", "close")
    le.evhttp_add_header(le.evhttp_request_get_output_headers(req), "Host", host)
    path = le.evhttp_uri_get_path(location) or "/"
    query = le.evhttp_uri_get_query(location)
    uri = f"{path}?{query}" if query else path
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, uri) == 0
    le.event_base_dispatch(base)
    le.evhttp_connection_free(evcon)
    le.evhttp_uri_free(location)


def test_sample_http_get(base: EventBase, served: Served) -> None:
    out = io.StringIO()
    guard = le.evtimer_new(base, lambda fd, what, arg: le.event_base_loopbreak(base), None)
    assert guard is not None
    le.evtimer_add(guard, WAIT)
    with redirect_stdout(out):
        http_get_sample(base, f"http://127.0.0.1:{served.port}/test?q=1")
    le.event_free(guard)
    assert out.getvalue() == BASIC_REQUEST_BODY.decode()
    assert served.seen[0].headers.get("connection") == "close"


def https_client_sample(base: EventBase, url: str, ctx: ssl.SSLContext, retries: int) -> int:
    """sample/https-client.c's main and http_request_done, minus option parsing."""
    http_uri = le.evhttp_uri_parse(url)
    assert http_uri is not None
    scheme = le.evhttp_uri_get_scheme(http_uri)
    assert scheme in ("http", "https")
    host = le.evhttp_uri_get_host(http_uri)
    assert host is not None
    port = le.evhttp_uri_get_port(http_uri)
    if port == -1:
        port = 80 if scheme == "http" else 443
    uri = le.evhttp_uri_get_path(http_uri) or "/"
    query = le.evhttp_uri_get_query(http_uri)
    if query is not None:
        uri = f"{uri}?{query}"
    result = {"code": 1}

    def http_request_done(req: OutgoingRequest | None, bev: Any) -> None:
        if req is None or not le.evhttp_request_get_response_code(req):
            print("some request failed - no idea which one though!")
            while err := le.bufferevent_get_openssl_error(bev):
                print(err)
            le.event_base_loopexit(base, None)
            return
        code = le.evhttp_request_get_response_code(req)
        print(f"Response line: {code} {le.evhttp_request_get_response_code_line(req)}")
        while data := le.evbuffer_remove(le.evhttp_request_get_input_buffer(req), 256):
            print(data.decode(), end="")
        result["code"] = 0
        le.event_base_loopexit(base, None)

    if scheme == "http":
        bev = le.bufferevent_socket_new(base, -1, le.BEV_OPT_CLOSE_ON_FREE)
    else:
        bev = le.bufferevent_openssl_socket_new(
            base, -1, ctx, le.BUFFEREVENT_SSL_CONNECTING,
            le.BEV_OPT_CLOSE_ON_FREE | le.BEV_OPT_DEFER_CALLBACKS, host,
        )  # fmt: skip
    assert bev is not None
    le.bufferevent_openssl_set_allow_dirty_shutdown(bev, 1)
    evcon = le.evhttp_connection_base_bufferevent_new(base, None, bev, host, port)
    assert evcon is not None
    if retries > 0:
        le.evhttp_connection_set_retries(evcon, retries)
    req = le.evhttp_request_new(http_request_done, bev)
    output_headers = le.evhttp_request_get_output_headers(req)
    le.evhttp_add_header(output_headers, "Host", host)
    le.evhttp_add_header(output_headers, "Connection", "close")
    assert le.evhttp_make_request(evcon, req, le.EVHTTP_REQ_GET, uri) == 0
    le.event_base_dispatch(base)
    le.evhttp_connection_free(evcon)
    le.evhttp_uri_free(http_uri)
    return result["code"]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def test_sample_https_client(base: EventBase, served: Served, ca: trustme.CA) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    tls_port = int(served.http.bind(("127.0.0.1", 0), ssl_context=server_ctx).address[1])
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    out = io.StringIO()
    with redirect_stdout(out):
        code = https_client_sample(base, f"https://127.0.0.1:{tls_port}/test", client_ctx, 1)
    assert code == 0, out.getvalue()
    assert out.getvalue() == "Response line: 200 Everything is fine\n" + BASIC_REQUEST_BODY.decode()
    assert served.seen[-1].is_tls

    untrusted = ssl.create_default_context()  # no CA: the certificate is refused
    out = io.StringIO()
    with redirect_stdout(out):
        code = https_client_sample(base, f"https://127.0.0.1:{tls_port}/test", untrusted, 0)
    assert code == 1
    assert out.getvalue().startswith("some request failed")


def test_input_buffer_is_a_buffer() -> None:
    req = le.evhttp_request_new(None, None)
    assert isinstance(le.evhttp_request_get_input_buffer(req), Buffer)
    assert isinstance(le.evhttp_request_get_output_buffer(req), Buffer)
    assert le.evhttp_request_get_connection(req) is None
    assert le.evhttp_request_get_host(req) is None
    le.evhttp_add_header(le.evhttp_request_get_output_headers(req), "Host", "[::1]:8080")
    assert le.evhttp_request_get_host(req) == "::1"
    le.evhttp_cancel_request(req)  # never made: nothing happens
