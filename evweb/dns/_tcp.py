"""A TCP connection to one nameserver: queries out, replies back, each with a 2-byte length.

Why it looks like this. RFC 7766 lets a client pipeline queries on one
connection and take the replies in any order, matched by id; libevent keeps
one such connection per nameserver and closes it after ``tcp-idle-timeout``
without requests. Replies are framed here from the raw bytes (the
BufferEvent's data sink hands them over without an input Buffer), parsed
from a remembered offset so that many replies in one read cost one pass.
A zero length is a protocol error: the connection is dropped and its
requests are retried by the engine.

Idle handling depends on whether the resolver keeps the loop alive. When it
does, an idle connection keeps reading and an idle timer closes it. When it
does not, an idle connection stops reading (so it holds no event and the
loop may end) and is checked before its next use instead: past the idle
timeout, or closed by the server meanwhile (seen with a ``MSG_PEEK``), it is
replaced by a new one.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from evweb.dns.resolv_conf import Address
from evweb.io import BevEvent, BufferEvent, SocketBufferEvent
from evweb.reactor import READ, EventBase

LostCallback = Callable[["TCPChannel", "BaseException | None"], object]


class TCPChannel:
    """One pipelined, length-prefixed TCP connection; ``deliver(message)`` gets each reply.

    ``lost(channel, exc)`` is called when the server closes the connection
    or it fails (not when :meth:`close` is called).
    """

    __slots__ = (
        "_bev",
        "_buf",
        "_deliver",
        "_idle_since",
        "_idle_timer",
        "_keep_alive",
        "closed",
        "lost",
    )

    def __init__(
        self,
        base: EventBase,
        address: Address,
        deliver: Callable[[bytes], object],
        keep_alive: bool,
    ) -> None:
        self._deliver = deliver
        self._keep_alive = keep_alive
        self._buf = bytearray()
        self._idle_since: float | None = None
        self._idle_timer = base.timer(self._on_idle)
        self.closed = False
        self.lost: LostCallback | None = None
        bev = self._bev = SocketBufferEvent(base)
        bev.set_callbacks(event=self._on_event)
        bev.set_data_sink(self._on_data)
        bev.enable(READ)
        bev.connect(address)

    def __repr__(self) -> str:
        return f"<TCPChannel fd={self._bev.fileno()}{' closed' if self.closed else ''}>"

    def send(self, wire: bytes) -> None:
        """Queue one message (the length prefix is added here)."""
        self._bev.write(len(wire).to_bytes(2, "big") + wire)

    def usable(self, idle_timeout: float) -> bool:
        """Whether the connection can carry another query (see the module's notes)."""
        if self.closed:
            return False
        since = self._idle_since
        if since is None:
            return True
        if time.monotonic() - since >= idle_timeout:
            return False
        sock = self._bev.socket
        if sock is None:
            return False
        try:
            sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True  # nothing to read: still open
        except OSError:
            return False
        return False  # EOF, or bytes nobody asked for

    def set_busy(self, busy: bool, idle_timeout: float) -> None:
        """Requests now wait on the connection (``busy``), or none does any more."""
        if self.closed:
            return
        if busy:
            self._idle_timer.delete()
            if self._idle_since is not None:
                self._idle_since = None
                self._bev.enable(READ)
        elif self._keep_alive:
            self._idle_timer.add(idle_timeout)
        else:
            self._idle_since = time.monotonic()
            self._bev.disable(READ)

    def _on_idle(self, fd: int, what: int, arg: Any) -> None:
        self.close()

    def _on_data(self, bev: SocketBufferEvent, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            length = buf[pos] << 8 | buf[pos + 1]
            if not length:
                self._fail(ConnectionError("a zero-length DNS message over TCP"))
                return
            end = pos + 2 + length
            if end > size:
                break
            message = bytes(buf[pos + 2 : end])
            pos = end
            self._deliver(message)
            if self.closed:
                return
        del buf[:pos]

    def _on_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        if what & BevEvent.CONNECTED:
            return
        self._fail(bev.error)

    def _fail(self, exc: BaseException | None) -> None:
        self.close()
        if self.lost is not None:
            self.lost(self, exc)

    def close(self) -> None:
        """Close the connection (idempotent); ``lost`` is not called."""
        if not self.closed:
            self.closed = True
            self._idle_timer.delete()
            self._bev.close()
