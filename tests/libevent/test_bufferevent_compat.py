"""bufferevent_* C names: constants, return codes, and traffic end to end over a socketpair."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

import evweb.libevent as le
from evweb.io import Buffer, BufferEvent, SocketBufferEvent
from evweb.io.bevflags import DEFAULT_MAX_SINGLE_READ
from evweb.libevent import (
    BEV_EVENT_CONNECTED,
    BEV_EVENT_EOF,
    BEV_EVENT_ERROR,
    BEV_EVENT_READING,
    BEV_OPT_CLOSE_ON_FREE,
    BEV_OPT_DEFER_CALLBACKS,
    EV_READ,
    EV_WRITE,
    EVLOOP_NONBLOCK,
    EVLOOP_ONCE,
)
from evweb.reactor import EventBase

Pair = tuple[socket.socket, socket.socket]

NAMES = [
    "bufferevent_socket_new", "bufferevent_socket_connect", "bufferevent_socket_connect_hostname",
    "bufferevent_socket_get_dns_error", "bufferevent_setcb", "bufferevent_getcb",
    "bufferevent_enable", "bufferevent_disable", "bufferevent_get_enabled", "bufferevent_write",
    "bufferevent_write_buffer", "bufferevent_read", "bufferevent_read_buffer",
    "bufferevent_get_input", "bufferevent_get_output", "bufferevent_free",
    "bufferevent_get_base", "bufferevent_getfd", "bufferevent_setfd", "bufferevent_setwatermark",
    "bufferevent_getwatermark", "bufferevent_set_timeouts", "bufferevent_flush",
    "bufferevent_set_max_single_read", "bufferevent_set_max_single_write",
    "bufferevent_get_max_single_read", "bufferevent_get_max_single_write",
]  # fmt: skip


def spin(base: EventBase, until: Callable[[], object], limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not until() and time.monotonic() < deadline:
        le.event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK)
        if not until():
            le.event_base_loopexit(base, 0.005)
            le.event_base_dispatch(base)
    assert until(), "condition not reached"


def test_names_and_constants_are_libevents() -> None:
    for name in NAMES:
        assert callable(getattr(le, name)), name
        assert name in le.__all__
    assert (le.BEV_EVENT_READING, le.BEV_EVENT_WRITING, le.BEV_EVENT_EOF) == (0x01, 0x02, 0x10)
    assert (le.BEV_EVENT_ERROR, le.BEV_EVENT_TIMEOUT, le.BEV_EVENT_CONNECTED) == (0x20, 0x40, 0x80)
    assert (le.BEV_OPT_CLOSE_ON_FREE, le.BEV_OPT_THREADSAFE) == (1, 2)
    assert (le.BEV_OPT_DEFER_CALLBACKS, le.BEV_OPT_UNLOCK_CALLBACKS) == (4, 8)
    assert (le.BEV_NORMAL, le.BEV_FLUSH, le.BEV_FINISHED) == (0, 1, 2)


@pytest.mark.parametrize("options", [0, BEV_OPT_DEFER_CALLBACKS])
def test_traffic_over_a_socketpair(base: EventBase, options: int) -> None:
    a, b = socket.socketpair()
    bev1 = le.bufferevent_socket_new(base, a.detach(), BEV_OPT_CLOSE_ON_FREE | options)
    bev2 = le.bufferevent_socket_new(base, b.detach(), BEV_OPT_CLOSE_ON_FREE | options)
    assert bev1 is not None and bev2 is not None
    got = bytearray()
    events: list[int] = []

    def readcb(bev: BufferEvent, arg: Any) -> None:
        assert arg == "arg"
        got.extend(le.bufferevent_read(bev, 3))
        rest = Buffer()
        assert le.bufferevent_read_buffer(bev, rest) == 0
        got.extend(rest.remove(len(rest)))

    def eventcb(bev: BufferEvent, what: int, arg: Any) -> None:
        events.append(what)

    le.bufferevent_setcb(bev2, readcb, None, eventcb, "arg")
    assert le.bufferevent_getcb(bev2) == (readcb, None, eventcb, "arg")
    assert le.bufferevent_get_enabled(bev2) == EV_WRITE
    assert le.bufferevent_enable(bev2, EV_READ) == 0
    assert le.bufferevent_get_enabled(bev2) == EV_READ | EV_WRITE
    assert le.bufferevent_get_base(bev1) is base
    assert le.bufferevent_getfd(bev1) >= 0

    assert le.bufferevent_write(bev1, b"hello world", 5) == 0
    extra = Buffer()
    extra.add(b", C")
    assert le.bufferevent_write_buffer(bev1, extra) == 0 and len(extra) == 0
    assert le.bufferevent_flush(bev1, EV_WRITE, le.BEV_NORMAL) == 0
    spin(base, lambda: bytes(got) == b"hello, C")
    assert le.evbuffer_get_length(le.bufferevent_get_output(bev1)) == 0
    assert le.evbuffer_get_length(le.bufferevent_get_input(bev2)) == 0

    le.bufferevent_free(bev1)  # CLOSE_ON_FREE: the peer sees EOF
    spin(base, lambda: events)
    assert events == [BEV_EVENT_READING | BEV_EVENT_EOF]
    assert le.bufferevent_disable(bev2, EV_READ | EV_WRITE) == 0
    assert le.bufferevent_get_enabled(bev2) == 0
    le.bufferevent_free(bev2)


def test_return_codes(base: EventBase, pair: Pair) -> None:
    # sockets rather than int fds: SocketBufferEvent.setfd drops an int fd's wrapper without
    # detaching it, which would close the caller's first fd when the second is set
    bev = le.bufferevent_socket_new(base, pair[0], 0)
    assert bev is not None
    assert le.bufferevent_write(bev, b"abc", 4) == -1
    low: list[int] = []
    high: list[int] = []
    le.bufferevent_setwatermark(bev, EV_READ, 10, 100)
    assert le.bufferevent_getwatermark(bev, EV_READ, low, high) == 0
    assert (low, high) == ([10], [100])
    assert le.bufferevent_getwatermark(bev, EV_READ | EV_WRITE, low, high) == -1
    le.bufferevent_setwatermark(bev, EV_WRITE, 5, 1)  # refused (low > high), only logged
    assert le.bufferevent_getwatermark(bev, EV_WRITE, low, None) == 0 and low == [0]
    assert le.bufferevent_set_timeouts(bev, 1.5, None) == 0
    assert bev.read_timeout == 1.5 and bev.write_timeout is None
    assert le.bufferevent_set_timeouts(bev, -1.0, None) == -1
    assert le.bufferevent_get_max_single_read(bev) == DEFAULT_MAX_SINGLE_READ
    assert le.bufferevent_set_max_single_read(bev, 100) == 0
    assert le.bufferevent_get_max_single_read(bev) == 100
    assert le.bufferevent_set_max_single_read(bev, 0) == 0
    assert le.bufferevent_get_max_single_read(bev) == DEFAULT_MAX_SINGLE_READ
    assert le.bufferevent_set_max_single_write(bev, 7) == 0
    assert le.bufferevent_get_max_single_write(bev) == 7
    assert le.bufferevent_set_max_single_write(bev, -1) == -1
    assert le.bufferevent_flush(bev, EV_READ, 9) == -1
    assert le.bufferevent_setfd(bev, pair[1]) == 0
    assert le.bufferevent_getfd(bev) == pair[1].fileno()
    assert le.bufferevent_socket_get_dns_error(bev) == 0
    le.bufferevent_free(bev)  # no CLOSE_ON_FREE: the fds stay open
    assert pair[0].fileno() >= 0 and pair[1].fileno() >= 0
    assert le.bufferevent_enable(bev, EV_READ) == -1
    assert le.bufferevent_setfd(bev, pair[0]) == -1


def test_socket_new_without_fd_and_connect(base: EventBase) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    events: list[int] = []
    bev = le.bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)
    assert bev is not None and le.bufferevent_getfd(bev) == -1
    le.bufferevent_setcb(bev, None, None, lambda b, what, arg: events.append(what), None)
    assert le.bufferevent_socket_connect(bev, None) == -1
    assert le.bufferevent_socket_connect(bev, server.getsockname(), 16) == 0
    spin(base, lambda: events)
    assert events == [BEV_EVENT_CONNECTED]
    le.bufferevent_free(bev)
    server.close()


def test_connect_hostname(base: EventBase) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    events: list[int] = []
    bev = le.bufferevent_socket_new(base, -1, 0)
    assert isinstance(bev, SocketBufferEvent)
    le.bufferevent_setcb(bev, None, None, lambda b, what, arg: events.append(what), None)
    assert le.bufferevent_socket_connect_hostname(bev, None, socket.AF_UNIX, "x", port) == -1
    assert le.bufferevent_socket_connect_hostname(bev, None, socket.AF_INET, "127.0.0.1", port) == 0
    spin(base, lambda: events)
    assert events == [BEV_EVENT_CONNECTED]
    assert le.bufferevent_socket_get_dns_error(bev) == 0
    # the bev has a socket now: connect_hostname refuses, as the socket is in use
    assert le.bufferevent_socket_connect_hostname(bev, None, socket.AF_INET, "x", port) == -1
    le.bufferevent_free(bev)
    server.close()


def test_connect_hostname_dns_error(base: EventBase) -> None:
    events: list[int] = []
    bev = le.bufferevent_socket_new(base, -1, 0)
    assert bev is not None
    le.bufferevent_setcb(bev, None, None, lambda b, what, arg: events.append(what), None)
    # a numeric host of the wrong family fails resolution without touching the network
    assert le.bufferevent_socket_connect_hostname(bev, None, socket.AF_INET6, "1.2.3.4", 80) == 0
    spin(base, lambda: events)
    assert events == [BEV_EVENT_ERROR]
    assert le.bufferevent_socket_get_dns_error(bev) != 0
    assert isinstance(bev.error, socket.gaierror)
    le.bufferevent_free(bev)
