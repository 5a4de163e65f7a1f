"""The requests' timeouts: one queue and one reactor timer for all of them.

Why not a timer per request: every transmission waits the same ``timeout``,
so deadlines arrive in the order requests were sent. A deque of
``(deadline, serial, request)`` stays sorted by just appending, and one
timer armed for its head serves them all. A request that is answered (or
sent again) changes its ``_serial``, which makes its old entry stale: stale
entries are dropped when they reach the head, never searched for. When the
``timeout`` option is lowered while requests wait, a new entry is inserted
in order instead (rare, and still correct).

The queue is generic: an entry is live while ``token(item)`` still equals the
token it was pushed with. The resolver's token is the request's ``_serial``;
getaddrinfo's skew wait (:mod:`evweb.dns._skew`) uses the deadline itself.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Generic, TypeVar

from evweb.reactor import EventBase

T = TypeVar("T")

_SERIAL = attrgetter("_serial")


class Deadlines(Generic[T]):
    """When each item times out; ``expire(item)`` is called for those that do.

    ``token(item)`` tells whether an entry is still live (the request's
    ``_serial`` unless told otherwise).
    """

    __slots__ = ("_armed", "_expire", "_queue", "_timer", "_token")

    def __init__(
        self,
        base: EventBase,
        expire: Callable[[T], object],
        token: Callable[[T], object] = _SERIAL,
    ) -> None:
        self._queue: deque[tuple[float, object, T]] = deque()
        self._timer = base.timer(self._on_timer)
        self._armed: float | None = None
        self._expire = expire
        self._token = token

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, deadline: float, token: object, item: T) -> None:
        """``item`` (pushed with ``token``) times out at ``deadline`` (``time.monotonic``)."""
        queue = self._queue
        if queue and deadline < queue[-1][0]:  # the timeout (or skew) option was lowered
            index = len(queue)
            while index and queue[index - 1][0] > deadline:
                index -= 1
            queue.insert(index, (deadline, token, item))
        else:
            queue.append((deadline, token, item))
        if self._armed is None or deadline < self._armed:
            self._arm(deadline)

    def drop_stale(self) -> None:
        """Drop the entries at the head whose item has moved on; stop the timer when empty."""
        queue = self._queue
        token = self._token
        while queue and token(queue[0][2]) != queue[0][1]:
            queue.popleft()
        if not queue and self._armed is not None:
            self._armed = None
            self._timer.delete()

    def clear(self) -> None:
        """Forget every deadline."""
        self._queue.clear()
        self._armed = None
        self._timer.delete()

    def _arm(self, deadline: float) -> None:
        self._armed = deadline
        self._timer.add(max(0.0, deadline - time.monotonic()))

    def _on_timer(self, fd: int, what: int, arg: Any) -> None:
        self._armed = None
        queue = self._queue
        now = time.monotonic()
        token = self._token
        try:
            while queue and queue[0][0] <= now:
                _, pushed, item = queue.popleft()
                if token(item) == pushed:
                    self._expire(item)  # may push, clear, or call a user callback that raises
        finally:
            self.drop_stale()
            if queue and self._armed is None:
                self._arm(queue[0][0])
