"""Paired BufferEvents: two ends joined in memory (libevent's ``bufferevent_pair_new``).

Bytes written to one end's output move to the other end's input as soon as
that end reads (READ enabled, not held back by its read high watermark) and
the writer has WRITE enabled. The move stops at the reader's high watermark
and resumes once the reader drains below it; the writer's write callback
runs once its output is down to its low watermark. Closing one end reports
``READING|EOF`` to the other; bytes still in the closed end's output are
dropped, as in libevent.

Why the moves and the callbacks are split: an echo between the two ends
would otherwise nest without limit (A's read callback writes, which runs B's
read callback, which writes, ...). libevent always adds DEFER_CALLBACKS to a
pair; evweb honours the option as given and guards instead. The bytes move
at once, inside ``write`` or ``enable``; the callbacks they cause are owed to
the end and paid when the outermost move finishes. A move caused by a
callback (a write inside a read callback) runs while the pair is settling,
so what it owes is paid from the loop, by the pair's deferred callback: one
round of an echo per loop iteration, and the stack stays flat.

Each end's input is frozen at the back and its output at the front, so that
only the pair adds to an input and takes from an output.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from evweb.io.bevflags import EOF, READING, TIMEOUT, WRITING, BevOption, Flush
from evweb.io.buffer import Buffer
from evweb.io.bufferevent import BufferEvent
from evweb.reactor import READ, WRITE, Event, EventBase

_OWE_READ = 1
_OWE_WRITE = 2


class PairBufferEvent(BufferEvent):
    """One end of a pair; make them with :func:`pair`."""

    def __init__(self, base: EventBase, options: BevOption | int, link: _Link) -> None:
        super().__init__(base, options)
        self._link = link
        self._partner: PairBufferEvent | None = None
        self._owed_cbs = 0
        self._owed_what = 0
        self._read_timer = base.timer(self._on_read_timeout)
        self._write_timer = base.timer(self._on_write_timeout)
        self.output.add_callback(self._on_output_changed)
        self.input.add_callback(self._on_input_changed)
        self.input.freeze(False)
        self.output.freeze(True)

    @property
    def partner(self) -> PairBufferEvent | None:
        """The other end, or None once either end is closed (``bufferevent_pair_get_partner``)."""
        return self._partner

    @property
    def underlying(self) -> None:
        """A pair end has no underlying BufferEvent."""
        return None

    def fileno(self) -> int:
        """A pair end has no fd: always -1."""
        return -1

    # --- moving bytes ---------------------------------------------------------------

    def _wants_to_send(self) -> bool:
        dst = self._partner
        return (
            dst is not None
            and bool(self._enabled & WRITE)
            and bool(dst._enabled & READ)
            and not dst._suspended_read
            and len(self.output) > 0
        )

    def _send(self, ignore_watermark: bool) -> None:
        """Move this end's output to the partner's input, up to its read high watermark."""
        dst = self._partner
        if dst is None:
            return
        n = len(self.output)
        if dst.read_high:
            room = dst.read_high - len(dst.input)
            if room > 0:
                n = min(n, room)
            elif not ignore_watermark:
                return
        if n <= 0:
            return
        link = self._link
        link.depth += 1
        try:
            _move(self.output, dst.input, n)
            dst._set_timer(dst._read_timer, dst._wants_read_timer(), dst.read_timeout, True)
            self._sync_write_timer()
            dst._check_read_suspension()
        finally:
            link.depth -= 1
        dst._owed_cbs |= _OWE_READ
        self._owed_cbs |= _OWE_WRITE
        link.settle()

    def _on_output_changed(self, buffer: Any, info: Any) -> None:
        if info.n_added:
            if self._wants_to_send():
                self._send(False)
            self._sync_write_timer()

    def _on_input_changed(self, buffer: Any, info: Any) -> None:
        if self._suspended_read and info.n_deleted:
            self._check_read_suspension()

    def _update_io(self) -> None:
        self._sync_timers(restart=False)
        self._move_pending()

    def _restart_io(self) -> None:
        self._sync_timers(restart=True)  # enable() and set_timeouts() restart the timers
        self._move_pending()

    def _move_pending(self) -> None:
        partner = self._partner
        if partner is None or self._closed:
            return
        if partner._wants_to_send():
            partner._send(False)
        if self._wants_to_send():
            self._send(False)

    def flush(self, what: int = READ | WRITE, mode: Flush = Flush.NORMAL) -> int:
        """Move data now, ignoring the watermarks; FINISHED then reports EOF to the partner.

        NORMAL does nothing. Returns -1 once the partner is gone, else 0.
        """
        partner = self._partner
        if partner is None:
            return -1
        if mode == Flush.NORMAL:
            return 0
        if what & READ:
            partner._send(True)
        if what & WRITE:
            self._send(True)
        if mode == Flush.FINISHED:
            event = EOF | (WRITING if what & READ else 0) | (READING if what & WRITE else 0)
            partner._owed_what |= event
            self._link.settle()
        return 0

    # --- callbacks owed by a move ------------------------------------------------------

    def _pay_owed(self) -> None:
        cbs, what = self._owed_cbs, self._owed_what
        self._owed_cbs = self._owed_what = 0
        if self._closed:
            return
        if cbs & _OWE_READ:
            self._call_read()
        if cbs & _OWE_WRITE:
            self._call_write()
        if what:
            self._call_event(what)

    # --- timeouts --------------------------------------------------------------------

    def _wants_read_timer(self) -> bool:
        return (
            bool(self._enabled & READ)
            and not self._suspended_read
            and not self._closed
            and self.read_timeout is not None
        )

    def _wants_write_timer(self) -> bool:
        return (
            bool(self._enabled & WRITE)
            and len(self.output) > 0
            and not self._closed
            and self.write_timeout is not None
        )

    def _sync_timers(self, restart: bool) -> None:
        self._set_timer(self._read_timer, self._wants_read_timer(), self.read_timeout, restart)
        self._set_timer(self._write_timer, self._wants_write_timer(), self.write_timeout, restart)

    def _sync_write_timer(self) -> None:
        self._set_timer(self._write_timer, self._wants_write_timer(), self.write_timeout, False)

    @staticmethod
    def _set_timer(timer: Event, want: bool, timeout: float | None, restart: bool) -> None:
        """Start a wanted timer (restart a running one only if asked); stop an unwanted one."""
        if want and (restart or not timer.is_pending()):
            timer.add(timeout)
        elif not want and timer.is_pending():
            timer.delete()

    def _on_read_timeout(self, fd: int, what: int, arg: Any) -> None:
        self.disable(READ)
        self._owed_what |= READING | TIMEOUT
        self._link.settle()

    def _on_write_timeout(self, fd: int, what: int, arg: Any) -> None:
        self.disable(WRITE)
        self._owed_what |= WRITING | TIMEOUT
        self._link.settle()

    # --- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Stop this end; the partner's event callback gets READING|EOF."""
        if self._closed:
            return
        partner, self._partner = self._partner, None
        if partner is not None:
            partner._partner = None
        super().close()
        self._read_timer.delete()
        self._write_timer.delete()
        self._owed_cbs = self._owed_what = 0
        if partner is not None and not partner._closed:
            partner._owed_what |= READING | EOF
            self._link.settle()
        else:
            self._link.later.cancel()


class _Link:
    """What the two ends share: the move depth, the settling flag and the deferred payer."""

    __slots__ = ("depth", "later", "settling", "sides")

    def __init__(self, base: EventBase) -> None:
        self.depth = 0
        self.settling = False
        self.later = base.deferred(self._settle_later)
        self.sides: tuple[PairBufferEvent, ...] = ()

    def settle(self) -> None:
        """Pay the owed callbacks now, or from the loop when a callback is running."""
        if self.depth:
            return  # the outermost move settles
        if self.settling:
            self.later.schedule()
            return
        self.settling = True
        try:
            for side in self.sides:
                if side._owed_cbs or side._owed_what:
                    side._pay_owed()
        finally:
            self.settling = False

    def _settle_later(self, arg: Any) -> None:
        self.settle()


def _move(src: Buffer, dst: Buffer, n: int) -> None:
    src.unfreeze(True)
    dst.unfreeze(False)
    try:
        src.remove_buffer(dst, n)
    finally:
        src.freeze(True)
        dst.freeze(False)


class BufferEventPair(NamedTuple):
    """The two ends made by :func:`pair`; unpacks as ``a, b = pair(base)``."""

    first: PairBufferEvent
    second: PairBufferEvent

    def close(self) -> None:
        """Close both ends."""
        self.first.close()
        self.second.close()


def pair(base: EventBase, options: BevOption | int = BevOption.NONE) -> BufferEventPair:
    """Two BufferEvents joined to each other (``bufferevent_pair_new``).

    Like every BufferEvent each end starts with WRITE enabled only; enable
    READ on the end that should receive. ``DEFER_CALLBACKS`` runs the user's
    callbacks from the loop; without it they run inline but never nest
    (see the module docstring). ``CLOSE_ON_FREE`` has nothing to close.
    """
    link = _Link(base)
    first = PairBufferEvent(base, options, link)
    second = PairBufferEvent(base, options, link)
    first._partner, second._partner = second, first
    link.sides = (first, second)
    return BufferEventPair(first, second)
