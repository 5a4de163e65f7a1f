"""evhttp_* C names: constants, return codes, and cases of libevent's test/regress_http.c.

The server runs on a thread-safe base looping in a background thread (set up
through the C names before the thread starts); the client side is raw
sockets, as in regress_http.c, or ``requests``. Where evweb answers
differently from evhttp on purpose, the test says so next to the assert.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

import evweb.libevent as le
from evweb.http import Headers, HTTPServer, Request
from evweb.io import Buffer
from evweb.reactor import NO_EXIT_ON_EMPTY, EventBase, EventConfig

WAIT = 5.0
BASIC_REQUEST_BODY = b"This is funny"
CHUNKS = [b"This is funny", b"but not hilarious.", b"bwv 1052"]

NAMES = [
    "evhttp_new", "evhttp_free", "evhttp_bind_socket", "evhttp_bind_socket_with_handle",
    "evhttp_accept_socket", "evhttp_accept_socket_with_handle", "evhttp_del_accept_socket",
    "evhttp_bound_socket_get_fd", "evhttp_set_cb", "evhttp_del_cb", "evhttp_set_gencb",
    "evhttp_add_virtual_host", "evhttp_remove_virtual_host", "evhttp_add_server_alias",
    "evhttp_remove_server_alias", "evhttp_set_timeout", "evhttp_set_timeout_tv",
    "evhttp_set_read_timeout_tv", "evhttp_set_write_timeout_tv", "evhttp_set_max_headers_size",
    "evhttp_set_max_body_size", "evhttp_set_max_connections", "evhttp_get_connection_count",
    "evhttp_set_default_content_type", "evhttp_set_allowed_methods", "evhttp_set_newreqcb",
    "evhttp_set_errorcb", "evhttp_send_reply", "evhttp_send_error", "evhttp_send_reply_start",
    "evhttp_send_reply_chunk", "evhttp_send_reply_chunk_with_cb", "evhttp_send_reply_end",
    "evhttp_request_get_uri", "evhttp_request_get_command", "evhttp_request_get_input_headers",
    "evhttp_request_get_output_headers", "evhttp_request_get_input_buffer",
    "evhttp_request_get_output_buffer", "evhttp_request_get_host",
    "evhttp_request_get_response_code", "evhttp_find_header", "evhttp_add_header",
    "evhttp_remove_header", "evhttp_clear_headers", "evhttp_request_set_on_complete_cb",
]  # fmt: skip

# From /work/shared/reference/libevent-inventory.md §5.1 (include/event2/http.h, 2.2).
STATUS = {
    "HTTP_CONTINUE": 100, "HTTP_SWITCH_PROTOCOLS": 101, "HTTP_PROCESSING": 102,
    "HTTP_EARLYHINTS": 103, "HTTP_OK": 200, "HTTP_CREATED": 201, "HTTP_ACCEPTED": 202,
    "HTTP_NONAUTHORITATIVE": 203, "HTTP_NOCONTENT": 204, "HTTP_MOVEPERM": 301,
    "HTTP_MOVETEMP": 302, "HTTP_NOTMODIFIED": 304, "HTTP_BADREQUEST": 400,
    "HTTP_UNAUTHORIZED": 401, "HTTP_PAYMENTREQUIRED": 402, "HTTP_FORBIDDEN": 403,
    "HTTP_NOTFOUND": 404, "HTTP_BADMETHOD": 405, "HTTP_ENTITYTOOLARGE": 413,
    "HTTP_EXPECTATIONFAILED": 417, "HTTP_INTERNAL": 500, "HTTP_NOTIMPLEMENTED": 501,
    "HTTP_BADGATEWAY": 502, "HTTP_SERVUNAVAIL": 503,
}  # fmt: skip
METHODS = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH", "PROPFIND",
    "PROPPATCH", "MKCOL", "LOCK", "UNLOCK", "COPY", "MOVE",
]  # fmt: skip


# --- a server on a loop thread, and a raw-socket client ------------------------------------


class Served:
    """evhttp_new + evhttp_bind_socket_with_handle on a base that loops in a thread."""

    def __init__(self) -> None:
        self.base = EventBase(EventConfig(threadsafe=True))
        http = le.evhttp_new(self.base)
        assert http is not None
        self.http: HTTPServer = http
        bound = le.evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)
        assert bound is not None
        self.port = int(bound.address[1])
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.base.loop, args=(NO_EXIT_ON_EMPTY,), daemon=True
        )
        self._thread.start()

    def call(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the loop thread and wait for it."""
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        self.base.call_soon_threadsafe(run)
        assert done.wait(WAIT)

    def stop(self) -> None:
        if self._thread is not None:
            self.base.loopbreak()
            self._thread.join(WAIT)
            assert not self._thread.is_alive()
        le.evhttp_free(self.http)
        self.base.close()


@pytest.fixture
def served(callbacks_must_not_fail: None) -> Iterator[Served]:
    s = Served()
    yield s
    s.stop()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


def read_all(sock: socket.socket) -> bytes:
    out = b""
    try:
        while data := sock.recv(65536):
            out += data
    except ConnectionResetError:
        pass
    return out


def exchange(port: int, *pieces: bytes) -> bytes:
    """Send ``pieces`` (with a pause between them) and read until the server closes."""
    with connect(port) as sock:
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(0.05)
            sock.sendall(piece)
        return read_all(sock)


def parse(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """(status line, headers with lowercase names, body as sent)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


def dechunk(body: bytes) -> list[bytes]:
    """The chunks of a chunked body, checking the framing; the last (empty) one excluded."""
    chunks: list[bytes] = []
    while True:
        size_line, sep, rest = body.partition(b"\r\n")
        assert sep, body
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n"
            return chunks
        chunks.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        body = rest[size + 2 :]


def request(method: str, target: str, host: str = "somehost", extra: str = "") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n"
    return head.encode()


def http_basic_cb(req: Request, arg: Any) -> None:
    """regress_http.c's http_basic_cb: "This is funny", or an empty reply with ``Empty:``."""
    evb = le.evbuffer_new()
    empty = le.evhttp_find_header(le.evhttp_request_get_input_headers(req), "Empty") is not None
    le.evbuffer_add_printf(evb, "%s", BASIC_REQUEST_BODY.decode())
    le.evhttp_send_reply(req, le.HTTP_OK, "Everything is fine", None if empty else evb)
    le.evbuffer_free(evb)


# --- names, constants, return codes --------------------------------------------------------


def test_names_and_constants_are_libevents() -> None:
    for name in NAMES:
        assert callable(getattr(le, name)), name
        assert name in le.__all__
    for name, value in STATUS.items():
        assert getattr(le, name) == value, name
    for i, method in enumerate(METHODS):
        constant = getattr(le, f"EVHTTP_REQ_{method}")
        assert constant == 1 << i and type(constant) is int, method
    assert le.EVHTTP_REQ_MAX == le.EVHTTP_REQ_MOVE
    assert le.EVHTTP_SERVER_LINGERING_CLOSE == 0x0001


def test_set_cb_and_del_cb_return_codes() -> None:
    """http/multi_line_header's set_cb/del_cb checks, and the other 0/-1 functions."""
    base = EventBase()
    http = le.evhttp_new(base)
    assert http is not None
    noop: Callable[[Request, Any], None] = lambda req, arg: None  # noqa: E731
    assert le.evhttp_set_cb(http, "/test", noop, None) == 0
    assert le.evhttp_set_cb(http, "/test", noop, None) == -1
    assert le.evhttp_del_cb(http, "/test") == 0
    assert le.evhttp_del_cb(http, "/test") == -1
    assert le.evhttp_set_cb(http, "/test", noop, None) == 0

    vhost = le.evhttp_new(None)
    assert vhost is not None
    assert le.evhttp_bind_socket(vhost, "127.0.0.1", 0) == -1  # no base: a vhost only
    assert le.evhttp_add_virtual_host(http, "foo.com", vhost) == 0
    assert le.evhttp_add_virtual_host(http, "bar.com", vhost) == -1  # already a vhost
    assert le.evhttp_add_virtual_host(http, "self.com", http) == -1
    assert le.evhttp_remove_virtual_host(http, vhost) == 0
    assert le.evhttp_remove_virtual_host(http, vhost) == -1
    assert le.evhttp_add_server_alias(http, "alias.org") == 0
    assert le.evhttp_remove_server_alias(http, "ALIAS.org") == 0
    assert le.evhttp_remove_server_alias(http, "alias.org") == -1

    bound = le.evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)
    assert bound is not None
    port = int(bound.address[1])
    assert le.evhttp_bind_socket(http, "127.0.0.1", port) == -1  # taken
    assert le.evhttp_bind_socket_with_handle(http, "no such host", 0) is None
    assert le.evhttp_bound_socket_get_fd(bound) == bound.listener.fileno
    assert le.evhttp_bound_socket_get_listener(bound) is bound.listener
    seen: list[Any] = []
    le.evhttp_foreach_bound_socket(http, lambda b, arg: seen.append((b, arg)), 7)
    assert seen == [(bound, 7)]
    le.evhttp_del_accept_socket(http, bound)
    assert http.sockets == []

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    fd = listening.detach()
    assert le.evhttp_accept_socket(http, fd) == 0  # the server owns the fd now
    assert le.evhttp_bound_socket_get_fd(http.sockets[0]) == fd
    assert le.evhttp_accept_socket_with_handle(http, -5) is None
    assert le.evhttp_get_connection_count(http) == 0
    le.evhttp_free(http)  # closes fd
    le.evhttp_free(vhost)
    base.close()


def test_c_state_does_not_keep_servers_alive() -> None:
    """Callback args holding the server (as regress_http.c passes them) make no leak."""
    base = EventBase()
    http = le.evhttp_new(base)
    vhost = le.evhttp_new(None)
    assert http is not None and vhost is not None
    le.evhttp_set_cb(http, "/", http_basic_cb, http)
    le.evhttp_set_cb(vhost, "/", http_basic_cb, http)
    le.evhttp_set_gencb(vhost, http_basic_cb, vhost)
    assert le.evhttp_add_virtual_host(http, "foo.com", vhost) == 0
    refs = [weakref.ref(http), weakref.ref(vhost)]
    del http, vhost
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
    base.close()


def test_header_helpers() -> None:
    """http/bad_headers and http/primitives: evhttp_add_header refuses CR/LF and empty names."""
    h = Headers()
    assert le.evhttp_add_header(h, "One", "1") == 0
    assert le.evhttp_add_header(h, "one", "2") == 0
    assert le.evhttp_add_header(h, "Foo", "ok\r\nInjected: yes") == -1
    assert le.evhttp_add_header(h, "Foo\r\n", "value") == -1
    assert le.evhttp_add_header(h, "", "value") == -1
    # evhttp would accept a continuation ("a\r\n b"); evweb refuses every CR and LF.
    assert le.evhttp_add_header(h, "Foo", "a\r\n b") == -1
    assert le.evhttp_find_header(h, "ONE") == "1"
    assert le.evhttp_find_header(h, "missing") is None
    assert le.evhttp_remove_header(h, "one") == 0
    assert le.evhttp_find_header(h, "One") == "2"
    assert le.evhttp_remove_header(h, "one") == 0
    assert le.evhttp_remove_header(h, "one") == -1
    le.evhttp_add_header(h, "X", "y")
    le.evhttp_clear_headers(h)
    assert len(h) == 0


def test_limits_and_timeouts_land_in_the_config() -> None:
    base = EventBase()
    http = le.evhttp_new(base)
    assert http is not None
    le.evhttp_set_timeout(http, 5)
    cfg = http.config
    assert (cfg.head_timeout, cfg.body_timeout, cfg.keep_alive_timeout) == (5.0, 5.0, 5.0)
    assert cfg.write_timeout == 5.0
    le.evhttp_set_timeout(http, -1)
    cfg = http.config
    assert cfg.keep_alive_timeout is None and cfg.write_timeout is None
    le.evhttp_set_read_timeout_tv(http, 0.5)
    le.evhttp_set_write_timeout_tv(http, 0.1)
    cfg = http.config
    assert (cfg.body_timeout, cfg.write_timeout) == (0.5, 0.1)
    le.evhttp_set_timeout_tv(http, None)
    cfg = http.config
    assert cfg.head_timeout is None and cfg.write_timeout is None
    le.evhttp_set_max_connections(http, 2)
    assert http.config.max_connections == 2
    le.evhttp_set_max_connections(http, 0)
    assert http.config.max_connections is None
    le.evhttp_set_max_body_size(http, -1)
    assert http.config.max_body_size is None
    le.evhttp_set_max_headers_size(http, 100)
    assert (http.config.max_header_size, http.config.max_line) == (100, 100)
    le.evhttp_set_default_content_type(http, None)
    assert http.config.default_content_type is None
    le.evhttp_set_allowed_methods(http, le.EVHTTP_REQ_GET | le.EVHTTP_REQ_MOVE)
    assert http.config.allowed_methods == {"GET", "MOVE"}
    assert le.evhttp_set_flags(http, 0) == 0
    assert http.config.lingering_close is False
    assert le.evhttp_set_flags(http, le.EVHTTP_SERVER_LINGERING_CLOSE) == 0
    assert http.config.lingering_close is True
    assert le.evhttp_set_flags(http, 0x0002) == 1
    le.evhttp_free(http)
    base.close()


# --- regress_http.c round trips ----------------------------------------------------------


def test_basic(served: Served) -> None:
    """http/basic: a request split mid-header, a second port, an absolute URI."""
    seen: list[tuple[str, int, str | None]] = []

    def cb(req: Request, arg: Any) -> None:
        assert arg is served.http
        seen.append(
            (
                le.evhttp_request_get_uri(req),
                le.evhttp_request_get_command(req),
                le.evhttp_request_get_host(req),
            )
        )
        http_basic_cb(req, arg)

    assert le.evhttp_set_cb(served.http, "/test", cb, served.http) == 0
    assert le.evhttp_bind_socket(served.http, "127.0.0.1", 0) == 0
    port2 = int(served.http.sockets[1].address[1])
    served.start()

    raw = exchange(
        served.port, b"GET /test HTTP/1.1\r\nHost: some", b"host\r\nConnection: close\r\n\r\n"
    )
    status, headers, body = parse(raw)
    assert status == "HTTP/1.1 200 Everything is fine"
    assert body == BASIC_REQUEST_BODY
    assert headers["content-length"] == str(len(BASIC_REQUEST_BODY))
    assert headers["connection"] == "close"
    assert "date" in headers and headers["content-type"].startswith("text/html")

    status, _, body = parse(exchange(port2, request("GET", "/test")))
    assert (status, body) == ("HTTP/1.1 200 Everything is fine", BASIC_REQUEST_BODY)

    raw = exchange(port2, request("GET", "http://somehost.net/test"))
    assert parse(raw)[2] == BASIC_REQUEST_BODY

    status, headers, body = parse(exchange(port2, request("GET", "/test", extra="Empty: yes\r\n")))
    assert (headers["content-length"], body) == ("0", b"")
    assert seen[:3] == [
        ("/test", le.EVHTTP_REQ_GET, "somehost"),
        ("/test", le.EVHTTP_REQ_GET, "somehost"),
        ("http://somehost.net/test", le.EVHTTP_REQ_GET, "somehost.net"),
    ]


def test_allowed_methods(served: Served) -> None:
    """http/allowed_methods: GET is out, PATCH is in (CUSTOM needs evhttp_set_ext_method_cmp)."""
    le.evhttp_set_cb(served.http, "/test", http_basic_cb, None)
    le.evhttp_set_allowed_methods(served.http, le.EVHTTP_REQ_PATCH)
    served.start()
    # Method known but disallowed: evhttp answers 501, evweb 405 with Allow.
    assert exchange(served.port, request("GET", "/index.html")).startswith(b"HTTP/1.1 405 ")
    assert exchange(served.port, request("PATCH", "/test")).startswith(b"HTTP/1.1 200 ")
    assert exchange(served.port, request("FLOOP", "/test")).startswith(b"HTTP/1.1 501 ")


def test_allow_header_follows_evhttp_set_allowed_methods(served: Served) -> None:
    le.evhttp_set_allowed_methods(served.http, le.EVHTTP_REQ_PATCH | le.EVHTTP_REQ_HEAD)
    served.start()
    _, headers, _ = parse(exchange(served.port, request("GET", "/")))
    assert headers["allow"] == "HEAD, PATCH"


def test_data_length_constraints(served: Served) -> None:
    """http/data_length_constraints: long head -> 431 (evhttp: 400), big body -> 413."""
    http = served.http
    le.evhttp_set_cb(http, "/", http_basic_cb, None)  # before the limits, as in regress_http.c
    le.evhttp_set_max_headers_size(http, 1000)
    le.evhttp_set_max_body_size(http, 100)
    served.start()
    long_str = "a" * 1200

    raw = exchange(served.port, request("GET", "/?arg=val", extra=f"Longheader: {long_str}\r\n"))
    assert raw.startswith(b"HTTP/1.1 431 ")  # evhttp: 400 Bad Request
    raw = exchange(served.port, request("GET", "/?arg=" + long_str))
    # evhttp: 400 Bad Request; evweb: 414 or 431, whichever limit (max_line, max_header_size:
    # both set from the one evhttp size) the reader checks first.
    assert raw[:13] in (b"HTTP/1.1 414 ", b"HTTP/1.1 431 ")

    def post(size: int, extra: str = "") -> bytes:
        head = request("POST", "/", extra=f"Content-Length: {size}\r\n{extra}")
        return exchange(served.port, head + b"a" * size)

    assert post(101).startswith(b"HTTP/1.1 413 ")
    assert post(100).startswith(b"HTTP/1.1 200 ")
    with connect(served.port) as sock:  # Expect: 100-continue over the limit: 413 at once
        sock.sendall(request("POST", "/", extra="Content-Length: 101\r\nExpect: 100-continue\r\n"))
        assert read_all(sock).startswith(b"HTTP/1.1 413 ")
    with connect(served.port) as sock:  # under it: 100 Continue first
        sock.sendall(request("POST", "/", extra="Content-Length: 10\r\nExpect: 100-continue\r\n"))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"a" * 10)
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")
    assert post(5, "Expect: 101-continue\r\n").startswith(b"HTTP/1.1 417 ")


def test_send_error_page_format(served: Served) -> None:
    """evhttp_send_error's page: standard phrase in title and heading, reason below, close."""

    def cb(req: Request, arg: Any) -> None:
        le.evhttp_add_header(le.evhttp_request_get_output_headers(req), "X-Dropped", "yes")
        le.evhttp_send_error(req, le.HTTP_NOTFOUND, arg)

    le.evhttp_set_cb(served.http, "/reason", cb, "Sorry, not here")
    le.evhttp_set_cb(served.http, "/null", cb, None)
    served.start()
    with connect(served.port) as sock:  # keep-alive asked for, close imposed
        sock.sendall(b"GET /reason HTTP/1.1\r\nHost: somehost\r\n\r\n")
        status, headers, body = parse(read_all(sock))
    # evhttp's status line would read "404 Sorry, not here"; evweb's has the standard phrase.
    assert status == "HTTP/1.1 404 Not Found"
    assert body == (
        b"<html><head><title>404 Not Found</title></head><body>"
        b"<h1>404 Not Found</h1>Sorry, not here</body></html>"
    )
    assert headers["connection"] == "close"
    assert headers["content-type"].startswith("text/html")  # evhttp: exactly "text/html"
    assert "x-dropped" not in headers  # output headers are cleared, as in evhttp_send_page_
    _, _, body = parse(exchange(served.port, request("GET", "/null")))
    assert len(body) == 89  # http/error_callback, case 2: the same length as evhttp's


def test_error_callback(served: Served) -> None:
    """http/error_callback: evhttp_set_errorcb pages, and the fallback to the default."""
    state = {"index": 0}
    got = []

    def gencb(req: Request, arg: Any) -> None:
        le.evhttp_send_error(req, le.HTTP_NOTFOUND if arg["index"] in (2, 6) else 500, None)

    def errorcb(req: Request, buf: Buffer, error: int, reason: str | None, arg: Any) -> int:
        if arg["index"] in (4, 6, 7):
            le.evbuffer_add_printf(buf, "%d", error)
            return 0
        if arg["index"] == 9:  # text added, but -1: the default page
            le.evbuffer_add_printf(buf, "%d", error)
        return -1

    le.evhttp_set_allowed_methods(
        served.http,
        le.EVHTTP_REQ_GET | le.EVHTTP_REQ_HEAD | le.EVHTTP_REQ_PUT | le.EVHTTP_REQ_DELETE,
    )
    served.start()
    for index, (gen, err) in enumerate(
        [(0, 0), (0, 0), (1, 0), (1, 0), (0, 1), (0, 1), (1, 1), (1, 1), (0, 1), (0, 1)]
    ):
        state["index"] = index

        def configure(gen: int = gen, err: int = err) -> None:
            le.evhttp_set_gencb(served.http, gencb if gen else None, state)
            le.evhttp_set_errorcb(served.http, errorcb if err else None, state)

        served.call(configure)
        method = "POST" if index in (1, 3, 5, 7) else "GET"
        raw = exchange(served.port, request(method, "/missing", extra="Content-Length: 0\r\n"))
        status, headers, body = parse(raw)
        assert headers["content-type"].startswith("text/html")
        page = body.startswith(b"<html>") and len(body) > 89
        got.append((int(status.split()[1]), "page" if page else len(body)))
    # evhttp's table (regress_http.c error_callback_tests), with the body lengths that
    # are evhttp's ("page": the server's own default page, 152 bytes in evhttp, evweb's
    # is its own). The POSTs get 501 in evhttp, 405 here (known but disallowed). Case 8
    # (errorcb returns 0, buffer empty) is an empty body in evhttp, the default page
    # here: the error-page hook's empty result means "the default".
    assert got == [
        (404, "page"), (405, "page"), (404, 89), (405, "page"), (404, 3),
        (405, "page"), (404, 3), (405, 3), (404, "page"), (404, "page"),
    ]  # fmt: skip


def test_chunk_out(served: Served) -> None:
    """http/chunk_out and http/stream_out: a reply trickled over loop iterations."""
    flushed: list[Any] = []

    def trickle(fd: int, what: int, state: dict[str, Any]) -> None:
        evb = le.evbuffer_new()
        le.evbuffer_add(evb, CHUNKS[state["i"]])
        le.evhttp_send_reply_chunk_with_cb(state["req"], evb, lambda r, a: flushed.append(a), 42)
        assert le.evbuffer_get_length(evb) == 0
        state["i"] += 1
        if state["i"] < len(CHUNKS):
            le.event_base_once(served.base, -1, le.EV_TIMEOUT, trickle, state, 0)
        else:
            le.evhttp_send_reply_end(state["req"])

    def http_chunked_cb(req: Request, arg: Any) -> None:
        if le.evhttp_request_get_uri(req) == "/streamed":
            le.evhttp_add_header(le.evhttp_request_get_output_headers(req), "Content-Length", "39")
        le.evhttp_send_reply_start(req, le.HTTP_OK, "Everything is fine")
        le.event_base_once(served.base, -1, le.EV_TIMEOUT, trickle, {"req": req, "i": 0}, 0)

    le.evhttp_set_cb(served.http, "/chunked", http_chunked_cb, None)
    le.evhttp_set_cb(served.http, "/streamed", http_chunked_cb, None)
    served.start()

    status, headers, body = parse(exchange(served.port, request("GET", "/chunked")))
    assert status == "HTTP/1.1 200 Everything is fine"
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    assert dechunk(body) == CHUNKS
    assert body.startswith(b"d\r\nThis is funny\r\n12\r\nbut not hilarious.\r\n")
    # The last chunk's callback is lost when the connection closes right after
    # evhttp_send_reply_end (evhttp loses it too: send_reply_end replaces evcon->cb).
    assert flushed[:2] == [42, 42]

    status, headers, body = parse(exchange(served.port, request("GET", "/streamed")))
    assert headers["content-length"] == "39" and "transfer-encoding" not in headers
    assert body == b"".join(CHUNKS)

    raw = exchange(served.port, b"GET /chunked HTTP/1.0\r\n\r\n")  # 1.0: raw bytes, then close
    status, headers, body = parse(raw)
    assert status.startswith("HTTP/1.0 200") and "transfer-encoding" not in headers
    assert body == b"".join(CHUNKS)

    flushed.clear()
    with connect(served.port) as sock:  # keep-alive: two chunked replies on one connection
        for _ in range(2):
            sock.sendall(b"GET /chunked HTTP/1.1\r\nHost: somehost\r\n\r\n")
            data = b""
            while not data.endswith(b"0\r\n\r\n"):
                data += sock.recv(65536)
            assert dechunk(parse(data)[2]) == CHUNKS
        deadline = time.monotonic() + WAIT
        while len(flushed) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert flushed == [42] * 6  # on a connection that stays open, every callback runs


def test_virtual_host(served: Served) -> None:
    """http/virtual_host: glob patterns, aliases, Host with a port, an absolute URI."""
    http = served.http
    second = le.evhttp_new(None)
    third = le.evhttp_new(None)
    assert second is not None and third is not None
    le.evhttp_set_cb(second, "/funnybunny", http_basic_cb, http)
    le.evhttp_set_cb(third, "/blackcoffee", http_basic_cb, http)
    assert le.evhttp_add_virtual_host(http, "foo.com", second) == 0
    assert le.evhttp_add_virtual_host(http, "bar.*.foo.com", third) == 0
    assert le.evhttp_add_server_alias(second, "manolito.info") == 0
    assert le.evhttp_add_server_alias(third, "bonkers.org") == 0
    served.start()

    def get(path: str, host: str) -> bytes:
        return exchange(served.port, request("GET", path, host=host))

    assert get("/funnybunny", "somehost").startswith(b"HTTP/1.1 404 ")
    assert parse(get("/funnybunny", "foo.com"))[2] == BASIC_REQUEST_BODY
    assert parse(get("/blackcoffee", "bar.magic.foo.com"))[2] == BASIC_REQUEST_BODY
    assert parse(get("/funnybunny", "manolito.info"))[2] == BASIC_REQUEST_BODY
    assert parse(get("/blackcoffee", "bonkers.org:8000"))[2] == BASIC_REQUEST_BODY
    raw = get("http://manolito.info/funnybunny", "somehost")  # the URI's host wins
    assert parse(raw)[2] == BASIC_REQUEST_BODY

    served.call(lambda: le.evhttp_remove_virtual_host(http, second))
    assert get("/funnybunny", "foo.com").startswith(b"HTTP/1.1 404 ")
    served.call(lambda: le.evhttp_remove_server_alias(third, "bonkers.org"))
    assert get("/blackcoffee", "bonkers.org").startswith(b"HTTP/1.1 404 ")
    assert get("/blackcoffee", "bar.x.foo.com").startswith(b"HTTP/1.1 200 ")


def test_newreqcb(served: Served) -> None:
    """http/newreqcb: every 7th request is refused and its connection dropped unanswered."""
    noticed: list[str] = []

    def newreqcb(req: Request, arg: list[str]) -> int:
        arg.append(le.evhttp_request_get_uri(req))
        return -1 if len(arg) % 7 == 1 else 0

    le.evhttp_set_cb(served.http, "/test", http_basic_cb, None)
    le.evhttp_set_newreqcb(served.http, newreqcb, noticed)
    served.start()
    replies = [exchange(served.port, request("GET", "/test")) for _ in range(15)]
    good = [r for r in replies if r.startswith(b"HTTP/1.1 200 ")]
    assert len(good) == 12
    assert [i for i, r in enumerate(replies) if r == b""] == [0, 7, 14]
    assert noticed == ["/test"] * 15
    served.call(lambda: le.evhttp_set_newreqcb(served.http, None, None))
    assert exchange(served.port, request("GET", "/test")).startswith(b"HTTP/1.1 200 ")


def test_on_complete(served: Served) -> None:
    """http/on_complete: the callback runs once the reply left, with its arg."""
    completed: list[tuple[int, int]] = []

    def http_sent_cb(req: Request, arg: int) -> None:
        out = le.evhttp_request_get_output_buffer(req)
        completed.append((arg, le.evbuffer_get_length(out)))

    def http_on_complete_cb(req: Request, arg: Any) -> None:
        le.evhttp_request_set_on_complete_cb(req, lambda r, a: completed.append((-1, 0)), 0)
        le.evhttp_request_set_on_complete_cb(req, http_sent_cb, 0xDEADBEEF)  # replaces
        evb = le.evbuffer_new()
        le.evbuffer_add(le.evhttp_request_get_output_buffer(req), b"This ")
        le.evbuffer_add(evb, b"is funny")
        le.evhttp_send_reply(req, le.HTTP_OK, "Everything is fine", evb)
        assert le.evbuffer_get_length(evb) == 0  # drained, still the caller's

    le.evhttp_set_cb(served.http, "/oncomplete", http_on_complete_cb, None)
    served.start()
    raw = exchange(served.port, request("GET", "/oncomplete"))
    assert parse(raw)[2] == BASIC_REQUEST_BODY  # the output buffer, then databuf
    assert completed == [(0xDEADBEEF, 0)]


def test_post_echo_with_requests(served: Served) -> None:
    """http/post and http/chunked_input: the input buffer holds the body (sent chunked too)."""

    def echo(req: Request, arg: Any) -> None:
        assert le.evhttp_request_get_command(req) == le.EVHTTP_REQ_POST
        buf = le.evhttp_request_get_input_buffer(req)
        assert buf is le.evhttp_request_get_input_buffer(req)
        out = le.evbuffer_new()
        le.evbuffer_add_buffer(out, buf)
        assert le.evbuffer_get_length(le.evhttp_request_get_input_buffer(req)) == 0
        le.evhttp_add_header(le.evhttp_request_get_output_headers(req), "Content-Type", "x/y")
        le.evhttp_send_reply(req, le.HTTP_OK, "OK", out)

    le.evhttp_set_cb(served.http, "/postit", echo, None)
    served.start()
    url = f"http://127.0.0.1:{served.port}/postit"
    reply = requests.post(url, data=b"Okay. Not really printf", timeout=WAIT)
    assert (reply.status_code, reply.content) == (200, b"Okay. Not really printf")
    assert reply.headers["Content-Type"] == "x/y"
    reply = requests.post(url, data=iter([b"This is funny", b"but not hilarious."]), timeout=WAIT)
    assert reply.content == b"This is funnybut not hilarious."


def test_max_connections(served: Served) -> None:
    """http/max_connections: over the limit, 503 at once and close."""
    le.evhttp_set_cb(served.http, "/test", http_basic_cb, None)
    le.evhttp_set_max_connections(served.http, 2)
    served.start()
    with connect(served.port) as one, connect(served.port):
        deadline = time.monotonic() + WAIT
        while le.evhttp_get_connection_count(served.http) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert le.evhttp_get_connection_count(served.http) == 2
        assert exchange(served.port, request("GET", "/test")).startswith(b"HTTP/1.1 503 ")
        one.sendall(request("GET", "/test"))
        assert read_all(one).startswith(b"HTTP/1.1 200 ")
