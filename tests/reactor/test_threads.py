"""The thread/ group: a thread-safe base driven from other threads (regress_thread.c, del_wait).

Every wait is bounded; a loop thread that does not stop on its own is broken
through ``call_soon_threadsafe`` and joined before the base is closed.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from evweb.errors import EventStateError
from evweb.reactor import (
    FINALIZE,
    NO_EXIT_ON_EMPTY,
    NONBLOCK,
    PERSIST,
    READ,
    TIMEOUT,
    BaseFlag,
    Event,
    EventBase,
    EventConfig,
)

WAIT = 5.0
"""Upper bound for any wait; reached only when something is broken."""

Pair = tuple[socket.socket, socket.socket]


class LoopThread:
    """Runs ``base.loop(flags)`` in a thread; knows when the loop is about to poll."""

    def __init__(self, base: EventBase, flags: int = 0) -> None:
        self.base = base
        self.flags = flags
        self.polling = threading.Event()
        self.result: int | None = None
        self.error: BaseException | None = None
        self.ident: int | None = None
        self.finished_at: float | None = None
        self._watcher = base.watch_prepare(self._about_to_poll)
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _about_to_poll(self, watcher: Any, info: Any, arg: Any) -> None:
        self.polling.set()

    def _main(self) -> None:
        self.ident = threading.get_ident()
        try:
            self.result = self.base.loop(self.flags)
        except BaseException as exc:
            self.error = exc
        finally:
            self.finished_at = time.monotonic()

    def start(self) -> None:
        self.begin()
        assert self.polling.wait(WAIT), "the loop never got to poll"

    def begin(self) -> None:
        """Start the thread without waiting for the loop to poll."""
        self._thread.start()

    def join(self) -> None:
        self._thread.join(WAIT)
        assert not self.is_alive(), "the loop did not stop"
        if self.error is not None:
            raise self.error

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Last-resort cleanup: break the loop from its own thread and wait for it."""
        if self._thread.is_alive():
            self.base.call_soon_threadsafe(self.base.loopbreak)
            self._thread.join(WAIT)
        self._watcher.free()


@pytest.fixture
def ts_base(method: str) -> Iterator[EventBase]:
    """A thread-safe base on each available backend."""
    base = EventBase(EventConfig(method=method, threadsafe=True))
    yield base
    base.close()


@pytest.fixture
def looping(ts_base: EventBase) -> Iterator[Callable[..., LoopThread]]:
    """Start ``ts_base``'s loop in a thread; stopped and joined after the test."""
    started: list[LoopThread] = []

    def start(flags: int = 0) -> LoopThread:
        runner = LoopThread(ts_base, flags)
        started.append(runner)
        runner.start()
        return runner

    yield start
    for runner in started:
        runner.stop()


def safety_timer(base: EventBase, problems: list[str]) -> Event:
    """Keeps the loop busy; if it ever fires, the expected wake-up never came."""

    def expired(fd: int, what: int, arg: Any) -> None:
        problems.append("safety timer fired: the loop was not woken")
        base.loopbreak()

    ev = base.timer(expired)
    ev.add(WAIT)
    return ev


def in_thread(fn: Callable[[], object]) -> threading.Thread:
    """Run ``fn`` in a fresh (daemon) thread."""
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


# --- basic: another thread wakes a blocked loop ---------------------------------------------


def test_activate_from_other_thread_wakes_loop(
    ts_base: EventBase, looping: Callable[..., LoopThread]
) -> None:
    problems: list[str] = []
    safety = safety_timer(ts_base, problems)
    ran_in: list[tuple[int, int]] = []

    def on_activate(fd: int, what: int, arg: Any) -> None:
        ran_in.append((threading.get_ident(), what))
        safety.delete()

    ev = ts_base.event(-1, 0, on_activate)
    runner = looping()
    ev.activate(TIMEOUT)  # from the test's thread while the loop blocks
    runner.join()
    assert problems == []
    assert ran_in == [(runner.ident, TIMEOUT)]
    assert runner.result == 1  # the callback removed the last event


def test_add_timer_from_other_thread_wakes_loop(
    ts_base: EventBase, looping: Callable[..., LoopThread]
) -> None:
    problems: list[str] = []
    safety = safety_timer(ts_base, problems)
    ran_in: list[int] = []

    def on_timer(fd: int, what: int, arg: Any) -> None:
        ran_in.append(threading.get_ident())
        safety.delete()

    ev = ts_base.timer(on_timer)
    runner = looping()
    ev.add(0.01)
    runner.join()
    assert problems == []
    assert ran_in == [runner.ident]


def test_add_io_event_from_other_thread(
    ts_base: EventBase, looping: Callable[..., LoopThread], pair: Pair
) -> None:
    problems: list[str] = []
    safety = safety_timer(ts_base, problems)
    got: list[bytes] = []

    def on_read(fd: int, what: int, arg: Any) -> None:
        got.append(pair[1].recv(16))
        safety.delete()

    ev = ts_base.event(pair[1], READ, on_read)
    pair[0].send(b"ping")
    runner = looping()
    ev.add()
    runner.join()
    assert problems == []
    assert got == [b"ping"]


def test_many_activations_from_many_threads(
    ts_base: EventBase, looping: Callable[..., LoopThread]
) -> None:
    problems: list[str] = []
    safety = safety_timer(ts_base, problems)
    seen: list[int] = []
    per_thread = 50
    nthreads = 4

    def on_activate(fd: int, what: int, n: int) -> None:
        seen.append(n)
        if len(seen) == nthreads * per_thread:
            safety.delete()

    events = [ts_base.event(-1, 0, on_activate, n) for n in range(nthreads * per_thread)]
    runner = looping()

    def fire(chunk: list[Event]) -> None:
        for ev in chunk:
            ev.activate(TIMEOUT)

    threads = [
        in_thread(functools.partial(fire, events[i * per_thread : (i + 1) * per_thread]))
        for i in range(nthreads)
    ]
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    runner.join()
    assert problems == []
    assert sorted(seen) == list(range(nthreads * per_thread))


# --- call_soon_threadsafe ------------------------------------------------------------------


def test_call_soon_threadsafe_runs_on_loop_thread_in_order(
    ts_base: EventBase, looping: Callable[..., LoopThread]
) -> None:
    problems: list[str] = []
    safety = safety_timer(ts_base, problems)
    calls: list[tuple[str, int]] = []

    def record(name: str, last: bool = False) -> None:
        calls.append((name, threading.get_ident()))
        if last:
            safety.delete()

    runner = looping()
    ts_base.call_soon_threadsafe(record, "first")
    ts_base.call_soon_threadsafe(record, "second")
    ts_base.call_soon_threadsafe(record, "third", True)
    runner.join()
    assert problems == []
    assert calls == [("first", runner.ident), ("second", runner.ident), ("third", runner.ident)]


def test_call_soon_threadsafe_before_the_loop_runs_when_it_starts(ts_base: EventBase) -> None:
    calls: list[str] = []
    ts_base.call_soon_threadsafe(calls.append, "queued")
    assert calls == []  # not run synchronously
    ts_base.loop(NONBLOCK)
    assert calls == ["queued"]


def test_call_soon_threadsafe_exception_is_logged_and_loop_survives(
    ts_base: EventBase, looping: Callable[..., LoopThread], caplog: pytest.LogCaptureFixture
) -> None:
    problems: list[str] = []
    safety = safety_timer(ts_base, problems)

    def boom() -> None:
        raise RuntimeError("boom from call_soon")

    runner = looping()
    ts_base.call_soon_threadsafe(boom)
    ts_base.call_soon_threadsafe(safety.delete)
    runner.join()
    assert problems == []
    assert any(
        r.name == "evweb.reactor" and r.exc_info and "boom from call_soon" in str(r.exc_info[1])
        for r in caplog.records
    )


@pytest.mark.parametrize(
    "config",
    [EventConfig(), EventConfig(threadsafe=True, flags=BaseFlag.NOLOCK)],
    ids=["default", "threadsafe_with_NOLOCK"],
)
def test_call_soon_threadsafe_refused_on_non_threadsafe_base(config: EventConfig) -> None:
    with EventBase(config) as base, pytest.raises(EventStateError, match="thread"):
        base.call_soon_threadsafe(lambda: None)


# --- del_wait ------------------------------------------------------------------------------


def test_delete_from_other_thread_waits_for_running_callback(
    ts_base: EventBase, looping: Callable[..., LoopThread], pair: Pair
) -> None:
    started = threading.Event()
    finished = threading.Event()
    calls = 0

    def slow(fd: int, what: int, arg: Any) -> None:
        nonlocal calls
        calls += 1
        started.set()
        time.sleep(0.2)
        pair[1].recv(16)
        finished.set()

    ev = ts_base.event(pair[1], READ | PERSIST, slow)
    ev.add()
    runner = looping()
    pair[0].send(b"x")
    assert started.wait(WAIT)

    observed: dict[str, Any] = {}

    def deleter() -> None:
        ev.delete()
        observed["finished"] = finished.is_set()

    thread = in_thread(deleter)
    thread.join(WAIT)
    assert not thread.is_alive(), "delete() never returned"
    assert observed["finished"] is True  # returned only after the callback finished
    runner.join()
    assert runner.result == 1  # nothing left after the delete
    assert calls == 1
    assert ev.pending() == 0


def test_delete_of_finalize_event_does_not_wait(
    ts_base: EventBase, looping: Callable[..., LoopThread], pair: Pair
) -> None:
    started = threading.Event()
    release = threading.Event()
    done: list[str] = []

    def blocking(fd: int, what: int, arg: Any) -> None:
        started.set()
        release.wait(WAIT)
        pair[1].recv(16)
        done.append("callback")

    ev = ts_base.event(pair[1], READ | PERSIST | FINALIZE, blocking)
    ev.add()
    runner = looping()
    pair[0].send(b"x")
    assert started.wait(WAIT)

    returned = threading.Event()

    def delete_it() -> None:
        ev.delete()
        returned.set()

    thread = in_thread(delete_it)
    try:
        assert returned.wait(WAIT), "delete() of a FINALIZE event waited for the callback"
        assert done == []  # the callback is still blocked
    finally:
        release.set()
    thread.join(WAIT)
    runner.join()
    assert done == ["callback"]
    assert ev.pending() == 0


def test_delete_from_other_thread_before_callback_prevents_it(
    ts_base: EventBase, looping: Callable[..., LoopThread], pair: Pair
) -> None:
    problems: list[str] = []
    safety = safety_timer(ts_base, problems)
    calls: list[int] = []
    ev = ts_base.event(pair[1], READ | PERSIST, lambda fd, what, arg: calls.append(what))
    ev.add()
    runner = looping()
    ev.delete()  # waits until the loop thread has processed it
    pair[0].send(b"x")
    ts_base.call_soon_threadsafe(safety.delete)
    runner.join()
    assert problems == []
    assert calls == []


# --- no_events: NO_EXIT_ON_EMPTY with everything coming from another thread ------------------


def test_no_events_loop_fed_from_other_thread(
    ts_base: EventBase, looping: Callable[..., LoopThread]
) -> None:
    order: list[int] = []
    ran = [threading.Event() for _ in range(5)]

    def note(fd: int, what: int, n: int) -> None:
        order.append(n)
        ran[n].set()
        if n == 4:
            ts_base.loopbreak()

    events = [ts_base.event(-1, 0, note, n) for n in range(5)]
    start = time.monotonic()
    runner = looping(NO_EXIT_ON_EMPTY)
    events[0].activate(TIMEOUT)
    assert ran[0].wait(WAIT)
    events[1].activate(TIMEOUT)
    assert ran[1].wait(WAIT)
    events[2].add(0.05)
    events[3].add(0.1)
    assert ran[3].wait(WAIT)
    events[4].activate(TIMEOUT)
    runner.join()
    assert order == [0, 1, 2, 3, 4]
    assert runner.result == 0
    assert ts_base.got_break()
    assert runner.finished_at is not None
    assert runner.finished_at - start >= 0.1  # it outlived the timers
    assert runner.finished_at - start < WAIT


def test_loopbreak_from_other_thread_stops_empty_loop(
    ts_base: EventBase, looping: Callable[..., LoopThread]
) -> None:
    runner = looping(NO_EXIT_ON_EMPTY)
    assert runner.is_alive()  # nothing pending, yet it keeps looping
    ts_base.loopbreak()
    runner.join()
    assert runner.result == 0
    assert ts_base.got_break()
    assert not ts_base.got_exit()


def test_loopexit_from_other_thread(ts_base: EventBase, looping: Callable[..., LoopThread]) -> None:
    problems: list[str] = []
    safety = safety_timer(ts_base, problems)
    runner = looping()
    ts_base.loopexit()
    runner.join()
    assert problems == []
    assert runner.result == 0
    assert ts_base.got_exit()
    assert not ts_base.got_break()
    safety.delete()


def test_loopexit_with_delay_from_other_thread(
    ts_base: EventBase, looping: Callable[..., LoopThread]
) -> None:
    problems: list[str] = []
    safety = safety_timer(ts_base, problems)
    runner = looping(NO_EXIT_ON_EMPTY)
    asked = time.monotonic()
    ts_base.loopexit(0.1)
    runner.join()
    assert problems == []
    assert ts_base.got_exit()
    assert runner.finished_at is not None
    assert runner.finished_at - asked >= 0.05  # the delay was honoured, not skipped
    safety.delete()


# --- a base per thread needs no locks --------------------------------------------------------


def test_base_per_thread(method: str) -> None:
    nthreads = 4
    results: dict[int, Any] = {}
    together = threading.Barrier(nthreads, timeout=WAIT)

    def worker(n: int) -> None:
        try:
            with EventBase(EventConfig(method=method)) as base:
                a, b = socket.socketpair()
                try:
                    ticks: list[int] = []
                    got: list[bytes] = []

                    def tick(fd: int, what: int, arg: Any) -> None:
                        ticks.append(what)
                        if len(ticks) == 5:
                            timer.delete()
                            a.send(b"%d" % n)

                    def on_read(fd: int, what: int, arg: Any) -> None:
                        got.append(b.recv(16))

                    timer = base.timer(tick, persist=True)
                    timer.add(0.005)
                    base.event(b, READ, on_read).add()
                    together.wait()  # every thread has its base: they loop side by side
                    rc = base.dispatch()
                    results[n] = (rc, len(ticks), got, threading.get_ident())
                finally:
                    a.close()
                    b.close()
        except BaseException as exc:
            results[n] = exc

    threads = [in_thread(functools.partial(worker, n)) for n in range(nthreads)]
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert sorted(results) == list(range(nthreads))
    idents = set()
    for n, result in results.items():
        assert not isinstance(result, BaseException), result
        rc, nticks, got, ident = result
        assert (rc, nticks, got) == (1, 5, [b"%d" % n])
        idents.add(ident)
    assert len(idents) == nthreads


def test_threadsafe_base_used_from_one_thread_behaves_normally(ts_base: EventBase) -> None:
    calls: list[int] = []
    ev = ts_base.event(-1, 0, lambda fd, what, arg: calls.append(what))
    ev.activate(TIMEOUT)
    assert ts_base.dispatch() == 1
    assert calls == [TIMEOUT]
    ev.add(0)
    ev.delete()
    assert ts_base.dispatch() == 1
    assert calls == [TIMEOUT]


# --- finalize from another thread --------------------------------------------------------------


def test_finalize_from_other_thread_does_not_wait_and_runs_on_loop(
    ts_base: EventBase, looping: Callable[..., LoopThread], pair: Pair
) -> None:
    started = threading.Event()
    release = threading.Event()
    order: list[tuple[str, int]] = []

    def blocking(fd: int, what: int, arg: Any) -> None:
        started.set()
        release.wait(WAIT)
        pair[1].recv(16)
        order.append(("callback", threading.get_ident()))

    def finalizer(ev: Event, arg: Any) -> None:
        order.append(("finalizer", threading.get_ident()))

    ev = ts_base.event(pair[1], READ | PERSIST, blocking)
    ev.add()
    runner = looping()
    pair[0].send(b"x")
    assert started.wait(WAIT)
    returned = threading.Event()

    def finalize_it() -> None:
        ev.finalize(finalizer)
        returned.set()

    thread = in_thread(finalize_it)
    try:
        assert returned.wait(WAIT), "finalize() waited for the running callback"
        assert order == []
    finally:
        release.set()
    thread.join(WAIT)
    runner.join()
    assert order == [("callback", runner.ident), ("finalizer", runner.ident)]


# --- an add racing with the start of the loop ----------------------------------------------------


class _SlowSeconds:
    """A timeout whose conversion to float waits until the loop polls (widens a race window)."""

    def __init__(self, polling: threading.Event, seconds: float) -> None:
        self.polling = polling
        self.seconds = seconds
        self.entered = threading.Event()

    def __float__(self) -> float:
        self.entered.set()
        self.polling.wait(WAIT)
        return self.seconds


def test_add_racing_with_loop_start_is_not_lost() -> None:
    with EventBase(EventConfig(threadsafe=True)) as base:
        fired = threading.Event()
        runner = LoopThread(base, NO_EXIT_ON_EMPTY)
        ev = base.timer(lambda fd, what, arg: fired.set())
        slow = _SlowSeconds(runner.polling, 0.01)
        adder = in_thread(lambda: ev.add(slow))  # type: ignore[arg-type]
        try:
            # add() has decided the loop is not running once it converts the timeout
            assert slow.entered.wait(WAIT)
            runner.begin()  # the loop starts while the other thread is inside add()
            adder.join(WAIT + 1)
            assert fired.wait(1.0), "the timer added around loop start never fired"
        finally:
            runner.stop()
            adder.join(WAIT)


def test_once_from_another_thread_wakes_the_loop(method: str) -> None:
    """A zero-timeout once() from a foreign thread runs on the loop thread, at once."""
    base = EventBase(EventConfig(method=method, threadsafe=True))
    ran_on: list[int] = []
    done = threading.Event()
    loop_thread = threading.Thread(target=lambda: base.loop(NO_EXIT_ON_EMPTY))
    loop_thread.start()
    try:
        time.sleep(0.05)

        def record(fd: int, what: int, arg: object) -> None:
            ran_on.append(threading.get_ident())
            done.set()

        base.once(-1, TIMEOUT, record, None, 0)
        assert done.wait(5), "once() from another thread did not wake the loop"
        assert ran_on == [loop_thread.ident]
    finally:
        base.loopbreak()
        loop_thread.join(5)
        base.close()
