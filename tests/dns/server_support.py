"""A harness for the DNS server tests: a DNSServer on its own base, clients on loopback."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

import dns.message

from evweb.dns.server import DNSServer, ServerRequest
from evweb.reactor import EventBase
from tests.dns.scripted_server import run_for, run_until


def answer_a(request: ServerRequest) -> None:
    """The default handler: 192.0.2.1 for any A question, NOERROR and nothing else otherwise."""
    for question in request.questions:
        if question.qtype == 1:
            request.add_a(question.name, ["192.0.2.1"], 300)
    request.respond()


class Harness:
    """A server listening on UDP and TCP (two ports on 127.0.0.1), and its clients."""

    def __init__(self, handler: Callable[[ServerRequest], object] | None = None, **kw: Any):
        self.base = EventBase()
        self.server = DNSServer(self.base, handler or answer_a, **kw)
        self.udp = self.server.listen_udp(("127.0.0.1", 0))
        self.tcp = self.server.listen_tcp(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []

    def close(self) -> None:
        """Close the clients, the server and the base."""
        for sock in self._sockets:
            sock.close()
        self.server.close()
        self.base.close()

    def run_until(self, done: Callable[[], object], timeout: float = 3.0) -> float:
        """Run the server's loop until ``done()``."""
        return run_until(self.base, done, timeout)

    def run_for(self, seconds: float) -> None:
        """Run the loop for ``seconds``."""
        run_for(self.base, seconds)

    # --- UDP ----------------------------------------------------------------------------

    def udp_client(self) -> socket.socket:
        """A non-blocking UDP socket connected to the server."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sockets.append(sock)
        sock.setblocking(False)
        sock.connect(self.udp)
        return sock

    def udp_exchange(self, wire: bytes, timeout: float = 3.0) -> bytes:
        """Send ``wire`` over UDP; the reply."""
        sock = self.udp_client()
        sock.send(wire)
        return self.udp_receive(sock, timeout)

    def udp_receive(self, sock: socket.socket, timeout: float = 3.0) -> bytes:
        """The next datagram on ``sock``, running the loop meanwhile."""
        got: list[bytes] = []

        def ready() -> bool:
            try:
                got.append(sock.recv(65535))
            except BlockingIOError:
                return False
            return True

        self.run_until(ready, timeout)
        return got[0]

    def udp_silent(self, sock: socket.socket, seconds: float = 0.15) -> bool:
        """True if nothing comes back on ``sock`` within ``seconds`` (the loop running)."""
        self.run_for(seconds)
        try:
            sock.recv(65535)
        except BlockingIOError:
            return True
        return False

    def query(self, name: str, rdtype: str = "A", **kw: Any) -> dns.message.Message:
        """A dnspython query over UDP; the parsed reply."""
        query = dns.message.make_query(name, rdtype, **kw)
        return dns.message.from_wire(self.udp_exchange(query.to_wire()))

    # --- TCP ----------------------------------------------------------------------------

    def tcp_client(self) -> socket.socket:
        """A TCP connection to the server (non-blocking once connected)."""
        sock = socket.create_connection(self.tcp, timeout=2)
        self._sockets.append(sock)
        sock.setblocking(False)
        return sock

    def tcp_send(self, sock: socket.socket, *wires: bytes) -> None:
        """Send messages, each length-prefixed, in one write."""
        sock.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))

    def tcp_receive(self, sock: socket.socket, count: int = 1, timeout: float = 3.0) -> list[bytes]:
        """The next ``count`` messages on ``sock``, running the loop meanwhile."""
        buf = bytearray()
        messages: list[bytes] = []

        def ready() -> bool:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                data = None
            if data == b"":
                raise AssertionError(f"the server closed the connection after {messages}")
            if data:
                buf.extend(data)
            while len(buf) >= 2 and len(buf) >= 2 + (size := buf[0] << 8 | buf[1]):
                messages.append(bytes(buf[2 : 2 + size]))
                del buf[: 2 + size]
            return len(messages) >= count

        self.run_until(ready, timeout)
        return messages

    def tcp_closed(self, sock: socket.socket, timeout: float = 3.0) -> float:
        """Run until the server closes ``sock`` (EOF or reset); the time it took."""

        def closed() -> bool:
            try:
                return sock.recv(65535) == b""
            except BlockingIOError:
                return False
            except ConnectionResetError:
                return True

        return self.run_until(closed, timeout)
