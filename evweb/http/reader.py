"""Sans-IO HTTP/1.1 message readers: bytes in, events out, no sockets.

``RequestReader`` is the server's half (it reads requests), ``ResponseReader``
the client's. Both are driven the same way::

    reader.feed(data)                 # bytes from anywhere
    while (event := reader.next_event()) is not NEED_DATA: ...
    reader.feed_eof()                 # the peer closed

A message is one head event, zero or more Data, one EndOfMessage (an
interim 1xx response is a head alone). The states, and what moves them:

====================  ==========================================  ==========================
state                 next_event answers                          leaves when
====================  ==========================================  ==========================
between messages      a head (→ in body), NEED_DATA, CLOSED        a head is complete
in body               Data, NEED_DATA, EndOfMessage (→ between)    the body ends
paused                PAUSED (CONNECT, 101): ``trailing_data()``   ``resume()`` (requests)
broken                raises the error that broke it, every time   never
====================  ==========================================  ==========================

Why it is shaped this way:

* Memory is bounded: a head may not grow past ``max_header_size`` (the
  request line past ``max_line``) while incomplete, a chunk-size line past
  4 KiB; body bytes leave as soon as they are asked for; a broken reader
  drops what it is fed.
* Time is linear: the search for the end of a head resumes where the last
  one stopped, so a head dribbled one byte at a time is not rescanned; the
  same holds for chunk-size lines and trailers.
* Line ends are CRLF only. A line ended by a bare LF is refused as soon as
  it could end a head (a lenient parser would see a message end there);
  one inside a complete head fails the field pattern.
* A broken message raises a typed :class:`~evweb.errors.HTTPProtocolError`
  carrying the status to answer, and the reader stays broken: every later
  call raises the same error, because nothing after a framing error can be
  trusted to be a message boundary.
* After a message the reader moves to the next one at once, so pipelined
  requests wait in its buffer; the server asks for them only after it has
  answered the one before (responses leave in request order).
* Up to two empty lines before a request line are ignored (RFC 9112 §2.2,
  for clients that end a body with an extra CRLF); more are a 400.
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
from evweb.http._body import (
    BodyDecoder,
    ChunkedDecoder,
    LengthDecoder,
    UntilCloseDecoder,
    find_bare_lf,
)
from evweb.http._head import parse_request_head, parse_response_head
from evweb.http.events import (
    CLOSED,
    NEED_DATA,
    PAUSED,
    EndOfMessage,
    Event,
    RequestHead,
    ResponseHead,
    Sentinel,
)

DEFAULT_MAX_LINE = 8190
"""Longest request or status line (bytes) before 414 / an error."""
DEFAULT_MAX_HEADER_SIZE = 16384
"""Largest head, start line and blank line included (bytes), before 431."""
DEFAULT_MAX_FIELDS = 100
"""Most header (or trailer) fields in one message before 431."""

_MAX_EMPTY_LINES = 2
_STATUS_PREFIX = b"HTTP/"


class _NoBody(BodyDecoder):
    """Stands for an empty body: the reader answers EndOfMessage without asking it."""

    __slots__ = ()


_NO_BODY = _NoBody()


class _Reader:
    """What both readers share: the buffer, the head search and the body decoders."""

    __slots__ = (
        "_body",
        "_buf",
        "_eof",
        "_error",
        "_line_ok",
        "_paused",
        "_pending",
        "_scan",
        "max_body_size",
        "max_fields",
        "max_header_size",
        "max_line",
        "messages",
    )

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
        self._line_ok = False
        self._body: BodyDecoder | None = None
        self._eof = False
        self._error: HTTPProtocolError | None = None
        self._paused = False
        self._pending: bytes | None = None  # body bytes not copied into _buf yet
        self.messages = 0
        """How many heads this reader has produced."""
        self._init_role()

    def _init_role(self) -> None:
        """Set up what one side's reader keeps beyond the shared state."""

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes received from the peer (dropped once the reader is broken)."""
        if self._eof:
            raise RuntimeError("data fed after feed_eof()")
        if self._error is not None:
            return
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._buf += pending
        elif not self._buf and type(data) is bytes:
            body = self._body
            if body is not None and body.direct:
                self._pending = data  # body bytes go out as they came: no copy
                return
        self._buf += data

    def feed_eof(self) -> None:
        """The peer will send nothing more."""
        self._eof = True

    @property
    def buffered(self) -> int:
        """Bytes held that no event has returned yet."""
        pending = self._pending
        return len(self._buf) + (len(pending) if pending is not None else 0)

    def _flush_pending(self) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._buf += pending

    @property
    def in_body(self) -> bool:
        """Whether a head was returned and its body has not ended yet."""
        return self._body is not None

    @property
    def error(self) -> HTTPProtocolError | None:
        """The error that broke the reader, if one did."""
        return self._error

    def trailing_data(self) -> bytes:
        """Take the bytes held after a PAUSED message (a tunnel's first bytes)."""
        self._flush_pending()
        data = bytes(self._buf)
        self._buf.clear()
        self._scan = 0
        return data

    def next_event(self) -> Event | Sentinel:
        """The next event, or NEED_DATA / PAUSED / CLOSED; raises the message's error."""
        if self._error is not None:
            raise self._error
        try:
            body = self._body
            if body is not None:
                if body is _NO_BODY:
                    self._body = None
                    return EndOfMessage()
                return self._body_event(body)
            if self._paused:
                return PAUSED
            buf = self._buf
            end = buf.find(b"\r\n\r\n", self._scan)
            if end <= 0 or buf[0] == 13:  # no head yet, or it starts with CR
                if buf.startswith(b"\r\n") and self._skip_empty_lines():
                    return self.next_event()
                if end < 0:
                    return self._incomplete_head()
            if end + 4 > self.max_header_size:
                if buf.find(b"\r\n", 0, self.max_line + 2) < 0:
                    self._line_too_long()  # what a head arriving in pieces would get
                self._head_too_large()
            self._scan = 0
            self._line_ok = False
            text = buf[: end + 2].decode("latin-1")
            del buf[: end + 4]
            self.messages += 1
            return self._parse_head(text)
        except HTTPProtocolError as exc:
            self._error = exc
            self._buf.clear()
            self._pending = None
            raise

    def _body_event(self, body: BodyDecoder) -> Event | Sentinel:
        pending = self._pending
        if pending is None:
            event = body.next_event(self._buf, self._eof)
        else:
            self._pending = None
            event = body.next_direct(pending, self._buf, self._eof)
        if body.done:
            self._body = None
        elif event is NEED_DATA and self._eof:
            raise self._error_type(f"connection closed in the middle of a body ({body.describe()})")
        return event

    def _incomplete_head(self) -> Sentinel:
        """No complete head: wait, end, or refuse what the bytes so far already break."""
        buf = self._buf
        size = len(buf)
        if self._eof:
            if not size:
                return CLOSED
            raise self._error_type(
                "connection closed in the middle of a message head", bytes(buf[:80])
            )
        scan = self._scan
        if find_bare_lf(buf, scan) >= 0 or (not scan and buf.startswith(b"\n")):
            raise self._error_type("bare LF (not after CR) in message head", bytes(buf[:80]))
        self._scan = size - 3 if size > 3 else 0
        if not self._line_ok and size > self.max_line:
            if buf.find(b"\r\n", 0, self.max_line + 2) < 0:
                self._line_too_long()
            self._line_ok = True
        if size > self.max_header_size:
            self._head_too_large()
        return NEED_DATA

    def _skip_empty_lines(self) -> bool:
        """Drop CRLFs before a start line; whether any were (responses allow none)."""
        return False

    def _line_too_long(self) -> None:
        raise self._error_type(f"start line longer than {self.max_line} bytes")

    def _head_too_large(self) -> None:
        raise self._error_type(f"message head larger than {self.max_header_size} bytes")

    def _parse_head(self, text: str) -> Event:
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
            self._body = _NO_BODY


class RequestReader(_Reader):
    """Reads requests (the server's side).

    Limits answer with their status: a request line over ``max_line`` is
    414, a head over ``max_header_size`` or with more than ``max_fields``
    fields is 431, a body over ``max_body_size`` is 413 (None: no limit).
    """

    __slots__ = ("_empty_lines",)

    def _init_role(self) -> None:
        self._empty_lines = 0

    def _skip_empty_lines(self) -> bool:
        """RFC 9112 §2.2: ignore a few empty lines before a request line."""
        buf = self._buf
        while buf.startswith(b"\r\n"):
            self._empty_lines += 1
            if self._empty_lines > _MAX_EMPTY_LINES:
                raise BadRequestError("too many empty lines before the request line")
            del buf[:2]
        self._scan = 0
        self._line_ok = False
        return True

    def _line_too_long(self) -> None:
        raise URITooLongError(f"request line longer than {self.max_line} bytes")

    def _head_too_large(self) -> None:
        raise HeaderFieldsTooLargeError(f"request head larger than {self.max_header_size} bytes")

    def _parse_head(self, text: str) -> RequestHead:
        self._empty_lines = 0
        head = parse_request_head(text, self.max_fields, self.max_line)
        if head.chunked:
            self._start_body(None, True, False)
        elif head.content_length:
            self._start_body(head.content_length, False, False)
        else:
            self._body = _NO_BODY
        if head.method == "CONNECT":
            self._paused = True
        return head

    def resume(self) -> None:
        """Leave PAUSED (the server refused the CONNECT and parses on)."""
        self._paused = False


class ResponseReader(_Reader):
    """Reads responses (the client's side); tell it each request's method with :meth:`expect`.

    Any response that breaks the protocol raises
    :class:`~evweb.errors.InvalidResponseError`; a body over
    ``max_body_size`` raises :class:`~evweb.errors.ContentTooLargeError`.
    """

    __slots__ = ("_methods",)

    _error_type = InvalidResponseError

    def _init_role(self) -> None:
        self._methods: list[str] = []

    def expect(self, method: str) -> None:
        """A request with ``method`` was sent: its response is read with the framing it implies."""
        self._methods.append(method)

    def _incomplete_head(self) -> Sentinel:
        # a status line starts with "HTTP/": anything else (an HTTP/2 frame, a banner) is
        # refused at once instead of waiting for a CRLF that may never come
        buf = self._buf
        if not _STATUS_PREFIX.startswith(buf[:5]):
            raise InvalidResponseError("malformed status line", bytes(buf[:80]))
        return super()._incomplete_head()

    def _parse_head(self, text: str) -> ResponseHead:
        methods = self._methods
        method = methods[0] if methods else "GET"
        head = parse_response_head(text, self.max_fields, self.max_line, method)
        if head.status < 200:
            if head.status == 101:
                self._paused = True
            return head
        if methods:
            del methods[0]
        self._start_body(head.content_length, head.chunked, head.until_close)
        if method == "CONNECT" and head.status < 300:
            self._paused = True
        return head
