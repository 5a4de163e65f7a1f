"""Adding, deleting and activating events: the base's bookkeeping.

The base keeps, per fd, the events waiting on it and the bits registered
with the backend (and, for the usual fd with exactly one event, that event
in ``_fdsolo``, so that dispatch needs no inner loop); per signal, its
events; timers in a heap or in common timeout queues; and one FIFO of active
events per priority. These methods keep all of them consistent with each
event's ``_state`` bits, the way libevent's ``event_add_nolock_``,
``event_del_nolock_`` and ``event_active_nolock_`` do.

``Event._slow`` marks events the dispatch loop cannot run on its fast path
(``Event._gate`` folds it, the insertion epoch and "queued" into one number):
non-persistent ones (they must be deleted first), signals (run once per
delivery), edge-triggered ones (an edge must never be dropped), CLOSED-only
ones (an error wakes readers and writers, not them), finalizing or internal
ones, and those with a persistent timeout to re-arm. It is
recomputed whenever one of those facts changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any

from evweb.errors import EventStateError, InvalidEventError, UnsupportedFeatureError
from evweb.reactor.backends import Backend
from evweb.reactor.event import (
    ACTIVE,
    ACTIVE_LATER,
    FINALIZING,
    INSERTED,
    INTERNAL,
    NEVER,
    TIMER,
    Event,
    Timeout,
    check_timeout,
    needs_slow_path,
)
from evweb.reactor.flags import ET, FINALIZE, IO_BITS, PERSIST, READ, SIGNAL, TIMEOUT, Feature
from evweb.reactor.signals import SignalReceiver, check_signal_number
from evweb.reactor.timers import CommonTimeout, TimerHeap

_REGISTERED = IO_BITS | ET
_PENDING = INSERTED | TIMER | ACTIVE | ACTIVE_LATER


def refresh_slow(ev: Event) -> None:
    """Recompute whether ``ev`` needs the dispatch loop's slow path."""
    ev._slow = bool(
        needs_slow_path(ev._events)
        or ev._state & (FINALIZING | INTERNAL)
        or ev._interval is not None
    )
    ev._gate = NEVER if ev._slow or ev._state & (ACTIVE | ACTIVE_LATER) else ev._epoch


def mark_slow(ev: Event) -> None:
    """Send ``ev`` through the slow path from now on."""
    ev._slow = True
    ev._gate = NEVER


class Scheduler:
    """The part of EventBase that keeps events, fds, signals and timers consistent."""

    _backend: Backend
    _fdmap: dict[int, list[Event]]
    _fdsolo: dict[int, Event]
    _epoch: int
    _fdbits: dict[int, int]
    _sigmap: dict[int, list[Event]]
    _timers: TimerHeap
    _common: list[CommonTimeout]
    _queues: list[deque[Event]]
    _later: deque[Event]
    _n_inserted: int
    _n_timers: int
    _n_active_internal: int
    _n_virtual: int
    _max_active: int
    _max_added: int
    _max_virtual: int
    _active_threshold: int
    _running_priority: int
    _continue: bool
    _interrupt: bool
    _closed: bool
    _time_cache: float
    _signals: SignalReceiver | None
    _signal_event: Event | None

    # --- counting --------------------------------------------------------------

    def _active_count(self) -> int:
        queues = self._queues
        count = len(queues[0]) if len(queues) == 1 else sum(map(len, queues))
        return count + len(self._later)

    def _added_count(self) -> int:
        # libevent counts queue memberships: inserted, timer and active each count.
        active = self._active_count() - self._n_active_internal
        return self._n_inserted + self._n_timers + active

    def _note_maxima(self, extra_active: int = 0) -> None:
        """Update the high-water marks, and the active count that can next beat one.

        The dispatch loop compares only the active count with
        ``_active_threshold``; every change that could lower the threshold
        (more events added, more timers) calls this method itself.
        ``extra_active`` counts events the loop ran without queueing them.
        """
        active = self._active_count() + extra_active
        if active > self._max_active:
            self._max_active = active
        base_count = self._n_inserted + self._n_timers - self._n_active_internal
        if base_count + active > self._max_added:
            self._max_added = base_count + active
        self._active_threshold = min(self._max_active, self._max_added - base_count)

    def _now(self) -> float:
        return self._time_cache or monotonic()

    def _timed_events(self) -> list[Event]:
        """The events with a timeout: the heap's, then each common timeout's."""
        timed: list[Event] = list(self._timers)
        for common in self._common:
            timed += [e[2] for e in common.queue if e[2] is not None]
        return timed

    # --- add -------------------------------------------------------------------------

    def _add(self, ev: Event, timeout: Timeout) -> None:
        state = ev._state
        if state & FINALIZING:
            raise EventStateError(f"cannot add {ev!r}: it is being finalized")
        if self._closed:
            raise EventStateError("cannot add an event to a closed base")
        common, seconds = self._resolve_timeout(timeout)
        events = ev._events
        if events & (IO_BITS | SIGNAL) and not state & (INSERTED | ACTIVE | ACTIVE_LATER):
            if events & SIGNAL:
                self._insert_signal(ev)
            else:
                self._insert_io(ev)
            ev._state = state = state | INSERTED
            if not state & INTERNAL:
                self._n_inserted += 1
                self._note_maxima()
        if seconds is None:
            if not state & TIMER and ev._interval is not None:
                ev._interval = None
                refresh_slow(ev)
            return
        if events & PERSIST:
            ev._interval = common if common is not None else seconds
            mark_slow(ev)
        if state & ACTIVE and ev._res & TIMEOUT:
            self._unqueue(ev)  # a rescheduled timeout must not also fire now
        self._schedule(ev, self._now() + seconds, common)

    def _resolve_timeout(self, timeout: Timeout) -> tuple[CommonTimeout | None, float | None]:
        if timeout is None:
            return None, None
        if isinstance(timeout, CommonTimeout):
            if not self._owns_common(timeout):
                raise EventStateError(f"{timeout!r} belongs to another base")
            return timeout, timeout.duration
        return None, check_timeout(timeout)

    def _owns_common(self, common: CommonTimeout) -> bool:
        index = common.index
        return index < len(self._common) and self._common[index] is common

    def _schedule(self, ev: Event, deadline: float, common: CommonTimeout | None) -> None:
        state = ev._state
        if state & TIMER:
            self._unschedule(ev)
        elif not state & INTERNAL:
            self._n_timers += 1
            self._note_maxima()
        ev._state |= TIMER
        ev._deadline = deadline
        if common is None:
            ev._timer = self._timers.push(deadline, ev)
            return
        ev._common = common
        entry = ev._timer = common.append(deadline, ev)
        if common.queue[0] is entry:
            self._schedule(common.driver, deadline, None)

    def _unschedule(self, ev: Event) -> None:
        """Forget the event's timer entry; the caller resets the TIMER bit."""
        entry = ev._timer
        assert entry is not None
        if ev._common is None:
            self._timers.cancel(entry)
        else:
            entry[2] = None
            ev._common = None
        ev._timer = None

    def _remove_timer(self, ev: Event) -> None:
        if ev._state & TIMER:
            self._unschedule(ev)
            ev._state &= ~TIMER
            if not ev._state & INTERNAL:
                self._n_timers -= 1
        if ev._interval is not None:
            ev._interval = None
            refresh_slow(ev)

    # --- fds and signals --------------------------------------------------------------

    def _insert_io(self, ev: Event) -> None:
        fd = ev._fd
        if fd < 0:
            return  # libevent accepts fd -1: such an event only fires by hand or timeout
        events = ev._events
        if events & ET and not self._backend.features & Feature.ET:
            raise UnsupportedFeatureError(
                f"ET needs a backend with Feature.ET; {self._backend.name!r} has none (fd {fd})"
            )
        others = self._fdmap.get(fd)
        if others and (others[0]._events ^ events) & ET:
            raise InvalidEventError(
                f"fd {fd} already has {'an' if others[0]._events & ET else 'no'} ET event; "
                "all events on one fd must agree on ET"
            )
        old = self._fdbits.get(fd, 0)
        new = old | (events & _REGISTERED)
        if new != old:
            self._backend.set(fd, old, new)
            self._fdbits[fd] = new
        self._epoch += 1
        ev._epoch = self._epoch
        if not ev._slow:
            ev._gate = ev._epoch
        if others is None:
            self._fdmap[fd] = [ev]
            self._fdsolo[fd] = ev
        else:
            others.append(ev)
            self._fdsolo.pop(fd, None)

    def _remove_io(self, ev: Event) -> None:
        fd = ev._fd
        others = self._fdmap.get(fd)
        if others is None:
            return
        others.remove(ev)
        new = 0
        for other in others:
            new |= other._events
        new &= _REGISTERED
        old = self._fdbits[fd]
        if new != old:
            self._backend.set(fd, old, new)
        if len(others) == 1:
            self._fdsolo[fd] = others[0]
        if others:
            self._fdbits[fd] = new
        else:
            del self._fdmap[fd]
            del self._fdbits[fd]
            self._fdsolo.pop(fd, None)

    def _insert_signal(self, ev: Event) -> None:
        signo = ev._fd
        check_signal_number(signo)
        receiver = self._signals
        if receiver is None:
            receiver = SignalReceiver(self)
            self._signals = receiver
            self._signal_event = self._internal_reader(receiver.fileno, self._on_signal_pipe)
        receiver.watch(signo)
        self._sigmap.setdefault(signo, []).append(ev)

    def _remove_signal(self, ev: Event) -> None:
        signo = ev._fd
        events = self._sigmap.get(signo)
        if events is None:
            return
        events.remove(ev)
        if not events:
            del self._sigmap[signo]
            if self._signals is not None:
                self._signals.unwatch(signo)

    def _on_signal_pipe(self, fd: int, what: int, arg: Any) -> None:
        if self._signals is None:
            return
        for signo, count in self._signals.take_counts().items():
            for ev in list(self._sigmap.get(signo, ())):
                self._activate(ev, SIGNAL, count)

    def _internal_reader(self, fd: int, callback: Callable[[int, int, Any], object]) -> Event:
        ev = self._internal_event(fd, READ | PERSIST, callback, None)
        self._add(ev, None)
        return ev

    def _internal_event(
        self, fd: int, what: int, callback: Callable[[int, int, Any], object], arg: Any
    ) -> Event:
        """An event of the base's own: hidden from counts and listings, run first, never direct."""
        ev = Event(self, fd, what, callback, arg)  # type: ignore[arg-type]
        ev._state = INTERNAL
        ev._priority = 0
        mark_slow(ev)
        return ev

    # --- delete -------------------------------------------------------------------------

    def _delete(self, ev: Event) -> None:
        state = ev._state
        if state & FINALIZING:
            return
        if state & TIMER:
            self._remove_timer(ev)
        if state & ACTIVE:
            self._unqueue(ev)
        elif state & ACTIVE_LATER:
            self._later.remove(ev)
        if state & INSERTED:
            if ev._events & SIGNAL:
                self._remove_signal(ev)
            else:
                self._remove_io(ev)
            if not state & INTERNAL:
                self._n_inserted -= 1
        ev._state &= ~_PENDING
        ev._ncalls = 0

    def _unqueue(self, ev: Event) -> None:
        self._queues[ev._priority].remove(ev)
        ev._state &= ~ACTIVE
        if ev._state & INTERNAL:
            self._n_active_internal -= 1
            self._note_maxima()

    # --- activate ------------------------------------------------------------------------

    def _activate_public(self, ev: Event, res: int, ncalls: int) -> None:
        if ev._state & FINALIZING:
            raise EventStateError(f"cannot activate {ev!r}: it is being finalized")
        self._activate(ev, res, ncalls)

    def _activate(self, ev: Event, res: int, ncalls: int) -> None:
        state = ev._state
        if state & FINALIZING:
            return
        if state & ACTIVE:
            ev._res |= res
            ev._ncalls += ncalls
            return
        if state & ACTIVE_LATER:
            self._later.remove(ev)
            res |= ev._res
        ev._res = res
        ev._ncalls = ncalls
        self._enqueue(ev)

    def _enqueue(self, ev: Event) -> None:
        ev._state = (ev._state & ~ACTIVE_LATER) | ACTIVE
        ev._gate = NEVER  # queued: not for the direct path until it has run
        if ev._priority < self._running_priority:
            self._continue = self._interrupt = True
        self._queues[ev._priority].append(ev)
        if ev._state & INTERNAL:
            self._n_active_internal += 1
        self._note_maxima()

    def activate_later(self, ev: Event, res: int) -> None:
        """Activate ``ev`` on the next iteration, after polling again (libevent's active-later)."""
        state = ev._state
        if state & (ACTIVE | ACTIVE_LATER):
            ev._res |= res
            return
        ev._res = res
        ev._state = state | ACTIVE_LATER
        ev._gate = NEVER
        self._later.append(ev)

    def _finalize(self, ev: Event, finalizer: Callable[[Event, Any], object]) -> None:
        if ev._state & FINALIZING:
            raise EventStateError(f"{ev!r} is already being finalized")
        self._delete(ev)
        ev._finalizer = finalizer
        ev._res = FINALIZE
        self._enqueue(ev)
        ev._state |= FINALIZING
        mark_slow(ev)
