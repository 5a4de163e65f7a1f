"""Sans-IO HTTP/1.1 serialisation: heads, chunks and the framing a response gets.

:func:`frame_response` holds evhttp's header synthesis as one decision (RFC
9110 §6.4.1, RFC 9112 §6.3, §9.3): whether the response may carry a body
(never to HEAD, never for 1xx, 204, 304 or a 2xx to CONNECT), whether it is
framed by Content-Length, chunked (HTTP/1.1 streams of unknown length) or by
closing the connection (HTTP/1.0 streams), and whether the connection
persists afterwards. It adds ``Date``, ``Content-Length``, the default
``Content-Type`` and ``Connection`` only where the handler did not set them.
"""

from __future__ import annotations

import enum
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import NamedTuple

from evweb.http.headers import Headers

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
_PHRASES = {int(s): s.phrase for s in HTTPStatus}
_date_cache: list[object] = [0, b""]


def reason_phrase(status: int) -> str:
    """The standard phrase of ``status``, else its class name (``Client Error``), as evhttp does."""
    phrase = _PHRASES.get(status)
    if phrase is not None:
        return phrase
    return _CLASS_NAMES.get(status // 100, "Unknown Status Class")


def http_date(now: float | None = None) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) for ``now`` (default: the clock)."""
    return formatdate(time.time() if now is None else now, usegmt=True)


def _cached_date() -> bytes:
    """Today's ``Date`` value, formatted once per second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True).encode("ascii")
    return _date_cache[1]  # type: ignore[return-value]


class BodyMode(enum.Enum):
    """How a response body is delimited on the wire."""

    NONE = "none"
    """No body may be sent (HEAD, 1xx, 204, 304)."""
    LENGTH = "length"
    """``Content-Length`` bytes."""
    CHUNKED = "chunked"
    """Chunked transfer coding (HTTP/1.1 stream of unknown length)."""
    CLOSE = "close"
    """Raw bytes, then the connection closes (HTTP/1.0 stream of unknown length)."""


class Framing(NamedTuple):
    """The decision :func:`frame_response` made: the head bytes and what follows them."""

    head: bytes
    mode: BodyMode
    keep_alive: bool


def body_allowed(method: str, status: int) -> bool:
    """Whether a response to ``method`` with ``status`` may carry a body."""
    if status < 200 or status in (204, 304) or method == "HEAD":
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
    if "connection" in headers._keys and headers.has_token("connection", "close"):
        keep_alive = False
    allowed = body_allowed(method, status)
    mode = _choose_mode(allowed, headers, version, body_length)
    if mode is BodyMode.CLOSE:
        keep_alive = False
    head_length = method == "HEAD" and status >= 200 and status not in (204, 304)
    extra = _synthesised(
        headers, version, keep_alive, allowed, head_length, mode, body_length, default_content_type
    )
    head = response_head(status, reason, headers, version, extra)
    return Framing(head, mode, keep_alive)


def _choose_mode(
    allowed: bool, headers: Headers, version: tuple[int, int], length: int | None
) -> BodyMode:
    if not allowed:
        return BodyMode.NONE
    if length is not None or "content-length" in headers:
        return BodyMode.LENGTH
    return BodyMode.CHUNKED if version >= (1, 1) else BodyMode.CLOSE


def _synthesised(
    headers: Headers,
    version: tuple[int, int],
    keep_alive: bool,
    allowed: bool,
    head_length: bool,
    mode: BodyMode,
    length: int | None,
    content_type: str | None,
) -> bytes:
    """The fields the handler left out, as wire bytes."""
    keys = headers._keys
    out = []
    if "date" not in keys:
        out.append(b"Date: " + _cached_date() + b"\r\n")
    if mode is BodyMode.LENGTH and length is not None and "content-length" not in keys:
        out.append(b"Content-Length: %d\r\n" % length)
    elif mode is BodyMode.CHUNKED and "transfer-encoding" not in keys:
        out.append(b"Transfer-Encoding: chunked\r\n")
    elif head_length and length is not None and "content-length" not in keys:
        out.append(b"Content-Length: %d\r\n" % length)  # what a GET would have carried
    if allowed and content_type and "content-type" not in keys:
        out.append(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n")
    if "connection" not in keys:
        if not keep_alive:
            out.append(b"Connection: close\r\n")
        elif version < (1, 1):
            out.append(b"Connection: keep-alive\r\n")
    return b"".join(out)


def response_head(
    status: int,
    reason: str | None,
    headers: Headers,
    version: tuple[int, int] = (1, 1),
    extra: bytes = b"",
) -> bytes:
    """``HTTP/x.y status reason`` and the fields (then ``extra`` raw lines), with the blank line."""
    start = _STATUS_LINES.get((status, version)) if reason is None else None
    if start is None:
        start = _status_line(status, reason, version)
    if not headers._names:
        return start + extra + b"\r\n"
    return start + headers.encode() + extra + b"\r\n"


def _status_line(status: int, reason: str | None, version: tuple[int, int]) -> bytes:
    if reason is None:
        reason = reason_phrase(status)
    elif "\r" in reason or "\n" in reason:
        raise ValueError(f"reason phrase may not hold CR or LF: {reason!r}")
    if not 100 <= status <= 999:
        raise ValueError(f"status must be 100..999, got {status!r}")
    return f"HTTP/{version[0]}.{version[1]} {status} {reason}\r\n".encode("latin-1")


_STATUS_LINES = {(s, v): _status_line(s, None, v) for s in _PHRASES for v in ((1, 0), (1, 1))}


def request_head(
    method: str, target: str, headers: Headers, version: tuple[int, int] = (1, 1)
) -> bytes:
    """``METHOD target HTTP/x.y`` and the fields, with the blank line."""
    if not target or any(c in target for c in " \r\n\t\0"):
        raise ValueError(
            f"request target may not be empty or hold whitespace or controls: {target!r}"
        )
    start = f"{method} {target} HTTP/{version[0]}.{version[1]}\r\n".encode("latin-1")
    return start + headers.encode() + b"\r\n"


def chunk(data: bytes | bytearray | memoryview) -> bytes:
    """One chunk of a chunked body; empty data gives empty bytes (an empty chunk would end it)."""
    n = len(data)
    if not n:
        return b""
    return b"%x\r\n" % n + bytes(data) + b"\r\n"


def chunk_header(n: int) -> bytes:
    """The size line before ``n`` bytes of chunk data (for zero-copy writers that add data separately)."""
    return b"%x\r\n" % n


def last_chunk(trailers: Headers | None = None) -> bytes:
    """The zero-size chunk ending a body, with trailer fields when given."""
    if not trailers:
        return LAST_CHUNK
    return b"0\r\n" + trailers.encode() + b"\r\n"
