"""The client side of one exchange on an open connection: send a request, read its response.

:class:`ExchangeIO` is the half of :class:`~evweb.http.connection.HTTPConnection`
that touches the BufferEvent; the other half queues, dials and retries. It
reports through three hooks: ``_exchange_ended(keep_alive)``,
``_retry_later(job)`` and ``_connection_lost()``.

Why it is shaped this way:

* The hot path is a GET over keep-alive: one ``send`` of the head (the
  BufferEvent writes inline), one read into the data sink, one parse, one
  future completion. No timer changes unless the read timeout must be
  lifted for an upload.
* A streamed upload is pulled from its source only when the output has
  drained below a mark (``UPLOAD_LOW``), so an upload of any size holds at
  most a few pieces. While it runs the read timeout is off: a server is
  entitled to wait for the whole body before answering.
* A server may answer before the body is complete (an early 413). The rest
  of the body is then not sent and the connection closes after the
  response; a write error while sending (EPIPE, ECONNRESET) still reads
  what the server sent before it closed, so the caller sees the 413 rather
  than a reset (libevent's ``READ_ON_WRITE_ERROR``, always on).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from evweb.errors import (
    HTTPProtocolError,
    InvalidResponseError,
    ReadTimeoutError,
    ServerDisconnectedError,
    WriteTimeoutError,
)
from evweb.http._job import Job
from evweb.http._upload import StreamBody
from evweb.http.events import CLOSED, NEED_DATA, Data, EndOfMessage, ResponseHead
from evweb.http.exchange import ClientResponse
from evweb.http.reader import ResponseReader
from evweb.http.writer import LAST_CHUNK, chunk
from evweb.io import BufferEvent, SocketBufferEvent
from evweb.io.bevflags import EOF, ERROR, READING, TIMEOUT
from evweb.reactor import READ, WRITE

log = logging.getLogger("evweb.http.client")

MAX_INTERIM = 32
"""Most 1xx responses accepted before a final one (a flood is an error)."""
UPLOAD_LOW = 64 * 1024
"""A streamed body is read on when the output holds less than this."""
_WHOLE_WRITE = 64 * 1024  # bodies up to this size leave in the head's send
_BUSY, _IDLE, _UPLOAD = 0, 1, 2  # which timeouts the BufferEvent has
_RESTART_AFTER = 1.0  # idle this long (s): restart the read timeout for the next request
_monotonic = time.monotonic


class ExchangeIO:
    """Sending requests and reading responses over one BufferEvent at a time."""

    # set by HTTPConnection
    base: Any
    timeouts: Any
    idle_timeout: float | None
    target: Any

    def __init__(self, max_header_size: int, max_body_size: int | None) -> None:
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self._bev: BufferEvent | None = None
        self._job: Job | None = None
        self._reader: ResponseReader | None = None
        self._expect_timer = self.base.timer(self._on_expect_timeout)
        self._timeout_mode = _BUSY
        self.idle_since = 0.0
        """When the connection last became idle (``time.monotonic()``)."""

    # -- hooks for HTTPConnection -------------------------------------------------------

    def _exchange_ended(self, keep_alive: bool) -> None:
        raise NotImplementedError

    def _retry_later(self, job: Job) -> None:
        raise NotImplementedError

    def _connection_lost(self) -> None:
        raise NotImplementedError

    # -- the connection ------------------------------------------------------------------

    def _attach(self, bev: BufferEvent) -> None:
        """Take over a BufferEvent that is connected and ready for HTTP."""
        self._bev = bev
        self._reader = ResponseReader(max_header_size=self.max_header_size)
        bev.set_callbacks(self._on_read, self._on_write, self._on_event)
        if type(bev) is SocketBufferEvent:
            bev.set_data_sink(self._on_data)
        bev.set_watermark(WRITE, UPLOAD_LOW)
        self._set_timeout_mode(_BUSY)
        self._idle()
        bev.enable(READ | WRITE)

    def _idle(self) -> None:
        """Nothing in flight: watch for the server closing, and for the idle timeout.

        Without an idle timeout the read timeout keeps running: a connection
        idle for that long is closed. Not touching the timeouts between
        back-to-back requests saves two timer updates per request.
        """
        self.idle_since = _monotonic()
        if self.idle_timeout is not None:
            self._set_timeout_mode(_IDLE)

    def _set_timeout_mode(self, mode: int) -> None:
        """(Re)start the BufferEvent's timeouts for a phase: busy, idle or uploading."""
        bev = self._bev
        assert bev is not None
        self._timeout_mode = mode
        if mode == _BUSY:
            bev.set_timeouts(self.timeouts.read, self.timeouts.write)
        elif mode == _IDLE:
            bev.set_timeouts(self.idle_timeout, None)
        else:  # a server may wait for the whole body before it answers
            bev.set_timeouts(None, self.timeouts.write)

    def _busy(self) -> None:
        if self._timeout_mode != _BUSY or _monotonic() - self.idle_since > _RESTART_AFTER:
            self._set_timeout_mode(_BUSY)

    def _drop_connection(self) -> None:
        """Close the socket (the exchange in flight, if any, must be settled already)."""
        self._expect_timer.delete()
        bev, self._bev = self._bev, None
        self._reader = None
        if bev is not None:
            bev.close()
            self._connection_lost()

    def _abandon(self) -> None:
        """The request in flight was cancelled: reset the connection under it."""
        job, self._job = self._job, None
        if job is not None:
            _close_body(job)
        self._drop_connection()

    # -- sending ----------------------------------------------------------------------

    def _send(self, job: Job) -> None:
        bev, reader = self._bev, self._reader
        assert bev is not None and reader is not None
        self._job = job
        request = job.request
        limit = request.max_body_size
        reader.max_body_size = self.max_body_size if limit == -1 else limit
        reader.expect(request.method)
        body = job.body
        held = bool(body) and request.headers.has_token("expect", "100-continue")
        if held:
            job.body_held = True
            self._expect_timer.add(request.expect_timeout)
            self._busy()
            bev.write(job.head)
        elif isinstance(body, StreamBody):
            self._set_timeout_mode(_UPLOAD)
            bev.write(job.head)
            self._pump_upload(job)
        else:
            job.upload_done = True
            self._busy()
            if len(body) <= _WHOLE_WRITE:
                bev.write(job.head + body if body else job.head)
            else:
                bev.write(job.head)
                bev.write(body)

    def _release_body(self, job: Job) -> None:
        """Send a body held back for ``100 Continue``."""
        job.body_held = False
        self._expect_timer.delete()
        body = job.body
        if isinstance(body, StreamBody):
            self._set_timeout_mode(_UPLOAD)
            self._pump_upload(job)
        else:
            job.upload_done = True
            assert self._bev is not None
            self._bev.write(body)

    def _on_expect_timeout(self, fd: int, what: int, arg: Any) -> None:
        job = self._job
        if job is not None and job.body_held:
            self._release_body(job)  # the server is silent: send anyway (RFC 9110 §10.1.1)

    def _pump_upload(self, job: Job) -> None:
        """Write pieces of a streamed body until the output holds enough, or the body ends."""
        bev, body = self._bev, job.body
        assert bev is not None and isinstance(body, StreamBody)
        out = bev.output
        while self._job is job and not job.upload_done and len(out) < UPLOAD_LOW:
            try:
                piece = body.next_piece()
                if body.length is not None and body.sent > body.length:
                    raise ValueError(f"the body stream gave more than its {body.length} bytes")
                if not piece and body.length is not None and body.sent != body.length:
                    raise ValueError(
                        f"the body stream ended after {body.sent} of its {body.length} bytes"
                    )
            except Exception as exc:
                self._fail(job, exc)
                return
            if not piece:
                job.upload_done = True
                body.close()
                if job.chunked:
                    bev.write(LAST_CHUNK)
                if job.response is None:
                    self._set_timeout_mode(_BUSY)
                return
            bev.write(chunk(piece) if job.chunked else piece)

    def _on_write(self, bev: BufferEvent, arg: Any) -> None:
        job = self._job
        if job is not None and not job.upload_done and not job.body_held:
            self._pump_upload(job)

    # -- reading ----------------------------------------------------------------------

    def _on_read(self, bev: BufferEvent, arg: Any) -> None:
        inp = bev.input
        self._on_data(bev, inp.remove(len(inp)))

    def _on_data(self, bev: BufferEvent, data: bytes) -> None:
        job = self._job
        if job is None or self._reader is None:
            log.info("%s sent %d bytes nobody asked for; closing", self.target.address, len(data))
            self._drop_connection()
            self._exchange_ended(False)
            return
        job.got_bytes = True
        self._reader.feed(data)
        self._process(job)

    def _process(self, job: Job, at_eof: bool = False) -> None:
        reader = self._reader
        while self._job is job and reader is not None:
            try:
                event = reader.next_event()
            except HTTPProtocolError as exc:
                # at EOF the reader only objects to a message cut short: a disconnect
                self._fail(job, self._disconnected(job, exc) if at_eof else exc)
                return
            kind = type(event)
            if kind is Data:
                self._on_body(job, event.data)  # type: ignore[union-attr]
            elif kind is ResponseHead:
                self._on_head(job, event)  # type: ignore[arg-type]
            elif kind is EndOfMessage:
                trailers = event._trailers  # type: ignore[union-attr]
                self._complete(job, trailers)
            elif event is NEED_DATA or event is CLOSED:
                return  # CLOSED: the EOF handler reports the disconnect
            else:  # PAUSED: a 2xx to CONNECT or a 101: the connection is no longer HTTP
                self._complete(job, None, keep_alive=False)

    def _on_head(self, job: Job, head: ResponseHead) -> None:
        if head.status < 200:
            self._on_interim(job, head)
            return
        response = ClientResponse(
            job.request, head.status, head.reason, head.version, head.headers, head.keep_alive
        )
        job.response = response
        if job.body_held or not job.upload_done:
            # answered before the body went out: stop sending it, close after this response
            job.body_held = False
            job.upload_done = True
            self._expect_timer.delete()
            response.keep_alive = False
            _close_body(job)
            if self._timeout_mode != _BUSY:
                self._set_timeout_mode(_BUSY)
        on_head = job.request.on_head
        if on_head is not None:
            try:
                wanted = on_head(response)
            except Exception as exc:  # the caller's bug ends its request, not the loop
                if self._job is job:
                    self._fail(job, exc)
                return
            if wanted is False and self._job is job:
                job.future.cancel()

    def _on_interim(self, job: Job, head: ResponseHead) -> None:
        job.interim += 1
        if job.interim > MAX_INTERIM:
            self._fail(job, InvalidResponseError(f"more than {MAX_INTERIM} interim responses"))
        elif head.status == 100 and job.body_held:
            self._release_body(job)
        elif head.status == 101:
            job.response = ClientResponse(
                job.request, 101, head.reason, head.version, head.headers, False
            )

    def _on_body(self, job: Job, data: bytes) -> None:
        on_chunk = job.request.on_chunk
        if on_chunk is None:
            job.parts.append(data)
        else:
            assert job.response is not None
            try:
                on_chunk(job.response, data)
            except Exception as exc:  # the caller's bug ends its request, not the loop
                if self._job is job:
                    self._fail(job, exc)

    def _complete(self, job: Job, trailers: Any, keep_alive: bool = True) -> None:
        response = job.response
        assert response is not None
        parts = job.parts
        if parts:
            response.body = parts[0] if len(parts) == 1 else b"".join(parts)
            job.parts = []
        if trailers:
            response.trailers = trailers
        keep_alive = (
            keep_alive
            and response.keep_alive
            and job.persists
            and not (job.request.method == "CONNECT" and response.status < 300)  # now a tunnel
        )
        if keep_alive and self._reader is not None and self._reader.buffered:
            # bytes after the response that nobody asked for: reading them as the next
            # request's response would desynchronise the connection (libevent resets it)
            log.info("%s sent bytes after its response; closing", self.target.address)
            keep_alive = False
        response.keep_alive = keep_alive  # what happens to the connection, all said
        self._job = None
        self._expect_timer.delete()
        self._exchange_ended(keep_alive)
        job.future._set_result(response)

    def _fail(self, job: Job, error: BaseException) -> None:
        """End ``job`` with ``error`` (or resend it once, for a stale keep-alive connection)."""
        self._job = None
        retry = (
            job.request.retry_stale
            and job.reused
            and not job.got_bytes
            and not job.retried
            and job.replayable
            and isinstance(error, ServerDisconnectedError)
        )
        _close_body(job)
        if retry:  # queued before the close, so the pool sees a request still pending
            log.debug("%s: stale connection, sending %r again", self.target.address, job.request)
            self._retry_later(job)
        self._drop_connection()
        if not retry:
            job.future._set_error(error)
        self._exchange_ended(False)

    # -- events ------------------------------------------------------------------------

    def _on_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        job = self._job
        if job is None:  # idle: the server closed it, or the idle timeout ran out
            self._drop_connection()
            self._exchange_ended(False)
            return
        if what & TIMEOUT:
            self._fail(job, self._timeout_error(what))
            return
        if what & (EOF | ERROR):
            self._end_of_stream(job, bev)

    def _timeout_error(self, what: int) -> Exception:
        address = self.target.address
        if what & READING:
            return ReadTimeoutError(f"{address} sent nothing for {self.timeouts.read} s")
        return WriteTimeoutError(f"{address} took nothing for {self.timeouts.write} s")

    def _end_of_stream(self, job: Job, bev: BufferEvent) -> None:
        reader = self._reader
        if reader is not None:
            if bev.error is not None:
                _read_leftover(bev, reader)
                self._process(job)  # a protocol error in what arrived is still the server's
                if self._job is not job:
                    return
            reader.feed_eof()
            self._process(job, at_eof=True)  # a body that ends with the connection ends here
        if self._job is job:
            self._fail(job, self._disconnected(job, bev.error))

    def _disconnected(self, job: Job, cause: BaseException | None) -> ServerDisconnectedError:
        """The error for a server that closed before the response ended (``cause``: why)."""
        detail = f" ({cause})" if cause is not None else ""
        where = "in the middle of the response" if job.got_bytes else "before responding"
        error = ServerDisconnectedError(f"{self.target.address} closed {where}{detail}")
        error.__cause__ = cause
        return error


def _read_leftover(bev: BufferEvent, reader: ResponseReader) -> None:
    """After a write error, read what the server sent before it closed (its error reply)."""
    sock = getattr(bev, "socket", None)
    if sock is None or type(bev) is not SocketBufferEvent:
        return
    for _ in range(64):
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            return
        reader.feed(data)


def _close_body(job: Job) -> None:
    if isinstance(job.body, StreamBody):
        job.body.close()
