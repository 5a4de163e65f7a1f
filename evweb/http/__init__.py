r"""HTTP/1.1: a sans-IO core (readers, writer, headers), a server and a web-framework layer.

The sans-IO core parses and serialises messages from bytes alone::

    >>> from evweb.http import RequestReader, NEED_DATA
    >>> reader = RequestReader()
    >>> reader.feed(b"GET /hi HTTP/1.1\r\nHost: example.com\r\n\r\n")
    >>> head = reader.next_event()
    >>> head.method, head.target, head.headers["host"]
    ('GET', '/hi', 'example.com')
    >>> reader.next_event()
    <EndOfMessage trailers=0>
    >>> reader.next_event() is NEED_DATA
    True

Errors are :class:`~evweb.errors.HTTPProtocolError` subclasses carrying the
status to answer; see :mod:`evweb.errors`.

The web-framework layer (:class:`App`, :mod:`evweb.http.routing`,
:mod:`evweb.http.responses`, :mod:`evweb.http.bodies`) sits on the server
through its ``router`` hook. :mod:`evweb.http.uri` is the URI toolkit
(:class:`URI`, :func:`uriencode`, :func:`uridecode`, :func:`parse_query_str`,
:func:`htmlescape`).

The client side: :class:`HTTPConnection` (libevent's evhttp_connection: one
server, a queue, keep-alive, retries) and :class:`Client` on top (URLs, a
connection pool, redirects, proxies); both return a :class:`ResponseFuture`.
"""

from __future__ import annotations

from evweb.http.app import App
from evweb.http.client import Client
from evweb.http.client_config import Limits, Timeouts
from evweb.http.config import ServerConfig
from evweb.http.connection import ConnectionState, HTTPConnection
from evweb.http.events import (
    CLOSED,
    KNOWN_METHODS,
    NEED_DATA,
    PAUSED,
    Data,
    EndOfMessage,
    Event,
    RequestHead,
    ResponseHead,
    Sentinel,
)
from evweb.http.exchange import ClientRequest, ClientResponse, ResponseFuture
from evweb.http.headers import Headers, check_field
from evweb.http.multidict import MultiDict
from evweb.http.reader import RequestReader, ResponseReader
from evweb.http.request import ReplyStateError, Request
from evweb.http.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamResponse,
    Template,
    TextResponse,
)
from evweb.http.routing import Router
from evweb.http.server import BoundSocket, HTTPServer, Route
from evweb.http.uri import URI, URIFlags, htmlescape, parse_query_str, uridecode, uriencode
from evweb.http.writer import (
    BodyMode,
    Framing,
    chunk,
    frame_response,
    http_date,
    last_chunk,
    reason_phrase,
    request_head,
    response_head,
)

__all__ = [
    "Client",
    "ClientRequest",
    "ClientResponse",
    "ConnectionState",
    "HTTPConnection",
    "Limits",
    "ResponseFuture",
    "Timeouts",
    "App",
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "RedirectResponse",
    "Response",
    "Router",
    "StreamResponse",
    "Template",
    "TextResponse",
    "CLOSED",
    "KNOWN_METHODS",
    "NEED_DATA",
    "PAUSED",
    "BodyMode",
    "Data",
    "EndOfMessage",
    "Event",
    "Framing",
    "Headers",
    "HTTPServer",
    "BoundSocket",
    "MultiDict",
    "ReplyStateError",
    "Request",
    "Route",
    "ServerConfig",
    "RequestHead",
    "RequestReader",
    "ResponseHead",
    "ResponseReader",
    "Sentinel",
    "check_field",
    "chunk",
    "frame_response",
    "http_date",
    "last_chunk",
    "reason_phrase",
    "request_head",
    "response_head",
    "URI",
    "URIFlags",
    "htmlescape",
    "parse_query_str",
    "uridecode",
    "uriencode",
]
