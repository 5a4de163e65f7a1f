"""Buffer change callbacks: what they receive and the handle that names them."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from evweb.io.buffer import Buffer


class CallbackInfo(NamedTuple):
    """What changed since the callback last ran (libevent's evbuffer_cb_info).

    ``orig_size`` is the length before the first of the changes, and
    ``n_added`` / ``n_deleted`` are the totals of all of them. A NamedTuple:
    one is built for every change, and a frozen dataclass costs several
    times more to build.
    """

    orig_size: int
    n_added: int
    n_deleted: int


BufferCallback = Callable[["Buffer", CallbackInfo], object]


class CallbackHandle:
    """A registered callback; ``enabled`` can be switched off and on again.

    ``key`` is free for the caller (the libevent layer keeps ``(cb, arg)`` there).
    """

    __slots__ = ("callback", "enabled", "key")

    def __init__(self, callback: BufferCallback, key: Any = None) -> None:
        self.callback = callback
        self.enabled = True
        self.key = key

    def enable(self) -> None:
        """Run the callback on changes again (EVBUFFER_CB_ENABLED set)."""
        self.enabled = True

    def disable(self) -> None:
        """Skip the callback until :meth:`enable` (EVBUFFER_CB_ENABLED cleared)."""
        self.enabled = False

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<CallbackHandle {self.callback!r} {state}>"


class EOL(enum.IntEnum):
    """End-of-line styles for :meth:`Buffer.readln` (libevent's values)."""

    ANY = 0
    """Any run of CR and LF characters is one end of line."""
    CRLF = 1
    """LF, optionally preceded by CR; a CR elsewhere is data."""
    CRLF_STRICT = 2
    """Exactly CR LF; a bare LF is data."""
    LF = 3
    """A single LF."""
    NUL = 4
    """A single NUL byte."""
