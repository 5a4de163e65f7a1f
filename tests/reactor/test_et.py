"""The et/ group: edge-triggered events (libevent's regress_et.c)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.errors import InvalidEventError, NoBackendError, UnsupportedFeatureError
from evweb.reactor import (
    ET,
    NONBLOCK,
    ONCE,
    PERSIST,
    READ,
    WRITE,
    EventBase,
    EventConfig,
    Feature,
)
from evweb.reactor.backends import BACKENDS

_AVAILABLE = [b for b in BACKENDS if b.available()]
ET_METHODS = [b.name for b in _AVAILABLE if b.features & Feature.ET]
LT_ONLY_METHODS = [b.name for b in _AVAILABLE if not b.features & Feature.ET]


@pytest.fixture(params=ET_METHODS)
def et_base(request: pytest.FixtureRequest) -> Iterator[EventBase]:
    """A base on each available backend that has Feature.ET."""
    with EventBase(EventConfig(method=request.param)) as base:
        assert base.features & Feature.ET
        yield base


Pair = tuple[socket.socket, socket.socket]


def test_et_fires_once_per_edge(et_base: EventBase, pair: Pair) -> None:
    base = et_base
    writer, reader = pair
    writer.send(b"test string\0")
    writer.shutdown(socket.SHUT_WR)
    calls: list[int] = []

    def on_read(fd: int, what: int, arg: Any) -> None:
        calls.append(what)
        if not reader.recv(1):
            ev.delete()

    ev = base.event(reader, READ | ET | PERSIST, on_read)
    ev.add()
    # One byte is read per callback; level-triggered would fire again on the second
    # loop since data is left, edge-triggered must not (no new edge).
    assert base.loop(NONBLOCK | ONCE) == 0
    assert base.loop(NONBLOCK | ONCE) == 0
    assert len(calls) == 1
    assert calls[0] & ET  # the callback learns it was edge-triggered
    assert calls[0] & READ
    ev.delete()


def test_et_new_data_is_a_new_edge(et_base: EventBase, pair: Pair) -> None:
    base = et_base
    writer, reader = pair
    calls: list[int] = []
    ev = base.event(reader, READ | ET | PERSIST, lambda fd, what, arg: calls.append(what))
    ev.add()
    writer.send(b"a")
    base.loop(NONBLOCK | ONCE)
    base.loop(NONBLOCK | ONCE)
    assert len(calls) == 1
    writer.send(b"b")  # more data: a new edge even though nothing was read
    base.loop(NONBLOCK | ONCE)
    base.loop(NONBLOCK | ONCE)
    assert len(calls) == 2
    ev.delete()


def test_level_triggered_keeps_firing_while_data_is_left(base: EventBase, pair: Pair) -> None:
    writer, reader = pair
    writer.send(b"abc")
    calls: list[int] = []

    def on_read(fd: int, what: int, arg: Any) -> None:
        calls.append(what)
        reader.recv(1)

    ev = base.event(reader, READ | PERSIST, on_read)
    ev.add()
    base.loop(NONBLOCK | ONCE)
    base.loop(NONBLOCK | ONCE)
    assert calls == [READ, READ]  # no ET bit for a level-triggered event
    ev.delete()


@pytest.mark.parametrize("method", LT_ONLY_METHODS)
def test_et_without_backend_support_raises(method: str, pair: Pair) -> None:
    with EventBase(EventConfig(method=method)) as base:
        ev = base.event(pair[1], READ | ET, lambda fd, what, arg: None)
        with pytest.raises(UnsupportedFeatureError, match=method):
            ev.add()
        assert ev.pending() == 0
        assert list(base.events()) == []
        # the same fd still works without ET
        plain = base.event(pair[1], READ, lambda fd, what, arg: None)
        plain.add()
        assert plain.pending(READ) == READ
        plain.delete()


def test_require_et_picks_an_et_backend() -> None:
    try:
        base = EventBase(EventConfig(require=Feature.ET))
    except NoBackendError:
        pytest.skip("no backend with Feature.ET here")
    with base:
        assert base.features & Feature.ET


@pytest.mark.parametrize("et_first", [True, False], ids=["et_then_lt", "lt_then_et"])
def test_et_mix_error(et_base: EventBase, pair: Pair, et_first: bool) -> None:
    base = et_base
    ev_et = base.event(pair[0], READ | ET, lambda fd, what, arg: None)
    ev_lt = base.event(pair[0], READ, lambda fd, what, arg: None)
    first, second = (ev_et, ev_lt) if et_first else (ev_lt, ev_et)
    first.add()
    with pytest.raises(InvalidEventError, match=str(pair[0].fileno())):
        second.add()
    assert first.pending(READ) == READ
    assert second.pending(READ) == 0
    # once the first is gone the other kind is accepted
    first.delete()
    second.add()
    assert second.pending(READ) == READ
    second.delete()


def test_et_mix_error_write_side(et_base: EventBase, pair: Pair) -> None:
    base = et_base
    base.event(pair[0], READ | ET, lambda fd, what, arg: None).add()
    with pytest.raises(InvalidEventError):
        base.event(pair[0], WRITE, lambda fd, what, arg: None).add()


def test_et_multiple_events(et_base: EventBase, pair: Pair) -> None:
    base = et_base
    writer, reader = pair
    reads: list[int] = []
    writes: list[int] = []
    writer.send(b"A")  # reader is readable (and, as always, writable)
    read_ev = base.event(reader, READ | ET | PERSIST, lambda fd, what, arg: reads.append(what))
    write_ev = base.event(reader, WRITE | ET | PERSIST, lambda fd, what, arg: writes.append(what))
    read_ev.add()
    write_ev.add()
    base.loop(NONBLOCK | ONCE)
    base.loop(NONBLOCK | ONCE)
    assert len(reads) == 1 and reads[0] & ET
    assert len(writes) == 1 and writes[0] & ET

    # Deleting one of two ET events must keep the other edge-triggered.
    read_ev.delete()
    writer.close()  # a new edge on reader
    base.loop(NONBLOCK | ONCE)
    base.loop(NONBLOCK | ONCE)
    assert len(writes) == 2
    assert writes[-1] & ET
    assert len(reads) == 1
    write_ev.delete()
