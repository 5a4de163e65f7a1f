"""Parsing a message head (start line and field section) into an event.

Why it is shaped this way: a head is validated by one compiled regular
expression over the whole field section, so a request costs a handful of C
calls however many fields it has, and the time is linear in its length
(the pattern has no nested ambiguity to backtrack over). Only when that
match fails does the slow path walk the lines to say *which* rule broke.

The strict rules are the ones request smuggling exploits (RFC 9112 §2.2,
§5, §6.1, §6.3, §11.2): bare CR or LF, NUL and other controls, whitespace
before the colon, obs-fold continuation lines, Content-Length next to
Transfer-Encoding, differing Content-Lengths, a Transfer-Encoding whose
final coding is not chunked. Each rejection is a typed error with its status.
"""

from __future__ import annotations

import re

from evweb.errors import (
    BadRequestError,
    ExpectationFailedError,
    HeaderFieldsTooLargeError,
    HTTPProtocolError,
    HTTPVersionNotSupportedError,
    InvalidResponseError,
    MethodNotImplementedError,
)
from evweb.http.events import UNSAFE_TE_MESSAGE, RequestHead, ResponseHead
from evweb.http.headers import Headers

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_FIELD_SECTION = re.compile(rf"(?:{_TOKEN}:[\t\x20-\x7e\x80-\xff]*\r\n)*")
_FIELD_LINE = re.compile(rf"({_TOKEN}):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*\r\n")
_METHOD = re.compile(_TOKEN)
_TARGET = re.compile(r"[\x21-\x7e]+")
_VERSION = re.compile(r"HTTP/(\d)\.(\d)")
_STATUS_LINE = re.compile(r"HTTP/(\d)\.(\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_DIGITS = re.compile(r"\d{1,18}")
_FIXED_VERSIONS = {"HTTP/1.1": (1, 1), "HTTP/1.0": (1, 0)}
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection", "expect", "host"))


def parse_fields(text: str, start: int, max_fields: int, error: type[HTTPProtocolError]) -> Headers:
    """Parse the field lines of ``text[start:]`` (each ending in CRLF) into Headers."""
    if _FIELD_SECTION.fullmatch(text, start) is None:
        _diagnose_fields(text[start:], error)
    pairs = _FIELD_LINE.findall(text, start)
    if not pairs:
        return Headers._trusted([], [], [])
    if len(pairs) > max_fields:
        raise HeaderFieldsTooLargeError(f"more than {max_fields} header fields")
    names, values = zip(*pairs)
    keys = "\n".join(names).lower().split("\n")
    return Headers._trusted(list(names), keys, list(values))


def _diagnose_fields(section: str, error: type[HTTPProtocolError]) -> None:
    """Raise the error naming the first field line that broke a rule (the slow path)."""
    for line in section.split("\r\n")[:-1]:
        if line[:1] in (" ", "\t"):
            raise error("obsolete line folding (obs-fold) in header section", line)
        name, colon, value = line.partition(":")
        if not colon:
            raise error("header line without a colon", line)
        if not name or name != name.rstrip(" \t"):
            raise error("empty header name or whitespace before the colon", line)
        if not _METHOD.fullmatch(name):
            raise error("invalid character in header name", line)
        raise error("control character (CR, LF, NUL...) in header value", line)
    raise error("malformed header section", section)


def parse_request_head(text: str, max_fields: int) -> RequestHead:
    """Parse a request head: ``text`` ends with the CRLF of its last line (the blank line excluded)."""
    eol = text.find("\r\n")
    line = text[:eol]
    method, target, version = _split_request_line(line)
    headers = parse_fields(text, eol + 2, max_fields, BadRequestError)
    return _frame_request(method, target, version, headers)


def _split_request_line(line: str) -> tuple[str, str, tuple[int, int]]:
    parts = line.split(" ")
    if len(parts) != 3:
        raise BadRequestError("request line is not 'METHOD target HTTP/x.y'", line)
    method, target, raw_version = parts
    if _METHOD.fullmatch(method) is None:
        raise BadRequestError("invalid method token", method)
    if _TARGET.fullmatch(target) is None:
        raise BadRequestError("invalid character in request target", target)
    return method, target, parse_version(raw_version, BadRequestError)


def parse_version(raw: str, error: type[HTTPProtocolError]) -> tuple[int, int]:
    """``HTTP/1.1`` → (1, 1); a later 1.x reads as 1.1; major ≠ 1 is 505 (or ``error`` for a response)."""
    fixed = _FIXED_VERSIONS.get(raw)
    if fixed is not None:
        return fixed
    match = _VERSION.fullmatch(raw)
    if match is None:
        raise error("malformed HTTP version", raw)
    if match[1] != "1":
        if error is BadRequestError:
            raise HTTPVersionNotSupportedError("HTTP major version not supported", raw)
        raise error("HTTP major version not supported", raw)
    return (1, 1)


def _special_fields(headers: Headers) -> dict[str, list[str]]:
    """The values of the fields that decide framing, by lowered name (one pass)."""
    found: dict[str, list[str]] = {}
    for key, value in zip(headers._keys, headers._values):
        if key in _FRAMING:
            found.setdefault(key, []).append(value)
    return found


def _frame_request(
    method: str, target: str, version: tuple[int, int], headers: Headers
) -> RequestHead:
    special = _special_fields(headers) if headers._keys else {}
    hosts = special.get("host")
    if hosts is None and version >= (1, 1):
        raise BadRequestError("HTTP/1.1 request without Host")
    if hosts is not None and len(hosts) > 1:
        raise BadRequestError("more than one Host field", ", ".join(hosts))
    chunked = False
    content_length = None
    te = special.get("transfer-encoding")
    if te is not None:
        if version < (1, 1):
            raise BadRequestError("Transfer-Encoding in an HTTP/1.0 request")
        chunked = _check_request_te(te, "content-length" in special)
    elif "content-length" in special:
        content_length = parse_content_length(special["content-length"], BadRequestError)
    keep_alive = connection_keep_alive(special.get("connection"), version)
    expect_continue = False
    expect = special.get("expect")
    if expect is not None:
        if len(expect) != 1 or expect[0].lower() != "100-continue":
            raise ExpectationFailedError("unsupported expectation", ", ".join(expect))
        expect_continue = version >= (1, 1)
    return RequestHead(
        method,
        target,
        version,
        headers,
        content_length=content_length,
        chunked=chunked,
        keep_alive=keep_alive,
        expect_continue=expect_continue,
    )


def _check_request_te(values: list[str], has_length: bool) -> bool:
    codings = [c.strip().lower() for v in values for c in v.split(",")]
    if has_length:
        raise BadRequestError("both Transfer-Encoding and Content-Length", ", ".join(values))
    if codings[-1] != "chunked":
        raise BadRequestError(UNSAFE_TE_MESSAGE, ", ".join(values))
    if codings.count("chunked") > 1 or "" in codings:
        raise BadRequestError("malformed Transfer-Encoding", ", ".join(values))
    if len(codings) > 1:
        raise MethodNotImplementedError("unsupported transfer coding", ", ".join(values))
    return True


def parse_content_length(values: list[str], error: type[HTTPProtocolError]) -> int:
    """The one length that every Content-Length field (and list element) agrees on."""
    lengths = {part.strip() for value in values for part in value.split(",")}
    if len(lengths) != 1:
        raise error("differing Content-Length values", ", ".join(values))
    (text,) = lengths
    if _DIGITS.fullmatch(text) is None:
        raise error("invalid Content-Length", text)
    return int(text)


def connection_keep_alive(connection: list[str] | None, version: tuple[int, int]) -> bool:
    """RFC 9112 §9.3: 1.1 persists unless ``close``; 1.0 only with ``keep-alive``."""
    if connection is None:
        return version >= (1, 1)
    tokens = {t.strip().lower() for v in connection for t in v.split(",")}
    if "close" in tokens:
        return False
    return version >= (1, 1) or "keep-alive" in tokens


def parse_response_head(text: str, max_fields: int, request_method: str) -> ResponseHead:
    """Parse a response head; ``request_method`` decides HEAD/CONNECT framing."""
    eol = text.find("\r\n")
    line = text[:eol]
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise InvalidResponseError("malformed status line", line)
    version = parse_version(f"HTTP/{match[1]}.{match[2]}", InvalidResponseError)
    status = int(match[3])
    if status < 100:
        raise InvalidResponseError("status code below 100", line)
    headers = parse_fields(text, eol + 2, max_fields, InvalidResponseError)
    return _frame_response(status, match[4] or "", version, headers, request_method)


def _frame_response(
    status: int, reason: str, version: tuple[int, int], headers: Headers, method: str
) -> ResponseHead:
    special = _special_fields(headers)
    keep_alive = connection_keep_alive(special.get("connection"), version)
    head = ResponseHead(status, reason, version, headers, keep_alive=keep_alive)
    if _response_has_no_body(status, method):
        head.content_length = 0
        return head
    te = special.get("transfer-encoding")
    if te is not None:
        codings = [c.strip().lower() for v in te for c in v.split(",")]
        if codings[-1] == "chunked" and len(codings) == 1:
            head.chunked = True
            return head
        if codings[-1] == "chunked":
            raise InvalidResponseError("unsupported transfer coding", ", ".join(te))
        head.until_close, head.keep_alive = True, False
        return head
    if "content-length" in special:
        head.content_length = parse_content_length(special["content-length"], InvalidResponseError)
        return head
    head.until_close, head.keep_alive = True, False
    return head


def _response_has_no_body(status: int, method: str) -> bool:
    """RFC 9112 §6.3 rules 1–2: HEAD, 1xx, 204, 304 and a 2xx to CONNECT have no body."""
    return (
        method == "HEAD"
        or status < 200
        or status in (204, 304)
        or (method == "CONNECT" and status < 300)
    )
