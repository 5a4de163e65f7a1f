"""Parsing a message head (start line and field section) into an event.

Why it is shaped this way: a head costs a handful of C calls however many
fields it has. The reader hands over the head as one latin-1 string ending
in the CRLF of its last field line. The start line is one compiled
expression; the field section is one ``split`` by a line pattern that may
only start right after a CRLF (a look-behind), so each match is exactly one
whole, valid line: the section is valid when nothing is left between the
matches, and the names and values are slices of the result. Every pattern
is linear: no nested or overlapping repetition for the engine to backtrack
over (a lazy ``*?`` before trailing whitespace made a value of many spaces
quadratic), and the look-behind stops a search from retrying a long line at
each of its characters. Only when a match fails does the slow path walk the
lines to say *which* rule broke, naming the line.

A keep-alive client repeats its head byte for byte, so successful parses are
remembered by their text (see ``parse_request_head``).

The framing fields (Host, Content-Length, Transfer-Encoding, Connection,
Expect) are looked up with the list's own C search over the lowered names,
so a GET without a body never builds anything for the body rules.

The strict rules are the ones request smuggling exploits (RFC 9112 §2.2,
§3, §5, §6.1, §6.3, §11.2): bare CR or LF, NUL and other controls,
whitespace before the colon, obs-fold continuation lines, Content-Length
next to Transfer-Encoding, differing Content-Lengths, a Transfer-Encoding
whose final coding is not chunked (or that is not exactly ``chunked``:
empty list elements are refused there, not skipped). Each rejection is a
typed error with its status.
"""

from __future__ import annotations

import re

from evweb.errors import (
    BadRequestError,
    ContentTooLargeError,
    ExpectationFailedError,
    HeaderFieldsTooLargeError,
    HTTPProtocolError,
    HTTPVersionNotSupportedError,
    InvalidResponseError,
    MethodNotImplementedError,
    URITooLongError,
)
from evweb.http.events import UNSAFE_TE_MESSAGE, RequestHead, ResponseHead
from evweb.http.headers import Headers, is_token

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_VCHAR = r"[\x21-\x7e\x80-\xff]"
_FIELD_CHAR = r"[\t\x20-\x7e\x80-\xff]"
# One field line, starting right after a CRLF. The value loses its leading and
# trailing whitespace; the trailing ``[ \t]*`` may only follow a non-empty
# value, or the two whitespace runs would overlap and backtrack quadratically.
_FIELD_LINE = re.compile(
    rf"(?<=\r\n)({_TOKEN}):[ \t]*(?:({_VCHAR}{_FIELD_CHAR}*{_VCHAR}|{_VCHAR})[ \t]*)?\r\n"
)
_REQUEST_LINE = re.compile(rf"({_TOKEN}) ([\x21-\x7e]+) HTTP/([0-9]\.[0-9])\r\n")
_STATUS_LINE = re.compile(r"HTTP/([0-9]\.[0-9]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?\r\n")
_TARGET = re.compile(r"[\x21-\x7e]+")
_VERSION = re.compile(r"HTTP/([0-9])\.[0-9]")
_DIGITS = re.compile(r"[0-9]+")
_HOST_CHARS = r"[0-9A-Za-z\-._~!$&'()*+,;=%]"
_IP_LITERAL = r"\[[0-9A-Za-z:.\-_~!$&'()*+,;=]+\]"
_HOST = re.compile(rf"(?:{_IP_LITERAL}|{_HOST_CHARS}*)(?::[0-9]*)?")
_AUTHORITY = re.compile(rf"(?:{_IP_LITERAL}|{_HOST_CHARS}+):[0-9]+")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:[\x21-\x7e]*")
_GOOD_LINE = re.compile(rf"{_TOKEN}:{_FIELD_CHAR}*")
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

V10 = (1, 0)
V11 = (1, 1)
_VERSIONS = {"1.1": V11, "1.0": V10}
_new = object.__new__
_MAX_LENGTH_DIGITS = 18  # 10**18 bytes is an exabyte: beyond it, a length is an attack


def limit_error(
    error: type[HTTPProtocolError], status_error: type[HTTPProtocolError]
) -> type[HTTPProtocolError]:
    """The error for a request over a limit (its own status), or ``error`` for a response."""
    return status_error if error is BadRequestError else error


# -- field sections ------------------------------------------------------------------
def parse_fields(text: str, start: int, max_fields: int, error: type[HTTPProtocolError]) -> Headers:
    """Parse the field lines of ``text[start:]``, each ending in CRLF, into Headers.

    ``text[start - 2:start]`` must be the CRLF that ends the line before.
    """
    if start >= len(text):
        return Headers._trusted([], [], [])
    # split() answers [CRLF, name, value, "", name, value, "", ...]: the
    # section is valid when every piece between two matches is empty.
    parts = _FIELD_LINE.split(text[start - 2 :])
    count = len(parts) // 3
    if parts[0] != "\r\n" or any(parts[3::3]):
        count = text.count("\r\n", start)
        if count <= max_fields:
            diagnose_fields(text[start:], error)
    if count > max_fields:
        raise limit_error(error, HeaderFieldsTooLargeError)(f"more than {max_fields} header fields")
    names = parts[1::3]
    values = parts[2::3]
    if None in values:  # an empty value leaves its group unmatched
        values = [v or "" for v in values]
    headers = _new(Headers)
    headers._names = names
    headers._keys = "\n".join(names).lower().split("\n")
    headers._values = values
    return headers


def diagnose_fields(section: str, error: type[HTTPProtocolError]) -> None:
    """Raise the error naming the first field line that broke a rule (the slow path)."""
    for number, line in enumerate(section.split("\r\n")[:-1]):
        if _GOOD_LINE.fullmatch(line) is not None:
            continue
        if "\n" in line:
            raise error("bare LF (not after CR) in header section", line)
        if "\r" in line:
            raise error("bare CR (not before LF) in header section", line)
        if line[:1] in (" ", "\t"):
            if number == 0:
                raise error("whitespace before the first header field", line)
            raise error("obsolete line folding (obs-fold) in header section", line)
        name, colon, value = line.partition(":")
        if not colon:
            raise error("header line without a colon", line)
        if not name:
            raise error("empty header field name", line)
        if name != name.rstrip(" \t"):
            raise error("whitespace between the header field name and the colon", line)
        if not is_token(name):
            raise error("invalid character in header field name", line)
        if "\0" in value:
            raise error("NUL in header field value", line)
        if _CTL.search(value) is not None:
            raise error("control character in header field value", line)
        raise error("malformed header line", line)  # pragma: no cover - the checks cover it
    raise error("malformed header section", section)  # pragma: no cover - a line failed


def _values(headers: Headers, key: str) -> list[str]:
    return [v for k, v in zip(headers._keys, headers._values, strict=True) if k == key]


# -- requests --------------------------------------------------------------------------
# A keep-alive client repeats its head byte for byte (a benchmark does nothing
# else), so successful parses are remembered by their text: a hit costs a dict
# lookup and fresh copies instead of a parse. The cache is small, holds only
# short heads, is emptied when full, and a hit still honours the caller's
# limits, so it changes nothing but the time.
_CACHE_MAX_TEXT = 2048
_CACHE_ENTRIES = 128
_HeadArgs = tuple[
    int,
    int,
    str,
    str,
    tuple[int, int],
    list[str],
    list[str],
    list[str],
    int | None,
    bool,
    bool,
    bool,
]
_head_cache: dict[str, _HeadArgs] = {}
_valid_hosts: set[str] = set()  # Host values seen valid: a server sees a handful


def parse_request_head(text: str, max_fields: int, max_line: int) -> RequestHead:
    """Parse a request head: ``text`` ends with the CRLF of its last line (no blank line)."""
    args = _head_cache.get(text)
    if args is not None:
        line, count, method, target, version, names, keys, values, length, chunked, ka, ex = args
        if line <= max_line and count <= max_fields:
            headers = _new(Headers)
            headers._names = names[:]
            headers._keys = keys[:]
            headers._values = values[:]
            return RequestHead(method, target, version, headers, length, chunked, ka, ex)
    head = _parse_request_head(text, max_fields, max_line)
    if len(text) <= _CACHE_MAX_TEXT:
        if len(_head_cache) >= _CACHE_ENTRIES:
            _head_cache.clear()
        h = head.headers
        _head_cache[text] = (
            text.index("\r\n"),
            len(h._keys),
            head.method,
            head.target,
            head.version,
            h._names[:],
            h._keys[:],
            h._values[:],
            head.content_length,
            head.chunked,
            head.keep_alive,
            head.expect_continue,
        )
    return head


def _parse_request_head(text: str, max_fields: int, max_line: int) -> RequestHead:
    match = _REQUEST_LINE.match(text)
    if match is None:
        _diagnose_request_line(text, max_line)
    method, target, raw_version = match.groups()  # type: ignore[union-attr]
    start = match.end()  # type: ignore[union-attr]
    if start - 2 > max_line:
        raise URITooLongError(f"request line longer than {max_line} bytes")
    version = _VERSIONS.get(raw_version)
    if version is None:
        version = parse_version("HTTP/" + raw_version, BadRequestError)
    if target[0] != "/" or method == "CONNECT":
        _check_target_form(method, target)
    headers = parse_fields(text, start, max_fields, BadRequestError)
    keys = headers._keys
    values = headers._values
    host_count = keys.count("host")
    if host_count != 1:
        if host_count or version is V11:
            raise BadRequestError(
                "more than one Host field" if host_count else "HTTP/1.1 request without Host"
            )
    else:
        host = values[keys.index("host")]
        if host not in _valid_hosts:
            if _HOST.fullmatch(host) is None:
                raise BadRequestError("invalid Host", host)
            if len(_valid_hosts) >= 64:
                _valid_hosts.clear()
            _valid_hosts.add(host)
    keep_alive = version is V11
    if "connection" in keys:
        if keys.count("connection") == 1:
            token = values[keys.index("connection")].lower()
            if token == "keep-alive":
                keep_alive = True
            elif token == "close":
                keep_alive = False
            else:
                keep_alive = connection_keep_alive([token], version)
        else:
            keep_alive = connection_keep_alive(_values(headers, "connection"), version)
    if "content-length" in keys or "transfer-encoding" in keys or "expect" in keys:
        length, chunked, expect = _request_body_rules(headers, version)
        return RequestHead(method, target, version, headers, length, chunked, keep_alive, expect)
    return RequestHead(method, target, version, headers, None, False, keep_alive, False)


def _diagnose_request_line(text: str, max_line: int) -> None:
    """Raise the error that says why the request line did not match (the slow path)."""
    eol = text.find("\r\n")
    if eol > max_line:
        raise URITooLongError(f"request line longer than {max_line} bytes")
    line = text[:eol]
    if "\n" in line:
        raise BadRequestError("bare LF (not after CR) in request line", line)
    if "\r" in line:
        raise BadRequestError("bare CR (not before LF) in request line", line)
    parts = line.split(" ")
    if len(parts) != 3:
        raise BadRequestError("request line is not 'METHOD target HTTP/x.y'", line)
    method, target, raw_version = parts
    if not is_token(method):
        raise BadRequestError("invalid method token", method)
    parse_version(raw_version, BadRequestError)
    if _TARGET.fullmatch(target) is None:
        raise BadRequestError("invalid character in request target", target)
    raise BadRequestError("malformed request line", line)  # pragma: no cover


def _check_target_form(method: str, target: str) -> None:
    """RFC 9112 §3.2: authority-form for CONNECT only, asterisk-form for OPTIONS only."""
    if method == "CONNECT":
        if _AUTHORITY.fullmatch(target) is None:
            raise BadRequestError("CONNECT needs an authority-form target (host:port)", target)
    elif target == "*":
        if method != "OPTIONS":
            raise BadRequestError("asterisk-form target ('*') is only for OPTIONS", method)
    elif _ABSOLUTE.fullmatch(target) is None:
        raise BadRequestError("request target is neither origin-form nor absolute-form", target)


def parse_version(raw: str, error: type[HTTPProtocolError]) -> tuple[int, int]:
    """``HTTP/1.1`` is (1, 1); a later 1.x reads as 1.1; another major is 505 (or ``error``).

    ``error`` is raised for a malformed version, and for an unsupported one
    unless it is :class:`~evweb.errors.BadRequestError` (a request: 505).
    """
    match = _VERSION.fullmatch(raw)
    if match is None:
        raise error("malformed HTTP version", raw)
    if match[1] != "1":
        if error is BadRequestError:
            raise HTTPVersionNotSupportedError("HTTP major version not supported", raw)
        raise error("HTTP major version not supported", raw)
    return V10 if raw == "HTTP/1.0" else V11


def _request_body_rules(
    headers: Headers, version: tuple[int, int]
) -> tuple[int | None, bool, bool]:
    """Content-Length, Transfer-Encoding and Expect of a request: (length, chunked, continue)."""
    keys = headers._keys
    chunked = False
    length = None
    if "transfer-encoding" in keys:
        te = _values(headers, "transfer-encoding")
        if version is not V11:
            raise BadRequestError("Transfer-Encoding in an HTTP/1.0 request", ", ".join(te))
        if "content-length" in keys:
            raise BadRequestError("both Transfer-Encoding and Content-Length", ", ".join(te))
        chunked = _check_request_te(te)
    elif "content-length" in keys:
        length = parse_content_length(_values(headers, "content-length"), BadRequestError)
    expect_continue = False
    if "expect" in keys:
        expect_continue = _check_expect(_values(headers, "expect")) and version is V11
    return length, chunked, expect_continue


def _codings(values: list[str]) -> list[str]:
    return [c.strip(" \t").lower() for v in values for c in v.split(",")]


def _check_request_te(values: list[str]) -> bool:
    """RFC 9112 §6.1: only ``chunked`` is decoded; a final coding other than it is 400."""
    codings = _codings(values)
    if "" in codings:
        raise BadRequestError("empty element in Transfer-Encoding", ", ".join(values))
    if codings[-1] != "chunked":
        raise BadRequestError(UNSAFE_TE_MESSAGE, ", ".join(values))
    if len(codings) > 1:
        if "chunked" in codings[:-1]:
            raise BadRequestError("chunked applied more than once", ", ".join(values))
        raise MethodNotImplementedError("unsupported transfer coding", ", ".join(values))
    return True


def _check_expect(values: list[str]) -> bool:
    """RFC 9110 §10.1.1: ``100-continue`` is the only expectation; anything else is 417."""
    members = [m for m in _codings(values) if m]
    for member in members:
        if member != "100-continue":
            raise ExpectationFailedError("unsupported expectation", ", ".join(values))
    return bool(members)


def parse_content_length(values: list[str], error: type[HTTPProtocolError]) -> int:
    """The one length that every Content-Length field (and list element) agrees on.

    Each element must be digits only (no sign, no space inside, no empty
    element); equal duplicates (``5, 5``, or two fields) are one length,
    differing ones are an error; more than 18 significant digits is 413.
    """
    parts = [p.strip(" \t") for v in values for p in v.split(",")]
    for part in parts:
        if _DIGITS.fullmatch(part) is None:
            raise error("invalid Content-Length", ", ".join(values))
    numbers = {p.lstrip("0") or "0" for p in parts}
    if len(numbers) != 1:
        raise error("differing Content-Length values", ", ".join(values))
    (text,) = numbers
    if len(text) > _MAX_LENGTH_DIGITS:
        raise limit_error(error, ContentTooLargeError)("Content-Length too large", text)
    return int(text)


def connection_keep_alive(connection: list[str] | None, version: tuple[int, int]) -> bool:
    """RFC 9112 §9.3: 1.1 persists unless ``close``; 1.0 only with ``keep-alive``."""
    if not connection:
        return version >= V11
    if len(connection) == 1:
        only = connection[0].lower()
        if only == "keep-alive":
            return True
        if only == "close":
            return False
    tokens = _codings(connection)
    if "close" in tokens:
        return False
    return version >= V11 or "keep-alive" in tokens


# -- responses -------------------------------------------------------------------------
def parse_response_head(
    text: str, max_fields: int, max_line: int, request_method: str
) -> ResponseHead:
    """Parse a response head; ``request_method`` decides HEAD/CONNECT framing."""
    match = _STATUS_LINE.match(text)
    if match is None:
        eol = text.find("\r\n")
        if eol > max_line:
            raise InvalidResponseError(f"status line longer than {max_line} bytes")
        raise InvalidResponseError("malformed status line", text[:eol])
    raw_version, code, reason = match.groups()
    start = match.end()
    if start - 2 > max_line:
        raise InvalidResponseError(f"status line longer than {max_line} bytes")
    version = _VERSIONS.get(raw_version)
    if version is None:
        version = parse_version("HTTP/" + raw_version, InvalidResponseError)
    status = int(code)
    if not 100 <= status <= 599:
        raise InvalidResponseError("status code outside 100..599", text[: start - 2])
    headers = parse_fields(text, start, max_fields, InvalidResponseError)
    return _frame_response(status, reason or "", version, headers, request_method)


def _frame_response(
    status: int, reason: str, version: tuple[int, int], headers: Headers, method: str
) -> ResponseHead:
    """RFC 9112 §6.3: how the body of a response is delimited, in the RFC's order."""
    keys = headers._keys
    connection = _values(headers, "connection") if "connection" in keys else None
    keep_alive = connection_keep_alive(connection, version)
    head = ResponseHead(status, reason, version, headers, 0, False, False, keep_alive)
    if response_has_no_body(status, method):
        return head
    has_length = "content-length" in keys
    if "transfer-encoding" in keys:
        te = _values(headers, "transfer-encoding")
        if has_length:
            raise InvalidResponseError("both Transfer-Encoding and Content-Length", ", ".join(te))
        if version is not V11:
            raise InvalidResponseError("Transfer-Encoding in an HTTP/1.0 response", ", ".join(te))
        codings = _codings(te)
        if "" in codings:
            raise InvalidResponseError("empty element in Transfer-Encoding", ", ".join(te))
        if codings[-1] == "chunked":
            if len(codings) > 1:
                raise InvalidResponseError("unsupported transfer coding", ", ".join(te))
            head.content_length, head.chunked = None, True
            return head
    elif has_length:
        head.content_length = parse_content_length(
            _values(headers, "content-length"), InvalidResponseError
        )
        return head
    head.content_length, head.until_close, head.keep_alive = None, True, False
    return head


def response_has_no_body(status: int, method: str) -> bool:
    """RFC 9112 §6.3 rules 1 and 2: HEAD, 1xx, 204, 304 and a 2xx to CONNECT have no body."""
    return (
        method == "HEAD"
        or status < 200
        or status == 204
        or status == 304
        or (method == "CONNECT" and status < 300)
    )
