"""ReplyWriter: how a server connection puts replies on the wire (whole, streamed, errors).

Kept apart from the reading side (:mod:`evweb.http._conn`) so each half
stays small. A reply is *finished* once its last byte has been handed to
the kernel: at once when the inline write took it all (the usual case),
otherwise from the BufferEvent's write callback, which is installed only
while something waits for the output to drain, so the hot path never pays
for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evweb.errors import (
    ContentTooLargeError,
    HTTPProtocolError,
    MethodNotAllowedError,
    RequestTimeoutError,
)
from evweb.http.events import RequestHead
from evweb.http.headers import Headers
from evweb.http.request import DONE, Flushed, Request
from evweb.http.writer import (
    CONTINUE_RESPONSE,
    BodyMode,
    Framing,
    chunk,
    chunk_header,
    frame_response,
    last_chunk,
)
from evweb.io import DISABLE_MMAP, BufferEvent, SocketBufferEvent
from evweb.io._file_segment import HasFileno
from evweb.reactor import READ

if TYPE_CHECKING:
    from evweb.http.server import HTTPServer

log = logging.getLogger("evweb.http.server")

_NO_HEADERS = Headers()
_BIG = 65536  # bodies above this are queued as their own segment instead of copied after the head


def _close_if_owned(file: int | HasFileno) -> None:
    if isinstance(file, int):
        os.close(file)


def too_large(size: int, limit: int) -> ContentTooLargeError:
    """The 413 error for a body of ``size`` bytes over ``limit``."""
    return ContentTooLargeError(f"request body of {size} bytes is over the limit of {limit}")


def timed_out(head: bool) -> RequestTimeoutError:
    """The 408 error for a head or body that came too slowly."""
    return RequestTimeoutError(
        "request head not received in time" if head else "request body stalled"
    )


class ReplyWriter:
    """The writing half of a server connection (mixed into ServerConnection)."""

    __slots__ = (
        "_awaiting",
        "_continued",
        "_flush_cbs",
        "_linger_until",
        "_mode",
        "current",
        "keep_alive",
        "lingering",
    )

    server: HTTPServer
    bev: BufferEvent
    closed: bool
    closing: bool
    current: Request | None
    tls: bool

    def __init__(self) -> None:
        self.keep_alive = True
        self.lingering = False
        self._mode = BodyMode.NONE
        self._awaiting: Request | None = None
        self._flush_cbs: list[tuple[Request, Flushed]] | None = None
        self._continued: Request | None = None
        self._linger_until = 0.0

    # hooks the reading half provides
    def reply_finished(self, req: Request) -> None:  # pragma: no cover - overridden
        """Called once a reply has left."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - overridden
        """Close the connection."""
        raise NotImplementedError

    def handler_failed(
        self, req: Request, exc: BaseException
    ) -> None:  # pragma: no cover - overridden
        """A handler callback raised."""
        raise NotImplementedError

    _on_read: Callable[[BufferEvent, Any], None]
    _on_event: Callable[[BufferEvent, int, Any], None]

    def _frame(
        self,
        req: Request,
        status: int,
        reason: str | None,
        length: int | None,
        content_type: str | None = None,
    ) -> Framing:
        headers = req._response_headers
        framing = frame_response(
            status,
            reason,
            _NO_HEADERS if headers is None else headers,
            method=req.method,
            version=req.version,
            keep_alive=req.head.keep_alive and not self.closing,
            body_length=length,
            default_content_type=content_type or self.server.config.default_content_type,
        )
        self.keep_alive = framing.keep_alive
        return framing

    # -- whole replies -----------------------------------------------------------------
    def send_whole(
        self,
        req: Request,
        status: int,
        reason: str | None,
        data: bytes,
        content_type: str | None = None,
    ) -> None:
        """Frame and write a reply whose body is known."""
        if self.closed:
            return
        framing = self._frame(req, status, reason, len(data), content_type)
        write = self.bev.write
        if framing.mode is BodyMode.NONE or not data:
            write(framing.head)
        elif len(data) <= _BIG:
            write(framing.head + data)
            req.bytes_sent = len(data)
        else:
            write(framing.head)
            write(data)
            req.bytes_sent = len(data)
        self._finish(req)

    def send_file(
        self,
        req: Request,
        status: int,
        reason: str | None,
        file: int | HasFileno,
        offset: int,
        length: int,
    ) -> None:
        """Frame a reply whose body is a file range and queue it as a file segment (sendfile)."""
        if length < 0:
            fd = file if isinstance(file, int) else file.fileno()
            length = max(0, os.fstat(fd).st_size - offset)
        if self.closed:
            _close_if_owned(file)
            return
        framing = self._frame(req, status, reason, length)
        self.bev.write(framing.head)
        if framing.mode is BodyMode.NONE or not length:
            _close_if_owned(file)
        else:
            # TLS must read the bytes to encrypt them. Mapped, a file cut short
            # meanwhile would kill the process with SIGBUS; pread comes up short.
            flags = DISABLE_MMAP if self.tls else 0
            self.bev.output.add_file(file, offset, length, flags)
            req.bytes_sent = length
        self._finish(req)

    def send_error_page(
        self, req: Request, status: int, reason: str | None, explanation: str | None, *, close: bool
    ) -> None:
        """Reply with the server's error page for ``status`` (the custom one when set)."""
        body = self.server.error_page(req, status, reason, explanation)
        headers = req.response_headers
        allow = headers.get("allow")
        headers.clear()
        headers.add("Content-Type", "text/html; charset=utf-8")
        if allow is not None:
            headers.add("Allow", allow)
        if close:
            headers.add("Connection", "close")
        self.send_whole(req, status, reason, body)

    def send_rejection(self, req: Request | None, exc: HTTPProtocolError) -> None:
        """Answer a protocol error (the request may be unparsed: then a stand-in is logged)."""
        status = exc.status or 400
        if req is None:
            req = Request(self, RequestHead("-", "-", (1, 1), Headers(), keep_alive=False))  # type: ignore[arg-type]
            self.current = req
        log.info("%s: %s", self.peer_text(), exc)
        req._state = DONE
        req.status = status
        if isinstance(exc, MethodNotAllowedError):
            req.response_headers["Allow"] = ", ".join(exc.allowed)
        self.send_error_page(req, status, None, str(exc), close=True)

    def write_continue(self) -> None:
        """Send ``100 Continue`` once for the current request."""
        if self._continued is not self.current and not self.closed:
            self._continued = self.current
            self.bev.write(CONTINUE_RESPONSE)

    # -- streamed replies -----------------------------------------------------------------
    def start_stream(self, req: Request, status: int, reason: str | None) -> None:
        """Write the head of a streamed reply and remember how its body is framed."""
        if self.closed:
            return
        framing = self._frame(req, status, reason, None)
        self._mode = framing.mode
        self.bev.write(framing.head)

    def send_chunk(
        self, req: Request, data: bytes | bytearray | memoryview, cb: Flushed | None
    ) -> None:
        """Write one piece of a streamed body; ``cb`` runs when the output has drained."""
        if self.closed:
            return
        if cb is not None:
            if self._flush_cbs is None:
                self._flush_cbs = []
            self._flush_cbs.append((req, cb))
            self._want_drain()
        n = data.nbytes if isinstance(data, memoryview) else len(data)
        mode = self._mode
        if not n or mode is BodyMode.NONE:
            return
        req.bytes_sent += n
        if mode is BodyMode.CHUNKED:
            if n <= _BIG:
                self.bev.write(chunk(data))
                return
            self.bev.write(chunk_header(n))
            self.bev.write(data)
            self.bev.write(b"\r\n")
        else:
            self.bev.write(data)

    def end_stream(self, req: Request, trailers: Headers | None) -> None:
        """Finish a streamed body (the last chunk, with trailers when chunked)."""
        if self.closed:
            return
        if self._mode is BodyMode.CHUNKED:
            self.bev.write(last_chunk(trailers))
        elif self._mode is BodyMode.LENGTH:
            declared = req.response_headers.get("content-length")
            if declared is not None and declared.strip() != str(req.bytes_sent):
                log.warning(
                    "%s %s: declared Content-Length %s, sent %d bytes; closing",
                    req.method,
                    req.target,
                    declared,
                    req.bytes_sent,
                )
                self.keep_alive = False
        self._finish(req)

    # -- draining ---------------------------------------------------------------------
    def _finish(self, req: Request) -> None:
        if not self.bev.output:
            if self._flush_cbs:  # the chunks they wait for have left too
                self._on_drained(self.bev, None)
            self.reply_finished(req)
            return
        self._awaiting = req
        self._want_drain()

    def _want_drain(self) -> None:
        self.bev.set_callbacks(self._on_read, self._on_drained, self._on_event)

    def _on_drained(self, bev: BufferEvent, arg: Any) -> None:
        bev.set_callbacks(self._on_read, None, self._on_event)
        cbs, self._flush_cbs = self._flush_cbs, None
        req, self._awaiting = self._awaiting, None
        for owner, cb in cbs or ():
            if self.closed:
                return
            try:
                cb(owner)
            except Exception as exc:
                self.handler_failed(owner, exc)
        if req is not None and not self.closed:
            self.reply_finished(req)

    # -- closing ------------------------------------------------------------------------
    def close_after_reply(self) -> None:
        """Close once the reply is out: at once, or after a lingering read (plain TCP only)."""
        bev = self.bev
        if self.tls or not self.lingering or not isinstance(bev, SocketBufferEvent):
            self.close()
            return
        if not bev.shutdown_write():
            self.close()
            return
        linger = self.server.config.linger_time
        self._linger_until = self.server.base.monotonic_time() + linger
        bev.set_data_sink(None)  # what still comes is discarded, not parsed
        bev.set_callbacks(self._linger_read, None, self._linger_event)
        bev.set_timeouts(linger, None)
        bev.enable(READ)

    def _linger_read(self, bev: BufferEvent, arg: Any) -> None:
        bev.input.clear()
        if self.server.base.monotonic_time() >= self._linger_until:
            self.close()

    def _linger_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        self.close()

    def peer_text(self) -> str:
        """The peer address for log lines."""
        peer: Any = getattr(self, "peer", None)
        if isinstance(peer, tuple) and len(peer) >= 2:
            return f"{peer[0]}:{peer[1]}"
        return str(peer or "-")
