"""The watch/ group: prepare and check watchers (libevent 2.2's regress_watch.c)."""

from __future__ import annotations

import socket
import time
from typing import Any

from evweb.reactor import (
    NONBLOCK,
    READ,
    TIMEOUT,
    CheckInfo,
    EventBase,
    PrepareInfo,
    Watcher,
)

Pair = tuple[socket.socket, socket.socket]

DELAY = 0.05


def _iterations(log: list[str]) -> list[list[str]]:
    """Split a log of watcher names into loop iterations (each starts with a prepare)."""
    rounds: list[list[str]] = []
    for name in log:
        if name.startswith("prepare") and (not rounds or not rounds[-1][-1].startswith("prepare")):
            rounds.append([])
        if not rounds:
            rounds.append([])
        rounds[-1].append(name)
    return rounds


def test_callback_ordering_across_iterations(base: EventBase) -> None:
    arg = object()
    log: list[str] = []
    prepare_timeouts: list[float | None] = []
    times: dict[str, float] = {}

    def prepare_1(watcher: Watcher, info: PrepareInfo, a: Any) -> None:
        assert a is arg
        assert isinstance(info, PrepareInfo)
        log.append("prepare_1")
        prepare_timeouts.append(info.timeout)

    def prepare_2(watcher: Watcher, info: PrepareInfo, a: Any) -> None:
        assert a is arg
        log.append("prepare_2")

    def check_1(watcher: Watcher, info: CheckInfo, a: Any) -> None:
        assert a is arg
        assert isinstance(info, CheckInfo)
        log.append("check_1")
        times["check"] = time.monotonic()

    def check_2(watcher: Watcher, info: CheckInfo, a: Any) -> None:
        assert a is arg
        log.append("check_2")

    def on_timeout(fd: int, what: int, a: Any) -> None:
        log.append("timer")
        times["timer_check"] = times["check"]

    # registered interleaved; each kind runs in its own registration order
    base.watch_prepare(prepare_1, arg)
    base.watch_check(check_1, arg)
    p2 = base.watch_prepare(prepare_2, arg)
    c2 = base.watch_check(check_2, arg)
    assert p2.base is base and c2.base is base

    start = time.monotonic()
    base.once(-1, TIMEOUT, on_timeout, None, DELAY)
    assert base.dispatch() == 1

    rounds = _iterations(log)
    assert rounds, log
    for one in rounds[:-1]:
        assert one == ["prepare_1", "prepare_2", "check_1", "check_2"]
    assert rounds[-1] == ["prepare_1", "prepare_2", "check_1", "check_2", "timer"]
    first = prepare_timeouts[0]
    assert first is not None
    assert 0.0 <= first <= DELAY  # about the time left to the timer
    assert times["timer_check"] - start >= DELAY - 1e-6  # the poll really waited

    # second run: the freed watchers are no longer called, the others still are
    log.clear()
    prepare_timeouts.clear()
    p2.free()
    c2.free()
    base.once(-1, TIMEOUT, on_timeout, None, DELAY)
    assert base.dispatch() == 1
    rounds = _iterations(log)
    for one in rounds[:-1]:
        assert one == ["prepare_1", "check_1"]
    assert rounds[-1] == ["prepare_1", "check_1", "timer"]
    assert prepare_timeouts[0] is not None and 0.0 <= prepare_timeouts[0] <= DELAY


def test_prepare_timeout_none_when_blocking_indefinitely(base: EventBase, pair: Pair) -> None:
    timeouts: list[float | None] = []

    def prepare(watcher: Watcher, info: PrepareInfo, arg: Any) -> None:
        timeouts.append(info.timeout)
        if len(timeouts) == 1:
            pair[0].send(b"x")  # so that the indefinite poll returns at once

    def on_read(fd: int, what: int, arg: Any) -> None:
        pair[1].recv(16)

    watcher = base.watch_prepare(prepare)
    base.event(pair[1], READ, on_read).add()  # no timeout anywhere
    assert base.dispatch() == 1
    assert timeouts[0] is None
    watcher.free()


def test_prepare_timeout_tracks_nearest_timer(base: EventBase, pair: Pair) -> None:
    timeouts: list[float | None] = []

    def prepare(watcher: Watcher, info: PrepareInfo, arg: Any) -> None:
        timeouts.append(info.timeout)

    watcher = base.watch_prepare(prepare)
    far = base.timer(lambda fd, what, arg: None)
    far.add(30.0)
    near = base.timer(lambda fd, what, arg: base.loopbreak())
    near.add(DELAY)
    base.event(pair[1], READ, lambda fd, what, arg: None).add()
    base.dispatch()
    first = timeouts[0]
    assert first is not None
    assert 0.0 <= first <= DELAY  # the nearer timer, not the far one, nor None
    far.delete()
    watcher.free()


def test_prepare_timeout_zero_when_something_is_active(base: EventBase) -> None:
    timeouts: list[float | None] = []
    watcher = base.watch_prepare(lambda w, info, arg: timeouts.append(info.timeout))
    ev = base.timer(lambda fd, what, arg: None)
    ev.add(30.0)
    base.event(-1, 0, lambda fd, what, arg: None).activate(TIMEOUT)
    base.loop(NONBLOCK)
    assert timeouts and timeouts[0] == 0.0
    ev.delete()
    watcher.free()


def test_nonblock_loop_prepares_with_zero_timeout(base: EventBase) -> None:
    timeouts: list[float | None] = []
    watcher = base.watch_prepare(lambda w, info, arg: timeouts.append(info.timeout))
    ev = base.timer(lambda fd, what, arg: None)
    ev.add(30.0)
    base.loop(NONBLOCK)
    assert timeouts == [0.0]
    ev.delete()
    watcher.free()


def test_watchers_not_run_when_loop_has_nothing_to_do(base: EventBase) -> None:
    """Like libevent, an empty loop returns before preparing to poll."""
    calls: list[str] = []
    base.watch_prepare(lambda w, info, arg: calls.append("prepare"))
    base.watch_check(lambda w, info, arg: calls.append("check"))
    assert base.dispatch() == 1
    assert calls == []


def test_free_from_own_callback(base: EventBase) -> None:
    calls: list[str] = []

    def once_only(watcher: Watcher, info: PrepareInfo, arg: Any) -> None:
        calls.append("once_only")
        watcher.free()

    def always(watcher: Watcher, info: PrepareInfo, arg: Any) -> None:
        calls.append("always")

    base.watch_prepare(once_only)
    base.watch_prepare(always)
    ticks = 0

    def tick(fd: int, what: int, arg: Any) -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 3:
            timer.delete()

    timer = base.timer(tick, persist=True)
    timer.add(0.001)
    base.dispatch()
    assert calls.count("once_only") == 1
    assert calls.count("always") >= 3
    assert calls[:2] == ["once_only", "always"]


def test_free_twice_is_harmless(base: EventBase) -> None:
    watcher = base.watch_check(lambda w, info, arg: None)
    watcher.free()
    watcher.free()
    ev = base.timer(lambda fd, what, arg: None)
    ev.add(0)
    assert base.dispatch() == 1


def test_check_watcher_can_activate_events(base: EventBase) -> None:
    order: list[str] = []
    user = base.event(-1, 0, lambda fd, what, arg: order.append("activated"))

    def check(watcher: Watcher, info: CheckInfo, arg: Any) -> None:
        order.append("check")
        if order.count("check") == 1:
            user.activate(TIMEOUT)

    base.watch_prepare(lambda w, info, arg: order.append("prepare"))
    base.watch_check(check)
    base.timer(lambda fd, what, arg: order.append("timer")).add(0.01)
    assert base.dispatch() == 1
    assert order[:3] == ["prepare", "check", "activated"]
    assert order[-1] == "timer"


def test_watcher_attributes(base: EventBase) -> None:
    def cb(watcher: Watcher, info: Any, arg: Any) -> None:
        pass

    prepare = base.watch_prepare(cb, "p")
    check = base.watch_check(cb, "c")
    assert prepare.base is base and check.base is base
    assert prepare.arg == "p" and check.arg == "c"
    assert prepare.callback is cb
    prepare.free()
    check.free()
