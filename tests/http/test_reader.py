"""The sans-IO readers, rule by rule: every accepted form and every rejection with its status."""

from __future__ import annotations

import time
from typing import Any

import pytest

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
from evweb.http import _head
from evweb.http.events import (
    CLOSED,
    NEED_DATA,
    PAUSED,
    Data,
    EndOfMessage,
    RequestHead,
    ResponseHead,
    Sentinel,
)
from evweb.http.reader import RequestReader, ResponseReader

Reader = RequestReader | ResponseReader


def drain(reader: Reader) -> list[Any]:
    """Events until a sentinel (included)."""
    out: list[Any] = []
    while True:
        event = reader.next_event()
        out.append(event)
        if isinstance(event, Sentinel):
            return out


def feed_all(data: bytes, reader: Reader | None = None, *, eof: bool = False) -> list[Any]:
    reader = reader if reader is not None else RequestReader()
    reader.feed(data)
    if eof:
        reader.feed_eof()
    return drain(reader)


def feed_pieces(data: bytes, size: int, reader: Reader | None = None) -> list[Any]:
    """Feed ``size`` bytes at a time, collecting every non-NEED_DATA answer."""
    reader = reader if reader is not None else RequestReader()
    out: list[Any] = []
    for i in range(0, len(data), size):
        reader.feed(data[i : i + size])
        out.extend(e for e in drain(reader) if e is not NEED_DATA)
    return out


def summary(events: list[Any]) -> list[Any]:
    """Events as comparable values (bodies joined per message)."""
    out: list[Any] = []
    body = b""
    for e in events:
        if isinstance(e, RequestHead):
            out.append(("head", e.method, e.target, e.version, e.headers.items()))
        elif isinstance(e, ResponseHead):
            out.append(("head", e.status, e.reason, e.version, e.headers.items()))
        elif isinstance(e, Data):
            body += e.data
        elif isinstance(e, EndOfMessage):
            out.append(("body", body, e.trailers.items()))
            body = b""
        else:
            out.append(e)
    return out


def head_of(data: bytes, **limits: Any) -> RequestHead:
    event = feed_all(data, RequestReader(**limits))[0]
    assert isinstance(event, RequestHead)
    return event


def rejected(
    data: bytes, error: type[HTTPProtocolError], status: int, *, eof: bool = False, **limits: Any
) -> HTTPProtocolError:
    reader = RequestReader(**limits)
    with pytest.raises(error) as info:
        feed_all(data, reader, eof=eof)
    assert info.value.status == status
    return info.value


def bad(data: bytes, fragment: str = "", **limits: Any) -> HTTPProtocolError:
    exc = rejected(data, BadRequestError, 400, **limits)
    assert fragment in str(exc)
    return exc


def req(line: str = "GET / HTTP/1.1", *fields: str, body: bytes = b"") -> bytes:
    lines = [line, *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


HOST = "Host: example.com"


# -- request line ------------------------------------------------------------------------
def test_origin_form() -> None:
    head = head_of(req("GET /a/b?c=d&e HTTP/1.1", HOST))
    assert (head.method, head.target, head.version) == ("GET", "/a/b?c=d&e", (1, 1))
    assert head.headers["host"] == "example.com"
    assert not head.has_body and head.keep_alive and not head.expect_continue


def test_absolute_form() -> None:
    head = head_of(req("GET http://example.com:8080/x?y HTTP/1.1", HOST))
    assert head.target == "http://example.com:8080/x?y"


def test_authority_form_for_connect_pauses() -> None:
    reader = RequestReader()
    events = feed_all(req("CONNECT example.com:443 HTTP/1.1", HOST) + b"\x16\x03tls", reader)
    assert isinstance(events[0], RequestHead) and events[0].target == "example.com:443"
    assert isinstance(events[1], EndOfMessage)
    assert events[2] is PAUSED
    assert reader.next_event() is PAUSED
    assert reader.trailing_data() == b"\x16\x03tls"
    reader.feed(b"more")  # still the tunnel's
    assert reader.next_event() is PAUSED and reader.buffered == 4
    assert reader.trailing_data() == b"more"
    reader.resume()
    reader.feed(req("GET / HTTP/1.1", HOST))
    assert isinstance(reader.next_event(), RequestHead)


@pytest.mark.parametrize("target", ["[::1]:443", "127.0.0.1:80", "a-b.example:1"])
def test_authority_forms(target: str) -> None:
    assert head_of(req(f"CONNECT {target} HTTP/1.1", HOST)).target == target


@pytest.mark.parametrize("target", ["/x", "example.com", "http://example.com:443/", "*", ":443"])
def test_connect_needs_authority_form(target: str) -> None:
    bad(req(f"CONNECT {target} HTTP/1.1", HOST), "authority-form")


def test_asterisk_form_is_for_options_only() -> None:
    assert head_of(req("OPTIONS * HTTP/1.1", HOST)).target == "*"
    exc = bad(req("GET * HTTP/1.1", HOST), "only for OPTIONS")
    assert exc.value == "GET"


@pytest.mark.parametrize("target", ["foo", "1http://x/", "?x", "x/y"])
def test_other_target_forms_refused(target: str) -> None:
    bad(req(f"GET {target} HTTP/1.1", HOST), "neither origin-form nor absolute-form")


@pytest.mark.parametrize(
    ("version", "expected"),
    [("HTTP/1.0", (1, 0)), ("HTTP/1.1", (1, 1)), ("HTTP/1.2", (1, 1)), ("HTTP/1.9", (1, 1))],
)
def test_versions(version: str, expected: tuple[int, int]) -> None:
    assert head_of(req(f"GET / {version}", HOST)).version == expected


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"])
def test_other_major_versions_are_505(version: str) -> None:
    exc = rejected(req(f"GET / {version}", HOST), HTTPVersionNotSupportedError, 505)
    assert version in str(exc)


def test_http2_preface_is_505() -> None:
    rejected(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTPVersionNotSupportedError, 505)


@pytest.mark.parametrize(
    "version",
    ["HTTP/1", "HTTP/1.10", "http/1.1", "HTTP/1.1x", "HTTP/a.b", "HTTP/11", "HTTP 1.1", ""],
)
def test_garbage_versions_are_400(version: str) -> None:
    bad(req(f"GET / {version}", HOST))


@pytest.mark.parametrize("method", ["FOO", "get", "M-SEARCH", "X!#$%&'*+.^_`|~1"])
def test_method_is_any_token_case_kept(method: str) -> None:
    assert head_of(req(f"{method} / HTTP/1.1", HOST)).method == method


@pytest.mark.parametrize("method", ["G@T", "GE(T", "GÉT", 'GE"T', "GE/T", "GE:T"])
def test_method_must_be_a_token(method: str) -> None:
    exc = bad(req(f"{method} / HTTP/1.1", HOST), "invalid method token")
    assert exc.value == method


@pytest.mark.parametrize(
    "line",
    [
        "GET  / HTTP/1.1",
        "GET / HTTP/1.1 ",
        " GET / HTTP/1.1",
        "GET\t/ HTTP/1.1",
        "GET / /x HTTP/1.1",
        "GET",
        "GET /",
        "/ HTTP/1.1",
    ],
)
def test_request_line_needs_exactly_two_single_spaces(line: str) -> None:
    bad(req(line, HOST), "request line")


@pytest.mark.parametrize("target", ["/a\x7fb", "/é", "/a\x00"])
def test_target_characters(target: str) -> None:
    bad(req(f"GET {target} HTTP/1.1", HOST))


def test_bare_cr_and_lf_in_request_line() -> None:
    bad(b"GET /\rx HTTP/1.1\r\nHost: a\r\n\r\n", "bare CR")
    bad(b"GET /\nx HTTP/1.1\r\nHost: a\r\n\r\n", "bare LF")


def test_empty_lines_before_the_request_line_are_ignored_up_to_two() -> None:
    assert head_of(b"\r\n" + req("GET / HTTP/1.1", HOST)).target == "/"
    assert head_of(b"\r\n\r\n" + req("GET / HTTP/1.1", HOST)).target == "/"
    bad(b"\r\n\r\n\r\n" + req("GET / HTTP/1.1", HOST), "too many empty lines")
    # after a message too (an old client's CRLF after a body), byte by byte
    data = req("POST / HTTP/1.1", HOST, "Content-Length: 1", body=b"x") + b"\r\n"
    events = feed_pieces(data + req("GET /2 HTTP/1.1", HOST), 1)
    assert [e.target for e in events if isinstance(e, RequestHead)] == ["/", "/2"]


def test_eof_while_paused_stays_paused() -> None:
    reader = RequestReader()
    reader.feed(req("CONNECT a:1 HTTP/1.1", HOST) + b"x")
    reader.feed_eof()
    assert [type(e) for e in drain(reader)] == [RequestHead, EndOfMessage, Sentinel]
    assert reader.next_event() is PAUSED and reader.trailing_data() == b"x"


def test_empty_lines_alone_then_eof_is_closed() -> None:
    assert feed_all(b"\r\n", eof=True) == [CLOSED]


def test_request_line_too_long_is_414() -> None:
    target = "/" + "a" * 100
    assert head_of(req(f"GET {target} HTTP/1.1", HOST), max_line=200).target == target
    exc = rejected(req(f"GET {target} HTTP/1.1", HOST), URITooLongError, 414, max_line=50)
    assert "50" in str(exc)


def test_a_request_line_too_long_in_a_head_too_large_is_414_in_one_piece_or_many() -> None:
    data = req("GET /" + "a" * 300 + " HTTP/1.1", HOST)
    limits: dict[str, Any] = {"max_line": 100, "max_header_size": 200}
    rejected(data, URITooLongError, 414, **limits)
    reader = RequestReader(**limits)
    with pytest.raises(URITooLongError):
        feed_pieces(data, 7, reader)


def test_long_request_line_refused_before_its_end_arrives() -> None:
    reader = RequestReader(max_line=100)
    reader.feed(b"GET /" + b"a" * 90)
    assert reader.next_event() is NEED_DATA
    reader.feed(b"a" * 20)
    with pytest.raises(URITooLongError):
        reader.next_event()


# -- header fields -----------------------------------------------------------------------
def test_fields_keep_order_duplicates_and_case() -> None:
    head = head_of(
        req("GET / HTTP/1.1", "Host: a", "X-A: 1", "x-a: 2", "Set-Cookie: c=1", "X-B: 3", "X-A: 4")
    )
    h = head.headers
    assert h.items() == [
        ("Host", "a"),
        ("X-A", "1"),
        ("x-a", "2"),
        ("Set-Cookie", "c=1"),
        ("X-B", "3"),
        ("X-A", "4"),
    ]
    assert h["X-a"] == "1" and h.get_all("X-A") == ["1", "2", "4"]
    assert "SET-COOKIE" in h and "nope" not in h


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("X:v", "v"),
        ("X: v", "v"),
        ("X:  \t v \t ", "v"),
        ("X: a  b\tc", "a  b\tc"),
        ("X:", ""),
        ("X:   ", ""),
        ("X: \t", ""),
        ("X: é\xff", "é\xff"),
        ("X: a:b: c", "a:b: c"),
        ('X: "q" (c) <x>', '"q" (c) <x>'),
    ],
)
def test_field_values_lose_surrounding_whitespace_only(line: str, value: str) -> None:
    assert head_of(req("GET / HTTP/1.1", HOST, line)).headers["x"] == value


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"Host: a\r\nX: a\r\n  folded\r\n", "obs-fold"),
        (b"Host: a\r\nX: a\r\n\tfolded\r\n", "obs-fold"),
        (b" Host: a\r\n", "whitespace before the first header field"),
        (b"Host: a\r\nX: a\rb\r\n", "bare CR"),
        (b"Host: a\r\nX: a\nY: b\r\n", "bare LF"),
        (b"Host: a\r\nX: a\x00b\r\n", "NUL"),
        (b"Host: a\r\nX: a\x01b\r\n", "control character"),
        (b"Host: a\r\nX: a\x1bb\r\n", "control character"),
        (b"Host: a\r\nX: a\x7fb\r\n", "control character"),
        (b"Host: a\r\nX : a\r\n", "whitespace between the header field name and the colon"),
        (b"Host: a\r\nX\t: a\r\n", "whitespace between the header field name and the colon"),
        (b"Host: a\r\n: a\r\n", "empty header field name"),
        (b"Host: a\r\nX a\r\n", "without a colon"),
        (b"Host: a\r\nX-\xe9: a\r\n", "invalid character in header field name"),
        (b"Host: a\r\nX(y): a\r\n", "invalid character in header field name"),
        (b"Host: a\r\nX y: a\r\n", "invalid character in header field name"),
    ],
)
def test_field_rejections_name_the_line(raw: bytes, fragment: str) -> None:
    exc = bad(b"GET / HTTP/1.1\r\n" + raw + b"\r\n", fragment)
    offending = raw.split(b"\r\n")[-2].decode("latin-1")
    if fragment == "obs-fold":
        offending = raw.split(b"\r\n")[2].decode("latin-1")
    if fragment == "bare LF":
        offending = "X: a\nY: b"
    assert exc.value == offending
    assert repr(offending) in str(exc)


def test_bare_lf_line_ends_refused_before_a_crlf_terminator_could_come() -> None:
    reader = RequestReader()
    reader.feed(b"GET / HTTP/1.1\nHost: a\n")
    assert reader.next_event() is NEED_DATA
    reader.feed(b"\n")
    with pytest.raises(BadRequestError, match="bare LF"):
        reader.next_event()
    bad(b"GET / HTTP/1.1\r\nHost: a\n\r\n", "bare LF")
    bad(b"\nGET / HTTP/1.1\r\n", "bare LF")


def test_too_many_fields_is_431() -> None:
    fields = [f"X-{i}: {i}" for i in range(10)]
    assert len(head_of(req("GET / HTTP/1.1", HOST, *fields), max_fields=11).headers) == 11
    exc = rejected(
        req("GET / HTTP/1.1", HOST, *fields), HeaderFieldsTooLargeError, 431, max_fields=10
    )
    assert "10" in str(exc)


def test_big_head_is_431_complete_or_not() -> None:
    data = req("GET / HTTP/1.1", HOST, "X: " + "a" * 500)
    assert head_of(data, max_header_size=len(data)).headers["x"] == "a" * 500
    rejected(data, HeaderFieldsTooLargeError, 431, max_header_size=len(data) - 1)
    reader = RequestReader(max_header_size=300)
    reader.feed(data[:300])
    assert reader.next_event() is NEED_DATA
    reader.feed(data[300:301])  # one byte over, the terminator still far away
    with pytest.raises(HeaderFieldsTooLargeError):
        reader.next_event()


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a" + b" " * 60_000 + b"b\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b" " * 60_000 + b"\x01\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a" + b" " * 60_000 + b"\x01\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX:" + b"a " * 30_000 + b"\x01\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X" * 60_000 + b"\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X" * 60_000 + b" : 1\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n \r\n" * 5_000,
        b"GET / HTTP/1.1\r\nHost: " + b"a" * 60_000 + b":1:2\r\n",
        b"GET / HTTP/1.1\r\nHost: [" + b"a" * 60_000 + b"\r\n",
        b"GET /" + b"a" * 60_000 + b" HTTP/1.1x\r\nHost: a\r\n",
        b"GET " + b"a" * 60_000 + b" HTTP/1.1\r\nHost: a\r\n",
        b"G" * 60_000 + b" / HTTP/1.1\r\nHost: a\r\n",
    ],
    ids=lambda head: repr(head[:8] + b"..." + head[-24:]),
)
def test_pathological_heads_parse_in_linear_time(head: bytes) -> None:
    # A lazy value pattern used to backtrack quadratically over whitespace: 60 k
    # characters would take minutes; linear patterns take milliseconds.
    reader = RequestReader(max_header_size=200_000, max_line=200_000, max_fields=20_000)
    reader.feed(head + b"\r\n")
    started = time.monotonic()
    try:
        event = reader.next_event()
    except BadRequestError:
        pass
    else:
        assert isinstance(event, RequestHead)
        assert event.headers.get("x") in (None, "a" + " " * 60_000 + "b")
    assert time.monotonic() - started < 5


# -- Host --------------------------------------------------------------------------------
def test_host_rules() -> None:
    bad(req("GET / HTTP/1.1"), "without Host")
    assert head_of(req("GET / HTTP/1.0")).version == (1, 0)
    bad(req("GET / HTTP/1.1", "Host: a", "Host: a"), "more than one Host")
    bad(req("GET / HTTP/1.0", "Host: a", "host: b"), "more than one Host")
    assert head_of(req("GET / HTTP/1.1", "Host:")).headers["host"] == ""


@pytest.mark.parametrize(
    "host", ["a.example", "a.example:8080", "[::1]", "[::1]:80", "10.0.0.1:1", "x:"]
)
def test_valid_hosts(host: str) -> None:
    assert head_of(req("GET / HTTP/1.1", f"Host: {host}")).headers["host"] == host


@pytest.mark.parametrize("host", ["a b", "a@b", "a/b", "a:b", "a:1:2", "[::1", "a\\b", "a?", "é"])
def test_invalid_hosts(host: str) -> None:
    exc = bad(req("GET / HTTP/1.1", f"Host: {host}"), "invalid Host")
    assert exc.value == host


# -- Content-Length ----------------------------------------------------------------------
def body_of(data: bytes, **limits: Any) -> tuple[RequestHead, bytes]:
    events = feed_all(data, RequestReader(**limits))
    head = events[0]
    assert isinstance(head, RequestHead)
    assert isinstance(events[-2], EndOfMessage)
    return head, b"".join(e.data for e in events if isinstance(e, Data))


def test_content_length_body() -> None:
    head, body = body_of(req("POST / HTTP/1.1", HOST, "Content-Length: 5", body=b"hello"))
    assert head.content_length == 5 and head.has_body and not head.chunked
    assert body == b"hello"


def test_content_length_zero_has_no_body() -> None:
    head, body = body_of(req("POST / HTTP/1.1", HOST, "Content-Length: 0"))
    assert head.content_length == 0 and not head.has_body and body == b""


@pytest.mark.parametrize(
    "value", ["abc", "5 5", "+5", "-1", "0x5", "", "5,", ",5", "1.0", "5;", "1_000", "\xb2", "\xb9"]
)
def test_invalid_content_length(value: str) -> None:
    # \xb2 is a superscript two: str.isdigit() says yes, int() says no
    bad(req("POST / HTTP/1.1", HOST, f"Content-Length: {value}"), "invalid Content-Length")


@pytest.mark.parametrize(
    "fields",
    [
        ["Content-Length: 5", "Content-Length: 5"],
        ["Content-Length: 5, 5"],
        ["Content-Length: 5,05"],
    ],
)
def test_equal_duplicate_content_lengths_are_one(fields: list[str]) -> None:
    head, body = body_of(req("POST / HTTP/1.1", HOST, *fields, body=b"hello"))
    assert head.content_length == 5 and body == b"hello"


@pytest.mark.parametrize(
    "fields", [["Content-Length: 5", "Content-Length: 6"], ["Content-Length: 5, 6"]]
)
def test_differing_content_lengths(fields: list[str]) -> None:
    bad(req("POST / HTTP/1.1", HOST, *fields, body=b"hello!"), "differing Content-Length")


def test_huge_content_length() -> None:
    head = head_of(req("POST / HTTP/1.1", HOST, "Content-Length: 999999999999999999"))
    assert head.content_length == 999_999_999_999_999_999
    assert (
        head_of(
            req("POST / HTTP/1.1", HOST, "Content-Length: 0000000000000000000007")
        ).content_length
        == 7
    )
    exc = rejected(
        req("POST / HTTP/1.1", HOST, "Content-Length: 1" + "0" * 18), ContentTooLargeError, 413
    )
    assert "too large" in str(exc)
    rejected(
        req("POST / HTTP/1.1", HOST, "Content-Length: " + "9" * 5000), ContentTooLargeError, 413
    )


def test_content_length_over_max_body_size_is_413_at_once() -> None:
    body_of(req("POST / HTTP/1.1", HOST, "Content-Length: 10", body=b"x" * 10), max_body_size=10)
    exc = rejected(
        req("POST / HTTP/1.1", HOST, "Content-Length: 11"),
        ContentTooLargeError,
        413,
        max_body_size=10,
    )
    assert "11" in str(exc)


# -- Transfer-Encoding -------------------------------------------------------------------
def chunked(body: bytes, *fields: str, line: str = "POST / HTTP/1.1") -> bytes:
    return req(line, HOST, *fields, body=body)


@pytest.mark.parametrize("value", ["chunked", "Chunked", "CHUNKED", " chunked ", "chunked\t"])
def test_transfer_encoding_chunked(value: str) -> None:
    head, body = body_of(chunked(b"5\r\nhello\r\n0\r\n\r\n", f"Transfer-Encoding: {value}"))
    assert head.chunked and head.content_length is None and head.has_body
    assert body == b"hello"


@pytest.mark.parametrize(
    "fields",
    [
        ["Transfer-Encoding: gzip, chunked"],
        ["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
        ["Transfer-Encoding: deflate,chunked"],
    ],
)
def test_unknown_coding_before_chunked_is_501(fields: list[str]) -> None:
    exc = rejected(chunked(b"0\r\n\r\n", *fields), MethodNotImplementedError, 501)
    assert "unsupported transfer coding" in str(exc)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("gzip", "final coding is not chunked"),
        ("identity", "final coding is not chunked"),
        ("chunked, gzip", "final coding is not chunked"),
        ("chunked;q=1", "final coding is not chunked"),
        ("xchunked", "final coding is not chunked"),
        ("chunked, chunked", "more than once"),
        ("chunked,", "empty element"),
        (", chunked", "empty element"),
        ("", "empty element"),
    ],
)
def test_bad_transfer_encodings_are_400(value: str, fragment: str) -> None:
    bad(chunked(b"0\r\n\r\n", f"Transfer-Encoding: {value}"), fragment)


@pytest.mark.parametrize(
    "fields",
    [
        ["Transfer-Encoding: chunked", "Content-Length: 5"],
        ["Content-Length: 5", "Transfer-Encoding: chunked"],
        ["Content-Length: 0", "Transfer-Encoding: chunked"],
    ],
)
def test_transfer_encoding_with_content_length_is_400(fields: list[str]) -> None:
    bad(chunked(b"5\r\nhello\r\n0\r\n\r\n", *fields), "both Transfer-Encoding and Content-Length")


def test_transfer_encoding_in_http10_is_400() -> None:
    data = chunked(b"0\r\n\r\n", "Transfer-Encoding: chunked", line="POST / HTTP/1.0")
    bad(data, "HTTP/1.0")


# -- chunked bodies ----------------------------------------------------------------------
TE = "Transfer-Encoding: chunked"


def chunked_body(raw: bytes, **limits: Any) -> tuple[bytes, list[tuple[str, str]]]:
    events = feed_all(chunked(raw, TE), RequestReader(**limits))
    end = events[-2]
    assert isinstance(end, EndOfMessage), events
    return b"".join(e.data for e in events if isinstance(e, Data)), end.trailers.items()


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b"0\r\n\r\n", b""),
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
        (b"a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", b"0123456789abcdefghij"),
        (b"005\r\nhello\r\n000\r\n\r\n", b"hello"),
        (b"0000000000000005\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;foo=bar\r\nhello\r\n0;last\r\n\r\n", b"hello"),
        (b"5 ; foo = bar\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\t;\tfoo\t=\tbar;baz\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;a=b;c=d;e\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b'5;name="quoted \\"value\\" ;=x"\r\nhello\r\n0\r\n\r\n', b"hello"),
        (b'5;n=""\r\nhello\r\n0\r\n\r\n', b"hello"),
        (b'5;n="\xe9"\r\nhello\r\n0\r\n\r\n', b"hello"),
        (b"5\r\nhe\r\nl\r\n0\r\n\r\n", b"he\r\nl"),
    ],
)
def test_chunked_bodies(raw: bytes, body: bytes) -> None:
    assert chunked_body(raw) == (body, [])
    for size in (1, 2, 3, 7):  # and in every kind of piece
        events = feed_pieces(chunked(raw, TE), size)
        assert b"".join(e.data for e in events if isinstance(e, Data)) == body


@pytest.mark.parametrize(
    "line",
    [
        b" 5",
        b"+5",
        b"-5",
        b"0x5",
        b"g",
        b"",
        b"5 ",
        b"5\t",
        b"00000000000000005",
        b"10000000000000000",
        b"5;",
        b"5;=x",
        b"5;foo=",
        b'5;"x"',
        b'5;foo="unterminated',
        b"5;foo=a b",
        b"5;foo=a\x00",
        b"5;fo o",
        b'5;foo="a\\\x00"',
        b"5\x00",
        b"5\rx",
    ],
)
def test_invalid_chunk_size_lines(line: bytes) -> None:
    exc = bad(chunked(line + b"\r\nhello\r\n0\r\n\r\n", TE), "invalid chunk size line")
    assert exc.value == line


def test_chunk_size_line_ending_in_bare_lf() -> None:
    bad(chunked(b"5\nhello\r\n0\r\n\r\n", TE), "bare LF")
    bad(chunked(b"\nhello\r\n0\r\n\r\n", TE), "bare LF")


def test_chunk_size_line_limit() -> None:
    ext = b";x=" + b"y" * 5000
    bad(chunked(b"5" + ext + b"\r\nhello\r\n0\r\n\r\n", TE), "longer than 4096")
    reader = RequestReader()
    reader.feed(chunked(b"5" + ext[:4000], TE))
    assert [type(e) for e in drain(reader)] == [RequestHead, Sentinel]
    reader.feed(ext[4000:4200])  # still no end of line: refused before it comes
    with pytest.raises(BadRequestError, match="4096"):
        reader.next_event()


@pytest.mark.parametrize(
    "raw",
    [
        b"5\r\nhelloX\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r0\r\n\r\n",
        b"5\r\nhellox",
    ],
)
def test_chunk_data_must_end_in_crlf(raw: bytes) -> None:
    bad(chunked(raw, TE), "chunk data not followed by CRLF")


def test_trailers() -> None:
    body, trailers = chunked_body(b'5\r\nhello\r\n0\r\nX-Sum: 1\r\nx-sum: 2\r\nETag:  "e" \r\n\r\n')
    assert body == b"hello"
    assert trailers == [("X-Sum", "1"), ("x-sum", "2"), ("ETag", '"e"')]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"0\r\nX: 1\r\n folded\r\n\r\n", "obs-fold"),
        (b"0\r\nX : 1\r\n\r\n", "whitespace between"),
        (b"0\r\nX: 1\r\rY: 2\r\n\r\n", "bare CR"),
        (b"0\r\nX: a\x00\r\n\r\n", "NUL"),
        (b"0\r\nX: 1\n\n", "bare LF"),
        (b"0\r\n\n", "bare LF"),
        (b"0\r\nX: 1\n\r\n", "bare LF"),
        (b"0\r\nnocolon\r\n\r\n", "without a colon"),
    ],
)
def test_bad_trailers(raw: bytes, fragment: str) -> None:
    bad(chunked(raw, TE), fragment)


def test_trailer_limits() -> None:
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(5))
    assert len(chunked_body(b"0\r\n" + many + b"\r\n", max_fields=5)[1]) == 5
    rejected(chunked(b"0\r\n" + many + b"\r\n", TE), HeaderFieldsTooLargeError, 431, max_fields=4)
    big = b"0\r\nX: " + b"a" * 500
    rejected(chunked(big, TE), HeaderFieldsTooLargeError, 431, max_header_size=200)
    rejected(chunked(big + b"\r\n\r\n", TE), HeaderFieldsTooLargeError, 431, max_header_size=200)


def test_chunked_over_max_body_size_is_413_when_the_size_is_announced() -> None:
    chunked_body(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", max_body_size=10)
    reader = RequestReader(max_body_size=10)
    reader.feed(chunked(b"5\r\nhello\r\n6\r\n", TE))
    with pytest.raises(ContentTooLargeError):
        drain(reader)


# -- Expect ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["100-continue", "100-Continue", " 100-CONTINUE "])
def test_expect_continue(value: str) -> None:
    head = head_of(req("POST / HTTP/1.1", HOST, f"Expect: {value}", "Content-Length: 1"))
    assert head.expect_continue


def test_expect_continue_twice_and_in_http10() -> None:
    head = head_of(req("POST / HTTP/1.1", HOST, "Expect: 100-continue", "Expect: 100-continue"))
    assert head.expect_continue
    assert not head_of(req("POST / HTTP/1.0", "Expect: 100-continue")).expect_continue


@pytest.mark.parametrize(
    "fields",
    [
        ["Expect: foo"],
        ["Expect: 100-continue, foo"],
        ["Expect: 100-continue", "Expect: x=1"],
        ["Expect: 200-ok"],
    ],
)
def test_other_expectations_are_417(fields: list[str]) -> None:
    exc = rejected(req("POST / HTTP/1.1", HOST, *fields), ExpectationFailedError, 417)
    assert "unsupported expectation" in str(exc)


# -- keep-alive --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "fields", "keep_alive"),
    [
        ("1.1", [], True),
        ("1.1", ["Connection: close"], False),
        ("1.1", ["Connection: Close"], False),
        ("1.1", ["Connection: keep-alive"], True),
        ("1.1", ["Connection: upgrade"], True),
        ("1.1", ["Connection: keep-alive, close"], False),
        ("1.1", ["Connection: keep-alive", "Connection: close"], False),
        ("1.0", [], False),
        ("1.0", ["Connection: keep-alive"], True),
        ("1.0", ["Connection: Keep-Alive"], True),
        ("1.0", ["Connection: Upgrade, keep-alive"], True),
        ("1.0", ["Connection: keep-alive, close"], False),
        ("1.0", ["Connection: upgrade"], False),
        ("1.2", [], True),
    ],
)
def test_keep_alive(version: str, fields: list[str], keep_alive: bool) -> None:
    assert head_of(req(f"GET / HTTP/{version}", HOST, *fields)).keep_alive is keep_alive


# -- pipelining --------------------------------------------------------------------------
PIPELINE = (
    req("GET /1 HTTP/1.1", HOST)
    + req("POST /2 HTTP/1.1", HOST, "Content-Length: 5", body=b"hello")
    + chunked(b"3\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n", TE, line="PUT /3 HTTP/1.1")
    + req("GET /4 HTTP/1.0", "Connection: keep-alive")
)


def test_pipelined_messages_in_one_feed() -> None:
    events = summary(feed_all(PIPELINE))
    targets = [e[2] for e in events[:-1] if e[0] == "head"]
    bodies = [(e[1], e[2]) for e in events[:-1] if e[0] == "body"]
    assert targets == ["/1", "/2", "/3", "/4"]
    assert bodies == [(b"", []), (b"hello", []), (b"abcde", [("T", "1")]), (b"", [])]
    assert events[-1] is NEED_DATA


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64])
def test_pipelined_messages_in_pieces(size: int) -> None:
    assert summary(feed_pieces(PIPELINE, size)) == summary(feed_all(PIPELINE))[:-1]


def test_pipelined_messages_split_at_every_point() -> None:
    expected = summary(feed_all(PIPELINE))[:-1]
    for cut in range(1, len(PIPELINE)):
        reader = RequestReader()
        events: list[Any] = []
        for piece in (PIPELINE[:cut], PIPELINE[cut:]):
            reader.feed(piece)
            events += [e for e in drain(reader) if e is not NEED_DATA]
        assert summary(events) == expected


def test_messages_counter_and_buffered() -> None:
    reader = RequestReader()
    reader.feed(PIPELINE)
    assert reader.buffered == len(PIPELINE)
    head = reader.next_event()
    assert reader.messages == 1 and reader.in_body
    assert isinstance(head, RequestHead)
    assert isinstance(reader.next_event(), EndOfMessage)
    assert not reader.in_body
    assert reader.buffered == len(PIPELINE) - len(req("GET /1 HTTP/1.1", HOST))


# -- EOF ---------------------------------------------------------------------------------
def test_eof_between_messages_is_closed() -> None:
    reader = RequestReader()
    assert feed_all(req("GET / HTTP/1.1", HOST), reader, eof=True)[-1] is CLOSED
    assert reader.next_event() is CLOSED
    assert feed_all(b"", eof=True) == [CLOSED]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"G", "middle of a message head"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", "middle of a message head"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r", "middle of a message head"),
        (req("POST / HTTP/1.1", HOST, "Content-Length: 5", body=b"hel"), "2 of 5 bytes missing"),
        (req("POST / HTTP/1.1", HOST, "Content-Length: 5"), "5 of 5 bytes missing"),
        (chunked(b"5\r\nhel", TE), "middle of a body (chunked, 3 bytes received)"),
        (chunked(b"5\r\nhello", TE), "middle of a body"),
        (chunked(b"5\r\nhello\r\n", TE), "middle of a body"),
        (chunked(b"5", TE), "middle of a body"),
        (chunked(b"0\r\n", TE), "middle of a body"),
        (chunked(b"0\r\nX: 1\r\n", TE), "middle of a body"),
    ],
)
def test_eof_in_the_middle_of_a_message(data: bytes, fragment: str) -> None:
    exc = rejected(data, BadRequestError, 400, eof=True)
    assert fragment in str(exc)


def test_feed_after_eof_is_a_caller_bug() -> None:
    reader = RequestReader()
    reader.feed_eof()
    with pytest.raises(RuntimeError):
        reader.feed(b"x")


def test_errors_are_sticky() -> None:
    reader = RequestReader()
    reader.feed(b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n" + req("GET / HTTP/1.1", HOST))
    with pytest.raises(BadRequestError) as first:
        reader.next_event()
    for _ in range(3):
        with pytest.raises(BadRequestError) as again:
            reader.next_event()
        assert again.value is first.value
    assert reader.error is first.value
    reader.feed(b"x" * 100_000)  # a broken reader holds nothing more
    assert reader.buffered == 0
    reader.feed_eof()
    with pytest.raises(BadRequestError):
        reader.next_event()


# -- ResponseReader ----------------------------------------------------------------------
def resp(line: str = "HTTP/1.1 200 OK", *fields: str, body: bytes = b"") -> bytes:
    return req(line, *fields, body=body)


def responses(data: bytes, *methods: str, eof: bool = False, **limits: Any) -> list[Any]:
    reader = ResponseReader(**limits)
    for m in methods:
        reader.expect(m)
    return feed_all(data, reader, eof=eof)


@pytest.mark.parametrize(
    ("line", "status", "reason", "version"),
    [
        ("HTTP/1.1 200 OK", 200, "OK", (1, 1)),
        ("HTTP/1.0 404 Not Found", 404, "Not Found", (1, 0)),
        ("HTTP/1.1 299 whatever  it  says\t", 299, "whatever  it  says\t", (1, 1)),
        ("HTTP/1.1 200 ", 200, "", (1, 1)),
        ("HTTP/1.1 200", 200, "", (1, 1)),
        ("HTTP/1.2 200 OK", 200, "OK", (1, 1)),
        ("HTTP/1.1 599 é", 599, "é", (1, 1)),
        ("HTTP/1.1 100 Continue", 100, "Continue", (1, 1)),
    ],
)
def test_status_lines(line: str, status: int, reason: str, version: tuple[int, int]) -> None:
    head = responses(resp(line, "Content-Length: 0"))[0]
    assert isinstance(head, ResponseHead)
    assert (head.status, head.reason, head.version) == (status, reason, version)


@pytest.mark.parametrize(
    "line",
    [
        "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1  200 OK",
        "HTTP/1.1 abc OK",
        "HTTP/1.1 099 Low",
        "HTTP/1.1 600 High",
        "HTTP/2.0 200 OK",
        "HTTP/0.9 200 OK",
        "http/1.1 200 OK",
        "HTTP/1.1 200 OK\x00",
        "HTTP/1.1 200 O\rK",
        "ICY 200 OK",
        "",
    ],
)
def test_malformed_status_lines(line: str) -> None:
    with pytest.raises(InvalidResponseError) as info:
        responses(resp(line, "Content-Length: 0"))
    assert info.value.status == 502


def test_status_line_limit() -> None:
    with pytest.raises(InvalidResponseError, match="longer than 20"):
        responses(resp("HTTP/1.1 200 " + "x" * 30), max_line=20)


def test_response_with_content_length() -> None:
    events = responses(resp("HTTP/1.1 200 OK", "Content-Length: 5", body=b"helloHTTP"))
    head = events[0]
    assert head.content_length == 5 and not head.chunked and not head.until_close
    assert head.keep_alive
    assert summary(events)[1:] == [("body", b"hello", []), NEED_DATA]


def test_response_chunked() -> None:
    events = responses(resp("HTTP/1.1 200 OK", TE, body=b"3\r\nabc\r\n0\r\nX: y\r\n\r\n"))
    assert events[0].chunked and events[0].content_length is None
    assert summary(events)[1] == ("body", b"abc", [("X", "y")])


def test_response_until_close() -> None:
    reader = ResponseReader()
    reader.feed(resp("HTTP/1.1 200 OK", body=b"abc"))
    head = reader.next_event()
    assert isinstance(head, ResponseHead)
    assert head.until_close and not head.keep_alive and head.content_length is None
    assert reader.next_event().data == b"abc"  # type: ignore[union-attr]
    assert reader.next_event() is NEED_DATA
    reader.feed(b"def")
    assert reader.next_event().data == b"def"  # type: ignore[union-attr]
    reader.feed_eof()
    assert isinstance(reader.next_event(), EndOfMessage)
    assert reader.next_event() is CLOSED


@pytest.mark.parametrize("te", ["gzip", "chunked, gzip", "identity"])
def test_response_final_coding_not_chunked_reads_until_close(te: str) -> None:
    events = responses(resp("HTTP/1.1 200 OK", f"Transfer-Encoding: {te}", body=b"raw"), eof=True)
    assert events[0].until_close
    assert summary(events)[1:] == [("body", b"raw", []), CLOSED]


@pytest.mark.parametrize(
    ("line", "fields", "fragment"),
    [
        ("HTTP/1.1 200 OK", [TE, "Content-Length: 3"], "both"),
        ("HTTP/1.0 200 OK", [TE], "HTTP/1.0"),
        ("HTTP/1.1 200 OK", ["Transfer-Encoding: gzip, chunked"], "unsupported transfer coding"),
        ("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked,"], "empty element"),
        ("HTTP/1.1 200 OK", ["Content-Length: 3", "Content-Length: 4"], "differing"),
        ("HTTP/1.1 200 OK", ["Content-Length: -1"], "invalid Content-Length"),
        ("HTTP/1.1 200 OK", ["Content-Length: " + "9" * 19], "too large"),
        ("HTTP/1.1 200 OK", ["X : y"], "whitespace between"),
        ("HTTP/1.1 200 OK", ["X: y", " folded"], "obs-fold"),
    ],
)
def test_malformed_responses(line: str, fields: list[str], fragment: str) -> None:
    with pytest.raises(InvalidResponseError, match=fragment) as info:
        responses(resp(line, *fields, body=b"abc"))
    assert info.value.status == 502


@pytest.mark.parametrize(
    ("method", "status"),
    [("HEAD", 200), ("GET", 204), ("GET", 304), ("CONNECT", 200), ("HEAD", 404)],
)
def test_responses_without_a_body(method: str, status: int) -> None:
    data = (
        resp(f"HTTP/1.1 {status} X", "Content-Length: 100", TE)
        if method == "HEAD"
        else resp(f"HTTP/1.1 {status} X", "Content-Length: 100")
    )
    events = responses(
        data + resp("HTTP/1.1 200 OK", "Content-Length: 1", body=b"z"), method, "GET"
    )
    assert events[0].status == status and events[0].content_length == 0
    assert isinstance(events[1], EndOfMessage)
    if method == "CONNECT":
        assert events[2] is PAUSED
    else:
        assert summary(events[2:]) == [
            ("head", 200, "OK", (1, 1), [("Content-Length", "1")]),
            ("body", b"z", []),
            NEED_DATA,
        ]


def test_head_response_keeps_the_declared_length_in_its_fields() -> None:
    head = responses(resp("HTTP/1.1 200 OK", "Content-Length: 100"), "HEAD")[0]
    assert head.headers["content-length"] == "100" and head.content_length == 0


def test_interim_responses_before_the_final_one() -> None:
    data = (
        resp("HTTP/1.1 100 Continue")
        + resp("HTTP/1.1 103 Early Hints", "Link: </s.css>; rel=preload")
        + resp("HTTP/1.1 102 Processing")
        + resp("HTTP/1.1 200 OK", "Content-Length: 2", body=b"ok")
        + resp("HTTP/1.1 204 No Content")
    )
    events = responses(data, "POST", "GET")
    kinds = [(type(e).__name__, getattr(e, "status", None)) for e in events]
    assert kinds == [
        ("ResponseHead", 100),
        ("ResponseHead", 103),
        ("ResponseHead", 102),
        ("ResponseHead", 200),
        ("Data", None),
        ("EndOfMessage", None),
        ("ResponseHead", 204),
        ("EndOfMessage", None),
        ("Sentinel", None),
    ]
    assert events[0].informational and not events[3].informational


def test_switching_protocols_pauses() -> None:
    reader = ResponseReader()
    reader.expect("GET")
    reader.feed(resp("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket") + b"\x81\x00")
    head = reader.next_event()
    assert isinstance(head, ResponseHead) and head.status == 101
    assert reader.next_event() is PAUSED
    assert reader.trailing_data() == b"\x81\x00"


def test_connect_tunnel_and_refusal() -> None:
    reader = ResponseReader()
    reader.expect("CONNECT")
    reader.feed(resp("HTTP/1.1 200 Connection Established") + b"tunnel")
    assert [type(e) for e in drain(reader)] == [ResponseHead, EndOfMessage, Sentinel]
    assert reader.trailing_data() == b"tunnel"
    refused = responses(resp("HTTP/1.1 407 Auth", "Content-Length: 2", body=b"no"), "CONNECT")
    assert summary(refused)[1:] == [("body", b"no", []), NEED_DATA]


@pytest.mark.parametrize(
    ("version", "fields", "keep_alive"),
    [
        ("1.1", ["Content-Length: 0"], True),
        ("1.1", ["Content-Length: 0", "Connection: close"], False),
        ("1.0", ["Content-Length: 0"], False),
        ("1.0", ["Content-Length: 0", "Connection: keep-alive"], True),
        ("1.1", [], False),
    ],
)
def test_response_keep_alive(version: str, fields: list[str], keep_alive: bool) -> None:
    assert responses(resp(f"HTTP/{version} 200 OK", *fields))[0].keep_alive is keep_alive


def test_response_max_body_size() -> None:
    with pytest.raises(ContentTooLargeError):
        responses(resp("HTTP/1.1 200 OK", "Content-Length: 11"), max_body_size=10)
    reader = ResponseReader(max_body_size=10)
    reader.feed(resp("HTTP/1.1 200 OK", body=b"x" * 10))
    assert summary(drain(reader))[1:] == [NEED_DATA]
    reader.feed(b"y")
    with pytest.raises(ContentTooLargeError):
        reader.next_event()
    with pytest.raises(ContentTooLargeError):
        responses(resp("HTTP/1.1 200 OK", TE, body=b"b\r\n"), max_body_size=10)


def test_response_eof_cases() -> None:
    assert responses(b"", eof=True) == [CLOSED]
    with pytest.raises(InvalidResponseError, match="middle of a message head"):
        responses(b"HTTP/1.1 200 OK\r\n", eof=True)
    with pytest.raises(InvalidResponseError, match="middle of a body"):
        responses(resp("HTTP/1.1 200 OK", "Content-Length: 3", body=b"ab"), eof=True)
    with pytest.raises(InvalidResponseError, match="bare LF"):
        responses(b"HTTP/1.1 200 OK\n\n")
    with pytest.raises(InvalidResponseError, match="malformed status line"):
        responses(b"\r\nHTTP/1.1 200 OK\r\n\r\n")


def test_pipelined_responses_follow_the_methods() -> None:
    data = (
        resp("HTTP/1.1 200 OK", "Content-Length: 3", body=b"abc")
        + resp("HTTP/1.1 200 OK", "Content-Length: 3")
        + resp("HTTP/1.1 200 OK", TE, body=b"1\r\nz\r\n0\r\n\r\n")
    )
    for size in (len(data), 1, 4):
        reader = ResponseReader()
        for m in ("GET", "HEAD", "GET"):
            reader.expect(m)
        events = summary(feed_pieces(data, size, reader))
        assert [e[1] for e in events if isinstance(e, tuple) and e[0] == "body"] == [
            b"abc",
            b"",
            b"z",
        ]


# -- the parse cache ---------------------------------------------------------------------
def test_cached_heads_are_independent_and_equal_to_fresh_parses() -> None:
    _head._head_cache.clear()
    data = req("POST /c HTTP/1.1", HOST, "Content-Length: 2", "Connection: close", body=b"ab")
    first = feed_all(data)[0]
    second = feed_all(data)[0]
    assert second is not first and second.headers is not first.headers
    for name in RequestHead.__slots__:
        assert getattr(first, name) == getattr(second, name), name
    first.headers.add("X-Mine", "1")
    assert "x-mine" not in second.headers
    assert "x-mine" not in feed_all(data)[0].headers
    # a hit still honours the reader's limits
    rejected(data, HeaderFieldsTooLargeError, 431, max_fields=2)
    rejected(data, URITooLongError, 414, max_line=10)


def test_cache_is_bounded() -> None:
    for i in range(1000):
        feed_all(req(f"GET /{i} HTTP/1.1", HOST))
    assert len(_head._head_cache) <= 128
