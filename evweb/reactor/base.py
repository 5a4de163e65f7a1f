"""EventBase: libevent's ``event_base``, the public face of the reactor.

The class is assembled from layers, each in its own module:
:mod:`._schedule` (adding, deleting, activating), :mod:`._threads`
(cross-thread mailbox), :mod:`._dispatch` (the loop) and
:mod:`._introspect` (iteration, dumps, counters). This module holds
construction, configuration, loop control, time and lifetime.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any

from evweb.errors import (
    EventStateError,
    InvalidEventError,
    InvalidPriorityError,
    ReentrantLoopError,
)
from evweb.reactor._dispatch import Dispatcher
from evweb.reactor._introspect import IntrospectionMixin
from evweb.reactor.config import EventConfig, open_backend
from evweb.reactor.deferred import DeferredCallback
from evweb.reactor.event import ACTIVE, Callback, Event, Timeout, check_timeout
from evweb.reactor.flags import IO_BITS, PERSIST, SIGNAL, TIMEOUT, BaseFlag, Feature
from evweb.reactor.signals import SignalReceiver, check_signal_number
from evweb.reactor.timers import CommonTimeout, TimerHeap
from evweb.reactor.watch import Watcher, WatcherCallback

log = logging.getLogger("evweb.reactor")

MAX_PRIORITIES = 256
"""libevent's EVENT_MAX_PRIORITIES: a base has fewer queues than this (1..255)."""
MAX_COMMON_TIMEOUTS = 256
"""The most common timeouts a base can have."""

ExceptionHandler = Callable[["EventBase", Event, Exception], object]


class EventBase(Dispatcher, IntrospectionMixin):
    """An event loop over one backend (libevent's ``event_base``).

    >>> base = EventBase()                       # best backend available
    >>> base = EventBase(EventConfig(method="poll", threadsafe=True))
    """

    def __init__(self, config: EventConfig | None = None) -> None:
        config = config if config is not None else EventConfig()
        self._config = config
        self._backend = open_backend(config)
        self._translate = self._backend.translate
        self._fdmap = {}
        self._fdsolo = {}
        self._epoch = 0
        self._fdbits = {}
        self._sigmap = {}
        self._timers = TimerHeap()
        self._common = []
        self._queues = [deque()]
        self._later = deque()
        self._once: set[Event] = set()
        self._prepare = []
        self._check = []
        self._init_counters()
        self._init_loop_state(config)
        self._signals = None
        self._signal_event = None
        self._exception_handler = None
        self._threadsafe = config.threadsafe and not config.flags & BaseFlag.NOLOCK
        self._mailbox = deque()
        self._mailbox_lock = threading.RLock()
        self._notifier = None
        self._notify_event = None
        if self._threadsafe:
            self._start_notifier()

    def _init_counters(self) -> None:
        self._n_inserted = 0
        self._n_timers = 0
        self._n_active_internal = 0
        self._n_virtual = 0
        self._max_active = 0
        self._max_added = 0
        self._max_virtual = 0
        self._active_threshold = 0

    def _init_loop_state(self, config: EventConfig) -> None:
        self._running = False
        self._loop_thread = None
        self._got_exit = False
        self._break = False
        self._continue = False
        self._interrupt = False
        self._deferreds_this_round = 0
        self._running_priority = -1
        self._current = None
        self._closed = False
        self._on_close: list[Callable[[], object]] = []
        self._time_cache = 0.0
        self._wall_for = 0.0
        self._wall_cached = 0.0
        self._cache_time = not config.flags & BaseFlag.NO_CACHE_TIME
        self._max_callbacks = config.max_callbacks or (1 << 62)
        self._max_interval = config.max_dispatch_interval
        limited = config.max_callbacks is not None or config.max_dispatch_interval is not None
        self._limit_after = config.limit_callbacks_after_priority if limited else MAX_PRIORITIES

    # --- factories ---------------------------------------------------------------

    def event(self, fd: Any, what: int, callback: Callback, arg: Any = None) -> Event:
        """A new event on this base (``event_new``)."""
        return Event(self, fd, what, callback, arg)

    def deferred(self, callback: Callable[[Any], object], arg: Any = None) -> DeferredCallback:
        """A :class:`DeferredCallback` on this base: ``callback(arg)`` run from the loop."""
        return DeferredCallback(self, callback, arg)

    def timer(self, callback: Callback, arg: Any = None, *, persist: bool = False) -> Event:
        """A new timer event (``evtimer_new``); add it with a timeout."""
        return Event(self, -1, PERSIST if persist else 0, callback, arg)

    def signal(self, signo: int, callback: Callback, arg: Any = None) -> Event:
        """A new persistent event for signal ``signo`` (``evsignal_new``)."""
        check_signal_number(signo)
        return Event(self, signo, SIGNAL | PERSIST, callback, arg)

    def once(
        self, fd: Any, what: int, callback: Callback, arg: Any = None, timeout: Timeout = None
    ) -> None:
        """Run ``callback(fd, what, arg)`` once when ``what`` happens on ``fd`` or at ``timeout``.

        SIGNAL and PERSIST are refused. A pure timer with no (or zero) timeout
        runs on the next iteration, in the order it was scheduled. An event
        that never fires is released by :meth:`close`.
        """
        if what & (SIGNAL | PERSIST):
            raise InvalidEventError("once() takes neither SIGNAL nor PERSIST")
        if not what & (TIMEOUT | IO_BITS):
            raise InvalidEventError(
                f"once() needs TIMEOUT, READ, WRITE or CLOSED in what, got {what:#x}"
            )
        if timeout is not None and not isinstance(timeout, CommonTimeout):
            timeout = check_timeout(timeout)

        def fire(fd: int, res: int, _: Any) -> None:
            self._once.discard(event)
            callback(fd, res, arg)

        event = Event(self, fd, what, fire)
        self._once.add(event)
        if not what & IO_BITS and (timeout is None or timeout == 0.0):
            if self._threadsafe and self._is_foreign():
                self._post(lambda: self._activate_public(event, TIMEOUT, 1), wait=False)
            else:
                self._activate_public(event, TIMEOUT, 1)
        else:
            event.add(timeout)

    # --- configuration -----------------------------------------------------------

    @property
    def config(self) -> EventConfig:
        """The configuration the base was built from."""
        return self._config

    @property
    def method(self) -> str:
        """The backend's name ("epoll", "poll", ...)."""
        return self._backend.name

    @property
    def features(self) -> Feature:
        """What the backend can do."""
        return self._backend.features

    @property
    def signal_method(self) -> str:
        """How signals arrive: a Python handler writes to a socketpair."""
        return "socketpair"

    @property
    def npriorities(self) -> int:
        """The number of priority queues."""
        return len(self._queues)

    def priority_init(self, npriorities: int) -> None:
        """Use ``npriorities`` queues (1..255, as libevent); refused while events are active."""
        if not 1 <= npriorities < MAX_PRIORITIES:
            raise InvalidPriorityError(
                f"invalid number of priorities {npriorities}: expected 1..{MAX_PRIORITIES - 1}"
            )
        if self._active_count():
            raise EventStateError("cannot change the number of priorities while events are active")
        if npriorities != len(self._queues):
            self._queues = [deque() for _ in range(npriorities)]

    def _default_priority(self) -> int:
        return len(self._queues) // 2

    def _set_priority(self, event: Event, priority: int) -> None:
        if not 0 <= priority < len(self._queues):
            raise InvalidPriorityError(
                f"invalid priority {priority}: this base has {len(self._queues)} "
                f"queue(s), so 0..{len(self._queues) - 1}"
            )
        if event._state & ACTIVE:
            raise EventStateError(f"cannot change the priority of active event {event!r}")
        event._priority = priority

    def init_common_timeout(self, duration: float | CommonTimeout) -> CommonTimeout:
        """A shared queue for many timers of ``duration`` seconds (at most 256 per base).

        The same duration returns the same object; a CommonTimeout of this
        base is returned as is.
        """
        if isinstance(duration, CommonTimeout):
            if self._owns_common(duration):
                return duration
            duration = duration.duration
        seconds = check_timeout(duration)
        for common in self._common:
            if common.duration == seconds:
                return common
        if len(self._common) >= MAX_COMMON_TIMEOUTS:
            raise EventStateError(f"a base holds at most {MAX_COMMON_TIMEOUTS} common timeouts")
        common = CommonTimeout(seconds, len(self._common))
        common.driver = self._internal_event(-1, 0, self._fire_common, common)
        self._common.append(common)
        return common

    def set_exception_handler(self, handler: ExceptionHandler | None) -> None:
        """Call ``handler(base, event, exc)`` when a callback raises (None: log it).

        The default logs the traceback on ``evweb.reactor`` and keeps looping.
        A handler that raises stops the loop: the exception leaves ``loop()``.
        With ``EventConfig(stop_on_error=True)`` the callback's own exception
        leaves ``loop()``. Either way the base stays usable.
        """
        self._exception_handler = handler

    # --- activation by fd or signal ------------------------------------------------

    def active_by_fd(self, fd: int, what: int) -> None:
        """Activate the added events on ``fd`` that wait for any of ``what``."""
        if what & TIMEOUT:
            for ev in self._timed_events():
                if ev._fd == fd and not ev._events & SIGNAL:
                    self._activate(ev, TIMEOUT, 1)
            return
        for ev in list(self._fdmap.get(fd, ())):
            res = ev._events & what & IO_BITS
            if res:
                self._activate(ev, res, 1)

    def active_by_signal(self, signo: int) -> None:
        """Activate the added events for signal ``signo`` as if it had arrived."""
        for ev in list(self._sigmap.get(signo, ())):
            self._activate(ev, SIGNAL, 1)

    # --- the loop and its control ------------------------------------------------------

    def dispatch(self) -> int:
        """Loop until no events are pending or the loop is stopped (``event_base_dispatch``)."""
        return self.loop(0)

    def loop(self, flags: int = 0) -> int:
        """Run the loop; ``flags`` combines ONCE, NONBLOCK and NO_EXIT_ON_EMPTY.

        Returns 0 when stopped (or after ONCE/NONBLOCK), 1 when no events
        were left. Raises :class:`ReentrantLoopError` when called from inside
        this base's own loop.
        """
        if self._running:
            raise ReentrantLoopError("loop() called while this base is already looping")
        if self._closed:
            raise EventStateError("cannot loop on a closed base")
        if self._threadsafe:
            self._enter_loop()
        else:
            self._running = True
        self._got_exit = self._break = False
        if self._signals is not None:
            self._signals.claim()  # the most recently looping base gets signals
        try:
            return self._run(flags)
        finally:
            if self._threadsafe:
                self._exit_loop()
            else:
                self._running = False
            self._time_cache = 0.0

    def loopexit(self, after: float | None = None) -> None:
        """Stop the loop after ``after`` seconds (None: after this round of callbacks).

        It is an event, so it also works when called before the loop starts.
        """
        if self._threadsafe and self._is_foreign():
            self._post(lambda: self.loopexit(after), wait=False)
            return
        self.once(-1, TIMEOUT, self._set_got_exit, None, after)

    def _set_got_exit(self, fd: int, what: int, arg: Any) -> None:
        self._got_exit = True

    def loopbreak(self) -> None:
        """Stop right after the current callback (lost if the loop is not running)."""
        self._break = self._interrupt = True
        if self._threadsafe and self._is_foreign() and self._notifier is not None:
            self._notifier.notify()

    def loopcontinue(self) -> None:
        """After the current callback, poll again before running more callbacks."""
        self._continue = self._interrupt = True

    def got_exit(self) -> bool:
        """Whether the last loop ended through :meth:`loopexit` (reset when a loop starts)."""
        return self._got_exit

    def got_break(self) -> bool:
        """Whether the last loop ended through :meth:`loopbreak` (reset when a loop starts)."""
        return self._break

    @property
    def running(self) -> bool:
        """True while :meth:`loop` runs."""
        return self._running

    @property
    def running_event(self) -> Event | None:
        """The event whose callback is running, if any."""
        return self._current if self._running and self._current is not None else None

    # --- time --------------------------------------------------------------------------

    def monotonic_time(self) -> float:
        """The loop's now on the monotonic clock (cached while callbacks run)."""
        return self._now()

    def gettimeofday_cached(self) -> float:
        """Wall-clock time, as of this loop iteration's poll while callbacks run.

        Within one iteration every call returns the same value; outside the
        loop (or with ``BaseFlag.NO_CACHE_TIME``) it is ``time.time()``.
        """
        cache = self._time_cache
        if not cache:
            return time.time()
        if self._wall_for != cache:
            self._wall_for = cache
            self._wall_cached = cache + (time.time() - monotonic())
        return self._wall_cached

    def update_cache_time(self) -> None:
        """Refresh the cached time (only while the loop runs, as in libevent)."""
        if self._running and self._cache_time:
            self._time_cache = monotonic()

    # --- watchers and virtual events -----------------------------------------------------

    def watch_prepare(self, callback: WatcherCallback, arg: Any = None) -> Watcher:
        """Run ``callback(watcher, PrepareInfo, arg)`` before each poll."""
        watcher = Watcher(self, self._prepare, callback, arg)
        self._prepare.append(watcher)
        return watcher

    def watch_check(self, callback: WatcherCallback, arg: Any = None) -> Watcher:
        """Run ``callback(watcher, CheckInfo, arg)`` right after each poll."""
        watcher = Watcher(self, self._check, callback, arg)
        self._check.append(watcher)
        return watcher

    def add_virtual(self) -> None:
        """Count an outside activity that keeps the loop from exiting when empty."""
        self._n_virtual += 1
        self._max_virtual = max(self._max_virtual, self._n_virtual)

    def del_virtual(self) -> None:
        """Undo one :meth:`add_virtual`."""
        if self._n_virtual > 0:
            self._n_virtual -= 1

    # --- lifetime ------------------------------------------------------------------------

    def reinit(self) -> None:
        """Rebuild kernel objects after ``fork()`` and re-register every fd (``event_reinit``)."""
        if self._backend.need_reinit:
            self._backend.close()
            self._backend = open_backend(self._config)
            self._translate = self._backend.translate
            for fd, bits in self._fdbits.items():
                self._backend.set(fd, 0, bits)
        if self._notifier is not None:
            self._stop_notifier()
            self._start_notifier()
        if self._signals is not None:
            self._reinit_signals()

    def _reinit_signals(self) -> None:
        old, signals = self._signals, set(self._sigmap)
        if self._signal_event is not None:
            self._delete(self._signal_event)
        if old is not None:
            old.close()
        receiver = self._signals = SignalReceiver(self)
        self._signal_event = self._internal_reader(receiver.fileno, self._on_signal_pipe)
        for signo in signals:
            receiver.watch(signo)

    def call_on_close(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` when the base closes, before its events go (services it owns shut down).

        Not in libevent, whose users free such services before the base. The
        IO layer uses it for the resolver it creates for a base on its own.
        """
        if self._closed:
            raise EventStateError("call_on_close() on a closed EventBase")
        self._on_close.append(fn)

    def close(self, run_finalizers: bool = True) -> None:
        """Delete every event, run pending finalizers, release the backend (``event_base_free``)."""
        if self._closed:
            return
        callbacks, self._on_close = self._on_close, []
        for fn in callbacks:
            try:
                fn()
            except Exception as exc:
                log.error("exception in a close callback of %r", self, exc_info=exc)
        if run_finalizers:
            self._run_pending_finalizers()
        for ev in list(self.events(include_internal=True)):
            self._delete(ev)
        self._once.clear()
        self._prepare.clear()
        self._check.clear()
        if self._signals is not None:
            self._signals.close()
            self._signals = None
        self._stop_notifier()
        self._backend.close()
        self._closed = True

    def _run_pending_finalizers(self) -> None:
        for queue in self._queues:
            for ev in [e for e in queue if e._finalizer is not None]:
                queue.remove(ev)
                try:
                    self._run_finalizer(ev)
                except Exception as exc:
                    log.error("exception in the finalizer of %r", ev, exc_info=exc)

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def __enter__(self) -> EventBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<EventBase {self.method} added={self._added_count()}>"
