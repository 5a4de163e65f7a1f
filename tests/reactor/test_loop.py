"""The loop itself: flags, return codes, exit/break/continue, dispatch limits, watchers.

Ports the loop-level checks of libevent's ``main/`` group (regress.c) and of
``watch/`` (regress_watch.c). Timing assertions only bound from below (never
early) and from above by a generous margin, so a loaded machine cannot make
them fail.
"""

from __future__ import annotations

import io
import socket
import time
from typing import Any

import pytest

from evweb.errors import EventStateError, ReentrantLoopError
from evweb.reactor import (
    COUNT_ADDED,
    NO_EXIT_ON_EMPTY,
    NONBLOCK,
    ONCE,
    PERSIST,
    READ,
    SELF,
    TIMEOUT,
    WRITE,
    CheckInfo,
    Event,
    EventBase,
    EventConfig,
    PrepareInfo,
    Watcher,
)

EPS = 0.002
"""How early a timer may seem to fire because of clock read order."""
LATE = 1.0
"""How late anything may be on a loaded machine before we call it a bug."""

Pair = tuple[socket.socket, socket.socket]


pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")


def noop(fd: int, what: int, arg: Any) -> None:
    pass


# --- return codes and loop flags ------------------------------------------------


def test_dispatch_with_no_events_returns_1(base: EventBase) -> None:
    assert base.dispatch() == 1
    assert base.loop(ONCE) == 1
    assert base.loop(NONBLOCK) == 1
    assert not base.got_exit()
    assert not base.got_break()


def test_dispatch_returns_1_once_the_last_event_is_gone(base: EventBase) -> None:
    calls: list[int] = []
    base.timer(lambda fd, what, arg: calls.append(what)).add(0.001)
    assert base.dispatch() == 1
    assert calls == [TIMEOUT]


def test_nonblock_returns_0_when_nothing_is_ready(base: EventBase, pair: Pair) -> None:
    calls: list[int] = []
    ev = base.event(pair[0], READ, lambda fd, what, arg: calls.append(what))
    ev.add()
    start = time.monotonic()
    assert base.loop(NONBLOCK) == 0
    assert time.monotonic() - start < LATE
    assert calls == []
    assert ev.pending(READ) == READ
    ev.delete()


def test_nonblock_runs_what_is_ready(base: EventBase, pair: Pair) -> None:
    calls: list[int] = []

    def on_read(fd: int, what: int, arg: Any) -> None:
        calls.append(what)
        assert pair[0].recv(16) == b"x"

    ev = base.event(pair[0], READ | PERSIST, on_read)
    ev.add()
    pair[1].send(b"x")
    assert base.loop(NONBLOCK) == 0
    assert calls == [READ]
    ev.delete()


def test_once_blocks_until_a_callback_ran(base: EventBase) -> None:
    fired: list[float] = []
    start = time.monotonic()
    base.timer(lambda fd, what, arg: fired.append(time.monotonic())).add(0.02)
    assert base.loop(ONCE) == 0
    assert len(fired) == 1
    assert start + 0.02 - EPS <= fired[0] <= start + 0.02 + LATE


def test_once_returns_after_one_round_even_with_persistent_events(base: EventBase) -> None:
    calls: list[int] = []
    ev = base.timer(lambda fd, what, arg: calls.append(what), persist=True)
    ev.add(0.005)
    assert base.loop(ONCE) == 0
    assert calls == [TIMEOUT]
    assert ev.pending(TIMEOUT) == TIMEOUT
    assert base.loop(ONCE) == 0
    assert calls == [TIMEOUT, TIMEOUT]
    ev.delete()


def test_no_exit_on_empty_with_nonblock_returns_0(base: EventBase) -> None:
    assert base.loop(NONBLOCK) == 1
    assert base.loop(NONBLOCK | NO_EXIT_ON_EMPTY) == 0


def test_no_exit_on_empty_keeps_looping(base: EventBase, pair: Pair) -> None:
    """An empty base with NO_EXIT_ON_EMPTY goes on to poll instead of returning 1.

    The proof: a prepare watcher sees an iteration with nothing pending (the
    poll would block forever), and only then makes an event ready that breaks
    the loop.
    """
    fired: list[int] = []
    seen: list[tuple[int, float | None]] = []

    def on_timer(fd: int, what: int, arg: Any) -> None:
        fired.append(what)

    def on_read(fd: int, what: int, arg: Any) -> None:
        assert pair[0].recv(16) == b"x"
        base.loopbreak()

    def prepare(w: Watcher, info: PrepareInfo, arg: Any) -> None:
        pending = base.num_events(COUNT_ADDED)
        seen.append((pending, info.timeout))
        if fired and pending == 0:
            pair[1].send(b"x")
            base.event(pair[0], READ, on_read).add()

    base.watch_prepare(prepare)
    base.timer(on_timer).add(0.001)
    assert base.loop(NO_EXIT_ON_EMPTY) == 0
    assert fired == [TIMEOUT]
    assert (0, None) in seen
    assert base.got_break()
    assert not base.got_exit()
    # without the flag the same, now empty, base returns at once
    assert base.dispatch() == 1


def test_reentrant_loop_is_refused(base: EventBase) -> None:
    """main/bad_reentrant: a nested loop on the same base fails, the outer one goes on."""
    seen: list[str] = []

    def nested(fd: int, what: int, arg: Any) -> None:
        assert base.running
        with pytest.raises(ReentrantLoopError):
            base.loop()
        with pytest.raises(ReentrantLoopError):
            base.dispatch()
        with pytest.raises(ReentrantLoopError):
            base.loop(NONBLOCK)
        seen.append("nested")

    ev = base.event(-1, 0, nested)
    ev.activate(WRITE)
    assert not base.running
    assert base.loop() == 1
    assert seen == ["nested"]
    assert not base.running
    assert issubclass(ReentrantLoopError, RuntimeError)


def test_a_callback_may_run_another_base(base: EventBase, method: str) -> None:
    """Only the same base is refused: running a second base from a callback is fine."""
    inner_runs: list[int] = []

    def outer(fd: int, what: int, arg: Any) -> None:
        with EventBase(EventConfig(method=method)) as other:
            other.timer(lambda fd, what, arg: inner_runs.append(what)).add(0)
            assert other.dispatch() == 1

    base.event(-1, 0, outer).activate(TIMEOUT)
    assert base.dispatch() == 1
    assert inner_runs == [TIMEOUT]


def test_loop_on_closed_base_is_refused(method: str) -> None:
    base = EventBase(EventConfig(method=method))
    base.close()
    assert base.closed
    with pytest.raises(EventStateError):
        base.dispatch()
    with pytest.raises(EventStateError):
        base.timer(noop).add(1.0)
    base.close()  # closing twice is harmless


def test_event_base_new_reads_then_exits(method: str, pair: Pair) -> None:
    """main/event_base_new: data then EOF on a fresh base; loopexit from the callback."""
    pair[0].send(b"This is a test\x00")
    pair[0].shutdown(socket.SHUT_WR)
    with EventBase(EventConfig(method=method)) as base:
        reads: list[bytes] = []

        def on_read(fd: int, what: int, ev: Event) -> None:
            data = pair[1].recv(256)
            reads.append(data)
            if data:
                return
            ev.delete()
            base.loopexit()

        ev = base.event(pair[1], READ | PERSIST, on_read, SELF)
        ev.add()
        assert base.loop() == 0
        assert reads == [b"This is a test\x00", b""]
        assert base.got_exit()


def test_free_active_base(method: str, pair: Pair) -> None:
    """main/free_active_base: closing a base with added or active events is fine."""
    base = EventBase(EventConfig(method=method))
    ev = base.event(pair[1], READ, noop)
    ev.add()
    base.close()
    assert not ev.is_pending()

    base = EventBase(EventConfig(method=method))
    ev = base.event(pair[0], 0, noop)
    ev.activate(READ)
    assert ev.pending(READ) == READ
    base.close()
    assert not ev.is_pending()


# --- loopexit / loopbreak / loopcontinue ---------------------------------------------


def test_loopexit_after_delay(base: EventBase) -> None:
    """main/loopexit: a far timer does not keep the loop past loopexit's delay."""
    far = base.timer(noop)
    far.add(24 * 3600)
    base.loopexit(0.03)
    start = time.monotonic()
    assert base.dispatch() == 0
    elapsed = time.monotonic() - start
    assert 0.03 - EPS <= elapsed <= 0.03 + LATE
    assert base.got_exit()
    assert not base.got_break()
    assert far.pending(TIMEOUT) == TIMEOUT
    far.delete()


def test_loopexit_before_dispatch_works(base: EventBase) -> None:
    """loopexit is an event, so asking before the loop runs is not lost."""
    calls: list[int] = []
    far = base.timer(lambda fd, what, arg: calls.append(what))
    far.add(3600)
    base.loopexit()
    start = time.monotonic()
    assert base.dispatch() == 0
    assert time.monotonic() - start < LATE
    assert base.got_exit()
    assert calls == []
    far.delete()


def test_loopexit_multiple_first_one_wins(base: EventBase) -> None:
    """main/loopexit_multiple: the earlier of two loopexits ends the loop."""
    base.loopexit(0.02)
    base.loopexit(3)
    start = time.monotonic()
    assert base.dispatch() == 0
    elapsed = time.monotonic() - start
    assert 0.02 - EPS <= elapsed < 2.0
    assert base.got_exit()
    assert not base.got_break()


def test_loopexit_finishes_the_current_round(base: EventBase) -> None:
    order: list[str] = []

    def first(fd: int, what: int, arg: Any) -> None:
        order.append("first")
        base.loopexit()

    events = [
        base.event(-1, 0, first),
        base.event(-1, 0, lambda fd, what, arg: order.append("second")),
        base.event(-1, 0, lambda fd, what, arg: order.append("third")),
    ]
    for ev in events:
        ev.activate(TIMEOUT)
    assert base.dispatch() == 0
    assert order == ["first", "second", "third"]
    assert base.got_exit()


def test_loopbreak_stops_after_the_current_callback(base: EventBase) -> None:
    """main/loopbreak: the second due timer does not run after a break."""
    order: list[str] = []

    def breaker(fd: int, what: int, arg: Any) -> None:
        order.append("break")
        base.loopbreak()

    ev1 = base.timer(breaker)
    ev2 = base.timer(lambda fd, what, arg: order.append("fail"))
    ev1.add(0)
    ev2.add(0)
    assert base.dispatch() == 0
    assert order == ["break"]
    assert base.got_break()
    assert not base.got_exit()
    # the interrupted event is still active and runs on the next loop
    assert ev2.pending(TIMEOUT) == TIMEOUT
    assert base.loop(NONBLOCK) == 1  # ran it, then found nothing left
    assert order == ["break", "fail"]
    assert not base.got_break()


def test_loopbreak_before_dispatch_is_lost(base: EventBase) -> None:
    """libevent resets the break flag when the loop starts (issue #1292)."""
    calls: list[int] = []
    base.loopbreak()
    base.timer(lambda fd, what, arg: calls.append(what)).add(0.001)
    assert base.dispatch() == 1
    assert calls == [TIMEOUT]
    assert not base.got_break()
    assert not base.got_exit()


def test_got_exit_and_got_break_last_until_the_next_loop(base: EventBase) -> None:
    base.loopexit()
    assert base.dispatch() == 0
    assert base.got_exit()
    assert base.got_exit()  # reading does not reset it
    assert base.dispatch() == 1
    assert not base.got_exit()

    base.event(-1, 0, lambda fd, what, arg: base.loopbreak()).activate(TIMEOUT)
    assert base.dispatch() == 0
    assert base.got_break()
    assert not base.got_exit()
    assert base.loop(NONBLOCK) == 1
    assert not base.got_break()


def test_loopcontinue_polls_again_before_the_next_callback(base: EventBase) -> None:
    trace: list[str] = []
    watcher = base.watch_check(lambda w, info, arg: trace.append("poll"))

    def first(fd: int, what: int, arg: Any) -> None:
        trace.append("first")
        base.loopcontinue()

    base.event(-1, 0, first).activate(TIMEOUT)
    base.event(-1, 0, lambda fd, what, arg: trace.append("second")).activate(TIMEOUT)
    assert base.dispatch() == 1
    assert trace == ["poll", "first", "poll", "second"]

    # without loopcontinue both run after the same poll
    trace.clear()
    base.event(-1, 0, lambda fd, what, arg: trace.append("a")).activate(TIMEOUT)
    base.event(-1, 0, lambda fd, what, arg: trace.append("b")).activate(TIMEOUT)
    assert base.dispatch() == 1
    assert trace == ["poll", "a", "b"]
    watcher.free()


# --- max dispatch interval / callbacks --------------------------------------------------


def _traced_run(base: EventBase, names: list[tuple[str, int]], sleep: float = 0.0) -> list[str]:
    trace: list[str] = []
    watcher = base.watch_check(lambda w, info, arg: trace.append("poll"))

    def run(fd: int, what: int, name: str) -> None:
        trace.append(name)
        if sleep:
            time.sleep(sleep)

    for name, priority in names:
        ev = base.event(-1, 0, run, name)
        ev.priority = priority
        ev.activate(TIMEOUT)
    assert base.dispatch() == 1
    watcher.free()
    return trace


def test_max_dispatch_callbacks(method: str) -> None:
    config = EventConfig(method=method).set_max_dispatch_interval(None, 2, 0)
    with EventBase(config) as base:
        trace = _traced_run(base, [(f"e{i}", 0) for i in range(5)])
    assert trace == ["poll", "e0", "e1", "poll", "e2", "e3", "poll", "e4"]


def test_max_dispatch_interval(method: str) -> None:
    config = EventConfig(method=method).set_max_dispatch_interval(0.002, None, 0)
    with EventBase(config) as base:
        trace = _traced_run(base, [("e0", 0), ("e1", 0), ("e2", 0)], sleep=0.005)
    assert trace == ["poll", "e0", "poll", "e1", "poll", "e2"]


def test_max_dispatch_limits_only_from_min_priority(method: str) -> None:
    config = EventConfig(method=method).set_max_dispatch_interval(None, 1, 1)
    with EventBase(config) as base:
        base.priority_init(2)
        trace = _traced_run(base, [("b0", 1), ("b1", 1), ("a0", 0), ("a1", 0), ("a2", 0)])
    assert trace == ["poll", "a0", "a1", "a2", "poll", "b0", "poll", "b1"]


def test_no_dispatch_limit_by_default(base: EventBase) -> None:
    trace = _traced_run(base, [(f"e{i}", 0) for i in range(40)])
    assert trace == ["poll"] + [f"e{i}" for i in range(40)]


# --- active later ------------------------------------------------------------------------


def test_active_later_does_not_starve_io(base: EventBase, pair: Pair) -> None:
    """main/active_later: two events re-activating each other "later" leave room for IO."""
    counts = {"write": 0, "read": 0, "other": 0}

    def write_a_byte(fd: int, what: int, arg: Any) -> None:
        try:
            pair[1].send(b"x")
        except BlockingIOError:
            return
        counts["write"] += 1

    def read_and_drain(fd: int, what: int, arg: Any) -> None:
        counts["read"] += 1
        try:
            while pair[0].recv(128):
                pass
        except BlockingIOError:
            pass

    def activate_other(fd: int, what: int, other: list[Event]) -> None:
        counts["other"] += 1
        base.activate_later(other[0], READ)

    ev1 = base.event(pair[0], READ | PERSIST, read_and_drain)
    ev2 = base.event(pair[1], WRITE | PERSIST, write_a_byte)
    ref3: list[Event] = []
    ref4: list[Event] = []
    ev3 = base.event(-1, 0, activate_other, ref4)
    ev4 = base.event(-1, 0, activate_other, ref3)
    ref3.append(ev3)
    ref4.append(ev4)
    ev1.add()
    ev2.add()
    base.activate_later(ev3, READ)
    base.loopexit(0.1)
    assert base.dispatch() == 0
    ev3.delete()
    ev4.delete()

    assert counts["write"] == counts["other"]
    assert counts["write"] > 100
    assert counts["read"] > 100
    assert counts["other"] > 100

    # an immediate activation overrides a pending "later" one
    ev1.delete()
    ev2.delete()
    base.activate_later(ev4, READ)
    assert "[NextTime]" in _dump_line(base, ev4)
    ev4.activate(READ)
    line = _dump_line(base, ev4)
    assert line.endswith(" Read active")
    assert ev4.pending(READ) == READ
    # left "later" on purpose: close() must cope with it
    base.activate_later(ev3, READ)
    assert ev3.pending(READ) == READ
    assert "[NextTime]" in _dump_line(base, ev3)


def _dump_line(base: EventBase, ev: Event) -> str:
    out = io.StringIO()
    base.dump_events(out)
    active = out.getvalue().split("Active events:\n", 1)[1]
    lines = [line for line in active.splitlines() if line.startswith(f"  {id(ev):#x} ")]
    assert len(lines) == 1, out.getvalue()
    return lines[0]


# --- prepare and check watchers (regress_watch.c) -----------------------------------------


def test_watchers_ordering_and_timeout(base: EventBase) -> None:
    """watch/callback_ordering: registration order, prepare before check, free stops one."""
    trace: list[str] = []
    prepare_timeouts: list[float | None] = []
    token = object()
    iteration = [0]
    times: dict[str, float] = {}

    def prepare1(w: Watcher, info: PrepareInfo, arg: Any) -> None:
        assert arg is token
        assert w.base is base
        assert isinstance(info, PrepareInfo)
        trace.append("p1")
        if "start" not in times:
            times["start"] = time.monotonic()
            prepare_timeouts.append(info.timeout)

    def prepare2(w: Watcher, info: PrepareInfo, arg: Any) -> None:
        assert arg is token
        assert iteration[0] == 0
        trace.append("p2")

    def check1(w: Watcher, info: CheckInfo, arg: Any) -> None:
        assert arg is token
        assert isinstance(info, CheckInfo)
        trace.append("c1")
        times["end"] = time.monotonic()

    def check2(w: Watcher, info: CheckInfo, arg: Any) -> None:
        assert arg is token
        assert iteration[0] == 0
        trace.append("c2")

    def on_timeout(fd: int, what: int, arg: Any) -> None:
        trace.append("timeout")
        assert times["end"] >= times["scheduled"] + 0.05 - EPS

    base.watch_prepare(prepare1, token)
    base.watch_check(check1, token)
    p2 = base.watch_prepare(prepare2, token)
    c2 = base.watch_check(check2, token)

    times["scheduled"] = time.monotonic()
    base.once(-1, TIMEOUT, on_timeout, None, 0.05)
    assert base.dispatch() == 1
    assert trace[-1] == "timeout"
    rounds = trace[:-1]
    assert len(rounds) % 4 == 0 and rounds
    assert rounds == ["p1", "p2", "c1", "c2"] * (len(rounds) // 4)
    # the reported timeout is what is left of the 50 ms: never more, and no
    # less than what remained when the first prepare watcher ran
    timeout = prepare_timeouts[0]
    assert timeout is not None
    assert timeout <= 0.05
    assert timeout >= times["scheduled"] + 0.05 - times["start"] - EPS

    # second round: the freed watchers stay silent
    iteration[0] = 1
    trace.clear()
    times.clear()
    prepare_timeouts.clear()
    p2.free()
    c2.free()
    p2.free()  # freeing twice is harmless
    times["scheduled"] = time.monotonic()
    base.once(-1, TIMEOUT, on_timeout, None, 0.05)
    assert base.dispatch() == 1
    assert trace[-1] == "timeout"
    rounds = trace[:-1]
    assert rounds == ["p1", "c1"] * (len(rounds) // 2)


def test_watchers_do_not_run_on_an_empty_base(base: EventBase) -> None:
    calls: list[str] = []
    base.watch_prepare(lambda w, info, arg: calls.append("prepare"))
    base.watch_check(lambda w, info, arg: calls.append("check"))
    assert base.dispatch() == 1
    assert calls == []


def test_prepare_timeout_is_none_when_blocking_forever(base: EventBase, pair: Pair) -> None:
    """watch/timeout_unavailable: no timer, nothing active: the poll may block forever."""
    timeouts: list[float | None] = []

    def prepare(w: Watcher, info: PrepareInfo, arg: Any) -> None:
        timeouts.append(info.timeout)
        if len(timeouts) == 1:
            pair[1].send(b"x")

    base.watch_prepare(prepare)
    calls: list[int] = []
    base.event(pair[0], READ, lambda fd, what, arg: calls.append(what)).add()
    assert base.dispatch() == 1
    assert calls == [READ]
    assert timeouts == [None]


def test_prepare_timeout_is_zero_with_active_events_or_nonblock(
    base: EventBase, pair: Pair
) -> None:
    timeouts: list[float | None] = []
    base.watch_prepare(lambda w, info, arg: timeouts.append(info.timeout))
    base.event(-1, 0, noop).activate(TIMEOUT)
    assert base.loop(ONCE) == 0
    assert timeouts == [0.0]

    timeouts.clear()
    ev = base.event(pair[0], READ, noop)
    ev.add()
    assert base.loop(NONBLOCK) == 0
    assert timeouts == [0.0]
    ev.delete()
