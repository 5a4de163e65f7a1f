"""The ``evtimer_*``, ``evsignal_*`` and ``evuser_*`` macros of event.h, as functions."""

from __future__ import annotations

from typing import Any

from evweb.libevent._constants import EV_PERSIST, EV_SIGNAL, EV_TIMEOUT
from evweb.libevent._event import (
    event_active,
    event_add,
    event_assign,
    event_del,
    event_initialized,
    event_new,
    event_pending,
)
from evweb.libevent._status import Timeval, TimevalOut
from evweb.reactor import Callback, Event, EventBase

# --- timers: event_*() on fd -1 with no event bits ------------------------------------


def evtimer_new(base: EventBase, callback: Callback, arg: Any) -> Event | None:
    """``base.timer(callback, arg)``: a one-shot timer event, or None."""
    return event_new(base, -1, 0, callback, arg)


def evtimer_assign(ev: Event, base: EventBase, callback: Callback, arg: Any) -> int:
    """``ev.assign(base, -1, 0, callback, arg)``: make ``ev`` a one-shot timer; 0/-1."""
    return event_assign(ev, base, -1, 0, callback, arg)


def evtimer_add(ev: Event, tv: Timeval) -> int:
    """``ev.add(timeout)``: start the timer; 0/-1."""
    return event_add(ev, tv)


def evtimer_del(ev: Event) -> int:
    """``ev.delete()``: stop the timer; 0/-1."""
    return event_del(ev)


def evtimer_pending(ev: Event, tv: TimevalOut | None = None) -> int:
    """``ev.pending(TIMEOUT)``: EV_TIMEOUT if scheduled; ``tv`` gets ``[expiry]``."""
    return event_pending(ev, EV_TIMEOUT, tv)


def evtimer_initialized(ev: Event) -> int:
    """No equivalent: 1 unless ``ev`` is a blank from event_struct."""
    return event_initialized(ev)


# --- signals: persistent EV_SIGNAL events with the signal number as fd ---------------


def evsignal_new(base: EventBase, signum: int, callback: Callback, arg: Any) -> Event | None:
    """``base.signal(signum, callback, arg)``: a persistent signal event, or None."""
    return event_new(base, signum, EV_SIGNAL | EV_PERSIST, callback, arg)


def evsignal_assign(
    ev: Event, base: EventBase, signum: int, callback: Callback, arg: Any
) -> int:
    """``ev.assign(base, signum, SIGNAL | PERSIST, callback, arg)``; 0/-1."""
    return event_assign(ev, base, signum, EV_SIGNAL | EV_PERSIST, callback, arg)


def evsignal_add(ev: Event, tv: Timeval = None) -> int:
    """``ev.add(timeout)``: start catching the signal; 0/-1."""
    return event_add(ev, tv)


def evsignal_del(ev: Event) -> int:
    """``ev.delete()``: stop catching the signal (its old handler returns); 0/-1."""
    return event_del(ev)


def evsignal_pending(ev: Event, tv: TimevalOut | None = None) -> int:
    """``ev.pending(SIGNAL)``: EV_SIGNAL if added; ``tv`` gets ``[expiry]``."""
    return event_pending(ev, EV_SIGNAL, tv)


def evsignal_initialized(ev: Event) -> int:
    """No equivalent: 1 unless ``ev`` is a blank from event_struct."""
    return event_initialized(ev)


# --- user events: fired by hand ---------------------------------------------------------


def evuser_new(base: EventBase, callback: Callback, arg: Any) -> Event | None:
    """``base.event(-1, 0, callback, arg)``: an event fired only by evuser_trigger, or None."""
    return event_new(base, -1, 0, callback, arg)


def evuser_trigger(ev: Event) -> None:
    """``ev.activate(0)``: run the callback on the next loop iteration."""
    event_active(ev, 0, 0)


def evuser_del(ev: Event) -> int:
    """``ev.delete()``: cancel a trigger not yet run; 0/-1."""
    return event_del(ev)


def evuser_pending(ev: Event, tv: TimevalOut | None = None) -> int:
    """``ev.pending(0)``: always 0, as in libevent (the macro asks for no bits)."""
    return event_pending(ev, 0, tv)


def evuser_initialized(ev: Event) -> int:
    """No equivalent: 1 unless ``ev`` is a blank from event_struct."""
    return event_initialized(ev)
