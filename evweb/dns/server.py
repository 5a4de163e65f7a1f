"""A DNS server: UDP sockets and TCP listeners answering through one handler.

>>> def handler(request):
...     question = request.questions[0]
...     request.add_a(question.name, ["192.0.2.1"], 300)
...     request.respond()
>>> server = DNSServer(base, handler)
>>> host, port = server.listen_udp(("127.0.0.1", 5353))
>>> server.listen_tcp((host, port))
>>> base.dispatch()

Why it is shaped this way. An authoritative server built on this must keep
up with dnsmasq, so the UDP path is flat: a readable socket is drained of
up to :data:`MAX_DATAGRAMS_PER_WAKEUP` datagrams, each is one ``recvfrom``,
one parse, the handler, one encode and one ``sendto``, with no timer and no
object but the request. The parse and the encode of the usual query (one
question, perhaps an OPT record) take the short paths of
:mod:`evweb.dns._server_wire`, which give the codec's results byte for
byte. Work that only bad packets need is done before the
parse from the header's bytes (replies and short packets are dropped, other
opcodes answered NOTIMP) or after it failed (FORMERR).

Every message handed to :meth:`DNSServer._receive` ends in exactly one
``sink.send`` or one ``sink.release``: a sink is the UDP port or the TCP
connection it came from, and the TCP side counts its queries in flight
that way (for its cap and its idle timeout).

Rules for what comes in, whatever the bytes:

* fewer than 12 bytes, or the QR bit set (a reply, perhaps spoofed to make
  two servers talk forever): dropped, never answered;
* an opcode other than QUERY: NOTIMP, header only;
* a message that does not parse (counts that lie, pointer loops, labels
  over 63 bytes, trailing bytes, ...) or holds no question: FORMERR, header
  only (the id, opcode, RD and CD copied);
* an EDNS version other than 0: BADVERS (RFC 6891 §6.1.3);
* anything else goes to ``handler(request)``. A handler that raises is
  logged and its request answered SERVFAIL; one that returns without
  answering may answer later, from the loop; whatever is still unanswered
  when the server closes is answered SERVFAIL then.

Replies carry the query's id, opcode, RD and CD, the question echoed, the
records added and the rcode; names are compressed. A UDP reply is limited
to 512 bytes, or the query's EDNS payload size (at most
:data:`MAX_UDP_REPLY`); what does not fit is left out, whole records from
the first that does not fit on, with TC set when an answer or authority
record was. TCP replies are never truncated.

Differences from libevent: malformed queries and queries without a question
are answered FORMERR (libevent drops the first and hands the second to the
callback), and truncation keeps whole records where libevent cuts the bytes
at the limit.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections import deque
from typing import Any

from evweb.dns._server_request import (
    ADDITIONAL,
    ANSWER,
    AUTHORITY,
    MAX_UDP_REPLY,
    Handler,
    Section,
    ServerRequest,
    ServerStats,
    Sink,
    header_reply,
)
from evweb.dns._server_tcp import TCPServerSide, check_idle_timeout, check_max_clients
from evweb.dns._server_wire import read_query
from evweb.dns.constants import Rcode
from evweb.dns.message import Message
from evweb.errors import DNSFormatError, EventStateError
from evweb.io import Listener
from evweb.reactor import PERSIST, READ, WRITE, EventBase

log = logging.getLogger("evweb.dns")

MAX_DATAGRAMS_PER_WAKEUP = 64
"""Datagrams read per wake-up of a UDP socket; the rest wait for the next loop iteration."""

MAX_UDP_BACKLOG = 1024
"""Replies kept while a UDP socket's send buffer is full; more are dropped (as UDP may)."""

_RECV_SIZE = 65535
_QR_BYTE = 0x80  # QR in the flags word's first byte
_OPCODE_BYTE = 0x78  # the opcode there
_NOTIMP = int(Rcode.NOTIMP)
_FORMERR = int(Rcode.FORMERR)
_BADVERS = int(Rcode.BADVERS)
_parse = Message.parse


class DNSServer:
    """Answers DNS queries on UDP sockets and TCP listeners through ``handler(request)``.

    ``handler`` gets a :class:`ServerRequest` for each well-formed query
    and answers it with ``request.respond(rcode)`` or ``request.drop()``,
    at once or later from the loop. ``max_tcp_clients`` caps the TCP
    connections open at once (beyond it new ones are closed as soon as
    accepted) and ``tcp_idle_timeout`` closes a connection that neither
    sent a query nor took a reply for that many seconds while none of its
    queries was waiting; the defaults are libevent's.
    """

    __slots__ = ("_closed", "_handler", "_pending", "_tcp", "_udp", "base", "stats")

    def __init__(
        self,
        base: EventBase,
        handler: Handler,
        *,
        max_tcp_clients: int = 10,
        tcp_idle_timeout: float = 10.0,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"handler {handler!r} is not callable")
        self.base = base
        self.stats = ServerStats()
        self._handler = handler
        self._pending: dict[ServerRequest, None] = {}  # unanswered after the handler returned
        self._udp: list[_UDPPort] = []
        self._tcp = TCPServerSide(self, max_tcp_clients, tcp_idle_timeout)
        self._closed = False

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        sockets = f"udp={len(self._udp)} tcp={self._tcp!r}"
        return f"<DNSServer {sockets} pending={len(self._pending)}{state}>"

    # --- sockets ----------------------------------------------------------------------

    def listen_udp(self, address: tuple[Any, ...]) -> tuple[Any, ...]:
        """Answer on a new UDP socket bound to ``address`` (port 0: any); the bound address."""
        self._check_open()
        sock = socket.socket(_family(address[0]), socket.SOCK_DGRAM)
        try:
            sock.bind(address)
        except BaseException:
            sock.close()
            raise
        return self._add_udp(sock)

    def listen_tcp(self, address: tuple[Any, ...]) -> tuple[Any, ...]:
        """Answer on a new TCP listener bound to ``address`` (port 0: any); the bound address."""
        self._check_open()
        return self._tcp.listen(address)

    def add_socket(self, sock: socket.socket) -> tuple[Any, ...]:
        """Answer on a bound socket: UDP, or a TCP one (``listen`` is called); the server owns it.

        Returns the socket's address. The socket is closed by :meth:`close`.
        """
        self._check_open()
        if sock.type == socket.SOCK_DGRAM:
            return self._add_udp(sock)
        if sock.type == socket.SOCK_STREAM:
            return self._tcp.adopt(sock)
        raise ValueError(f"{sock!r} is neither a UDP nor a TCP socket")

    def add_listener(self, listener: Listener) -> tuple[Any, ...]:
        """Answer on the connections of a :class:`~evweb.io.Listener` (its callback is replaced).

        Returns its address; :meth:`close` closes it.
        """
        self._check_open()
        return self._tcp.attach(listener)

    def _add_udp(self, sock: socket.socket) -> tuple[Any, ...]:
        sock.setblocking(False)
        port = _UDPPort(self, sock)
        self._udp.append(port)
        address: tuple[Any, ...] = sock.getsockname()
        return address

    @property
    def udp_addresses(self) -> list[tuple[Any, ...]]:
        """The addresses of the UDP sockets."""
        return [port.address for port in self._udp]

    @property
    def tcp_addresses(self) -> list[tuple[Any, ...]]:
        """The addresses of the TCP listeners."""
        return self._tcp.addresses

    @property
    def tcp_clients(self) -> int:
        """TCP connections open now."""
        return self._tcp.client_count

    @property
    def max_tcp_clients(self) -> int:
        """The cap on TCP connections open at once (settable; open ones stay)."""
        return self._tcp.max_clients

    @max_tcp_clients.setter
    def max_tcp_clients(self, value: int) -> None:
        self._tcp.max_clients = check_max_clients(value)

    @property
    def tcp_idle_timeout(self) -> float:
        """Seconds a TCP connection may stay idle (settable; for new connections)."""
        return self._tcp.idle_timeout

    @tcp_idle_timeout.setter
    def tcp_idle_timeout(self, value: float) -> None:
        self._tcp.idle_timeout = check_idle_timeout(value)

    @property
    def pending(self) -> int:
        """Requests the handler kept to answer later and has not answered yet."""
        return len(self._pending)

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise EventStateError("the DNS server is closed")

    def close(self) -> None:
        """Answer SERVFAIL to what is unanswered, then close every socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for request in list(self._pending):
            if not request.done:
                request.fail()
        self._pending.clear()
        for port in self._udp:
            port.close()
        self._udp.clear()
        self._tcp.close()

    def __enter__(self) -> DNSServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one message in ---------------------------------------------------------------

    def _receive(self, data: bytes, peer: Any, sink: Sink) -> None:
        """Handle one message from ``peer`` (see the module's rules)."""
        if len(data) < 12 or data[2] & _QR_BYTE:
            self.stats.dropped += 1
            sink.release()
            return
        if data[2] & _OPCODE_BYTE:
            self.stats.notimpl += 1
            self._reply_header(data, _NOTIMP, peer, sink)
            return
        parsed = read_query(data) or _parse_query(data)
        if parsed is None:
            self.stats.formerr += 1
            self._reply_header(data, _FORMERR, peer, sink)
            return
        message, question = parsed
        request = ServerRequest(self, message, peer, sink, question)
        if message.edns is not None and message.edns.version:
            request.respond(_BADVERS)
            return
        self.stats.queries += 1
        try:
            self._handler(request)
        except Exception:
            log.exception("the DNS server's handler failed on %r", request)
            if not request.done:
                request.fail()
            return
        if not request.done:
            self._pending[request] = None

    def _reply_header(self, data: bytes, rcode: int, peer: Any, sink: Sink) -> None:
        self.stats.responses += 1
        sink.send(header_reply(data, rcode), peer)


class _UDPPort:
    """One UDP socket: drains datagrams into the server and sends the replies."""

    __slots__ = ("_backlog", "_reader", "_receive", "_server", "_writer", "address", "sock")

    transport = "udp"

    def __init__(self, server: DNSServer, sock: socket.socket) -> None:
        self.sock = sock
        self.address: tuple[Any, ...] = sock.getsockname()
        self._server = server
        self._receive = server._receive
        self._backlog: deque[tuple[bytes, Any]] = deque()
        self._reader = server.base.event(sock, READ | PERSIST, self._on_readable)
        self._writer = server.base.event(sock, WRITE | PERSIST, self._on_writable)
        self._reader.add()

    def _on_readable(self, fd: int, what: int, arg: Any) -> None:
        recvfrom = self.sock.recvfrom
        receive = self._receive
        server = self._server
        for _ in range(MAX_DATAGRAMS_PER_WAKEUP):
            try:
                data, peer = recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error reported late, say: not this server's
                log.debug("recvfrom on %s failed: %s", self.address, exc)
                return
            receive(data, peer, self)
            if server._closed:  # by the handler
                return

    def send(self, wire: bytes, peer: Any) -> None:
        """Send a reply now, or queue it while the socket's buffer is full."""
        if self._backlog:
            self._queue(wire, peer)
            return
        try:
            self.sock.sendto(wire, peer)
        except (BlockingIOError, InterruptedError):
            self._queue(wire, peer)
        except OSError as exc:
            self._send_failed(exc, peer)

    def release(self) -> None:
        """A message got no reply: nothing to do for UDP."""

    def _queue(self, wire: bytes, peer: Any) -> None:
        if self.sock.fileno() < 0 or len(self._backlog) >= MAX_UDP_BACKLOG:
            self._server.stats.send_errors += 1
            return
        if not self._backlog:
            self._writer.add()
        self._backlog.append((wire, peer))

    def _on_writable(self, fd: int, what: int, arg: Any) -> None:
        backlog = self._backlog
        while backlog:
            wire, peer = backlog[0]
            try:
                self.sock.sendto(wire, peer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._send_failed(exc, peer)
            backlog.popleft()
        self._writer.delete()

    def _send_failed(self, exc: OSError, peer: Any) -> None:
        self._server.stats.send_errors += 1
        level = logging.DEBUG if exc.errno in _QUIET_SEND_ERRORS else logging.WARNING
        log.log(level, "sending a DNS reply to %s failed: %s", peer, exc)

    def close(self) -> None:
        """Stop reading and close the socket; queued replies are lost."""
        self._reader.delete()
        self._writer.delete()
        self._backlog.clear()
        self.sock.close()


def _parse_query(data: bytes) -> tuple[Message, None] | None:
    """The query in full (any shape), or None if it is malformed or asks nothing."""
    try:
        message = _parse(data)
    except DNSFormatError:
        return None
    return (message, None) if message.questions else None


_QUIET_SEND_ERRORS = {
    errno.EBADF,  # the server closed (a handler answering after closing it)
    errno.ECONNREFUSED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EACCES,
}


def _family(host: str) -> socket.AddressFamily:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0]) if host else None
    except ValueError:
        raise ValueError(f"listen on a numeric address, not {host!r}") from None
    return socket.AF_INET6 if isinstance(ip, ipaddress.IPv6Address) else socket.AF_INET


__all__ = [
    "ADDITIONAL",
    "ANSWER",
    "AUTHORITY",
    "MAX_DATAGRAMS_PER_WAKEUP",
    "MAX_UDP_BACKLOG",
    "MAX_UDP_REPLY",
    "DNSServer",
    "Handler",
    "Section",
    "ServerRequest",
    "ServerStats",
    "Sink",
]
