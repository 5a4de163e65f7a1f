"""Event: an fd, a signal or a timer, and the callback that runs when it fires.

An Event is a handle; the base owns all of its bookkeeping. Every method
here validates and then delegates to the base, so that the dispatch loop can
read and write an event's slots directly without going through properties.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evweb.errors import EventStateError, InvalidEventError, InvalidFdError, InvalidTimeoutError
from evweb.reactor.flags import (
    ALL_BITS,
    CLOSED,
    ET,
    FINALIZE,
    IO_BITS,
    PERSIST,
    READ,
    SIGNAL,
    TIMEOUT,
    WRITE,
    describe,
)
from evweb.reactor.timers import CommonTimeout

if TYPE_CHECKING:
    from evweb.reactor.base import EventBase

Callback = Callable[[int, int, Any], object]
"""``callback(fd, what, arg)``: ``what`` holds the bits that fired."""

Timeout = float | CommonTimeout | None

# Bookkeeping state (libevent's EVLIST_*), kept in Event._state.
INSERTED = 0x01
TIMER = 0x02
ACTIVE = 0x04
ACTIVE_LATER = 0x08
FINALIZING = 0x10
INTERNAL = 0x20
DEFERRED = 0x40  # with INTERNAL: a DeferredCallback, hidden but running user code

NEVER = 1 << 62
"""``Event._gate`` of an event that never takes the direct dispatch path."""

_PENDING_BITS = IO_BITS | SIGNAL
_INF = math.inf


def needs_slow_path(what: int) -> bool:
    """Whether events declared with ``what`` can never take the direct dispatch path."""
    return bool(what & (SIGNAL | ET) or not what & PERSIST or what & IO_BITS == CLOSED)


class _SelfArg:
    """Marker type of :data:`SELF`."""

    def __repr__(self) -> str:
        return "evweb.reactor.SELF"


SELF: Any = _SelfArg()
"""Pass as ``arg`` to have the callback receive the event itself (``event_self_cbarg``)."""


def to_fd(fd: Any) -> int:
    """Accept an int or any object with ``fileno()``; -1 or None means "no fd"."""
    if fd is None:
        return -1
    if not isinstance(fd, int):
        fileno = getattr(fd, "fileno", None)
        if fileno is None:
            raise InvalidFdError(-1, f"{fd!r} is neither an int nor has fileno()")
        fd = fileno()
        if fd < 0:
            raise InvalidFdError(fd, "the object's fileno() is negative: it is closed")
    if fd < -1:
        raise InvalidFdError(fd, "negative file descriptor")
    return int(fd)


def check_flags(fd: int, what: int) -> None:
    """Refuse the flag combinations libevent refuses."""
    if what & ~ALL_BITS:
        raise InvalidEventError(f"unknown event bits {what & ~ALL_BITS:#x} in {what:#x}")
    if what & SIGNAL and what & IO_BITS:
        raise InvalidEventError(
            f"SIGNAL cannot be combined with READ/WRITE/CLOSED (got {describe(what)})"
        )
    if what & SIGNAL and fd <= 0:
        raise InvalidEventError(f"a SIGNAL event needs a signal number as its fd, got {fd}")


def check_timeout(timeout: object) -> float:
    """Return ``timeout`` as float seconds, or raise :class:`InvalidTimeoutError`."""
    try:
        seconds = float(timeout)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidTimeoutError(timeout) from None
    if not 0.0 <= seconds < _INF:
        raise InvalidTimeoutError(timeout)
    return seconds


class Event:
    """An fd, signal or timer event (libevent's ``struct event``).

    ``what`` combines :data:`READ`, :data:`WRITE`, :data:`CLOSED`,
    :data:`SIGNAL`, :data:`PERSIST`, :data:`ET` and :data:`FINALIZE`; with
    none of READ/WRITE/CLOSED/SIGNAL it is a pure timer (``fd`` -1) or a user
    event fired with :meth:`activate`. ``callback(fd, what, arg)`` runs on the
    loop with the bits that fired.
    """

    __slots__ = (
        "__weakref__",
        "_arg",
        "_base",
        "_callback",
        "_common",
        "_deadline",
        "_epoch",
        "_events",
        "_fd",
        "_finalizer",
        "_gate",
        "_interval",
        "_ncalls",
        "_priority",
        "_res",
        "_slow",
        "_state",
        "_timer",
    )

    def __init__(
        self, base: EventBase, fd: Any, what: int, callback: Callback, arg: Any = None
    ) -> None:
        self._base = base
        self._state = 0
        self._epoch = 0
        self._timer: list[Any] | None = None
        self._common: CommonTimeout | None = None
        self._finalizer: Callable[[Event, Any], object] | None = None
        self._setup(fd, what, callback, arg)

    def _setup(self, fd: Any, what: int, callback: Callback, arg: Any) -> None:
        fileno = to_fd(fd)
        check_flags(fileno, what)
        if not callable(callback):
            raise InvalidEventError(f"callback {callback!r} is not callable")
        self._fd = fileno
        self._events = what
        self._callback = callback
        self._arg = self if arg is SELF else arg
        self._priority = self._base._default_priority()
        self._res = 0
        self._ncalls = 0
        self._deadline = 0.0
        self._interval: float | CommonTimeout | None = None
        self._slow = needs_slow_path(what)
        self._gate = NEVER

    def assign(
        self, base: EventBase, fd: Any, what: int, callback: Callback, arg: Any = None
    ) -> None:
        """Re-initialise a non-pending event (``event_assign``)."""
        if self._state & (INSERTED | TIMER | ACTIVE | ACTIVE_LATER):
            raise EventStateError(f"cannot assign {self!r}: it is pending or active")
        self._base = base
        self._state = 0
        self._setup(fd, what, callback, arg)

    # --- scheduling -------------------------------------------------------

    def add(self, timeout: Timeout = None) -> None:
        """Make the event pending; a ``timeout`` (seconds or a CommonTimeout) replaces the old one.

        With ``timeout=None`` an already scheduled timeout is kept, as in libevent.
        """
        base = self._base
        if base._threadsafe and base._is_foreign():
            base._post(lambda: base._add(self, timeout), wait=False)
        else:
            base._add(self, timeout)

    def delete(self, wait: bool | None = None) -> None:
        """Make the event non-pending and non-active.

        From another thread (thread-safe bases) this waits until the loop has
        finished any callback of this event (``event_del_block``), unless the
        event has FINALIZE or ``wait=False`` (``event_del_noblock``).
        """
        base = self._base
        if base._threadsafe and base._is_foreign():
            if wait is None:
                wait = not self._events & FINALIZE
            base._post(lambda: base._delete(self), wait=wait)
        else:
            base._delete(self)

    def remove_timer(self) -> None:
        """Drop the event's timeout but keep its fd or signal registration."""
        base = self._base
        if base._threadsafe and base._is_foreign():
            base._post(lambda: base._remove_timer(self), wait=False)
        else:
            base._remove_timer(self)

    def activate(self, what: int = 0) -> None:
        """Make the event active with ``what`` (repeated activations OR their bits)."""
        base = self._base
        if base._threadsafe and base._is_foreign():
            base._post(lambda: base._activate_public(self, what, 1), wait=False)
        else:
            base._activate_public(self, what, 1)

    def pending(self, what: int = TIMEOUT | READ | WRITE | CLOSED | SIGNAL) -> int:
        """The subset of ``what`` that is pending or active (``event_pending``)."""
        state = self._state
        flags = 0
        if state & INSERTED:
            flags |= self._events & _PENDING_BITS
        if state & (ACTIVE | ACTIVE_LATER):
            flags |= self._res
        if state & TIMER:
            flags |= TIMEOUT
        return flags & what & (TIMEOUT | _PENDING_BITS)

    def is_pending(self) -> bool:
        """True when added, scheduled or active."""
        return bool(self._state & (INSERTED | TIMER | ACTIVE | ACTIVE_LATER))

    @property
    def deadline(self) -> float | None:
        """The timeout's expiry on the ``time.monotonic`` clock, or None."""
        return self._deadline if self._state & TIMER else None

    @property
    def expiry(self) -> float | None:
        """The timeout's expiry as wall-clock ``time.time()``, or None."""
        if not self._state & TIMER:
            return None
        return self._deadline - time.monotonic() + time.time()

    # --- lifetime ---------------------------------------------------------

    def finalize(self, finalizer: Callable[[Event, Any], object]) -> None:
        """Delete without waiting and run ``finalizer(event, arg)`` from the loop.

        Afterwards :meth:`add` and :meth:`activate` refuse the event and
        :meth:`delete` does nothing.
        """
        base = self._base
        if base._threadsafe and base._is_foreign():
            base._post(lambda: base._finalize(self, finalizer), wait=False)
        else:
            base._finalize(self, finalizer)

    free_finalize = finalize
    """``event_free_finalize``: in Python freeing is the garbage collector's job."""

    def free(self) -> None:
        """Delete the event (``event_free``); the object may then be dropped."""
        self.delete()

    # --- accessors --------------------------------------------------------

    @property
    def base(self) -> EventBase:
        """The base the event belongs to."""
        return self._base

    @property
    def fd(self) -> int:
        """The fd (or signal number; -1 for timers)."""
        return self._fd

    @property
    def signal(self) -> int:
        """The signal number of a SIGNAL event."""
        return self._fd

    @property
    def events(self) -> int:
        """The bits the event was declared with."""
        return self._events

    @property
    def callback(self) -> Callback:
        """The callback."""
        return self._callback

    @property
    def arg(self) -> Any:
        """The callback's third argument."""
        return self._arg

    @property
    def priority(self) -> int:
        """The priority queue the event runs in (0 is the most urgent)."""
        return self._priority

    @priority.setter
    def priority(self, priority: int) -> None:
        self._base._set_priority(self, priority)

    @property
    def internal(self) -> bool:
        """True for the base's own events (signal pipe, wake-up, common timeouts)."""
        return bool(self._state & INTERNAL)

    def __repr__(self) -> str:
        kind = "sig" if self._events & SIGNAL else "fd"
        return (
            f"<Event {kind} {self._fd} {describe(self._events)} pending={describe(self.pending())}>"
        )
