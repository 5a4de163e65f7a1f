"""Deferred callbacks: libevent's ``event_deferred_cb``, for the layers above the reactor.

A buffer's or a BufferEvent's callbacks must not run in the middle of the
code that changed the buffer; they run from the loop instead, after the
current callback. A :class:`DeferredCallback` is scheduled with one call,
coalesces repeated schedules until it runs, and stays out of the base's
event listings and counts (it is bookkeeping, not an event the user added).
As in libevent, at most 32 deferred callbacks join the active queue per
loop iteration; more wait for the next iteration, so a storm of them cannot
starve fd events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evweb.reactor.event import ACTIVE, ACTIVE_LATER, DEFERRED, INTERNAL, Event

if TYPE_CHECKING:
    from evweb.reactor.base import EventBase

MAX_DEFERREDS_PER_ITERATION = 32
"""libevent's MAX_DEFERREDS_QUEUED."""


class DeferredCallback:
    """``callback(arg)`` run once from the loop after each :meth:`schedule` (coalesced)."""

    __slots__ = ("_event", "arg", "callback")

    def __init__(self, base: EventBase, callback: Callable[[Any], object], arg: Any = None) -> None:
        self.callback = callback
        self.arg = arg
        self._event = Event(base, -1, 0, self._fire)
        self._event._state = INTERNAL | DEFERRED
        self._event._slow = True

    @property
    def base(self) -> EventBase:
        """The base the callback runs on."""
        return self._event._base

    @property
    def scheduled(self) -> bool:
        """True between :meth:`schedule` and the run."""
        return bool(self._event._state & (ACTIVE | ACTIVE_LATER))

    def schedule(self) -> None:
        """Run the callback from the loop soon; a no-op when already scheduled."""
        ev = self._event
        if ev._state & (ACTIVE | ACTIVE_LATER):
            return
        base = ev._base
        if base._deferreds_this_round < MAX_DEFERREDS_PER_ITERATION:
            base._deferreds_this_round += 1
            base._activate(ev, 0, 1)
        else:
            base.activate_later(ev, 0)

    def cancel(self) -> None:
        """Do not run the pending call, if any."""
        self._event._base._delete(self._event)

    def _fire(self, fd: int, what: int, arg: Any) -> None:
        self.callback(self.arg)
