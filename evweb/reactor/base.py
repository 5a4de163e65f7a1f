"""EventBase: libevent's event loop.

One loop iteration, as in libevent's ``event_base_loop``::

    exit/break requested? -> stop
    poll timeout = 0 if anything is active, else time to the next timer
    nothing pending and not NO_EXIT_ON_EMPTY -> return 1
    promote "active later" events; run prepare watchers
    poll the backend; cache the time; run check watchers
    activate ready fds, then expired timers
    run the lowest-numbered non-empty priority queue

The dispatch path (``_activate_ready`` and ``_run_queue``) reads and writes
Event slots directly and binds what it uses to locals: it runs once per
event, and every attribute lookup there shows up in the benchmark.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any

from evweb.errors import (
    EventStateError,
    InvalidEventError,
    InvalidPriorityError,
    ReentrantLoopError,
    UnsupportedFeatureError,
)
from evweb.reactor import _introspect
from evweb.reactor.config import EventConfig, open_backend
from evweb.reactor.event import (
    ACTIVE,
    ACTIVE_LATER,
    FINALIZING,
    INSERTED,
    INTERNAL,
    TIMER,
    Callback,
    Event,
    Timeout,
    check_timeout,
)
from evweb.reactor.flags import (
    ET,
    IO_BITS,
    NO_EXIT_ON_EMPTY,
    NONBLOCK,
    ONCE,
    PERSIST,
    SIGNAL,
    TIMEOUT,
    BaseFlag,
    Feature,
)
from evweb.reactor.notify import Notifier
from evweb.reactor.signals import SignalReceiver, check_signal_number
from evweb.reactor.timers import CommonTimeout, TimerHeap
from evweb.reactor.watch import CheckInfo, PrepareInfo, Watcher, WatcherCallback

log = logging.getLogger("evweb.reactor")

MAX_PRIORITIES = 256
MAX_COMMON_TIMEOUTS = 256
_NO_LIMIT = 1 << 62
_REGISTERED = IO_BITS | ET

ExceptionHandler = Callable[["EventBase", Event, Exception], object]


class EventBase(_introspect.IntrospectionMixin):
    """An event loop over one backend (libevent's ``event_base``)."""

    def __init__(self, config: EventConfig | None = None) -> None:
        config = config if config is not None else EventConfig()
        self._config = config
        self._backend = open_backend(config)
        self._translate = self._backend.translate
        self._fdmap: dict[int, list[Event]] = {}
        self._fdbits: dict[int, int] = {}
        self._sigmap: dict[int, list[Event]] = {}
        self._timers = TimerHeap()
        self._common: list[CommonTimeout] = []
        self._queues: list[deque[Event]] = [deque()]
        self._later: deque[Event] = deque()
        self._once: set[Event] = set()
        self._watchers: dict[str, list[Watcher]] = {"prepare": [], "check": []}
        self._init_counters()
        self._init_loop_state(config)
        self._signals: SignalReceiver | None = None
        self._signal_event: Event | None = None
        self._exception_handler: ExceptionHandler | None = None
        self._threadsafe = config.threadsafe and not config.flags & BaseFlag.NOLOCK
        self._mailbox: deque[tuple[Callable[[], object], threading.Event | None]] = deque()
        self._mailbox_lock = threading.Lock()
        self._notifier: Notifier | None = None
        self._notify_event: Event | None = None
        if self._threadsafe:
            self._start_notifier()

    def _init_counters(self) -> None:
        self._n_active = 0
        self._n_active_internal = 0
        self._n_inserted = 0
        self._n_timers = 0
        self._n_virtual = 0
        self._max_active = 0
        self._max_added = 0
        self._max_virtual = 0

    def _init_loop_state(self, config: EventConfig) -> None:
        self._running = False
        self._loop_thread: int | None = None
        self._got_exit = False
        self._break = False
        self._continue = False
        self._running_priority = -1
        self._current: Event | None = None
        self._closed = False
        self._time_cache = 0.0
        self._cache_time = not config.flags & BaseFlag.NO_CACHE_TIME
        self._max_callbacks = config.max_callbacks or _NO_LIMIT
        self._max_interval = config.max_dispatch_interval
        limited = config.max_callbacks is not None or config.max_dispatch_interval is not None
        self._limit_after = config.limit_callbacks_after_priority if limited else MAX_PRIORITIES

    # --- factories ----------------------------------------------------------

    def event(self, fd: Any, what: int, callback: Callback, arg: Any = None) -> Event:
        """A new event on this base (``event_new``)."""
        return Event(self, fd, what, callback, arg)

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
        """Run ``callback`` once when ``what`` happens on ``fd`` or ``timeout`` passes.

        SIGNAL and PERSIST are refused. A pure timer with no (or zero) timeout
        runs on the next iteration, in the order it was scheduled.
        """
        if what & (SIGNAL | PERSIST):
            raise InvalidEventError("once() takes neither SIGNAL nor PERSIST")
        if timeout is not None and not isinstance(timeout, CommonTimeout):
            timeout = check_timeout(timeout)

        def fire(fd: int, res: int, _: Any) -> None:
            self._once.discard(event)
            callback(fd, res, arg)

        event = Event(self, fd, what, fire)
        self._once.add(event)
        if not what & IO_BITS and not timeout:
            self._activate_public(event, TIMEOUT, 1)
        else:
            event.add(timeout)

    # --- configuration --------------------------------------------------------

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
        """How signals arrive ("socketpair": a Python handler writes to one)."""
        return "socketpair"

    @property
    def npriorities(self) -> int:
        """The number of priority queues."""
        return len(self._queues)

    def priority_init(self, npriorities: int) -> None:
        """Use ``npriorities`` queues (1..256); refused while events are active."""
        if not 1 <= npriorities <= MAX_PRIORITIES:
            raise InvalidPriorityError(
                f"invalid number of priorities {npriorities}: expected 1..{MAX_PRIORITIES}"
            )
        if self._n_active:
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
        """A shared queue for timers of ``duration`` seconds (at most 256 per base).

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
        driver = Event(self, -1, 0, self._fire_common, common)
        driver._state = INTERNAL
        driver._priority = 0
        common.driver = driver
        self._common.append(common)
        return common

    def _owns_common(self, common: CommonTimeout) -> bool:
        index = common.index
        return index < len(self._common) and self._common[index] is common

    def set_exception_handler(self, handler: ExceptionHandler | None) -> None:
        """Call ``handler(base, event, exc)`` when a callback raises (None: log it).

        The default logs the traceback on ``evweb.reactor`` and keeps looping.
        A handler that raises stops the loop: the exception leaves ``loop()``.
        """
        self._exception_handler = handler

    # --- adding, deleting, activating -------------------------------------------

    def _add(self, ev: Event, timeout: Timeout) -> None:
        state = ev._state
        if state & FINALIZING:
            raise EventStateError(f"cannot add {ev!r}: it is being finalized")
        if self._closed:
            raise EventStateError("cannot add an event to a closed base")
        common = None
        if timeout is not None:
            if timeout.__class__ is CommonTimeout:
                common = timeout
                if not self._owns_common(common):  # type: ignore[arg-type]
                    raise EventStateError(f"{timeout!r} belongs to another base")
                seconds = common.duration  # type: ignore[union-attr]
            else:
                seconds = check_timeout(timeout)
        events = ev._events
        if events & (IO_BITS | SIGNAL) and not state & (INSERTED | ACTIVE | ACTIVE_LATER):
            if events & SIGNAL:
                self._insert_signal(ev)
            else:
                self._insert_io(ev)
            ev._state = state = state | INSERTED
            if not state & INTERNAL:
                self._n_inserted += 1
        if timeout is None:
            if not state & TIMER:
                ev._interval = None
            return
        if events & PERSIST:
            ev._interval = timeout  # type: ignore[assignment]
        if state & ACTIVE and ev._res & TIMEOUT:
            self._unqueue(ev)  # a rescheduled timeout must not also fire now
        self._schedule(ev, self._now() + seconds, common)  # type: ignore[arg-type]

    def _schedule(self, ev: Event, deadline: float, common: CommonTimeout | None) -> None:
        state = ev._state
        if state & TIMER:
            self._unschedule(ev)
        elif not state & INTERNAL:
            self._n_timers += 1
            added = self._n_inserted + self._n_timers + self._n_active - self._n_active_internal
            if added > self._max_added:
                self._max_added = added
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
        """Forget the event's timer but keep its TIMER bit (the caller resets it)."""
        entry = ev._timer
        if ev._common is None:
            self._timers.cancel(entry)  # type: ignore[arg-type]
        else:
            entry[2] = None  # type: ignore[index]
            ev._common = None
        ev._timer = None

    def _remove_timer(self, ev: Event) -> None:
        if ev._state & TIMER:
            self._unschedule(ev)
            ev._state &= ~TIMER
            if not ev._state & INTERNAL:
                self._n_timers -= 1
        ev._interval = None

    def _insert_io(self, ev: Event) -> None:
        fd = ev._fd
        if fd < 0:
            return  # libevent accepts fd -1: the event can only be activated by hand
        events = ev._events
        if events & ET and not self._backend.features & Feature.ET:
            raise UnsupportedFeatureError(
                f"ET needs a backend with Feature.ET; {self._backend.name!r} has none "
                f"(fd {fd})"
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
        if others is None:
            self._fdmap[fd] = [ev]
        else:
            others.append(ev)

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
        if others:
            self._fdbits[fd] = new
        else:
            del self._fdmap[fd]
            del self._fdbits[fd]

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
            self._n_active -= 1
        if state & INSERTED:
            if ev._events & SIGNAL:
                self._remove_signal(ev)
            else:
                self._remove_io(ev)
            if not state & INTERNAL:
                self._n_inserted -= 1
        ev._state &= ~(INSERTED | TIMER | ACTIVE | ACTIVE_LATER)
        ev._ncalls = 0

    def _unqueue(self, ev: Event) -> None:
        self._queues[ev._priority].remove(ev)
        ev._state &= ~ACTIVE
        self._n_active -= 1
        if ev._state & INTERNAL:
            self._n_active_internal -= 1

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
            self._n_active -= 1
            res |= ev._res
        ev._res = res
        ev._ncalls = ncalls
        self._enqueue(ev)

    def _enqueue(self, ev: Event) -> None:
        ev._state = (ev._state & ~ACTIVE_LATER) | ACTIVE
        if ev._priority < self._running_priority:
            self._continue = True
        self._queues[ev._priority].append(ev)
        self._n_active += 1
        if ev._state & INTERNAL:
            self._n_active_internal += 1
        self._note_maxima()

    def activate_later(self, ev: Event, res: int) -> None:
        """Activate ``ev`` on the next loop iteration, after polling again (libevent's active-later)."""
        state = ev._state
        if state & (ACTIVE | ACTIVE_LATER):
            ev._res |= res
            return
        ev._res = res
        ev._state = state | ACTIVE_LATER
        self._later.append(ev)
        self._n_active += 1

    def active_by_fd(self, fd: int, what: int) -> None:
        """Activate the added events on ``fd`` that wait for any of ``what``."""
        if what & TIMEOUT:
            for ev in list(self._timers) + [e for c in self._common for e in _live(c)]:
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

    def _finalize(self, ev: Event, finalizer: Callable[[Event, Any], object]) -> None:
        if ev._state & FINALIZING:
            raise EventStateError(f"{ev!r} is already being finalized")
        if self._threadsafe and self._is_foreign():
            self._post(lambda: self._finalize(ev, finalizer), wait=False)
            return
        self._delete(ev)
        ev._finalizer = finalizer
        ev._special = True
        ev._res = 0x40
        self._enqueue(ev)
        ev._state |= FINALIZING

    # --- signals ---------------------------------------------------------------

    def _insert_signal(self, ev: Event) -> None:
        signo = ev._fd
        check_signal_number(signo)
        receiver = self._signals
        if receiver is None:
            receiver = self._signals = SignalReceiver(self)
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
        receiver = self._signals
        if receiver is None:
            return
        for signo, count in receiver.take_counts().items():
            for ev in list(self._sigmap.get(signo, ())):
                self._activate(ev, SIGNAL, count)

    def _internal_reader(self, fd: int, callback: Callback) -> Event:
        ev = Event(self, fd, 0x02 | PERSIST, callback)
        ev._state = INTERNAL
        ev._priority = 0
        self._add(ev, None)
        return ev

    # --- threads ------------------------------------------------------------------

    def _start_notifier(self) -> None:
        self._notifier = Notifier()
        self._notify_event = self._internal_reader(self._notifier.fileno, self._on_notify)

    def _on_notify(self, fd: int, what: int, arg: Any) -> None:
        if self._notifier is not None:
            self._notifier.drain()
        self._drain_mailbox()

    def _is_foreign(self) -> bool:
        return self._running and self._loop_thread != threading.get_ident()

    def _post(self, fn: Callable[[], object], wait: bool) -> None:
        """Run ``fn`` on the loop thread; with ``wait``, return once it has run."""
        done = threading.Event() if wait else None
        with self._mailbox_lock:
            queued = self._running
            if queued:
                self._mailbox.append((fn, done))
        if not queued:
            fn()
            return
        assert self._notifier is not None
        self._notifier.notify()
        if done is not None:
            done.wait()

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop, from any thread; the loop wakes up for it."""
        if self._notifier is None:
            raise EventStateError(
                "this base is not thread-safe: create it with EventConfig(threadsafe=True)"
            )
        with self._mailbox_lock:
            self._mailbox.append((lambda: fn(*args), None))
        self._notifier.notify()

    def _drain_mailbox(self) -> None:
        mailbox = self._mailbox
        while mailbox:
            fn, done = mailbox.popleft()
            try:
                fn()
            except Exception:
                log.exception("cross-thread call %r failed", fn)
            finally:
                if done is not None:
                    done.set()

    # --- the loop -------------------------------------------------------------------

    def dispatch(self) -> int:
        """Loop until no events are pending or the loop is told to stop (``event_base_dispatch``)."""
        return self.loop(0)

    def loop(self, flags: int = 0) -> int:
        """Run the loop; ``flags`` combines ONCE, NONBLOCK and NO_EXIT_ON_EMPTY.

        Returns 0 when told to stop (or after ONCE/NONBLOCK), 1 when no
        events were left. Raises :class:`ReentrantLoopError` when called from
        inside this base's own loop.
        """
        if self._running:
            raise ReentrantLoopError("loop() called while this base is already looping")
        if self._closed:
            raise EventStateError("cannot loop on a closed base")
        with self._mailbox_lock:
            self._running = True
            self._loop_thread = threading.get_ident()
        self._got_exit = self._break = False
        try:
            return self._run(flags)
        finally:
            self._leave()

    def _leave(self) -> None:
        with self._mailbox_lock:
            self._running = False
            self._loop_thread = None
        self._time_cache = 0.0
        self._current = None
        self._running_priority = -1
        self._drain_mailbox()

    def _run(self, flags: int) -> int:
        nonblock = flags & NONBLOCK
        keep_going = flags & NO_EXIT_ON_EMPTY
        poll = self._backend.poll
        watchers = self._watchers
        cache_time = self._cache_time
        while True:
            self._continue = False
            if self._got_exit or self._break:
                return 0
            if self._mailbox:
                self._drain_mailbox()
            timeout = 0.0 if self._n_active or nonblock else self._poll_timeout()
            if not keep_going and not self._has_events():
                return 1
            if self._later:
                self._promote_later()
            if watchers["prepare"]:
                self._run_watchers("prepare", PrepareInfo(timeout))
            self._time_cache = 0.0
            ready = poll(timeout)
            now = monotonic()
            if cache_time:
                self._time_cache = now
            if watchers["check"]:
                self._run_watchers("check", CheckInfo())
            if ready:
                self._activate_ready(ready)
            entries = self._timers.entries
            if entries and entries[0][0] <= now:
                self._expire_timers(now)
            if self._n_active:
                ran = self._process_active()
                if flags & ONCE and not self._n_active and ran:
                    return 0
            elif nonblock:
                return 0

    def _poll_timeout(self) -> float | None:
        deadline = self._timers.next_deadline()
        if deadline is None:
            return None
        remaining = deadline - monotonic()
        return remaining if remaining > 0.0 else 0.0

    def _has_events(self) -> bool:
        return bool(self._n_inserted or self._n_timers or self._n_virtual or self._n_active)

    def _promote_later(self) -> None:
        later = self._later
        while later:
            ev = later.popleft()
            self._n_active -= 1
            ev._state &= ~ACTIVE_LATER
            self._enqueue(ev)

    def _run_watchers(self, kind: str, info: PrepareInfo | CheckInfo) -> None:
        for watcher in list(self._watchers[kind]):
            try:
                watcher.callback(watcher, info, watcher.arg)
            except Exception as exc:
                self._watcher_failed(watcher, exc)

    def _activate_ready(self, ready: list[tuple[int, int]]) -> None:
        fdmap_get = self._fdmap.get
        table = self._translate
        queues = self._queues
        added = 0
        for fd, mask in ready:
            events = fdmap_get(fd)
            if events is None:
                continue
            what = table[mask]
            for ev in events:
                res = ev._events & what
                if res & 0x86:  # READ | WRITE | CLOSED
                    state = ev._state
                    if state & 0x3C:  # active, active-later, finalizing or internal
                        self._activate(ev, res, 1)
                    else:
                        ev._res = res
                        ev._state = state | ACTIVE
                        queues[ev._priority].append(ev)
                        added += 1
        if added:
            self._n_active += added
            self._note_maxima()

    def _note_maxima(self) -> None:
        active = self._n_active
        if active > self._max_active:
            self._max_active = active
        added = self._n_inserted + self._n_timers + active - self._n_active_internal
        if added > self._max_added:
            self._max_added = added

    def _expire_timers(self, now: float) -> None:
        for ev in self._timers.pop_due(now):
            self._expire(ev)

    def _expire(self, ev: Event) -> None:
        """A timer ran out: drop it (and, unless persistent, the whole event) and activate."""
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

    def _process_active(self) -> int:
        """Run the most urgent non-empty queue; returns the callbacks run (-1 on break)."""
        ran = 0
        for priority, queue in enumerate(self._queues):
            if not queue:
                continue
            self._running_priority = priority
            if priority < self._limit_after:
                ran = self._run_queue(queue, _NO_LIMIT, None)
            else:
                interval = self._max_interval
                end = None if interval is None else monotonic() + interval
                ran = self._run_queue(queue, self._max_callbacks, end)
            if ran:
                break  # only internal events ran: lower queues still get their turn
        self._running_priority = -1
        return ran

    def _run_queue(self, queue: deque[Event], max_callbacks: int, end: float | None) -> int:
        popleft = queue.popleft
        count = 0
        while queue:
            ev = popleft()
            state = ev._state
            self._n_active -= 1
            if state & INTERNAL:
                self._n_active_internal -= 1
            else:
                count += 1
            ev._state = state & ~ACTIVE
            if not (ev._events & PERSIST or state & FINALIZING) and state & (INSERTED | TIMER):
                self._delete(ev)
            self._current = ev
            try:
                if ev._special:
                    self._run_special(ev)
                else:
                    if ev._interval is not None:
                        self._rearm(ev)
                    ev._callback(ev._fd, ev._res, ev._arg)
            except Exception as exc:
                self._callback_failed(ev, exc)
            self._current = None
            if self._break:
                return -1
            if self._continue or count >= max_callbacks:
                break
            if end is not None and monotonic() >= end:
                break
        return count

    def _run_special(self, ev: Event) -> None:
        if ev._state & FINALIZING:
            finalizer, ev._finalizer = ev._finalizer, None
            if finalizer is not None:
                finalizer(ev, ev._arg)
            return
        if ev._interval is not None:
            self._rearm(ev)
        ncalls = ev._ncalls
        while ncalls > 0:  # a signal delivered n times runs its callback n times
            ncalls -= 1
            ev._ncalls = ncalls
            ev._callback(ev._fd, ev._res, ev._arg)
            if self._break or ev._ncalls != ncalls:
                return

    def _rearm(self, ev: Event) -> None:
        """Re-schedule a persistent event's timeout: from the last deadline if it timed out."""
        interval = ev._interval
        common = interval if interval.__class__ is CommonTimeout else None
        duration: float = common.duration if common is not None else interval  # type: ignore[union-attr, assignment]
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

    def _watcher_failed(self, watcher: Watcher, exc: Exception) -> None:
        if self._config.stop_on_error:
            raise exc
        log.error("exception in %r", watcher, exc_info=exc)

    # --- loop control ------------------------------------------------------------------

    def loopexit(self, after: float | None = None) -> None:
        """Stop the loop after ``after`` seconds (None: after the current round of callbacks).

        It is an event, so it also works when called before the loop starts.
        """
        if self._threadsafe and self._is_foreign():
            self._post(lambda: self.loopexit(after), wait=False)
            return
        self.once(-1, TIMEOUT, self._set_got_exit, None, after)

    def _set_got_exit(self, fd: int, what: int, arg: Any) -> None:
        self._got_exit = True

    def loopbreak(self) -> None:
        """Stop the loop right after the current callback (lost if the loop is not running)."""
        self._break = True
        if self._threadsafe and self._is_foreign() and self._notifier is not None:
            self._notifier.notify()

    def loopcontinue(self) -> None:
        """After the current callback, poll again before running more callbacks."""
        self._continue = True

    def got_exit(self) -> bool:
        """Whether the last loop ended through :meth:`loopexit` (reset when the loop starts)."""
        return self._got_exit

    def got_break(self) -> bool:
        """Whether the last loop ended through :meth:`loopbreak` (reset when the loop starts)."""
        return self._break

    @property
    def running(self) -> bool:
        """True while :meth:`loop` runs."""
        return self._running

    @property
    def running_event(self) -> Event | None:
        """The event whose callback is running, if any."""
        return self._current

    # --- time -----------------------------------------------------------------------------

    def _now(self) -> float:
        return self._time_cache or monotonic()

    def monotonic_time(self) -> float:
        """The loop's notion of now on the monotonic clock (cached while callbacks run)."""
        return self._now()

    def gettimeofday_cached(self) -> float:
        """Wall-clock time, as of the start of this loop iteration while callbacks run."""
        import time

        if self._time_cache:
            return self._time_cache - monotonic() + time.time()
        return time.time()

    def update_cache_time(self) -> None:
        """Refresh the cached time (only while the loop runs, as in libevent)."""
        if self._running and self._cache_time:
            self._time_cache = monotonic()

    # --- watchers and virtual events ---------------------------------------------------------

    def watch_prepare(self, callback: WatcherCallback, arg: Any = None) -> Watcher:
        """Run ``callback(watcher, PrepareInfo, arg)`` before each poll."""
        watcher = Watcher(self, "prepare", callback, arg)
        self._watchers["prepare"].append(watcher)
        return watcher

    def watch_check(self, callback: WatcherCallback, arg: Any = None) -> Watcher:
        """Run ``callback(watcher, CheckInfo, arg)`` right after each poll."""
        watcher = Watcher(self, "check", callback, arg)
        self._watchers["check"].append(watcher)
        return watcher

    def add_virtual(self) -> None:
        """Count an outside activity that keeps the loop from exiting when empty."""
        self._n_virtual += 1
        self._max_virtual = max(self._max_virtual, self._n_virtual)

    def del_virtual(self) -> None:
        """Undo one :meth:`add_virtual`."""
        if self._n_virtual > 0:
            self._n_virtual -= 1

    # --- lifetime -----------------------------------------------------------------------------

    def reinit(self) -> None:
        """Rebuild kernel objects after ``fork()`` and re-register every fd (``event_reinit``)."""
        if self._backend.need_reinit:
            self._backend.close()
            self._backend = open_backend(self._config)
            self._translate = self._backend.translate
            for fd, bits in self._fdbits.items():
                self._backend.set(fd, 0, bits)
        if self._notifier is not None:
            self._replace_internal("_notify_event", self._notifier)
        if self._signals is not None:
            self._reinit_signals()

    def _replace_internal(self, attr: str, notifier: Notifier) -> None:
        old = getattr(self, attr)
        if old is not None:
            self._delete(old)
        notifier.close()
        self._start_notifier()

    def _reinit_signals(self) -> None:
        old, signals = self._signals, set(self._sigmap)
        assert old is not None
        if self._signal_event is not None:
            self._delete(self._signal_event)
        old.close()
        receiver = self._signals = SignalReceiver(self)
        self._signal_event = self._internal_reader(receiver.fileno, self._on_signal_pipe)
        for signo in signals:
            receiver.watch(signo)

    def close(self, run_finalizers: bool = True) -> None:
        """Delete every event, run pending finalizers, release the backend (``event_base_free``)."""
        if self._closed:
            return
        if run_finalizers:
            self._run_pending_finalizers()
        for ev in list(self.events(include_internal=True)):
            self._delete(ev)
        self._once.clear()
        self._watchers = {"prepare": [], "check": []}
        if self._signals is not None:
            self._signals.close()
            self._signals = None
        if self._notifier is not None:
            self._notifier.close()
            self._notifier = None
        self._backend.close()
        self._closed = True

    def _run_pending_finalizers(self) -> None:
        for queue in self._queues:
            for ev in [e for e in queue if e._state & FINALIZING]:
                queue.remove(ev)
                self._n_active -= 1
                self._run_special(ev)

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def __enter__(self) -> EventBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<EventBase {self.method} events={self._n_inserted + self._n_timers}>"


def _live(common: CommonTimeout) -> list[Event]:
    return [e[2] for e in common.queue if e[2] is not None]
