"""``event2/http.h`` (server side) over :class:`evweb.http.HTTPServer`.

The ``struct evhttp *`` is the :class:`~evweb.http.HTTPServer` itself, the
``struct evhttp_request *`` the :class:`~evweb.http.Request`, a
``struct evkeyvalq *`` a :class:`~evweb.http.Headers` and a
``struct evhttp_bound_socket *`` a :class:`~evweb.http.BoundSocket`, so the
Pythonic methods work on all of them too. Callbacks keep C's shapes:
``cb(req, arg)`` for request callbacks, ``newreqcb(req, arg) -> int``,
``errorcb(req, buf, code, reason, arg) -> int``; ``evhttp_send_reply_chunk_with_cb``
calls ``cb(req, arg)``, the request standing in for the ``evhttp_connection``
(evweb has no public connection object per request). ``const char *`` is
``str``; a ``struct evbuffer *`` is an :class:`evweb.io.Buffer`; a
``struct timeval *`` is float seconds or None. Functions returning ``int``
in C return 0 / -1, the reason logged at DEBUG on ``evweb.libevent``;
``evhttp_new`` and the ``_with_handle`` functions return None for NULL.
Calling a reply function in the wrong state (a second reply, a chunk before
``evhttp_send_reply_start``) raises :class:`~evweb.http.ReplyStateError`,
where C would misbehave.

Where evweb differs from evhttp, on purpose:

* ``evhttp_new`` starts from :class:`~evweb.http.ServerConfig`'s safe
  defaults (timeouts, a 1 MiB body limit, 10,000 connections, OPTIONS and
  PATCH allowed, ``text/html; charset=utf-8``), not evhttp's unlimited ones;
  the ``evhttp_set_*`` functions change them. ``evhttp_new(None)`` gives a
  server usable only as a virtual host (it cannot bind).
* Status codes: a known but disallowed method gets **405** with ``Allow``
  (evhttp: 501); a head over ``evhttp_set_max_headers_size`` gets **431**,
  or **414** when the request line alone is over it (evhttp: 400 for both).
  A negative size means "no limit" as in C (a very large limit here).
* ``evhttp_set_read_timeout_tv`` sets the head, body and keep-alive timeouts
  together (evhttp has one read timeout for all three); ``evhttp_set_timeout``
  and ``evhttp_set_timeout_tv`` also set the write timeout. 0, -1 or None mean
  no timeout.
* ``evhttp_set_newreqcb``'s callback runs once the request head is parsed
  (evhttp: before parsing), so ``req`` already has its method, URI and
  headers; returning -1 drops the connection unanswered, as in C.
* ``evhttp_send_error`` sends evhttp's page (title and heading the standard
  phrase, ``reason`` below, HTML-escaped here) with ``Connection: close``, but
  the status line carries the standard phrase rather than ``reason``, and the
  Content-Type is ``text/html; charset=utf-8`` (evhttp: ``text/html``).
* ``evhttp_set_max_body_size`` applies to the callbacks set through these
  functions (they are registered anew); routes added with the Pythonic
  ``set_cb`` keep the limit in force when they were added. A virtual host's
  callbacks use the virtual host's limit (evhttp: the main server's).
* ``evhttp_request_get_host`` is lowercased; ``evhttp_add_header`` refuses
  any CR or LF in a value (evhttp lets ``CRLF`` + space or tab through).

Not offered: ``evhttp_set_bevcb`` and ``evhttp_bound_set_bevcb`` (TLS is
``HTTPServer.bind(..., ssl_context=...)``), ``evhttp_bind_listener``,
``evhttp_set_ext_method_cmp`` (put extension methods in
``ServerConfig.allowed_methods`` instead) and ``evhttp_request_own``.
The client API, ``evhttp_request_get_connection``, the ``evhttp_connection_get_*``
calls and the public ``evhttp_request_get_*`` getters (which take server and
client requests alike, and call the ones here for a server request) are in
:mod:`evweb.libevent._http_client`.

The URI helpers (``evhttp_uri_*``, ``evhttp_uriencode``, ``evhttp_parse_query_str``...)
work on :class:`evweb.http.uri.URI`; see :mod:`evweb.http.uri` for where its
parser differs from evhttp's (NUL refused, the ``unix:`` request path, ports
over 65535 refused by ``evhttp_uri_set_port``, joins that would not parse
back). ``evhttp_uri_join(uri, buf, limit)`` fills ``buf`` (a list) with
``[text]``; ``evhttp_uridecode`` fills ``size_out`` with ``[length]``.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any, cast

from evweb.errors import EvwebError
from evweb.http import BoundSocket, Headers, HTTPServer, Request
from evweb.io import Buffer
from evweb.io.listener import Listener
from evweb.libevent._status import Timeval, failed
from evweb.reactor import CommonTimeout, EventBase

# Status codes (``HTTP_*``).
HTTP_CONTINUE = 100
HTTP_SWITCH_PROTOCOLS = 101
HTTP_PROCESSING = 102
HTTP_EARLYHINTS = 103
HTTP_OK = 200
HTTP_CREATED = 201
HTTP_ACCEPTED = 202
HTTP_NONAUTHORITATIVE = 203
HTTP_NOCONTENT = 204
HTTP_MOVEPERM = 301
HTTP_MOVETEMP = 302
HTTP_NOTMODIFIED = 304
HTTP_BADREQUEST = 400
HTTP_UNAUTHORIZED = 401
HTTP_PAYMENTREQUIRED = 402
HTTP_FORBIDDEN = 403
HTTP_NOTFOUND = 404
HTTP_BADMETHOD = 405
HTTP_ENTITYTOOLARGE = 413
HTTP_EXPECTATIONFAILED = 417
HTTP_INTERNAL = 500
HTTP_NOTIMPLEMENTED = 501
HTTP_BADGATEWAY = 502
HTTP_SERVUNAVAIL = 503

# ``enum evhttp_cmd_type``: bit flags, ORed for evhttp_set_allowed_methods.
EVHTTP_REQ_GET = 1 << 0
EVHTTP_REQ_POST = 1 << 1
EVHTTP_REQ_HEAD = 1 << 2
EVHTTP_REQ_PUT = 1 << 3
EVHTTP_REQ_DELETE = 1 << 4
EVHTTP_REQ_OPTIONS = 1 << 5
EVHTTP_REQ_TRACE = 1 << 6
EVHTTP_REQ_CONNECT = 1 << 7
EVHTTP_REQ_PATCH = 1 << 8
EVHTTP_REQ_PROPFIND = 1 << 9
EVHTTP_REQ_PROPPATCH = 1 << 10
EVHTTP_REQ_MKCOL = 1 << 11
EVHTTP_REQ_LOCK = 1 << 12
EVHTTP_REQ_UNLOCK = 1 << 13
EVHTTP_REQ_COPY = 1 << 14
EVHTTP_REQ_MOVE = 1 << 15
EVHTTP_REQ_MAX = EVHTTP_REQ_MOVE

EVHTTP_SERVER_LINGERING_CLOSE = 0x0001

_METHOD_BITS: dict[str, int] = {
    "GET": EVHTTP_REQ_GET,
    "POST": EVHTTP_REQ_POST,
    "HEAD": EVHTTP_REQ_HEAD,
    "PUT": EVHTTP_REQ_PUT,
    "DELETE": EVHTTP_REQ_DELETE,
    "OPTIONS": EVHTTP_REQ_OPTIONS,
    "TRACE": EVHTTP_REQ_TRACE,
    "CONNECT": EVHTTP_REQ_CONNECT,
    "PATCH": EVHTTP_REQ_PATCH,
    "PROPFIND": EVHTTP_REQ_PROPFIND,
    "PROPPATCH": EVHTTP_REQ_PROPPATCH,
    "MKCOL": EVHTTP_REQ_MKCOL,
    "LOCK": EVHTTP_REQ_LOCK,
    "UNLOCK": EVHTTP_REQ_UNLOCK,
    "COPY": EVHTTP_REQ_COPY,
    "MOVE": EVHTTP_REQ_MOVE,
}
_NO_LIMIT = sys.maxsize  # evhttp's EV_SIZE_MAX: ServerConfig has no "unlimited" head size

evhttp_request_cb = Callable[[Request, Any], object]
"""``cb(req, arg)``: a request callback (evhttp_set_cb, evhttp_set_gencb, on-complete)."""
evhttp_newreq_cb = Callable[[Request, Any], int]
"""``newreqcb(req, arg)``: -1 drops the connection unanswered."""
evhttp_error_cb = Callable[[Request, Buffer, int, "str | None", Any], int]
"""``errorcb(req, buf, code, reason, arg)``: fill ``buf`` and return 0, or < 0 for the default."""
evhttp_chunk_cb = Callable[[Request, Any], object]
"""``cb(req, arg)``: a chunk has left (``evhttp_send_reply_chunk_with_cb``)."""
evhttp_bound_socket_foreach_fn = Callable[[BoundSocket, Any], object]
"""``fn(bound, arg)``: called for each bound socket."""


class _ServerState:
    """What ``struct evhttp`` keeps that HTTPServer does not: the C callbacks to re-register."""

    __slots__ = ("callbacks", "gencb", "is_vhost")

    def __init__(self) -> None:
        self.callbacks: dict[str, Callable[[Request], None]] = {}
        self.gencb: Callable[[Request], None] | None = None
        self.is_vhost = False  # added to a server (a flag: a reference would keep it alive)


class _RequestState:
    """What ``struct evhttp_request`` keeps: its buffers and on-complete callback."""

    __slots__ = ("input", "on_complete", "output", "registered")

    def __init__(self, req: Request) -> None:
        self.input = Buffer(req.body)
        self.output = Buffer()
        self.on_complete: tuple[evhttp_request_cb, Any] | None = None
        self.registered = False


# Where an HTTPServer keeps its _ServerState: an attribute, not a module-level weak map,
# because the callbacks' args often hold the server (evhttp_set_cb(http, "/", cb, http))
# and a map's values would then keep their keys alive for ever.
_STATE = "_libevent_state"
_KEY = "evweb.libevent"  # where a Request keeps its _RequestState (Request.state)


def _server_state(http: HTTPServer) -> _ServerState:
    state = getattr(http, _STATE, None)
    if state is None:
        state = _ServerState()
        setattr(http, _STATE, state)
    return cast(_ServerState, state)


def _request_state(req: Request) -> _RequestState:
    state = req.state.get(_KEY)
    if state is None:
        state = req.state[_KEY] = _RequestState(req)
    return cast(_RequestState, state)


def _handler(cb: evhttp_request_cb, arg: Any) -> Callable[[Request], None]:
    def handler(req: Request) -> None:
        cb(req, arg)

    return handler


def _seconds(tv: Timeval) -> float | None:
    value = tv.duration if isinstance(tv, CommonTimeout) else tv
    return value if value is not None and value > 0 else None


def _configure(http: HTTPServer, name: str, **changes: object) -> int:
    try:
        http.config = http.config.replace(**changes)
    except EvwebError as exc:
        return failed(name, exc)
    return 0


def _drain(buf: Buffer | None) -> bytes:
    return buf.remove(len(buf)) if buf is not None and len(buf) else b""


# --- the server ---------------------------------------------------------------------------


def evhttp_new(base: EventBase | None) -> HTTPServer | None:
    """``HTTPServer(base)``; a None base makes a server usable only as a virtual host."""
    try:
        return HTTPServer(cast(EventBase, base))
    except EvwebError as exc:  # pragma: no cover - the default config is valid
        failed("evhttp_new", exc)
        return None


def evhttp_free(http: HTTPServer) -> None:
    """``http.close()``: closes its sockets and connections."""
    http.close()


def evhttp_bind_socket_with_handle(http: HTTPServer, address: str, port: int) -> BoundSocket | None:
    """``http.bind((address, port))``; None on failure."""
    if http.base is None:
        failed("evhttp_bind_socket_with_handle", ValueError("a server without a base"))
        return None
    try:
        return http.bind((address, port))
    except (EvwebError, OSError) as exc:
        failed("evhttp_bind_socket_with_handle", exc)
        return None


def evhttp_bind_socket(http: HTTPServer, address: str, port: int) -> int:
    """``http.bind((address, port))``: 0, or -1 on failure."""
    return 0 if evhttp_bind_socket_with_handle(http, address, port) is not None else -1


def evhttp_accept_socket_with_handle(
    http: HTTPServer, fd: int | socket.socket
) -> BoundSocket | None:
    """``http.accept_socket(sock)``: serve a listening socket (owned after); None on failure."""
    if http.base is None:
        failed("evhttp_accept_socket_with_handle", ValueError("a server without a base"))
        return None
    try:
        sock = socket.socket(fileno=fd) if isinstance(fd, int) else fd
    except (OSError, ValueError) as exc:  # not a socket, or a negative fd
        failed("evhttp_accept_socket_with_handle", exc)
        return None
    try:
        return http.accept_socket(sock)
    except (EvwebError, OSError) as exc:
        if isinstance(fd, int):
            sock.detach()  # as in C, a refused fd stays the caller's
        failed("evhttp_accept_socket_with_handle", exc)
        return None


def evhttp_accept_socket(http: HTTPServer, fd: int | socket.socket) -> int:
    """``http.accept_socket(sock)``: 0, or -1 on failure."""
    return 0 if evhttp_accept_socket_with_handle(http, fd) is not None else -1


def evhttp_del_accept_socket(http: HTTPServer, bound: BoundSocket) -> None:
    """``http.del_accept_socket(bound)``: stop listening and close the socket."""
    http.del_accept_socket(bound)


def evhttp_bound_socket_get_fd(bound: BoundSocket) -> int:
    """``bound.listener.fileno``."""
    return bound.listener.fileno


def evhttp_bound_socket_get_listener(bound: BoundSocket) -> Listener:
    """``bound.listener``: the evconnlistener of a bound socket."""
    return bound.listener


def evhttp_foreach_bound_socket(
    http: HTTPServer, fn: evhttp_bound_socket_foreach_fn, arg: Any
) -> None:
    """``for bound in http.sockets: fn(bound, arg)``."""
    for bound in list(http.sockets):
        fn(bound, arg)


def evhttp_get_connection_count(http: HTTPServer) -> int:
    """``len(http.connections)``."""
    return len(http.connections)


# --- callbacks and virtual hosts ----------------------------------------------------------


def evhttp_set_cb(http: HTTPServer, path: str, cb: evhttp_request_cb, arg: Any) -> int:
    """``http.set_cb(path, handler)`` with ``cb(req, arg)``: 0, or -1 if ``path`` has one."""
    handler = _handler(cb, arg)
    try:
        http.set_cb(path, handler)
    except EvwebError as exc:
        return failed("evhttp_set_cb", exc)
    _server_state(http).callbacks[path] = handler
    return 0


def evhttp_del_cb(http: HTTPServer, path: str) -> int:
    """``http.del_cb(path)``: 0, or -1 if ``path`` has no callback."""
    _server_state(http).callbacks.pop(path, None)
    try:
        http.del_cb(path)
    except KeyError as exc:
        return failed("evhttp_del_cb", exc)
    return 0


def evhttp_set_gencb(http: HTTPServer, cb: evhttp_request_cb | None, arg: Any) -> None:
    """``http.set_gencb(handler)`` with ``cb(req, arg)``; None removes it (404 then)."""
    handler = None if cb is None else _handler(cb, arg)
    _server_state(http).gencb = handler
    http.set_gencb(handler)


def evhttp_add_virtual_host(http: HTTPServer, pattern: str, vhost: HTTPServer) -> int:
    """``http.add_virtual_host(pattern, vhost)``: 0, or -1 if it has sockets or is a vhost."""
    state = _server_state(vhost)
    if state.is_vhost:
        return failed("evhttp_add_virtual_host", ValueError("already a virtual host"))
    try:
        http.add_virtual_host(pattern, vhost)
    except EvwebError as exc:
        return failed("evhttp_add_virtual_host", exc)
    state.is_vhost = True
    return 0


def evhttp_remove_virtual_host(http: HTTPServer, vhost: HTTPServer) -> int:
    """``http.remove_virtual_host(vhost)``: 0, or -1 if it is not one of ``http``'s."""
    try:
        http.remove_virtual_host(vhost)
    except KeyError as exc:
        return failed("evhttp_remove_virtual_host", exc)
    _server_state(vhost).is_vhost = False
    return 0


def evhttp_add_server_alias(http: HTTPServer, alias: str) -> int:
    """``http.add_server_alias(alias)``: 0."""
    http.add_server_alias(alias)
    return 0


def evhttp_remove_server_alias(http: HTTPServer, alias: str) -> int:
    """``http.remove_server_alias(alias)``: 0, or -1 if unknown."""
    try:
        http.remove_server_alias(alias)
    except KeyError as exc:
        return failed("evhttp_remove_server_alias", exc)
    return 0


def evhttp_set_newreqcb(http: HTTPServer, cb: evhttp_newreq_cb | None, arg: Any) -> None:
    """``http.on_request = hook``: ``cb(req, arg)`` per request; -1 drops the connection."""
    if cb is None:
        http.on_request = None
        return

    def hook(req: Request) -> bool:
        return cb(req, arg) != -1

    http.on_request = hook


def evhttp_set_errorcb(http: HTTPServer, cb: evhttp_error_cb | None, arg: Any) -> None:
    """``http.error_page_hook``: ``cb(req, buf, code, reason, arg)`` fills ``buf``; < 0: default."""
    if cb is None:
        http.error_page_hook = None
        return

    def hook(req: Request, status: int, phrase: str, explanation: str | None) -> bytes | None:
        buf = Buffer()
        if cb(req, buf, status, explanation, arg) < 0:
            return None
        return _drain(buf) or None

    http.error_page_hook = hook


# --- limits and options -------------------------------------------------------------------


def evhttp_set_timeout(http: HTTPServer, secs: int) -> None:
    """``config.replace(<read timeouts>=secs, write_timeout=secs)``; -1 or 0: none."""
    evhttp_set_timeout_tv(http, float(secs) if secs > 0 else None)


def evhttp_set_timeout_tv(http: HTTPServer, tv: Timeval) -> None:
    """``config.replace(<read timeouts>=tv, write_timeout=tv)``; None or 0: none."""
    evhttp_set_read_timeout_tv(http, tv)
    evhttp_set_write_timeout_tv(http, tv)


def evhttp_set_read_timeout_tv(http: HTTPServer, tv: Timeval) -> None:
    """``config.replace(head_timeout=tv, body_timeout=tv, keep_alive_timeout=tv)``."""
    seconds = _seconds(tv)
    _configure(
        http,
        "evhttp_set_read_timeout_tv",
        head_timeout=seconds,
        body_timeout=seconds,
        keep_alive_timeout=seconds,
    )


def evhttp_set_write_timeout_tv(http: HTTPServer, tv: Timeval) -> None:
    """``config.replace(write_timeout=tv)``; None or 0: none."""
    _configure(http, "evhttp_set_write_timeout_tv", write_timeout=_seconds(tv))


def evhttp_set_flags(http: HTTPServer, flags: int) -> int:
    """``config.replace(lingering_close=...)``: 0, or 1 for unknown flags as in C."""
    if flags & ~EVHTTP_SERVER_LINGERING_CLOSE:
        return 1
    lingering = bool(flags & EVHTTP_SERVER_LINGERING_CLOSE)
    _configure(http, "evhttp_set_flags", lingering_close=lingering)
    return 0


def evhttp_set_max_headers_size(http: HTTPServer, size: int) -> None:
    """``config.replace(max_header_size=size, max_line=size)``; < 0: no limit."""
    limit = _NO_LIMIT if size < 0 else max(size, 1)
    _configure(http, "evhttp_set_max_headers_size", max_header_size=limit, max_line=limit)


def evhttp_set_max_body_size(http: HTTPServer, size: int) -> None:
    """``config.replace(max_body_size=size)``; < 0: no limit. Re-registers the C callbacks."""
    if _configure(http, "evhttp_set_max_body_size", max_body_size=None if size < 0 else size):
        return
    state: _ServerState | None = getattr(http, _STATE, None)
    if state is None:
        return
    for path, handler in list(state.callbacks.items()):
        try:
            http.del_cb(path)
        except KeyError:  # removed with the Pythonic del_cb
            del state.callbacks[path]
            continue
        http.set_cb(path, handler)
    if state.gencb is not None:
        http.set_gencb(state.gencb)


def evhttp_set_max_connections(http: HTTPServer, n: int) -> None:
    """``config.replace(max_connections=n)``; 0 or < 0: no limit (over it: 503 and close)."""
    _configure(http, "evhttp_set_max_connections", max_connections=n if n > 0 else None)


def evhttp_set_default_content_type(http: HTTPServer, content_type: str | None) -> None:
    """``config.replace(default_content_type=content_type)``; None: add none."""
    _configure(http, "evhttp_set_default_content_type", default_content_type=content_type)


def evhttp_set_allowed_methods(http: HTTPServer, methods: int) -> None:
    """``config.replace(allowed_methods={...})`` from ``EVHTTP_REQ_*`` bits."""
    allowed = frozenset(name for name, bit in _METHOD_BITS.items() if methods & bit)
    _configure(http, "evhttp_set_allowed_methods", allowed_methods=allowed)


# --- replies ------------------------------------------------------------------------------


def evhttp_send_reply(req: Request, code: int, reason: str | None, databuf: Buffer | None) -> None:
    """``req.send_reply(code, reason, body)``: the output buffer then ``databuf``, both drained."""
    body = _drain(databuf)
    state = req.state.get(_KEY)
    if state is not None and len(state.output):
        body = _drain(state.output) + body
    req.send_reply(code, reason, body)


def evhttp_send_error(req: Request, code: int, reason: str | None) -> None:
    """``req.send_error(code, None, reason)``: evhttp's HTML page, then close."""
    req.send_error(code, None, reason)


def evhttp_send_reply_start(req: Request, code: int, reason: str | None) -> None:
    """``req.start_reply(code, reason)``: chunked for HTTP/1.1 without a Content-Length."""
    req.start_reply(code, reason)


def evhttp_send_reply_chunk(req: Request, databuf: Buffer) -> None:
    """``req.send_chunk(data)`` with ``databuf``'s content (drained; empty ones are skipped)."""
    data = _drain(databuf)
    if data:
        req.send_chunk(data)


def evhttp_send_reply_chunk_with_cb(
    req: Request, databuf: Buffer, cb: evhttp_chunk_cb | None, arg: Any
) -> None:
    """``req.send_chunk(data, on_flushed)``: ``cb(req, arg)`` once the output has drained."""
    data = _drain(databuf)
    if data:  # as in C, an empty buffer sends nothing and calls nothing
        req.send_chunk(data, None if cb is None else lambda r: cb(r, arg))


def evhttp_send_reply_end(req: Request) -> None:
    """``req.end_reply()``: the last chunk."""
    req.end_reply()


def evhttp_request_set_on_complete_cb(req: Request, cb: evhttp_request_cb | None, arg: Any) -> None:
    """``req.on_complete(...)``: ``cb(req, arg)`` once the reply has left (replaces the last)."""
    state = _request_state(req)
    state.on_complete = None if cb is None else (cb, arg)
    if not state.registered:
        state.registered = True
        req.on_complete(_run_on_complete)


def _run_on_complete(req: Request) -> None:
    on_complete = _request_state(req).on_complete
    if on_complete is not None:
        on_complete[0](req, on_complete[1])


# --- the request ------------------------------------------------------------------------


def evhttp_request_get_uri(req: Request) -> str:
    """``req.target``: the URI as sent."""
    return req.target


def evhttp_request_get_command(req: Request) -> int:
    """``req.method`` as its ``EVHTTP_REQ_*`` bit (0 for an extension method)."""
    return _METHOD_BITS.get(req.method, 0)


def evhttp_request_get_input_headers(req: Request) -> Headers:
    """``req.headers``."""
    return req.headers


def evhttp_request_get_output_headers(req: Request) -> Headers:
    """``req.response_headers``."""
    return req.response_headers


def evhttp_request_get_input_buffer(req: Request) -> Buffer:
    """``Buffer(req.body)``: the same Buffer on each call, so draining it sticks."""
    return _request_state(req).input


def evhttp_request_get_output_buffer(req: Request) -> Buffer:
    """A Buffer whose content ``evhttp_send_reply`` sends before its ``databuf``."""
    return _request_state(req).output


def evhttp_request_get_host(req: Request) -> str | None:
    """``req.host`` (URI host, else Host without port; lowercased), None when there is none."""
    return req.host or None


def evhttp_request_get_response_code(req: Request) -> int:
    """``req.status``: the status sent, 0 before a reply starts."""
    return req.status


# --- struct evkeyvalq ---------------------------------------------------------------------


def evhttp_find_header(headers: Headers, key: str) -> str | None:
    """``headers.get(key)``: the first value, case-insensitively."""
    return headers.get(key)


def evhttp_add_header(headers: Headers, key: str, value: str) -> int:
    """``headers.add(key, value)``: 0, or -1 for an illegal name or value."""
    try:
        headers.add(key, value)
    except EvwebError as exc:
        return failed("evhttp_add_header", exc)
    return 0


def evhttp_remove_header(headers: Headers, key: str) -> int:
    """``headers.remove(key)``: 0, or -1 if there is no such field."""
    try:
        headers.remove(key)
    except KeyError as exc:
        return failed("evhttp_remove_header", exc)
    return 0


def evhttp_clear_headers(headers: Headers) -> None:
    """``headers.clear()``."""
    headers.clear()
