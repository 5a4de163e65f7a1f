"""ServerConnection: drives a RequestReader over one BufferEvent and writes the replies.

Why it is shaped this way:

* One request at a time. The next pipelined request is parsed only once the
  reply before it has been handed to the kernel, so replies leave in request
  order and a slow client holds at most one reply plus ``pipeline_buffer``
  bytes of requests (reading pauses above that).
* The hot path (a keep-alive GET answered at once) is one read callback, one
  parse, one handler call and one ``send`` through the BufferEvent's inline
  write; no timer is touched because the BufferEvent's read timeout already
  restarts on every read. Timeouts change only when a head or a body does not
  arrive in one piece.
* Errors before a handler runs (a malformed head, a body over the limit, a
  timeout) get their status page with ``Connection: close``; then, with
  lingering close, the server stops writing and reads what the client still
  sends for a moment, so the client sees the reply instead of a reset.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from evweb.errors import HTTPProtocolError
from evweb.http import _replies
from evweb.http.events import CLOSED, NEED_DATA, Data, EndOfMessage, RequestHead
from evweb.http.reader import RequestReader
from evweb.http.request import DONE, Request
from evweb.io import BufferEvent, SocketBufferEvent
from evweb.io.bevflags import CONNECTED, EOF, ERROR, TIMEOUT, WRITING
from evweb.reactor import READ

if TYPE_CHECKING:
    from evweb.http.server import HTTPServer, Route

log = logging.getLogger("evweb.http.server")

_IDLE, _HEAD, _BODY = 0, 1, 2  # what the read timeout is currently set for


class ServerConnection(_replies.ReplyWriter):
    """One client connection of an :class:`~evweb.http.server.HTTPServer`."""

    __slots__ = (
        "_body_done",
        "_body_limit",
        "_body_parts",
        "_body_size",
        "_head_deadline",
        "_in_process",
        "_route",
        "_timeout_for",
        "bev",
        "closed",
        "closing",
        "peer",
        "reader",
        "requests",
        "server",
        "tls",
    )

    def __init__(self, server: HTTPServer, bev: BufferEvent, peer: Any, tls: bool) -> None:
        cfg = server.config
        self.server = server
        self.bev = bev
        self.peer = peer
        self.tls = tls
        self.closed = False
        self.closing = False  # finish the current request, then close
        self.reader = RequestReader(
            max_line=cfg.max_line, max_header_size=cfg.max_header_size, max_fields=cfg.max_fields
        )
        self.current: Request | None = None
        self.requests = 0
        self._route: Route | None = None
        self._body_parts: list[bytes] | None = None
        self._body_size = 0
        self._body_limit: int | None = None
        self._body_done = True
        self._in_process = False
        self._timeout_for = _IDLE
        self._head_deadline = 0.0
        _replies.ReplyWriter.__init__(self)
        bev.set_callbacks(self._on_read, None, self._on_event)
        if not tls and isinstance(bev, SocketBufferEvent):
            bev.set_data_sink(self._on_data_in)
        bev.set_timeouts(cfg.keep_alive_timeout, cfg.write_timeout)
        bev.enable(READ)

    # -- reading -------------------------------------------------------------------
    def _on_read(self, bev: BufferEvent, arg: Any) -> None:
        inp = bev.input
        self._on_data_in(bev, inp.remove(len(inp)))

    def _on_data_in(self, bev: BufferEvent, data: bytes) -> None:
        self.reader.feed(data)
        if self.current is None or not self._body_done:
            self._process()
        elif self.reader.buffered > self.server.config.pipeline_buffer:
            bev.disable(READ)  # resumed when the reply in flight is done

    def _process(self) -> None:
        """Pull events until the reader needs data or a request is being answered."""
        if self._in_process:
            return
        self._in_process = True
        try:
            self._pump()
        finally:
            self._in_process = False

    def _pump(self) -> None:
        reader = self.reader
        while not self.closed and (self.current is None or not self._waiting()):
            try:
                event = reader.next_event()
            except HTTPProtocolError as exc:
                self._reject(exc)
                return
            kind = type(event)
            if kind is RequestHead:
                self._on_head(event)  # type: ignore[arg-type]
            elif kind is Data:
                self._on_data(event.data)  # type: ignore[union-attr]
            elif kind is EndOfMessage:
                self._on_end()
            elif event is NEED_DATA:
                self._need_data()
                return
            elif event is CLOSED:
                self.close()
                return
            else:  # PAUSED after CONNECT: it was refused, parse on
                reader.resume()

    def _waiting(self) -> bool:
        """A request is being answered and its body is in: the next one must wait."""
        req = self.current
        if req is None:
            return False
        if req.streaming and req.body_callbacks is None and not self._body_done:
            return True  # the handler has not asked for the body yet
        return self._body_done

    def _on_head(self, head: RequestHead) -> None:
        server = self.server
        self.requests += 1
        req = Request(self, head)
        self.current = req
        self._body_done = False  # until its EndOfMessage
        if self._timeout_for == _HEAD:
            self._set_read_timeout(_IDLE)
        if head.method not in server.config.allowed_methods:
            self._reject(server.method_error(head.method))
            return
        route = server.resolve(req)
        self._route = route
        req.streaming = route.stream
        limit = route.max_body_size
        if limit == -1:
            limit = server.config.max_body_size
        self._body_limit = limit
        self._body_size = 0
        if limit is not None and head.content_length is not None and head.content_length > limit:
            self._reject(_replies.too_large(head.content_length, limit))
            return
        if server.on_request is not None and server.on_request(req) is False:
            self.abort()
            return
        if head.has_body:
            self._body_parts = None if route.stream else []
            if head.expect_continue and not route.stream and not self.reader.buffered:
                self.write_continue()
        if route.stream:
            self._dispatch(req)

    def _on_data(self, data: bytes) -> None:
        req = self.current
        if req is None:
            return
        self._body_size += len(data)
        limit = self._body_limit
        if limit is not None and self._body_size > limit:
            self._reject(_replies.too_large(self._body_size, limit))
            return
        if self._body_parts is not None:
            self._body_parts.append(data)
        elif req.body_callbacks is not None:
            self._call_body(req, 0, data)

    def _on_end(self) -> None:
        self._body_done = True
        req = self.current
        if self._timeout_for == _BODY:
            self._set_read_timeout(_IDLE)
        if req is None or (req.replied and not req.streaming):
            return
        if req.streaming:
            if req.body_callbacks is not None:
                self._call_body(req, 1, b"")
            return
        parts = self._body_parts
        if parts:
            req.body = parts[0] if len(parts) == 1 else b"".join(parts)
        self._body_parts = None
        self._dispatch(req)

    def _need_data(self) -> None:
        """The reader waits for bytes: arm the head deadline or the body timeout."""
        if self.current is None and self.reader.buffered:
            self._head_pending()
        elif self.current is not None and not self._body_done and self._timeout_for != _BODY:
            self._set_read_timeout(_BODY)

    def _head_pending(self) -> None:
        """Part of a head is in: the whole head must come before one deadline.

        The BufferEvent's read timeout restarts on every read, so a client
        dripping a byte at a time would never meet it: each partial read
        shortens it to what is left of the deadline instead.
        """
        cfg = self.server.config
        if cfg.head_timeout is None:
            if self._timeout_for != _HEAD:
                self._set_read_timeout(_HEAD)
            return
        now = self.server.base.monotonic_time()
        if self._timeout_for != _HEAD:
            self._head_deadline = now + cfg.head_timeout
            self._set_read_timeout(_HEAD)
            return
        left = self._head_deadline - now
        if left <= 0:
            self._reject(_replies.timed_out(True))
        else:
            self.bev.set_timeouts(left, cfg.write_timeout)

    def _set_read_timeout(self, mode: int) -> None:
        cfg = self.server.config
        self._timeout_for = mode
        value = (cfg.keep_alive_timeout, cfg.head_timeout, cfg.body_timeout)[mode]
        self.bev.set_timeouts(value, cfg.write_timeout)

    # -- handlers ------------------------------------------------------------------
    def _dispatch(self, req: Request) -> None:
        route = self._route
        assert route is not None
        try:
            route.handler(req)
        except Exception as exc:  # a handler bug must not take the server down
            self.handler_failed(req, exc)

    def _call_body(self, req: Request, which: int, data: bytes) -> None:
        callbacks = req.body_callbacks
        assert callbacks is not None
        try:
            if which == 0:
                callbacks[0](req, data)
            else:
                callbacks[1](req)
        except Exception as exc:
            self.handler_failed(req, exc)

    def body_wanted(self, req: Request) -> None:
        """A streaming handler called read_body(): send 100 Continue if owed, deliver what waits."""
        if req.head.expect_continue and not req.replied and not self.reader.buffered:
            self.write_continue()
        if not self._in_process and not self.closed:
            self.bev.base.deferred(lambda _arg: self._process()).schedule()

    def handler_failed(self, req: Request, exc: BaseException) -> None:
        """Log a handler's exception; answer 500 if nothing was sent yet, else drop the link."""
        log.error("handler for %s %s raised", req.method, req.target, exc_info=exc)
        if not req.replied and not self.closed:
            req._state = DONE
            req.status = 500
            self.send_error_page(req, 500, None, None, close=False)
        elif not req.finished:
            self.abort()

    # -- after a reply ---------------------------------------------------------------
    def reply_finished(self, req: Request) -> None:
        """The reply to ``req`` was handed to the kernel in full."""
        if self.server.config.access_log:
            self.server.log_access(req, self.peer)
        cbs = req._complete_cbs
        if cbs:
            for cb in cbs:
                cb(req)
        if self.current is req:
            self.current = None
        if not self._body_done and not req.head.has_body:
            self._take_empty_end()
        if not self._body_done or self.reader._body is not None:
            self.keep_alive = False  # a body nobody read: its end cannot be found cheaply
        if not self.keep_alive or self.closing:
            self.close_after_reply()
            return
        if self._timeout_for != _IDLE:
            self._set_read_timeout(_IDLE)
        bev = self.bev
        if not bev._enabled & READ:
            bev.enable(READ)
        if self.reader._buf:
            self._process()

    def _take_empty_end(self) -> None:
        """A streaming handler answered a bodiless request at its head: consume its end now."""
        try:
            event = self.reader.next_event()
        except HTTPProtocolError:
            return
        if type(event) is EndOfMessage:
            self._body_done = True

    # -- events and errors -------------------------------------------------------------
    def _on_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        if what == CONNECTED:
            return  # a TLS handshake finished: requests follow
        if what & TIMEOUT:
            self._on_timeout(what)
        elif what & EOF and not what & WRITING:
            self.reader.feed_eof()
            self.closing = True
            if self.current is None or not self._body_done:
                self._process()
        else:
            self._lost(bev.error if what & ERROR else None)

    def _on_timeout(self, what: int) -> None:
        if what & WRITING:
            self._lost(None)
        elif self._timeout_for in (_HEAD, _BODY):
            self._reject(_replies.timed_out(self._timeout_for == _HEAD))
        elif self.current is not None:
            self.bev.enable(READ)  # a handler is still working: not the client's fault
        else:
            self.close()

    def _lost(self, error: BaseException | None) -> None:
        """The client is gone: tell a streaming handler, close without a reply."""
        req = self.current
        if req is not None and req.body_callbacks is not None and not self._body_done:
            on_error = req.body_callbacks[2]
            if on_error is not None:
                on_error(req, error or ConnectionResetError("client went away"))
        self.close()

    def _reject(self, exc: HTTPProtocolError) -> None:
        """Answer a protocol error with its status page, then close (lingering)."""
        req = self.current
        self.lingering = self.server.config.lingering_close
        if req is not None and req.replied:
            self.abort()
            return
        self.send_rejection(req, exc)

    def shutdown_soon(self) -> None:
        """Graceful shutdown: close now if idle, else after the reply in flight."""
        self.closing = True
        if self.current is None and not self.reader.buffered:
            self.close()

    def close(self) -> None:
        """Close the connection now; replies in flight are dropped."""
        if self.closed:
            return
        self.closed = True
        self.bev.close()
        self.server.connection_closed(self)

    abort = close
