"""Timer storage: a binary min-heap and libevent's common-timeout queues.

The heap is Python's C ``heapq`` over ``[deadline, seq, event]`` lists.
Deleting an event's timer only blanks its entry (``entry[2] = None``); blank
entries are skipped when they reach the top and purged in one pass when they
outnumber the live ones. This keeps add and delete at C speed (a
sift-with-index heap in Python costs several times more per operation) while
memory stays bounded by twice the live timers.

A common timeout is a FIFO of timers that all share one duration: adding is
an append, and only the queue's head sits in the heap (through one internal
event per queue), so thousands of equal timeouts cost one heap entry.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from itertools import count
from typing import Any

_COMPACT_MIN = 64

TimerEntry = list[Any]
"""``[deadline, seq, event_or_None]``; compared by deadline, then insertion order."""


class TimerHeap:
    """A min-heap of timer entries with lazy deletion."""

    __slots__ = ("_blank", "_seq", "entries")

    def __init__(self) -> None:
        self.entries: list[TimerEntry] = []
        self._seq = count()
        self._blank = 0

    def push(self, deadline: float, item: Any) -> TimerEntry:
        """Schedule ``item`` at ``deadline``; the returned entry is the handle to cancel."""
        entry = [deadline, next(self._seq), item]
        heapq.heappush(self.entries, entry)
        return entry

    def cancel(self, entry: TimerEntry) -> None:
        """Blank ``entry``; purge blanks when they are the majority."""
        entry[2] = None
        self._blank += 1
        if self._blank > _COMPACT_MIN and self._blank * 2 > len(self.entries):
            self.entries = [e for e in self.entries if e[2] is not None]
            heapq.heapify(self.entries)
            self._blank = 0

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None when no timer is live."""
        entries = self.entries
        while entries and entries[0][2] is None:
            heapq.heappop(entries)
            self._blank -= 1
        return entries[0][0] if entries else None

    def pop_due(self, now: float) -> Iterator[Any]:
        """Remove and yield each live item whose deadline is <= ``now``, earliest first."""
        entries = self.entries
        while entries and entries[0][0] <= now:
            item = heapq.heappop(entries)[2]
            if item is None:
                self._blank -= 1
            else:
                yield item

    def __len__(self) -> int:
        return len(self.entries) - self._blank

    def __iter__(self) -> Iterator[Any]:
        return (e[2] for e in self.entries if e[2] is not None)

    def check_invariant(self) -> None:
        """Raise AssertionError unless every parent is <= its children (for tests)."""
        entries = self.entries
        for i in range(1, len(entries)):
            if entries[(i - 1) // 2] > entries[i]:
                raise AssertionError(f"heap order broken at index {i}")


class CommonTimeout:
    """A duration shared by many timers (``event_base_init_common_timeout``).

    Obtain one from :meth:`EventBase.init_common_timeout` and pass it wherever
    a timeout is accepted. The same duration on the same base gives the same
    object back.
    """

    __slots__ = ("_seq", "driver", "duration", "index", "queue")

    def __init__(self, duration: float, index: int) -> None:
        self.duration = duration
        self.index = index
        self.queue: deque[TimerEntry] = deque()
        self.driver: Any = None  # the internal Event that fires for the head
        self._seq = count()

    def append(self, deadline: float, item: Any) -> TimerEntry:
        """Queue ``item``; entries stay sorted (an out-of-order one walks back from the tail)."""
        entry = [deadline, next(self._seq), item]
        queue = self.queue
        if not queue or queue[-1][0] <= deadline:
            queue.append(entry)
            return entry
        position = len(queue)
        while position and queue[position - 1][0] > deadline:
            position -= 1
        queue.insert(position, entry)
        return entry

    def head_deadline(self) -> float | None:
        """Deadline of the first live entry (blank ones are dropped on the way)."""
        queue = self.queue
        while queue and queue[0][2] is None:
            queue.popleft()
        return queue[0][0] if queue else None

    def pop_due(self, now: float) -> Iterator[Any]:
        """Remove and yield each live item due at ``now``."""
        queue = self.queue
        while queue and queue[0][0] <= now:
            item = queue.popleft()[2]
            if item is not None:
                yield item

    def __len__(self) -> int:
        return sum(1 for e in self.queue if e[2] is not None)

    def __bool__(self) -> bool:
        return True  # a handle, not a container: never falsy when empty

    def __repr__(self) -> str:
        return f"<CommonTimeout #{self.index} {self.duration:g}s>"
