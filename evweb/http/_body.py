"""Body decoders: Content-Length, chunked (RFC 9112 §7.1) and read-until-close.

Each decoder takes the reader's bytearray, removes what it consumes and
returns one event (or NEED_DATA); ``done`` turns true with the
EndOfMessage. The chunked decoder is strict where a lenient one would let
two parsers disagree on where a message ends: the size is 1 to 16 hex
digits with nothing before it (no space, sign or ``0x``), extensions must
match the grammar (tokens or quoted strings), every line ends in CRLF (a
bare LF is refused as soon as it is seen), the data must be followed by
exactly CRLF, and a size line may not grow past 4 KiB while incomplete.
Searches resume where the last one stopped, so a body dribbled one byte at
a time costs linear time.
"""

from __future__ import annotations

import re

from evweb.errors import ContentTooLargeError, HeaderFieldsTooLargeError, HTTPProtocolError
from evweb.http._head import limit_error, parse_fields
from evweb.http.events import NEED_DATA, Data, EndOfMessage, Sentinel

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_EXTENSION = (
    rb"[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?"
)
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:" + _EXTENSION + rb")*")
_MAX_CHUNK_LINE = 4096

BodyEvent = Data | EndOfMessage | Sentinel

_SIZE, _DATA, _DATA_END, _TRAILERS = range(4)


def take(buf: bytearray, n: int) -> bytes:
    """Remove and return the first ``n`` bytes of ``buf`` (all of it when shorter), one copy."""
    if len(buf) <= n:
        data = bytes(buf)
        buf.clear()
        return data
    with memoryview(buf) as view:
        data = bytes(view[:n])
    del buf[:n]
    return data


def find_bare_lf(buf: bytearray, start: int) -> int:
    r"""Where a line of an incomplete head in ``buf[start:]`` ends in a bare LF, else -1.

    Called only when ``\r\n\r\n`` was not found from ``start``: then any
    ``\n\n``, and any ``\n\r\n`` not preceded by CR, holds an LF without its
    CR (a message that a lenient parser would see end here).
    """
    pos = buf.find(b"\n\n", start)
    if pos >= 0:
        return pos + 1
    pos = buf.find(b"\n\r\n", start)
    if pos >= 0 and (pos == 0 or buf[pos - 1] != 13):
        return pos
    return -1


class BodyDecoder:
    """Common state of the decoders: whether the body has ended, how much came.

    A decoder with ``direct`` set takes body bytes as they were received
    (:meth:`next_direct`), without their passing through the reader's buffer.
    """

    __slots__ = ("done", "received")

    direct = False

    def __init__(self) -> None:
        self.done = False
        self.received = 0

    def next_event(self, buf: bytearray, eof: bool) -> BodyEvent:
        """The next body event from ``buf`` (consumed in place)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where in the body we are, for error messages."""
        return f"{self.received} bytes received"

    def next_direct(self, data: bytes, buf: bytearray, eof: bool) -> BodyEvent:
        """Like :meth:`next_event` for ``data`` received while ``buf`` was empty.

        What ``data`` holds beyond the body is left in ``buf``.
        """
        buf += data
        return self.next_event(buf, eof)


class LengthDecoder(BodyDecoder):
    """A body of exactly ``length`` bytes (more than zero)."""

    __slots__ = ("remaining",)

    direct = True

    def __init__(self, length: int) -> None:
        super().__init__()
        self.remaining = length

    def next_event(self, buf: bytearray, eof: bool) -> BodyEvent:
        """The next piece of the body, then EndOfMessage."""
        remaining = self.remaining
        if not remaining:
            self.done = True
            return EndOfMessage()
        if not buf:
            return NEED_DATA
        data = take(buf, remaining)
        self.remaining = remaining - len(data)
        self.received += len(data)
        return Data(data)

    def next_direct(self, data: bytes, buf: bytearray, eof: bool) -> BodyEvent:
        """The body's part of ``data`` as it is (no copy when it is all body)."""
        remaining = self.remaining
        n = len(data)
        if not remaining or not n:
            return super().next_direct(data, buf, eof)
        if n > remaining:
            with memoryview(data) as view:
                buf += view[remaining:]
            data = data[:remaining]
            n = remaining
        self.remaining = remaining - n
        self.received += n
        return Data(data)

    def describe(self) -> str:
        """How many bytes are missing."""
        return f"{self.remaining} of {self.received + self.remaining} bytes missing"


class UntilCloseDecoder(BodyDecoder):
    """A response body that ends when the connection does."""

    __slots__ = ("limit",)

    direct = True

    def __init__(self, limit: int | None) -> None:
        super().__init__()
        self.limit = limit

    def next_direct(self, data: bytes, buf: bytearray, eof: bool) -> BodyEvent:
        """``data`` as it is."""
        if not data:
            return self.next_event(buf, eof)
        received = self.received + len(data)
        if self.limit is not None and received > self.limit:
            raise ContentTooLargeError(f"body larger than the limit of {self.limit} bytes")
        self.received = received
        return Data(data)

    def next_event(self, buf: bytearray, eof: bool) -> BodyEvent:
        """Whatever arrived, then EndOfMessage at EOF."""
        if buf:
            received = self.received + len(buf)
            if self.limit is not None and received > self.limit:
                raise ContentTooLargeError(f"body larger than the limit of {self.limit} bytes")
            self.received = received
            data = bytes(buf)
            buf.clear()
            return Data(data)
        if eof:
            self.done = True
            return EndOfMessage()
        return NEED_DATA


class ChunkedDecoder(BodyDecoder):
    """A chunked body: size lines, data, CRLF; a zero size, then trailer fields."""

    __slots__ = ("chunk_left", "error", "limit", "max_fields", "max_trailer_size", "scan", "state")

    def __init__(
        self,
        limit: int | None,
        max_trailer_size: int,
        max_fields: int,
        error: type[HTTPProtocolError],
    ) -> None:
        super().__init__()
        self.limit = limit
        self.max_trailer_size = max_trailer_size
        self.max_fields = max_fields
        self.error = error
        self.chunk_left = 0
        self.state = _SIZE
        self.scan = 0

    def next_event(self, buf: bytearray, eof: bool) -> BodyEvent:
        """The next piece of chunk data, then EndOfMessage with the trailers."""
        state = self.state
        if state == _DATA:
            return self._data(buf)
        if state == _DATA_END:
            if len(buf) < 2:
                if buf and buf[0] != 13:
                    raise self.error("chunk data not followed by CRLF", bytes(buf))
                return NEED_DATA
            if buf[0] != 13 or buf[1] != 10:
                raise self.error("chunk data not followed by CRLF", bytes(buf[:20]))
            del buf[:2]
            self.state = state = _SIZE
        if state == _SIZE:
            return self._size_line(buf)
        return self._trailers(buf)

    def _size_line(self, buf: bytearray) -> BodyEvent:
        eol = buf.find(b"\n", self.scan, _MAX_CHUNK_LINE + 2)
        if eol < 0:
            if len(buf) > _MAX_CHUNK_LINE:
                raise self.error(f"chunk size line longer than {_MAX_CHUNK_LINE} bytes")
            self.scan = len(buf)
            return NEED_DATA
        self.scan = 0
        if eol == 0 or buf[eol - 1] != 13:
            raise self.error("bare LF (not after CR) in chunk size line", bytes(buf[: eol + 1]))
        match = _CHUNK_LINE.fullmatch(buf, 0, eol - 1)
        if match is None:
            raise self.error("invalid chunk size line", bytes(buf[: eol - 1]))
        size = int(match[1], 16)
        del buf[: eol + 1]
        if self.limit is not None and self.received + size > self.limit:
            raise ContentTooLargeError(f"chunked body larger than the limit of {self.limit} bytes")
        if not size:
            self.state = _TRAILERS
            return self._trailers(buf)
        self.chunk_left = size
        self.state = _DATA
        return self._data(buf) if buf else NEED_DATA

    def _data(self, buf: bytearray) -> BodyEvent:
        if not buf:
            return NEED_DATA
        data = take(buf, self.chunk_left)
        self.chunk_left -= len(data)
        self.received += len(data)
        if not self.chunk_left:
            self.state = _DATA_END
        return Data(data)

    def _trailers(self, buf: bytearray) -> BodyEvent:
        if buf.startswith(b"\r\n"):
            del buf[:2]
            self.done = True
            return EndOfMessage()
        end = buf.find(b"\r\n\r\n", self.scan)
        if end < 0:
            bare = 0 if buf.startswith(b"\n") else find_bare_lf(buf, self.scan)
            if bare >= 0:
                raise self.error("bare LF (not after CR) in trailer section", bytes(buf[:80]))
            if len(buf) > self.max_trailer_size:
                raise limit_error(self.error, HeaderFieldsTooLargeError)(
                    f"trailer section larger than {self.max_trailer_size} bytes"
                )
            self.scan = max(0, len(buf) - 3)
            return NEED_DATA
        if end + 4 > self.max_trailer_size:
            raise limit_error(self.error, HeaderFieldsTooLargeError)(
                f"trailer section larger than {self.max_trailer_size} bytes"
            )
        text = "\r\n" + buf[: end + 2].decode("latin-1")
        del buf[: end + 4]
        trailers = parse_fields(text, 2, self.max_fields, self.error)
        self.done = True
        return EndOfMessage(trailers)

    def describe(self) -> str:
        """Bytes received so far."""
        return f"chunked, {self.received} bytes received"
