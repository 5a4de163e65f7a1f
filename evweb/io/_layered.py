"""LayeredBufferEvent: what a BufferEvent sitting on another one shares.

:class:`~evweb.io.filter.FilterBufferEvent` and
:class:`~evweb.io.tls_filter.TLSFilterBufferEvent` both sit on an
*underlying* BufferEvent and take over its callbacks; this base holds that
relation: the ``underlying`` property, the fd underneath, mirroring a
timeout the underlying reported, and on close either closing the underlying
(``CLOSE_ON_FREE``) or handing its callbacks back, cleared.
"""

from __future__ import annotations

from typing import Any

from evweb.io.bevflags import READING, WRITING, BevOption
from evweb.io.bufferevent import BufferEvent
from evweb.reactor import READ, WRITE


class LayeredBufferEvent(BufferEvent):
    """A BufferEvent on top of another one; not used directly."""

    _underlying: BufferEvent

    def _sit_on(self, underlying: BufferEvent) -> None:
        """Take ``underlying``'s callbacks over."""
        self._underlying = underlying
        underlying.set_callbacks(self._on_under_read, self._on_under_write, self._on_under_event)

    @property
    def underlying(self) -> BufferEvent:
        """The BufferEvent underneath (``bufferevent_get_underlying``)."""
        return self._underlying

    def fileno(self) -> int:
        """The fd underneath (``bufferevent_getfd``), or -1 when there is none (a pair)."""
        getfd = getattr(self._underlying, "fileno", None)
        return int(getfd()) if callable(getfd) else -1

    def _mirror_timeout(self, what: int) -> None:
        """The underlying disabled the direction that timed out (``what``): so does this one."""
        self._enabled &= ~(READ if what & READING else 0) & ~(WRITE if what & WRITING else 0)

    def _let_go(self) -> None:
        """On close: with CLOSE_ON_FREE close the underlying, else clear the callbacks we set."""
        under = self._underlying
        if self.options & BevOption.CLOSE_ON_FREE:
            under.close()
        elif under.get_callbacks()[2] == self._on_under_event:  # still ours: hand it back
            under.set_callbacks()

    # --- the underlying's callbacks, for subclasses ---------------------------------------

    def _on_under_read(self, bev: BufferEvent, arg: Any) -> None:
        raise NotImplementedError

    def _on_under_write(self, bev: BufferEvent, arg: Any) -> None:
        raise NotImplementedError

    def _on_under_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        raise NotImplementedError
