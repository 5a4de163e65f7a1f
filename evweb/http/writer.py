"""Sans-IO HTTP/1.1 serialisation: heads, chunks and the framing a response gets.

:func:`frame_response` holds evhttp's header synthesis as one decision (RFC
9110 §6.4.1, §8.6, RFC 9112 §6.1, §6.3, §9.3): whether the response may
carry a body (never to HEAD, never for 1xx, 204, 304 or a 2xx to CONNECT),
whether it is framed by Content-Length, chunked (HTTP/1.1 streams of unknown
length) or by closing the connection (HTTP/1.0 streams), and whether the
connection persists afterwards. It adds ``Date``, ``Content-Length``, the
default ``Content-Type`` and ``Connection`` only where the handler did not
set them. Framing belongs to the writer: a handler's ``Transfer-Encoding``
is dropped (the writer adds its own when it chunks), and so is a
``Content-Length`` on a response that may not carry one (1xx, 204, a 2xx
to CONNECT).

Why it is fast: status lines are built once per (status, version), the
``Date`` line once per second, the default ``Content-Type`` line once per
value; a typical reply is one tuple of bytes joined once.

Everything that reaches the wire is checked: reason phrases, methods and
targets may not hold CR, LF or other controls (header fields are checked
when added to :class:`~evweb.http.headers.Headers`), so a value from a
client cannot inject a line.
"""

from __future__ import annotations

import enum
import re
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import NamedTuple

from evweb.http._head import V11
from evweb.http.headers import Headers, is_field_value, is_token

LAST_CHUNK = b"0\r\n\r\n"
"""The end of a chunked body without trailers."""
CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim answer to ``Expect: 100-continue``."""

_CLASS_NAMES = {
    1: "Informational",
    2: "Success",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
}
# RFC 9110 §15 names, the same whatever Python's http.HTTPStatus says
# (3.11 still has "Request Entity Too Large", 3.13 has the RFC's).
_RFC_9110_PHRASES = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}
_PHRASES = {int(s): s.phrase for s in HTTPStatus} | _RFC_9110_PHRASES
_TARGET = re.compile(r"[\x21-\x7e]+")
_V11 = V11  # the reader's version object: ``is`` finds the common case
_NO_TRAILERS = frozenset(("content-length", "transfer-encoding", "host"))
_time = time.time
_new_tuple = tuple.__new__


def reason_phrase(status: int) -> str:
    """The standard phrase of ``status``, else its class name (``Client Error``), as evhttp does."""
    phrase = _PHRASES.get(status)
    if phrase is not None:
        return phrase
    return _CLASS_NAMES.get(status // 100, "Unknown Status Class")


def http_date(now: float | None = None) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) for ``now`` (default: the clock)."""
    return formatdate(time.time() if now is None else now, usegmt=True)


class _DateLine:
    """The ``Date`` field line, formatted once per second."""

    __slots__ = ("line", "until")

    def __init__(self) -> None:
        self.line = b""
        self.until = 0.0

    def get(self, now: float) -> bytes:
        until = self.until
        if now >= until or now < until - 1.0:  # a new second, or the clock went back
            second = int(now)
            self.until = second + 1.0
            self.line = b"Date: " + formatdate(second, usegmt=True).encode("ascii") + b"\r\n"
        return self.line


def _length_line(length: int) -> bytes:
    line = _length_lines.get(length) if type(length) is int else None
    if line is None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"body length must be an int >= 0, got {length!r}")
        line = b"Content-Length: %d\r\n" % length
        if length < 4096:
            _length_lines[length] = line
    return line


_date = _DateLine()
_content_types: dict[str, bytes] = {}
_length_lines: dict[int, bytes] = {}


def _content_type_line(value: str) -> bytes:
    line = _content_types.get(value)
    if line is None:
        if not is_field_value(value):
            raise ValueError(f"default content type may not hold controls: {value!r}")
        line = b"Content-Type: " + value.encode("latin-1") + b"\r\n"
        if len(_content_types) < 64:
            _content_types[value] = line
    return line


class BodyMode(enum.Enum):
    """How a response body is delimited on the wire."""

    NONE = "none"
    """No body may be sent (HEAD, 1xx, 204, 304, 2xx to CONNECT)."""
    LENGTH = "length"
    """``Content-Length`` bytes."""
    CHUNKED = "chunked"
    """Chunked transfer coding (HTTP/1.1 stream of unknown length)."""
    CLOSE = "close"
    """Raw bytes, then the connection closes (HTTP/1.0 stream of unknown length)."""


# Module constants: reading an Enum member off its class costs ten times a global.
_NONE, _LENGTH, _CHUNKED, _CLOSE = BodyMode.NONE, BodyMode.LENGTH, BodyMode.CHUNKED, BodyMode.CLOSE


class Framing(NamedTuple):
    """The decision :func:`frame_response` made: the head bytes and what follows them."""

    head: bytes
    mode: BodyMode
    keep_alive: bool


def body_allowed(method: str, status: int) -> bool:
    """Whether a response to ``method`` with ``status`` may carry a body."""
    if status < 200 or status == 204 or status == 304 or method == "HEAD":
        return False
    return not (method == "CONNECT" and status < 300)


def frame_response(
    status: int,
    reason: str | None,
    headers: Headers,
    *,
    method: str,
    version: tuple[int, int],
    keep_alive: bool,
    body_length: int | None,
    default_content_type: str | None = None,
) -> Framing:
    """Decide framing and build the head; ``body_length`` None means a stream of unknown length.

    ``keep_alive`` is what the request asked for; the result's is what the
    connection does after this response (false also when the handler set
    ``Connection: close`` or a stream must end by closing).
    """
    keys = headers._keys
    handler_close = False
    if keys and "connection" in keys and headers.has_token("connection", "close"):
        keep_alive = False
        handler_close = True
    no_length = status < 200 or status == 204 or (method == "CONNECT" and 200 <= status < 300)
    if no_length or status == 304 or method == "HEAD":
        mode = _NONE
    elif body_length is not None or "content-length" in keys:
        mode = _LENGTH
    elif version >= _V11:
        mode = _CHUNKED
    else:
        mode = _CLOSE
        keep_alive = False

    start = None
    if reason is None:
        lines = _STATUS_LINES_11 if version is _V11 else _STATUS_LINES.get(version)
        if lines is not None:
            start = lines.get(status)
    if start is None:
        start = _status_line(status, reason, version)
    if not keys:
        fields = b""
    elif "transfer-encoding" in keys or (no_length and "content-length" in keys):
        fields = _encode_without(headers, no_length)
    else:
        fields = headers.encode()
    if "date" in keys:
        date = b""
    else:
        now = _time()
        date = _date.line if _date.until - 1.0 <= now < _date.until else _date.get(now)

    length = b""
    if mode is _CHUNKED:
        length = b"Transfer-Encoding: chunked\r\n"
    elif (
        body_length is not None
        and not no_length
        and status != 304
        and "content-length" not in keys
        and (mode is _LENGTH or method == "HEAD")  # HEAD: what a GET would carry
    ):
        length = _length_line(body_length)
    content_type = b""
    if (
        default_content_type
        and body_length != 0
        and "content-type" not in keys
        and (mode is not _NONE or (method == "HEAD" and not no_length and status != 304))
    ):
        content_type = _content_type_line(default_content_type)

    connection = b""
    if not keep_alive:
        if not handler_close:
            connection = b"Connection: close\r\n"
    elif version < _V11 and not (
        "connection" in keys and headers.has_token("connection", "keep-alive")
    ):
        connection = b"Connection: keep-alive\r\n"
    head = b"".join((start, fields, date, length, content_type, connection, b"\r\n"))
    return _new_tuple(Framing, (head, mode, keep_alive))  # what Framing() does, minus a layer


def _encode_without(headers: Headers, no_length: bool) -> bytes:
    """The handler's fields minus the framing ones the writer owns or the status forbids."""
    drop = ("transfer-encoding", "content-length") if no_length else ("transfer-encoding",)
    fields = zip(headers._names, headers._keys, headers._values, strict=True)
    return "".join(f"{n}: {v}\r\n" for n, k, v in fields if k not in drop).encode("latin-1")


def response_head(
    status: int,
    reason: str | None,
    headers: Headers,
    version: tuple[int, int] = (1, 1),
    extra: bytes = b"",
) -> bytes:
    """``HTTP/x.y status reason`` and the fields (then ``extra`` raw lines), with the blank line.

    No framing decision is made here: the fields are written as they are
    (use :func:`frame_response` for a server's reply).
    """
    lines = _STATUS_LINES.get(version) if reason is None else None
    start = lines.get(status) if lines is not None else None
    if start is None:
        start = _status_line(status, reason, version)
    return b"".join((start, headers.encode(), extra, b"\r\n"))


def _status_line(status: int, reason: str | None, version: tuple[int, int]) -> bytes:
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"status must be an int in 100..599, got {status!r}")
    if version not in ((1, 0), (1, 1)):
        raise ValueError(f"version must be (1, 0) or (1, 1), got {version!r}")
    if reason is None:
        reason = reason_phrase(status)
    elif not is_field_value(reason):  # what a reason phrase may hold
        raise ValueError(f"reason phrase may not hold CR, LF or other controls: {reason!r}")
    return f"HTTP/{version[0]}.{version[1]} {status} {reason}\r\n".encode("latin-1")


_STATUS_LINES = {v: {s: _status_line(s, None, v) for s in _PHRASES} for v in ((1, 0), (1, 1))}
_STATUS_LINES_11 = _STATUS_LINES[(1, 1)]


def request_head(
    method: str, target: str, headers: Headers, version: tuple[int, int] = (1, 1)
) -> bytes:
    """``METHOD target HTTP/x.y`` and the fields, with the blank line.

    The method must be a token and the target visible ASCII without spaces
    (ValueError otherwise): nothing a caller passes can add a line.
    """
    if not is_token(method):
        raise ValueError(f"method must be a token: {method!r}")
    if _TARGET.fullmatch(target) is None:
        raise ValueError(
            f"request target must be visible ASCII without spaces or controls: {target!r}"
        )
    if version not in ((1, 0), (1, 1)):
        raise ValueError(f"version must be (1, 0) or (1, 1), got {version!r}")
    start = f"{method} {target} HTTP/{version[0]}.{version[1]}\r\n".encode("ascii")
    return b"".join((start, headers.encode(), b"\r\n"))


def chunk(data: bytes | bytearray | memoryview) -> bytes:
    """One chunk of a chunked body; empty data gives empty bytes (an empty chunk would end it)."""
    n = len(data) if not isinstance(data, memoryview) else data.nbytes
    if not n:
        return b""
    return b"".join((b"%x\r\n" % n, data, b"\r\n"))


def chunk_header(n: int) -> bytes:
    """The size line before ``n`` > 0 bytes of chunk data (for writers that add the data apart)."""
    if n <= 0:
        raise ValueError(f"a chunk holds at least one byte, got {n!r}")
    return b"%x\r\n" % n


def last_chunk(trailers: Headers | None = None) -> bytes:
    """The zero-size chunk ending a body, with trailer fields when given.

    Fields that frame or route a message (Content-Length, Transfer-Encoding,
    Host) may not be trailers (RFC 9110 §6.5.1): ValueError.
    """
    if not trailers:
        return LAST_CHUNK
    bad = _NO_TRAILERS.intersection(trailers._keys)
    if bad:
        raise ValueError(f"these fields may not be sent as trailers: {sorted(bad)}")
    return b"".join((b"0\r\n", trailers.encode(), b"\r\n"))
