"""The SSLObject pump shared by the TLS BufferEvents.

Both :class:`~evweb.io.tls.TLSBufferEvent` (TLS over a socket) and
:class:`~evweb.io.tls_filter.TLSFilterBufferEvent` (TLS over another
BufferEvent) run this engine; they differ only in where ciphertext comes
from and goes to::

    ciphertext --feed--> incoming BIO --SSLObject.read--> plaintext input
    raw_out <--collect-- outgoing BIO <--SSLObject.write-- plaintext output

:class:`TLSEngine` owns the :class:`ssl.SSLObject`, its two memory BIOs and
the session state (handshaking, a write that needs a read first, EOF seen,
stopped), and turns ciphertext into plaintext and back in bounded steps.
``raw_out`` is a :class:`~evweb.io.buffer.Buffer` given by the owner: the
socket BufferEvent's own staging buffer, or the underlying BufferEvent's
output, so ciphertext lands where it is sent from without another copy.
What a BufferEvent built on it shares is :mod:`evweb.io._tls_session`.
"""

from __future__ import annotations

import enum
import ssl
from typing import cast

from evweb.errors import ConfigError
from evweb.io.bevflags import EOF, ERROR
from evweb.io.buffer import Buffer

RECORD = 16384
"""The largest TLS plaintext record; one SSLObject.read/write moves at most this."""


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
    """A close without close_notify is reported as EOF, not ERROR."""
    BATCH_WRITE = 2
    """Coalesce the output's segments into full records instead of one record per segment."""


KNOWN_FLAGS = TLSFlag.DIRTY_SHUTDOWN | TLSFlag.BATCH_WRITE
_DIRTY = (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError)

Decrypted = tuple[int, bool, BaseException | None]
"""``(plaintext bytes, ended, error)``: ended with no error is a close_notify."""


class TLSEngine:
    """An :class:`ssl.SSLObject` between memory BIOs, stepped by its owner.

    ``raw_out`` receives the ciphertext to send. Raises ConfigError for an
    invalid ``state`` or a client context that checks hostnames without
    ``server_hostname``.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        state: TLSState | int,
        server_hostname: str | None,
        raw_out: Buffer,
    ) -> None:
        try:
            self.state = TLSState(state)
        except ValueError:
            raise ConfigError(f"invalid TLS state {state!r}: expected 0, 1 or 2") from None
        server_side = self.state == TLSState.ACCEPTING or (
            self.state == TLSState.OPEN and ssl_context.protocol == ssl.PROTOCOL_TLS_SERVER
        )
        if not server_side and ssl_context.check_hostname and not server_hostname:
            # wrap_bio() would accept this and then check no name at all
            raise ConfigError("the context checks hostnames: server_hostname is required")
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        try:
            self.ssl = ssl_context.wrap_bio(
                self.incoming,
                self.outgoing,
                server_side=server_side,
                server_hostname=None if server_side else server_hostname,
            )
        except ValueError as exc:  # e.g. check_hostname without server_hostname
            raise ConfigError(f"cannot start TLS: {exc}") from exc
        self.raw_out = raw_out
        self.flags = TLSFlag.NONE
        self.errors: list[ssl.SSLError] = []
        self.handshaking = self.state != TLSState.OPEN
        self.write_wants_read = False  # a write needs the peer's answer first
        self.raw_eof = False  # the ciphertext stream ended
        self.stopped = False  # EOF or ERROR reported: no more traffic

    # --- ciphertext in ---------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Ciphertext arrived from the peer."""
        self.incoming.write(data)

    def feed_eof(self) -> None:
        """The ciphertext stream ended; what follows the buffered records is an EOF."""
        self.raw_eof = True
        self.incoming.write_eof()

    def has_buffered_input(self) -> bool:
        """Whether plaintext, records or an EOF wait inside the engine."""
        return bool(self.ssl.pending() or self.incoming.pending or self.raw_eof)

    @property
    def may_encrypt(self) -> bool:
        """Whether plaintext may go in now (no handshake, no read owed, not stopped)."""
        return not (self.handshaking or self.write_wants_read or self.stopped)

    # --- the steps -----------------------------------------------------------------------

    def begin(self) -> ssl.SSLError | None:
        """The first handshake step (a client's hello), before any ciphertext came in."""
        if not self.handshaking:
            return None
        try:
            self.ssl.do_handshake()
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            return exc
        self.collect()
        return None

    def handshake(self) -> bool | ssl.SSLError:
        """Go on with the handshake: True once done, False while it needs input, or the error."""
        try:
            self.ssl.do_handshake()
        except ssl.SSLWantReadError:
            self.collect()
            return False
        except ssl.SSLError as exc:
            self.collect()
            return exc
        self.handshaking = False
        self.collect()
        return True

    def decrypt(self, dst: Buffer, limit: int) -> Decrypted:
        """Read plaintext into ``dst``, at most ``limit`` bytes (negative: no limit)."""
        got, ended, error = 0, False, None
        while limit < 0 or got < limit:
            n = RECORD if limit < 0 else min(limit - got, RECORD)
            try:
                # with a buffer, read() returns a count (typeshed says bytes)
                count: int = cast(int, self.ssl.read(n, dst.reserve(n)))
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify, seen after ours was sent
                count = 0
            except (ssl.SSLError, OSError) as exc:
                ended, error = True, exc
                break
            if count == 0:  # close_notify
                ended = True
                break
            dst.commit(count)
            got += count
        self.collect()  # tickets, key updates, alerts
        return got, ended, error

    def encrypt(self, src: Buffer, cap: int) -> tuple[int, ssl.SSLError | None]:
        """Encrypt from ``src`` until ``raw_out`` holds ``cap`` bytes (negative: no cap).

        Returns the plaintext bytes taken and the error that stopped it, if any.
        """
        batch, taken, error = self.flags & TLSFlag.BATCH_WRITE, 0, None
        while src and (cap < 0 or len(self.raw_out) + self.outgoing.pending < cap):
            room = RECORD if cap < 0 else cap - len(self.raw_out) - self.outgoing.pending
            n = min(room, len(src), RECORD)
            view = src.pullup(n)[:n] if batch else src.peek(n)[0][:n]
            size = len(view)
            try:
                self.ssl.write(view)
            except ssl.SSLWantReadError:  # handshake or renegotiation messages first
                self.write_wants_read = True
                break
            except ssl.SSLError as exc:
                error = exc
                break
            finally:
                view.release()
            src.drain(size)
            taken += size
        self.collect()
        return taken, error

    def collect(self) -> None:
        """Move what OpenSSL produced to ``raw_out``."""
        if self.outgoing.pending:
            self.raw_out.add(self.outgoing.read())

    def close_notify(self) -> bool:
        """Queue a close_notify in ``raw_out`` if the session is up (no waiting for the peer's)."""
        if self.handshaking or self.stopped:
            return False
        try:
            self.ssl.unwrap()
        except ssl.SSLError:
            pass  # SSLWantReadError: ours is queued, the peer's not yet seen
        self.collect()
        return True

    def conclude(self, when: int, exc: BaseException | None) -> tuple[int, BaseException | None]:
        """Stop the session; the event bits and error to report for ``exc`` (None: close_notify)."""
        if isinstance(exc, ssl.SSLError):
            self.errors.append(exc)
        self.stopped = True
        if exc is None or (isinstance(exc, _DIRTY) and self.flags & TLSFlag.DIRTY_SHUTDOWN):
            return when | EOF, None
        return when | ERROR, exc
