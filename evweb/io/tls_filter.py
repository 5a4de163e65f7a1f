"""TLSFilterBufferEvent: TLS over another BufferEvent (``bufferevent_openssl_filter_new``).

The TLS session sits on top of an *underlying* BufferEvent (a pair end, a
socket BufferEvent, a filter, another TLS BufferEvent) and takes over its
callbacks, as :class:`~evweb.io.filter.FilterBufferEvent` does. Ciphertext
moves through the underlying's buffers, plaintext through this one's::

    underlying.input --feed--> incoming BIO --SSLObject.read--> self.input
    underlying.output <--collect-- outgoing BIO <--SSLObject.write-- self.output

The engine (:class:`~evweb.io._tls_engine.TLSEngine`) and the session
(:class:`~evweb.io._tls_session.TLSSession`) are shared with
:class:`~evweb.io.tls.TLSBufferEvent`; the engine's ``raw_out`` is the
underlying's output itself. Why it is shaped this way:

* Back-pressure: ciphertext is fed to the engine a bounded amount at a time
  (``_FEED``); the rest stays in the underlying's input. Decryption stops at
  this BufferEvent's read high watermark and the underlying stops reading
  (its READ is disabled) until the user drains below it. Encryption stops
  at the underlying's write high watermark and resumes from its write
  callback. The underlying's read watermarks are reset, as in libevent: a
  read low watermark there would stall the handshake.
* The underlying reads while the handshake runs, while a write waits for
  the peer's answer, and while the user reads. Its WRITE is enabled with
  ours and for the handshake, and never disabled here: handshake messages,
  tickets, alerts and the close_notify must leave even when the user
  stopped writing.
* The write callback runs once the plaintext has left the underlying's
  output (down to its write low watermark), from the underlying's write
  callback or from the loop, never inside :meth:`write`.
* The underlying's events: CONNECTED (a socket's connect) lets the
  handshake's first flight out and is reported only in the OPEN state (the
  handshake's end is this BufferEvent's CONNECTED). EOF feeds an EOF to the
  engine after the ciphertext before it: EOF after a close_notify, else
  ERROR unless ``DIRTY_SHUTDOWN``. ERROR ends the session with the
  underlying's exception. TIMEOUT passes through (timeouts are the
  underlying's, as for filters) and disables that direction here too.
* Work that would nest (a callback of ours running while we process), and
  what the underlying delivers inside the user's own calls (a pair moves
  bytes at once when enable() or a read below the watermark resumes it),
  is handed to a deferred callback and runs from the loop: the read and
  write callbacks never run inside the user's own calls.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import Callable
from typing import Any

from evweb.errors import TLSError
from evweb.io._layered import LayeredBufferEvent
from evweb.io._tls_engine import RECORD, TLSEngine, TLSFlag, TLSState
from evweb.io._tls_session import TLSSession
from evweb.io.bevflags import CONNECTED, EOF, ERROR, READING, TIMEOUT, WRITING, BevOption, Flush
from evweb.io.bufferevent import BufferEvent
from evweb.reactor import READ, WRITE

__all__ = ["TLSFilterBufferEvent", "TLSFlag", "TLSState"]

_FEED = 4 * RECORD  # ciphertext held by the engine at most; the rest waits below


class TLSFilterBufferEvent(TLSSession, LayeredBufferEvent):
    """A BufferEvent speaking TLS over ``underlying``, another BufferEvent.

    ``state``, ``server_hostname`` and the flags mean what they mean for
    :class:`~evweb.io.tls.TLSBufferEvent`. Enabling, disabling and timeouts
    act on the underlying BufferEvent. :meth:`close` queues a close_notify
    when the session is up; with ``CLOSE_ON_FREE`` it then closes the
    underlying BufferEvent, otherwise it gives the underlying its callbacks
    back (cleared) and leaves it open.
    """

    def __init__(
        self,
        underlying: BufferEvent,
        ssl_context: ssl.SSLContext,
        state: TLSState | int,
        options: BevOption | int = BevOption.NONE,
        server_hostname: str | None = None,
    ) -> None:
        self._tls = TLSEngine(ssl_context, state, server_hostname, underlying.output)
        super().__init__(underlying.base, BevOption(options) & ~BevOption.THREADSAFE)
        self._under_eof = False
        self._plain_sent = False  # plaintext went down since the last write callback
        self._busy: set[str] = set()  # "in", "out": the pumps running now
        self._kick = self._base.deferred(self._run_kick)
        underlying.set_watermark(READ, 0, 0)
        self._sit_on(underlying)
        self.output.add_callback(self._on_output_changed)
        self.input.add_callback(self._on_input_changed)
        early_error = self._tls.begin()  # a client's hello, queued below
        self._sync_quietly(restart=False)
        if early_error is not None:
            self._fail_later(early_error)
        elif self._input_waits():
            self._kick.schedule()  # ciphertext that came before us (STARTTLS)

    def flush(self, what: int = READ | WRITE, mode: Flush = Flush.NORMAL) -> int:
        """Encrypt what the output holds now, then flush the underlying; its answer."""
        if what & WRITE:
            self._pump_output()
        return self._underlying.flush(what, mode)

    # --- interest: act on the underlying ----------------------------------------------

    def _update_io(self) -> None:
        if self._closed:
            return
        self._sync_quietly(restart=False)
        if self._input_waits() or (self._enabled & WRITE and self.output):
            self._kick.schedule()  # leftovers: from the loop, not inside enable()

    def _restart_io(self) -> None:
        # enable() and set_timeouts(): the timeouts are the underlying's; restart them
        if self._closed:
            return
        u = self._underlying
        if (u.read_timeout, u.write_timeout) != (self.read_timeout, self.write_timeout):
            u.set_timeouts(self.read_timeout, self.write_timeout)
        self._sync_quietly(restart=True)
        self._update_io()

    def _sync_quietly(self, restart: bool) -> None:
        """Sync from a user's call (enable, read): what comes up meanwhile waits for the loop."""
        nested = "in" in self._busy
        self._busy.add("in")
        try:
            self._sync_underlying(restart)
        finally:
            if not nested:
                self._busy.discard("in")

    def _refresh(self) -> None:
        self._sync_underlying(restart=False)
        self._pump_output()

    def _wants_read(self) -> bool:
        tls = self._tls
        if tls.stopped:
            return False
        user_read = bool(self._enabled & READ) and not self._suspended_read
        return tls.handshaking or tls.write_wants_read or user_read

    def _sync_underlying(self, restart: bool) -> None:
        if self._closed:
            return
        u, tls = self._underlying, self._tls
        want = READ if self._wants_read() else 0
        if self._enabled & WRITE or tls.handshaking or tls.write_wants_read:
            want |= WRITE
        if restart and want:
            u.enable(want)
        elif want & ~u.enabled:
            u.enable(want & ~u.enabled)
        if not want & READ and u.enabled & READ:
            u.disable(READ)  # never WRITE: alerts and close_notify must leave

    def _input_waits(self) -> bool:
        if self._closed or not self._wants_read():
            return False
        tls = self._tls
        return bool(self._underlying.input) or tls.has_buffered_input() or self._under_eof

    # --- input: underlying.input -> engine -> self.input ------------------------------

    def _refill(self) -> bool:
        src, tls = self._underlying.input, self._tls
        fed = False
        room = _FEED - tls.incoming.pending
        if src and room > 0:
            n = min(len(src), room)
            with src.pullup(n) as view:
                tls.feed(view)
            src.drain(n)
            fed = True
        if self._under_eof and not src and not tls.raw_eof:
            tls.feed_eof()
            fed = True
        return fed

    def _pump_input(self) -> None:
        self._alone("in", self._take_ciphertext)

    def _take_ciphertext(self) -> None:
        self._refill()
        self._advance()

    def _alone(self, work: str, run: Callable[[], object]) -> None:
        """Run ``run`` unless ``work`` is already running below us (then from the loop)."""
        if work in self._busy:
            self._kick.schedule()
            return
        self._busy.add(work)
        try:
            run()
        finally:
            self._busy.discard(work)

    def _on_input_changed(self, buffer: Any, info: Any) -> None:
        if not info.n_deleted or self._closed:
            return
        if self._suspended_read:
            self._check_read_suspension()  # may resume reading: _update_io kicks
        elif self._input_waits():
            self._kick.schedule()  # records left behind at the high watermark

    # --- output: self.output -> engine -> underlying.output ---------------------------

    def _pump_output(self) -> None:
        tls = self._tls
        if self._closed or not tls.may_encrypt or not self._enabled & WRITE or not self.output:
            return
        self._alone("out", self._give_plaintext)

    def _give_plaintext(self) -> None:
        tls, u = self._tls, self._underlying
        taken, error = tls.encrypt(self.output, u.write_high or -1)
        if error is not None:
            self._end(WRITING, error)
            return
        if taken:
            self._plain_sent = True
            if len(u.output) <= u.write_low:
                self._kick.schedule()  # already gone: the write callback runs from the loop
        if tls.write_wants_read:
            self._sync_underlying(restart=False)
            if self._input_waits():
                self._kick.schedule()

    def _report_written(self) -> None:
        u = self._underlying
        if self._plain_sent and len(u.output) <= u.write_low and not self._closed:
            self._plain_sent = False
            self._call_write()

    def _on_output_changed(self, buffer: Any, info: Any) -> None:
        if info.n_added:
            self._pump_output()

    # --- the underlying's callbacks ---------------------------------------------------

    def _on_under_read(self, bev: BufferEvent, arg: Any) -> None:
        if not self._closed:
            self._pump_input()

    def _on_under_write(self, bev: BufferEvent, arg: Any) -> None:
        self._pump_output()
        if "out" in self._busy:
            self._kick.schedule()  # not inside the user's write()
        else:
            self._report_written()

    def _on_under_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        if self._closed:
            return
        tls = self._tls
        if what & TIMEOUT:
            self._mirror_timeout(what)
            self._call_event(what)
        elif tls.stopped:
            return  # the session already ended (a close_notify came first)
        elif what & ERROR:
            exc = bev.error or TLSError(f"the underlying BufferEvent failed ({what:#x})")
            self._end(what & (READING | WRITING), exc)
        elif what & EOF and what & WRITING:
            self._end(WRITING, bev.error or BrokenPipeError(errno.EPIPE, "peer closed"))
        elif what & EOF:
            self._under_eof = True
            self._pump_input()  # the ciphertext before it first; waits while not reading
        elif what & CONNECTED:
            if tls.state == TLSState.OPEN:
                self._call_event(CONNECTED)
            self._refresh()  # the handshake's first flight leaves now

    def _run_kick(self, arg: Any) -> None:
        if self._closed:
            return
        if self._input_waits():
            self._pump_input()
        self._pump_output()
        self._report_written()

    # --- the end ----------------------------------------------------------------------

    def _after_end(self) -> None:
        self._sync_underlying(restart=False)  # the alert is in the underlying's output

    def close(self) -> None:
        """Queue close_notify if the session is up; with CLOSE_ON_FREE close the underlying."""
        if self._closed:
            return
        self._tls.close_notify()
        self._kick.cancel()
        super().close()
        self._let_go()
