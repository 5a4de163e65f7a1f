"""Priorities: strict ordering, inversion, defaults and refusals (libevent main/priorities)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from evweb.errors import EventStateError, InvalidPriorityError
from evweb.reactor import (
    MAX_PRIORITIES,
    NONBLOCK,
    PERSIST,
    READ,
    SELF,
    TIMEOUT,
    WRITE,
    Event,
    EventBase,
    EventConfig,
)

pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")


Pair = tuple[socket.socket, socket.socket]


def noop(fd: int, what: int, arg: Any) -> None:
    pass


@pytest.mark.parametrize(("npriorities", "expected"), [(1, (3, 3)), (2, (3, 1)), (3, (3, 0))])
def test_priorities(method: str, npriorities: int, expected: tuple[int, int]) -> None:
    """main/priorities: a busy urgent timer starves a less urgent one.

    Both re-add themselves with a zero timeout; the urgent one calls loopexit
    on its fourth run. loopexit's event has the middle priority, so the other
    timer runs once more only when it shares or precedes that priority.
    """
    with EventBase(EventConfig(method=method)) as base:
        base.priority_init(npriorities)
        counts = {"one": 0, "two": 0}

        def tick(fd: int, what: int, arg: tuple[str, list[Event]]) -> None:
            name, holder = arg
            if counts[name] == 3:
                base.loopexit()
                return
            counts[name] += 1
            holder[0].add(0)

        one_holder: list[Event] = []
        two_holder: list[Event] = []
        one = base.timer(tick, ("one", one_holder))
        two = base.timer(tick, ("two", two_holder))
        one_holder.append(one)
        two_holder.append(two)
        one.priority = 0
        two.priority = npriorities - 1
        one.add(0)
        two.add(0)
        assert base.dispatch() == 0
        one.delete()
        two.delete()
        assert (counts["one"], counts["two"]) == expected


def test_priority_active_inversion(base: EventBase) -> None:
    """main/priority_active_inversion: a more urgent event activated later runs first."""
    base.priority_init(8)
    call_order = [-1, -1, -1]
    n_calls = [0]
    events: list[Event] = []

    def on_event(fd: int, what: int, index: int) -> None:
        call_order[index] = n_calls[0]
        n_calls[0] += 1
        if n_calls[0] == 1:
            events[1].activate(READ)  # same priority as us: runs after...
            events[2].activate(TIMEOUT)  # ...this more urgent one, activated second

    for i in range(3):
        events.append(base.event(-1, 0, on_event, i))
    events[0].priority = 4
    events[1].priority = 4
    events[2].priority = 0
    events[0].activate(WRITE)
    assert base.dispatch() == 1
    assert n_calls[0] == 3
    assert call_order == [0, 2, 1]


def test_only_the_most_urgent_queue_runs_per_iteration(base: EventBase) -> None:
    base.priority_init(3)
    trace: list[str] = []
    base.watch_check(lambda w, info, arg: trace.append("poll"))
    for name, priority in [("c", 2), ("b1", 1), ("a", 0), ("b2", 1)]:
        ev = base.event(-1, 0, lambda fd, what, arg: trace.append(arg), name)
        ev.priority = priority
        ev.activate(TIMEOUT)
    assert base.dispatch() == 1
    assert trace == ["poll", "a", "poll", "b1", "b2", "poll", "c"]


def test_urgent_persistent_events_starve_the_rest(base: EventBase, pair: Pair) -> None:
    """A persistently ready urgent event keeps a less urgent one from ever running."""
    base.priority_init(2)
    runs = {"urgent": 0, "lazy": 0}

    def urgent(fd: int, what: int, ev: Event) -> None:
        runs["urgent"] += 1
        if runs["urgent"] == 20:
            ev.delete()

    # pair[0] stays writable: a persistent WRITE event is ready on every poll
    hot = base.event(pair[0], WRITE | PERSIST, urgent, SELF)
    hot.priority = 0
    hot.add()
    lazy = base.event(-1, 0, lambda fd, what, arg: runs.__setitem__("lazy", runs["urgent"]))
    lazy.priority = 1
    lazy.activate(TIMEOUT)
    assert base.dispatch() == 1
    assert runs["urgent"] == 20
    assert runs["lazy"] == 20  # ran only once the urgent one was gone


@pytest.mark.parametrize("npriorities", [1, 2, 3, 8, 255])
def test_default_priority_is_the_middle(base: EventBase, npriorities: int) -> None:
    base.priority_init(npriorities)
    assert base.npriorities == npriorities
    assert base.event(-1, 0, noop).priority == npriorities // 2
    assert base.timer(noop).priority == npriorities // 2
    seen: list[int] = []
    base.once(-1, TIMEOUT, lambda fd, what, arg: seen.append(0))
    ran: list[int] = []

    def find_once(ev: Event) -> int:
        ran.append(ev.priority)
        return 0

    base.foreach_event(find_once)
    assert ran == [npriorities // 2]
    assert base.dispatch() == 1
    assert seen == [0]


def test_a_new_base_has_one_queue(base: EventBase) -> None:
    assert base.npriorities == 1
    assert base.event(-1, 0, noop).priority == 0


def test_priority_init_refused_while_events_are_active(base: EventBase) -> None:
    ev = base.event(-1, 0, noop)
    ev.activate(READ)
    with pytest.raises(EventStateError):
        base.priority_init(4)
    assert base.npriorities == 1
    ev.delete()
    base.priority_init(4)
    assert base.npriorities == 4


def test_priority_init_refused_while_an_event_is_active_later(base: EventBase) -> None:
    ev = base.event(-1, 0, noop)
    base.activate_later(ev, READ)
    with pytest.raises(EventStateError):
        base.priority_init(4)
    ev.delete()


def test_priority_init_allowed_with_merely_pending_events(base: EventBase, pair: Pair) -> None:
    ev = base.event(pair[0], READ, noop)
    ev.add(10)
    base.priority_init(5)
    assert base.npriorities == 5
    ev.delete()


@pytest.mark.parametrize("n", [0, -1, 1000])
def test_priority_init_out_of_range(base: EventBase, n: int) -> None:
    with pytest.raises(InvalidPriorityError):
        base.priority_init(n)
    assert base.npriorities == 1


def test_priority_init_upper_bound(base: EventBase) -> None:
    assert MAX_PRIORITIES == 256
    base.priority_init(MAX_PRIORITIES - 1)
    assert base.npriorities == MAX_PRIORITIES - 1


def test_priority_init_256_is_refused(base: EventBase) -> None:
    with pytest.raises(InvalidPriorityError):
        base.priority_init(MAX_PRIORITIES)


def test_priority_init_same_count_is_a_no_op(base: EventBase) -> None:
    base.priority_init(3)
    ev = base.event(-1, 0, noop)
    ev.priority = 2
    base.priority_init(3)
    assert base.npriorities == 3
    assert ev.priority == 2


def test_priority_setter(base: EventBase, pair: Pair) -> None:
    base.priority_init(3)
    ev = base.event(pair[0], READ, noop)
    ev.priority = 0
    assert ev.priority == 0
    ev.priority = 2
    assert ev.priority == 2
    for bad in (-1, 3, 100):
        with pytest.raises(InvalidPriorityError):
            ev.priority = bad
    assert ev.priority == 2
    ev.add()
    ev.priority = 1  # merely pending: allowed
    assert ev.priority == 1
    ev.delete()


def test_priority_setter_refused_while_active(base: EventBase) -> None:
    base.priority_init(3)
    ev = base.event(-1, 0, noop)
    ev.activate(READ)
    with pytest.raises(EventStateError):
        ev.priority = 0
    assert ev.priority == 1
    assert base.loop(NONBLOCK) == 1
    ev.priority = 0  # no longer active
    assert ev.priority == 0


def test_events_run_in_priority_order_whatever_the_activation_order(base: EventBase) -> None:
    base.priority_init(4)
    order: list[int] = []
    for priority in (3, 1, 2, 0, 3, 0):
        ev = base.event(-1, 0, lambda fd, what, arg: order.append(arg), priority)
        ev.priority = priority
        ev.activate(TIMEOUT)
    assert base.dispatch() == 1
    assert order == [0, 0, 1, 2, 3, 3]
