"""SocketBufferEvent: libevent's bufferevent/ group behaviours over real sockets."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.io.bevflags import CONNECTED, EOF, ERROR, READING, TIMEOUT, WRITING, BevOption
from evweb.io.socket_bev import SocketBufferEvent
from evweb.reactor import NONBLOCK, ONCE, READ, WRITE, EventBase

Pair = tuple[socket.socket, socket.socket]


def spin(base: EventBase, until: Any, limit: int = 400) -> None:
    """Run the loop until ``until()`` holds, a bounded number of times."""
    for _ in range(limit):
        if until():
            return
        base.loop(ONCE | NONBLOCK)
        if not until():
            base.loopexit(0.005)
            base.dispatch()
    assert until(), "condition not reached"


@pytest.fixture
def bevs(base: EventBase, pair: Pair) -> Iterator[tuple[SocketBufferEvent, SocketBufferEvent]]:
    a = SocketBufferEvent(base, pair[0])
    b = SocketBufferEvent(base, pair[1])
    yield a, b
    a.close()
    b.close()


def test_new_bufferevent_writes_but_does_not_read(
    base: EventBase, bevs: tuple[SocketBufferEvent, SocketBufferEvent]
) -> None:
    a, b = bevs
    got: list[bytes] = []
    b.set_callbacks(read=lambda bev, arg: got.append(bev.read()))
    assert a.enabled == WRITE and b.enabled == WRITE
    a.write(b"hello")
    spin(base, lambda: not a.output)
    base.loop(NONBLOCK)
    assert got == []
    b.enable(READ)
    spin(base, lambda: got)
    assert b"".join(got) == b"hello"


def test_large_transfer_arrives_intact(
    base: EventBase, bevs: tuple[SocketBufferEvent, SocketBufferEvent]
) -> None:
    a, b = bevs
    data = os.urandom(1 << 20)
    received = bytearray()
    b.set_callbacks(read=lambda bev, arg: received.extend(bev.read()))
    b.enable(READ)
    a.write(data)
    spin(base, lambda: len(received) == len(data), limit=5000)
    assert bytes(received) == data


def test_write_callback_runs_when_output_drains_to_low_watermark(
    base: EventBase, bevs: tuple[SocketBufferEvent, SocketBufferEvent]
) -> None:
    a, _ = bevs
    calls: list[int] = []
    a.set_callbacks(write=lambda bev, arg: calls.append(len(bev.output)))
    a.write(b"x" * 1000)
    spin(base, lambda: calls)
    assert calls[-1] == 0


def test_read_high_watermark_suspends_reading_until_drained(
    base: EventBase, bevs: tuple[SocketBufferEvent, SocketBufferEvent]
) -> None:
    a, b = bevs
    b.set_watermark(READ, 0, 100)
    b.set_callbacks(read=lambda bev, arg: None)  # does not drain
    b.enable(READ)
    a.write(b"y" * 1000)
    spin(base, lambda: len(b.input) >= 100)
    for _ in range(20):
        base.loop(NONBLOCK)
    assert len(b.input) == 100  # no more read while at the high watermark
    b.read(50)
    spin(base, lambda: len(b.input) == 100)  # resumed, filled back up to 100
    b.read()
    spin(base, lambda: len(b.input) >= 100 or len(b.input) == 1000 - 150)


def test_read_low_watermark_delays_the_read_callback(
    base: EventBase, bevs: tuple[SocketBufferEvent, SocketBufferEvent], pair: Pair
) -> None:
    _, b = bevs
    sizes: list[int] = []
    b.set_watermark(READ, 10, 0)
    b.set_callbacks(read=lambda bev, arg: sizes.append(len(bev.input)))
    b.enable(READ)
    pair[0].send(b"12345")
    spin(base, lambda: len(b.input) == 5)
    assert sizes == []
    pair[0].send(b"67890")
    spin(base, lambda: sizes)
    assert sizes[-1] >= 10


def test_eof_is_reported_as_reading_eof_and_disables_reading(base: EventBase, pair: Pair) -> None:
    b = SocketBufferEvent(base, pair[1])
    events: list[int] = []
    b.set_callbacks(event=lambda bev, what, arg: events.append(what))
    b.enable(READ)
    pair[0].shutdown(socket.SHUT_WR)
    spin(base, lambda: events)
    assert events == [READING | EOF]
    assert not b.enabled & READ
    b.close()


def test_read_timeout_disables_reading_and_reports(base: EventBase, pair: Pair) -> None:
    b = SocketBufferEvent(base, pair[1])
    events: list[int] = []
    b.set_callbacks(event=lambda bev, what, arg: events.append(what))
    b.set_timeouts(0.05, None)
    b.enable(READ)
    spin(base, lambda: events)
    assert events == [READING | TIMEOUT]
    assert not b.enabled & READ
    b.enable(READ)  # re-enabling restarts the timeout
    spin(base, lambda: len(events) == 2)
    b.close()


def test_write_to_a_closed_peer_reports_writing_error_or_eof(base: EventBase, pair: Pair) -> None:
    a = SocketBufferEvent(base, pair[0])
    events: list[int] = []
    a.set_callbacks(event=lambda bev, what, arg: events.append(what))
    pair[1].close()
    a.write(b"z" * 100000)
    spin(base, lambda: events)
    assert events[0] & WRITING and events[0] & (ERROR | EOF)
    assert a.error is not None or events[0] & EOF
    a.close()


def test_connect_reports_connected_then_data_flows(base: EventBase) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        bev = SocketBufferEvent(base)
        events: list[int] = []
        bev.set_callbacks(event=lambda b, what, arg: events.append(what))
        bev.connect(server.getsockname())
        bev.write(b"after connect")
        spin(base, lambda: events)
        assert events == [CONNECTED]
        peer, _ = server.accept()
        with peer:
            spin(base, lambda: not bev.output)
            assert peer.recv(100) == b"after connect"
        bev.close()


def test_connect_refused_reports_error(base: EventBase) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()  # bound, not listening: refused
        bev = SocketBufferEvent(base)
        events: list[int] = []
        bev.set_callbacks(event=lambda b, what, arg: events.append(what))
        bev.connect(address)
        spin(base, lambda: events)
        assert events == [ERROR]
        assert isinstance(bev.error, OSError)
        bev.close()


def test_deferred_callbacks_run_after_the_current_callback(base: EventBase, pair: Pair) -> None:
    b = SocketBufferEvent(base, pair[1], BevOption.DEFER_CALLBACKS)
    order: list[str] = []
    b.set_callbacks(read=lambda bev, arg: order.append("read"))
    b.enable(READ)
    pair[0].send(b"data")
    spin(base, lambda: order)
    assert order == ["read"]
    b.close()


def test_close_on_free_closes_the_socket_otherwise_not(base: EventBase) -> None:
    one, two = socket.socketpair()
    kept = SocketBufferEvent(base, one)
    kept.close()
    assert one.fileno() >= 0
    owned = SocketBufferEvent(base, two, BevOption.CLOSE_ON_FREE)
    owned.close()
    assert two.fileno() == -1
    one.close()


def test_close_inside_own_read_callback_is_safe(base: EventBase, pair: Pair) -> None:
    b = SocketBufferEvent(base, pair[1])
    got: list[bytes] = []

    def on_read(bev: SocketBufferEvent, arg: Any) -> None:
        got.append(bev.read())
        bev.close()

    b.set_callbacks(read=on_read)
    b.enable(READ)
    pair[0].send(b"one")
    spin(base, lambda: got)
    pair[0].send(b"two")
    for _ in range(5):
        base.loop(NONBLOCK)
    assert got == [b"one"]


def test_refused_connect_is_error_even_with_reading_enabled(base: EventBase) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()
        bev = SocketBufferEvent(base)
        events: list[int] = []
        bev.set_callbacks(event=lambda b, what, arg: events.append(what))
        bev.enable(READ)
        bev.connect(address)
        spin(base, lambda: events)
        assert events == [ERROR]
        bev.close()


def test_shutdown_write_half_closes_and_keeps_reading(base: EventBase) -> None:
    """shutdown_write() sends FIN after the data; the peer's bytes still arrive."""
    a, b = socket.socketpair()
    bev = SocketBufferEvent(base, a, BevOption.CLOSE_ON_FREE)
    try:
        bev.enable(READ)
        bev.write(b"last words")
        assert bev.shutdown_write()
        b.settimeout(5)
        got = b""
        while True:
            chunk = b.recv(100)
            if not chunk:
                break
            got += chunk
        assert got == b"last words"
        b.sendall(b"still heard")
        base.loop(ONCE)
        assert bev.read() == b"still heard"
    finally:
        bev.close()
        b.close()
    assert not SocketBufferEvent(base).shutdown_write()  # no socket yet
