"""Sans-IO HTTP/1.1 message readers: bytes in, events out, no sockets.

``RequestReader`` is the server's half (it reads requests), ``ResponseReader``
the client's. Both are driven the same way::

    reader.feed(data)                 # bytes from anywhere
    while (event := reader.next_event()) is not NEED_DATA: ...
    reader.feed_eof()                 # the peer closed

Why it is shaped this way:

* Memory is bounded: a head may not grow past ``max_header_size`` (the
  request line past ``max_line``) while incomplete, a chunk-size line past
  4 KiB; body bytes leave as soon as they are asked for.
* Time is linear: the search for the end of a head resumes where the last
  one stopped, so a head dribbled one byte at a time is not rescanned.
* A broken message raises a typed :class:`~evweb.errors.HTTPProtocolError`
  carrying the status to answer, and the reader stays broken: every later
  call raises the same error, because nothing after a framing error can be
  trusted to be a message boundary.
* After a message the reader moves to the next one at once, so pipelined
  requests wait in its buffer; the server asks for them only after it has
  answered the one before (responses leave in request order).
"""

from __future__ import annotations

from evweb.errors import (
    BadRequestError,
    ContentTooLargeError,
    HeaderFieldsTooLargeError,
    HTTPProtocolError,
    InvalidResponseError,
    URITooLongError,
)
from evweb.http._body import BodyDecoder, ChunkedDecoder, LengthDecoder, UntilCloseDecoder
from evweb.http._head import parse_request_head, parse_response_head
from evweb.http.events import CLOSED, NEED_DATA, PAUSED, Event, RequestHead, ResponseHead, Sentinel

DEFAULT_MAX_LINE = 8190
"""Longest request or status line (bytes) before 414 / an error."""
DEFAULT_MAX_HEADER_SIZE = 16384
"""Largest head, start line included (bytes), before 431."""
DEFAULT_MAX_FIELDS = 100
"""Most header (or trailer) fields in one message before 431."""


class _Reader:
    """What both readers share: the buffer, the head search and the body decoders."""

    _error_type: type[HTTPProtocolError] = BadRequestError

    def __init__(
        self,
        *,
        max_line: int = DEFAULT_MAX_LINE,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        max_fields: int = DEFAULT_MAX_FIELDS,
        max_body_size: int | None = None,
    ) -> None:
        self.max_line = max_line
        self.max_header_size = max_header_size
        self.max_fields = max_fields
        self.max_body_size = max_body_size
        self._buf = bytearray()
        self._scan = 0
        self._body: BodyDecoder | None = None
        self._eof = False
        self._error: HTTPProtocolError | None = None
        self._paused = False
        self.messages = 0
        """How many heads this reader has produced."""

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes received from the peer."""
        if self._eof:
            raise self._error_type("data fed after end of stream")
        self._buf += data

    def feed_eof(self) -> None:
        """The peer will send nothing more."""
        self._eof = True

    @property
    def buffered(self) -> int:
        """Bytes held that no event has returned yet."""
        return len(self._buf)

    @property
    def in_body(self) -> bool:
        """Whether a head was returned and its body has not ended yet."""
        return self._body is not None

    def trailing_data(self) -> bytes:
        """Take the bytes held after a PAUSED message (a tunnel's first bytes)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def next_event(self) -> Event | Sentinel:
        """The next event, or NEED_DATA / PAUSED / CLOSED; raises the message's error."""
        if self._error is not None:
            raise self._error
        try:
            if self._body is not None:
                return self._next_body_event(self._body)
            if self._paused:
                return PAUSED
            return self._next_head()
        except HTTPProtocolError as exc:
            self._error = exc
            raise

    def _next_body_event(self, body: BodyDecoder) -> Event | Sentinel:
        event = body.next_event(self._buf, self._eof)
        if event is NEED_DATA and self._eof:
            raise self._error_type(f"connection closed in the middle of a body ({body.describe()})")
        if body.done:
            self._body = None
        return event

    def _next_head(self) -> Event | Sentinel:
        buf = self._buf
        end = buf.find(b"\r\n\r\n", self._scan)
        if end < 0:
            return self._incomplete_head()
        self._scan = 0
        text = buf[: end + 2].decode("latin-1")
        del buf[: end + 4]
        self.messages += 1
        return self._head_event(text)

    def _incomplete_head(self) -> Sentinel:
        buf = self._buf
        if self._eof:
            if not buf:
                return CLOSED
            raise self._error_type("connection closed in the middle of a message head")
        self._scan = max(0, len(buf) - 3)
        if len(buf) > self.max_line and buf.find(b"\r\n", 0, self.max_line + 2) < 0:
            self._line_too_long()
        if len(buf) > self.max_header_size:
            self._head_too_large()
        return NEED_DATA

    def _check_head_size(self, text: str) -> None:
        eol = text.find("\r\n")
        if eol > self.max_line:
            self._line_too_long()
        if len(text) + 2 > self.max_header_size:
            self._head_too_large()

    def _line_too_long(self) -> None:
        raise self._error_type(f"start line longer than {self.max_line} bytes")

    def _head_too_large(self) -> None:
        raise self._error_type(f"message head larger than {self.max_header_size} bytes")

    def _head_event(self, text: str) -> Event:
        raise NotImplementedError

    def _start_body(self, content_length: int | None, chunked: bool, until_close: bool) -> None:
        limit = self.max_body_size
        if chunked:
            self._body = ChunkedDecoder(
                limit, self.max_header_size, self.max_fields, self._error_type
            )
        elif until_close:
            self._body = UntilCloseDecoder(limit)
        elif content_length:
            if limit is not None and content_length > limit:
                raise ContentTooLargeError(
                    f"Content-Length {content_length} is over the limit of {limit}"
                )
            self._body = LengthDecoder(content_length)
        else:
            self._body = LengthDecoder(0)


class RequestReader(_Reader):
    """Reads requests (the server's side).

    Limits answer with their status: a request line over ``max_line`` is
    414, a head over ``max_header_size`` or with more than ``max_fields``
    fields is 431, a body over ``max_body_size`` is 413.
    """

    def _line_too_long(self) -> None:
        raise URITooLongError(f"request line longer than {self.max_line} bytes")

    def _head_too_large(self) -> None:
        raise HeaderFieldsTooLargeError(f"request head larger than {self.max_header_size} bytes")

    def _head_event(self, text: str) -> RequestHead:
        if text.startswith("\r\n"):
            raise BadRequestError("empty line before the request line")
        self._check_head_size(text)
        head = parse_request_head(text, self.max_fields)
        self._start_body(head.content_length, head.chunked, False)
        if head.method == "CONNECT":
            self._paused = True
        return head

    def resume(self) -> None:
        """Leave PAUSED (the server refused the CONNECT and parses on)."""
        self._paused = False


class ResponseReader(_Reader):
    """Reads responses (the client's side); tell it each request's method with :meth:`expect`."""

    _error_type = InvalidResponseError

    def __init__(self, **limits: int | None) -> None:
        super().__init__(**limits)  # type: ignore[arg-type]
        self._methods: list[str] = []

    def expect(self, method: str) -> None:
        """A request with ``method`` was sent: its response is read with the framing it implies."""
        self._methods.append(method)

    def _head_event(self, text: str) -> ResponseHead:
        self._check_head_size(text)
        method = self._methods[0] if self._methods else "GET"
        head = parse_response_head(text, self.max_fields, method)
        if head.informational:
            if head.status == 101:
                self._paused = True
            return head
        if self._methods:
            self._methods.pop(0)
        self._start_body(head.content_length, head.chunked, head.until_close)
        if method == "CONNECT" and head.status < 300:
            self._paused = True
        return head
