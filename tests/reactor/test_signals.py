"""The signal/ group: signal events delivered on the loop (libevent's regress.c, signal/*)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from evweb.errors import InvalidEventError, SignalError
from evweb.reactor import (
    NONBLOCK,
    ONCE,
    PERSIST,
    READ,
    SELF,
    SIGNAL,
    TIMEOUT,
    Event,
    EventBase,
    EventConfig,
)

pytestmark = [
    pytest.mark.needs_main_thread,
    pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals needed"),
]

SAFETY = 5.0
"""Seconds after which a loop waiting for a signal gives up (never reached when all is well)."""

TOUCHED = ("SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCONT")


@pytest.fixture(autouse=True)
def restore_signal_handlers() -> Iterator[None]:
    """Put back every handler (and the interval timer) a test may have changed."""
    saved = {
        getattr(signal, name): signal.getsignal(getattr(signal, name))
        for name in TOUCHED
        if hasattr(signal, name)
    }
    yield
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)
    for signo, handler in saved.items():
        signal.signal(signo, handler if handler is not None else signal.SIG_DFL)


def send(signo: int) -> None:
    """Deliver ``signo`` to this process; its Python handler runs before the caller goes on."""
    os.kill(os.getpid(), signo)
    _let_handlers_run()


def _let_handlers_run() -> None:
    """A Python-level call: the interpreter runs pending signal handlers on entry."""


def guard(base: EventBase, fired: list[str]) -> Event:
    """A timer that breaks the loop if the expected signal never comes."""

    def give_up(fd: int, what: int, arg: Any) -> None:
        fired.append("safety timer")
        base.loopbreak()

    ev = base.timer(give_up)
    ev.add(SAFETY)
    return ev


def _recorder(calls: list[tuple[int, int]]) -> Callable[[int, int, Any], None]:
    def record(fd: int, what: int, arg: Any) -> None:
        calls.append((fd, what))

    return record


# --- simple_signal, simple_signal_re_order ---------------------------------------------


@pytest.mark.parametrize("re_order", [False, True], ids=["simple_signal", "re_order"])
@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_simple_signal_from_interval_timer(base: EventBase, re_order: bool) -> None:
    outside: list[int] = []

    def old_handler(signo: int, frame: Any) -> None:
        outside.append(signo)

    signal.signal(signal.SIGALRM, old_handler)
    calls: list[tuple[int, int]] = []
    problems: list[str] = []
    safety = guard(base, problems)

    def on_alarm(fd: int, what: int, ev: Event) -> None:
        calls.append((fd, what))
        ev.delete()
        safety.delete()

    ev = base.signal(signal.SIGALRM, on_alarm, SELF)
    ev.add()
    if re_order:  # an add, delete, add sequence must leave the event pending
        ev.delete()
        ev.add()
    assert ev.pending(SIGNAL) == SIGNAL
    signal.setitimer(signal.ITIMER_REAL, 0.05)

    assert base.dispatch() == 1  # no events left once the callback deleted itself
    assert problems == []
    assert calls == [(signal.SIGALRM, SIGNAL)]
    assert outside == []  # evweb's handler took the signal, not the one from before
    assert ev.pending() == 0
    assert signal.getsignal(signal.SIGALRM) is old_handler  # restored by the delete
    ev.delete()  # deleting again is harmless


def test_signal_event_what_and_fd(base: EventBase) -> None:
    calls: list[tuple[int, int]] = []
    ev = base.signal(signal.SIGUSR1, _recorder(calls))
    assert ev.events == SIGNAL | PERSIST
    assert ev.signal == ev.fd == signal.SIGUSR1
    ev.add()
    send(signal.SIGUSR1)
    assert base.loop(NONBLOCK) == 0
    assert calls == [(signal.SIGUSR1, SIGNAL)]
    assert ev.pending(SIGNAL) == SIGNAL  # persistent
    ev.delete()


def test_non_persistent_signal_event_fires_once(base: EventBase) -> None:
    before = signal.getsignal(signal.SIGUSR1)
    calls: list[tuple[int, int]] = []
    ev = base.event(signal.SIGUSR1, SIGNAL, _recorder(calls))
    ev.add()
    send(signal.SIGUSR1)
    base.loop(NONBLOCK)
    assert ev.pending() == 0  # gone after firing, like any non-persistent event
    assert signal.getsignal(signal.SIGUSR1) == before
    assert calls == [(signal.SIGUSR1, SIGNAL)]


def test_non_persistent_signal_event_times_out(base: EventBase) -> None:
    calls: list[tuple[int, int]] = []
    ev = base.event(signal.SIGUSR1, SIGNAL, _recorder(calls))
    ev.add(0.001)
    assert base.loop(ONCE) == 0
    assert calls == [(signal.SIGUSR1, TIMEOUT)]
    assert ev.pending() == 0


def test_finalize_signal_event_restores_handler(base: EventBase) -> None:
    before = signal.getsignal(signal.SIGUSR2)
    calls: list[tuple[int, int]] = []
    finalized: list[Event] = []
    ev = base.signal(signal.SIGUSR2, _recorder(calls))
    ev.add()
    send(signal.SIGUSR2)
    ev.finalize(lambda e, arg: finalized.append(e))
    assert signal.getsignal(signal.SIGUSR2) == before
    base.loop(NONBLOCK)
    assert finalized == [ev]
    assert calls == []


# --- multiplesignal ---------------------------------------------------------------------


def test_multiple_events_for_one_signal(base: EventBase) -> None:
    fired: list[str] = []
    problems: list[str] = []
    safety = guard(base, problems)
    events: dict[str, Event] = {}

    def make(name: str) -> Callable[[int, int, Any], None]:
        def on_signal(fd: int, what: int, arg: Any) -> None:
            assert what == SIGNAL
            fired.append(name)
            events[name].delete()
            if len(fired) == 2:
                safety.delete()

        return on_signal

    events["one"] = base.signal(signal.SIGUSR2, make("one"))
    events["two"] = base.signal(signal.SIGUSR2, make("two"))
    events["one"].add()
    events["two"].add()
    send(signal.SIGUSR2)

    assert base.dispatch() == 1
    assert problems == []
    assert sorted(fired) == ["one", "two"]


# --- immediatesignal --------------------------------------------------------------------


def test_signal_raised_before_dispatch_is_not_lost(base: EventBase) -> None:
    calls: list[tuple[int, int]] = []
    ev = base.signal(signal.SIGUSR1, _recorder(calls))
    ev.add()
    send(signal.SIGUSR1)  # arrives before any loop runs
    base.loop(NONBLOCK)
    assert calls == [(signal.SIGUSR1, SIGNAL)]
    ev.delete()


def test_signal_received_with_several_priorities(method: str) -> None:
    with EventBase(EventConfig(method=method)) as base:
        base.priority_init(3)
        calls: list[tuple[int, int]] = []
        ev = base.signal(signal.SIGUSR1, _recorder(calls))
        ev.priority = 2
        ev.add()
        send(signal.SIGUSR1)
        base.loop(NONBLOCK)
        assert calls == [(signal.SIGUSR1, SIGNAL)]
        ev.delete()


# --- signal_timeout ---------------------------------------------------------------------


def test_signal_event_with_timeout(base: EventBase) -> None:
    calls: list[tuple[int, int]] = []
    ev = base.signal(signal.SIGUSR1, _recorder(calls))
    ev.add(0.00001)
    assert ev.pending(SIGNAL | TIMEOUT) == SIGNAL | TIMEOUT
    assert base.loop(ONCE) == 0
    assert calls == [(signal.SIGUSR1, TIMEOUT)]
    assert ev.pending(SIGNAL) == SIGNAL  # still waiting for the signal itself
    ev.delete()
    assert ev.pending() == 0


# --- signal_dealloc, signal_pipeloss -----------------------------------------------------


def _internal_fds(base: EventBase) -> set[int]:
    return {ev.fd for ev in base.events(include_internal=True) if ev.internal and ev.fd >= 0}


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.mark.parametrize("delete_first", [True, False], ids=["deleted", "still_added"])
def test_signal_dealloc_closes_receiver(method: str, delete_first: bool) -> None:
    before = signal.getsignal(signal.SIGUSR1)
    base = EventBase(EventConfig(method=method))
    ev = base.signal(signal.SIGUSR1, _recorder([]))
    ev.add()
    receiver_fds = _internal_fds(base)
    assert receiver_fds, "a base with a signal event watches an internal fd"
    assert all(_is_open(fd) for fd in receiver_fds)
    if delete_first:
        ev.delete()
    base.close()
    assert not any(_is_open(fd) for fd in receiver_fds)
    assert signal.getsignal(signal.SIGUSR1) == before
    assert ev.pending() == 0


def test_signal_pipeloss_two_bases_first_closed_last(method: str) -> None:
    before = signal.getsignal(signal.SIGUSR1)
    base1 = EventBase(EventConfig(method=method))
    ev1 = base1.signal(signal.SIGUSR1, _recorder([]))
    ev1.add()
    ev1.delete()
    fds1 = _internal_fds(base1)
    base2 = EventBase(EventConfig(method=method))
    ev2 = base2.signal(signal.SIGUSR1, _recorder([]))
    ev2.add()
    fds2 = _internal_fds(base2)
    base2.close()
    base1.close()
    assert fds1 and fds2
    assert not any(_is_open(fd) for fd in fds1 | fds2)
    assert signal.getsignal(signal.SIGUSR1) == before


def test_base_closed_while_another_keeps_its_signals(method: str) -> None:
    base1 = EventBase(EventConfig(method=method))
    base2 = EventBase(EventConfig(method=method))
    try:
        calls2: list[tuple[int, int]] = []
        ev1 = base1.signal(signal.SIGUSR2, _recorder([]))
        ev1.add()
        base1.close()
        ev2 = base2.signal(signal.SIGUSR2, _recorder(calls2))
        ev2.add()
        send(signal.SIGUSR2)
        base2.loop(NONBLOCK)
        assert calls2 == [(signal.SIGUSR2, SIGNAL)]
        ev2.delete()
    finally:
        base1.close()
        base2.close()


# --- signal_switchbase --------------------------------------------------------------------


def test_signal_switchbase_newest_base_receives(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    base1 = EventBase(EventConfig(method=method))
    base2 = EventBase(EventConfig(method=method))
    try:
        calls1: list[tuple[int, int]] = []
        calls2: list[tuple[int, int]] = []
        ev1 = base1.signal(signal.SIGUSR1, _recorder(calls1))
        ev2 = base2.signal(signal.SIGUSR1, _recorder(calls2))
        assert ev1.base is base1 and ev2.base is base2
        with caplog.at_level(logging.WARNING, logger="evweb.reactor"):
            ev1.add()
            assert not caplog.records
            ev2.add()
        warnings = [r for r in caplog.records if r.name == "evweb.reactor"]
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING

        send(signal.SIGUSR1)  # before any loop runs
        base2.loop(NONBLOCK)
        base1.loop(NONBLOCK)
        assert calls2 == [(signal.SIGUSR1, SIGNAL)]
        assert calls1 == []
    finally:
        base1.close()
        base2.close()


Calls = list[tuple[int, int]]


@contextmanager
def _both_watch_sigusr1(method: str) -> Iterator[tuple[EventBase, EventBase, Calls, Calls]]:
    """Two bases, each with a SIGUSR1 event recording its calls; base2's is added last."""
    base1 = EventBase(EventConfig(method=method))
    base2 = EventBase(EventConfig(method=method))
    try:
        calls1: Calls = []
        calls2: Calls = []
        base1.signal(signal.SIGUSR1, _recorder(calls1)).add()
        base2.signal(signal.SIGUSR1, _recorder(calls2)).add()
        yield base1, base2, calls1, calls2
    finally:
        base1.close()
        base2.close()


def test_signal_switchbase_adding_another_signal_moves_delivery(method: str) -> None:
    with _both_watch_sigusr1(method) as (base1, base2, calls1, calls2):
        base1.signal(signal.SIGUSR2, _recorder(calls1)).add()  # base1 is the newest again
        send(signal.SIGUSR1)
        base2.loop(NONBLOCK)
        base1.loop(NONBLOCK)
        assert calls1 == [(signal.SIGUSR1, SIGNAL)]
        assert calls2 == []


def test_signal_switchbase_looping_base_takes_signals_back(method: str) -> None:
    with _both_watch_sigusr1(method) as (base1, base2, calls1, calls2):
        base1.loop(NONBLOCK)  # the most recent loop() gets the signals
        send(signal.SIGUSR1)
        base1.loop(NONBLOCK)
        base2.loop(NONBLOCK)
        assert calls1 == [(signal.SIGUSR1, SIGNAL)]
        assert calls2 == []


# --- signal_restore, signal_assert --------------------------------------------------------


def test_signal_restore_previous_python_handler(base: EventBase) -> None:
    previous: list[int] = []

    def old_handler(signo: int, frame: Any) -> None:
        previous.append(signo)

    signal.signal(signal.SIGUSR1, old_handler)
    calls: list[tuple[int, int]] = []
    ev = base.signal(signal.SIGUSR1, _recorder(calls))
    ev.add()
    assert signal.getsignal(signal.SIGUSR1) is not old_handler
    ev.delete()
    assert signal.getsignal(signal.SIGUSR1) is old_handler

    send(signal.SIGUSR1)
    base.loop(NONBLOCK)
    assert previous == [signal.SIGUSR1]
    assert calls == []


def test_signal_restore_waits_for_the_last_event(base: EventBase) -> None:
    def old_handler(signo: int, frame: Any) -> None:
        pass

    signal.signal(signal.SIGUSR2, old_handler)
    first = base.signal(signal.SIGUSR2, _recorder([]))
    second = base.signal(signal.SIGUSR2, _recorder([]))
    first.add()
    second.add()
    first.delete()
    assert signal.getsignal(signal.SIGUSR2) is not old_handler  # one event still wants it
    second.delete()
    assert signal.getsignal(signal.SIGUSR2) is old_handler


def test_signal_restore_across_two_bases(method: str) -> None:
    def old_handler(signo: int, frame: Any) -> None:
        pass

    signal.signal(signal.SIGUSR2, old_handler)
    with (
        EventBase(EventConfig(method=method)) as base1,
        EventBase(EventConfig(method=method)) as base2,
    ):
        ev1 = base1.signal(signal.SIGUSR2, _recorder([]))
        ev2 = base2.signal(signal.SIGUSR2, _recorder([]))
        ev1.add()
        ev2.add()
        ev2.delete()
        assert signal.getsignal(signal.SIGUSR2) is not old_handler
        ev1.delete()
        assert signal.getsignal(signal.SIGUSR2) is old_handler


def test_signal_assert_deleted_event_not_fired(base: EventBase) -> None:
    before = signal.getsignal(signal.SIGCONT)
    calls: list[tuple[int, int]] = []
    ev = base.signal(signal.SIGCONT, _recorder(calls))  # SIGCONT: harmless if it escapes
    ev.add()
    ev.delete()
    assert signal.getsignal(signal.SIGCONT) == before
    keep = base.timer(_recorder([]))
    keep.add(SAFETY)  # keeps the loop from leaving at once for lack of events
    send(signal.SIGCONT)
    base.loop(NONBLOCK)
    assert calls == []
    keep.delete()


def test_delivery_pending_for_a_deleted_event_is_dropped(base: EventBase) -> None:
    deleted: list[tuple[int, int]] = []
    kept: list[tuple[int, int]] = []
    ev_deleted = base.signal(signal.SIGUSR1, _recorder(deleted))
    ev_kept = base.signal(signal.SIGUSR1, _recorder(kept))
    ev_deleted.add()
    ev_kept.add()
    send(signal.SIGUSR1)
    ev_deleted.delete()  # the delivery is still unread on the base
    base.loop(NONBLOCK)
    assert kept == [(signal.SIGUSR1, SIGNAL)]
    assert deleted == []
    ev_kept.delete()


# --- signal_while_processing, signal_free_in_callback ---------------------------------------


def test_signal_while_processing(base: EventBase) -> None:
    count = 0
    timer_calls: list[str] = []

    def on_signal(fd: int, what: int, arg: Any) -> None:
        nonlocal count
        count += 1
        if count < 5:
            send(signal.SIGUSR1)  # arrives while this callback runs
        else:
            base.loopexit()

    def on_timer(fd: int, what: int, arg: Any) -> None:
        if not timer_calls:
            timer_calls.append("first")
            timer.add(SAFETY)
            send(signal.SIGUSR1)
            return
        timer_calls.append("safety")
        base.loopexit()

    sig = base.signal(signal.SIGUSR1, on_signal)
    sig.add()
    timer = base.timer(on_timer)
    timer.add(0)
    assert base.dispatch() == 0
    assert base.got_exit()
    assert count == 5
    assert timer_calls == ["first"]
    sig.delete()
    timer.delete()


def test_signal_free_in_callback(base: EventBase) -> None:
    calls = 0

    def on_signal(fd: int, what: int, ev: Event) -> None:
        nonlocal calls
        calls += 1
        ev.free()

    ev = base.signal(signal.SIGUSR1, on_signal, SELF)
    ev.add()
    send(signal.SIGUSR1)
    send(signal.SIGUSR1)
    assert base.loop(0) == 1  # nothing left after the callback freed its event
    assert calls == 1  # the second delivery must not reach a freed event
    assert ev.pending() == 0


# --- delivery counts -----------------------------------------------------------------------


def test_deliveries_coalesce_into_one_activation_running_callback_per_delivery(
    base: EventBase,
) -> None:
    calls: list[tuple[int, int]] = []
    ev = base.signal(signal.SIGUSR1, _recorder(calls))
    ev.add()
    for _ in range(3):
        send(signal.SIGUSR1)
    assert base.loop(ONCE | NONBLOCK) == 0  # one round runs all three
    assert calls == [(signal.SIGUSR1, SIGNAL)] * 3
    base.loop(NONBLOCK)
    assert len(calls) == 3  # no leftover delivery
    ev.delete()


def test_loopbreak_in_signal_callback_stops_remaining_deliveries(base: EventBase) -> None:
    calls = 0

    def on_signal(fd: int, what: int, arg: Any) -> None:
        nonlocal calls
        calls += 1
        base.loopbreak()

    ev = base.signal(signal.SIGUSR1, on_signal)
    ev.add()
    for _ in range(3):
        send(signal.SIGUSR1)
    base.loop(NONBLOCK)
    assert calls == 1  # libevent stops its ncalls loop on break
    ev.delete()


def test_signal_sent_from_callback_is_delivered_on_a_later_round(base: EventBase) -> None:
    order: list[str] = []

    def on_signal(fd: int, what: int, arg: Any) -> None:
        order.append("signal")
        base.loopbreak()

    def on_timer(fd: int, what: int, arg: Any) -> None:
        order.append("timer")
        send(signal.SIGUSR2)

    problems: list[str] = []
    safety = guard(base, problems)
    ev = base.signal(signal.SIGUSR2, on_signal)
    ev.add()
    base.timer(on_timer).add(0)
    base.dispatch()
    assert problems == []
    assert order == ["timer", "signal"]
    ev.delete()
    safety.delete()


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signo",
    [0, -1, signal.NSIG, 10_000, signal.SIGKILL, signal.SIGSTOP],
    ids=["zero", "negative", "NSIG", "huge", "SIGKILL", "SIGSTOP"],
)
def test_uncatchable_or_invalid_signal_numbers(base: EventBase, signo: int) -> None:
    with pytest.raises(SignalError, match=str(signo)):
        base.signal(signo, _recorder([]))


@pytest.mark.parametrize("signo", [signal.NSIG, signal.SIGKILL], ids=["NSIG", "SIGKILL"])
def test_bad_signal_through_generic_event_refused_at_add(base: EventBase, signo: int) -> None:
    try:
        ev = base.event(signo, SIGNAL | PERSIST, _recorder([]))
    except SignalError:
        return  # refused even earlier: fine
    with pytest.raises(SignalError):
        ev.add()
    assert ev.pending() == 0


def test_signal_with_read_refused(base: EventBase) -> None:
    with pytest.raises(InvalidEventError):
        base.event(signal.SIGUSR1, SIGNAL | READ, _recorder([]))


def test_signal_event_from_non_main_thread_refused(method: str) -> None:
    before = signal.getsignal(signal.SIGUSR2)
    outcome: list[BaseException | str] = []

    def worker() -> None:
        try:
            with EventBase(EventConfig(method=method)) as base:
                ev = base.signal(signal.SIGUSR2, _recorder([]))
                try:
                    ev.add()
                except SignalError as exc:
                    outcome.append(exc)
                    outcome.append("pending" if ev.pending() else "not pending")
                else:
                    outcome.append("added")
                    ev.delete()
        except BaseException as exc:  # report anything else to the main thread
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 2, outcome
    assert isinstance(outcome[0], SignalError)
    assert "main thread" in str(outcome[0])
    assert outcome[1] == "not pending"
    assert signal.getsignal(signal.SIGUSR2) == before


# --- a loop running in another thread ---------------------------------------------------------


class _ThreadLoop:
    """Runs ``base.dispatch()`` in a daemon thread; knows when the loop is about to poll."""

    def __init__(self, base: EventBase) -> None:
        self.polling = threading.Event()
        self.result: list[int] = []
        self._watcher = base.watch_prepare(lambda w, info, arg: self.polling.set())
        self._thread = threading.Thread(target=lambda: self.result.append(base.dispatch()))
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()
        assert self.polling.wait(SAFETY), "the loop never got to poll"

    def join(self) -> None:
        self._thread.join(SAFETY + 1)
        assert not self._thread.is_alive()
        self._watcher.free()


def test_signal_wakes_loop_running_in_another_thread(method: str) -> None:
    with EventBase(EventConfig(method=method)) as base:
        problems: list[str] = []
        safety = guard(base, problems)
        ran_in: list[int] = []

        def on_signal(fd: int, what: int, arg: Any) -> None:
            ran_in.append(threading.get_ident())
            base.loopbreak()

        ev = base.signal(signal.SIGUSR1, on_signal)
        ev.add()  # handlers can only be installed from the main thread
        runner = _ThreadLoop(base)
        runner.start()
        send(signal.SIGUSR1)
        runner.join()
        assert problems == []
        assert ran_in and ran_in[0] != threading.get_ident()
        ev.delete()
        safety.delete()


def test_signal_restored_when_last_event_deleted_on_loop_thread(method: str) -> None:
    def old_handler(signo: int, frame: Any) -> None:
        pass

    signal.signal(signal.SIGUSR1, old_handler)
    with EventBase(EventConfig(method=method)) as base:
        problems: list[str] = []
        safety = guard(base, problems)

        def on_signal(fd: int, what: int, ev: Event) -> None:
            ev.delete()  # the last event for SIGUSR1, deleted on the loop thread
            safety.delete()

        base.signal(signal.SIGUSR1, on_signal, SELF).add()
        runner = _ThreadLoop(base)
        runner.start()
        send(signal.SIGUSR1)
        runner.join()
        assert problems == []
    assert signal.getsignal(signal.SIGUSR1) is old_handler


def test_signal_taken_by_another_thread_wakes_a_blocked_loop(base: EventBase) -> None:
    """The kernel may hand a signal to any thread; the loop must still wake at once.

    Python runs handlers only in the main thread, and only between bytecodes,
    so without a C-level wake-up (``signal.set_wakeup_fd``) a main thread
    blocked in poll would sleep on.
    """
    import time

    fired: list[float] = []

    def on_signal(fd: int, what: int, arg: Any) -> None:
        fired.append(time.monotonic())
        base.loopbreak()

    ev = base.signal(signal.SIGUSR1, on_signal)
    ev.add()
    guard = base.timer(lambda fd, what, arg: base.loopbreak())
    guard.add(5.0)
    started = time.monotonic()
    worker = threading.Thread(
        target=lambda: (time.sleep(0.1), signal.pthread_kill(threading.get_ident(), signal.SIGUSR1))
    )
    worker.start()
    try:
        base.dispatch()
    finally:
        worker.join(5)
        ev.delete()
        guard.delete()
    assert fired, "the signal never reached its event"
    assert fired[0] - started < 2.0
