"""The HTTP client against malformed and hostile servers: typed errors, and it keeps serving.

A raw-socket fake server (:mod:`tests.http.fake_server`) plays one script
per connection. For each hostile answer the request must end with the
specific typed error, whose message names the rule; the pool must have
dropped the bad connection; the next request (the fake server's next
connection answers well) must succeed; and no fd may be left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evweb.errors import (
    ContentTooLargeError,
    EvwebError,
    InvalidResponseError,
    ReadTimeoutError,
    ServerDisconnectedError,
)
from evweb.http import Client, ClientRequest, ConnectionState, HTTPConnection, Limits, Timeouts
from evweb.http._exchange_io import MAX_INTERIM
from evweb.http.exchange import ResponseFuture
from evweb.reactor import EventBase
from tests.helpers import spin
from tests.http.fake_server import (
    Conn,
    FakeServer,
    Script,
    close,
    drip,
    fake_server,
    recv,
    reset,
    response,
    send,
    sleep,
    wait_for_close,
)

WAIT = 5.0  # bounds every request of this file


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def loop() -> Iterator[EventBase]:
    base = EventBase()
    yield base
    base.close()


def _client(base: EventBase, **kwargs: object) -> Client:
    kwargs.setdefault("timeouts", Timeouts(connect=2, read=0.3, write=2, pool=2))
    return Client(base, **kwargs)  # type: ignore[arg-type]


def _error(future: ResponseFuture) -> BaseException:
    with pytest.raises(EvwebError) as info:
        future.wait(WAIT)
    return info.value


def _head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- the hostile answers ----------------------------------------------------------------

HUGE_HEAD = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 20_000  # never ends


def _answer(data: bytes, *then: object) -> Script:
    """Read the request, send ``data``, then the given steps (default: close)."""
    return (recv, send(data), *(then or (close,)))  # type: ignore[return-value]


CASES: list[tuple[str, Script, type[BaseException], str]] = [
    (
        "negative-content-length",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length: -5") + b"hello"),
        InvalidResponseError,
        "invalid Content-Length",
    ),
    (
        "content-length-not-digits",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length: 0x10") + b"x" * 16),
        InvalidResponseError,
        "invalid Content-Length",
    ),
    (
        "conflicting-content-length",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 6") + b"abcdef"),
        InvalidResponseError,
        "differing Content-Length values",
    ),
    (
        "conflicting-content-length-list",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length: 5, 6") + b"abcdef"),
        InvalidResponseError,
        "differing Content-Length values",
    ),
    (
        "content-length-and-chunked",
        _answer(
            _head("HTTP/1.1 200 OK", "Content-Length: 3", "Transfer-Encoding: chunked")
            + b"3\r\nabc\r\n0\r\n\r\n"
        ),
        InvalidResponseError,
        "both Transfer-Encoding and Content-Length",
    ),
    (
        "chunked-in-http-1.0",
        _answer(_head("HTTP/1.0 200 OK", "Transfer-Encoding: chunked") + b"0\r\n\r\n"),
        InvalidResponseError,
        "Transfer-Encoding in an HTTP/1.0 response",
    ),
    (
        "bad-chunk-size",
        _answer(_head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"zz\r\nabc\r\n"),
        InvalidResponseError,
        "invalid chunk size line",
    ),
    (
        "negative-chunk-size",
        _answer(_head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"-3\r\nabc\r\n"),
        InvalidResponseError,
        "invalid chunk size line",
    ),
    (
        "bad-chunk-extension",
        _answer(_head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"3;=x\r\nabc\r\n"),
        InvalidResponseError,
        "invalid chunk size line",
    ),
    (
        "chunk-size-line-never-ends",
        _answer(
            _head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"3" * 5000, wait_for_close
        ),
        InvalidResponseError,
        "chunk size line longer than 4096 bytes",
    ),
    (
        "chunk-data-overruns",
        _answer(_head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"3\r\nabcdef\r\n"),
        InvalidResponseError,
        "chunk data not followed by CRLF",
    ),
    (
        "huge-chunk-size",
        _answer(_head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"f" * 17 + b"\r\n"),
        InvalidResponseError,
        "invalid chunk size line",
    ),
    (
        "garbage-status-line",
        _answer(b"\x00\xffHELLO THERE\r\n\r\n"),
        InvalidResponseError,
        "malformed status line",
    ),
    (
        "status-code-out-of-range",
        _answer(_head("HTTP/1.1 999 Nope", "Content-Length: 0")),
        InvalidResponseError,
        "status code outside 100..599",
    ),
    (
        "http-0.9-body-without-head",
        _answer(b"<html>hello</html>\r\n\r\n"),
        InvalidResponseError,
        "malformed status line",
    ),
    (
        "http2-preface-answer",
        # what an h2-only server sends: a SETTINGS frame, then GOAWAY (no CRLFs at all)
        _answer(
            b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
            b"\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
            wait_for_close,
        ),
        InvalidResponseError,
        "malformed status line: '\\x00\\x00\\x00\\x04",
    ),
    (
        "banner-then-close",
        _answer(b"SSH-2.0-OpenSSH_9.6\r\n"),
        InvalidResponseError,
        "malformed status line: 'SSH-2.0",
    ),
    (
        "leading-empty-line",
        _answer(b"\r\n" + response()),
        InvalidResponseError,
        "malformed status line",
    ),
    (
        "http2-status-line",
        _answer(_head("HTTP/2 200", "Content-Length: 0")),
        InvalidResponseError,
        "malformed status line",
    ),
    (
        "http-major-version-2",
        _answer(_head("HTTP/2.0 200 OK", "Content-Length: 0")),
        InvalidResponseError,
        "HTTP major version not supported",
    ),
    (
        "bare-lf-head",
        _answer(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
        InvalidResponseError,
        "bare LF",
    ),
    (
        "obs-fold",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length: 2", " folded") + b"ok"),
        InvalidResponseError,
        "obsolete line folding",
    ),
    (
        "header-without-colon",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length 2") + b"ok"),
        InvalidResponseError,
        "header line without a colon",
    ),
    (
        "headers-never-end",
        _answer(HUGE_HEAD, wait_for_close),
        InvalidResponseError,
        "message head larger than 16384 bytes",
    ),
    (
        "too-many-fields",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length: 0", *[f"X-{i}: y" for i in range(150)])),
        InvalidResponseError,
        "more than 100 header fields",
    ),
    (
        "interim-flood",
        _answer(b"HTTP/1.1 102 Processing\r\n\r\n" * (MAX_INTERIM + 5), wait_for_close),
        InvalidResponseError,
        f"more than {MAX_INTERIM} interim responses",
    ),
    (
        "close-before-responding",
        (recv, close),
        ServerDisconnectedError,
        "closed before responding",
    ),
    (
        "close-mid-status-line",
        _answer(b"HTTP/1.1 20"),
        ServerDisconnectedError,
        "in the middle of a message head",
    ),
    (
        "close-mid-head",
        _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"),
        ServerDisconnectedError,
        "in the middle of a message head",
    ),
    (
        "close-mid-body",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length: 100") + b"only some"),
        ServerDisconnectedError,
        "91 of 100 bytes missing",
    ),
    (
        "close-mid-chunk",
        _answer(_head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"a\r\nabc"),
        ServerDisconnectedError,
        "in the middle of a body",
    ),
    (
        "close-before-last-chunk",
        _answer(_head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"3\r\nabc\r\n"),
        ServerDisconnectedError,
        "in the middle of a body",
    ),
    (
        "close-after-interim",
        _answer(b"HTTP/1.1 100 Continue\r\n\r\n"),
        ServerDisconnectedError,
        "in the middle of the response",
    ),
    (
        "reset-before-responding",
        (recv, reset),
        ServerDisconnectedError,
        "closed before responding",
    ),
    (
        "reset-mid-head",
        _answer(b"HTTP/1.1 200 OK\r\nContent-Le", sleep(0.05), reset),
        ServerDisconnectedError,
        "in the middle of",
    ),
    (
        "reset-mid-body",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length: 100") + b"abc", sleep(0.05), reset),
        ServerDisconnectedError,
        "in the middle of",
    ),
    (
        "silence",
        (recv, wait_for_close),
        ReadTimeoutError,
        "sent nothing for 0.3 s",
    ),
    (
        "silence-mid-body",
        _answer(_head("HTTP/1.1 200 OK", "Content-Length: 10") + b"abc", wait_for_close),
        ReadTimeoutError,
        "sent nothing for 0.3 s",
    ),
]


@pytest.mark.parametrize(
    ("script", "error_type", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_answer_fails_typed_and_the_client_keeps_serving(
    loop: EventBase, script: Script, error_type: type[BaseException], rule: str
) -> None:
    fds = _fds()
    with fake_server(script) as srv, _client(loop) as client:
        error = _error(client.get(srv.url + "/bad"))
        assert type(error) is error_type, repr(error)
        assert rule in str(error)
        assert client.pool.total == 0, "the pool kept the bad connection"
        good = client.get(srv.url + "/good").wait(WAIT)
        assert (good.status, good.body) == (200, b"ok")
        assert srv.accepted == 2
        assert client.pool.total == client.pool.idle_count() == 1
    assert _fds() == fds


_ON_EACH_BACKEND = ("close-mid-body", "headers-never-end", "reset-mid-body", "interim-flood")


def test_hostile_answers_on_each_backend(base: EventBase) -> None:
    cases = [c for c in CASES if c[0] in _ON_EACH_BACKEND]
    with fake_server(*[c[1] for c in cases]) as srv, _client(base) as client:
        for _, _, error_type, rule in cases:
            error = _error(client.get(srv.url + "/bad"))
            assert type(error) is error_type and rule in str(error), repr(error)
            assert client.pool.total == 0
        assert client.get(srv.url + "/good").wait(WAIT).body == b"ok"


def test_close_mid_body_keeps_the_cause(loop: EventBase) -> None:
    script = _answer(_head("HTTP/1.1 200 OK", "Content-Length: 100") + b"only some")
    with fake_server(script) as srv, _client(loop) as client:
        error = _error(client.get(srv.url + "/"))
        assert isinstance(error, ServerDisconnectedError)
        assert isinstance(error, ConnectionError)
        assert "127.0.0.1:" in str(error)
        assert isinstance(error.__cause__, InvalidResponseError)


def test_body_over_the_limit(loop: EventBase) -> None:
    declared = _answer(_head("HTTP/1.1 200 OK", "Content-Length: 5000") + b"x" * 5000)
    chunked = _answer(
        _head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"800\r\n" + b"x" * 2048
    )
    until_close = _answer(_head("HTTP/1.1 200 OK") + b"x" * 5000)
    with (
        fake_server(declared, chunked, until_close) as srv,
        _client(loop, max_body_size=1000) as client,
    ):
        for rule in ("Content-Length 5000 is over the limit of 1000", "chunked body", "body"):
            error = _error(client.get(srv.url + "/"))
            assert type(error) is ContentTooLargeError
            assert rule in str(error) and "limit of 1000" in str(error)
            assert client.pool.total == 0
        assert client.get(srv.url + "/").wait(WAIT).body == b"ok"


# -- slow servers --------------------------------------------------------------------


def test_slow_drip_completes_when_each_byte_comes_within_the_read_timeout(
    loop: EventBase,
) -> None:
    # the read timeout bounds silence, not the whole response: 40 bytes 20 ms apart
    # take 0.8 s, longer than the 0.3 s read timeout, and still complete
    answer = response(b"drip" * 5)
    with (
        fake_server((recv, drip(answer, 0.02), wait_for_close)) as srv,
        _client(loop, timeouts=Timeouts(connect=2, read=0.3, write=2, pool=2)) as client,
    ):
        got = client.get(srv.url + "/").wait(WAIT)
        assert got.body == b"drip" * 5


def test_slow_drip_of_an_endless_head_hits_the_head_limit(loop: EventBase) -> None:
    # a drip that never ends a head is stopped by max_header_size, not by the read
    # timeout: 1024 bytes at 64 bytes per 20 ms take longer than the 0.3 s timeout
    body = b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 4000
    with fake_server((recv, drip(body, 0.02, size=64), wait_for_close)) as srv:
        timeouts = Timeouts(read=0.3)
        with HTTPConnection(
            loop, "127.0.0.1", srv.port, timeouts=timeouts, max_header_size=1024
        ) as conn:
            error = _error(conn.request(ClientRequest("GET", "/", [("Host", "x")])))
            assert type(error) is InvalidResponseError
            assert "message head larger than 1024 bytes" in str(error)
            assert conn.state is ConnectionState.DISCONNECTED


def test_slow_drip_of_an_endless_body_hits_the_body_limit(loop: EventBase) -> None:
    script = (recv, send(_head("HTTP/1.1 200 OK")), drip(b"z" * 3000, 0.001, size=100))
    with (
        fake_server(script) as srv,
        _client(loop, max_body_size=1000) as client,
    ):
        error = _error(client.get(srv.url + "/"))
        assert type(error) is ContentTooLargeError
        assert "limit of 1000" in str(error)
        assert client.get(srv.url + "/").wait(WAIT).ok


# -- idle connections ------------------------------------------------------------------


def test_bytes_sent_while_idle_drop_the_connection(base: EventBase) -> None:
    script = (recv, send(response()), sleep(0.05), send(b"HTTP/1.1 200 OK\r\n\r\n"), wait_for_close)
    with fake_server(script) as srv, _client(base) as client:
        assert client.get(srv.url + "/").wait(WAIT).body == b"ok"
        assert client.pool.idle_count() == 1
        spin(base, lambda: client.pool.total == 0, seconds=WAIT)
        assert client.get(srv.url + "/").wait(WAIT).body == b"ok"
        assert srv.accepted == 2


def test_server_closing_an_idle_connection_is_noticed(loop: EventBase) -> None:
    script = (recv, send(response()), sleep(0.05), close)
    with fake_server(script) as srv, _client(loop) as client:
        assert client.get(srv.url + "/").wait(WAIT).ok
        spin(loop, lambda: client.pool.total == 0, seconds=WAIT)
        assert client.get(srv.url + "/").wait(WAIT).ok


def test_stale_keep_alive_connection_is_retried_once(loop: EventBase) -> None:
    # the server takes the second request, then closes without answering: the
    # idempotent GET goes again over a new connection
    script = (recv, send(response(b"one")), recv, close)
    with fake_server(script) as srv, _client(loop) as client:
        assert client.get(srv.url + "/").wait(WAIT).body == b"one"
        assert client.get(srv.url + "/").wait(WAIT).body == b"ok"
        assert srv.accepted == 2


def test_stale_connection_is_not_retried_for_post(loop: EventBase) -> None:
    script = (recv, send(response(b"one")), recv, close)
    with fake_server(script) as srv, _client(loop) as client:
        assert client.get(srv.url + "/").wait(WAIT).body == b"one"
        error = _error(client.post(srv.url + "/", body=b"data"))
        assert type(error) is ServerDisconnectedError
        assert client.post(srv.url + "/", body=b"data").wait(WAIT).body == b"ok"


# -- many in a row, and fds -------------------------------------------------------------


def test_hostile_rounds_leave_no_fd_behind(loop: EventBase) -> None:
    scripts = [c[1] for c in CASES if c[2] is not ReadTimeoutError]
    with fake_server(*scripts) as srv:
        before = _fds()
        with _client(loop, limits=Limits(keepalive_expiry=None)) as client:
            for _ in scripts:
                assert isinstance(_error(client.get(srv.url + "/")), EvwebError)
                assert client.pool.total == 0
            assert client.get(srv.url + "/").wait(WAIT).ok
            # the good connection's two ends; the server's threads close theirs as they end
            spin(loop, lambda: _fds() <= before + 2, seconds=WAIT)
        spin(loop, lambda: _fds() <= before, seconds=WAIT)
        assert srv.accepted == len(scripts) + 1


# -- fuzzing ----------------------------------------------------------------------------

_SEEDS = [
    response(b"hello"),
    _head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + b"5\r\nhello\r\n0\r\nX: y\r\n\r\n",
    _head("HTTP/1.0 200 OK") + b"until close",
    b"HTTP/1.1 100 Continue\r\n\r\n" + response(b"after"),
    _head("HTTP/1.1 204 No Content"),
    _head("HTTP/1.1 304 Not Modified", "Content-Length: 50"),
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "dup", "cut"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from([b"\r\n", b"\n", b":", b" ", b"\x00", b"0"]))
        elif kind == "delete" and data:
            del data[pos]
        elif kind == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 20))]
        elif kind == "cut":
            del data[pos:]
    return bytes(data)


_responses = st.one_of(_mutated(), st.binary(max_size=300))


class _Payload:
    """A script step sending whatever the test put in ``data``, then closing or waiting."""

    def __init__(self) -> None:
        self.data = b""
        self.close_after = True

    def __call__(self, conn: Conn) -> bool:
        conn.sock.sendall(self.data)
        if self.close_after:
            return close(conn)
        return wait_for_close(conn)


@pytest.fixture
def fuzz_server() -> Iterator[tuple[FakeServer, _Payload]]:
    payload = _Payload()
    with fake_server(default=(recv, payload)) as srv:
        yield srv, payload


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_responses, close_after=st.booleans())
def test_fuzzed_responses_give_a_response_or_a_typed_error(
    loop: EventBase,
    fuzz_server: tuple[FakeServer, _Payload],
    data: bytes,
    close_after: bool,
) -> None:
    srv, payload = fuzz_server
    payload.data, payload.close_after = data, close_after
    conn = HTTPConnection(loop, "127.0.0.1", srv.port, timeouts=Timeouts(read=0.1))
    try:
        future = conn.request(ClientRequest("GET", "/", [("Host", "fuzz")]))
        try:
            got = future.wait(WAIT)
        except EvwebError:
            pass
        else:
            assert 200 <= got.status <= 599
        assert future.done() and not future.cancelled()
    finally:
        conn.close()
    # the loop still runs: a timer fires
    fired: list[bool] = []
    loop.timer(lambda *_: fired.append(True)).add(0)
    spin(loop, lambda: fired)
