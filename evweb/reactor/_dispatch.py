"""The loop itself: poll, activate, run callbacks.

One iteration, as in libevent's ``event_base_loop``::

    exit or break requested -> stop
    poll timeout = 0 if anything is active, else time to the next timer
    nothing pending and not NO_EXIT_ON_EMPTY -> return 1
    promote "active later" events; run prepare watchers
    poll the backend; cache the time; run check watchers
    activate ready fds, then expired timers
    run the lowest-numbered non-empty priority queue

Why there are two ways to run an fd's callback: libevent first moves every
ready event to an active queue, then runs the queue. In Python that round
trip (flag, append, pop, unflag) costs more than the rest of the dispatch.
When the base has one priority queue and nothing else is active, the order
libevent would produce is simply the poll order, so ``_run_ready`` calls
plain events straight from the poll result and sends only the others
(one-shot, signal, edge-triggered, timed, already active) through the queue.
An insertion epoch keeps that exactly equivalent: an event added after the
poll (re-added, or new on a reused fd number) is not run on that poll's
readiness. ``tests/reactor/test_direct_dispatch.py`` pins each case.

The per-event paths read Event slots directly and bind what they use to
locals: they run once per dispatched event, and every attribute lookup
there shows in ``bench/reactor.py``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any

from evweb.reactor._threads import ThreadBridge
from evweb.reactor.config import EventConfig
from evweb.reactor.event import (
    ACTIVE,
    ACTIVE_LATER,
    DEFERRED,
    FINALIZING,
    INSERTED,
    INTERNAL,
    NEVER,
    TIMER,
    Event,
)
from evweb.reactor.flags import (
    IO_BITS,
    NO_EXIT_ON_EMPTY,
    NONBLOCK,
    ONCE,
    PERSIST,
    SIGNAL,
    TIMEOUT,
)
from evweb.reactor.timers import CommonTimeout
from evweb.reactor.watch import CheckInfo, PrepareInfo, Watcher

log = logging.getLogger("evweb.reactor")

_IO_READY = IO_BITS
_NEEDS_CARE = ACTIVE | ACTIVE_LATER | FINALIZING | INTERNAL
_NO_LIMIT = 1 << 62


class Dispatcher(ThreadBridge):
    """The part of EventBase that runs the loop."""

    _config: EventConfig
    _translate: Any
    _prepare: list[Watcher]
    _check: list[Watcher]
    _got_exit: bool
    _break: bool
    _current: Event | None
    _cache_time: bool
    _max_callbacks: int
    _max_interval: float | None
    _limit_after: int
    _deferreds_this_round: int
    _exception_handler: Callable[[Any, Event, Exception], object] | None

    def _run(self, flags: int) -> int:
        poll = self._backend.poll
        while True:
            if self._got_exit or self._break:
                return 0
            self._continue = self._interrupt = False
            self._deferreds_this_round = 0
            if self._mailbox:
                self._drain_mailbox()
            if self._later:
                self._promote_later()
            queues = self._queues
            if queues[0] if len(queues) == 1 else any(queues):
                timeout: float | None = 0.0
            elif flags & NO_EXIT_ON_EMPTY or self._n_inserted or self._n_timers or self._n_virtual:
                timeout = 0.0 if flags & NONBLOCK else self._poll_timeout()
            else:
                return 1
            if self._prepare:
                self._run_watchers(self._prepare, PrepareInfo(timeout))
            self._time_cache = 0.0
            ready = poll(timeout)
            now = monotonic()
            if self._cache_time:
                self._time_cache = now
            if self._check:
                self._run_watchers(self._check, CheckInfo())
            queues = self._queues
            single = len(queues) == 1 and self._limit_after
            if not ready:
                ran = 0
            elif single and not queues[0]:
                ran = self._run_ready(ready)
            else:
                ran = self._activate_ready(ready)
            entries = self._timers.entries
            if entries and entries[0][0] <= now:
                self._expire_timers(now)
            if single:
                queue = queues[0]
                if queue:
                    ran = self._run_queue(queue) or ran
                elif not ran:
                    if flags & NONBLOCK:
                        return 0
                    continue
                if flags & ONCE and ran and not (queue or self._later):
                    return 0
            elif any(queues):
                ran = self._process_active()
                if flags & ONCE and ran and not (self._later or any(self._queues)):
                    return 0
            elif flags & NONBLOCK:
                return 0

    def _poll_timeout(self) -> float | None:
        deadline = self._timers.next_deadline()
        if deadline is None:
            return None
        remaining = deadline - monotonic()
        return remaining if remaining > 0.0 else 0.0

    def _promote_later(self) -> None:
        later = self._later
        while later:
            self._enqueue(later.popleft())

    def _run_watchers(self, watchers: list[Watcher], info: PrepareInfo | CheckInfo) -> None:
        for watcher in list(watchers):
            try:
                watcher.callback(watcher, info, watcher.arg)
            except Exception as exc:
                if self._config.stop_on_error:
                    raise
                log.error("exception in %r", watcher, exc_info=exc)

    # --- activation ----------------------------------------------------------------

    def _activate_ready(self, ready: list[tuple[int, int]]) -> int:
        """Queue what the poll found (when ``_run_ready`` may not run it); returns 0."""
        queues = self._queues
        solo_get = self._fdsolo.get
        table = self._translate
        append = queues[0].append
        # With several priority queues every event takes _activate's full path.
        care = _NEEDS_CARE if len(queues) == 1 else -1
        for fd, mask in ready:
            ev = solo_get(fd)
            if ev is None:
                self._activate_shared(fd, table[mask])
                continue
            res = ev._events & table[mask]
            if not res & _IO_READY:
                continue
            state = ev._state
            if state & care:
                self._activate(ev, res, 1)
            else:
                ev._res = res
                ev._state = state | ACTIVE
                ev._gate = NEVER
                append(ev)
        active = len(queues[0]) if len(queues) == 1 else sum(map(len, queues))
        if active > self._active_threshold:
            self._note_maxima()
        return 0

    def _run_ready(self, ready: list[tuple[int, int]]) -> int:
        """Run plain events straight from the poll result; queue the others.

        Used only when nothing else is active and the base has one priority
        queue, so the order of callbacks is libevent's up to the order within
        one priority, which libevent leaves undefined. "Plain" means
        persistent, level-triggered, without timeout, not active by other
        means (see ``Event._slow``). An event added after the poll (``_epoch``)
        is skipped: that covers one deleted and re-added by an earlier
        callback, and a new event on an fd number an earlier callback closed
        and reused. After loopbreak or loopcontinue the remaining entries are
        dropped: being level-triggered, the next poll reports them again.
        """
        solo = self._fdsolo
        table = self._translate
        epoch = self._epoch
        ran = 0
        for fd, mask in ready:
            try:
                ev = solo[fd]
            except KeyError:  # several events on this fd, or none any more
                self._activate_shared(fd, table[mask])
                continue
            res = ev._events & table[mask]
            if ev._gate > epoch:  # slow, queued, or added after the poll
                if res & _IO_READY and ev._epoch <= epoch:
                    self._activate(ev, res, 1)
                continue
            self._current = ev
            ran = 1
            try:
                ev._callback(fd, res, ev._arg)
            except Exception as exc:
                self._callback_failed(ev, exc)
            if self._interrupt:
                break
        self._current = None
        if len(ready) > self._active_threshold:
            self._note_maxima(len(ready))  # what the poll made active, run or queued
        return ran

    def _activate_shared(self, fd: int, what: int) -> None:
        """Activate the events of an fd that several events wait on."""
        for ev in self._fdmap.get(fd, ()):
            res = ev._events & what
            if res & _IO_READY:
                self._activate(ev, res, 1)

    def _expire_timers(self, now: float) -> None:
        for ev in self._timers.pop_due(now):
            self._expire(ev)

    def _expire(self, ev: Event) -> None:
        """A timer ran out: drop it (and, unless persistent, the whole event), then activate."""
        ev._timer = None
        ev._common = None
        state = ev._state & ~TIMER
        internal = state & INTERNAL
        if not internal:
            self._n_timers -= 1
        if state & INSERTED and not ev._events & PERSIST:
            if ev._events & SIGNAL:
                self._remove_signal(ev)
            else:
                self._remove_io(ev)
            state &= ~INSERTED
            if not internal:
                self._n_inserted -= 1
        ev._state = state
        self._activate(ev, TIMEOUT, 1)

    def _fire_common(self, fd: int, what: int, common: CommonTimeout) -> None:
        for ev in common.pop_due(self._now()):
            self._expire(ev)
        head = common.head_deadline()
        if head is not None:
            self._schedule(common.driver, head, None)

    # --- running callbacks ----------------------------------------------------------

    def _process_active(self) -> int:
        """Run the most urgent non-empty queue; returns the callbacks run (-1 on break)."""
        ran = 0
        for priority, queue in enumerate(self._queues):
            if not queue:
                continue
            self._running_priority = priority
            if priority < self._limit_after:
                ran = self._run_queue(queue)
            else:
                interval = self._max_interval
                end = None if interval is None else monotonic() + interval
                ran = self._run_queue(queue, self._max_callbacks, end)
            if ran:
                break  # a real callback ran: lower priorities wait for the next round
        self._running_priority = -1
        return ran

    def _run_queue(
        self, queue: deque[Event], limit: int = _NO_LIMIT, end: float | None = None
    ) -> int:
        """Run ``queue`` until empty, interrupted, or past ``limit`` callbacks or ``end``.

        Returns the user callbacks run, or -1 after loopbreak.
        """
        popleft = queue.popleft
        ran = 0
        while queue:
            ev = popleft()
            self._current = ev
            if ev._slow:
                ran += self._run_slow(ev)
            else:
                ev._state ^= ACTIVE
                ev._gate = ev._epoch  # back on the direct path
                ran += 1
                try:
                    ev._callback(ev._fd, ev._res, ev._arg)
                except Exception as exc:
                    self._callback_failed(ev, exc)
            if self._interrupt:
                if self._break:
                    ran = -1
                break
            if ran >= limit or (end is not None and monotonic() >= end):
                break
        self._current = None
        return ran

    def _run_slow(self, ev: Event) -> int:
        """Run one event that needs care; returns 1 when it was a user event, else 0."""
        state = ev._state
        ev._state = state & ~ACTIVE
        if state & INTERNAL:
            self._n_active_internal -= 1
            self._note_maxima()
        if not (ev._events & PERSIST or state & FINALIZING) and state & (INSERTED | TIMER):
            ncalls = ev._ncalls
            self._delete(ev)
            ev._ncalls = ncalls  # a one-shot signal event still runs for its delivery
        try:
            if state & FINALIZING:
                self._run_finalizer(ev)
            else:
                if ev._interval is not None:
                    self._rearm(ev)
                if ev._events & SIGNAL:
                    self._run_signal(ev)
                else:
                    ev._callback(ev._fd, ev._res, ev._arg)
        except Exception as exc:
            self._callback_failed(ev, exc)
        return 0 if state & INTERNAL and not state & DEFERRED else 1

    def _run_finalizer(self, ev: Event) -> None:
        finalizer, ev._finalizer = ev._finalizer, None
        if finalizer is not None:
            finalizer(ev, ev._arg)

    def _run_signal(self, ev: Event) -> None:
        ncalls = ev._ncalls
        while ncalls > 0:  # a signal delivered n times runs its callback n times
            ncalls -= 1
            ev._ncalls = ncalls
            ev._callback(ev._fd, ev._res, ev._arg)
            if self._break or ev._ncalls != ncalls:
                return  # loopbreak, or the event was deleted meanwhile

    def _rearm(self, ev: Event) -> None:
        """Re-schedule a persistent timeout: from the last deadline when it timed out."""
        interval = ev._interval
        common = interval if isinstance(interval, CommonTimeout) else None
        duration = common.duration if common is not None else float(interval)  # type: ignore[arg-type]
        now = self._now()
        run_at = (ev._deadline if ev._res & TIMEOUT else now) + duration
        if run_at < now:
            run_at = now + duration  # missed deadlines are skipped, not replayed
        self._schedule(ev, run_at, common)

    def _callback_failed(self, ev: Event, exc: Exception) -> None:
        if self._config.stop_on_error:
            raise exc
        handler = self._exception_handler
        if handler is None:
            log.error("exception in the callback of %r", ev, exc_info=exc)
        else:
            handler(self, ev, exc)
