"""``struct event``: creating, adding, deleting, activating and inspecting events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evweb.errors import EvwebError
from evweb.libevent._constants import EV_TIMEOUT
from evweb.libevent._status import Timeval, TimevalOut, failed, log
from evweb.reactor import SELF, Callback, Event, EventBase

event_callback_fn = Callback
"""``callback(fd, what, arg)``: ``what`` holds the ``EV_*`` bits that fired."""

event_finalize_callback_fn = Callable[[Event, Any], object]
"""``finalizer(ev, arg)``, run from the loop by event_finalize."""


def _is_blank(ev: Event) -> bool:
    try:
        ev.base  # noqa: B018 -- unset on an event made by event_struct()
    except AttributeError:
        return True
    return False


# --- creating ------------------------------------------------------------------------


def event_struct() -> Event:
    """No equivalent: C's ``struct event ev;``, a blank event for event_assign."""
    return Event.__new__(Event)


def event_new(
    base: EventBase, fd: Any, events: int, callback: Callback, callback_arg: Any
) -> Event | None:
    """``base.event(fd, what, callback, arg)``: a new event, or None on bad arguments."""
    try:
        return base.event(fd, events, callback, callback_arg)
    except EvwebError as exc:
        log.debug("event_new failed: %s", exc)
        return None


def event_assign(
    ev: Event, base: EventBase, fd: Any, events: int, callback: Callback, callback_arg: Any
) -> int:
    """``ev.assign(base, fd, what, callback, arg)``: (re)initialise a non-pending event; 0/-1."""
    try:
        if _is_blank(ev):
            Event(base, fd, events, callback)  # validate first: a failure leaves ev blank
            Event.__init__(ev, base, fd, events, callback, callback_arg)
        else:
            ev.assign(base, fd, events, callback, callback_arg)
    except EvwebError as exc:
        return failed("event_assign", exc)
    return 0


def event_base_set(base: EventBase, ev: Event) -> int:
    """``ev.assign(base, ...)`` keeping the rest: move a non-pending event to ``base``; 0/-1."""
    if _is_blank(ev):
        log.debug("event_base_set failed: the event was never assigned")
        return -1
    return event_assign(ev, base, ev.fd, ev.events, ev.callback, ev.arg)


def event_self_cbarg() -> Any:
    """``evweb.reactor.SELF``: pass as the arg to have the callback receive the event itself."""
    return SELF


def event_free(ev: Event) -> None:
    """``ev.free()``: delete the event; Python frees the object when it is dropped."""
    ev.free()


# --- scheduling ------------------------------------------------------------------------


def event_add(ev: Event, tv: Timeval = None) -> int:
    """``ev.add(timeout)``: make ``ev`` pending, timing out after ``tv`` seconds; 0/-1."""
    try:
        ev.add(tv)
    except EvwebError as exc:
        return failed("event_add", exc)
    return 0


def event_del(ev: Event) -> int:
    """``ev.delete()``: make ``ev`` neither pending nor active; 0/-1."""
    return _delete(ev, None, "event_del")


def _delete(ev: Event, wait: bool | None, name: str) -> int:
    try:
        ev.delete(wait)
    except EvwebError as exc:
        return failed(name, exc)
    return 0


def event_del_noblock(ev: Event) -> int:
    """``ev.delete(wait=False)``: never wait for a callback running in another thread."""
    return _delete(ev, False, "event_del_noblock")


def event_del_block(ev: Event) -> int:
    """``ev.delete(wait=True)``: wait for a callback running in another thread, even FINALIZE."""
    return _delete(ev, True, "event_del_block")


def event_remove_timer(ev: Event) -> int:
    """``ev.remove_timer()``: drop the timeout, keep the fd or signal; 0/-1."""
    try:
        ev.remove_timer()
    except EvwebError as exc:
        return failed("event_remove_timer", exc)
    return 0


def event_active(ev: Event, res: int, ncalls: int) -> None:
    """``ev.activate(res)``: run the callback with ``res`` soon; ``ncalls`` is ignored, as in C."""
    try:
        ev.activate(res)
    except EvwebError as exc:  # libevent silently ignores a finalizing event
        log.debug("event_active ignored: %s", exc)


def event_pending(ev: Event, what: int, tv: TimevalOut | None = None) -> int:
    """``ev.pending(what)``: the pending subset of ``what``; ``tv`` gets ``[wall-clock expiry]``."""
    if _is_blank(ev):
        log.debug("event_pending: the event has no event_base set")
        return 0
    flags = ev.pending(what)
    if tv is not None and flags & EV_TIMEOUT:
        expiry = ev.expiry
        if expiry is not None:
            tv[:] = [expiry]
    return flags


def event_initialized(ev: Event) -> int:
    """No equivalent (every Event is initialised): 0 only for a blank from event_struct."""
    return 0 if _is_blank(ev) else 1


# --- accessors --------------------------------------------------------------------------


def event_get_fd(ev: Event) -> int:
    """``ev.fd``: the fd, the signal number, or -1."""
    return ev.fd


def event_get_signal(ev: Event) -> int:
    """``ev.signal``: the signal number of an EV_SIGNAL event."""
    return ev.signal


def event_get_base(ev: Event) -> EventBase:
    """``ev.base``: the base the event belongs to."""
    return ev.base


def event_get_events(ev: Event) -> int:
    """``ev.events``: the ``EV_*`` bits the event was created with."""
    return ev.events


def event_get_callback(ev: Event) -> Callback:
    """``ev.callback``: the callback."""
    return ev.callback


def event_get_callback_arg(ev: Event) -> Any:
    """``ev.arg``: the callback's third argument."""
    return ev.arg


def event_get_priority(ev: Event) -> int:
    """``ev.priority``: the event's priority queue (0 is the most urgent)."""
    return ev.priority


def event_get_assignment(ev: Event) -> tuple[EventBase, int, int, Callback, Any]:
    """``(ev.base, ev.fd, ev.events, ev.callback, ev.arg)``: C's five out-parameters, returned."""
    return ev.base, ev.fd, ev.events, ev.callback, ev.arg


def event_priority_set(ev: Event, priority: int) -> int:
    """``ev.priority = priority``: refused while active or out of range; 0/-1."""
    try:
        ev.priority = priority
    except EvwebError as exc:
        return failed("event_priority_set", exc)
    return 0


# --- finalizing ---------------------------------------------------------------------------


def event_finalize(flags: int, ev: Event, cb: event_finalize_callback_fn) -> int:
    """``ev.finalize(cb)``: delete without waiting, then run ``cb(ev, arg)`` on the loop; 0/-1."""
    try:
        ev.finalize(cb)
    except EvwebError as exc:
        return failed("event_finalize", exc)
    return 0


def event_free_finalize(flags: int, ev: Event, cb: event_finalize_callback_fn) -> int:
    """``ev.free_finalize(cb)``: event_finalize, after which the event may be dropped; 0/-1."""
    try:
        ev.free_finalize(cb)
    except EvwebError as exc:
        return failed("event_free_finalize", exc)
    return 0
