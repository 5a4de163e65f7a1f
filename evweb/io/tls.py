"""TLSBufferEvent: TLS over a non-blocking socket (``bufferevent_openssl_socket_new``).

No blocking ssl socket is involved: an :class:`ssl.SSLObject` sits between
two :class:`ssl.MemoryBIO` objects, and this class moves ciphertext between
them and the socket itself::

    socket --recv--> incoming BIO --SSLObject.read--> self.input   (plaintext)
    socket <--send-- raw_out <-- outgoing BIO <--SSLObject.write-- self.output

The SSLObject pump (:mod:`evweb.io._tls_engine`) and the session's logic
and properties (:mod:`evweb.io._tls_session`) are shared with
:class:`~evweb.io.tls_filter.TLSFilterBufferEvent`; this module is the
socket side.

Why it is shaped this way:

* Socket reads and writes are sized by ``_read_budget()``/``_write_budget()``
  and charged with ``_note_read()``/``_note_written()``, the same extension
  points a rate limiter uses on :class:`SocketBufferEvent`, so limits count
  the bytes on the wire. The read high watermark bounds *plaintext*: a
  socket read is sized without it (a watermark of a few bytes must not turn
  into one-byte reads of a 16 KiB record), and decryption stops at it.
* OpenSSL keeps decrypted plaintext and whole records it has not returned
  yet (``SSLObject.pending()``, the incoming BIO). The socket never becomes
  readable for them again, so when reading resumes (drained below the
  watermark, or enabled) a deferred callback delivers them from the loop.
* Interest in the socket is not the plain BufferEvent's: the handshake reads
  and writes whatever the user enabled, a write may need a read first
  (``SSLWantReadError``: post-handshake messages, renegotiation), and
  ciphertext waiting in ``raw_out`` needs the socket writable even when the
  user's output is empty. Internal refreshes keep running timeouts; the
  user's enable/set_timeouts restart them, as in libevent.
* The end of the connection: a close_notify is EOF; a TCP close without it
  is ERROR (``ssl.SSLEOFError`` in :attr:`error`) unless the
  ``DIRTY_SHUTDOWN`` flag makes it EOF (libevent's
  ``BUFFEREVENT_SSL_DIRTY_SHUTDOWN``). Every ``ssl.SSLError`` seen is also
  kept in :attr:`tls_errors`. After EOF or ERROR the connection moves no
  more bytes except a best-effort alert.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from evweb.errors import TLSError
from evweb.io._tls_engine import RECORD, TLSEngine, TLSFlag, TLSState
from evweb.io._tls_session import TLSSession
from evweb.io.bevflags import CONNECTED, READING, WRITING, BevOption
from evweb.io.buffer import Buffer
from evweb.io.socket_bev import Address, SocketBufferEvent
from evweb.reactor import READ, WRITE, EventBase
from evweb.reactor import TIMEOUT as EV_TIMEOUT

__all__ = ["TLSBufferEvent", "TLSFlag", "TLSState"]


class TLSBufferEvent(TLSSession, SocketBufferEvent):
    """A BufferEvent speaking TLS over a socket.

    ``state`` CONNECTING makes a client (give ``server_hostname`` for SNI
    and hostname checking, which a ``PROTOCOL_TLS_CLIENT`` context does by
    default), ACCEPTING a server; both report CONNECTED to the event
    callback once the handshake is done. OPEN takes the side from the
    context's protocol and reports no handshake. :meth:`close` sends a
    close_notify when the session is up (best effort: no waiting).
    """

    _inline_writes = False  # plaintext must go through the TLS engine

    def __init__(
        self,
        base: EventBase,
        sock: socket.socket | int | None,
        ssl_context: ssl.SSLContext,
        state: TLSState | int,
        options: BevOption | int = BevOption.NONE,
        server_hostname: str | None = None,
    ) -> None:
        self._raw_out = Buffer()
        self._tls = TLSEngine(ssl_context, state, server_hostname, self._raw_out)
        self._rawbuf = bytearray(RECORD)
        self._plain_sent = False  # plaintext went out since the last write callback
        self._kick = base.deferred(self._on_kick)
        early_error = self._tls.begin()
        super().__init__(base, sock, options)
        if early_error is not None:
            self._fail_later(early_error)

    def connect(self, address: Address) -> None:
        """Connect TCP, then handshake; the event callback gets CONNECTED once, after both."""
        if self._tls.state == TLSState.ACCEPTING:
            raise TLSError("connect() on a server-side (ACCEPTING) TLSBufferEvent")
        super().connect(address)

    # --- interest -------------------------------------------------------------------

    def _update_io(self) -> None:
        self._apply_interest(restart=False)
        if self._buffered_input_waits():
            self._kick.schedule()

    def _restart_io(self) -> None:
        self._apply_interest(restart=True)
        if self._buffered_input_waits():
            self._kick.schedule()

    def _refresh(self) -> None:
        self._apply_interest(restart=False)

    def _wants(self) -> tuple[bool, bool]:
        tls = self._tls
        if tls.stopped:
            return False, False
        if self._connecting:
            return False, True
        user_read = bool(self._enabled & READ) and not self._suspended_read
        want_read = not tls.raw_eof and (tls.handshaking or tls.write_wants_read or user_read)
        want_write = bool(self._raw_out) or (
            tls.may_encrypt and bool(self._enabled & WRITE) and len(self.output) > 0
        )
        lim = self._ratelim  # a rate limit holds for the handshake and alerts too
        if lim is not None:
            want_read = want_read and not lim.read_suspended
            want_write = want_write and not lim.write_suspended
        return want_read, want_write

    def _buffered_input_waits(self) -> bool:
        tls = self._tls
        if self._closed or tls.stopped or tls.handshaking:
            return False
        if not self._enabled & READ or self._suspended_read:
            return False
        return tls.has_buffered_input()

    # --- socket traffic ---------------------------------------------------------------

    def _on_readable(self, fd: int, what: int, arg: Any) -> None:
        if what & EV_TIMEOUT:
            self._timed_out(READ)
            return
        budget = self._read_budget()
        if budget <= 0:
            self._pause(self._reader, "_reading")
            return
        if budget > len(self._rawbuf):
            self._rawbuf = bytearray(budget)
        assert self._sock is not None
        try:
            n = self._sock.recv_into(self._rawbuf, budget)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(READING, exc)
            return
        if n == 0:
            self._tls.feed_eof()
        else:
            self._note_read(n)
            self._tls.feed(memoryview(self._rawbuf)[:n])
        self._advance()

    def _read_budget(self) -> int:
        # The watermark bounds plaintext (see the module comment): a socket
        # read is sized by the single-read cap and the rate limit alone.
        if self._ratelim is not None:
            return min(self.max_single_read, self._ratelim.budget(0))
        return self.max_single_read

    def _send_budget(self) -> int:
        return self._write_budget()  # no sendfile: the output is plaintext to encrypt

    def _send_output(self, budget: int) -> None:
        if self._tls.may_encrypt and self._enabled & WRITE:
            taken, error = self._tls.encrypt(self.output, budget)
            if error is not None:
                self._end(WRITING, error)
                return
            self._plain_sent = self._plain_sent or taken > 0
        self._send_raw(budget)
        if self._closed or self._tls.stopped:
            return
        self._refresh()
        if self._plain_sent and not self._raw_out:
            self._plain_sent = False
            self._call_write()

    def _send_raw(self, budget: int) -> None:
        if not self._raw_out or self._sock is None:
            return
        try:
            n = self._raw_out.write_to(self._sock, budget)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(WRITING, exc)
            return
        self._note_written(n)

    def _connected(self) -> None:
        # the ClientHello waits in raw_out; CONNECTED comes after the handshake
        if self._tls.state == TLSState.OPEN:
            self._call_event(CONNECTED)

    def _on_kick(self, arg: Any) -> None:
        if self._buffered_input_waits():
            self._deliver()
            if not (self._closed or self._tls.stopped):
                self._refresh()

    # --- the end ----------------------------------------------------------------------

    def _after_end(self) -> None:
        self._send_quietly()  # an alert, if OpenSSL produced one
        self._refresh()

    def _send_quietly(self) -> None:
        if self._raw_out and self._sock is not None:
            try:
                self._note_written(self._raw_out.write_to(self._sock))
            except OSError:
                pass

    def close(self) -> None:
        """Send close_notify if the session is up (without waiting), then close."""
        if self._closed:
            return
        if self._sock is not None and self._tls.close_notify():
            self._send_quietly()
        self._kick.cancel()
        super().close()
