"""getaddrinfo's skew deadlines: one reactor timer for every request of a resolver.

When one family of an AF_UNSPEC getaddrinfo has answered, the other gets
``getaddrinfo-allow-skew`` more seconds. libevent arms a timer per request;
here the deadlines of a resolver's requests wait in one deque (they share
the same delay, so it stays sorted) under one timer armed for its head: the
resolver's own :class:`~evweb.dns._deadlines.Deadlines`, with the deadline
as each entry's token. A request that finishes just marks its entry stale
(``skew_at`` None); stale entries leave from the front, and the timer goes
when none is left, so an idle resolver holds no event and ``dispatch()``
can return.
"""

from __future__ import annotations

import time
import weakref
from operator import attrgetter
from typing import Any, Protocol

from evweb.dns._deadlines import Deadlines
from evweb.reactor import EventBase


class SkewWaiter(Protocol):
    """A request with a skew deadline: ``skew_at`` (None when not waiting) and ``on_skew()``."""

    skew_at: float | None

    def on_skew(self) -> None:
        """The deadline passed."""


def _expire(waiter: SkewWaiter) -> None:
    waiter.skew_at = None
    waiter.on_skew()


class SkewTimers:
    """The skew deadlines of the requests on one resolver."""

    __slots__ = ("__weakref__", "_deadlines")

    def __init__(self, base: EventBase) -> None:
        self._deadlines: Deadlines[SkewWaiter] = Deadlines(base, _expire, attrgetter("skew_at"))

    def __len__(self) -> int:
        return len(self._deadlines)

    def add(self, waiter: SkewWaiter, delay: float) -> None:
        """Call ``waiter.on_skew()`` in ``delay`` seconds unless :meth:`discard` comes first."""
        deadline = time.monotonic() + delay
        waiter.skew_at = deadline
        self._deadlines.push(deadline, deadline, waiter)

    def discard(self, waiter: SkewWaiter) -> None:
        """Forget ``waiter``'s deadline (it finished first)."""
        waiter.skew_at = None
        self._deadlines.drop_stale()


_timers: weakref.WeakKeyDictionary[Any, SkewTimers] = weakref.WeakKeyDictionary()


def skew_timers(resolver: Any) -> SkewTimers:
    """The :class:`SkewTimers` of ``resolver`` (made on first use).

    Kept in a weak dictionary keyed by the resolver: the timers hold the
    base, never the resolver, so a resolver nobody uses any more goes, and
    its entry with it.
    """
    timers = _timers.get(resolver)
    if timers is None:
        timers = _timers[resolver] = SkewTimers(resolver.base)
    return timers
