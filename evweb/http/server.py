"""HTTPServer: evhttp's server on evweb's listeners and BufferEvents.

The request path, from socket to handler::

    Listener --accept--> ServerConnection(SocketBufferEvent | TLSBufferEvent)
        --RequestReader--> Request --resolve()--> virtual host --> callback / router / generic

Routing follows evhttp: an exact, case-sensitive match of the decoded path
among :meth:`HTTPServer.set_cb` callbacks, then the router (the web
framework layer installs one), then the generic callback, then 404.
Virtual hosts are other :class:`HTTPServer` objects without sockets,
chosen by the request's host: aliases first, then glob patterns in the
order they were added, descending into nested virtual hosts.
"""

from __future__ import annotations

import fnmatch
import html
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any, NamedTuple

from evweb.errors import (
    ConfigError,
    HTTPProtocolError,
    MethodNotAllowedError,
    MethodNotImplementedError,
)
from evweb.http import _access
from evweb.http._conn import ServerConnection
from evweb.http.config import ServerConfig
from evweb.http.events import KNOWN_METHODS
from evweb.http.request import Request
from evweb.http.writer import reason_phrase
from evweb.io import (
    BevOption,
    BufferEvent,
    Listener,
    ListenerFlag,
    SocketBufferEvent,
    TLSBufferEvent,
    TLSState,
)
from evweb.io.socket_bev import Address
from evweb.reactor import READ, Event, EventBase

log = logging.getLogger("evweb.http.server")

Handler = Callable[[Request], object]
"""``handler(request)``: answers the request now or later."""
Router = Callable[[Request], "Route | None"]
"""Maps a request to its Route, or None to fall through to the generic callback."""
ErrorPage = Callable[[Request, int, str, str | None], bytes | str | None]
"""``page(request, status, reason, explanation)``: an error page's body, None for the default."""


class Route(NamedTuple):
    """What handles a request, and how its body is delivered."""

    handler: Handler
    stream: bool = False
    """Call the handler at the head and stream the body through ``Request.read_body``."""
    max_body_size: int | None = -1
    """The body limit for this route: None for no limit, -1 for the server's ``max_body_size``."""


class BoundSocket(NamedTuple):
    """A listening socket of the server (``evhttp_bound_socket``)."""

    listener: Listener
    ssl_context: ssl.SSLContext | None

    @property
    def address(self) -> Address:
        """The local address (the real port when bound to port 0)."""
        address: Address = self.listener.address
        return address


def _default_error_page(status: int, reason: str, explanation: str | None) -> bytes:
    title = f"{status} {html.escape(reason)}"
    text = html.escape(explanation) if explanation else ""
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{text}</body></html>"
    return page.encode()


class HTTPServer:
    """An HTTP/1.1 server on an :class:`~evweb.reactor.EventBase` (``evhttp_new``)."""

    def __init__(self, base: EventBase, config: ServerConfig | None = None) -> None:
        self.base = base
        self.config = config or ServerConfig()
        self.sockets: list[BoundSocket] = []
        self.connections: set[ServerConnection] = set()
        self._callbacks: dict[str, Route] = {}
        self._gencb: Route | None = None
        self.router: Router | None = None
        """Consulted after the exact-path callbacks (the web-framework layer sets it)."""
        self.on_request: Callable[[Request], bool | None] | None = None
        """``hook(request)`` once a head is parsed; False drops the connection unanswered."""
        self.on_connection: Callable[[ServerConnection], bool | None] | None = None
        """``hook(connection)`` for each accepted connection; returning False closes it."""
        self.error_page_hook: ErrorPage | None = None
        """Custom error pages (``evhttp_set_errorcb``)."""
        self._vhosts: list[tuple[str, HTTPServer]] = []
        self._aliases: set[str] = set()
        self._tls_bevs: dict[int, bool] = {}
        self._shutdown: _Shutdown | None = None
        self._refusing: dict[socket.socket, Event] = {}
        self._not_found = self.make_route(self._reply_not_found)

    # -- sockets ----------------------------------------------------------------------
    def bind(
        self,
        address: Address,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 1024,
        reuse_port: bool = False,
    ) -> BoundSocket:
        """Listen on ``address``: ``"host:port"``, ``(host, port)`` or a Unix socket path.

        A string is ``host:port`` (``[v6]:port``) when it ends in ``:digits``
        and does not start with ``/`` or ``.``; any other string is a path.
        """
        flags = ListenerFlag.REUSEABLE | ListenerFlag.CLOSE_ON_EXEC
        if isinstance(address, str):
            host, sep, port = address.rpartition(":")
            if sep and host and port.isdigit() and not address.startswith(("/", ".")):
                address = (host[1:-1] if host.startswith("[") else host, int(port))
            else:
                flags = ListenerFlag.CLOSE_ON_EXEC
        if reuse_port:
            flags |= ListenerFlag.REUSEABLE_PORT
        listener = Listener.bind(self.base, None, address, backlog=backlog, flags=flags)
        return self._adopt(listener, ssl_context)

    def accept_socket(
        self, sock: socket.socket, *, ssl_context: ssl.SSLContext | None = None
    ) -> BoundSocket:
        """Serve an already listening socket (``evhttp_accept_socket``); the server owns it."""
        listener = Listener(self.base, None, sock=sock, flags=ListenerFlag.CLOSE_ON_FREE)
        return self._adopt(listener, ssl_context)

    def _adopt(self, listener: Listener, ssl_context: ssl.SSLContext | None) -> BoundSocket:
        bound = BoundSocket(listener, ssl_context)
        listener.set_callback(lambda _l, sock, addr: self._accept(sock, addr, ssl_context))
        listener.set_error_callback(self._accept_error)
        self.sockets.append(bound)
        return bound

    def del_accept_socket(self, bound: BoundSocket) -> None:
        """Stop listening on ``bound`` and close it."""
        self.sockets.remove(bound)
        bound.listener.close()

    def _accept_error(self, listener: Listener, exc: OSError) -> None:
        log.warning("accept failed on %s: %s", listener.address, exc)

    def _accept(self, sock: socket.socket, peer: Any, ssl_context: ssl.SSLContext | None) -> None:
        limit = self.config.max_connections
        if self._shutdown is not None or (limit is not None and len(self.connections) >= limit):
            self._refuse_busy(sock)
            return
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bev: BufferEvent
        if ssl_context is not None:
            bev = TLSBufferEvent(
                self.base, sock, ssl_context, TLSState.ACCEPTING, BevOption.CLOSE_ON_FREE
            )
        else:
            bev = SocketBufferEvent(self.base, sock, BevOption.CLOSE_ON_FREE)
        conn = ServerConnection(self, bev, peer, ssl_context is not None)
        self.connections.add(conn)
        if self.on_connection is not None and self.on_connection(conn) is False:
            conn.close()

    def _refuse_busy(self, sock: socket.socket) -> None:
        """Answer 503 to a connection over the limit, then close it once its request is read.

        Closing at once, with the client's request still unread, would send a
        reset that can destroy the 503 before the client reads it. So the
        server stops writing and waits (at most ``linger_time``) for the
        request to arrive, drains it and closes.
        """
        try:
            sock.setblocking(False)
            sock.send(_BUSY)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return

        def drain_and_close(fd: Any, what: int, arg: Any) -> None:
            self._refusing.pop(sock, None)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass
            sock.close()

        event = self.base.event(sock, READ, drain_and_close)
        self._refusing[sock] = event
        event.add(self.config.linger_time)

    def connection_closed(self, conn: ServerConnection) -> None:
        """A connection closed: forget it, and finish a shutdown waiting for it."""
        self.connections.discard(conn)
        if self._shutdown is not None and not self.connections:
            self._shutdown.done()

    # -- routing --------------------------------------------------------------------
    def set_cb(
        self, path: str, handler: Handler, *, stream: bool = False, max_body_size: int | None = -1
    ) -> None:
        """Handle the exact decoded ``path`` (``evhttp_set_cb``); ConfigError if already set."""
        if path in self._callbacks:
            raise ConfigError(f"a callback for {path!r} is already set")
        self._callbacks[path] = self.make_route(handler, stream, max_body_size)

    def make_route(
        self, handler: Handler, stream: bool = False, max_body_size: int | None = -1
    ) -> Route:
        """A Route whose body limit -1 is replaced by the server's ``max_body_size``."""
        if max_body_size == -1:
            max_body_size = self.config.max_body_size
        return Route(handler, stream, max_body_size)

    def del_cb(self, path: str) -> None:
        """Remove the callback for ``path`` (``evhttp_del_cb``); KeyError if there is none."""
        del self._callbacks[path]

    def set_gencb(self, handler: Handler | None, *, stream: bool = False) -> None:
        """The handler for requests no callback matched (``evhttp_set_gencb``); None removes it."""
        self._gencb = None if handler is None else self.make_route(handler, stream)

    def add_virtual_host(self, pattern: str, vhost: HTTPServer) -> None:
        """Serve hosts matching the glob ``pattern`` (case-insensitive) with ``vhost``."""
        if vhost is self or vhost.sockets:
            raise ConfigError("a virtual host must be another HTTPServer without sockets")
        self._vhosts.append((pattern.lower(), vhost))

    def remove_virtual_host(self, vhost: HTTPServer) -> None:
        """Stop using ``vhost``; KeyError if it was not added."""
        for i, (_, v) in enumerate(self._vhosts):
            if v is vhost:
                del self._vhosts[i]
                return
        raise KeyError(vhost)

    def add_server_alias(self, alias: str) -> None:
        """Answer requests for the host ``alias`` too (exact, case-insensitive)."""
        self._aliases.add(alias.lower())

    def remove_server_alias(self, alias: str) -> None:
        """Forget an alias; KeyError if unknown."""
        self._aliases.remove(alias.lower())

    def _server_for(self, host: str) -> HTTPServer:
        if not self._vhosts or not host:
            return self
        if host in self._aliases:
            return self
        for _, vhost in self._vhosts:
            if vhost._owns_alias(host):
                return vhost._server_for(host)
        for pattern, vhost in self._vhosts:
            if fnmatch.fnmatchcase(host, pattern):
                return vhost._server_for(host)
        return self

    def _owns_alias(self, host: str) -> bool:
        return host in self._aliases or any(v._owns_alias(host) for _, v in self._vhosts)

    def resolve(self, req: Request) -> Route:
        """The Route for ``req``, with the body limit filled in."""
        server = self._server_for(req.host) if self._vhosts else self
        route = server._callbacks.get(req.path) if server._callbacks else None
        if route is None and server.router is not None:
            route = server.router(req)
        if route is None:
            route = server._gencb or self._not_found
        return route

    def method_error(self, method: str) -> HTTPProtocolError:
        """The error for a method outside ``allowed_methods``: 405 if known, else 501."""
        if method in KNOWN_METHODS:
            allowed = tuple(sorted(self.config.allowed_methods))
            return MethodNotAllowedError("method not allowed", method, allowed)
        return MethodNotImplementedError("method not implemented", method)

    def _reply_not_found(self, req: Request) -> None:
        page = self.error_page(
            req, 404, None, f"The requested URL {req.path} was not found on this server."
        )
        req.response_headers["Content-Type"] = "text/html; charset=utf-8"
        req.send_reply(404, None, page)

    # -- pages and logs ----------------------------------------------------------------
    def error_page(
        self, req: Request, status: int, reason: str | None, explanation: str | None
    ) -> bytes:
        """The body of the error page for ``status`` (the hook's, else evhttp's layout)."""
        phrase = reason or reason_phrase(status)
        if self.error_page_hook is not None:
            try:
                body = self.error_page_hook(req, status, phrase, explanation)
            except Exception:
                log.exception("error page hook failed for %d", status)
                body = None
            if body is not None:  # an empty page is a valid choice (evhttp's errorcb)
                return body.encode() if isinstance(body, str) else bytes(body)
        return _default_error_page(status, phrase, explanation)

    def log_access(self, req: Request, peer: Any) -> None:
        """Log ``req`` on ``evweb.http.access`` (combined log format) when enabled."""
        if self.config.access_log and _access.log.isEnabledFor(logging.INFO):
            _access.log_request(req, peer)

    # -- shutdown ----------------------------------------------------------------------
    def shutdown(self, timeout: float = 10.0, on_done: Callable[[], object] | None = None) -> None:
        """Stop accepting, finish requests in flight, close idle ones; force after ``timeout``."""
        if self._shutdown is not None:
            return
        for bound in list(self.sockets):
            self.del_accept_socket(bound)
        self._shutdown = _Shutdown(self, timeout, on_done)
        for conn in list(self.connections):
            conn.shutdown_soon()
        if not self.connections:
            self._shutdown.done()

    def close(self) -> None:
        """Close every socket and connection now (``evhttp_free``)."""
        for bound in list(self.sockets):
            self.del_accept_socket(bound)
        for conn in list(self.connections):
            conn.close()
        for sock, event in list(self._refusing.items()):
            event.delete()
            sock.close()
        self._refusing.clear()
        if self._shutdown is not None:
            self._shutdown.done()


class _Shutdown:
    """A graceful shutdown in progress: a deadline, then a callback once."""

    def __init__(
        self, server: HTTPServer, timeout: float, on_done: Callable[[], object] | None
    ) -> None:
        self.server = server
        self.on_done = on_done
        self.finished = False
        self.timer = server.base.timer(self._force)
        self.timer.add(timeout)

    def _force(self, fd: int, what: int, arg: Any) -> None:
        log.warning(
            "shutdown deadline passed: closing %d connections", len(self.server.connections)
        )
        for conn in list(self.server.connections):
            conn.close()
        self.done()

    def done(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.timer.delete()
        if self.on_done is not None:
            self.on_done()


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
    b"Connection: close\r\n\r\nServer is too busy.\n"
)
