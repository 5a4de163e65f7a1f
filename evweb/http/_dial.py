"""Opening one client connection: TCP or Unix, then a proxy tunnel, then TLS.

Each step reports through the BufferEvent's event callback, so the dial is
a small state machine: CONNECTED after TCP either starts the ``CONNECT``
exchange with a proxy or ends the dial (or, for TLS without a proxy, comes
only after the handshake, because the TLSBufferEvent itself connects).
After a tunnel to an ``https`` origin the plain socket is handed to a new
TLSBufferEvent, whose CONNECTED ends the dial. One timer bounds all of it:
the connect timeout covers resolution, TCP, the tunnel and the handshake,
as a user thinks of "connecting".

Failures become typed errors naming the address: :class:`ConnectError`
(its cause the OSError, gaierror or SSLError), :class:`CertificateError`
for a failed verification, :class:`ProxyError` for a refused tunnel,
:class:`ConnectTimeoutError` when the timer fires.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from functools import partial
from typing import Any

from evweb.errors import (
    CertificateError,
    ConnectError,
    ConnectTimeoutError,
    HTTPProtocolError,
    ProxyError,
)
from evweb.http.events import NEED_DATA, PAUSED, EndOfMessage, ResponseHead
from evweb.http.headers import Headers
from evweb.http.reader import ResponseReader
from evweb.http.writer import request_head
from evweb.io import BufferEvent, SocketBufferEvent, TLSBufferEvent
from evweb.io.bevflags import CONNECTED, ERROR, TIMEOUT, BevOption
from evweb.io.connect import connect_hostname, start_connect
from evweb.io.resolve import Resolver, SockAddr
from evweb.io.tls import TLSState
from evweb.reactor import READ, EventBase

DialCallback = Callable[[BufferEvent | None, BaseException | None], object]
"""``on_done(bev, None)`` with a connection ready for HTTP, or ``(None, error)``."""


class DialTarget:
    """Where to connect and how: the origin, an optional proxy, TLS, the local side."""

    __slots__ = (
        "family",
        "host",
        "local_address",
        "port",
        "proxy",
        "server_hostname",
        "ssl_context",
        "unix_path",
    )

    def __init__(
        self,
        host: str,
        port: int,
        *,
        unix_path: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        proxy: tuple[str, int] | None = None,
        family: int = socket.AF_UNSPEC,
        local_address: tuple[str, int] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.unix_path = unix_path
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.proxy = proxy
        self.family = family
        self.local_address = local_address

    @property
    def address(self) -> str:
        """``host:port`` (``[v6]:port``) or the socket path, for messages."""
        if self.unix_path is not None:
            return self.unix_path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class Dial:
    """One connection attempt; ``on_done`` runs exactly once unless :meth:`cancel` comes first."""

    def __init__(
        self,
        base: EventBase,
        target: DialTarget,
        on_done: DialCallback,
        *,
        timeout: float | None,
        resolver: Resolver | None = None,
    ) -> None:
        self._base = base
        self._target = target
        self._on_done: DialCallback | None = on_done
        self._resolver = resolver
        self._reader: ResponseReader | None = None
        self._timer = base.timer(self._on_timeout)
        if timeout is not None:
            self._timer.add(timeout)
        tls_now = target.ssl_context is not None and target.proxy is None
        self._bev: SocketBufferEvent = self._new_bev(None, tls_now)
        self._tls_pending = target.ssl_context is not None and target.proxy is not None
        self._tunnel_up = False  # the proxy answered 2xx: what connects now is the origin
        self.peer: SockAddr | str | None = None
        """The address the TCP connection reached (the proxy's, with a proxy)."""

    def start(self) -> None:
        """Begin connecting."""
        target = self._target
        try:
            if target.unix_path is not None:
                self.peer = target.unix_path
                self._bev.connect(target.unix_path)
                return
            host, port = target.proxy or (target.host, target.port)
            local = target.local_address
            connector = partial(start_connect, local_address=local) if local else start_connect
            connect_hostname(
                self._bev, host, port, target.family, self._resolver, connector=connector
            )
        except OSError as exc:
            self._fail(
                ConnectError(f"cannot connect to {target.address}: {exc}", target.address), exc
            )

    def cancel(self) -> None:
        """Stop and close whatever was opened; ``on_done`` will not run."""
        self._on_done = None
        self._timer.delete()
        self._bev.close()

    # -- steps ---------------------------------------------------------------------

    def _new_bev(self, sock: socket.socket | None, tls: bool) -> SocketBufferEvent:
        target = self._target
        bev: SocketBufferEvent
        if tls:
            assert target.ssl_context is not None
            bev = TLSBufferEvent(
                self._base,
                sock,
                target.ssl_context,
                TLSState.CONNECTING,
                BevOption.CLOSE_ON_FREE,
                server_hostname=target.server_hostname,
            )
        else:
            bev = SocketBufferEvent(self._base, sock, BevOption.CLOSE_ON_FREE)
        bev.set_callbacks(self._on_read, None, self._on_event)
        return bev

    def _on_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        if what & CONNECTED:
            if self.peer is None:
                self.peer = _peer_of(self._bev)
            if self._target.proxy is not None and self._reader is None and not self._tunnel_up:
                self._send_connect()
            else:
                self._succeed()
            return
        if what & TIMEOUT:
            self._on_timeout(-1, 0, None)
            return
        error = bev.error
        if self._reader is not None:  # the proxy went away without answering the CONNECT
            proxy = self._proxy_address()
            detail = f": {error}" if error is not None else ""
            message = f"proxy {proxy} closed before answering CONNECT {target_of(self)}{detail}"
            self._fail(ProxyError(message, proxy), error)
        elif what & ERROR and error is not None:
            self._fail(self._describe(error), error)
        else:
            self._fail(
                ConnectError(
                    f"connection to {self._target.address} closed while connecting",
                    self._target.address,
                ),
                None,
            )

    def _send_connect(self) -> None:
        target = self._target
        authority = target.address
        headers = Headers([("Host", authority), ("User-Agent", "evweb")])
        self._reader = ResponseReader()
        self._reader.expect("CONNECT")
        self._bev.write(request_head("CONNECT", authority, headers))
        self._bev.enable(READ)

    def _on_read(self, bev: BufferEvent, arg: Any) -> None:
        reader = self._reader
        if reader is None:
            return
        reader.feed(bev.input.remove(len(bev.input)))
        proxy = self._proxy_address()
        try:
            event = reader.next_event()
            while isinstance(event, ResponseHead) and event.status < 200:
                event = reader.next_event()
        except HTTPProtocolError as exc:
            self._fail(ProxyError(f"proxy {proxy} answered CONNECT badly: {exc}", proxy), exc)
            return
        if event is NEED_DATA:
            return
        if not isinstance(event, ResponseHead) or not 200 <= event.status < 300:
            status = event.status if isinstance(event, ResponseHead) else 0
            reason = event.reason if isinstance(event, ResponseHead) else ""
            self._fail(
                ProxyError(
                    f"proxy {proxy} refused CONNECT {target_of(self)}: {status} {reason}",
                    proxy,
                    status,
                ),
                None,
            )
            return
        end = reader.next_event()  # the empty body of a 2xx to CONNECT, then the pause
        assert isinstance(end, EndOfMessage) and reader.next_event() is PAUSED
        self._tunnel_open(reader.trailing_data())

    def _tunnel_open(self, early: bytes) -> None:
        self._reader = None
        self._tunnel_up = True
        if not self._tls_pending:
            if early:
                self._bev.input.add(early)  # the origin spoke first: keep its bytes
            self._succeed()
            return
        if early:
            proxy = self._proxy_address()
            self._fail(
                ProxyError(f"proxy {proxy} sent bytes before the TLS handshake", proxy), None
            )
            return
        plain = self._bev
        plain.disable(READ)
        plain.options &= ~BevOption.CLOSE_ON_FREE
        sock = plain.socket
        plain.close()
        assert sock is not None
        self._tls_pending = False
        self._bev = self._new_bev(sock, tls=True)  # reports CONNECTED after the handshake

    def _succeed(self) -> None:
        done, self._on_done = self._on_done, None
        self._timer.delete()
        bev = self._bev
        bev.set_callbacks(None, None, None)
        if done is not None:
            done(bev, None)

    def _fail(self, error: BaseException, cause: BaseException | None) -> None:
        done, self._on_done = self._on_done, None
        self._timer.delete()
        self._bev.close()
        if cause is not None:
            error.__cause__ = cause
        if done is not None:
            done(None, error)

    def _on_timeout(self, fd: int, what: int, arg: Any) -> None:
        address = self._target.address
        self._fail(ConnectTimeoutError(f"connecting to {address} timed out", address), None)

    def _describe(self, error: BaseException) -> ConnectError:
        address = self._target.address
        if isinstance(error, ssl.SSLCertVerificationError):
            reason = error.verify_message or error.reason or str(error)
            return CertificateError(f"certificate of {address} refused: {reason}", address)
        if isinstance(error, ssl.SSLError):
            return ConnectError(f"TLS with {address} failed: {error.reason or error}", address)
        where = self._proxy_address() if self._target.proxy and self._reader is None else address
        return ConnectError(f"cannot connect to {where}: {error}", where)

    def _proxy_address(self) -> str:
        proxy = self._target.proxy
        return f"{proxy[0]}:{proxy[1]}" if proxy else ""


def target_of(dial: Dial) -> str:
    """The authority a dial tunnels to (for messages)."""
    return dial._target.address


def _peer_of(bev: SocketBufferEvent) -> SockAddr | str | None:
    sock = bev.socket
    if sock is None:
        return None
    try:
        peer: SockAddr | str = sock.getpeername()
    except OSError:
        return None
    return peer
