"""Timers: timeouts, persistence, cached time, common timeouts and the timer heap.

Ports libevent's timer checks from ``main/`` (regress.c), ``heap/``
(regress_minheap.c), ``event_timer/`` (regress_timer_timeout.c) and the
``test-time`` program. Times are asserted as bounds: never early (minus a
tiny epsilon for the order clocks are read in), never absurdly late.
"""

from __future__ import annotations

import math
import random
import socket
import time
from typing import Any

import pytest

from evweb.errors import EventStateError, InvalidTimeoutError
from evweb.reactor import (
    COUNT_ADDED,
    MAX_COMMON_TIMEOUTS,
    NONBLOCK,
    ONCE,
    PERSIST,
    READ,
    SELF,
    TIMEOUT,
    BaseFlag,
    CommonTimeout,
    Event,
    EventBase,
    EventConfig,
)
from evweb.reactor.timers import TimerHeap

EPS = 0.002
"""How early a timer may seem to fire because of the order clocks are read in."""
LATE = 1.0
"""How late a timer may fire on a loaded machine before we call it a bug."""

Pair = tuple[socket.socket, socket.socket]


pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")


def noop(fd: int, what: int, arg: Any) -> None:
    pass


# --- simple timeouts --------------------------------------------------------------------


def test_simpletimeout(base: EventBase) -> None:
    """main/simpletimeout: fires once, not before its time."""
    fired: list[tuple[float, int]] = []
    start = time.monotonic()
    base.timer(lambda fd, what, arg: fired.append((time.monotonic(), what))).add(0.03)
    assert base.dispatch() == 1
    assert len(fired) == 1
    at, what = fired[0]
    assert what == TIMEOUT
    assert start + 0.03 - EPS <= at <= start + 0.03 + LATE


def test_timers_fire_in_deadline_order(base: EventBase) -> None:
    order: list[float] = []
    delays = [0.03, 0.0, 0.02, 0.01, 0.025, 0.005]
    for delay in delays:
        base.timer(lambda fd, what, arg: order.append(arg), delay).add(delay)
    assert base.dispatch() == 1
    assert order == sorted(delays)


def test_zero_timeout_fires_on_the_next_iteration(base: EventBase) -> None:
    fired: list[int] = []
    base.timer(lambda fd, what, arg: fired.append(what)).add(0)
    assert base.loop(NONBLOCK) == 1
    assert fired == [TIMEOUT]


@pytest.mark.parametrize("bad", [-1, -0.001, math.nan, math.inf, "soon", None])
def test_invalid_timeouts_are_refused(base: EventBase, bad: Any) -> None:
    ev = base.timer(noop)
    if bad is None:
        ev.add(bad)  # None means "no timeout": accepted, and nothing is pending
        assert ev.pending() == 0
        return
    with pytest.raises(InvalidTimeoutError):
        ev.add(bad)
    assert ev.pending() == 0
    with pytest.raises(InvalidTimeoutError):
        base.loopexit(bad)
    with pytest.raises(InvalidTimeoutError):
        base.once(-1, TIMEOUT, noop, None, bad)
    assert base.dispatch() == 1


# --- re-adding ---------------------------------------------------------------------------


def test_readd_replaces_the_timeout(base: EventBase) -> None:
    """event_add with a timeout replaces the previous one, sooner or later."""
    fired: list[tuple[str, float]] = []
    start = time.monotonic()
    sooner = base.timer(lambda fd, what, arg: fired.append(("sooner", time.monotonic())))
    later = base.timer(lambda fd, what, arg: fired.append(("later", time.monotonic())))
    sooner.add(3600)
    sooner.add(0.01)
    later.add(0.005)
    later.add(0.04)
    assert base.num_events(COUNT_ADDED) == 2  # still one timer each
    assert base.dispatch() == 1
    assert [name for name, _ in fired] == ["sooner", "later"]
    assert fired[0][1] >= start + 0.01 - EPS
    assert fired[1][1] >= start + 0.04 - EPS
    assert fired[1][1] <= start + 0.04 + LATE


def test_add_none_keeps_an_existing_timeout(base: EventBase, pair: Pair) -> None:
    got: list[int] = []
    ev = base.event(pair[0], READ, lambda fd, what, arg: got.append(what))
    ev.add(0.02)
    deadline = ev.deadline
    ev.add()
    ev.add(None)
    assert ev.pending() == READ | TIMEOUT
    assert ev.deadline == deadline
    assert base.dispatch() == 1
    assert got == [TIMEOUT]


def test_add_none_keeps_a_persistent_interval(base: EventBase) -> None:
    count = [0]

    def tick(fd: int, what: int, ev: Event) -> None:
        count[0] += 1
        if count[0] == 1:
            ev.add()  # must not forget the interval
        else:
            ev.delete()

    ev = base.event(-1, PERSIST, tick, SELF)
    ev.add(0.005)
    assert base.dispatch() == 1
    assert count[0] == 2


def test_readd_while_active_by_timeout_unqueues(base: EventBase) -> None:
    """Re-scheduling an event that is active because of its timeout cancels that run."""
    order: list[str] = []
    events: list[Event] = []

    def first(fd: int, what: int, arg: Any) -> None:
        order.append("first")
        events[1].add(3600)  # it is due and active right now

    events.append(base.timer(first))
    events.append(base.timer(lambda fd, what, arg: order.append("second")))
    events[0].add(0)
    events[1].add(0)
    assert base.loop(ONCE) == 0
    assert order == ["first"]
    assert events[1].pending() == TIMEOUT
    events[1].delete()
    assert base.dispatch() == 1
    assert order == ["first"]


def test_delete_then_add_without_timeout_drops_the_timeout(base: EventBase, pair: Pair) -> None:
    ev = base.event(pair[0], READ, noop)
    ev.add(0.01)
    ev.delete()
    ev.add()
    assert ev.pending() == READ
    assert ev.deadline is None
    ev.delete()


# --- persistent timers ----------------------------------------------------------------------


def test_persistent_timeout_has_no_drift(base: EventBase) -> None:
    """main/persistent_timeout: each deadline is the previous one plus the interval."""
    interval = 0.01
    deadlines: list[float] = []
    fired_at: list[float] = []

    def tick(fd: int, what: int, ev: Event) -> None:
        assert what == TIMEOUT
        fired_at.append(time.monotonic())
        deadline = ev.deadline
        assert deadline is not None
        deadlines.append(deadline)
        if len(deadlines) == 6:
            base.loopexit()

    ev = base.event(-1, TIMEOUT | PERSIST, tick, SELF)
    ev.add(interval)
    first_deadline = ev.deadline
    assert first_deadline is not None
    assert base.dispatch() == 0
    ev.delete()

    previous = first_deadline
    on_time = 0
    for i, deadline in enumerate(deadlines):
        assert fired_at[i] >= previous  # never before its deadline
        # the next deadline counts from the one that fired, not from when the
        # callback ran; only a callback later than a whole interval skips ahead
        assert deadline >= previous + interval - 1e-9
        if deadline == pytest.approx(previous + interval, abs=1e-9):
            on_time += 1
        else:
            assert fired_at[i] > previous + interval
            assert deadline <= fired_at[i] + interval
        previous = deadline
    assert on_time >= 1


def test_persistent_timeout_jump(base: EventBase) -> None:
    """main/persistent_timeout_jump: after a long stall it fires once, not in a burst."""
    interval = 0.06
    count = [0]
    after_fire: list[tuple[float, float]] = []

    def tick(fd: int, what: int, ev: Event) -> None:
        count[0] += 1
        deadline = ev.deadline
        assert deadline is not None
        after_fire.append((time.monotonic(), deadline))

    ev = base.event(-1, PERSIST, tick, SELF)
    ev.add(interval)
    time.sleep(interval * 2.5)  # miss two deadlines and a half
    stall_end = time.monotonic()
    base.loopexit(0.015)
    assert base.dispatch() == 0
    ev.delete()
    assert count[0] == 1
    fired_at, next_deadline = after_fire[0]
    # rescheduled a whole interval from now, not from the missed deadlines
    assert stall_end + interval - 1e-9 <= next_deadline <= fired_at + interval + 1e-9


def test_persistent_active_timeout(base: EventBase) -> None:
    """main/persistent_active_timeout: READ by hand, then TIMEOUT, TIMEOUT from then on."""
    interval = 0.04
    calls: list[tuple[int, float, float]] = []

    def record(fd: int, what: int, ev: Event) -> None:
        deadline = ev.deadline
        assert deadline is not None
        calls.append((what, time.monotonic(), deadline))
        if len(calls) == 3:
            base.loopexit()

    ev = base.event(-1, TIMEOUT | PERSIST, record, SELF)
    start = time.monotonic()
    ev.add(interval)
    first_deadline = ev.deadline
    assert first_deadline is not None
    base.once(-1, TIMEOUT, lambda fd, what, arg: ev.activate(READ), None, interval / 2)
    assert base.dispatch() == 0
    ev.delete()

    assert [what for what, _, _ in calls] == [READ, TIMEOUT, TIMEOUT]
    (_, t_read, d1), (_, t_first, d2), (_, t_second, _) = calls
    assert t_read >= start + interval / 2
    # the manual activation restarted the interval from that moment...
    assert start + interval / 2 + interval <= d1 <= t_read + interval + 1e-9
    assert d1 > first_deadline
    assert t_first >= d1
    # ...and the next one follows from the deadline that fired
    assert d2 >= d1 + interval - 1e-9
    assert d2 == pytest.approx(d1 + interval, abs=1e-9) or t_first > d1 + interval
    assert t_second >= d2
    assert t_second <= start + 2.5 * interval + LATE


def test_persistent_io_event_timeout_restarts_on_activity(base: EventBase, pair: Pair) -> None:
    """A persistent READ event with a timeout: IO pushes the next timeout to now + interval."""
    got: list[tuple[int, float]] = []
    deadlines: list[float] = []

    def on_event(fd: int, what: int, ev: Event) -> None:
        got.append((what, time.monotonic()))
        deadline = ev.deadline
        assert deadline is not None
        deadlines.append(deadline)
        if what & READ:
            pair[0].recv(16)
        if len(got) == 2:
            ev.delete()

    ev = base.event(pair[0], READ | PERSIST, on_event, SELF)
    ev.add(0.03)
    sent_at = time.monotonic()
    pair[1].send(b"x")
    assert base.dispatch() == 1
    assert [what for what, _ in got] == [READ, TIMEOUT]
    # the READ restarted the 30 ms from the moment it was seen
    assert sent_at + 0.03 <= deadlines[0] <= got[0][1] + 0.03 + 1e-9
    assert got[1][1] >= deadlines[0]


# --- cached time -----------------------------------------------------------------------------


def test_gettimeofday_cached_outside_the_loop(base: EventBase) -> None:
    before = time.time()
    cached = base.gettimeofday_cached()
    after = time.time()
    assert before - 0.01 <= cached <= after + 0.01


@pytest.mark.parametrize(
    "variant", ["plain", "sleep", "reset", "reset_sleep", "disable", "disable_sleep"]
)
def test_gettimeofday_cached(method: str, variant: str) -> None:
    """main/gettimeofday_cached[_sleep|_reset|_disabled|...]."""
    config = EventConfig(method=method)
    if "disable" in variant:
        config.set_flag(BaseFlag.NO_CACHE_TIME)
    sleep = "sleep" in variant
    reset = "reset" in variant
    with EventBase(config) as base:
        seen: list[float] = []

        def cache_time(fd: int, what: int, arg: Any) -> None:
            seen.append(base.gettimeofday_cached())
            if sleep:
                time.sleep(0.015)
            if reset:
                base.update_cache_time()

        for _ in range(3):
            base.event(-1, 0, cache_time).activate(TIMEOUT)
        assert base.dispatch() == 1

    assert len(seen) == 3
    if sleep and (reset or "disable" in variant):
        # a fresh clock reading for each callback
        assert seen[1] - seen[0] > 0.010
        assert seen[2] - seen[1] > 0.010
    elif reset or "disable" in variant:
        assert seen == sorted(seen)
        assert seen[2] - seen[0] < 0.5
    else:
        # one cached instant for the whole round, even across sleeps
        assert len(set(seen)) == 1


def test_gettimeofday_cached_is_one_value_per_iteration(base: EventBase) -> None:
    """Every callback of an iteration reads the very same cached value."""
    seen: list[float] = []
    for _ in range(200):
        base.event(-1, 0, lambda fd, what, arg: seen.append(base.gettimeofday_cached())).activate(
            TIMEOUT
        )
    assert base.dispatch() == 1
    assert len(set(seen)) == 1


def test_update_cache_time_outside_the_loop_is_a_no_op(base: EventBase) -> None:
    base.update_cache_time()
    before = time.time()
    assert base.gettimeofday_cached() >= before - 0.01


def _timer_added_after_a_slow_callback(base: EventBase) -> tuple[float, float]:
    """Run a callback that sleeps 10 ms, then adds a 50 ms timer.

    Returns the monotonic time just before the add, and the timer's deadline.
    """
    added: list[tuple[float, float]] = []

    def slow(fd: int, what: int, arg: Any) -> None:
        time.sleep(0.01)
        ev = base.timer(noop)
        before = time.monotonic()
        ev.add(0.05)
        deadline = ev.deadline
        assert deadline is not None
        added.append((before, deadline))
        ev.delete()

    base.event(-1, 0, slow).activate(TIMEOUT)
    assert base.dispatch() == 1
    return added[0]


def test_no_cache_time_timers_use_the_real_clock(method: str) -> None:
    """With NO_CACHE_TIME a timer added after a slow callback counts from the real now."""
    config = EventConfig(method=method).set_flag(BaseFlag.NO_CACHE_TIME)
    with EventBase(config) as base:
        before, deadline = _timer_added_after_a_slow_callback(base)
    assert deadline >= before + 0.05


def test_timers_added_from_callbacks_count_from_the_cached_time(base: EventBase) -> None:
    """By default a timeout added in a callback counts from the iteration's cached time."""
    before, deadline = _timer_added_after_a_slow_callback(base)
    assert deadline <= before + 0.05 - 0.009


# --- common timeouts -------------------------------------------------------------------------


def test_common_timeout_dedup(base: EventBase) -> None:
    """main/common_timeout: same duration, same object; passing one back returns it."""
    ms_100 = base.init_common_timeout(0.1)
    ms_200 = base.init_common_timeout(0.2)
    sec_5 = base.init_common_timeout(5)
    assert isinstance(ms_100, CommonTimeout)
    assert len({id(ms_100), id(ms_200), id(sec_5)}) == 3
    assert base.init_common_timeout(0.2) is ms_200
    assert base.init_common_timeout(ms_200) is ms_200
    assert base.init_common_timeout(5.0) is sec_5  # 5,000,000 usec is 5 s
    assert (ms_100.duration, ms_200.duration, sec_5.duration) == (0.1, 0.2, 5.0)


def test_common_timeout_max_256(base: EventBase) -> None:
    assert MAX_COMMON_TIMEOUTS == 256
    made = [base.init_common_timeout(0.001 * (i + 1)) for i in range(MAX_COMMON_TIMEOUTS)]
    assert len({id(c) for c in made}) == MAX_COMMON_TIMEOUTS
    with pytest.raises(EventStateError):
        base.init_common_timeout(10.0)
    # existing durations are still found
    assert base.init_common_timeout(0.001) is made[0]
    assert base.init_common_timeout(made[-1]) is made[-1]


def test_common_timeout_refuses_bad_durations(base: EventBase) -> None:
    with pytest.raises(InvalidTimeoutError):
        base.init_common_timeout(-1)
    with pytest.raises(InvalidTimeoutError):
        base.init_common_timeout(math.nan)


def test_common_timeout_of_another_base(base: EventBase) -> None:
    with EventBase(EventConfig(method=base.method)) as other:
        theirs = other.init_common_timeout(0.5)
        mine = base.init_common_timeout(theirs)
        assert mine is not theirs
        assert mine.duration == 0.5
        assert base.init_common_timeout(0.5) is mine
        ev = base.timer(noop)
        with pytest.raises(EventStateError):
            ev.add(theirs)
        assert ev.pending() == 0


def test_common_timeout_scheduling(base: EventBase) -> None:
    """main/common_timeout: many persistent timers on two common timeouts, and switching."""
    short = 0.02
    long_ = 0.04
    ms_short = base.init_common_timeout(short)
    ms_long = base.init_common_timeout(long_)
    counts = [0] * 40
    last_at = [0.0] * 40
    events: list[Event] = []
    start = time.monotonic()

    def on_timeout(fd: int, what: int, i: int) -> None:
        assert what == TIMEOUT
        counts[i] += 1
        last_at[i] = time.monotonic()
        if counts[i] >= 4:
            events[i].delete()

    for i in range(40):
        ev = base.event(-1, TIMEOUT | PERSIST, on_timeout, i)
        events.append(ev)
        if i % 2:
            if i % 20 == 1:  # common to heap
                ev.add(ms_long)
                ev.add(short)
            elif i % 20 == 3:  # heap to common
                ev.add(long_)
                ev.add(ms_short)
            elif i % 20 == 5:  # common to common
                ev.add(ms_long)
                ev.add(ms_short)
            else:
                ev.add(ms_short)
        else:
            ev.add(ms_long)
    assert base.dispatch() == 1
    assert counts == [4] * 40
    for i in range(40):
        expected = 4 * (short if i % 2 else long_)
        assert start + expected <= last_at[i] <= start + expected + LATE

    # the base can be closed with events still waiting on common timeouts
    for i, ev in enumerate(events):
        ev.add(ms_short if i % 2 else ms_long)
    assert base.num_events(COUNT_ADDED) == 40


def test_common_timeouts_mixed_with_heap_timers(base: EventBase) -> None:
    common = base.init_common_timeout(0.03)
    order: list[str] = []

    def record(fd: int, what: int, name: str) -> None:
        order.append(name)

    base.timer(record, "heap-10ms").add(0.01)
    for name in ("common-a", "common-b", "common-c"):
        base.timer(record, name).add(common)
    base.timer(record, "heap-80ms").add(0.08)
    base.timer(record, "heap-0").add(0)
    assert base.dispatch() == 1
    assert order == ["heap-0", "heap-10ms", "common-a", "common-b", "common-c", "heap-80ms"]


def test_common_timeout_pending_deadline_and_removal(base: EventBase) -> None:
    common = base.init_common_timeout(0.5)
    ev = base.timer(noop)
    before = time.monotonic()
    ev.add(common)
    after = time.monotonic()
    assert ev.pending() == TIMEOUT
    deadline = ev.deadline
    assert deadline is not None
    assert before + 0.5 <= deadline <= after + 0.5
    assert base.num_events(COUNT_ADDED) == 1  # the internal driver is not counted
    ev.remove_timer()
    assert ev.pending() == 0
    ev.add(common)
    ev.delete()
    assert ev.pending() == 0
    assert base.dispatch() == 1


def test_common_timeout_rearms_persistent_events_without_drift(base: EventBase) -> None:
    common = base.init_common_timeout(0.01)
    deadlines: list[float] = []
    loop_now: list[float] = []

    def tick(fd: int, what: int, ev: Event) -> None:
        deadline = ev.deadline
        assert deadline is not None
        deadlines.append(deadline)
        loop_now.append(base.monotonic_time())
        if len(deadlines) == 4:
            ev.delete()

    ev = base.event(-1, PERSIST, tick, SELF)
    ev.add(common)
    previous = ev.deadline
    assert previous is not None
    assert base.dispatch() == 1
    for now, deadline in zip(loop_now, deadlines, strict=True):
        expected = previous + 0.01
        if expected < now:
            expected = now + 0.01
        assert deadline == pytest.approx(expected, abs=1e-9)
        previous = deadline


def test_common_timeout_driver_does_not_count_as_a_callback(base: EventBase) -> None:
    """loop(ONCE) returns after a user callback, not after the internal driver alone."""
    base.priority_init(3)
    common = base.init_common_timeout(0.01)
    got: list[int] = []
    ev = base.timer(lambda fd, what, arg: got.append(what))
    assert ev.priority == 1  # less urgent than the internal driver
    ev.add(common)
    assert base.loop(ONCE) == 0
    assert got == [TIMEOUT]


def test_once_with_a_common_timeout_waits(base: EventBase) -> None:
    common = base.init_common_timeout(0.03)
    fired: list[float] = []
    start = time.monotonic()
    base.once(-1, TIMEOUT, lambda fd, what, arg: fired.append(time.monotonic()), None, common)
    assert base.dispatch() == 1
    assert len(fired) == 1
    assert fired[0] >= start + 0.03 - EPS


def test_once_with_a_busy_common_timeout_waits(base: EventBase) -> None:
    common = base.init_common_timeout(0.03)
    keeper = base.timer(noop)
    keeper.add(common)
    fired: list[float] = []
    start = time.monotonic()
    base.once(-1, TIMEOUT, lambda fd, what, arg: fired.append(time.monotonic()), None, common)
    assert base.dispatch() == 1
    assert len(fired) == 1
    assert fired[0] >= start + 0.03 - EPS


# --- the heap (heap/randomized) ---------------------------------------------------------------


def _assert_heap(heap: TimerHeap) -> None:
    entries = heap.entries
    for i in range(1, len(entries)):
        assert entries[(i - 1) // 2][0] <= entries[i][0], f"heap order broken at {i}"
    heap.check_invariant()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heap_randomized(seed: int) -> None:
    rng = random.Random(seed)
    heap = TimerHeap()
    items = [object() for _ in range(1024)]
    deadlines = [rng.randrange(1 << 31) + rng.randrange(1 << 20) / 1e6 for _ in items]
    handles = [heap.push(d, item) for d, item in zip(deadlines, items, strict=True)]
    _assert_heap(heap)
    assert len(heap) == 1024

    for i in range(512):
        heap.cancel(handles[i])
        if i % 32 == 0:
            _assert_heap(heap)
    _assert_heap(heap)
    assert len(heap) == 512
    assert set(map(id, heap)) == set(map(id, items[512:]))
    assert heap.next_deadline() == min(deadlines[512:])

    popped = list(heap.pop_due(math.inf))
    assert len(popped) == 512
    got = [deadlines[items.index(p)] for p in popped]
    assert got == sorted(got)
    assert {id(p) for p in popped} == set(map(id, items[512:]))
    assert len(heap) == 0
    assert heap.next_deadline() is None
    assert list(heap.pop_due(math.inf)) == []


@pytest.mark.parametrize("seed", [10, 11, 12, 13])
def test_heap_random_operations_match_a_model(seed: int) -> None:
    """Interleaved push / cancel / pop_due against a sorted-list model."""
    rng = random.Random(seed)
    heap = TimerHeap()
    live: dict[int, tuple[float, int, list[Any]]] = {}  # token -> (deadline, seq, handle)
    seq = 0
    now = 0.0
    for step in range(3000):
        op = rng.random()
        if op < 0.5 or not live:
            deadline = now + rng.random() * 10
            handle = heap.push(deadline, seq)
            live[seq] = (deadline, seq, handle)
            seq += 1
        elif op < 0.8:
            token = rng.choice(list(live))
            heap.cancel(live.pop(token)[2])
        else:
            now += rng.random() * 3
            due = sorted((d, s) for d, s, _ in live.values() if d <= now)
            popped = list(heap.pop_due(now))
            assert popped == [s for _, s in due]
            for token in popped:
                del live[token]
        assert len(heap) == len(live)
        if step % 100 == 0:
            _assert_heap(heap)
            expected = min((d for d, _, _ in live.values()), default=None)
            assert heap.next_deadline() == expected
            # blanks never outnumber the live entries by much
            assert len(heap.entries) <= 2 * len(live) + 66
    assert sorted(heap) == sorted(live)


def test_heap_equal_deadlines_pop_in_insertion_order() -> None:
    heap = TimerHeap()
    for i in range(50):
        heap.push(1.0, i)
    heap.push(0.5, "early")
    assert list(heap.pop_due(1.0)) == ["early", *range(50)]


def test_heap_pop_due_leaves_the_future() -> None:
    heap = TimerHeap()
    for d in (5.0, 1.0, 3.0, 2.0, 4.0):
        heap.push(d, d)
    assert list(heap.pop_due(2.5)) == [1.0, 2.0]
    assert len(heap) == 3
    assert heap.next_deadline() == 3.0
    top = heap.entries[0]
    heap.cancel(top)
    assert heap.next_deadline() == 4.0
    assert sorted(heap) == [4.0, 5.0]


def test_heap_cancel_all_compacts() -> None:
    heap = TimerHeap()
    handles = [heap.push(float(i), i) for i in range(500)]
    for handle in handles:
        heap.cancel(handle)
    assert len(heap) == 0
    assert heap.next_deadline() is None
    assert len(heap.entries) <= 65
    _assert_heap(heap)


# --- event_timer/ (regress_timer_timeout.c) ---------------------------------------------------


@pytest.mark.parametrize(
    "flag",
    [BaseFlag.NONE, BaseFlag.PRECISE_TIMER, BaseFlag.NO_CACHE_TIME],
    ids=["default_clock", "precise_clock", "no_cache_time"],
)
def test_timer_never_reports_more_than_requested(method: str, flag: BaseFlag) -> None:
    """event_timer/default_clock and precise_clock, 1000 iterations."""
    dur = 100e-6
    with EventBase(EventConfig(method=method, flags=flag)) as base:
        ev = base.timer(noop)
        worst_mono = -math.inf
        worst_wall = -math.inf
        for _ in range(1000):
            ev.add(dur)
            deadline = ev.deadline
            expiry = ev.expiry
            mono_now = time.monotonic()
            wall_now = time.time()
            assert deadline is not None and expiry is not None
            worst_mono = max(worst_mono, deadline - mono_now)
            worst_wall = max(worst_wall, expiry - wall_now)
            time.sleep(1e-6)
        ev.delete()
    assert worst_mono <= dur
    # expiry is wall-clock time, compared at libevent's microsecond resolution
    assert worst_wall <= dur + 1e-6


def test_timer_added_inside_the_loop_never_reports_more_than_requested(base: EventBase) -> None:
    dur = 100e-6
    worst = [-math.inf]

    def add_many(fd: int, what: int, arg: Any) -> None:
        ev = base.timer(noop)
        for _ in range(200):
            ev.add(dur)
            deadline = ev.deadline
            assert deadline is not None
            worst[0] = max(worst[0], deadline - time.monotonic())
        ev.delete()

    base.event(-1, 0, add_many).activate(TIMEOUT)
    assert base.dispatch() == 1
    assert worst[0] <= dur


# --- test-time ---------------------------------------------------------------------------------


def test_time_random_readd_and_delete(base: EventBase) -> None:
    """test-time: hundreds of timers randomly re-added and deleted from their callbacks."""
    nevent = 200
    max_usec = 20000  # libevent uses 50 ms; shorter keeps the test quick
    rng = random.Random(0)
    events: list[Event] = []
    scheduled: dict[int, float] = {}  # index -> deadline, our model of what is pending
    called = [0]
    fired: list[int] = [0] * nevent

    def schedule(j: int, delay: float) -> None:
        events[j].add(delay)
        deadline = events[j].deadline
        assert deadline is not None
        scheduled[j] = deadline

    def time_cb(fd: int, what: int, j: int) -> None:
        assert what == TIMEOUT
        assert j in scheduled, "a deleted timer fired"
        assert time.monotonic() >= scheduled.pop(j) - 1e-9, "a timer fired early"
        fired[j] += 1
        called[0] += 1
        if called[0] < 10 * nevent:
            for _ in range(10):
                k = rng.randrange(nevent)
                usec = rng.randrange(max_usec)
                if usec % 2 or called[0] < nevent:
                    schedule(k, usec / 1e6)
                else:
                    events[k].delete()
                    scheduled.pop(k, None)

    for i in range(nevent):
        events.append(base.timer(time_cb, i))
    for i in range(nevent):
        schedule(i, rng.randrange(max_usec) / 1e6)

    assert base.dispatch() == 1
    assert called[0] >= nevent
    assert scheduled == {}, "timers left pending"
    assert all(not ev.is_pending() for ev in events)
    assert sum(fired) == called[0]
