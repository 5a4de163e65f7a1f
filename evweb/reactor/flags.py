"""Event, loop, feature and base-configuration constants.

Event bits are plain ``int`` constants rather than an ``IntFlag``: they are
OR-ed and tested on every dispatched event, and an enum's ``__or__`` runs
Python code each time. Their values are libevent's, so bitmasks read the same
in both worlds. Features and base flags are used only at configuration time
and are ``IntFlag`` for readable reprs.
"""

from __future__ import annotations

import enum

# --- event bits (what an Event waits for, and what its callback receives) ---
TIMEOUT = 0x01
"""The event's timeout expired (in a callback's ``what``)."""
READ = 0x02
"""The fd is readable."""
WRITE = 0x04
"""The fd is writable."""
SIGNAL = 0x08
"""A signal was delivered; the event's ``fd`` is the signal number."""
PERSIST = 0x10
"""The event stays added after it fires."""
ET = 0x20
"""Edge-triggered; needs a backend with :attr:`Feature.ET`."""
FINALIZE = 0x40
"""The event may be deleted without waiting for a running callback."""
CLOSED = 0x80
"""The peer closed its side; detected early only with :attr:`Feature.EARLY_CLOSE`."""

IO_BITS = READ | WRITE | CLOSED
"""The bits that register an fd with the backend."""
ALL_BITS = TIMEOUT | READ | WRITE | SIGNAL | PERSIST | ET | FINALIZE | CLOSED

# --- loop flags (EventBase.loop) ---
ONCE = 0x01
"""Block until something is active, run it, return."""
NONBLOCK = 0x02
"""Poll without blocking, run what is ready, return."""
NO_EXIT_ON_EMPTY = 0x04
"""Keep looping even when no events are pending."""

# --- counters (EventBase.num_events / max_events) ---
COUNT_ACTIVE = 0x01
COUNT_VIRTUAL = 0x02
COUNT_ADDED = 0x04


class Feature(enum.IntFlag):
    """What a backend can do; a config may require a combination."""

    NONE = 0
    ET = 0x01
    """Edge-triggered events."""
    O1 = 0x02
    """O(1) add/delete and dispatch per active event."""
    FDS = 0x04
    """Any fd, not only sockets (pipes, ttys, files)."""
    EARLY_CLOSE = 0x08
    """Peer close (:data:`CLOSED`) reported without reading all data."""


class BaseFlag(enum.IntFlag):
    """Configuration flags of an EventBase (libevent's ``EVENT_BASE_FLAG_*``)."""

    NONE = 0
    NOLOCK = 0x01
    """Never make the base thread-safe, even when asked to."""
    IGNORE_ENV = 0x02
    """Ignore the ``EVENT_NO*`` and ``EVENT_SHOW_METHOD`` environment variables."""
    STARTUP_IOCP = 0x04
    """Windows only in libevent; accepted and ignored."""
    NO_CACHE_TIME = 0x08
    """Read the clock for every timeout instead of once per loop iteration."""
    EPOLL_USE_CHANGELIST = 0x10
    """Accepted for compatibility; changes are applied at once."""
    PRECISE_TIMER = 0x20
    """Accepted for compatibility; ``time.monotonic`` is always precise."""
    EPOLL_DISALLOW_TIMERFD = 0x40
    """Accepted for compatibility."""
    USE_SIGNALFD = 0x80
    """Accepted for compatibility; signals use a wake-up socket."""


def describe(what: int) -> str:
    """Name the bits in ``what``, e.g. ``describe(READ | PERSIST) == 'READ|PERSIST'``."""
    return name_bits(what, _BIT_NAMES)


def name_bits(what: int, names: tuple[tuple[int, str], ...]) -> str:
    """Join the names of the bits set in ``what`` with ``|`` ("0" when none is)."""
    found = [name for bit, name in names if what & bit]
    return "|".join(found) if found else "0"


_BIT_NAMES = (
    (TIMEOUT, "TIMEOUT"),
    (READ, "READ"),
    (WRITE, "WRITE"),
    (SIGNAL, "SIGNAL"),
    (PERSIST, "PERSIST"),
    (ET, "ET"),
    (FINALIZE, "FINALIZE"),
    (CLOSED, "CLOSED"),
)
