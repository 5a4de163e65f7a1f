"""Prepare and check watchers (libevent 2.2's ``event2/watch.h``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evweb.reactor.base import EventBase


@dataclass(frozen=True)
class PrepareInfo:
    """What a prepare watcher learns: how long the loop is about to block."""

    timeout: float | None
    """Seconds the poll may block; None means until an event arrives."""


@dataclass(frozen=True)
class CheckInfo:
    """What a check watcher learns (nothing yet, as in libevent)."""


WatcherCallback = Callable[["Watcher", Any, Any], object]


class Watcher:
    """A callback run before each poll (prepare) or right after it (check)."""

    __slots__ = ("_base", "_home", "arg", "callback")

    def __init__(
        self, base: EventBase, home: list[Watcher], callback: WatcherCallback, arg: Any
    ) -> None:
        self._base = base
        self._home = home
        self.callback = callback
        self.arg = arg

    @property
    def base(self) -> EventBase:
        """The base the watcher belongs to."""
        return self._base

    def free(self) -> None:
        """Stop watching."""
        if self in self._home:
            self._home.remove(self)

    def __repr__(self) -> str:
        kind = "prepare" if self._home is self._base._prepare else "check"
        return f"<Watcher {kind} {self.callback!r}>"
