"""The finalize/ group: deleting an event without waiting, with a finalizer run from the loop.

Mirrors what libevent's regress_finalize.c checks: cb_invoked, free_finalize,
within_cb and debug_use_after_free.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from typing import Any

import pytest

from evweb.errors import EventStateError
from evweb.reactor import (
    FINALIZE,
    NONBLOCK,
    PERSIST,
    READ,
    SELF,
    TIMEOUT,
    Event,
    EventBase,
    EventConfig,
)

Pair = tuple[socket.socket, socket.socket]


def nothing(fd: int, what: int, arg: Any) -> None:
    """A callback that does nothing."""


class Counter:
    """Adds 1 per callback and 100 per finalizer, as libevent's test does."""

    def __init__(self) -> None:
        self.value = 0
        self.finalized: list[tuple[Event, Any]] = []

    def callback(self, fd: int, what: int, arg: Any) -> None:
        self.value += 1

    def finalizer(self, ev: Event, arg: Any) -> None:
        self.value += 100
        self.finalized.append((ev, arg))


def test_finalizer_invoked_for_event_never_added(base: EventBase) -> None:
    counter = Counter()
    ev = base.timer(counter.callback, "the arg")
    ev.finalize(counter.finalizer)
    assert counter.value == 0  # not before the loop runs
    assert base.dispatch() == 1
    assert counter.value == 100
    assert counter.finalized == [(ev, "the arg")]


def test_activated_event_runs_normally(base: EventBase) -> None:
    counter = Counter()
    ev = base.timer(counter.callback)
    ev.activate(TIMEOUT)
    assert base.dispatch() == 1
    assert counter.value == 1


def test_finalize_active_event_runs_only_the_finalizer(base: EventBase) -> None:
    counter = Counter()
    ev = base.timer(counter.callback)
    ev.activate(TIMEOUT)
    ev.finalize(counter.finalizer)
    assert base.dispatch() == 1
    assert counter.value == 100


def test_finalize_added_timer_does_not_wait_for_its_timeout(base: EventBase) -> None:
    counter = Counter()
    ev = base.timer(counter.callback)
    ev.add(10.0)
    ev.finalize(counter.finalizer)
    assert ev.pending(TIMEOUT) == 0
    start = time.monotonic()
    assert base.dispatch() == 1
    assert time.monotonic() - start < 5.0
    assert counter.value == 100


def test_finalize_io_event_unregisters_fd(base: EventBase, pair: Pair) -> None:
    counter = Counter()
    ev = base.event(pair[1], READ | PERSIST, counter.callback)
    ev.add()
    ev.finalize(counter.finalizer)
    pair[0].send(b"x")  # readable, but the event is gone
    assert base.dispatch() == 1
    assert counter.value == 100
    assert list(base.events()) == []


def test_add_and_activate_after_finalize_raise_delete_is_noop(base: EventBase) -> None:
    counter = Counter()
    ev = base.timer(counter.callback)
    ev2 = base.timer(counter.callback)
    ev.add(10.0)
    ev.free_finalize(counter.finalizer)
    ev2.finalize(counter.finalizer)

    with pytest.raises(EventStateError):
        ev2.add(10.0)
    with pytest.raises(EventStateError):
        ev2.activate(TIMEOUT)
    ev.delete()  # no effect: the finalizer must still run
    ev.delete()
    with pytest.raises(EventStateError):
        ev.add()

    start = time.monotonic()
    assert base.dispatch() == 1
    assert time.monotonic() - start < 5.0
    assert counter.value == 200
    assert [e for e, _ in counter.finalized] == [ev, ev2]


def test_free_finalize(base: EventBase) -> None:
    counter = Counter()
    counter2 = Counter()
    ev = base.timer(counter.callback, "one")
    ev2 = base.timer(counter2.callback, "two")
    ev.free_finalize(counter.finalizer)
    ev2.finalize(counter2.finalizer)
    assert base.dispatch() == 1
    assert counter.value == 100
    assert counter2.value == 100
    assert counter.finalized == [(ev, "one")]
    assert counter2.finalized == [(ev2, "two")]
    ev2.free()  # freeing the finalized event afterwards is fine


def test_finalizer_runs_once(base: EventBase) -> None:
    counter = Counter()
    ev = base.timer(counter.callback)
    ev.finalize(counter.finalizer)
    base.dispatch()
    base.loop(NONBLOCK)
    assert counter.value == 100
    ev.delete()


@pytest.mark.parametrize("flags", [0, PERSIST], ids=["plain", "persist"])
def test_finalize_within_callback(base: EventBase, flags: int) -> None:
    """Each callback finalizes both events: the first runs, the second only finalizes."""
    counts = {"one": 0, "two": 0}
    events: dict[str, Event] = {}

    def make(name: str, other: str) -> Any:
        def on_fire(fd: int, what: int, arg: Any) -> None:
            events[name].finalize(make_finalizer(name))  # its own event
            events[other].finalize(make_finalizer(other))
            counts[name] += 1

        return on_fire

    def make_finalizer(name: str) -> Any:
        def finalizer(ev: Event, arg: Any) -> None:
            assert ev is events[name]
            counts[name] += 100

        return finalizer

    events["one"] = base.event(-1, flags, make("one", "two"))
    events["two"] = base.event(-1, flags, make("two", "one"))
    events["one"].activate(TIMEOUT)
    events["two"].activate(TIMEOUT)
    assert base.dispatch() == 1
    assert counts == {"one": 101, "two": 100}


def test_finalize_own_running_event_from_its_callback(base: EventBase, pair: Pair) -> None:
    order: list[str] = []

    def on_read(fd: int, what: int, ev: Event) -> None:
        order.append("callback")
        ev.finalize(lambda e, arg: order.append("finalizer"))
        order.append("callback returns")

    ev = base.event(pair[1], READ | PERSIST | FINALIZE, on_read, SELF)
    ev.add()
    pair[0].send(b"x")
    assert base.dispatch() == 1
    assert order == ["callback", "callback returns", "finalizer"]


def test_base_close_runs_pending_finalizers(base: EventBase) -> None:
    counter = Counter()
    ev = base.timer(counter.callback)
    ev.add(10.0)
    ev.finalize(counter.finalizer)
    base.close()
    assert counter.value == 100
    assert counter.finalized == [(ev, None)]


def test_base_close_can_skip_finalizers(base: EventBase) -> None:
    counter = Counter()
    ev = base.timer(counter.callback)
    ev.finalize(counter.finalizer)
    base.close(run_finalizers=False)  # libevent's event_base_free_nofinalize
    assert counter.value == 0


def test_assign_in_finalizer_makes_event_usable_again(base: EventBase) -> None:
    """finalize/debug_use_after_free: re-assign in the finalizer, add and finalize again."""
    calls: list[str] = []

    def finalizer(ev: Event, arg: Any) -> None:
        calls.append("finalized")
        ev.assign(base, -1, 0, lambda fd, what, a: calls.append("fired"))

    ev = base.event(-1, 0, lambda fd, what, arg: calls.append("old callback"))
    ev.add()
    ev.finalize(finalizer)
    base.dispatch()
    assert calls == ["finalized"]

    ev.add(0)
    base.dispatch()
    assert calls == ["finalized", "fired"]
    ev.add(10.0)
    ev.finalize(finalizer)
    base.dispatch()
    assert calls == ["finalized", "fired", "finalized"]


def test_close_survives_a_raising_finalizer(method: str) -> None:
    base = EventBase(EventConfig(method=method, threadsafe=True))
    ran: list[str] = []

    def bad(ev: Event, arg: Any) -> None:
        ran.append("bad")
        raise RuntimeError("finalizer failed")

    def good(ev: Event, arg: Any) -> None:
        ran.append("good")

    base.timer(nothing).finalize(bad)
    base.timer(nothing).finalize(good)
    try:
        with contextlib.suppress(RuntimeError):
            base.close()
        assert base.closed
        assert sorted(ran) == ["bad", "good"]
    finally:
        base.close()  # release everything whatever happened above


def test_raising_finalizer_in_loop_is_logged(
    base: EventBase, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def bad(ev: Event, arg: Any) -> None:
        ran.append("bad")
        raise RuntimeError("finalizer failed in loop")

    base.timer(nothing).finalize(bad)
    base.timer(nothing).finalize(lambda ev, arg: ran.append("good"))
    with caplog.at_level(logging.ERROR, logger="evweb.reactor"):
        assert base.dispatch() == 1
    assert ran == ["bad", "good"]
    assert "finalizer failed in loop" in caplog.text


def test_close_callbacks_run_once_in_order_before_the_events_go(method: str) -> None:
    base = EventBase(EventConfig(method=method))
    timer = base.timer(nothing)
    timer.add(10.0)
    seen: list[tuple[str, bool]] = []

    def first() -> None:
        seen.append(("first", bool(timer.pending())))  # the service may still use its events
        raise RuntimeError("a broken close callback")  # logged, the others still run

    base.call_on_close(first)
    base.call_on_close(lambda: seen.append(("second", base.closed)))
    base.close()
    base.close()
    assert seen == [("first", True), ("second", False)]
    with pytest.raises(EventStateError, match="closed"):
        base.call_on_close(lambda: None)
