"""``event2/http.h``, the client side, over :class:`~evweb.http.HTTPConnection`.

The ``struct evhttp_connection *`` is the :class:`~evweb.http.HTTPConnection`
itself, so its Pythonic attributes work on it too; the client's
``struct evhttp_request *`` is an :class:`OutgoingRequest` made by
``evhttp_request_new``, whose output headers and buffer are filled with the
usual ``evhttp_add_header`` / ``evbuffer_add`` and which, once answered,
holds the response (code, code line, input headers, input buffer). A
``struct evdns_base *`` is a :class:`~evweb.io.resolve.Resolver` or None
(getaddrinfo in worker threads, where C would block). Timeouts are float
seconds, None for NULL.

The ``evhttp_request_get_*`` getters and the ``evhttp_connection_get_*``
ones work on both sides: on a server :class:`~evweb.http.Request` and the
connection it came on (``evhttp_connection_get_peer(evhttp_request_get_connection(req))``
gives the client's address) as well as on the client's objects.

Callbacks keep C's shapes and order (libevent's ``evhttp_connection_fail_``):

* ``cb(req, arg)`` with the answered request;
* on a failure once connected (timeout, EOF, a bad or oversized response,
  a header callback returning < 0): ``error_cb(EVREQ_HTTP_*, arg)`` first,
  then ``cb(None, arg)``;
* when the connection cannot be made (refused, or the connect timeout),
  once the retries are spent: ``cb(req, arg)`` with response code 0 and
  ``evhttp_request_get_connection(req)`` None, no error callback; any other
  connect failure (name not found, unreachable, TLS handshake or
  certificate) is ``error_cb(EVREQ_HTTP_EOF)`` then ``cb(None, arg)``;
* ``evhttp_cancel_request``: for the request in progress (the first one
  queued) ``error_cb(EVREQ_HTTP_REQUEST_CANCEL, arg)`` and no ``cb``; for
  one still waiting in the queue, nothing; ``evhttp_connection_free``
  drops whatever is queued without any callback.

The ``bev`` of ``evhttp_connection_base_bufferevent_new`` and
``_unix_new`` tells what kind of connection to open, since HTTPConnection
opens a new BufferEvent for each connection: None or a socket-less
``bufferevent_socket_new(base, -1, ...)`` for plain HTTP; a socket-less
``bufferevent_openssl_socket_new(base, -1, ctx, BUFFEREVENT_SSL_CONNECTING, ...)``
for HTTPS with its context and ``server_hostname`` (SNI and the hostname
check; without one, HTTPConnection's default from the host); or, as an evweb
shorthand, an :class:`ssl.SSLContext` itself. That bufferevent is not used
for IO (its TLS flags, such as dirty shutdown, do not carry over) and is
closed by ``evhttp_connection_free``; ``evhttp_connection_get_bufferevent``
gives the BufferEvent of the open connection (None between connections).

Where evweb differs from libevent:

* A failed connect is retried whatever the reason (libevent retries only a
  refused connect or the connect timeout); once the retries are spent,
  every queued request gets the callbacks of that failure (libevent: for
  a failure other than refusal or timeout, only the first one does, and
  the next goes over a new connection).
* ``evhttp_connection_set_timeout`` and the ``_tv`` setters apply from the
  next request (libevent also re-arms the open connection's timers); 0
  means no timeout. ``evhttp_connection_set_max_headers_size`` applies from
  the next connection.
* ``evhttp_connection_get_peer`` returns ``(host, port)`` (the address
  asked for, as in C; ``(None, 0)`` for a Unix socket) instead of filling
  out-parameters; ``evhttp_connection_get_addr`` the socket address reached.
* ``evhttp_request_get_host`` on a client request is the host of an
  absolute URI, else of the ``Host`` sent (libevent looks in the response
  headers). ``evhttp_request_get_uri`` is None before ``evhttp_make_request``.
* The chunked callback gets the bytes of each read (chunk framing removed);
  ``evhttp_request_get_input_buffer`` holds the body otherwise, and the
  response trailers are added to the input headers.
* ``evhttp_request_get_response_code_line`` on a server request is the
  standard phrase of the status sent (evweb keeps no custom reason).

Not offered: ``evhttp_connection_base_bufferevent_reuse_new`` (an
HTTPConnection always opens its own sockets), ``evhttp_connection_set_flags``
(reading the response after a write error is always on), the
``evhttp_request_own`` / ``evhttp_request_free`` pair (requests are
garbage-collected), and ``evhttp_request_get_evhttp_uri``. A 2xx answer to
``EVHTTP_REQ_CONNECT`` ends the connection, so sample/http-connect.c's
requests through the tunnel go out over a new connection: use
``HTTPConnection(proxy=...)`` for tunnels.
"""

from __future__ import annotations

import errno
import ssl
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from evweb.errors import (
    ConnectError,
    ConnectTimeoutError,
    ContentTooLargeError,
    EvwebError,
    EvwebTimeoutError,
    HTTPProtocolError,
    RequestCancelledError,
    ServerDisconnectedError,
)
from evweb.http import (
    ClientRequest,
    ClientResponse,
    Headers,
    HTTPConnection,
    Request,
    ResponseFuture,
    Timeouts,
    reason_phrase,
)
from evweb.io import Buffer, BufferEvent, SocketBufferEvent, TLSBufferEvent, TLSState
from evweb.io.resolve import Resolver
from evweb.libevent import _http as server
from evweb.libevent._status import Timeval, failed
from evweb.reactor import CommonTimeout, EventBase

if TYPE_CHECKING:
    from evweb.http import HTTPServer
    from evweb.http._conn import ServerConnection

    Connection = HTTPConnection | ServerConnection
    """A ``struct evhttp_connection *``: a client's, or the one a server request came on."""

# ``enum evhttp_request_error``: what error_cb receives.
EVREQ_HTTP_TIMEOUT = 0
EVREQ_HTTP_EOF = 1
EVREQ_HTTP_INVALID_HEADER = 2
EVREQ_HTTP_BUFFER_ERROR = 3
EVREQ_HTTP_REQUEST_CANCEL = 4
EVREQ_HTTP_DATA_TOO_LONG = 5

_QUIET = -1  # cancelled while waiting in the queue: no callback at all
_NOT_CONNECTED = -2  # the connection could not be made: cb(req), no error callback
_DEFAULTS = Timeouts()  # libevent's: connect 45 s, read and write 50 s
_DEFAULT_RETRY_DELAY = 2.0
_SUN_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux: libevent refuses longer paths
_METHOD_NAMES = {bit: name for name, bit in server._METHOD_BITS.items()}

evhttp_client_cb = Callable[["OutgoingRequest | None", Any], object]
"""``cb(req, arg)``: the answered request, or None after a failure."""
evhttp_request_header_cb = Callable[["OutgoingRequest", Any], "int | None"]
"""``cb(req, arg)`` once the response head is in; < 0 aborts the request."""
evhttp_request_chunk_cb = Callable[["OutgoingRequest", Any], object]
"""``cb(req, arg)`` with new body bytes in the input buffer (drained afterwards)."""
evhttp_request_error_cb = Callable[[int, Any], object]
"""``cb(error, arg)`` with an ``EVREQ_HTTP_*`` code, before ``cb(None, arg)``."""
evhttp_connection_closecb = Callable[[HTTPConnection, Any], object]
"""``cb(evcon, arg)`` each time the connection closes."""


class OutgoingRequest:
    """The client's ``struct evhttp_request``: what to send, then the response it got."""

    __slots__ = (
        "_abort",
        "arg",
        "cb",
        "chunk_cb",
        "command",
        "connection",
        "error_cb",
        "future",
        "header_cb",
        "input_buffer",
        "input_headers",
        "output_buffer",
        "output_headers",
        "response",
        "response_code",
        "response_code_line",
        "uri",
    )

    def __init__(self, cb: evhttp_client_cb | None, arg: Any) -> None:
        self.cb = cb
        self.arg = arg
        self.chunk_cb: evhttp_request_chunk_cb | None = None
        self.header_cb: evhttp_request_header_cb | None = None
        self.error_cb: evhttp_request_error_cb | None = None
        self.output_headers = Headers()
        self.output_buffer = Buffer()
        self.input_headers = Headers()
        self.input_buffer = Buffer()
        self.response_code = 0
        self.response_code_line: str | None = None
        self.command = 0
        self.uri: str | None = None
        self.connection: HTTPConnection | None = None
        self.future: ResponseFuture | None = None
        self.response: ClientResponse | None = None
        self._abort: int | None = None  # the outcome to report when the future was cancelled

    def __repr__(self) -> str:
        method = _METHOD_NAMES.get(self.command, "?")
        return f"<OutgoingRequest {method} {self.uri} code={self.response_code}>"


class _ConnectionState:
    """What ``struct evhttp_connection`` keeps that HTTPConnection does not."""

    __slots__ = ("requests", "template")

    def __init__(self, template: BufferEvent | None) -> None:
        self.requests: deque[OutgoingRequest] = deque()  # made and not ended, in order
        self.template = template  # the bufferevent given at creation, closed on free


_STATE = "_libevent_state"


def _state(evcon: HTTPConnection) -> _ConnectionState:
    state = getattr(evcon, _STATE, None)
    if state is None:
        state = _ConnectionState(None)
        setattr(evcon, _STATE, state)
    return cast(_ConnectionState, state)


def _seconds(tv: Timeval) -> float | None:
    value = tv.duration if isinstance(tv, CommonTimeout) else tv
    return float(value) if value is not None and value > 0 else None


# --- making connections -------------------------------------------------------------------


def _tls_of(bev: BufferEvent | ssl.SSLContext | None) -> tuple[ssl.SSLContext | None, str | None]:
    """The TLS settings a template bufferevent stands for (ConfigError if it cannot be one)."""
    if bev is None:
        return None, None
    if isinstance(bev, ssl.SSLContext):
        return bev, None
    if isinstance(bev, SocketBufferEvent) and bev.socket is None and not bev.closed:
        if not isinstance(bev, TLSBufferEvent):
            return None, None
        if bev.state is TLSState.CONNECTING:
            return bev.ssl_object.context, bev.server_hostname
    raise ValueError(f"{bev!r} is not a socket-less socket or client TLS bufferevent")


def _new_connection(
    name: str,
    base: EventBase,
    bev: BufferEvent | ssl.SSLContext | None,
    **kwargs: Any,
) -> HTTPConnection | None:
    try:
        ctx, server_hostname = _tls_of(bev)
        evcon = HTTPConnection(base, ssl_context=ctx, server_hostname=server_hostname, **kwargs)
    except (EvwebError, ValueError) as exc:
        failed(name, exc)
        return None
    template = bev if isinstance(bev, BufferEvent) else None
    setattr(evcon, _STATE, _ConnectionState(template))
    return evcon


def evhttp_connection_base_new(
    base: EventBase, dnsbase: Resolver | None, address: str, port: int
) -> HTTPConnection | None:
    """``HTTPConnection(base, address, port, resolver=dnsbase)``; None on a bad port."""
    return evhttp_connection_base_bufferevent_new(base, dnsbase, None, address, port)


def evhttp_connection_base_bufferevent_new(
    base: EventBase,
    dnsbase: Resolver | None,
    bev: BufferEvent | ssl.SSLContext | None,
    address: str,
    port: int,
) -> HTTPConnection | None:
    """``HTTPConnection(base, address, port, ssl_context=<bev's>, resolver=dnsbase)``."""
    name = "evhttp_connection_base_bufferevent_new"
    return _new_connection(name, base, bev, host=address, port=port, resolver=dnsbase)


def evhttp_connection_base_bufferevent_unix_new(
    base: EventBase, bev: BufferEvent | ssl.SSLContext | None, path: str
) -> HTTPConnection | None:
    """``HTTPConnection(base, unix_path=path)``; None for a path too long for a socket."""
    if len(path.encode()) >= _SUN_PATH_MAX:
        failed("evhttp_connection_base_bufferevent_unix_new", ValueError(f"{path!r} too long"))
        return None
    return _new_connection("evhttp_connection_base_bufferevent_unix_new", base, bev, unix_path=path)


def evhttp_connection_free(evcon: Connection) -> None:
    """``evcon.close()``: queued requests are dropped without callbacks."""
    evcon.close()
    if isinstance(evcon, HTTPConnection):
        state = _state(evcon)
        template, state.template = state.template, None
        if template is not None:
            template.close()


def evhttp_connection_free_on_completion(evcon: HTTPConnection) -> None:
    """``evcon.auto_close = True``: close once the last queued request has ended."""
    evcon.auto_close = True


# --- configuration ------------------------------------------------------------------------


def evhttp_connection_set_family(evcon: HTTPConnection, family: int) -> None:
    """``HTTPConnection(..., family=family)``: the address family to resolve the host in."""
    evcon.target.family = family


def evhttp_connection_set_local_address(evcon: HTTPConnection, address: str | None) -> None:
    """``HTTPConnection(..., local_address=(address, port))``: bind to it before connecting."""
    local = evcon.target.local_address
    port = local[1] if local else 0
    evcon.target.local_address = None if address is None and not port else (address or "", port)


def evhttp_connection_set_local_port(evcon: HTTPConnection, port: int) -> None:
    """``HTTPConnection(..., local_address=(address, port))``: connect from this port."""
    local = evcon.target.local_address
    address = local[0] if local else ""
    evcon.target.local_address = None if not address and not port else (address, port)


def _set_timeouts(evcon: HTTPConnection, name: str, **changes: float | None) -> None:
    try:
        evcon.timeouts = replace(evcon.timeouts, **changes)
    except EvwebError as exc:
        failed(name, exc)


def evhttp_connection_set_timeout(evcon: HTTPConnection, secs: int) -> None:
    """``evcon.timeouts = replace(timeouts, read=secs, write=secs)``; -1: 50 s, 0: none."""
    if secs < 0:
        evhttp_connection_set_timeout_tv(evcon, None)
    else:
        evhttp_connection_set_timeout_tv(evcon, float(secs))


def evhttp_connection_set_timeout_tv(evcon: HTTPConnection, tv: Timeval) -> None:
    """``evcon.timeouts = replace(timeouts, read=tv, write=tv)``; None: 50 s, 0: none."""
    if tv is None:
        read, write = _DEFAULTS.read, _DEFAULTS.write
    else:
        read = write = _seconds(tv)
    _set_timeouts(evcon, "evhttp_connection_set_timeout_tv", read=read, write=write)


def evhttp_connection_set_connect_timeout_tv(evcon: HTTPConnection, tv: Timeval) -> None:
    """``evcon.timeouts = replace(timeouts, connect=tv)``; None or 0: none."""
    _set_timeouts(evcon, "evhttp_connection_set_connect_timeout_tv", connect=_seconds(tv))


def evhttp_connection_set_read_timeout_tv(evcon: HTTPConnection, tv: Timeval) -> None:
    """``evcon.timeouts = replace(timeouts, read=tv)``; None or 0: none."""
    _set_timeouts(evcon, "evhttp_connection_set_read_timeout_tv", read=_seconds(tv))


def evhttp_connection_set_write_timeout_tv(evcon: HTTPConnection, tv: Timeval) -> None:
    """``evcon.timeouts = replace(timeouts, write=tv)``; None or 0: none."""
    _set_timeouts(evcon, "evhttp_connection_set_write_timeout_tv", write=_seconds(tv))


def evhttp_connection_set_initial_retry_tv(evcon: HTTPConnection, tv: Timeval) -> None:
    """``evcon.initial_retry_delay = tv`` (doubling at each retry); None: 2 s."""
    delay = _seconds(tv)
    evcon.initial_retry_delay = _DEFAULT_RETRY_DELAY if tv is None else (delay or 0.0)


def evhttp_connection_set_retries(evcon: HTTPConnection, retry_max: int) -> None:
    """``evcon.retries = retry_max``: connect attempts after the first; -1: forever."""
    evcon.retries = -1 if retry_max < 0 else retry_max


def evhttp_connection_set_closecb(
    evcon: HTTPConnection, cb: evhttp_connection_closecb | None, arg: Any
) -> None:
    """``evcon.on_close = hook``: ``cb(evcon, arg)`` each time the connection closes."""
    evcon.on_close = None if cb is None else (lambda conn: cb(conn, arg))


def evhttp_connection_set_max_headers_size(evcon: HTTPConnection, size: int) -> None:
    """``evcon.max_header_size = size`` (from the next connection); < 0: no limit."""
    evcon.max_header_size = sys.maxsize if size < 0 else size


def evhttp_connection_set_max_body_size(evcon: HTTPConnection, size: int) -> None:
    """``evcon.max_body_size = size``; < 0: no limit (over it: EVREQ_HTTP_DATA_TOO_LONG)."""
    evcon.max_body_size = None if size < 0 else size


# --- connection getters (client and server connections) ----------------------------------


def evhttp_connection_get_peer(evcon: Connection) -> tuple[str | None, int]:
    """``(evcon.host, evcon.port)``; a server connection's ``peer``: the client's address."""
    if isinstance(evcon, HTTPConnection):
        return (None, 0) if evcon.target.unix_path is not None else (evcon.host, evcon.port)
    peer = evcon.peer
    if isinstance(peer, tuple):
        return str(peer[0]), int(peer[1])
    return (str(peer) or None), 0


def evhttp_connection_get_addr(evcon: Connection) -> Any:
    """``evcon.peer``: the socket address connected to; None before a connection."""
    return evcon.peer


def evhttp_connection_get_bufferevent(evcon: Connection) -> BufferEvent | None:
    """``evcon.bufferevent``: the open connection's BufferEvent (None between connections)."""
    if isinstance(evcon, HTTPConnection):
        return evcon.bufferevent
    return evcon.bev


def evhttp_connection_get_base(evcon: Connection) -> EventBase:
    """``evcon.base``."""
    base: EventBase = evcon.base if isinstance(evcon, HTTPConnection) else evcon.server.base
    return base


def evhttp_connection_get_server(evcon: Connection) -> HTTPServer | None:
    """``conn.server`` for a server connection; None for a client's."""
    return None if isinstance(evcon, HTTPConnection) else evcon.server


# --- requests ----------------------------------------------------------------------------


def evhttp_request_new(cb: evhttp_client_cb | None, arg: Any) -> OutgoingRequest:
    """``OutgoingRequest(cb, arg)``: fill it, then ``evhttp_make_request``; ``cb(req, arg)``."""
    return OutgoingRequest(cb, arg)


def evhttp_request_set_chunked_cb(req: OutgoingRequest, cb: evhttp_request_chunk_cb | None) -> None:
    """``ClientRequest(on_chunk=...)``: ``cb(req, arg)`` per read; the input buffer is drained."""
    req.chunk_cb = cb


def evhttp_request_set_header_cb(req: OutgoingRequest, cb: evhttp_request_header_cb | None) -> None:
    """``ClientRequest(on_head=...)``: ``cb(req, arg)`` once the head is in; < 0 aborts (EOF)."""
    req.header_cb = cb


def evhttp_request_set_error_cb(req: OutgoingRequest, cb: evhttp_request_error_cb | None) -> None:
    """``future.exception()`` as a code: ``cb(EVREQ_HTTP_*, arg)`` before ``cb(None, arg)``."""
    req.error_cb = cb


def evhttp_make_request(evcon: HTTPConnection, req: OutgoingRequest, type: int, uri: str) -> int:
    """``evcon.request(ClientRequest(method, uri, headers, body))``: 0, or -1 if refused."""
    method = _METHOD_NAMES.get(type)
    if method is None or req.future is not None:
        why = "made already" if req.future is not None else f"unknown method type {type}"
        return failed("evhttp_make_request", ValueError(why))
    body = req.output_buffer.remove(len(req.output_buffer)) if len(req.output_buffer) else None
    request = ClientRequest(
        method,
        uri,
        req.output_headers,
        body,
        on_head=lambda response: _on_head(req, response),
        on_chunk=lambda response, data: _on_chunk(req, data),
    )
    try:
        future = evcon.request(request)
    except EvwebError as exc:
        return failed("evhttp_make_request", exc)
    if future.done():  # failed before it could start (libevent frees it and returns -1)
        error = future.exception()
        cause = error if isinstance(error, Exception) else EvwebError("the request ended at once")
        return failed("evhttp_make_request", cause)
    req.command, req.uri, req.connection, req.future = type, uri, evcon, future
    _state(evcon).requests.append(req)
    future.add_done_callback(lambda fut: _on_done(req, evcon, fut))
    return 0


def evhttp_cancel_request(req: OutgoingRequest) -> None:
    """``future.cancel()``: the callback is not called; only the one in progress gets error_cb."""
    future, evcon = req.future, req.connection
    if future is None or future.done() or evcon is None:
        return
    requests = _state(evcon).requests
    req._abort = EVREQ_HTTP_REQUEST_CANCEL if requests and requests[0] is req else _QUIET
    future.cancel()


def _on_head(req: OutgoingRequest, response: ClientResponse) -> bool | None:
    _take_head(req, response)
    header_cb = req.header_cb
    if header_cb is not None and (header_cb(req, req.arg) or 0) < 0:
        req._abort = EVREQ_HTTP_EOF
        return False  # the connection cancels the request and resets
    return None


def _on_chunk(req: OutgoingRequest, data: bytes) -> None:
    if not data:
        return
    buf = req.input_buffer
    buf.add(data)
    chunk_cb = req.chunk_cb
    if chunk_cb is not None:
        chunk_cb(req, req.arg)
        if len(buf):
            buf.drain(len(buf))


def _take_head(req: OutgoingRequest, response: ClientResponse) -> None:
    req.response = response
    req.response_code = response.status
    req.response_code_line = response.reason
    req.input_headers = response.headers


def _on_done(req: OutgoingRequest, evcon: HTTPConnection, future: ResponseFuture) -> None:
    requests = _state(evcon).requests
    if req in requests:
        requests.remove(req)
    error = future.exception()
    if error is None:
        response = future.result()
        _take_head(req, response)
        if response.trailers:  # libevent parses trailers into the input headers
            req.input_headers = response.headers.copy()
            req.input_headers.extend(response.trailers.items())
        if req.cb is not None:
            req.cb(req, req.arg)
        return
    code = req._abort
    if code is None:
        code = _QUIET if future.cancelled() else _error_code(error)
    if code == _QUIET:
        return
    if code == _NOT_CONNECTED:
        req.connection = None
        if req.cb is not None:
            req.cb(req, req.arg)
        return
    if req.error_cb is not None:
        req.error_cb(code, req.arg)
    if code != EVREQ_HTTP_REQUEST_CANCEL and req.cb is not None:
        req.cb(None, req.arg)


def _error_code(error: BaseException) -> int:
    """The ``EVREQ_HTTP_*`` code libevent reports for what evweb raised."""
    if isinstance(error, ConnectTimeoutError) or _refused(error):
        return _NOT_CONNECTED
    if isinstance(error, (ConnectError, ServerDisconnectedError)):
        return EVREQ_HTTP_EOF
    if isinstance(error, EvwebTimeoutError):
        return EVREQ_HTTP_TIMEOUT
    if isinstance(error, ContentTooLargeError):
        return EVREQ_HTTP_DATA_TOO_LONG
    if isinstance(error, HTTPProtocolError):
        return EVREQ_HTTP_INVALID_HEADER
    if isinstance(error, RequestCancelledError):
        return EVREQ_HTTP_REQUEST_CANCEL
    return EVREQ_HTTP_BUFFER_ERROR


def _refused(error: BaseException) -> bool:
    if not isinstance(error, ConnectError):
        return False
    cause = error.__cause__
    return isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED


# --- request getters (client and server requests) ----------------------------------------


def evhttp_request_get_connection(req: OutgoingRequest | Request) -> Connection | None:
    """``req.connection``: the HTTPConnection (None if it could not connect) or server one."""
    return req.connection


def evhttp_request_get_response_code(req: OutgoingRequest | Request) -> int:
    """``response.status`` (0 before a response); on a server request ``req.status``."""
    if isinstance(req, OutgoingRequest):
        return req.response_code
    return server.evhttp_request_get_response_code(req)


def evhttp_request_get_response_code_line(req: OutgoingRequest | Request) -> str | None:
    """``response.reason``; on a server request the standard phrase of the status sent."""
    if isinstance(req, OutgoingRequest):
        return req.response_code_line
    return reason_phrase(req.status) if req.status else None


def evhttp_request_get_command(req: OutgoingRequest | Request) -> int:
    """``req.method`` as its ``EVHTTP_REQ_*`` bit (0 for an extension method or none yet)."""
    if isinstance(req, OutgoingRequest):
        return req.command
    return server.evhttp_request_get_command(req)


def evhttp_request_get_uri(req: OutgoingRequest | Request) -> str | None:
    """``req.target``: the URI as sent (None before ``evhttp_make_request``)."""
    if isinstance(req, OutgoingRequest):
        return req.uri
    return server.evhttp_request_get_uri(req)


def evhttp_request_get_host(req: OutgoingRequest | Request) -> str | None:
    """``req.host``: absolute-URI host, else ``Host`` without its port; None if neither."""
    if isinstance(req, OutgoingRequest):
        return _client_host(req)
    return server.evhttp_request_get_host(req)


def _client_host(req: OutgoingRequest) -> str | None:
    uri = req.uri or ""
    if "://" in uri and not uri.startswith("/"):
        authority = uri.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
    else:
        authority = req.output_headers.get("host") or ""
    if authority.startswith("["):
        return authority[1 : authority.find("]")] or None
    return authority.rpartition(":")[0] if ":" in authority else (authority or None)


def evhttp_request_get_input_headers(req: OutgoingRequest | Request) -> Headers:
    """``response.headers`` for a client request; ``req.headers`` for a server one."""
    if isinstance(req, OutgoingRequest):
        return req.input_headers
    return server.evhttp_request_get_input_headers(req)


def evhttp_request_get_output_headers(req: OutgoingRequest | Request) -> Headers:
    """``ClientRequest.headers`` for a client request; ``req.response_headers`` for a server one."""
    if isinstance(req, OutgoingRequest):
        return req.output_headers
    return server.evhttp_request_get_output_headers(req)


def evhttp_request_get_input_buffer(req: OutgoingRequest | Request) -> Buffer:
    """``Buffer(response.body)`` for a client request; ``Buffer(req.body)`` for a server one."""
    if isinstance(req, OutgoingRequest):
        return req.input_buffer
    return server.evhttp_request_get_input_buffer(req)


def evhttp_request_get_output_buffer(req: OutgoingRequest | Request) -> Buffer:
    """``ClientRequest.body`` to be for a client request; the reply body for a server one."""
    if isinstance(req, OutgoingRequest):
        return req.output_buffer
    return server.evhttp_request_get_output_buffer(req)
