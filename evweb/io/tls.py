"""TLSBufferEvent: TLS over a non-blocking socket (``bufferevent_openssl_socket_new``).

No blocking ssl socket is involved: an :class:`ssl.SSLObject` sits between
two :class:`ssl.MemoryBIO` objects, and this class moves ciphertext between
them and the socket itself::

    socket --recv--> incoming BIO --SSLObject.read--> self.input   (plaintext)
    socket <--send-- raw_out <-- outgoing BIO <--SSLObject.write-- self.output

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

import enum
import errno
import socket
import ssl
from typing import Any, cast

from evweb.errors import ConfigError, TLSError
from evweb.io.bevflags import CONNECTED, EOF, ERROR, READING, WRITING, BevOption
from evweb.io.buffer import Buffer
from evweb.io.socket_bev import Address, SocketBufferEvent
from evweb.reactor import READ, WRITE, EventBase
from evweb.reactor import TIMEOUT as EV_TIMEOUT

_RECORD = 16384  # largest TLS plaintext record; one SSLObject.read/write at most this


class TLSState(enum.IntEnum):
    """Where the TLS session starts (``BUFFEREVENT_SSL_OPEN/CONNECTING/ACCEPTING``)."""

    OPEN = 0
    """No handshake to report: OpenSSL runs one implicitly if needed, no CONNECTED."""
    CONNECTING = 1
    """Client side: handshake, then CONNECTED."""
    ACCEPTING = 2
    """Server side: handshake, then CONNECTED."""


class TLSFlag(enum.IntFlag):
    """Behaviour flags (``BUFFEREVENT_SSL_*``)."""

    NONE = 0
    DIRTY_SHUTDOWN = 1
    """A TCP close without close_notify is reported as EOF, not ERROR."""
    BATCH_WRITE = 2
    """Coalesce the output's segments into full records instead of one record per segment."""


_DIRTY = (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError)


class TLSBufferEvent(SocketBufferEvent):
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
        try:
            self._state = TLSState(state)
        except ValueError:
            raise ConfigError(f"invalid TLS state {state!r}: expected 0, 1 or 2") from None
        server_side = self._state == TLSState.ACCEPTING or (
            self._state == TLSState.OPEN and ssl_context.protocol == ssl.PROTOCOL_TLS_SERVER
        )
        if not server_side and ssl_context.check_hostname and not server_hostname:
            # wrap_bio() would accept this and then check no name at all
            raise ConfigError("the context checks hostnames: server_hostname is required")
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        try:
            self._ssl = ssl_context.wrap_bio(
                self._incoming,
                self._outgoing,
                server_side=server_side,
                server_hostname=None if server_side else server_hostname,
            )
        except ValueError as exc:  # e.g. check_hostname without server_hostname
            raise ConfigError(f"cannot start TLS: {exc}") from exc
        self._raw_out = Buffer()
        self._rawbuf = bytearray(_RECORD)
        self._flags = TLSFlag.NONE
        self.tls_errors: list[ssl.SSLError] = []
        self._handshaking = self._state != TLSState.OPEN
        self._write_wants_read = False
        self._raw_eof = False
        self._stopped = False  # EOF or ERROR reported: no more traffic
        self._plain_sent = False  # plaintext went out since the last write callback
        self._kick = base.deferred(self._on_kick)
        early_error = self._handshake_begin()
        super().__init__(base, sock, options)
        if early_error is not None:
            self._fail_later(early_error)

    # --- what users ask about -----------------------------------------------------

    @property
    def ssl_object(self) -> ssl.SSLObject:
        """The :class:`ssl.SSLObject` (``bufferevent_openssl_get_ssl``)."""
        return self._ssl

    @property
    def state(self) -> TLSState:
        """CONNECTING or ACCEPTING until the handshake is done, then OPEN."""
        return TLSState.OPEN if not self._handshaking else self._state

    @property
    def server_hostname(self) -> str | None:
        """The name sent as SNI and checked against the certificate (client side)."""
        return self._ssl.server_hostname

    @property
    def peer_certificate(self) -> dict[str, Any] | None:
        """The peer's verified certificate as :meth:`ssl.SSLSocket.getpeercert` decodes it."""
        if self._handshaking:
            return None
        return self._ssl.getpeercert()

    @property
    def cipher(self) -> tuple[str, str, int] | None:
        """``(name, protocol, secret bits)`` once the handshake is done."""
        return self._ssl.cipher()

    @property
    def version(self) -> str | None:
        """The negotiated protocol, e.g. ``'TLSv1.3'``."""
        return self._ssl.version()

    @property
    def flags(self) -> TLSFlag:
        """The :class:`TLSFlag` set (``bufferevent_ssl_get_flags``)."""
        return self._flags

    def set_flags(self, flags: TLSFlag | int) -> TLSFlag:
        """Add ``flags``; returns the flags before."""
        old = self._flags
        self._flags |= TLSFlag(flags & (TLSFlag.DIRTY_SHUTDOWN | TLSFlag.BATCH_WRITE))
        return old

    def clear_flags(self, flags: TLSFlag | int) -> TLSFlag:
        """Remove ``flags``; returns the flags before."""
        old = self._flags
        self._flags &= ~TLSFlag(flags & (TLSFlag.DIRTY_SHUTDOWN | TLSFlag.BATCH_WRITE))
        return old

    @property
    def dirty_shutdown(self) -> bool:
        """Whether a TCP close without close_notify counts as EOF."""
        return bool(self._flags & TLSFlag.DIRTY_SHUTDOWN)

    @dirty_shutdown.setter
    def dirty_shutdown(self, allow: bool) -> None:
        (self.set_flags if allow else self.clear_flags)(TLSFlag.DIRTY_SHUTDOWN)

    def connect(self, address: Address) -> None:
        """Connect TCP, then handshake; the event callback gets CONNECTED once, after both."""
        if self._state == TLSState.ACCEPTING:
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

    def _refresh_io(self) -> None:
        self._apply_interest(restart=False)

    def _wants(self) -> tuple[bool, bool]:
        if self._stopped:
            return False, False
        if self._connecting:
            return False, True
        user_read = bool(self._enabled & READ) and not self._suspended_read
        want_read = not self._raw_eof and (self._handshaking or self._write_wants_read or user_read)
        may_encrypt = not (self._handshaking or self._write_wants_read)
        want_write = bool(self._raw_out) or (
            may_encrypt and bool(self._enabled & WRITE) and len(self.output) > 0
        )
        lim = self._ratelim  # a rate limit holds for the handshake and alerts too
        if lim is not None:
            want_read = want_read and not lim.read_suspended
            want_write = want_write and not lim.write_suspended
        return want_read, want_write

    def _buffered_input_waits(self) -> bool:
        if self._closed or self._stopped or self._handshaking:
            return False
        if not self._enabled & READ or self._suspended_read:
            return False
        return bool(self._ssl.pending() or self._incoming.pending or self._raw_eof)

    # --- socket traffic ---------------------------------------------------------------

    def _on_readable(self, fd: int, what: int, arg: Any) -> None:
        if what & EV_TIMEOUT:
            self._timed_out(READ)
            return
        budget = self._raw_read_budget()
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
            self._raw_eof = True
            self._incoming.write_eof()
        else:
            self._note_read(n)
            self._incoming.write(memoryview(self._rawbuf)[:n])
        self._advance()

    def _raw_read_budget(self) -> int:
        # The watermark bounds plaintext (see the module comment): ask the
        # budget without it, so a rate limit still applies.
        high, self.read_high = self.read_high, 0
        try:
            return self._read_budget()
        finally:
            self.read_high = high

    def _on_writable(self, fd: int, what: int, arg: Any) -> None:
        if what & EV_TIMEOUT:
            self._timed_out(WRITE)
            return
        if self._connecting:
            self._finish_connect()
            return
        budget = self._write_budget()
        if budget <= 0:
            self._pause(self._writer, "_writing")
            return
        if not (self._handshaking or self._write_wants_read):
            self._encrypt(budget)
        self._send_raw(budget)
        if self._closed or self._stopped:
            return
        self._refresh_io()
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

    def _finish_connect(self) -> None:
        assert self._sock is not None
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._connecting = False
        if code:
            self._refresh_io()
            self._call_event(ERROR, OSError(code, errno.errorcode.get(code, str(code))))
            return
        self._refresh_io()  # the ClientHello waits in raw_out
        if self._state == TLSState.OPEN:
            self._call_event(CONNECTED)

    def _fail_later(self, exc: ssl.SSLError) -> None:
        def report(fd: int, what: int, arg: Any) -> None:
            if not self._closed:
                self._end(READING, exc)

        self._base.once(-1, EV_TIMEOUT, report)

    # --- the TLS engine -------------------------------------------------------------

    def _handshake_begin(self) -> ssl.SSLError | None:
        """First handshake step (a client's hello); run before the socket is watched."""
        if not self._handshaking:
            return None
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            return exc
        self._collect_outgoing()
        return None

    def _advance(self) -> None:
        """New ciphertext arrived: go on with the handshake, a blocked write, the input."""
        if self._handshaking:
            self._handshake_step()
            if self._handshaking or self._closed or self._stopped:
                return
        if self._write_wants_read:
            self._write_wants_read = False  # the writable path retries the write
        self._deliver()
        if not (self._closed or self._stopped):
            self._refresh_io()

    def _handshake_step(self) -> None:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._collect_outgoing()
            self._refresh_io()
            return
        except ssl.SSLError as exc:
            self._collect_outgoing()
            self._end(READING, exc)
            return
        self._handshaking = False
        self._collect_outgoing()
        self._refresh_io()
        self._call_event(CONNECTED)

    def _deliver(self) -> None:
        """Decrypt into the input up to the watermark; report the end after the data."""
        got = 0
        ending: tuple[int, BaseException | None] | None = None
        while self._enabled & READ and not (self._closed or self._stopped):
            room = self.read_high - len(self.input) if self.read_high else _RECORD
            if room <= 0:
                break
            n = min(room, _RECORD)
            try:
                # with a buffer, read() returns a count (typeshed says bytes)
                count: int = cast(int, self._ssl.read(n, self.input.reserve(n)))
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify, seen after ours was sent
                count = 0
            except (ssl.SSLError, OSError) as exc:
                ending = (READING, exc)
                break
            if count == 0:  # close_notify
                ending = (READING, None)
                break
            self.input.commit(count)
            got += count
        self._collect_outgoing()  # tickets, key updates, alerts
        if got:
            self._check_read_suspension()
            self._call_read()
        if ending is not None and not self._closed:
            self._end(*ending)

    def _encrypt(self, budget: int) -> None:
        """Turn plaintext from the output into ciphertext, about ``budget`` bytes of it."""
        output, batch = self.output, self._flags & TLSFlag.BATCH_WRITE
        while self._enabled & WRITE and output and len(self._raw_out) < budget:
            n = min(budget - len(self._raw_out), len(output), _RECORD)
            view = output.pullup(n)[:n] if batch else output.peek(n)[0][:n]
            size = len(view)
            try:
                self._ssl.write(view)
            except ssl.SSLWantReadError:  # handshake or renegotiation messages first
                self._write_wants_read = True
                self._collect_outgoing()
                break
            except ssl.SSLError as exc:
                self._end(WRITING, exc)
                return
            finally:
                view.release()
            output.drain(size)
            self._plain_sent = True
            self._collect_outgoing()

    def _collect_outgoing(self) -> None:
        if self._outgoing.pending:
            self._raw_out.add(self._outgoing.read())

    def _on_kick(self, arg: Any) -> None:
        if self._buffered_input_waits():
            self._deliver()
            if not (self._closed or self._stopped):
                self._refresh_io()

    # --- the end ----------------------------------------------------------------------

    def _end(self, when: int, exc: BaseException | None) -> None:
        """Stop the traffic and report EOF (close_notify, or allowed dirty close) or ERROR."""
        if isinstance(exc, ssl.SSLError):
            self.tls_errors.append(exc)
        dirty_ok = isinstance(exc, _DIRTY) and bool(self._flags & TLSFlag.DIRTY_SHUTDOWN)
        if exc is None or dirty_ok:
            self._enabled &= ~READ
            what, error = when | EOF, None
        else:
            self._enabled &= ~(READ | WRITE)
            what, error = when | ERROR, exc
        self._stopped = True
        self._send_quietly()  # an alert, if OpenSSL produced one
        self._refresh_io()
        self._kick.cancel()
        self._call_event(what, error)

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
        if not (self._handshaking or self._stopped) and self._sock is not None:
            try:
                self._ssl.unwrap()
            except ssl.SSLError:
                pass  # SSLWantReadError: ours is sent, the peer's not yet seen
            self._collect_outgoing()
            self._send_quietly()
        self._kick.cancel()
        super().close()
