"""SocketBufferEvent: a BufferEvent over a non-blocking socket (``bufferevent_socket_new``).

Two persistent events carry the traffic: one for READ, added while reading
is enabled and not suspended by the high watermark, and one for WRITE, added
while writing is enabled and the output holds data (or a connect is in
progress). Each carries its direction's timeout, so a timeout only runs
while the BufferEvent is actually trying to read or write, as in libevent.
The output buffer's callback adds the WRITE event as soon as data arrives;
the input buffer's callback resumes reading once the user drains it below
the high watermark.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evweb.errors import ConfigError
from evweb.io._bufio import recv_bytes
from evweb.io._callbacks import CallbackHandle
from evweb.io.bevflags import CONNECTED, EOF, ERROR, READING, TIMEOUT, WRITING, BevOption
from evweb.io.bufferevent import BufferEvent
from evweb.reactor import PERSIST, READ, WRITE, DeferredCallback, Event, EventBase
from evweb.reactor import TIMEOUT as EV_TIMEOUT

if TYPE_CHECKING:
    from evweb.io.ratelim import RateLimiter

Address = tuple[Any, ...] | str
DataSink = Callable[["SocketBufferEvent", bytes], object]
"""``sink(bev, data)``: bytes just read, handed over without passing through the input."""
Socket = socket.socket  # the class; inside SocketBufferEvent ``socket`` is a property
_AF_UNSPEC = socket.AF_UNSPEC


SENDFILE_MAX_WRITE = 16 << 20
"""Bytes one ``os.sendfile`` may be asked to send (the send buffer takes at most a few MiB)."""


class SocketBufferEvent(BufferEvent):
    """A BufferEvent reading from and writing to a socket.

    ``sock`` may be a socket, an fd, or None for one that :meth:`connect`
    creates. With ``CLOSE_ON_FREE`` (libevent's ``BEV_OPT_CLOSE_ON_FREE``)
    :meth:`close` closes the socket; otherwise the socket is left open.

    Data written while the socket can take it goes out at once (subclasses
    that transform the bytes, like TLS, turn that off with
    ``_inline_writes``); the write callback runs from the loop either way.
    """

    __slots__ = (
        "_connecting",
        "_input_watch",
        "_owns_wrapper",
        "_ratelim",
        "_reader",
        "_reading",
        "_sink",
        "_sock",
        "_write_done",
        "_writer",
        "_writing",
    )

    _inline_writes = True

    def __init__(
        self,
        base: EventBase,
        sock: Socket | int | None = None,
        options: BevOption | int = BevOption.NONE,
    ) -> None:
        super().__init__(base, options)
        self._sock: Socket | None = None
        self._owns_wrapper = False
        self._connecting = False
        self._reader: Event | None = None
        self._writer: Event | None = None
        self._reading = self._writing = False
        self._ratelim: RateLimiter | None = None  # see evweb.io.ratelim
        self._write_done: DeferredCallback | None = None
        self._input_watch: CallbackHandle | None = None
        self._sink: DataSink | None = None
        self.output.add_callback(self._on_output_changed)
        if sock is not None:
            self.setfd(sock)

    # --- the socket -------------------------------------------------------------

    @property
    def socket(self) -> Socket | None:
        """The socket, or None before :meth:`connect` created one."""
        return self._sock

    def shutdown_write(self) -> bool:
        """Half-close: send FIN after what was already sent, keep reading (``shutdown(SHUT_WR)``).

        Call it once the output has drained. False when there is no socket or
        the kernel refused (the peer is gone already).
        """
        if self._sock is None:
            return False
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            return False
        return True

    def fileno(self) -> int:
        """The socket's fd, or -1 (``bufferevent_getfd``)."""
        return self._sock.fileno() if self._sock is not None else -1

    def setfd(self, sock: Socket | int) -> None:
        """Use ``sock`` from now on (``bufferevent_setfd``); it is made non-blocking.

        The previous socket is left open, as in libevent.
        """
        self._drop_events()
        self._release_socket(close=False)
        self._owns_wrapper = isinstance(sock, int)
        if isinstance(sock, int):
            sock = socket.socket(fileno=sock)
        sock.setblocking(False)
        self._sock = sock
        self._reader = Event(self._base, sock, READ | PERSIST, self._on_readable)
        self._writer = Event(self._base, sock, WRITE | PERSIST, self._on_writable)
        self._update_io()

    def connect_hostname(
        self,
        host: str,
        port: int,
        family: int = _AF_UNSPEC,
        resolver: Any = None,
    ) -> Any:
        """Resolve ``host`` and connect to the first address that answers (RFC 8305).

        See :func:`evweb.io.connect.connect_hostname`; returns its handle.
        """
        from evweb.io.connect import connect_hostname  # connect.py imports this module

        return connect_hostname(self, host, port, family, resolver)

    def connect(self, address: Address) -> None:
        """Connect to ``address`` without blocking; the event callback then gets CONNECTED or ERROR.

        A socket of the address's family is created when the BufferEvent has none.
        """
        if self._sock is None:
            family = socket.AF_UNIX if isinstance(address, str) else _family_of(address)
            self.setfd(socket.socket(family, socket.SOCK_STREAM))
            self.options |= BevOption.CLOSE_ON_FREE
        assert self._sock is not None
        try:
            self._sock.connect(address)
        except (BlockingIOError, InterruptedError):
            self._connecting = True
        except OSError as exc:
            self._fail_connect_later(exc)
            return
        else:
            self._connecting = True  # reported CONNECTED from the loop, like a deferred connect
        self._update_io()

    def _fail_connect_later(self, exc: OSError) -> None:
        def report(fd: int, what: int, arg: Any) -> None:
            if not self._closed:
                self._call_event(ERROR, exc)

        self._base.once(-1, EV_TIMEOUT, report)

    # --- interest ------------------------------------------------------------------

    def _update_io(self) -> None:
        self._apply_interest(restart=False)

    def _restart_io(self) -> None:
        self._apply_interest(restart=True)

    def _apply_interest(self, restart: bool) -> None:
        if self._reader is None or self._writer is None:
            return
        want_read, want_write = (False, False) if self._closed else self._wants()
        read_to = self.read_timeout if self._enabled & READ else None
        write_to = self.write_timeout if self._enabled & WRITE or self._connecting else None
        self._set_interest(self._reader, want_read, read_to, "_reading", restart)
        self._set_interest(self._writer, want_write, write_to, "_writing", restart)

    def _wants(self) -> tuple[bool, bool]:
        """Whether the socket should be polled for reading and for writing now.

        Subclasses that talk to the socket on their own account (TLS: the
        handshake, a write that needs a read) override this alone.
        """
        lim = self._ratelim
        want_read = (
            bool(self._enabled & READ)
            and not self._suspended_read
            and not self._connecting  # the connect's outcome comes first, as ERROR or CONNECTED
            and not (lim is not None and lim.read_suspended)
        )
        want_write = self._connecting or (
            bool(self._enabled & WRITE)
            and len(self.output) > 0
            and not (lim is not None and lim.write_suspended)
        )
        return want_read, want_write

    def _set_interest(
        self, ev: Event, want: bool, timeout: float | None, flag: str, restart: bool
    ) -> None:
        if want and (restart or not getattr(self, flag)):
            ev.add(timeout)  # starts (or, on enable/set_timeouts, restarts) the timeout
            setattr(self, flag, True)
        elif not want and getattr(self, flag):
            ev.delete()
            setattr(self, flag, False)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data``; with nothing queued before it, try to send it at once.

        When the output is empty and nobody else watches it, the bytes go
        straight to the socket without passing through the Buffer, and only
        what the socket did not take is queued: one ``send`` per message, as
        asyncio's ``transport.write`` does. Errors are left for the WRITE
        event to report from the loop, as for any queued data.
        """
        out = self.output
        if (
            out._len
            or len(out._callbacks) != 1
            or not self._can_send_now()
            or len(data) > self.max_single_write
        ):
            out.add(data)
            return
        assert self._sock is not None
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            out.add(data)
            return
        if sent < len(data):
            if sent and type(data) is bytes:
                out._append_bytes_from(data, sent)  # the rest, without a copy
            else:
                out.add(memoryview(data)[sent:] if sent else data)
        elif self._write_cb is not None:
            self._schedule_write_done()

    def _can_send_now(self) -> bool:
        return (
            self._inline_writes
            and not self._connecting
            and self._ratelim is None
            and not self._closed
            and bool(self._enabled & WRITE)
            and self._sock is not None
            and not self.output._frozen_back
        )

    def set_data_sink(self, sink: DataSink | None) -> None:
        """Hand bytes read to ``sink(bev, data)``, not to the input (asyncio's ``data_received``).

        The read callback is not called for them. While the input holds
        bytes (added before the sink was set), reads go to the input as
        usual. Not allowed with ``DEFER_CALLBACKS``; None restores the input.
        """
        if sink is not None and self._deferred is not None:
            raise ConfigError("a data sink cannot be used with DEFER_CALLBACKS")
        self._sink = sink

    def _on_output_changed(self, buffer: Any, info: Any) -> None:
        if info.n_added and not self._writing and self._enabled & WRITE and not self._closed:
            if self._inline_writes and not self._connecting:
                self._write_now()
            if self.output:
                self._update_io()

    def _write_now(self) -> None:
        """Send what was just queued without waiting for the loop, as asyncio's write() does.

        The socket can nearly always take it, so this saves a loop pass and
        the WRITE event's registration per message. What does not go out
        waits for the WRITE event, and errors are left for it to report
        from the loop. The write callback runs from the loop either way.
        """
        howmuch = self._send_budget()
        if howmuch <= 0 or self._sock is None:
            return
        try:
            n = self.output.write_to(self._sock, howmuch)
        except OSError:
            return
        self._note_written(n)
        if len(self.output) <= self.write_low and self._write_cb is not None:
            self._schedule_write_done()

    def _schedule_write_done(self) -> None:
        if self._write_done is None:
            self._write_done = self._base.deferred(self._after_inline_write)
        self._write_done.schedule()

    def _after_inline_write(self, arg: Any) -> None:
        if not self._closed:
            self._call_write()

    def _on_input_changed(self, buffer: Any, info: Any) -> None:
        if self._suspended_read and info.n_deleted:
            self._check_read_suspension()

    def _check_read_suspension(self) -> None:
        # Watch the input only while reading is suspended: draining it is what
        # resumes reading, and a callback on every read costs a Buffer
        # notification per read for nothing.
        was = self._suspended_read
        super()._check_read_suspension()
        if self._suspended_read == was:
            return
        if self._suspended_read:
            self._input_watch = self.input.add_callback(self._on_input_changed)
        elif self._input_watch is not None:
            self.input.remove_callback(self._input_watch)
            self._input_watch = None

    # --- traffic ------------------------------------------------------------------

    def _on_readable(self, fd: int, what: int, arg: Any) -> None:
        if what & EV_TIMEOUT:
            self._timed_out(READ)
            return
        howmuch = self._read_budget()
        if howmuch <= 0:
            self._pause(self._reader, "_reading")
            return
        assert self._sock is not None
        if self._sink is not None and not self.input._len:
            self._read_to_sink(self._sink, howmuch)
            return
        try:
            n = self.input.read_from(self._sock, howmuch)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._read_ended(exc)
            return
        if n == 0:
            self._read_ended(None)
            return
        self._note_read(n)
        self._check_read_suspension()
        self._call_read()

    def _read_to_sink(self, sink: DataSink, howmuch: int) -> None:
        assert self._sock is not None
        try:
            data = recv_bytes(self._sock, min(howmuch, self.input.max_read))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._read_ended(exc)
            return
        if not data:
            self._read_ended(None)
            return
        self._note_read(len(data))
        sink(self, data)

    def _read_ended(self, error: OSError | None) -> None:
        """A read failed (``error``) or met EOF (None): reading stops and is reported."""
        self.disable(READ)
        if error is None:
            self._call_event(READING | EOF)
        else:
            self._call_event(READING | ERROR, error)

    def _on_writable(self, fd: int, what: int, arg: Any) -> None:
        if what & EV_TIMEOUT:
            self._timed_out(WRITE)
            return
        if self._connecting:
            self._finish_connect()
            return
        howmuch = self._send_budget()
        if howmuch <= 0:
            self._pause(self._writer, "_writing")
            return
        self._send_output(howmuch)

    def _send_output(self, howmuch: int) -> None:
        """The socket is writable: send up to ``howmuch`` bytes (TLS encrypts the output first)."""
        assert self._sock is not None
        try:
            n = self.output.write_to(self._sock, howmuch)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.disable(WRITE)
            self._call_event(WRITING | (EOF if exc.errno == errno.EPIPE else ERROR), exc)
            return
        self._note_written(n)
        if not self.output:
            self._update_io()
        self._call_write()

    def _timed_out(self, direction: int) -> None:
        """A read or write timeout: that direction is disabled and reported."""
        self.disable(direction)
        self._call_event((READING if direction == READ else WRITING) | TIMEOUT)

    def _pause(self, ev: Event | None, flag: str) -> None:
        """No budget now (a rate limit): stop polling until the next _update_io.

        Returning with the event still added would spin: the socket stays
        ready, level-triggered.
        """
        if ev is not None and getattr(self, flag):
            ev.delete()
            setattr(self, flag, False)

    def _finish_connect(self) -> None:
        assert self._sock is not None
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._connecting = False
        self._update_io()
        if code:
            self._call_event(ERROR, OSError(code, errno.errorcode.get(code, str(code))))
        else:
            self._connected()

    def _connected(self) -> None:
        """The TCP connect succeeded (TLS reports CONNECTED after its handshake instead)."""
        self._call_event(CONNECTED)

    # --- extension points (rate limits, TLS) --------------------------------------

    def _read_budget(self) -> int:
        """Bytes one read may take: the single-read cap, within the watermark and rate limits."""
        howmuch = self.max_single_read
        if self.read_high:
            howmuch = min(howmuch, self.read_high - len(self.input))
        if self._ratelim is not None:
            howmuch = min(howmuch, self._ratelim.budget(0))
        return howmuch

    def _send_budget(self) -> int:
        """Bytes the next socket write may send (TLS, sending no files, uses _write_budget).

        A file segment at the front goes out with ``os.sendfile``: its bytes
        never pass through Python, so ``max_single_write`` (a bound on what
        one callback copies) does not apply; the socket's free send buffer
        bounds the call, as in asyncio's ``sendfile``. Rate limits still do.
        """
        segs = self.output._segs
        if segs:
            file = segs[0].file
            if file is not None and file.can_sendfile:
                if self._ratelim is not None:
                    return min(SENDFILE_MAX_WRITE, self._ratelim.budget(1))
                return SENDFILE_MAX_WRITE
        return self._write_budget()

    def _write_budget(self) -> int:
        """Bytes one write may send: the single-write cap, less what rate limits allow."""
        if self._ratelim is not None:
            return min(self.max_single_write, self._ratelim.budget(1))
        return self.max_single_write

    def _note_read(self, n: int) -> None:
        """``n`` bytes were read from the socket (a rate limiter charges them here)."""
        if self._ratelim is not None:
            self._ratelim.charge(0, n)

    def _note_written(self, n: int) -> None:
        """``n`` bytes were written to the socket."""
        if self._ratelim is not None:
            self._ratelim.charge(1, n)

    # --- lifetime -------------------------------------------------------------------

    def _drop_events(self) -> None:
        for ev in (self._reader, self._writer):
            if ev is not None:
                ev.delete()
        self._reader = self._writer = None
        self._reading = self._writing = False

    def close(self) -> None:
        """Stop IO and callbacks; close the socket with CLOSE_ON_FREE, else leave it open."""
        if self._closed:
            return
        from evweb.io.connect import cancel_pending_connect  # connect.py imports this module

        cancel_pending_connect(self)
        if self._ratelim is not None:
            self._ratelim.release()
        super().close()
        if self._write_done is not None:
            self._write_done.cancel()
        self._drop_events()
        self._release_socket(close=bool(self.options & BevOption.CLOSE_ON_FREE))
        self.output.free()  # what was never sent: file segments close their fds now, not never

    def _release_socket(self, close: bool) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if close:
            sock.close()
        elif self._owns_wrapper:
            sock.detach()  # the caller's fd stays open
        self._owns_wrapper = False


def _family_of(address: tuple[Any, ...]) -> socket.AddressFamily:
    host = address[0]
    if not isinstance(host, str):
        raise ConfigError(f"cannot connect to {address!r}: expected (host, port) or a path")
    return socket.AF_INET6 if ":" in host else socket.AF_INET
