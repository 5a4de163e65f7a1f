"""The fast path that runs plain events straight from the poll result.

Whatever an earlier callback in the same batch does, an event must run
exactly when libevent would run it: never after being deleted, never on
readiness seen before it was added (re-added, or a new event on a reused fd
number), never twice when also activated by hand.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from evweb.reactor import COUNT_ACTIVE, NONBLOCK, ONCE, PERSIST, READ, Event, EventBase

pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")

Pair = tuple[socket.socket, socket.socket]


def _pairs(n: int) -> list[Pair]:
    pairs = [socket.socketpair() for _ in range(n)]
    for a, b in pairs:
        a.setblocking(False)
        b.setblocking(False)
    return pairs


def _close(pairs: list[Pair]) -> None:
    for a, b in pairs:
        a.close()
        b.close()


@contextmanager
def _all_readable(
    base: EventBase, pairs: list[Pair], events: list[Event], cb: Callable[[int, int, int], None]
) -> Iterator[None]:
    """Add ``READ | PERSIST`` events (argument: the pair's index), make every pair readable.

    The events go into ``events`` (the callbacks may reach them there); on
    leaving, every event in it is deleted and the pairs are closed.
    """
    try:
        events.extend(base.event(a, READ | PERSIST, cb, i) for i, (a, _) in enumerate(pairs))
        for ev in events:
            ev.add()
        for _, b in pairs:
            b.send(b"x")
        yield
    finally:
        for ev in events:
            ev.delete()
        _close(pairs)


def test_event_deleted_by_earlier_callback_does_not_run(base: EventBase) -> None:
    pairs = _pairs(2)
    calls: list[int] = []
    events: list[Event] = []

    def cb(fd: int, what: int, index: int) -> None:
        calls.append(index)
        events[1 - index].delete()  # whoever runs first deletes the other

    with _all_readable(base, pairs, events, cb):
        base.loop(ONCE | NONBLOCK)
        assert len(calls) == 1


def test_event_readded_by_earlier_callback_waits_for_the_next_poll(base: EventBase) -> None:
    pairs = _pairs(2)
    calls: list[int] = []
    events: list[Event] = []

    def cb(fd: int, what: int, index: int) -> None:
        calls.append(index)
        pairs[index][0].recv(10)
        other = events[1 - index]
        if len(calls) == 1:
            other.delete()
            other.add()  # libevent: removed from this round, fires on the next

    with _all_readable(base, pairs, events, cb):
        base.loop(ONCE | NONBLOCK)
        assert len(calls) == 1
        base.loop(ONCE | NONBLOCK)
        assert sorted(calls) == [0, 1]


def test_reused_fd_number_is_not_run_on_stale_readiness(base: EventBase) -> None:
    pairs = _pairs(2)
    fresh: list[Pair] = []
    calls: list[str] = []
    events: list[Event] = []

    def first(fd: int, what: int, index: int) -> None:
        calls.append(f"first{index}")
        victim = 1 - index
        events[victim].delete()
        number = pairs[victim][0].fileno()
        pairs[victim][0].close()
        a, b = socket.socketpair()  # nothing to read on it
        a.setblocking(False)
        b.setblocking(False)
        fresh.append((a, b))
        if a.fileno() != number:  # make the new socket take the closed fd's number
            os.dup2(a.fileno(), number)
            a.close()
            a = socket.socket(fileno=number)
            fresh[-1] = (a, b)
        newcomer = base.event(a, READ | PERSIST, lambda *_: calls.append("stale"))
        events.append(newcomer)
        newcomer.add()

    try:
        with _all_readable(base, pairs, events, first):
            base.loop(ONCE | NONBLOCK)
            assert calls in (["first0"], ["first1"])
    finally:
        _close(fresh)


def test_event_activated_by_hand_in_the_same_batch_runs_once(base: EventBase) -> None:
    pairs = _pairs(2)
    calls: list[int] = []
    events: list[Event] = []

    def cb(fd: int, what: int, index: int) -> None:
        calls.append(index)
        try:
            pairs[index][0].recv(10)
        except BlockingIOError:
            pass
        if len(calls) == 1:
            events[1 - index].activate(READ)

    with _all_readable(base, pairs, events, cb):
        base.loop(ONCE | NONBLOCK)
        assert sorted(calls) == [0, 1]


def test_loopbreak_mid_batch_leaves_the_rest_for_the_next_loop(base: EventBase) -> None:
    pairs = _pairs(4)
    calls: list[int] = []

    def cb(fd: int, what: int, index: int) -> None:
        calls.append(index)
        pairs[index][0].recv(10)
        if len(calls) == 1:
            base.loopbreak()

    with _all_readable(base, pairs, [], cb):
        base.loop(0)
        assert len(calls) == 1 and base.got_break()
        for _ in range(10):
            if len(calls) == 4:
                break
            base.loop(ONCE | NONBLOCK)
        assert sorted(calls) == [0, 1, 2, 3]


def test_direct_events_count_towards_the_active_high_water_mark(base: EventBase) -> None:
    pairs = _pairs(5)
    events = [base.event(a, READ | PERSIST, lambda fd, what, s: s.recv(10), a) for a, _ in pairs]
    try:
        for ev in events:
            ev.add()
        for _, b in pairs:
            b.send(b"x")
        base.loop(ONCE | NONBLOCK)
        assert base.max_events(COUNT_ACTIVE) >= 5
    finally:
        for ev in events:
            ev.delete()
        _close(pairs)


def test_event_activated_later_in_the_same_batch_runs_once(base: EventBase) -> None:
    pairs = _pairs(2)
    calls: list[int] = []
    events: list[Event] = []

    def cb(fd: int, what: int, index: int) -> None:
        calls.append(index)
        try:
            pairs[index][0].recv(10)
        except BlockingIOError:
            pass
        if len(calls) == 1:
            base.activate_later(events[1 - index], READ)

    with _all_readable(base, pairs, events, cb):
        for _ in range(3):
            base.loop(ONCE | NONBLOCK)
        assert sorted(calls) == [0, 1]
