"""Looking inside a base: iteration, libevent's dump format, counters, statistics."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from evweb.reactor._schedule import Scheduler
from evweb.reactor.event import ACTIVE, ACTIVE_LATER, INSERTED, INTERNAL, TIMER, Event
from evweb.reactor.flags import (
    CLOSED,
    COUNT_ACTIVE,
    COUNT_ADDED,
    COUNT_VIRTUAL,
    ET,
    PERSIST,
    READ,
    SIGNAL,
    TIMEOUT,
    WRITE,
)


@dataclass(frozen=True)
class Statistics:
    """A snapshot of a base's counters."""

    method: str
    added: int
    active: int
    virtual: int
    timers: int
    fds: int
    signals: int
    max_added: int
    max_active: int
    max_virtual: int
    npriorities: int


class IntrospectionMixin(Scheduler):
    """Read-only views of an EventBase's events and counters."""

    def events(self, include_internal: bool = False) -> Iterator[Event]:
        """Every added, scheduled or active event, each once."""
        seen: set[int] = set()
        sources: list[Any] = [ev for evs in self._fdmap.values() for ev in evs]
        sources += [ev for evs in self._sigmap.values() for ev in evs]
        sources += self._timed_events()
        for queue in self._queues:
            sources += list(queue)
        sources += list(self._later)
        for ev in sources:
            if id(ev) in seen or (ev._state & INTERNAL and not include_internal):
                continue
            seen.add(id(ev))
            yield ev

    def foreach_event(self, fn: Callable[[Event], Any]) -> Any:
        """Call ``fn(event)`` for each event (internal ones included); stop at a truthy result."""
        for ev in list(self.events(include_internal=True)):
            result = fn(ev)
            if result:
                return result
        return 0

    def dump_events(self, output: TextIO | None = None) -> None:
        """Write the inserted and active events in libevent's ``event_base_dump_events`` format."""
        out = output if output is not None else sys.stdout
        events = list(self.events(include_internal=True))
        out.write("Inserted events:\n")
        for ev in events:
            if ev._state & (INSERTED | TIMER):
                out.write(_inserted_line(ev))
        out.write("Active events:\n")
        for ev in events:
            if ev._state & (ACTIVE | ACTIVE_LATER):
                out.write(_active_line(ev))

    def num_events(self, which: int) -> int:
        """Events counted by ``which`` (COUNT_ACTIVE | COUNT_VIRTUAL | COUNT_ADDED)."""
        total = 0
        if which & COUNT_ACTIVE:
            total += self._active_count()
        if which & COUNT_VIRTUAL:
            total += self._n_virtual
        if which & COUNT_ADDED:
            total += self._added_count()
        return total

    def max_events(self, which: int, clear: bool = False) -> int:
        """High-water marks of the same counters; ``clear`` resets them to the current values."""
        total = 0
        if which & COUNT_ACTIVE:
            total += self._max_active
            if clear:
                self._max_active = self._active_count()
                self._note_maxima()
        if which & COUNT_VIRTUAL:
            total += self._max_virtual
            if clear:
                self._max_virtual = self._n_virtual
        if which & COUNT_ADDED:
            total += self._max_added
            if clear:
                self._max_added = self._added_count()
                self._note_maxima()
        return total

    def statistics(self) -> Statistics:
        """A snapshot of the counters."""
        return Statistics(
            method=self._backend.name,
            added=self._added_count(),
            active=self._active_count(),
            virtual=self._n_virtual,
            timers=self._n_timers,
            fds=len(self._fdmap),
            signals=len(self._sigmap),
            max_added=self._max_added,
            max_active=self._max_active,
            max_virtual=self._max_virtual,
            npriorities=len(self._queues),
        )


def _flag_words(bits: int, words: tuple[tuple[int, str], ...]) -> str:
    return "".join(word for bit, word in words if bits & bit)


_INSERTED_WORDS = (
    (READ, " Read"),
    (WRITE, " Write"),
    (CLOSED, " EOF"),
    (SIGNAL, " Signal"),
    (PERSIST, " Persist"),
    (ET, " ET"),
)
_ACTIVE_WORDS = (
    (READ, " Read"),
    (WRITE, " Write"),
    (CLOSED, " EOF"),
    (SIGNAL, " Signal"),
    (TIMEOUT, " Timeout"),
)


def _gloss(ev: Event) -> str:
    return "sig" if ev._events & SIGNAL else "fd "


def _inserted_line(ev: Event) -> str:
    line = f"  {id(ev):#x} [{_gloss(ev)} {ev._fd}]" + _flag_words(ev._events, _INSERTED_WORDS)
    if ev._state & INTERNAL:
        line += " Internal"
    if ev._state & TIMER:
        expiry = ev.expiry or 0.0
        seconds = int(expiry)
        line += f" Timeout={seconds}.{int((expiry - seconds) * 1e6):06d}"
    return line + "\n"


def _active_line(ev: Event) -> str:
    line = f"  {id(ev):#x} [{_gloss(ev)} {ev._fd}, priority={ev._priority}]"
    line += _flag_words(ev._res, _ACTIVE_WORDS) + " active"
    if ev._state & INTERNAL:
        line += " [Internal]"
    if ev._state & ACTIVE_LATER:
        line += " [NextTime]"
    return line + "\n"
