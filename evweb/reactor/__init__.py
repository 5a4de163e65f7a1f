"""The reactor: libevent's event loop with Pythonic names.

>>> from evweb.reactor import EventBase, READ, PERSIST
>>> base = EventBase()
>>> ev = base.event(sock, READ | PERSIST, on_readable)   # on_readable(fd, what, arg)
>>> ev.add(timeout=5.0)
>>> base.dispatch()
"""

from __future__ import annotations

from evweb.reactor._introspect import Statistics
from evweb.reactor.base import MAX_COMMON_TIMEOUTS, MAX_PRIORITIES, EventBase
from evweb.reactor.config import EventConfig, supported_methods
from evweb.reactor.deferred import DeferredCallback
from evweb.reactor.event import SELF, Callback, Event
from evweb.reactor.flags import (
    ALL_BITS,
    CLOSED,
    COUNT_ACTIVE,
    COUNT_ADDED,
    COUNT_VIRTUAL,
    ET,
    FINALIZE,
    IO_BITS,
    NO_EXIT_ON_EMPTY,
    NONBLOCK,
    ONCE,
    PERSIST,
    READ,
    SIGNAL,
    TIMEOUT,
    WRITE,
    BaseFlag,
    Feature,
    describe,
)
from evweb.reactor.timers import CommonTimeout
from evweb.reactor.watch import CheckInfo, PrepareInfo, Watcher

__all__ = [
    "ALL_BITS",
    "BaseFlag",
    "Callback",
    "CheckInfo",
    "CLOSED",
    "CommonTimeout",
    "DeferredCallback",
    "COUNT_ACTIVE",
    "COUNT_ADDED",
    "COUNT_VIRTUAL",
    "describe",
    "ET",
    "Event",
    "EventBase",
    "EventConfig",
    "Feature",
    "FINALIZE",
    "IO_BITS",
    "MAX_COMMON_TIMEOUTS",
    "MAX_PRIORITIES",
    "NO_EXIT_ON_EMPTY",
    "NONBLOCK",
    "ONCE",
    "PERSIST",
    "PrepareInfo",
    "READ",
    "SELF",
    "SIGNAL",
    "Statistics",
    "supported_methods",
    "TIMEOUT",
    "Watcher",
    "WRITE",
]
