"""BufferEvent: an input and an output Buffer over a transport (libevent's bufferevent).

This module holds what every kind of BufferEvent shares: callbacks and how
they are run (inline or deferred to the loop), enabled directions,
watermarks, timeouts and the limits on a single read or write. Subclasses
move the bytes (:mod:`evweb.io.socket_bev` over a socket).

Callbacks have libevent's shapes: ``read(bev, arg)``, ``write(bev, arg)``,
``event(bev, what, arg)`` with ``what`` made of :data:`READING`,
:data:`WRITING` and :data:`EOF`, :data:`ERROR`, :data:`TIMEOUT`,
:data:`CONNECTED`. With ``DEFER_CALLBACKS`` they run from the loop once the
current callback returns, and event bits reported meanwhile are OR-ed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from evweb.errors import ConfigError
from evweb.io.bevflags import (
    DEFAULT_MAX_SINGLE_READ,
    DEFAULT_MAX_SINGLE_WRITE,
    BevOption,
    Flush,
)
from evweb.io.buffer import Buffer
from evweb.reactor import READ, WRITE, DeferredCallback, EventBase

log = logging.getLogger("evweb.io")

DataCallback = Callable[["BufferEvent", Any], object]
EventCallback = Callable[["BufferEvent", int, Any], object]

_READ_CB = 1
_WRITE_CB = 2


class BufferEvent:
    """Shared machinery of every BufferEvent; not used directly."""

    # Slots keep an idle connection small (a server holds thousands); the
    # __dict__ slot lets subclasses and users add attributes as before.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_arg",
        "_base",
        "_closed",
        "_deferred",
        "_enabled",
        "_event_cb",
        "_max_single_read",
        "_pending_cbs",
        "_pending_what",
        "_read_cb",
        "_suspended_read",
        "_write_cb",
        "error",
        "input",
        "max_single_write",
        "options",
        "output",
        "read_high",
        "read_low",
        "read_timeout",
        "write_high",
        "write_low",
        "write_timeout",
    )

    def __init__(self, base: EventBase, options: BevOption | int = BevOption.NONE) -> None:
        self._base = base
        self.options = BevOption(options)
        self.input = Buffer()
        self.output = Buffer()
        self._read_cb: DataCallback | None = None
        self._write_cb: DataCallback | None = None
        self._event_cb: EventCallback | None = None
        self._arg: Any = None
        self._enabled = WRITE  # a new BufferEvent can write, but reads only once enabled
        self._suspended_read = False
        self.read_low = self.read_high = 0
        self.write_low = self.write_high = 0
        self.read_timeout: float | None = None
        self.write_timeout: float | None = None
        self.input.max_read = DEFAULT_MAX_SINGLE_READ
        self._max_single_read = DEFAULT_MAX_SINGLE_READ
        self.max_single_write = DEFAULT_MAX_SINGLE_WRITE
        self.error: BaseException | None = None
        self._closed = False
        self._deferred: DeferredCallback | None = None
        self._pending_cbs = 0
        self._pending_what = 0
        if self.options & BevOption.DEFER_CALLBACKS:
            self._deferred = base.deferred(self._run_deferred)

    @property
    def max_single_read(self) -> int:
        """Bytes one read may take at most (``bufferevent_set_max_single_read``)."""
        return self._max_single_read

    @max_single_read.setter
    def max_single_read(self, n: int) -> None:
        if n <= 0:
            n = DEFAULT_MAX_SINGLE_READ  # libevent: 0 (or less) means the default
        self._max_single_read = n
        self.input.max_read = n

    # --- callbacks ----------------------------------------------------------------

    def set_callbacks(
        self,
        read: DataCallback | None = None,
        write: DataCallback | None = None,
        event: EventCallback | None = None,
        arg: Any = None,
    ) -> None:
        """Set the read, write and event callbacks and their ``arg`` (``bufferevent_setcb``)."""
        self._read_cb, self._write_cb, self._event_cb, self._arg = read, write, event, arg

    def get_callbacks(
        self,
    ) -> tuple[DataCallback | None, DataCallback | None, EventCallback | None, Any]:
        """The callbacks and ``arg`` (``bufferevent_getcb``)."""
        return self._read_cb, self._write_cb, self._event_cb, self._arg

    def _call_read(self) -> None:
        if self._read_cb is not None and len(self.input) >= self.read_low:
            if self._deferred is None:
                self._read_cb(self, self._arg)
            else:
                self._defer(_READ_CB, 0)

    def _call_write(self) -> None:
        if self._write_cb is not None and len(self.output) <= self.write_low:
            if self._deferred is None:
                self._write_cb(self, self._arg)
            else:
                self._defer(_WRITE_CB, 0)

    def _call_event(self, what: int, error: BaseException | None = None) -> None:
        if error is not None:
            self.error = error
        if self._event_cb is None:
            return
        if self._deferred is None:
            self._event_cb(self, what, self._arg)
        else:
            self._defer(0, what)

    def _defer(self, cbs: int, what: int) -> None:
        self._pending_cbs |= cbs
        self._pending_what |= what
        assert self._deferred is not None
        self._deferred.schedule()

    def _run_deferred(self, arg: Any) -> None:
        cbs, events = self._pending_cbs, self._pending_what
        self._pending_cbs = self._pending_what = 0
        if cbs & _READ_CB and self._read_cb is not None and not self._closed:
            self._read_cb(self, self._arg)
        if cbs & _WRITE_CB and self._write_cb is not None and not self._closed:
            self._write_cb(self, self._arg)
        if events and self._event_cb is not None and not self._closed:
            self._event_cb(self, events, self._arg)

    # --- directions, watermarks, timeouts -------------------------------------------

    @property
    def base(self) -> EventBase:
        """The base the BufferEvent runs on."""
        return self._base

    @property
    def enabled(self) -> int:
        """The enabled directions: READ, WRITE, both or 0."""
        return self._enabled

    def enable(self, what: int) -> None:
        """Start reading and/or writing (READ | WRITE); restarts the matching timeouts."""
        self._enabled |= what & (READ | WRITE)
        self._restart_io()

    def disable(self, what: int) -> None:
        """Stop reading and/or writing; data already buffered stays."""
        self._enabled &= ~what
        self._update_io()

    def set_watermark(self, what: int, low: int, high: int = 0) -> None:
        """Set the low and high watermarks of READ and/or WRITE (high 0 = unlimited).

        Reading: the read callback runs once the input holds at least
        ``low`` bytes, and reading stops while it holds ``high`` or more.
        Writing: the write callback runs once the output is down to ``low``.
        """
        if low < 0 or high < 0 or (high and low > high):
            raise ConfigError(f"invalid watermarks low={low} high={high}")
        if what & READ:
            self.read_low, self.read_high = low, high
            self._check_read_suspension()
        if what & WRITE:
            self.write_low, self.write_high = low, high

    def get_watermark(self, what: int) -> tuple[int, int]:
        """``(low, high)`` for exactly one of READ or WRITE."""
        if what == READ:
            return self.read_low, self.read_high
        if what == WRITE:
            return self.write_low, self.write_high
        raise ConfigError(f"get_watermark takes READ or WRITE, got {what:#x}")

    def set_timeouts(self, read: float | None, write: float | None) -> None:
        """Per-direction timeouts; on expiry the direction is disabled and reported with TIMEOUT."""
        self.read_timeout, self.write_timeout = read, write
        self._restart_io()

    def _check_read_suspension(self) -> None:
        high = self.read_high
        suspend = bool(high) and len(self.input) >= high
        if suspend != self._suspended_read:
            self._suspended_read = suspend
            self._update_io()

    # --- data -------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for sending."""
        self.output.add(data)

    def write_buffer(self, buffer: Buffer) -> None:
        """Move everything in ``buffer`` to the output."""
        self.output.add_buffer(buffer)

    def read(self, n: int = -1) -> bytes:
        """Take up to ``n`` bytes (all when negative) from the input."""
        return self.input.remove(len(self.input) if n < 0 else n)

    def read_buffer(self, buffer: Buffer) -> None:
        """Move the whole input to ``buffer``."""
        buffer.add_buffer(self.input)

    def flush(self, what: int = READ | WRITE, mode: Flush = Flush.NORMAL) -> int:
        """Push data through now; for a plain socket BufferEvent there is nothing to push (0)."""
        return 0

    # --- lifetime --------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """Stop all IO and callbacks (``bufferevent_free``); see CLOSE_ON_FREE."""
        if self._closed:
            return
        self._closed = True
        self._enabled = 0
        self._update_io()
        if self._deferred is not None:
            self._deferred.cancel()
        self._read_cb = self._write_cb = None
        self._event_cb = None

    free = close

    def __enter__(self) -> BufferEvent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- for subclasses ------------------------------------------------------------

    def _update_io(self) -> None:
        """Bring the transport's interest in line with the enabled directions.

        A direction that stays wanted keeps its running timeout: writing more
        data must not push back a pending read timeout.
        """
        raise NotImplementedError

    def _restart_io(self) -> None:
        """Like :meth:`_update_io`, after enable() or set_timeouts(): restart the timeouts too."""
        self._update_io()
