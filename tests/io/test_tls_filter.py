"""TLSFilterBufferEvent: TLS over another BufferEvent (``bufferevent_openssl_filter_new``)."""

from __future__ import annotations

import os
import socket
import ssl
import struct
from collections.abc import Callable, Iterator

import pytest
import trustme

from evweb.errors import ConfigError
from evweb.io import (
    BufferEvent,
    FilterBufferEvent,
    SocketBufferEvent,
    TLSBufferEvent,
    TLSFilterBufferEvent,
    TLSFlag,
    TLSSession,
    TLSState,
)
from evweb.io import pair as bev_pair
from evweb.io.bevflags import CONNECTED, EOF, ERROR, READING, TIMEOUT, WRITING, BevOption
from evweb.libevent import (
    BUFFEREVENT_SSL_ACCEPTING,
    BUFFEREVENT_SSL_CONNECTING,
    BUFFEREVENT_SSL_DIRTY_SHUTDOWN,
    bufferevent_get_openssl_error,
    bufferevent_openssl_filter_new,
    bufferevent_openssl_get_ssl,
    bufferevent_ssl_get_flags,
    bufferevent_ssl_set_flags,
)
from evweb.reactor import NONBLOCK, READ, WRITE, EventBase
from tests.io.test_tls import (  # the certificates and helpers of the socket TLS tests
    Recorder,
    ca,
    client_ctx,
    server_cert,
    server_ctx,
    settle,
    spin,
)

__all__ = ["ca", "client_ctx", "server_cert", "server_ctx"]  # fixtures, used by name

Pair = tuple[socket.socket, socket.socket]
Ends = tuple[TLSFilterBufferEvent, TLSFilterBufferEvent]


def handshake(base: EventBase, client: TLSSession, server: TLSSession) -> tuple[Recorder, Recorder]:
    c, s = Recorder(client), Recorder(server)  # type: ignore[arg-type]
    spin(base, lambda: c.events and s.events)
    assert c.events == [CONNECTED] and s.events == [CONNECTED]
    return c, s


def _exchange(base: EventBase, a: TLSSession, b: TLSSession, piece: int = 1 << 20) -> None:
    """Handshake, then 1 MiB each way at once (``a`` writes it in pieces of ``piece``)."""
    ra, rb = handshake(base, a, b)
    up, down = os.urandom(1 << 20), os.urandom(1 << 20)
    for i in range(0, len(up), piece):
        a.write(up[i : i + piece])
    b.write(down)
    spin(base, lambda: len(rb.data) == len(up) and len(ra.data) == len(down))
    assert bytes(rb.data) == up and bytes(ra.data) == down


@pytest.fixture
def ends(base: EventBase) -> Iterator[tuple[BufferEvent, BufferEvent]]:
    """The two ends of a BufferEvent pair, closed afterwards."""
    left, right = bev_pair(base)
    yield left, right
    left.close()
    right.close()


Make = Callable[..., Ends]


@pytest.fixture
def stack(
    ends: tuple[BufferEvent, BufferEvent],
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
) -> Iterator[Make]:
    """Builds a client and a server TLS filter over the two ends of a pair; closed afterwards."""
    made: list[TLSFilterBufferEvent] = []

    def make(
        states: tuple[TLSState, TLSState] = (TLSState.CONNECTING, TLSState.ACCEPTING),
        opts: BevOption = BevOption.NONE,
        hostname: str = "localhost",
        trust: ssl.SSLContext | None = None,
    ) -> Ends:
        client = TLSFilterBufferEvent(ends[0], trust or client_ctx, states[0], opts, hostname)
        server = TLSFilterBufferEvent(ends[1], server_ctx, states[1], opts)
        made.extend((client, server))
        return client, server

    yield make
    for bev in made:
        bev.close()


@pytest.fixture
def tls_ends(stack: Make) -> Ends:
    """A client and a server TLS filter over the two ends of a pair."""
    return stack()


# --- handshake and data over a pair --------------------------------------------------------


def test_handshake_over_a_pair(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], tls_ends: Ends
) -> None:
    client, server = tls_ends
    assert client.underlying is ends[0] and server.underlying is ends[1]
    assert client.fileno() == -1
    assert client.state == TLSState.CONNECTING and server.state == TLSState.ACCEPTING
    c, s = handshake(base, client, server)
    settle(base)
    assert c.events == [CONNECTED] and s.events == [CONNECTED]
    assert client.state == server.state == TLSState.OPEN
    assert isinstance(client, TLSSession) and client.version is not None
    assert client.cipher is not None and client.cipher == server.cipher
    cert = client.peer_certificate
    assert cert is not None and ("DNS", "localhost") in cert["subjectAltName"]


@pytest.mark.parametrize("opts", [BevOption.NONE, BevOption.DEFER_CALLBACKS])
def test_data_both_ways(base: EventBase, stack: Make, opts: BevOption) -> None:
    client, server = stack(opts=opts)
    c, s = handshake(base, client, server)
    client.write(b"ping")
    spin(base, lambda: s.data == b"ping")
    server.write(b"pong")
    spin(base, lambda: c.data == b"pong")


def test_data_written_before_the_handshake_waits_for_it(base: EventBase, tls_ends: Ends) -> None:
    client, server = tls_ends
    client.write(b"early")
    c, s = Recorder(client), Recorder(server)  # type: ignore[arg-type]
    spin(base, lambda: s.data == b"early")
    assert c.events == [CONNECTED] and s.events == [CONNECTED]


@pytest.mark.parametrize("batch", [False, True])
def test_one_mebibyte_each_way(base: EventBase, tls_ends: Ends, batch: bool) -> None:
    client, server = tls_ends
    if batch:
        client.set_flags(TLSFlag.BATCH_WRITE)
    _exchange(base, client, server, piece=1000)  # many small segments from the client


def test_write_high_watermark_of_the_underlying_bounds_ciphertext(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], tls_ends: Ends
) -> None:
    client, server = tls_ends
    _c, s = handshake(base, client, server)
    ends[1].disable(READ)  # the server's side of the pair stops taking bytes
    server.disable(READ)
    ends[0].set_watermark(WRITE, 0, 40_000)
    data = os.urandom(500_000)
    client.write(data)
    settle(base)
    assert 40_000 <= len(ends[0].output) < 40_000 + 2 * 16_500  # one record past the mark
    assert len(client.output) > 400_000  # the rest waits as plaintext
    server.enable(READ)
    spin(base, lambda: len(s.data) == len(data))
    assert bytes(s.data) == data


def test_write_callback_runs_once_the_ciphertext_left(base: EventBase, tls_ends: Ends) -> None:
    client, server = tls_ends
    _c, s = handshake(base, client, server)
    seen: list[int] = []
    client.set_callbacks(write=lambda bev, arg: seen.append(len(bev.output)))
    client.write(b"x" * 100_000)
    assert seen == []  # never inside write()
    spin(base, lambda: seen and len(s.data) == 100_000)
    assert seen[-1] == 0 and not client.underlying.output


def test_read_high_watermark_holds_back_the_pair(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], tls_ends: Ends
) -> None:
    client, server = tls_ends
    c, _s = handshake(base, client, server)
    c.drain = False
    client.set_watermark(READ, 0, 3000)
    data = os.urandom(300_000)
    server.write(data[:150_000])  # crosses the pair at once, as libevent's pairs do
    settle(base)
    assert len(client.input) == 3000  # decryption stopped exactly at the watermark,
    assert len(ends[0].input) > 50_000  # the ciphertext waits below (some in the engine),
    assert not ends[0].enabled & READ  # the pair end below stopped reading
    server.write(data[150_000:])
    settle(base)
    assert len(ends[1].output) > 150_000  # and what is written now waits on the writer's side
    sizes: list[int] = []
    received = bytearray()

    def take(bev: BufferEvent, arg: object) -> None:
        sizes.append(len(bev.input))
        received.extend(bev.read())

    client.set_callbacks(read=take)
    take(client, None)  # draining below the mark resumes the flow
    spin(base, lambda: len(received) == len(data))
    assert bytes(received) == data and max(sizes) <= 3000


def test_reading_disabled_holds_the_ciphertext_below(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], tls_ends: Ends
) -> None:
    client, server = tls_ends
    c, _s = handshake(base, client, server)
    client.disable(READ)
    assert not ends[0].enabled & READ
    server.write(b"held")
    settle(base)
    assert c.data == b"" and len(ends[1].output) > len(b"held")  # still encrypted, below
    client.enable(READ)
    spin(base, lambda: c.data == b"held")


def test_open_state_handshakes_implicitly_without_connected(base: EventBase, stack: Make) -> None:
    client, server = stack(states=(TLSState.OPEN, TLSState.OPEN))
    c, s = Recorder(client), Recorder(server)  # type: ignore[arg-type]
    client.write(b"hello")
    spin(base, lambda: s.data == b"hello")
    server.write(b"back")
    spin(base, lambda: c.data == b"back")
    assert c.events == s.events == []
    assert not client.ssl_object.server_side and server.ssl_object.server_side


def test_echo_does_not_nest(base: EventBase, tls_ends: Ends) -> None:
    client, server = tls_ends
    c, _s = handshake(base, client, server)
    server.set_callbacks(read=lambda bev, arg: bev.write(bev.read()))
    for i in range(200):
        client.write(b"%d;" % i)
    expected = b"".join(b"%d;" % i for i in range(200))
    spin(base, lambda: c.data == expected)


# --- other underlying BufferEvents ---------------------------------------------------------


@pytest.mark.parametrize("filter_side", ["client", "server"])
def test_over_a_socket_bev_talking_to_a_tls_bev(
    base: EventBase,
    pair: Pair,
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    filter_side: str,
) -> None:
    opts = BevOption.CLOSE_ON_FREE
    if filter_side == "client":
        under = SocketBufferEvent(base, pair[0])
        a: TLSSession = TLSFilterBufferEvent(
            under, client_ctx, TLSState.CONNECTING, opts, server_hostname="localhost"
        )
        b: TLSSession = TLSBufferEvent(base, pair[1], server_ctx, TLSState.ACCEPTING)
    else:
        a = TLSBufferEvent(
            base, pair[0], client_ctx, TLSState.CONNECTING, server_hostname="localhost"
        )
        under = SocketBufferEvent(base, pair[1])
        b = TLSFilterBufferEvent(under, server_ctx, TLSState.ACCEPTING, opts)
    with a, b:
        assert (a if filter_side == "client" else b).fileno() == under.fileno() >= 0
        _exchange(base, a, b)


def test_over_a_connecting_socket_bev(
    base: EventBase, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        lsock.settimeout(5)
        under = SocketBufferEvent(base)
        client = TLSFilterBufferEvent(
            under, client_ctx, TLSState.CONNECTING, BevOption.CLOSE_ON_FREE, "127.0.0.1"
        )
        client.write(b"queued before connecting")
        c = Recorder(client)  # type: ignore[arg-type]
        under.connect(lsock.getsockname())
        conn, _ = lsock.accept()
        server = TLSBufferEvent(base, conn, server_ctx, TLSState.ACCEPTING, BevOption.CLOSE_ON_FREE)
        s = Recorder(server)
        with client, server:
            spin(base, lambda: c.events and s.data == b"queued before connecting")
            settle(base)
            assert c.events == [CONNECTED]  # the TCP connect is not reported on its own


def test_connect_refused_passes_through(base: EventBase, client_ctx: ssl.SSLContext) -> None:
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        addr = lsock.getsockname()
    under = SocketBufferEvent(base)
    with TLSFilterBufferEvent(
        under, client_ctx, TLSState.CONNECTING, BevOption.CLOSE_ON_FREE, "x"
    ) as client:
        c = Recorder(client)  # type: ignore[arg-type]
        under.connect(addr)
        spin(base, lambda: c.events)
        assert c.events == [ERROR] and isinstance(client.error, ConnectionRefusedError)


def test_tls_inside_tls(
    base: EventBase, pair: Pair, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    opts = BevOption.CLOSE_ON_FREE
    outer_c = TLSBufferEvent(
        base, pair[0], client_ctx, TLSState.CONNECTING, server_hostname="localhost"
    )
    outer_s = TLSBufferEvent(base, pair[1], server_ctx, TLSState.ACCEPTING)
    inner_c = TLSFilterBufferEvent(
        outer_c, client_ctx, TLSState.CONNECTING, opts, server_hostname="localhost"
    )
    inner_s = TLSFilterBufferEvent(outer_s, server_ctx, TLSState.ACCEPTING, opts)
    with inner_c, inner_s:
        _exchange(base, inner_c, inner_s)
    assert outer_c.closed and outer_s.closed


def test_over_filters_over_a_pair(
    base: EventBase,
    ends: tuple[BufferEvent, BufferEvent],
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
) -> None:
    opts = BevOption.CLOSE_ON_FREE
    fc, fs = FilterBufferEvent(ends[0]), FilterBufferEvent(ends[1])
    client = TLSFilterBufferEvent(fc, client_ctx, TLSState.CONNECTING, opts, "localhost")
    server = TLSFilterBufferEvent(fs, server_ctx, TLSState.ACCEPTING, opts)
    with client, server:
        _exchange(base, client, server)
    assert fc.closed and fs.closed and not ends[0].closed


def test_starttls_takes_the_ciphertext_already_below(
    base: EventBase,
    ends: tuple[BufferEvent, BufferEvent],
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
) -> None:
    left, right = ends
    right.enable(READ)
    left.write(b"STARTTLS\r\n")  # plain text first
    assert right.read() == b"STARTTLS\r\n"  # a pair moves the bytes at once
    client = TLSFilterBufferEvent(left, client_ctx, TLSState.CONNECTING, 0, "localhost")
    base.loop(NONBLOCK)
    assert len(right.input) > 100  # the ClientHello came before the server's TLS
    server = TLSFilterBufferEvent(right, server_ctx, TLSState.ACCEPTING)
    with client, server:
        _exchange(base, client, server)


# --- refusals -----------------------------------------------------------------------------


def _refused(base: EventBase, client: TLSSession, server: TLSSession) -> None:
    c, s = Recorder(client), Recorder(server)  # type: ignore[arg-type]
    spin(base, lambda: c.saw(ERROR) and s.saw(ERROR))
    assert not c.saw(CONNECTED) and not s.saw(CONNECTED)
    assert isinstance(client.error, ssl.SSLCertVerificationError)
    assert client.error.reason == "CERTIFICATE_VERIFY_FAILED"
    assert client.tls_errors == [client.error]
    assert isinstance(server.error, ssl.SSLError) and server.error.reason
    base.loop(NONBLOCK)


def test_hostname_mismatch_is_refused(base: EventBase, stack: Make) -> None:
    client, server = stack(hostname="example.com")
    _refused(base, client, server)
    err = client.error
    assert isinstance(err, ssl.SSLCertVerificationError) and "mismatch" in err.verify_message


def test_unknown_ca_is_refused(base: EventBase, stack: Make) -> None:
    other = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trustme.CA().configure_trust(other)
    _refused(base, *stack(trust=other))


@pytest.mark.parametrize("side", ["server", "client"])
def test_garbage_is_an_error(
    base: EventBase,
    ends: tuple[BufferEvent, BufferEvent],
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    side: str,
) -> None:
    if side == "server":
        victim = TLSFilterBufferEvent(ends[0], server_ctx, TLSState.ACCEPTING)
        garbage = b"GET / HTTP/1.0\r\n\r\n" + os.urandom(200)
    else:
        victim = TLSFilterBufferEvent(ends[0], client_ctx, TLSState.CONNECTING, 0, "localhost")
        garbage = b"\x16\x03\x01\x00\x05hello" + b"\xff" * 100
    with victim:
        rec = Recorder(victim)  # type: ignore[arg-type]
        ends[1].write(garbage)  # a peer that does not speak TLS
        spin(base, lambda: rec.events)
        assert rec.events == [READING | ERROR]
        assert isinstance(victim.error, ssl.SSLError) and victim.error.reason
        assert victim.tls_errors == [victim.error]


def test_invalid_arguments_leave_the_underlying_alone(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], client_ctx: ssl.SSLContext
) -> None:
    with pytest.raises(ConfigError):
        TLSFilterBufferEvent(ends[0], client_ctx, 7, server_hostname="localhost")
    with pytest.raises(ConfigError):
        TLSFilterBufferEvent(ends[0], client_ctx, TLSState.CONNECTING)  # no hostname
    assert ends[0].get_callbacks() == (None, None, None, None)
    assert not ends[0].output


# --- the end of a connection --------------------------------------------------------------


def test_close_notify_is_eof(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], tls_ends: Ends
) -> None:
    client, server = tls_ends
    _c, s = handshake(base, client, server)
    client.write(b"last words")
    client.close()  # no CLOSE_ON_FREE: the pair end stays open, the close_notify goes out
    assert not ends[0].closed and ends[0].get_callbacks() == (None, None, None, None)
    spin(base, lambda: len(s.events) > 1)
    assert s.data == b"last words"
    assert s.events == [CONNECTED, READING | EOF]
    assert server.error is None and server.tls_errors == []
    ends[0].close()  # the underlying's EOF afterwards changes nothing
    settle(base)
    assert s.events == [CONNECTED, READING | EOF]


@pytest.mark.parametrize("dirty", [False, True])
def test_eof_without_close_notify(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], tls_ends: Ends, dirty: bool
) -> None:
    """An ERROR (the ssl reason kept), or EOF with the DIRTY_SHUTDOWN flag."""
    client, server = tls_ends
    if dirty:
        server.set_flags(TLSFlag.DIRTY_SHUTDOWN)
    assert server.dirty_shutdown == dirty
    _c, s = handshake(base, client, server)
    client.write(b"then gone")
    spin(base, lambda: s.data == b"then gone")
    ends[0].close()  # below the TLS: the peer sees EOF with no close_notify
    spin(base, lambda: len(s.events) > 1)
    if dirty:
        assert s.events == [CONNECTED, READING | EOF] and server.error is None
    else:
        assert s.events == [CONNECTED, READING | ERROR]
        assert isinstance(server.error, ssl.SSLEOFError) and server.error.reason
        assert server.tls_errors == [server.error]


@pytest.mark.parametrize("dirty", [False, True])
def test_eof_comes_after_the_data_held_at_the_watermark(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], tls_ends: Ends, dirty: bool
) -> None:
    client, server = tls_ends
    _c, s = handshake(base, client, server)
    s.drain = False
    server.set_watermark(READ, 0, 1000)
    server.dirty_shutdown = dirty
    client.write(b"z" * 200_000)
    client.close()  # close_notify after the data; it waits in the pair end's output
    if dirty:
        ends[0].close()  # which drops it: the EOF below comes right after the ciphertext
    received = bytearray()
    spin(base, lambda: server.input)
    for _ in range(1000):
        received += server.read()
        if len(s.events) > 1:
            break
        spin(base, lambda: server.input or len(s.events) > 1)
    received += server.read()
    assert bytes(received) == b"z" * 200_000
    assert s.events == [CONNECTED, READING | EOF]


def test_underlying_error_passes_through(
    base: EventBase, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        raw = socket.create_connection(lsock.getsockname())
        conn, _ = lsock.accept()
    under = SocketBufferEvent(base, conn, BevOption.CLOSE_ON_FREE)
    with TLSFilterBufferEvent(
        under, server_ctx, TLSState.ACCEPTING, BevOption.CLOSE_ON_FREE
    ) as server:
        s = Recorder(server)  # type: ignore[arg-type]
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()  # a reset
        spin(base, lambda: s.events)
        assert s.events == [READING | ERROR]
        assert isinstance(server.error, ConnectionResetError)
    assert conn.fileno() == -1  # CLOSE_ON_FREE went all the way down


def test_silent_peer_times_out_during_the_handshake(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], server_ctx: ssl.SSLContext
) -> None:
    with TLSFilterBufferEvent(ends[1], server_ctx, TLSState.ACCEPTING) as server:
        s = Recorder(server)  # type: ignore[arg-type]
        server.set_timeouts(0.05, None)
        spin(base, lambda: s.events)
        assert s.events == [READING | TIMEOUT]
        assert not server.enabled & READ


def test_write_timeout_passes_through(
    base: EventBase, ends: tuple[BufferEvent, BufferEvent], tls_ends: Ends
) -> None:
    client, server = tls_ends
    c, _s = handshake(base, client, server)
    ends[1].disable(READ)
    server.disable(READ)  # nobody takes the client's bytes
    client.set_timeouts(None, 0.05)
    client.write(b"stuck")
    spin(base, lambda: len(c.events) > 1)
    assert c.events == [CONNECTED, WRITING | TIMEOUT]
    assert not client.enabled & WRITE


@pytest.mark.parametrize("close_on_free", [False, True])
def test_close_on_free_closes_the_underlying(
    base: EventBase, pair: Pair, client_ctx: ssl.SSLContext, close_on_free: bool
) -> None:
    under = SocketBufferEvent(base, pair[0], BevOption.CLOSE_ON_FREE)
    opts = BevOption.CLOSE_ON_FREE if close_on_free else BevOption.NONE
    client = TLSFilterBufferEvent(under, client_ctx, TLSState.CONNECTING, opts, "localhost")
    base.loop(NONBLOCK)
    client.close()
    assert client.closed and under.closed == close_on_free
    assert (pair[0].fileno() == -1) == close_on_free
    if not close_on_free:
        assert under.get_callbacks() == (None, None, None, None)
        under.close()


# --- libevent names ------------------------------------------------------------------------


def test_libevent_api(
    base: EventBase,
    ends: tuple[BufferEvent, BufferEvent],
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
) -> None:
    client = bufferevent_openssl_filter_new(
        base, ends[0], client_ctx, BUFFEREVENT_SSL_CONNECTING, 0, "localhost"
    )
    server = bufferevent_openssl_filter_new(base, ends[1], server_ctx, BUFFEREVENT_SSL_ACCEPTING, 0)
    assert client is not None and server is not None
    try:
        assert bufferevent_openssl_get_ssl(client) is client.ssl_object
        assert bufferevent_ssl_set_flags(server, BUFFEREVENT_SSL_DIRTY_SHUTDOWN) == 0
        assert bufferevent_ssl_get_flags(server) == BUFFEREVENT_SSL_DIRTY_SHUTDOWN
        assert bufferevent_get_openssl_error(server) == 0
        handshake(base, client, server)
    finally:
        client.close()
        server.close()
    assert bufferevent_openssl_filter_new(base, None, client_ctx, 1, 0, "x") is None
    assert bufferevent_openssl_filter_new(base, ends[0], client_ctx, 9, 0, "x") is None
