"""Looking inside a base: iteration, dumps, counters, the running event, time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from evweb.libevent._status import TimevalOut, log
from evweb.reactor import Event, EventBase

event_base_foreach_event_cb = Callable[[EventBase, Event, Any], int | None]
"""``fn(base, ev, arg)``; a non-zero result stops the iteration."""


def event_base_foreach_event(
    base: EventBase, fn: event_base_foreach_event_cb | None, arg: Any
) -> int:
    """``base.foreach_event(fn)``: call ``fn(base, ev, arg)`` per event; 0, or fn's non-zero."""
    if fn is None:
        log.debug("event_base_foreach_event failed: no callback")
        return -1
    return int(base.foreach_event(lambda ev: fn(base, ev, arg)))


def event_base_dump_events(base: EventBase, output: TextIO) -> None:
    """``base.dump_events(output)``: write the inserted and active events to a text file."""
    base.dump_events(output)


def event_base_get_num_events(base: EventBase, flags: int) -> int:
    """``base.num_events(flags)``: events counted by ``EVENT_BASE_COUNT_*`` bits."""
    return base.num_events(flags)


def event_base_get_max_events(base: EventBase, flags: int, clear: int) -> int:
    """``base.max_events(flags, clear)``: high-water marks, reset to now when ``clear``."""
    return base.max_events(flags, bool(clear))


def event_base_get_running_event(base: EventBase) -> Event | None:
    """``base.running_event``: the event whose callback runs now, or None."""
    return base.running_event


def event_base_gettimeofday_cached(base: EventBase, tv: TimevalOut) -> int:
    """``base.gettimeofday_cached()``: set ``tv`` to ``[wall-clock seconds]``; returns 0."""
    tv[:] = [base.gettimeofday_cached()]
    return 0


def event_base_update_cache_time(base: EventBase) -> int:
    """``base.update_cache_time()``: refresh the cached time while looping; returns 0."""
    base.update_cache_time()
    return 0


def event_gettime_monotonic(base: EventBase, tv: TimevalOut) -> int:
    """``time.monotonic()`` (every base's clock, uncached): set ``tv`` to ``[seconds]``; 0."""
    tv[:] = [time.monotonic()]
    return 0
