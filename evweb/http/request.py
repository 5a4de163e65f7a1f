"""Request: one HTTP request on a server connection, and the way to answer it (evhttp_request).

A handler gets a :class:`Request` and answers it exactly once, in one of
three ways:

* whole: :meth:`Request.send_reply` (or :meth:`Request.send_error` for
  evhttp's HTML error page);
* streamed: :meth:`Request.start_reply`, any number of
  :meth:`Request.send_chunk` (each may take a callback run once the chunk
  has left, the back-pressure hook), then :meth:`Request.end_reply`.
  HTTP/1.1 clients get chunked coding unless a Content-Length was set;
  HTTP/1.0 clients get raw bytes and a close;
* later: a handler may return without answering and answer from another
  callback (a timer, a DNS lookup); the connection waits.

A route that streams request bodies gets the request as soon as its head
is parsed and calls :meth:`Request.read_body` with callbacks for the pieces.
Any other handler runs once the whole body is in :attr:`Request.body`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from evweb.errors import EvwebError
from evweb.http.events import RequestHead
from evweb.http.headers import Headers, is_field_value
from evweb.http.multidict import MultiDict
from evweb.io._file_segment import HasFileno

if TYPE_CHECKING:
    from evweb.http._conn import ServerConnection
    from evweb.http.server import HTTPServer

BodyData = Callable[["Request", bytes], object]
BodyEnd = Callable[["Request"], object]
BodyError = Callable[["Request", BaseException], object]
Flushed = Callable[["Request"], object]

NEW, STARTED, DONE = 0, 1, 2
_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})


class ReplyStateError(EvwebError, RuntimeError):
    """A reply method was called in the wrong state (a second reply, a chunk before start...)."""


class Request:
    """An HTTP request received by the server, with its reply state.

    ``method``, ``target`` (as sent), ``version`` and ``headers`` come from
    the request head; ``path`` is the percent-decoded path, ``query`` the
    parsed query string; ``body`` holds the whole body (bytes) unless the
    route streams it. Set reply fields on :attr:`response_headers`.
    """

    __slots__ = (
        "_complete_cbs",
        "_conn",
        "_path",
        "_query",
        "_response_headers",
        "_state",
        "_state_dict",
        "body",
        "body_callbacks",
        "bytes_sent",
        "head",
        "headers",
        "method",
        "params",
        "root_path",
        "route",
        "status",
        "streaming",
        "target",
        "version",
    )

    def __init__(self, conn: ServerConnection, head: RequestHead) -> None:
        self._conn = conn
        self.head = head
        self.method = head.method
        self.target = head.target
        self.version = head.version
        self.headers = head.headers
        self.body = b""
        self.streaming = False
        self.status = 0
        """The status sent (0 until a reply starts)."""
        self.bytes_sent = 0
        """Body bytes sent so far (for the access log)."""
        self.root_path = ""
        """The prefix a mount point consumed (``path`` still holds the whole path)."""
        self.params: Mapping[str, Any] = _NO_PARAMS
        """Path parameters filled in by a router (a shared empty dict until then)."""
        self.route: Any = None
        """What a router matched (an App's :class:`~evweb.http.routing.PathRoute` or Mount)."""
        self.body_callbacks: tuple[BodyData, BodyEnd, BodyError | None] | None = None
        self._state = NEW
        self._path: str | None = None
        self._query: MultiDict | None = None
        self._response_headers: Headers | None = None
        self._complete_cbs: list[Callable[[Request], object]] | None = None
        self._state_dict: dict[str, Any] | None = None

    @property
    def state(self) -> dict[str, Any]:
        """Free space for middleware and handlers."""
        if self._state_dict is None:
            self._state_dict = {}
        return self._state_dict

    # -- what was asked ---------------------------------------------------------
    @property
    def path(self) -> str:
        """The percent-decoded path of the target, without the query (``*`` for ``OPTIONS *``)."""
        if self._path is None:
            raw = self.raw_path
            self._path = unquote(raw, errors="surrogateescape") if "%" in raw else raw
        return self._path

    @property
    def raw_path(self) -> str:
        """The path as sent (percent-encoding kept), without the query."""
        target = self.target
        if target.startswith("/") or target == "*":
            return target.partition("?")[0]
        return urlsplit(target).path or "/"

    @property
    def query_string(self) -> str:
        """The raw query string (after ``?``), empty when absent."""
        target = self.target
        if target.startswith("/"):
            return target.partition("?")[2]
        return urlsplit(target).query

    @property
    def query(self) -> MultiDict:
        """The query string parsed (``+`` and percent-escapes decoded; ``[]`` gives the last)."""
        if self._query is None:
            self._query = MultiDict.from_query(self.query_string)
        return self._query

    @property
    def host(self) -> str:
        """The host asked for: absolute-URI host, else ``Host`` without port, lowercased."""
        if not self.target.startswith("/") and "://" in self.target:
            host = urlsplit(self.target).hostname
            if host:
                return host.lower()
        raw = self.headers.get("host") or ""
        if raw.startswith("["):
            return raw[1 : raw.find("]")].lower() if "]" in raw else raw.lower()
        return raw.rpartition(":")[0].lower() if ":" in raw else raw.lower()

    @property
    def remote_address(self) -> Any:
        """The peer's socket address (``(host, port)`` for TCP, a path or '' for Unix sockets)."""
        return self._conn.peer

    @property
    def connection(self) -> ServerConnection:
        """The connection the request came on (``evhttp_request_get_connection``)."""
        return self._conn

    @property
    def server(self) -> HTTPServer:
        """The server that accepted the request."""
        return self._conn.server

    @property
    def keep_alive(self) -> bool:
        """Whether the client asked for the connection to persist."""
        return self.head.keep_alive

    @property
    def is_tls(self) -> bool:
        """Whether the request came over HTTPS."""
        return self._conn.tls

    @property
    def response_headers(self) -> Headers:
        """Fields to send with the reply (``evhttp_request_get_output_headers``)."""
        if self._response_headers is None:
            self._response_headers = Headers()
        return self._response_headers

    @property
    def replied(self) -> bool:
        """Whether a reply has started (or finished)."""
        return self._state != NEW

    @property
    def finished(self) -> bool:
        """Whether the reply is complete."""
        return self._state == DONE

    @property
    def connection_lost(self) -> bool:
        """Whether the client went away; replies are then dropped silently."""
        return self._conn.closed

    # -- answering ---------------------------------------------------------------
    def send_reply(
        self,
        status: int = 200,
        reason: str | None = None,
        body: bytes | bytearray | memoryview | str = b"",
        content_type: str | None = None,
    ) -> None:
        """Send the whole reply; ``str`` bodies go out as UTF-8 (``evhttp_send_reply``).

        ``content_type`` is sent unless :attr:`response_headers` has one, so
        a handler setting nothing else needs no Headers object at all.
        """
        self._check(NEW, "send_reply")
        data = body.encode() if isinstance(body, str) else bytes(body)
        if content_type is not None and not is_field_value(content_type):
            raise ValueError(f"invalid Content-Type value: {content_type!r}")
        self._state = DONE
        self.status = status
        self._conn.send_whole(self, status, reason, data, content_type)

    def send_file(
        self,
        file: int | HasFileno,
        offset: int = 0,
        length: int = -1,
        *,
        status: int = 200,
        reason: str | None = None,
    ) -> None:
        """Send ``length`` bytes of a file from ``offset`` as the whole body, with ``os.sendfile``.

        An int fd becomes the server's and is closed once sent (also for
        HEAD, where no body goes out); a file object's fd is duplicated.
        ``length`` -1 means to the end of the file.
        """
        self._check(NEW, "send_file")
        self._state = DONE
        self.status = status
        self._conn.send_file(self, status, reason, file, offset, length)

    def send_error(
        self, status: int, reason: str | None = None, explanation: str | None = None
    ) -> None:
        """Send evhttp's HTML error page for ``status`` and close the connection afterwards."""
        self._check(NEW, "send_error")
        self._state = DONE
        self.status = status
        self._conn.send_error_page(self, status, reason, explanation, close=True)

    def start_reply(self, status: int = 200, reason: str | None = None) -> None:
        """Send the status line and headers of a streamed reply (``evhttp_send_reply_start``)."""
        self._check(NEW, "start_reply")
        self._state = STARTED
        self.status = status
        self._conn.start_stream(self, status, reason)

    def send_chunk(
        self, data: bytes | bytearray | memoryview | str, on_flushed: Flushed | None = None
    ) -> None:
        """Send a piece of a streamed reply; ``on_flushed(request)`` runs once it has left."""
        self._check(STARTED, "send_chunk")
        payload = data.encode() if isinstance(data, str) else data
        self._conn.send_chunk(self, payload, on_flushed)

    def end_reply(self, trailers: Headers | None = None) -> None:
        """Finish a streamed reply (``evhttp_send_reply_end``)."""
        self._check(STARTED, "end_reply")
        self._state = DONE
        self._conn.end_stream(self, trailers)

    def on_complete(self, callback: Callable[[Request], object]) -> None:
        """Run ``callback(request)`` once the reply has been handed to the kernel in full."""
        if self._complete_cbs is None:
            self._complete_cbs = []
        self._complete_cbs.append(callback)

    def read_body(
        self, on_data: BodyData, on_end: BodyEnd, on_error: BodyError | None = None
    ) -> None:
        """Receive a streamed body: ``on_data(request, bytes)`` per piece, then ``on_end(request)``.

        Only for routes that stream bodies; ``on_error(request, exc)`` runs if
        the client goes away or breaks the framing. A ``100 Continue`` is sent
        now when the client waits for one.
        """
        if not self.streaming:
            raise ReplyStateError("read_body() is only for routes that stream request bodies")
        if self.body_callbacks is not None:
            raise ReplyStateError("read_body() was already called")
        self.body_callbacks = (on_data, on_end, on_error)
        self._conn.body_wanted(self)

    def _check(self, state: int, what: str) -> None:
        if self._state != state:
            names = {NEW: "not started", STARTED: "streaming", DONE: "finished"}
            raise ReplyStateError(f"{what}() not allowed: the reply is {names[self._state]}")

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target}>"
