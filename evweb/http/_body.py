"""Body decoders: Content-Length, chunked (RFC 9112 §7.1) and read-until-close.

Each decoder takes the reader's bytearray, removes what it consumes and
returns one event (or NEED_DATA). The chunked decoder is strict where a
lenient one would let two parsers disagree on where a message ends: the
size is 1–16 hex digits with nothing before it, extensions must match the
grammar, the data must be followed by exactly CRLF, and a size line may not
grow past 4 KiB while incomplete.
"""

from __future__ import annotations

import re

from evweb.errors import ContentTooLargeError, HTTPProtocolError
from evweb.http._head import parse_fields
from evweb.http.events import NEED_DATA, Data, EndOfMessage, Sentinel
from evweb.http.headers import Headers

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_LINE = re.compile(
    rf"([0-9A-Fa-f]{{1,16}})(?:[ \t]*;[ \t]*{_TOKEN}(?:[ \t]*=[ \t]*(?:{_TOKEN}|{_QUOTED}))?)*".encode()
)
_MAX_CHUNK_LINE = 4096

BodyEvent = Data | EndOfMessage | Sentinel


class BodyDecoder:
    """Common state of the decoders: whether the body has ended, how much came."""

    done = False
    received = 0

    def next_event(self, buf: bytearray, eof: bool) -> BodyEvent:
        """The next body event from ``buf`` (consumed in place)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where in the body we are, for error messages."""
        return f"{self.received} bytes received"


class LengthDecoder(BodyDecoder):
    """A body of exactly ``length`` bytes."""

    def __init__(self, length: int) -> None:
        self.remaining = length

    def next_event(self, buf: bytearray, eof: bool) -> BodyEvent:
        remaining = self.remaining
        if remaining == 0:
            self.done = True
            return EndOfMessage()
        if not buf:
            return NEED_DATA
        if len(buf) <= remaining:
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[:remaining])
            del buf[:remaining]
        self.remaining = remaining - len(data)
        self.received += len(data)
        return Data(data)

    def describe(self) -> str:
        return f"{self.remaining} of {self.received + self.remaining} bytes missing"


class UntilCloseDecoder(BodyDecoder):
    """A response body that ends when the connection does."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit

    def next_event(self, buf: bytearray, eof: bool) -> BodyEvent:
        if buf:
            data = bytes(buf)
            buf.clear()
            self.received += len(data)
            if self.limit is not None and self.received > self.limit:
                raise ContentTooLargeError(f"body larger than the limit of {self.limit} bytes")
            return Data(data)
        if eof:
            self.done = True
            return EndOfMessage()
        return NEED_DATA


class ChunkedDecoder(BodyDecoder):
    """A chunked body: size lines, data, CRLF; a zero size, then trailer fields."""

    def __init__(
        self,
        limit: int | None,
        max_trailer_size: int,
        max_fields: int,
        error: type[HTTPProtocolError],
    ) -> None:
        self.limit = limit
        self.max_trailer_size = max_trailer_size
        self.max_fields = max_fields
        self.error = error
        self.chunk_left = 0
        self.need_crlf = False
        self.in_trailers = False
        self.scan = 0

    def next_event(self, buf: bytearray, eof: bool) -> BodyEvent:
        if self.in_trailers:
            return self._trailers(buf)
        if self.chunk_left:
            return self._data(buf)
        if self.need_crlf:
            if len(buf) < 2:
                return NEED_DATA
            if buf[:2] != b"\r\n":
                raise self.error("chunk data not followed by CRLF", bytes(buf[:20]))
            del buf[:2]
            self.need_crlf = False
        return self._size_line(buf)

    def _size_line(self, buf: bytearray) -> BodyEvent:
        eol = buf.find(b"\r\n", 0, _MAX_CHUNK_LINE + 2)
        if eol < 0:
            if len(buf) > _MAX_CHUNK_LINE:
                raise self.error(f"chunk size line longer than {_MAX_CHUNK_LINE} bytes")
            return NEED_DATA
        match = _CHUNK_LINE.fullmatch(buf, 0, eol)
        if match is None:
            raise self.error("invalid chunk size line", bytes(buf[:eol]))
        size = int(match[1], 16)
        del buf[: eol + 2]
        if self.limit is not None and self.received + size > self.limit:
            raise ContentTooLargeError(f"chunked body larger than the limit of {self.limit} bytes")
        if size == 0:
            self.in_trailers = True
            return self._trailers(buf)
        self.chunk_left = size
        return self._data(buf) if buf else NEED_DATA

    def _data(self, buf: bytearray) -> BodyEvent:
        if not buf:
            return NEED_DATA
        n = self.chunk_left
        if len(buf) <= n:
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[:n])
            del buf[:n]
        self.chunk_left = n - len(data)
        self.received += len(data)
        if not self.chunk_left:
            self.need_crlf = True
        return Data(data)

    def _trailers(self, buf: bytearray) -> BodyEvent:
        if buf[:2] == b"\r\n":
            del buf[:2]
            self.done = True
            return EndOfMessage()
        end = buf.find(b"\r\n\r\n", self.scan)
        if end < 0:
            if len(buf) > self.max_trailer_size:
                raise self.error(f"trailer section larger than {self.max_trailer_size} bytes")
            self.scan = max(0, len(buf) - 3)
            return NEED_DATA
        text = buf[: end + 2].decode("latin-1")
        del buf[: end + 4]
        trailers: Headers = parse_fields(text, 0, self.max_fields, self.error)
        self.done = True
        return EndOfMessage(trailers)

    def describe(self) -> str:
        return f"chunked, {self.received} bytes received"
