"""FilterBufferEvent: a BufferEvent transforming another's bytes (``bufferevent_filter_new``).

The filtered BufferEvent sits on top of an *underlying* one and takes over
its callbacks. Incoming bytes go from the underlying input through the
input filter into this input; outgoing bytes from this output through the
output filter into the underlying output. A filter is a function
``f(src, dst, dst_limit, mode) -> FilterResult``: it moves what it can from
``src`` to ``dst``, producing at most about ``dst_limit`` bytes (-1: no
limit), and answers OK, NEED_MORE (nothing to do until more input comes) or
ERROR. ``mode`` is :class:`~evweb.io.bevflags.Flush`: NORMAL while data
streams, FLUSH or FINISHED from :meth:`FilterBufferEvent.flush` (a compressor
then emits a sync point or its trailer). None as a filter passes bytes
through.

Back-pressure follows the watermarks of the destination: input filtering
stops at this BufferEvent's read high watermark (the underlying stops
reading too) and resumes when the user drains below it; output filtering
stops at the underlying's write high watermark and resumes from its write
callback. A filter that raises, or returns ERROR, is reported to the event
callback as ``READING|ERROR`` or ``WRITING|ERROR`` with the exception in
:attr:`~evweb.io.bufferevent.BufferEvent.error`, and that direction is
disabled. The underlying's events (EOF, ERROR, CONNECTED, TIMEOUT) pass
through; on EOF the input filter runs once more in FINISHED mode.

Filtering runs inline when data arrives or is written. When it would nest
(a read callback draining its input asks for more filtering while the first
round is still running), the nested round is handed to a deferred callback
and runs from the loop instead.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from evweb.errors import EvwebError
from evweb.io._layered import LayeredBufferEvent
from evweb.io.bevflags import EOF, ERROR, READING, TIMEOUT, WRITING, BevOption, Flush
from evweb.io.buffer import Buffer
from evweb.io.bufferevent import BufferEvent
from evweb.reactor import READ, WRITE


class FilterResult(enum.IntEnum):
    """What a filter answers (libevent's ``BEV_OK``, ``BEV_NEED_MORE``, ``BEV_ERROR``)."""

    OK = 0
    NEED_MORE = 1
    ERROR = 2


Filter = Callable[[Buffer, Buffer, int, Flush], FilterResult | int]
"""``f(src, dst, dst_limit, mode) -> FilterResult``."""


class FilterError(EvwebError):
    """A filter answered ERROR; ``direction`` is READING or WRITING."""

    def __init__(self, message: str, direction: int) -> None:
        super().__init__(message)
        self.direction = direction


def pass_through(src: Buffer, dst: Buffer, dst_limit: int, mode: Flush) -> FilterResult:
    """The filter used for None: move bytes unchanged, up to ``dst_limit``."""
    src.remove_buffer(dst, len(src) if dst_limit < 0 else dst_limit)
    return FilterResult.OK


class FilterBufferEvent(LayeredBufferEvent):
    """A BufferEvent whose bytes pass through filters on their way to and from ``underlying``.

    Enabling, disabling and timeouts act on the underlying BufferEvent.
    With ``CLOSE_ON_FREE``, :meth:`close` closes the underlying one too;
    otherwise its callbacks are cleared and it is left open. ``cleanup()``
    runs once on close (libevent's ``free_context``).
    """

    def __init__(
        self,
        underlying: BufferEvent,
        input_filter: Filter | None = None,
        output_filter: Filter | None = None,
        options: BevOption | int = BevOption.NONE,
        cleanup: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(underlying.base, BevOption(options) & ~BevOption.THREADSAFE)
        self._in_filter: Filter = input_filter or pass_through
        self._out_filter: Filter = output_filter or pass_through
        self._cleanup = cleanup
        self._got_eof = False
        self._in_busy = self._out_busy = False
        self._kick = self._base.deferred(self._run_kick)
        self._sit_on(underlying)
        self.output.add_callback(self._on_output_changed)
        self.input.add_callback(self._on_input_changed)
        self._sync_underlying()

    # --- directions and timeouts act on the underlying -------------------------------

    def _update_io(self) -> None:
        if self._closed:
            return
        self._sync_underlying()
        want_read = bool(self._enabled & READ) and not self._suspended_read
        if (want_read and self._underlying.input) or (self._enabled & WRITE and self.output):
            self._kick.schedule()  # leftovers: filter them from the loop, not inside enable()

    def _sync_underlying(self) -> None:
        u = self._underlying
        want = WRITE if self._enabled & WRITE else 0
        if self._enabled & READ and not self._suspended_read:
            want |= READ
        if want & ~u.enabled:
            u.enable(want & ~u.enabled)
        if u.enabled & ~want & (READ | WRITE):
            u.disable(u.enabled & ~want & (READ | WRITE))

    def set_timeouts(self, read: float | None, write: float | None) -> None:
        """Set the underlying BufferEvent's timeouts (and remember them here)."""
        super().set_timeouts(read, write)
        self._underlying.set_timeouts(read, write)

    def flush(self, what: int = READ | WRITE, mode: Flush = Flush.NORMAL) -> int:
        """Run the filters now in ``mode``, then flush the underlying; 1 if a filter ran OK."""
        processed = False
        if what & READ and self._process_input(mode):
            processed = True
            self._after_input()
        if what & WRITE:
            processed = self._process_output(mode) or processed
        self._underlying.flush(what, mode)
        return int(processed)

    # --- input: underlying.input -> filter -> self.input ---------------------------------

    def _read_full(self, mode: Flush) -> bool:
        high = self.read_high
        return mode == Flush.NORMAL and bool(high) and len(self.input) >= high

    def _process_input(self, mode: Flush) -> bool:
        if mode == Flush.NORMAL and (not self._enabled & READ or self._read_full(mode)):
            return False
        src, dst = self._underlying.input, self.input
        processed = False
        while True:
            limit = -1
            if mode == Flush.NORMAL and self.read_high:
                limit = self.read_high - len(dst)
            before = (len(src), len(dst))
            res = self._apply(self._in_filter, src, dst, limit, mode, READING)
            if res != FilterResult.OK:
                return processed
            processed = True
            if (
                not self._enabled & READ
                or not src
                or self._read_full(mode)
                or (len(src), len(dst)) == before  # no progress: wait for more input
            ):
                return True

    def _pump_input(self) -> None:
        if self._in_busy:
            self._kick.schedule()
            return
        self._in_busy = True
        try:
            if self._process_input(Flush.FINISHED if self._got_eof else Flush.NORMAL):
                self._after_input()
        finally:
            self._in_busy = False

    def _after_input(self) -> None:
        self._check_read_suspension()
        self._call_read()

    def _on_input_changed(self, buffer: Any, info: Any) -> None:
        if info.n_deleted:
            if self._suspended_read:
                self._check_read_suspension()  # may resume reading: _update_io kicks
            elif self._underlying.input and self._enabled & READ:
                self._kick.schedule()  # bytes left behind at the high watermark

    # --- output: self.output -> filter -> underlying.output -------------------------------

    def _write_full(self, mode: Flush) -> bool:
        u = self._underlying
        return mode == Flush.NORMAL and bool(u.write_high) and len(u.output) >= u.write_high

    def _can_write_more(self, mode: Flush) -> bool:
        return bool(self._enabled & WRITE) and bool(self.output) and not self._write_full(mode)

    def _process_output(self, mode: Flush) -> bool:
        if mode == Flush.NORMAL and not self._can_write_more(mode):
            return False
        if self._out_busy:
            self._kick.schedule()
            return False
        self._out_busy = True  # writes from the write callback wait for the loop below
        try:
            return self._output_rounds(mode)
        finally:
            self._out_busy = False

    def _output_rounds(self, mode: Flush) -> bool:
        src, dst = self.output, self._underlying.output
        processed_any = False
        while True:
            processed = False
            while True:
                limit = -1
                if mode == Flush.NORMAL and self._underlying.write_high:
                    limit = self._underlying.write_high - len(dst)
                before = (len(src), len(dst))
                res = self._apply(self._out_filter, src, dst, limit, mode, WRITING)
                if res != FilterResult.OK:
                    break
                processed = processed_any = True
                if not self._can_write_more(mode) or (len(src), len(dst)) == before:
                    break
            if not processed:
                return processed_any
            self._call_write()
            if res != FilterResult.OK or not self._can_write_more(mode) or mode != Flush.NORMAL:
                return True

    def _on_output_changed(self, buffer: Any, info: Any) -> None:
        if info.n_added and not self._out_busy and not self._closed:
            self._process_output(Flush.NORMAL)

    # --- filters that fail ------------------------------------------------------------

    def _apply(
        self, f: Filter, src: Buffer, dst: Buffer, limit: int, mode: Flush, direction: int
    ) -> FilterResult:
        try:
            res = f(src, dst, limit, mode)
        except Exception as exc:
            self._fail(direction, exc)
            return FilterResult.ERROR
        if res == FilterResult.ERROR or res not in (FilterResult.OK, FilterResult.NEED_MORE):
            name = "input" if direction == READING else "output"
            self._fail(direction, FilterError(f"the {name} filter returned {res!r}", direction))
            return FilterResult.ERROR
        return FilterResult(res)

    def _fail(self, direction: int, exc: BaseException) -> None:
        self.disable(READ if direction == READING else WRITE)
        self._call_event(direction | ERROR, exc)

    # --- the underlying's callbacks -------------------------------------------------------

    def _on_under_read(self, bev: BufferEvent, arg: Any) -> None:
        self._pump_input()

    def _on_under_write(self, bev: BufferEvent, arg: Any) -> None:
        self._process_output(Flush.NORMAL)

    def _on_under_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        if what & EOF:
            self._got_eof = True
            if self._enabled & READ:
                self._pump_input()
        if what & TIMEOUT:
            self._mirror_timeout(what)
        if self._closed:
            return
        self._call_event(what, bev.error if what & ERROR else None)

    def _run_kick(self, arg: Any) -> None:
        if self._closed:
            return
        self._pump_input()
        self._process_output(Flush.NORMAL)

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop filtering; with CLOSE_ON_FREE close the underlying BufferEvent, else detach."""
        if self._closed:
            return
        super().close()
        self._kick.cancel()
        self._let_go()
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup()
