"""TLSSession: the part of a TLS BufferEvent built on :class:`~evweb.io._tls_engine.TLSEngine`.

Shared by :class:`~evweb.io.tls.TLSBufferEvent` and
:class:`~evweb.io.tls_filter.TLSFilterBufferEvent`: the properties and flags
users see, the handshake and decryption into the input as ciphertext
arrives, and reporting the end (close_notify is EOF; a close without it is
ERROR, or EOF with ``DIRTY_SHUTDOWN``; every ssl error is kept in
:attr:`TLSSession.tls_errors`). The transport supplies three hooks:
:meth:`TLSSession._refill` (more ciphertext for the engine, if it is held
elsewhere), :meth:`TLSSession._refresh` (bring its interest up to date) and
:meth:`TLSSession._after_end`.
"""

from __future__ import annotations

import ssl
from typing import Any

from evweb.io._tls_engine import KNOWN_FLAGS, TLSEngine, TLSFlag, TLSState
from evweb.io.bevflags import CONNECTED, EOF, READING
from evweb.io.bufferevent import BufferEvent
from evweb.reactor import READ, WRITE, DeferredCallback
from evweb.reactor import TIMEOUT as EV_TIMEOUT


class TLSSession(BufferEvent):
    """The TLS face shared by :class:`TLSBufferEvent` and :class:`TLSFilterBufferEvent`.

    Not used directly; ``isinstance(bev, TLSSession)`` tells whether a
    BufferEvent speaks TLS.
    """

    _tls: TLSEngine
    _kick: DeferredCallback

    # --- what users ask about -----------------------------------------------------

    @property
    def ssl_object(self) -> ssl.SSLObject:
        """The :class:`ssl.SSLObject` (``bufferevent_openssl_get_ssl``)."""
        return self._tls.ssl

    @property
    def state(self) -> TLSState:
        """CONNECTING or ACCEPTING until the handshake is done, then OPEN."""
        return self._tls.state if self._tls.handshaking else TLSState.OPEN

    @property
    def server_hostname(self) -> str | None:
        """The name sent as SNI and checked against the certificate (client side)."""
        return self._tls.ssl.server_hostname

    @property
    def peer_certificate(self) -> dict[str, Any] | None:
        """The peer's verified certificate as :meth:`ssl.SSLSocket.getpeercert` decodes it."""
        if self._tls.handshaking:
            return None
        return self._tls.ssl.getpeercert()

    @property
    def cipher(self) -> tuple[str, str, int] | None:
        """``(name, protocol, secret bits)`` once the handshake is done."""
        return self._tls.ssl.cipher()

    @property
    def version(self) -> str | None:
        """The negotiated protocol, e.g. ``'TLSv1.3'``."""
        return self._tls.ssl.version()

    @property
    def tls_errors(self) -> list[ssl.SSLError]:
        """Every :class:`ssl.SSLError` seen, oldest first (callers may pop them)."""
        return self._tls.errors

    @property
    def flags(self) -> TLSFlag:
        """The :class:`TLSFlag` set (``bufferevent_ssl_get_flags``)."""
        return self._tls.flags

    def set_flags(self, flags: TLSFlag | int) -> TLSFlag:
        """Add ``flags``; returns the flags before."""
        old = self._tls.flags
        self._tls.flags |= TLSFlag(flags & KNOWN_FLAGS)
        return old

    def clear_flags(self, flags: TLSFlag | int) -> TLSFlag:
        """Remove ``flags``; returns the flags before."""
        old = self._tls.flags
        self._tls.flags &= ~TLSFlag(flags & KNOWN_FLAGS)
        return old

    @property
    def dirty_shutdown(self) -> bool:
        """Whether a close without close_notify counts as EOF."""
        return bool(self._tls.flags & TLSFlag.DIRTY_SHUTDOWN)

    @dirty_shutdown.setter
    def dirty_shutdown(self, allow: bool) -> None:
        (self.set_flags if allow else self.clear_flags)(TLSFlag.DIRTY_SHUTDOWN)

    # --- hooks for the transport ------------------------------------------------------

    def _refill(self) -> bool:
        """Give the engine more ciphertext held elsewhere; True if any was given."""
        return False

    def _refresh(self) -> None:
        """Bring the transport's interest in line with the session (timeouts keep running)."""
        raise NotImplementedError

    def _after_end(self) -> None:
        """The session stopped: send what is left (an alert) and stop the transport."""
        raise NotImplementedError

    # --- input --------------------------------------------------------------------------

    def _advance(self) -> None:
        """Ciphertext arrived: go on with the handshake, a blocked write, then the input."""
        tls = self._tls
        while tls.handshaking:
            result = tls.handshake()
            if result is False:
                if self._refill():
                    continue
                self._refresh()
                return
            if isinstance(result, ssl.SSLError):
                self._end(READING, result)
                return
            self._refresh()  # may send early plaintext, and fail doing it
            if self._closed or tls.stopped:
                return
            self._call_event(CONNECTED)
            if self._closed or tls.stopped:
                return
        tls.write_wants_read = False  # the write path retries the write
        self._deliver()
        if not (self._closed or tls.stopped):
            self._refresh()

    def _deliver(self) -> None:
        """Decrypt into the input up to the watermark; report the end after the data."""
        got, ended, error = 0, False, None
        while self._enabled & READ and not (self._closed or self._tls.stopped):
            n, ended, error = self._tls.decrypt(self.input, self._read_room())
            got += n
            if ended or self._read_room() == 0 or not self._refill():
                break
        if got:
            self._check_read_suspension()
            self._call_read()
        if ended and not self._closed:
            self._end(READING, error)

    def _read_room(self) -> int:
        if not self.read_high:
            return -1
        return max(0, self.read_high - len(self.input))

    # --- the end ----------------------------------------------------------------------

    def _end(self, when: int, exc: BaseException | None) -> None:
        """Stop the traffic and report EOF (close_notify, or allowed dirty close) or ERROR."""
        what, error = self._tls.conclude(when, exc)
        self._enabled &= ~READ if what & EOF else ~(READ | WRITE)
        self._after_end()
        self._kick.cancel()
        self._call_event(what, error)

    def _fail_later(self, exc: ssl.SSLError) -> None:
        """Report an error found while constructing, from the loop."""

        def report(fd: int, what: int, arg: Any) -> None:
            if not self._closed:
                self._end(READING, exc)

        self._base.once(-1, EV_TIMEOUT, report)
