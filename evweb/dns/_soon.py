"""Callbacks "from the loop, as soon as possible": one deferred callback for all of them.

Answers the DNS layer knows at once (a numeric host, a hosts-file entry, a
cache hit) are still handed over from the loop, never inside the call that
asked, so the caller's code after the call runs first. A timer per answer
would cost an event and a heap entry each; this queue costs one
:class:`~evweb.reactor.deferred.DeferredCallback` per owner (a resolver), scheduled once
however many answers wait, and run after the current callback.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from evweb.reactor import EventBase


class SoonQueue:
    """``call(fn, arg)`` runs ``fn(arg)`` from ``base``'s loop, in call order."""

    __slots__ = ("__weakref__", "_deferred", "_items")

    def __init__(self, base: EventBase) -> None:
        self._items: deque[tuple[Callable[[Any], object], Any]] = deque()
        self._deferred = base.deferred(self._run)

    def call(self, fn: Callable[[Any], object], arg: Any = None) -> None:
        """Queue ``fn(arg)``; the loop runs it after the current callback."""
        self._items.append((fn, arg))
        self._deferred.schedule()

    def __len__(self) -> int:
        return len(self._items)

    def _run(self, _: Any) -> None:
        items = self._items
        try:
            # Only what was queued before this run: callbacks that queue more
            # wait for the next round, so a chain of them cannot starve fd events.
            for _i in range(len(items)):
                fn, arg = items.popleft()
                fn(arg)
        finally:
            if items:
                self._deferred.schedule()
