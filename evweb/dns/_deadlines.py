"""The requests' timeouts: one queue and one reactor timer for all of them.

Why not a timer per request: every transmission waits the same ``timeout``,
so deadlines arrive in the order requests were sent. A deque of
``(deadline, serial, request)`` stays sorted by just appending, and one
timer armed for its head serves them all. A request that is answered (or
sent again) changes its ``_serial``, which makes its old entry stale: stale
entries are dropped when they reach the head, never searched for. When the
``timeout`` option is lowered while requests wait, a new entry is inserted
in order instead (rare, and still correct).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evweb.reactor import EventBase

if TYPE_CHECKING:
    from evweb.dns._request import DNSRequest


class Deadlines:
    """When each transmission times out; ``expire(request)`` is called for those that do."""

    __slots__ = ("_armed", "_expire", "_queue", "_timer")

    def __init__(self, base: EventBase, expire: Callable[[DNSRequest], object]) -> None:
        self._queue: deque[tuple[float, int, DNSRequest]] = deque()
        self._timer = base.timer(self._on_timer)
        self._armed: float | None = None
        self._expire = expire

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, timeout: float, serial: int, req: DNSRequest) -> None:
        """``req``'s transmission number ``serial`` times out in ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        queue = self._queue
        if queue and deadline < queue[-1][0]:  # the timeout option was lowered
            index = len(queue)
            while index and queue[index - 1][0] > deadline:
                index -= 1
            queue.insert(index, (deadline, serial, req))
        else:
            queue.append((deadline, serial, req))
        if self._armed is None or deadline < self._armed:
            self._arm(deadline)

    def drop_stale(self) -> None:
        """Drop the entries at the head whose request has moved on; stop the timer when empty."""
        queue = self._queue
        while queue and queue[0][2]._serial != queue[0][1]:
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
        try:
            while queue and queue[0][0] <= now:
                _, serial, req = queue.popleft()
                if req._serial == serial:
                    self._expire(req)  # may push, clear, or call a user callback that raises
        finally:
            self.drop_stale()
            if queue and self._armed is None:
                self._arm(queue[0][0])
