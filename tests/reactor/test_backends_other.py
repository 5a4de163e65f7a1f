"""kqueue (BSD, macOS) and /dev/poll (Solaris, illumos): forced round trips where they exist.

On other platforms these tests skip, naming the missing primitive; there the
only thing checked is that forcing the method fails cleanly.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.errors import NoBackendError
from evweb.reactor import (
    ET,
    NONBLOCK,
    ONCE,
    PERSIST,
    READ,
    TIMEOUT,
    WRITE,
    EventBase,
    EventConfig,
    Feature,
)

Pair = tuple[socket.socket, socket.socket]

OTHER_BACKENDS = [
    pytest.param(
        "kqueue",
        marks=pytest.mark.skipif(
            not hasattr(select, "kqueue"), reason="select.kqueue is not available on this platform"
        ),
    ),
    pytest.param(
        "devpoll",
        marks=pytest.mark.skipif(
            not hasattr(select, "devpoll"),
            reason="select.devpoll is not available on this platform",
        ),
    ),
]


@pytest.fixture(params=OTHER_BACKENDS)
def other_base(request: pytest.FixtureRequest) -> Iterator[EventBase]:
    """A base forced onto kqueue or devpoll."""
    base = EventBase(EventConfig(method=request.param))
    assert base.method == request.param
    yield base
    base.close()


def test_read_write_timeout_round_trip(other_base: EventBase, pair: Pair) -> None:
    base = other_base
    a, b = pair
    log: list[tuple[str, int]] = []

    def on_writable(fd: int, what: int, arg: Any) -> None:
        log.append(("write", what))
        a.send(b"hello")

    def on_readable(fd: int, what: int, arg: Any) -> None:
        log.append(("read", what))
        assert b.recv(16) == b"hello"
        started.append(base.monotonic_time())  # the loop's (cached) now: the timer's origin
        timer.add(0.02)

    def on_timeout(fd: int, what: int, arg: Any) -> None:
        log.append(("timeout", what))
        started.append(time.monotonic())

    started: list[float] = []
    timer = base.event(-1, 0, on_timeout)
    base.event(a, WRITE, on_writable).add()
    base.event(b, READ, on_readable).add(5.0)
    assert base.dispatch() == 1
    assert log == [("write", WRITE), ("read", READ), ("timeout", TIMEOUT)]
    assert started[1] - started[0] >= 0.02 - 1e-6  # timers never fire early


def test_read_times_out_without_data(other_base: EventBase, pair: Pair) -> None:
    calls: list[int] = []
    other_base.event(pair[1], READ, lambda fd, what, arg: calls.append(what)).add(0.01)
    assert other_base.dispatch() == 1
    assert calls == [TIMEOUT]


def test_persistent_read_and_delete(other_base: EventBase, pair: Pair) -> None:
    got: list[bytes] = []

    def on_read(fd: int, what: int, arg: Any) -> None:
        got.append(pair[1].recv(16))
        if len(got) == 2:
            ev.delete()

    ev = other_base.event(pair[1], READ | PERSIST, on_read)
    ev.add()
    pair[0].send(b"1")
    other_base.loop(ONCE)
    pair[0].send(b"2")
    assert other_base.dispatch() == 1
    assert got == [b"1", b"2"]


def test_edge_triggered_where_supported(other_base: EventBase, pair: Pair) -> None:
    if not other_base.features & Feature.ET:
        pytest.skip(f"{other_base.method} has no Feature.ET")
    calls: list[int] = []
    ev = other_base.event(pair[1], READ | ET | PERSIST, lambda fd, what, arg: calls.append(what))
    ev.add()
    pair[0].send(b"xy")
    other_base.loop(NONBLOCK | ONCE)
    other_base.loop(NONBLOCK | ONCE)
    assert len(calls) == 1
    ev.delete()


@pytest.mark.parametrize(
    ("name", "attr"), [("kqueue", "kqueue"), ("devpoll", "devpoll")], ids=["kqueue", "devpoll"]
)
def test_forcing_an_absent_backend_fails_cleanly(name: str, attr: str) -> None:
    if hasattr(select, attr):
        pytest.skip(f"select.{attr} exists here; the round-trip tests cover it")
    with pytest.raises(NoBackendError, match=name):
        EventBase(EventConfig(method=name))
