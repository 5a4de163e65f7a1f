"""Running and stopping the loop, one-shot events, activating by fd or signal."""

from __future__ import annotations

from typing import Any

from evweb.errors import EvwebError
from evweb.libevent._constants import (
    EV_CLOSED,
    EV_PERSIST,
    EV_READ,
    EV_SIGNAL,
    EV_TIMEOUT,
    EV_WRITE,
)
from evweb.libevent._status import Timeval, failed, log
from evweb.reactor import Callback, CommonTimeout, EventBase

_IO = EV_READ | EV_WRITE | EV_CLOSED


def event_base_dispatch(base: EventBase) -> int:
    """``base.dispatch()``: loop until no events are left; 0, 1 (nothing left) or -1."""
    return event_base_loop(base, 0)


def event_base_loop(base: EventBase, flags: int) -> int:
    """``base.loop(flags)``: 0 when stopped, 1 when no events were left, -1 on error or re-entry."""
    try:
        return base.loop(flags)
    except EvwebError as exc:
        return failed("event_base_loop", exc)


def event_base_loopexit(base: EventBase, tv: float | None = None) -> int:
    """``base.loopexit(after)``: stop after ``tv`` seconds (None: after this round); 0/-1."""
    try:
        base.loopexit(tv)
    except EvwebError as exc:
        return failed("event_base_loopexit", exc)
    return 0


def event_base_loopbreak(base: EventBase) -> int:
    """``base.loopbreak()``: stop right after the running callback; returns 0."""
    base.loopbreak()
    return 0


def event_base_loopcontinue(base: EventBase) -> int:
    """``base.loopcontinue()``: poll again after the running callback; returns 0."""
    base.loopcontinue()
    return 0


def event_base_got_exit(base: EventBase) -> int:
    """``int(base.got_exit())``: 1 if the last loop ended through loopexit."""
    return int(base.got_exit())


def event_base_got_break(base: EventBase) -> int:
    """``int(base.got_break())``: 1 if the last loop ended through loopbreak."""
    return int(base.got_break())


def event_base_once(
    base: EventBase, fd: Any, events: int, callback: Callback, arg: Any, tv: Timeval = None
) -> int:
    """``base.once(fd, what, callback, arg, timeout)``: a one-shot event; 0/-1."""
    if events & (EV_SIGNAL | EV_PERSIST):
        log.debug("event_base_once failed: EV_SIGNAL and EV_PERSIST are refused")
        return -1
    # As in libevent: a pure timeout is a timer on fd -1; otherwise only the
    # I/O bits count; and an event with neither is a bad combination.
    if events & (EV_TIMEOUT | _IO) == EV_TIMEOUT:
        fd, events = -1, EV_TIMEOUT
    elif events & _IO:
        events &= _IO
    else:
        log.debug("event_base_once failed: events %#x name no timeout and no I/O", events)
        return -1
    try:
        base.once(fd, events, callback, arg, tv)
    except EvwebError as exc:
        return failed("event_base_once", exc)
    return 0


def event_base_init_common_timeout(base: EventBase, duration: float) -> CommonTimeout | None:
    """``base.init_common_timeout(duration)``: a shared timeout to pass as ``tv``, or None."""
    try:
        return base.init_common_timeout(duration)
    except EvwebError as exc:
        log.debug("event_base_init_common_timeout failed: %s", exc)
        return None


def event_base_active_by_fd(base: EventBase, fd: int, events: int) -> None:
    """``base.active_by_fd(fd, events)``: activate the added events on ``fd``."""
    base.active_by_fd(fd, events)


def event_base_active_by_signal(base: EventBase, sig: int) -> None:
    """``base.active_by_signal(sig)``: activate the added events for signal ``sig``."""
    base.active_by_signal(sig)
