"""The TCP side of :class:`~evweb.dns.server.DNSServer`: listeners and their client connections.

Why it looks like this. Over TCP each message has a 2-byte length prefix
(RFC 1035 §4.2.2) and RFC 7766 lets a client send several queries without
waiting, the replies coming back in any order, matched by id. So a
connection frames messages out of the bytes read (handed over by the
BufferEvent's data sink, without an input Buffer) and passes each to the
server as soon as it is whole; each reply is written, prefixed, when its
request is answered, which may be out of order and much later.

Bounds, because a client is a stranger:

* at most ``max_clients`` connections at once, over all listeners; beyond
  that a new connection is accepted and closed at once (as libevent does),
  so the client learns at once instead of waiting in the backlog;
* at most :data:`MAX_INFLIGHT` queries per connection waiting for their
  answers; past that the connection stops reading (the kernel's buffers
  push back on the client) until answers go out;
* a connection idle for ``idle_timeout`` seconds is closed: the
  BufferEvent's read and write timeouts, re-armed while a query of the
  connection is still with the handler (so a slow answer is not cut off),
  and a client that takes no reply for that long is closed too;
* a zero length prefix is a message that cannot even hold a header: the
  connection is closed. A prefix larger than what follows just waits for
  the rest, until the idle timeout or the client's close.

When the client closes its side while queries are in flight, the answers
still go out, and the connection closes once the last has been written.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

from evweb.io import BevEvent, BevOption, BufferEvent, Listener, ListenerFlag, SocketBufferEvent
from evweb.reactor import READ

if TYPE_CHECKING:
    from evweb.dns.server import DNSServer

log = logging.getLogger("evweb.dns")

MAX_INFLIGHT = 256
"""Queries of one connection the handler may hold at once before the connection stops reading."""


def check_max_clients(value: int) -> int:
    """``value`` if it can be a cap on TCP clients (an int >= 0); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_tcp_clients must be an int >= 0, got {value!r}")
    return value


def check_idle_timeout(value: float) -> float:
    """``value`` in seconds if it can be an idle timeout (> 0); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        raise ValueError(f"tcp_idle_timeout must be seconds > 0, got {value!r}")
    return float(value)


class TCPServerSide:
    """The TCP listeners of a server and the connections they accepted."""

    __slots__ = ("_clients", "_listeners", "_server", "idle_timeout", "max_clients")

    def __init__(self, server: DNSServer, max_clients: int, idle_timeout: float) -> None:
        self.max_clients = check_max_clients(max_clients)
        self.idle_timeout = check_idle_timeout(idle_timeout)  # the setter's rule, from the start
        self._server = server
        self._listeners: list[Listener] = []
        self._clients: set[TCPClient] = set()

    def __repr__(self) -> str:
        return f"{len(self._listeners)}/{len(self._clients)}"

    @property
    def addresses(self) -> list[tuple[Any, ...]]:
        """The listeners' addresses."""
        return [tuple(listener.address) for listener in self._listeners]

    @property
    def client_count(self) -> int:
        """Connections open now."""
        return len(self._clients)

    def listen(self, address: tuple[Any, ...]) -> tuple[Any, ...]:
        """Listen on a new socket bound to ``address``; the bound address."""
        listener = Listener.bind(
            self._server.base, self._on_accept, address, flags=ListenerFlag.REUSEABLE
        )
        self._listeners.append(listener)
        return tuple(listener.address)

    def adopt(self, sock: socket.socket) -> tuple[Any, ...]:
        """Listen on a bound socket, which the listener closes in the end; its address."""
        listener = Listener(
            self._server.base, self._on_accept, sock=sock, flags=ListenerFlag.CLOSE_ON_FREE
        )
        self._listeners.append(listener)
        return tuple(listener.address)

    def attach(self, listener: Listener) -> tuple[Any, ...]:
        """Take the connections of an existing listener (its callback is replaced); its address.

        :meth:`close` closes the listener.
        """
        listener.set_callback(self._on_accept)
        self._listeners.append(listener)
        return tuple(listener.address)

    def _on_accept(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        stats = self._server.stats
        if len(self._clients) >= self.max_clients:
            stats.tcp_refused += 1
            sock.close()
            return
        stats.tcp_accepted += 1
        self._clients.add(TCPClient(self, sock, address))

    def forget(self, client: TCPClient) -> None:
        """``client`` closed."""
        self._clients.discard(client)

    def close(self) -> None:
        """Close the listeners and every connection."""
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        for client in list(self._clients):
            client.close()
        self._clients.clear()


class TCPClient:
    """One client connection: frames its queries, writes their replies (a server's sink)."""

    __slots__ = (
        "_bev",
        "_buf",
        "_eof",
        "_inflight",
        "_paused",
        "_receive",
        "_side",
        "closed",
        "peer",
    )

    transport = "tcp"

    def __init__(self, side: TCPServerSide, sock: socket.socket, peer: Any) -> None:
        self.peer = peer
        self.closed = False
        self._side = side
        self._receive = side._server._receive
        self._buf = bytearray()
        self._inflight = 0  # messages handed to the server, not yet answered nor dropped
        self._paused = False  # reading stopped: too many in flight
        self._eof = False  # the client closed its side
        bev = self._bev = SocketBufferEvent(side._server.base, sock, BevOption.CLOSE_ON_FREE)
        bev.set_callbacks(event=self._on_event)
        bev.set_data_sink(self._on_data)
        bev.set_timeouts(side.idle_timeout, side.idle_timeout)
        bev.enable(READ)

    def __repr__(self) -> str:
        return (
            f"<TCPClient {self.peer!r} inflight={self._inflight}{' closed' if self.closed else ''}>"
        )

    # --- queries in ---------------------------------------------------------------------

    def _on_data(self, bev: SocketBufferEvent, data: bytes) -> None:
        self._buf += data
        self._frame()

    def _frame(self) -> None:
        """Hand each whole message in the buffer to the server, up to the in-flight cap."""
        buf = self._buf
        pos = 0
        receive = self._receive
        while len(buf) - pos >= 2 and self._inflight < MAX_INFLIGHT:
            length = buf[pos] << 8 | buf[pos + 1]
            if not length:
                log.debug("%r sent a zero-length message: closing", self)
                self.close()
                return
            end = pos + 2 + length
            if end > len(buf):
                break
            message = bytes(buf[pos + 2 : end])
            pos = end
            self._inflight += 1
            receive(message, self.peer, self)
            if self.closed:
                return
        del buf[:pos]
        if self._inflight >= MAX_INFLIGHT and not self._paused:
            self._paused = True
            self._bev.disable(READ)

    # --- replies out (the sink) ------------------------------------------------------------

    def send(self, wire: bytes, peer: Any) -> None:
        """Write one reply, length-prefixed."""
        if not self.closed:
            self._bev.write(len(wire).to_bytes(2, "big") + wire)
        self._finished()

    def release(self) -> None:
        """One message will get no reply."""
        self._finished()

    def _finished(self) -> None:
        self._inflight -= 1
        if self.closed:
            return
        if self._eof and not self._inflight:
            self._close_when_flushed()
        elif self._paused and self._inflight < MAX_INFLIGHT // 2:
            self._paused = False
            self._bev.enable(READ)
            self._frame()

    # --- the connection's end ----------------------------------------------------------

    def _on_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        if what & BevEvent.TIMEOUT and what & BevEvent.READING and self._inflight:
            bev.enable(READ)  # idle only for want of an answer: wait on
            return
        if what & BevEvent.EOF and what & BevEvent.READING and self._inflight:
            self._eof = True  # answer what was asked, then close
            return
        self.close()

    def _close_when_flushed(self) -> None:
        if not self._bev.output:
            self.close()
            return
        self._bev.set_callbacks(write=lambda bev, arg: self.close(), event=self._on_event)

    def close(self) -> None:
        """Close the connection (idempotent); replies not yet written are lost."""
        if not self.closed:
            self.closed = True
            self._bev.close()
            self._side.forget(self)
