"""``event2/watch.h``: prepare and check watchers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evweb.libevent._status import TimevalOut
from evweb.reactor import CheckInfo, EventBase, PrepareInfo, Watcher

evwatch_prepare_cb = Callable[[Watcher, PrepareInfo, Any], object]
"""``callback(watcher, info, arg)``, run before each poll."""

evwatch_check_cb = Callable[[Watcher, CheckInfo, Any], object]
"""``callback(watcher, info, arg)``, run right after each poll."""


def evwatch_prepare_new(base: EventBase, callback: evwatch_prepare_cb, arg: Any) -> Watcher:
    """``base.watch_prepare(callback, arg)``: run ``callback`` before each poll."""
    return base.watch_prepare(callback, arg)


def evwatch_check_new(base: EventBase, callback: evwatch_check_cb, arg: Any) -> Watcher:
    """``base.watch_check(callback, arg)``: run ``callback`` right after each poll."""
    return base.watch_check(callback, arg)


def evwatch_base(watcher: Watcher) -> EventBase:
    """``watcher.base``: the base the watcher belongs to."""
    return watcher.base


def evwatch_free(watcher: Watcher) -> None:
    """``watcher.free()``: stop watching."""
    watcher.free()


def evwatch_prepare_get_timeout(info: PrepareInfo, timeout: TimevalOut) -> int:
    """``info.timeout``: 1 and ``timeout`` set to ``[seconds]``, or 0 when it is None."""
    if info.timeout is None:
        return 0
    timeout[:] = [info.timeout]
    return 1
