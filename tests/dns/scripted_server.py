"""An in-process nameserver whose every answer a test scripts (built with dnspython).

``ScriptedServer(base, handler)`` listens on 127.0.0.1 (or ``host``; UDP and TCP on one
port) with plain reactor events on ``base``; ``ScriptedServer.threaded()``
runs one on its own base in a thread, for tests whose loop must be able to
run dry. Each query is recorded in ``queries`` as a :class:`Query` and
given to ``handler(query)``, which returns what to send back:

* ``None``: nothing (a dropped query, for timeouts);
* a function of no argument, called when the reply goes out, for the payload;
* a ``dns.message.Message`` (see :func:`answer`, :func:`error`) or raw ``bytes``;
* :class:`Delayed` ``(seconds, payload)``, :class:`FromOtherPort` ``(payload)``
  (sent from another socket), or a list of payloads, sent in order.

The default handler answers from ``zone``: ``{"name": {"A": ["1.2.3.4"]}}``.
UDP replies longer than 512 bytes (or the query's EDNS size) are cut to the
question with TC set, as a real server does; TCP replies never are.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from evweb.reactor import ONCE, PERSIST, READ, TIMEOUT, Event, EventBase

Payload = Any  # dns.message.Message | bytes | Delayed | FromOtherPort | list | None
Handler = Callable[["Query"], Payload]


@dataclass
class Query:
    """One query as the server saw it."""

    message: dns.message.Message
    raw: bytes
    transport: str  # "udp" or "tcp"

    @property
    def name(self) -> str:
        """The question's name as sent (case kept), without the final dot."""
        return str(self.message.question[0].name.to_text()).rstrip(".")

    @property
    def rdtype(self) -> str:
        """The question's type mnemonic."""
        return dns.rdatatype.to_text(self.message.question[0].rdtype)

    @property
    def edns_payload(self) -> int | None:
        """The query's EDNS UDP size, or None without EDNS."""
        return self.message.payload if self.message.edns >= 0 else None


@dataclass
class Delayed:
    """Send ``payload`` after ``seconds``."""

    seconds: float
    payload: Payload


@dataclass
class FromOtherPort:
    """Send ``payload`` from another socket: another port, or ``host`` (same port) if given."""

    payload: Payload
    host: str | None = None


def answer(
    query: Query, rtype: str | None = None, *data: str, ttl: int = 300
) -> dns.message.Message:
    """A NOERROR reply with ``data`` as records of ``rtype`` owned by the question's name."""
    reply = dns.message.make_response(query.message)
    if data:
        qname = query.message.question[0].name
        reply.answer.append(dns.rrset.from_text(qname, ttl, "IN", rtype or query.rdtype, *data))
    return reply


def error(query: Query, rcode: int | str, soa_ttl: int | None = None) -> dns.message.Message:
    """A reply with ``rcode`` (a number or a mnemonic), with an SOA when ``soa_ttl`` is given."""
    reply = dns.message.make_response(query.message)
    reply.set_rcode(dns.rcode.from_text(rcode) if isinstance(rcode, str) else rcode)
    if soa_ttl is not None:
        soa = "ns.example.com. admin.example.com. 1 7200 3600 1209600 3600"
        reply.authority.append(dns.rrset.from_text("example.com.", soa_ttl, "IN", "SOA", soa))
    return reply


@dataclass
class _Conn:
    sock: socket.socket
    event: Event
    buf: bytearray = field(default_factory=bytearray)


class ScriptedServer:
    """A nameserver on ``host`` (UDP + TCP, one port) answering with ``handler``."""

    def __init__(
        self,
        base: EventBase,
        handler: Handler | None = None,
        zone: dict[str, dict[str, list[str]]] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.base = base
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.handler: Handler = handler or self.from_zone
        self.zone = {k.lower().rstrip("."): v for k, v in (zone or {}).items()}
        self.queries: list[Query] = []
        self.tcp_accepted = 0
        self.tcp_closed = 0
        self.udp, self.listener = _bind_pair(host, family)
        self.other = socket.socket(family, socket.SOCK_DGRAM)
        self.other.bind((host, 0))
        self.port = self.udp.getsockname()[1]
        self._conns: list[_Conn] = []
        self._elsewhere: dict[str, socket.socket] = {}
        self._events = [
            base.event(self.udp, READ | PERSIST, self._on_udp),
            base.event(self.listener, READ | PERSIST, self._on_accept),
        ]
        for ev in self._events:
            ev.add()
        self.closed = False

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port``), for ``add_nameserver``."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def names(self, transport: str | None = None) -> list[str]:
        """The names asked so far (of one transport, if given)."""
        return [q.name for q in self.queries if transport in (None, q.transport)]

    # --- answering ------------------------------------------------------------------

    def from_zone(self, query: Query) -> Payload:
        """The default handler: records from ``zone``, NXDOMAIN for unknown names."""
        records = self.zone.get(query.name.lower())
        if records is None:
            return error(query, "NXDOMAIN", soa_ttl=60)
        data = records.get(query.rdtype)
        if data is None:
            return error(query, "NOERROR", soa_ttl=60)
        return answer(query, query.rdtype, *data)

    def _on_udp(self, fd: int, what: int, arg: Any) -> None:
        while True:
            try:
                raw, peer = self.udp.recvfrom(65535)
            except BlockingIOError:
                return
            query = self._record(raw, "udp")
            if query is not None:
                out = lambda data, p=peer: self.udp.sendto(data, p)  # noqa: E731
                self._send(self.handler(query), query, out, peer)

    def _record(self, raw: bytes, transport: str) -> Query | None:
        try:
            message = dns.message.from_wire(raw)
        except Exception:
            return None
        query = Query(message, raw, transport)
        self.queries.append(query)
        return query

    def _send(
        self, payload: Payload, query: Query, out: Callable[[bytes], object], peer: Any = None
    ) -> None:
        if payload is None:
            return
        if isinstance(payload, list):
            for item in payload:
                self._send(item, query, out, peer)
        elif isinstance(payload, Delayed):
            inner = payload.payload
            later = lambda *a: self._send(inner, query, out, peer)  # noqa: E731
            self.base.once(-1, TIMEOUT, later, None, payload.seconds)
        elif isinstance(payload, FromOtherPort):
            assert peer is not None, "FromOtherPort works for UDP only"
            sock = self.other if payload.host is None else self._socket_on(payload.host)
            other = lambda data: sock.sendto(data, peer)  # noqa: E731
            self._send(payload.payload, query, other, peer)
        elif isinstance(payload, bytes):
            out(payload)
        elif callable(payload):
            self._send(payload(), query, out, peer)
        else:
            out(self._wire(payload, query))

    def _socket_on(self, host: str) -> socket.socket:
        """A UDP socket on ``host`` and this server's port (made once)."""
        sock = self._elsewhere.get(host)
        if sock is None:
            sock = self._elsewhere[host] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host, self.port))
        return sock

    def _wire(self, reply: dns.message.Message, query: Query) -> bytes:
        wire = bytes(reply.to_wire())
        limit = max(512, query.edns_payload or 512)
        if query.transport == "udp" and len(wire) > limit:
            cut = dns.message.make_response(query.message)
            cut.flags |= dns.flags.TC
            wire = bytes(cut.to_wire())
        return wire

    # --- TCP -------------------------------------------------------------------------

    def _on_accept(self, fd: int, what: int, arg: Any) -> None:
        sock, _ = self.listener.accept()
        sock.setblocking(False)
        self.tcp_accepted += 1
        conn = _Conn(sock, self.base.event(sock, READ | PERSIST, lambda *a: self._on_tcp(conn)))
        conn.event.add()
        self._conns.append(conn)

    def _on_tcp(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.buf += data
        while len(conn.buf) >= 2:
            size = struct.unpack_from("!H", conn.buf)[0]
            if len(conn.buf) < 2 + size:
                break
            raw = bytes(conn.buf[2 : 2 + size])
            del conn.buf[: 2 + size]
            query = self._record(raw, "tcp")
            if query is not None:
                self._send(self.handler(query), query, lambda d, c=conn: self._tcp_send(c, d))

    def _tcp_send(self, conn: _Conn, data: bytes) -> None:
        if conn in self._conns:
            conn.sock.sendall(struct.pack("!H", len(data)) + data)

    def _drop(self, conn: _Conn) -> None:
        if conn in self._conns:
            self._conns.remove(conn)
            conn.event.delete()
            conn.sock.close()
            self.tcp_closed += 1

    def close_tcp_connections(self) -> None:
        """Close every accepted connection (the server side of an idle close)."""
        for conn in list(self._conns):
            self._drop(conn)

    @property
    def tcp_open(self) -> int:
        """TCP connections open now."""
        return len(self._conns)

    # --- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Close every socket and event."""
        if self.closed:
            return
        self.closed = True
        for conn in list(self._conns):
            conn.event.delete()
            conn.sock.close()
        self._conns.clear()
        for ev in self._events:
            ev.delete()
        for sock in (self.udp, self.listener, self.other, *self._elsewhere.values()):
            sock.close()

    @classmethod
    @contextmanager
    def threaded(
        cls, handler: Handler | None = None, zone: dict[str, dict[str, list[str]]] | None = None
    ) -> Iterator[ScriptedServer]:
        """A server on its own base, in a thread (the test's loop can then run dry)."""
        base = EventBase()
        server = cls(base, handler, zone)
        stop = threading.Event()

        def run() -> None:
            guard = base.timer(lambda *a: None, persist=True)
            guard.add(0.01)
            while not stop.is_set():
                base.loop(ONCE)
            guard.delete()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            stop.set()
            thread.join(5)
            server.close()
            base.close()


def _bind_pair(host: str, family: int) -> tuple[socket.socket, socket.socket]:
    """A UDP socket and a listening TCP socket on one free port of ``host``."""
    for _ in range(50):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(16)
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise RuntimeError("no free port for both UDP and TCP")


def run_until(base: EventBase, done: Callable[[], object], timeout: float = 5.0) -> float:
    """Run the loop until ``done()`` holds (fail after ``timeout`` s); return the time taken."""
    start = time.monotonic()
    deadline = start + timeout
    guard = base.timer(lambda *a: None)
    try:
        while not done():
            left = deadline - time.monotonic()
            assert left > 0, f"condition not reached within {timeout} s"
            guard.add(min(left, 0.02))
            base.loop(ONCE)
    finally:
        guard.delete()
    return time.monotonic() - start


def run_for(base: EventBase, seconds: float) -> None:
    """Run ``base``'s loop for ``seconds``."""
    deadline = time.monotonic() + seconds
    run_until(base, lambda: time.monotonic() >= deadline, seconds + 5)
