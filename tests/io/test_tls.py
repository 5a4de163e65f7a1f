"""TLSBufferEvent: libevent's openssl/ group (regress_ssl.c) over memory BIOs and real sockets."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trustme

from evweb.errors import ConfigError, TLSError
from evweb.io import TLSBufferEvent, TLSFlag, TLSState
from evweb.io.bevflags import CONNECTED, EOF, ERROR, READING, TIMEOUT, BevOption
from evweb.libevent import (
    BUFFEREVENT_SSL_ACCEPTING,
    BUFFEREVENT_SSL_BATCH_WRITE,
    BUFFEREVENT_SSL_CONNECTING,
    BUFFEREVENT_SSL_DIRTY_SHUTDOWN,
    bufferevent_get_openssl_error,
    bufferevent_openssl_get_allow_dirty_shutdown,
    bufferevent_openssl_get_ssl,
    bufferevent_openssl_socket_new,
    bufferevent_ssl_clear_flags,
    bufferevent_ssl_get_flags,
    bufferevent_ssl_set_flags,
)
from evweb.reactor import NONBLOCK, ONCE, READ, EventBase

Pair = tuple[socket.socket, socket.socket]


def spin(base: EventBase, until: Callable[[], object], limit: int = 400) -> None:
    """Run the loop until ``until()`` holds, a bounded number of times (each at most 5 ms idle)."""
    for _ in range(limit):
        if until():
            return
        base.loop(ONCE | NONBLOCK)
        if not until():
            base.loopexit(0.005)
            base.dispatch()
    assert until(), "condition not reached"


def settle(base: EventBase, rounds: int = 20) -> None:
    """Let the loop run a little with nothing expected."""
    for _ in range(rounds):
        base.loopexit(0.002)
        base.dispatch()


# --- certificates --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1")


@pytest.fixture
def server_ctx(server_cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(ctx)
    return ctx


@pytest.fixture
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificate and hostname
    ca.configure_trust(ctx)
    return ctx


class Recorder:
    """Collects what a TLSBufferEvent reports."""

    def __init__(self, bev: TLSBufferEvent, drain: bool = True) -> None:
        self.bev = bev
        self.data = bytearray()
        self.events: list[int] = []
        self.drain = drain
        bev.set_callbacks(read=self._read, event=self._event)
        bev.enable(READ)

    def _read(self, bev: Any, arg: Any) -> None:
        if self.drain:
            self.data += bev.read()

    def _event(self, bev: Any, what: int, arg: Any) -> None:
        self.events.append(what)

    def saw(self, bit: int) -> bool:
        return any(what & bit for what in self.events)


@contextmanager
def tls_ends(
    base: EventBase,
    pair: Pair,
    client_ctx: ssl.SSLContext,
    server_ctx: ssl.SSLContext,
    hostname: str = "localhost",
    options: BevOption = BevOption.NONE,
    opened: bool = False,
) -> Iterator[tuple[TLSBufferEvent, TLSBufferEvent]]:
    """A client on ``pair[0]`` and a server on ``pair[1]``, closed on leaving (not the sockets).

    ``opened``: both start in the OPEN state instead of CONNECTING and ACCEPTING.
    """
    client_state = TLSState.OPEN if opened else TLSState.CONNECTING
    server_state = TLSState.OPEN if opened else TLSState.ACCEPTING
    with (
        TLSBufferEvent(
            base, pair[0], client_ctx, client_state, options, server_hostname=hostname
        ) as client,
        TLSBufferEvent(base, pair[1], server_ctx, server_state, options) as server,
    ):
        yield client, server


@pytest.fixture
def tls_pair(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> Iterator[tuple[TLSBufferEvent, TLSBufferEvent]]:
    """A client and a server on a socketpair; the pair fixture closes the sockets."""
    with tls_ends(base, pair, client_ctx, server_ctx) as ends:
        yield ends


def handshake(
    base: EventBase, client: TLSBufferEvent, server: TLSBufferEvent
) -> tuple[Recorder, Recorder]:
    c, s = Recorder(client), Recorder(server)
    spin(base, lambda: c.events and s.events)
    assert c.events == [CONNECTED] and s.events == [CONNECTED]
    return c, s


# --- handshake and data --------------------------------------------------------------------


def test_handshake_reports_connected_once_on_both_ends(
    base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    assert client.state == TLSState.CONNECTING and server.state == TLSState.ACCEPTING
    c, s = handshake(base, client, server)
    settle(base)
    assert c.events == [CONNECTED] and s.events == [CONNECTED]
    assert client.state == server.state == TLSState.OPEN
    assert client.version is not None and client.version.startswith("TLS")
    assert client.cipher is not None and client.cipher == server.cipher
    assert client.server_hostname == "localhost"
    cert = client.peer_certificate
    assert cert is not None and ("DNS", "localhost") in cert["subjectAltName"]
    assert server.peer_certificate is None or server.peer_certificate == {}


def test_data_both_ways(base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]) -> None:
    client, server = tls_pair
    c, s = handshake(base, client, server)
    client.write(b"ping")
    spin(base, lambda: s.data == b"ping")
    server.write(b"pong")
    spin(base, lambda: c.data == b"pong")


def test_data_written_before_the_handshake_waits_for_it(
    base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    client.write(b"early")
    c, s = Recorder(client), Recorder(server)
    spin(base, lambda: s.data == b"early")
    assert c.events == [CONNECTED] and s.events == [CONNECTED]


@pytest.mark.parametrize("batch", [False, True])
def test_one_mebibyte_each_way(
    base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent], batch: bool
) -> None:
    client, server = tls_pair
    if batch:
        client.set_flags(TLSFlag.BATCH_WRITE)
        server.set_flags(TLSFlag.BATCH_WRITE)
    c, s = handshake(base, client, server)
    up, down = os.urandom(1 << 20), os.urandom(1 << 20)
    for i in range(0, len(up), 1000):  # many small segments
        client.write(up[i : i + 1000])
    server.write(down)
    spin(base, lambda: len(s.data) == len(up) and len(c.data) == len(down), limit=5000)
    assert bytes(s.data) == up and bytes(c.data) == down


def test_write_callback_runs_once_output_is_on_the_wire(
    base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    handshake(base, client, server)
    seen: list[int] = []
    client.set_callbacks(write=lambda bev, arg: seen.append(len(bev.output)))
    client.write(b"x" * 100_000)
    spin(base, lambda: seen)
    assert seen[-1] == 0


def test_deferred_callbacks(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    opts = BevOption.DEFER_CALLBACKS
    with tls_ends(base, pair, client_ctx, server_ctx, options=opts) as (client, server):
        _c, s = handshake(base, client, server)
        client.write(b"deferred")
        spin(base, lambda: s.data == b"deferred")


def test_loopback_tcp_connect(
    base: EventBase, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        lsock.settimeout(5)
        client = TLSBufferEvent(
            base, None, client_ctx, TLSState.CONNECTING, server_hostname="127.0.0.1"
        )
        c = Recorder(client)
        client.connect(lsock.getsockname())
        conn, _ = lsock.accept()
        server = TLSBufferEvent(base, conn, server_ctx, TLSState.ACCEPTING, BevOption.CLOSE_ON_FREE)
        s = Recorder(server)
        try:
            spin(base, lambda: c.events and s.events)
            client.write(b"over tcp")
            data = os.urandom(1 << 20)
            server.write(data)
            spin(base, lambda: s.data == b"over tcp" and len(c.data) == len(data), limit=5000)
            assert bytes(c.data) == data
            settle(base)
            assert c.events == [CONNECTED] and s.events == [CONNECTED]
        finally:
            client.close()
            server.close()


def test_connect_refused_is_an_error(base: EventBase, client_ctx: ssl.SSLContext) -> None:
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        addr = lsock.getsockname()
    client = TLSBufferEvent(base, None, client_ctx, TLSState.CONNECTING, server_hostname="x")
    c = Recorder(client)
    client.connect(addr)
    spin(base, lambda: c.events)
    assert c.events == [ERROR] and isinstance(client.error, ConnectionRefusedError)
    client.close()


def test_connect_on_a_server_side_is_refused(base: EventBase, server_ctx: ssl.SSLContext) -> None:
    with (
        TLSBufferEvent(base, None, server_ctx, TLSState.ACCEPTING) as server,
        pytest.raises(TLSError),
    ):
        server.connect(("127.0.0.1", 1))


def test_invalid_state_and_missing_hostname(base: EventBase, client_ctx: ssl.SSLContext) -> None:
    with pytest.raises(ConfigError):
        TLSBufferEvent(base, None, client_ctx, 7, server_hostname="localhost")
    with pytest.raises(ConfigError):
        TLSBufferEvent(base, None, client_ctx, TLSState.CONNECTING)  # check_hostname needs one


# --- refusals ----------------------------------------------------------------------------


def _refused(base: EventBase, client: TLSBufferEvent, server: TLSBufferEvent) -> Recorder:
    c, s = Recorder(client), Recorder(server)
    spin(base, lambda: c.saw(ERROR) and s.events)
    assert c.events[-1] & ERROR and not c.saw(CONNECTED)
    assert isinstance(client.error, ssl.SSLCertVerificationError)
    assert client.error.reason == "CERTIFICATE_VERIFY_FAILED"
    assert client.tls_errors == [client.error]
    assert s.saw(ERROR) and not s.saw(CONNECTED)
    assert isinstance(server.error, ssl.SSLError)
    base.loop(NONBLOCK)  # the loop goes on
    return c


def test_hostname_mismatch_is_refused(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    with tls_ends(base, pair, client_ctx, server_ctx, "example.com") as (client, server):
        _refused(base, client, server)
        err = client.error
        assert isinstance(err, ssl.SSLCertVerificationError)
        assert "mismatch" in err.verify_message


def test_unknown_ca_is_refused(base: EventBase, pair: Pair, server_ctx: ssl.SSLContext) -> None:
    other = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trustme.CA().configure_trust(other)
    with tls_ends(base, pair, other, server_ctx) as (client, server):
        _refused(base, client, server)


def test_garbage_to_a_server_is_an_error(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext
) -> None:
    with TLSBufferEvent(base, pair[1], server_ctx, TLSState.ACCEPTING) as server:
        s = Recorder(server)
        pair[0].send(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(200))
        spin(base, lambda: s.events)
        assert s.events == [READING | ERROR]
        assert isinstance(server.error, ssl.SSLError) and server.error.reason
        assert server.tls_errors == [server.error]
        base.loop(NONBLOCK)


def test_garbage_to_a_client_is_an_error(
    base: EventBase, pair: Pair, client_ctx: ssl.SSLContext
) -> None:
    with TLSBufferEvent(
        base, pair[0], client_ctx, TLSState.CONNECTING, server_hostname="localhost"
    ) as client:
        c = Recorder(client)
        pair[1].send(b"\x16\x03\x01\x00\x05hello" + b"\xff" * 100)
        spin(base, lambda: c.events)
        assert c.events == [READING | ERROR]
        assert isinstance(client.error, ssl.SSLError)


def test_peer_vanishing_during_the_handshake(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext
) -> None:
    with TLSBufferEvent(base, pair[1], server_ctx, TLSState.ACCEPTING) as server:
        s = Recorder(server)
        pair[0].shutdown(socket.SHUT_WR)
        spin(base, lambda: s.events)
        assert s.events == [READING | ERROR]
        assert isinstance(server.error, ssl.SSLEOFError)


def test_server_requires_a_client_certificate(
    base: EventBase,
    pair: Pair,
    ca: trustme.CA,
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
) -> None:
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_ctx)
    ca.issue_cert("client@example.org").configure_cert(client_ctx)
    with tls_ends(base, pair, client_ctx, server_ctx) as (client, server):
        handshake(base, client, server)
        cert = server.peer_certificate
        assert cert is not None and ("email", "client@example.org") in cert["subjectAltName"]


def test_server_refuses_a_client_without_certificate(
    base: EventBase,
    pair: Pair,
    ca: trustme.CA,
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
) -> None:
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_ctx)
    with tls_ends(base, pair, client_ctx, server_ctx) as (client, server):
        c, s = Recorder(client), Recorder(server)
        spin(base, lambda: s.events and c.saw(ERROR))
        assert s.events == [READING | ERROR] and isinstance(server.error, ssl.SSLError)
        # TLS 1.3: the client finishes first, then reads the server's alert
        assert c.events[-1] & ERROR and isinstance(client.error, ssl.SSLError)


# --- the end of a connection ----------------------------------------------------------------


def test_close_notify_is_eof(
    base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    _c, s = handshake(base, client, server)
    client.write(b"last words")
    spin(base, lambda: s.data == b"last words")
    client.close()
    spin(base, lambda: len(s.events) > 1)
    assert s.events == [CONNECTED, READING | EOF]
    assert server.error is None and server.tls_errors == []


def test_tcp_close_without_close_notify_is_an_error(
    base: EventBase, pair: Pair, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    _c, s = handshake(base, client, server)
    pair[0].shutdown(socket.SHUT_RDWR)
    spin(base, lambda: len(s.events) > 1)
    assert s.events == [CONNECTED, READING | ERROR]
    assert isinstance(server.error, ssl.SSLEOFError)
    assert server.error.reason == "UNEXPECTED_EOF_WHILE_READING"


def test_dirty_shutdown_flag_makes_it_eof(
    base: EventBase, pair: Pair, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    server.dirty_shutdown = True
    assert server.flags == TLSFlag.DIRTY_SHUTDOWN
    _c, s = handshake(base, client, server)
    client.write(b"then gone")
    spin(base, lambda: s.data == b"then gone")
    pair[0].shutdown(socket.SHUT_RDWR)
    spin(base, lambda: len(s.events) > 1)
    assert s.events == [CONNECTED, READING | EOF]
    assert server.error is None


def test_data_before_close_is_delivered_before_eof(
    base: EventBase, pair: Pair, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    order: list[object] = []
    _c, _s = handshake(base, client, server)
    server.set_callbacks(
        read=lambda bev, arg: order.append(bev.read()),
        event=lambda bev, what, arg: order.append(what),
    )
    client.write(b"a" * 50_000)
    spin(base, lambda: not client.output)
    client.close()
    spin(base, lambda: order and order[-1] == READING | EOF)
    assert b"".join(x for x in order if isinstance(x, bytes)) == b"a" * 50_000


# --- flow control and hooks -----------------------------------------------------------------


def test_read_high_watermark_holds_over_tls(
    base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    c, _s = handshake(base, client, server)
    high = 3000
    c.drain = False
    client.set_watermark(READ, 0, high)
    data = os.urandom(200_000)
    server.write(data)
    spin(base, lambda: len(client.input) >= high)
    settle(base)
    assert len(client.input) == high  # stopped exactly at the watermark
    received = bytearray()
    for _ in range(2000):
        assert len(client.input) <= high
        received.extend(client.read(1000))  # resumes; SSL's buffered plaintext comes first
        if len(received) == len(data):
            break
        spin(base, lambda: len(client.input) > 0 or len(received) == len(data))
    assert bytes(received) == data


def test_reading_disabled_keeps_data_until_enabled(
    base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    c, _s = handshake(base, client, server)
    client.disable(READ)
    server.write(b"held")
    settle(base)
    assert c.data == b""
    client.enable(READ)
    spin(base, lambda: c.data == b"held")


def test_open_state_handshakes_implicitly_without_connected(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    with tls_ends(base, pair, client_ctx, server_ctx, opened=True) as (client, server):
        assert not client.ssl_object.server_side and server.ssl_object.server_side
        c, s = Recorder(client), Recorder(server)
        client.write(b"hello")
        spin(base, lambda: s.data == b"hello")
        server.write(b"back")
        spin(base, lambda: c.data == b"back")
        assert c.events == s.events == []
        assert client.version == server.version is not None


def test_read_timeout_over_tls(
    base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    client, server = tls_pair
    c, _s = handshake(base, client, server)
    client.set_timeouts(0.05, None)
    spin(base, lambda: len(c.events) > 1)
    assert c.events == [CONNECTED, READING | TIMEOUT]
    assert not client.enabled & READ
    server.write(b"late")
    client.enable(READ)
    spin(base, lambda: c.data == b"late")


def test_silent_peer_times_out_during_the_handshake(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext
) -> None:
    with TLSBufferEvent(base, pair[1], server_ctx, TLSState.ACCEPTING) as server:
        s = Recorder(server)
        server.set_timeouts(0.05, None)
        spin(base, lambda: s.events)
        assert s.events == [READING | TIMEOUT]


class Counting(TLSBufferEvent):
    """Counts raw bytes through the extension points and reads small pieces (like a limiter)."""

    raw_in = 0
    raw_out = 0

    def _read_budget(self) -> int:
        return min(super()._read_budget(), 700)

    def _write_budget(self) -> int:
        return min(super()._write_budget(), 900)

    def _note_read(self, n: int) -> None:
        assert n <= 700
        self.raw_in += n

    def _note_written(self, n: int) -> None:
        assert n <= 900
        self.raw_out += n


def test_socket_io_goes_through_budget_and_note_hooks(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    with (
        Counting(
            base, pair[0], client_ctx, TLSState.CONNECTING, server_hostname="localhost"
        ) as client,
        Counting(base, pair[1], server_ctx, TLSState.ACCEPTING) as server,
    ):
        _c, s = handshake(base, client, server)
        data = os.urandom(20_000)
        client.write(data)
        spin(base, lambda: len(s.data) == len(data), limit=2000)
        assert s.data == data
        assert client.raw_out == server.raw_in > len(data)  # every wire byte, overhead included
        assert server.raw_out == client.raw_in > 0  # handshake and tickets


# --- libevent names ------------------------------------------------------------------------


def test_libevent_api(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    client = bufferevent_openssl_socket_new(
        base, pair[0].fileno(), client_ctx, BUFFEREVENT_SSL_CONNECTING, 0, "localhost"
    )
    server = bufferevent_openssl_socket_new(base, pair[1], server_ctx, BUFFEREVENT_SSL_ACCEPTING, 0)
    assert client is not None and server is not None
    try:
        assert bufferevent_openssl_get_ssl(client) is client.ssl_object
        assert bufferevent_ssl_get_flags(server) == 0
        assert bufferevent_ssl_set_flags(server, BUFFEREVENT_SSL_DIRTY_SHUTDOWN | 0x100) == 0
        assert bufferevent_openssl_get_allow_dirty_shutdown(server) == 1
        assert bufferevent_ssl_set_flags(server, BUFFEREVENT_SSL_BATCH_WRITE) == 1
        assert bufferevent_ssl_clear_flags(server, BUFFEREVENT_SSL_DIRTY_SHUTDOWN) == 3
        assert bufferevent_ssl_get_flags(server) == BUFFEREVENT_SSL_BATCH_WRITE
        assert bufferevent_ssl_set_flags(server, 0x100) == (1 << 64) - 1
        assert bufferevent_get_openssl_error(server) == 0
        handshake(base, client, server)
    finally:
        client.close()
        server.close()
    assert bufferevent_openssl_socket_new(base, -1, client_ctx, 9, 0) is None


def test_rate_limit_holds_over_tls(
    base: EventBase, tls_pair: tuple[TLSBufferEvent, TLSBufferEvent]
) -> None:
    from evweb.io import TokenBucketConfig, set_rate_limit

    client, server = tls_pair
    c, _s = handshake(base, client, server)
    set_rate_limit(client, TokenBucketConfig(8000, 8000, 8000, 8000, tick=0.05))
    data = os.urandom(60_000)
    start = base.monotonic_time()
    server.write(data)
    spin(base, lambda: len(c.data) == len(data), limit=2000)
    # 8000 wire bytes per 50 ms tick: at least 7 more ticks for 60 kB of plaintext
    assert base.monotonic_time() - start >= 0.3
    assert bytes(c.data) == data
