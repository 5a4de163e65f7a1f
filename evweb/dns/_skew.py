"""getaddrinfo's skew deadlines: one reactor timer for every request of a resolver.

When one family of an AF_UNSPEC getaddrinfo has answered, the other gets
``getaddrinfo-allow-skew`` more seconds. libevent arms a timer per request;
here the deadlines of a resolver's requests wait in one deque (they share
the same delay, so it stays sorted) under one timer armed for its head, as
the resolver does for its own timeouts. A request that finishes just marks
its entry stale; stale entries leave from the front, and the timer goes
when none is left, so an idle resolver holds no event and ``dispatch()``
can return.
"""

from __future__ import annotations

import bisect
import time
import weakref
from collections import deque
from typing import Any, Protocol

from evweb.reactor import EventBase


class SkewWaiter(Protocol):
    """A request with a skew deadline: ``skew_at`` (None when not waiting) and ``on_skew()``."""

    skew_at: float | None

    def on_skew(self) -> None:
        """The deadline passed."""


class SkewTimers:
    """The skew deadlines of the requests on one resolver."""

    __slots__ = ("__weakref__", "_armed", "_queue", "_timer")

    def __init__(self, base: EventBase) -> None:
        self._queue: deque[tuple[float, SkewWaiter]] = deque()
        self._timer = base.timer(self._fire)
        self._armed: float | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, waiter: SkewWaiter, delay: float) -> None:
        """Call ``waiter.on_skew()`` in ``delay`` seconds unless :meth:`discard` comes first."""
        deadline = time.monotonic() + delay
        waiter.skew_at = deadline
        queue = self._queue
        if queue and deadline < queue[-1][0]:  # the skew option was lowered meanwhile
            index = bisect.bisect_right([entry[0] for entry in queue], deadline)
            queue.insert(index, (deadline, waiter))
        else:
            queue.append((deadline, waiter))
        if self._armed is None or deadline < self._armed:
            self._arm(deadline)

    def discard(self, waiter: SkewWaiter) -> None:
        """Forget ``waiter``'s deadline (it finished first)."""
        waiter.skew_at = None
        self._drop_stale()

    def _drop_stale(self) -> None:
        queue = self._queue
        while queue and queue[0][1].skew_at != queue[0][0]:
            queue.popleft()
        if not queue and self._armed is not None:
            self._armed = None
            self._timer.delete()

    def _arm(self, deadline: float) -> None:
        self._armed = deadline
        self._timer.add(max(0.0, deadline - time.monotonic()))

    def _fire(self, fd: int, what: int, arg: Any) -> None:
        self._armed = None
        now = time.monotonic()
        queue = self._queue
        while queue and queue[0][0] <= now:
            deadline, waiter = queue.popleft()
            if waiter.skew_at == deadline:
                waiter.skew_at = None
                waiter.on_skew()
        self._drop_stale()
        if queue and self._armed is None:
            self._arm(queue[0][0])


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
