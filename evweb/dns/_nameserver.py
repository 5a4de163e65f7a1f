"""One nameserver: its UDP socket, its requests in flight, whether it is up, and its probe timer.

Why each server has its own *connected* UDP socket: the kernel picks a
random ephemeral source port for it (an off-path spoofer must guess the
port as well as the 16-bit id), and a connected datagram socket only ever
receives datagrams from the server's exact address and port, so replies
from anywhere else are dropped before evweb sees them; the check libevent
does after ``recvfrom`` comes for free. Connecting also makes the kernel
report an ICMP "port unreachable" as ``ECONNREFUSED`` on the next read, so a
server that is not listening is noticed at once instead of after timeouts.

Requests in flight are a dict keyed by transaction id, per server: a reply
arriving on this server's socket (or TCP channel) is matched with one dict
lookup, and ids only need to be unique per server.

Up and down follow libevent: a server is marked down after too many
consecutive timeouts or a REFUSED/NOTIMPL reply; while down it is probed
after ``initial_probe_timeout``, then after that times
``probe_backoff_factor`` per failed probe, at most ``max_probe_timeout``.
When the resolver does not keep the loop alive, the read event is added only
while requests are in flight and the probe timer waits while the resolver is
idle (the time left is kept), so an idle resolver holds no event.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from evweb.dns._tcp import TCPChannel
from evweb.dns.resolv_conf import Address, ResolverConfig
from evweb.reactor import PERSIST, READ, WRITE, EventBase

if TYPE_CHECKING:
    from evweb.dns._engine import Engine
    from evweb.dns._request import DNSRequest

log = logging.getLogger("evweb.dns")

MAX_DATAGRAMS_PER_WAKEUP = 32
_RECV_SIZE = 65535


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def format_address(address: Address) -> str:
    """``ip:port``, or ``[v6]:port``."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Nameserver:
    """A nameserver's UDP socket and state, driven by the resolver's engine.

    The engine's ``_on_reply(server, data, via_tcp)`` gets each message
    that arrives, ``_on_server_error(server, exc)`` each error reading,
    ``_on_send_error(server, exc)`` each error sending,
    ``_on_tcp_lost(server)`` the end of a TCP connection and
    ``_on_probe_due(server)`` the probe timer.
    """

    __slots__ = (
        "_backlog",
        "_base",
        "_engine",
        "_probe_timer",
        "_reader",
        "_watching",
        "_writer",
        "address",
        "closed",
        "deliver",
        "failed_times",
        "inflight",
        "probe",
        "probe_due",
        "sock",
        "tcp",
        "tcp_pending",
        "timeouts",
        "up",
    )

    def __init__(
        self,
        base: EventBase,
        address: Address,
        config: ResolverConfig,
        engine: Engine,
    ) -> None:
        self._base = base
        self._engine = engine
        self.address = address
        self.deliver = engine._on_reply
        self.sock = _udp_socket(address, config)
        self._reader = base.event(self.sock, READ | PERSIST, self._on_readable)
        self._writer = base.event(self.sock, WRITE | PERSIST, self._on_writable)
        self._watching = False
        self._backlog: deque[bytes] = deque()
        self.inflight: dict[int, DNSRequest] = {}
        self.tcp: TCPChannel | None = None
        self.tcp_pending = 0
        self.up = True
        self.timeouts = 0  # consecutive timeouts
        self.failed_times = 0  # probes sent since the server went down
        self.probe: DNSRequest | None = None
        self.probe_due: float | None = None
        self._probe_timer = base.timer(lambda fd, what, arg: engine._on_probe_due(self))
        self.closed = False

    def __repr__(self) -> str:
        state = "up" if self.up else "down"
        return f"<Nameserver {format_address(self.address)} {state} {len(self.inflight)} in flight>"

    # --- UDP ---------------------------------------------------------------------------

    def watch(self, on: bool) -> None:
        """Add (or remove) the read event."""
        if on != self._watching and not self.closed:
            self._watching = on
            if on:
                self._reader.add()
            else:
                self._reader.delete()

    def send(self, wire: bytes) -> None:
        """Send a query over UDP; what the socket cannot take now waits for it to drain."""
        if self._backlog:
            self._backlog.append(wire)
            return
        try:
            self.sock.send(wire)
        except (BlockingIOError, InterruptedError):
            self._backlog.append(wire)
            self._writer.add()
        except OSError as exc:
            self._engine._on_send_error(self, exc)

    def _on_writable(self, fd: int, what: int, arg: Any) -> None:
        backlog = self._backlog
        while backlog:
            try:
                self.sock.send(backlog[0])
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                backlog.clear()
                self._engine._on_send_error(self, exc)
                break
            backlog.popleft()
        self._writer.delete()

    def _on_readable(self, fd: int, what: int, arg: Any) -> None:
        recv = self.sock.recv
        deliver = self.deliver
        for _ in range(MAX_DATAGRAMS_PER_WAKEUP):
            try:
                data = recv(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._engine._on_server_error(self, exc)
                return
            deliver(self, data, False)
            if self.closed:
                return

    # --- TCP -----------------------------------------------------------------------------

    def send_tcp(self, wire: bytes, config: ResolverConfig, keep_alive: bool) -> None:
        """Send a query over this server's TCP channel, opening one if needed."""
        channel = self.tcp
        if channel is None or not channel.usable(config.tcp_idle_timeout):
            if channel is not None:
                channel.close()
            channel = self.tcp = TCPChannel(
                self._base, self.address, lambda data: self.deliver(self, data, True), keep_alive
            )
            channel.lost = self._tcp_lost
        channel.send(wire)

    def _tcp_lost(self, channel: TCPChannel, exc: BaseException | None) -> None:
        if channel is self.tcp:
            self.tcp = None
            log.debug("TCP connection to %s lost: %s", format_address(self.address), exc or "EOF")
            self._engine._on_tcp_lost(self)

    def tcp_busy(self, busy: bool, idle_timeout: float) -> None:
        """Tell the channel whether requests wait on it (idle channels close after a while)."""
        if self.tcp is not None:
            self.tcp.set_busy(busy, idle_timeout)

    def drop_tcp(self) -> None:
        """Close the TCP channel (its requests are the engine's to retry)."""
        if self.tcp is not None:
            self.tcp.close()
            self.tcp = None

    # --- probing ------------------------------------------------------------------------

    def arm_probe(self, delay: float, active: bool) -> None:
        """Probe in ``delay`` seconds; the timer runs only while ``active``."""
        self.probe_due = time.monotonic() + delay
        if active:
            self._probe_timer.add(delay)

    def pause_probe(self) -> None:
        """Stop the probe timer, keeping the time it was due."""
        self._probe_timer.delete()

    def resume_probe(self) -> None:
        """Restart a paused probe timer with the time that was left."""
        if self.probe_due is not None and not self.closed and self.probe is None:
            self._probe_timer.add(max(0.0, self.probe_due - time.monotonic()))

    def next_probe_delay(self, config: ResolverConfig) -> float:
        """The wait before the next probe: libevent's backoff from ``failed_times``."""
        delay = config.initial_probe_timeout
        limit = config.max_probe_timeout
        for _ in range(self.failed_times):
            if delay >= limit:
                break
            delay *= config.probe_backoff_factor
        return min(delay, limit)

    def cancel_probe_timer(self) -> None:
        """Forget the probe schedule (the server is up again)."""
        self.probe_due = None
        self._probe_timer.delete()

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Release the socket, the events and the TCP channel."""
        if self.closed:
            return
        self.closed = True
        self._reader.delete()
        self._writer.delete()
        self._probe_timer.delete()
        self.drop_tcp()
        self.sock.close()
        self.inflight.clear()


def _udp_socket(address: Address, config: ResolverConfig) -> socket.socket:
    """A non-blocking datagram socket connected to ``address``, with the config's options."""
    host = address[0]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        if config.so_rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, config.so_rcvbuf)
        if config.so_sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, config.so_sndbuf)
        bind_to = config.bind_to
        if bind_to is not None and not _is_loopback(host) and (":" in bind_to[0]) == (":" in host):
            sock.bind(bind_to)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock
