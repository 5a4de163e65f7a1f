"""The sans-IO writer: framing decisions, header synthesis, reason phrases, chunks, injection."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from evweb.errors import BadRequestError
from evweb.http import writer
from evweb.http.headers import Headers
from evweb.http.writer import (
    CONTINUE_RESPONSE,
    LAST_CHUNK,
    BodyMode,
    body_allowed,
    chunk,
    chunk_header,
    frame_response,
    http_date,
    last_chunk,
    reason_phrase,
    request_head,
    response_head,
)

CT = "text/html; charset=utf-8"


def frame(
    status: int = 200,
    fields: list[tuple[str, str]] | None = None,
    *,
    method: str = "GET",
    version: tuple[int, int] = (1, 1),
    keep_alive: bool = True,
    body_length: int | None = 13,
    reason: str | None = None,
    default_content_type: str | None = CT,
) -> tuple[list[tuple[str, str]], writer.Framing]:
    framing = frame_response(
        status,
        reason,
        Headers(fields or []),
        method=method,
        version=version,
        keep_alive=keep_alive,
        body_length=body_length,
        default_content_type=default_content_type,
    )
    return parse_fields(framing.head), framing


def parse_fields(head: bytes) -> list[tuple[str, str]]:
    assert head.endswith(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")[1:]
    return [(n, v) for n, _, v in (line.partition(": ") for line in lines)]


def names(fields: list[tuple[str, str]]) -> list[str]:
    return [n.lower() for n, _ in fields]


def value(fields: list[tuple[str, str]], name: str) -> str | None:
    found = [v for n, v in fields if n.lower() == name]
    assert len(found) <= 1, f"{name} more than once: {found}"
    return found[0] if found else None


# -- frame_response ----------------------------------------------------------------
def test_typical_get() -> None:
    fields, framing = frame(200, [("Content-Type", "text/plain")])
    assert framing.head.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
    assert framing.mode is BodyMode.LENGTH and framing.keep_alive
    assert value(fields, "content-length") == "13"
    assert value(fields, "content-type") == "text/plain"
    assert value(fields, "date") is not None
    assert value(fields, "connection") is None
    assert value(fields, "transfer-encoding") is None


def test_head_gets_the_length_of_the_would_be_body_but_no_body() -> None:
    fields, framing = frame(200, method="HEAD", body_length=1234)
    assert framing.mode is BodyMode.NONE and framing.keep_alive
    assert value(fields, "content-length") == "1234"
    assert value(fields, "content-type") == CT  # the fields a GET would have had
    fields, framing = frame(200, method="HEAD", body_length=None)  # a stream: length unknown
    assert framing.mode is BodyMode.NONE
    assert "content-length" not in names(fields) and "transfer-encoding" not in names(fields)
    fields, _ = frame(200, method="HEAD", body_length=0)
    assert value(fields, "content-length") == "0" and "content-type" not in names(fields)


@pytest.mark.parametrize(
    ("status", "method"),
    [
        (100, "GET"),
        (101, "GET"),
        (103, "GET"),
        (204, "GET"),
        (304, "GET"),
        (204, "HEAD"),
        (304, "HEAD"),
        (200, "CONNECT"),
    ],
)
def test_no_body_and_no_content_length(status: int, method: str) -> None:
    fields, framing = frame(status, method=method, body_length=13)
    assert framing.mode is BodyMode.NONE and framing.keep_alive
    assert "content-length" not in names(fields)
    assert "content-type" not in names(fields)
    assert "transfer-encoding" not in names(fields)
    assert body_allowed(method, status) is False


@pytest.mark.parametrize(("status", "method"), [(101, "GET"), (204, "GET"), (200, "CONNECT")])
def test_handler_framing_fields_dropped_where_forbidden(status: int, method: str) -> None:
    fields, _ = frame(
        status,
        [("Content-Length", "5"), ("X-A", "1"), ("Transfer-Encoding", "chunked")],
        method=method,
    )
    assert names(fields)[:1] == ["x-a"]
    assert "content-length" not in names(fields) and "transfer-encoding" not in names(fields)


def test_304_keeps_a_handler_content_length() -> None:
    fields, framing = frame(304, [("Content-Length", "42"), ("ETag", '"x"')])
    assert framing.mode is BodyMode.NONE
    assert value(fields, "content-length") == "42"


def test_connect_error_reply_has_a_body() -> None:
    fields, framing = frame(407, method="CONNECT", body_length=3)
    assert framing.mode is BodyMode.LENGTH and value(fields, "content-length") == "3"


def test_http11_stream_is_chunked() -> None:
    fields, framing = frame(200, body_length=None)
    assert framing.mode is BodyMode.CHUNKED and framing.keep_alive
    assert value(fields, "transfer-encoding") == "chunked"
    assert "content-length" not in names(fields)
    assert value(fields, "content-type") == CT


def test_handler_transfer_encoding_is_replaced_by_the_writers() -> None:
    fields, framing = frame(200, [("Transfer-Encoding", "chunked")], body_length=None)
    assert framing.mode is BodyMode.CHUNKED
    assert [v for n, v in fields if n.lower() == "transfer-encoding"] == ["chunked"]
    fields, framing = frame(200, [("Transfer-Encoding", "chunked")], body_length=5)
    assert framing.mode is BodyMode.LENGTH
    assert "transfer-encoding" not in names(fields) and value(fields, "content-length") == "5"
    fields, framing = frame(200, [("Transfer-Encoding", "gzip")], version=(1, 0), body_length=None)
    assert framing.mode is BodyMode.CLOSE and "transfer-encoding" not in names(fields)


def test_http10_stream_ends_by_closing() -> None:
    fields, framing = frame(200, version=(1, 0), keep_alive=True, body_length=None)
    assert framing.mode is BodyMode.CLOSE and not framing.keep_alive
    assert value(fields, "connection") == "close"
    assert "transfer-encoding" not in names(fields) and "content-length" not in names(fields)


def test_http10_keep_alive_is_answered() -> None:
    fields, framing = frame(200, version=(1, 0), keep_alive=True, body_length=5)
    assert framing.keep_alive and value(fields, "connection") == "keep-alive"
    fields, framing = frame(200, version=(1, 0), keep_alive=False, body_length=5)
    assert not framing.keep_alive and value(fields, "connection") == "close"
    fields, framing = frame(200, [("Connection", "Keep-Alive")], version=(1, 0), body_length=5)
    assert framing.keep_alive and value(fields, "connection") == "Keep-Alive"
    fields, framing = frame(101, [("Connection", "Upgrade")], version=(1, 0), body_length=None)
    assert [v for n, v in fields if n == "Connection"] == ["Upgrade", "keep-alive"]


def test_connection_close_propagation() -> None:
    fields, framing = frame(200, keep_alive=False)
    assert not framing.keep_alive and value(fields, "connection") == "close"
    fields, framing = frame(200, [("Connection", "close")])
    assert not framing.keep_alive and value(fields, "connection") == "close"
    fields, framing = frame(200, [("Connection", "Upgrade, Close")])
    assert not framing.keep_alive and value(fields, "connection") == "Upgrade, Close"
    fields, framing = frame(200, [("Connection", "keep-alive")], keep_alive=False)
    assert not framing.keep_alive
    assert [v for n, v in fields if n == "Connection"] == ["keep-alive", "close"]


def test_date_added_once() -> None:
    fields, _ = frame(200)
    date = value(fields, "date")
    assert date is not None
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", date)
    assert parsedate_to_datetime(date).tzname() == "UTC"
    fields, _ = frame(200, [("Date", "Sun, 06 Nov 1994 08:49:37 GMT")])
    assert value(fields, "date") == "Sun, 06 Nov 1994 08:49:37 GMT"
    fields, _ = frame(404, [("date", "x")])
    assert [v for n, v in fields if n.lower() == "date"] == ["x"]


def test_date_line_changes_with_the_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [784111777.0]
    monkeypatch.setattr(writer, "_time", lambda: now[0])
    assert value(frame(200)[0], "date") == "Sun, 06 Nov 1994 08:49:37 GMT"
    now[0] += 0.5
    assert value(frame(200)[0], "date") == "Sun, 06 Nov 1994 08:49:37 GMT"
    now[0] += 0.5
    assert value(frame(200)[0], "date") == "Sun, 06 Nov 1994 08:49:38 GMT"
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    now[0] -= 3600  # the clock went back: no stale Date
    assert value(frame(200)[0], "date") == "Sun, 06 Nov 1994 07:49:38 GMT"


def test_default_content_type_only_with_a_body() -> None:
    assert value(frame(200, body_length=5)[0], "content-type") == CT
    assert value(frame(200, body_length=None)[0], "content-type") == CT
    assert "content-type" not in names(frame(200, body_length=0)[0])
    assert "content-type" not in names(frame(204)[0])
    assert "content-type" not in names(frame(304)[0])
    assert "content-type" not in names(frame(200, default_content_type=None)[0])
    assert value(frame(200, [("Content-Type", "a/b")])[0], "content-type") == "a/b"
    with pytest.raises(ValueError, match="controls"):
        frame(200, default_content_type="text/html\r\nX-Evil: 1")


def test_handler_content_length_is_respected() -> None:
    fields, framing = frame(200, [("Content-Length", "99")], body_length=None)
    assert framing.mode is BodyMode.LENGTH and value(fields, "content-length") == "99"
    fields, framing = frame(200, [("content-length", "5")], body_length=5)
    assert framing.mode is BodyMode.LENGTH
    assert [v for n, v in fields if n.lower() == "content-length"] == ["5"]
    fields, framing = frame(200, [("Content-Length", "5")], version=(1, 0), body_length=None)
    assert framing.mode is BodyMode.LENGTH and framing.keep_alive


def test_field_order_is_handler_fields_then_synthesised() -> None:
    fields, _ = frame(200, [("X-B", "2"), ("X-A", "1"), ("x-b", "3")], keep_alive=False)
    assert names(fields) == [
        "x-b",
        "x-a",
        "x-b",
        "date",
        "content-length",
        "content-type",
        "connection",
    ]


def test_custom_reason_and_versions() -> None:
    _, framing = frame(200, reason="Fine Thanks")
    assert framing.head.startswith(b"HTTP/1.1 200 Fine Thanks\r\n")
    _, framing = frame(599, version=(1, 0))
    assert framing.head.startswith(b"HTTP/1.0 599 Server Error\r\n")
    _, framing = frame(200, reason="")
    assert framing.head.startswith(b"HTTP/1.1 200 \r\n")


@pytest.mark.parametrize("reason", ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b", "a\x7f", "€"])
def test_reason_injection_refused(reason: str) -> None:
    with pytest.raises(ValueError, match="reason"):
        frame(200, reason=reason)


@pytest.mark.parametrize("status", [0, 99, 600, 1000, -200])
def test_status_out_of_range(status: int) -> None:
    with pytest.raises(ValueError, match=r"100\.\.599"):
        frame(status)


def test_bad_version() -> None:
    with pytest.raises(ValueError, match="version"):
        frame(200, version=(2, 0))


# -- reason phrases -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (100, "Continue"),
        (101, "Switching Protocols"),
        (200, "OK"),
        (204, "No Content"),
        (304, "Not Modified"),
        (404, "Not Found"),
        (413, "Content Too Large"),
        (414, "URI Too Long"),
        (416, "Range Not Satisfiable"),
        (417, "Expectation Failed"),
        (422, "Unprocessable Content"),
        (431, "Request Header Fields Too Large"),
        (501, "Not Implemented"),
        (505, "HTTP Version Not Supported"),
        (199, "Informational"),
        (299, "Success"),
        (306, "Redirection"),
        (399, "Redirection"),
        (499, "Client Error"),
        (599, "Server Error"),
        (600, "Unknown Status Class"),
        (99, "Unknown Status Class"),
    ],
)
def test_reason_phrases(status: int, phrase: str) -> None:
    assert reason_phrase(status) == phrase
    if 100 <= status <= 599:
        head = response_head(status, None, Headers())
        assert head == f"HTTP/1.1 {status} {phrase}\r\n\r\n".encode()


# -- chunks ------------------------------------------------------------------------------
def test_chunks() -> None:
    assert chunk(b"abc") == b"3\r\nabc\r\n"
    assert chunk(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert chunk(bytearray(b"ab")) == b"2\r\nab\r\n"
    assert chunk(memoryview(b"abcd")[1:3]) == b"2\r\nbc\r\n"
    assert chunk(b"") == b""
    assert chunk_header(4096) == b"1000\r\n"
    with pytest.raises(ValueError):
        chunk_header(0)


def test_last_chunk_and_trailers() -> None:
    assert last_chunk() == LAST_CHUNK == b"0\r\n\r\n"
    assert last_chunk(Headers()) == LAST_CHUNK
    trailers = Headers([("X-Sum", "abc"), ("X-Other", "1")])
    assert last_chunk(trailers) == b"0\r\nX-Sum: abc\r\nX-Other: 1\r\n\r\n"
    for name in ("Content-Length", "transfer-encoding", "Host"):
        with pytest.raises(ValueError, match="trailers"):
            last_chunk(Headers([(name, "1")]))


def test_continue_response() -> None:
    assert CONTINUE_RESPONSE == b"HTTP/1.1 100 Continue\r\n\r\n"


# -- request heads -------------------------------------------------------------------------
def test_request_head() -> None:
    head = request_head("GET", "/a?b", Headers([("Host", "x"), ("Accept", "*/*")]))
    assert head == b"GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"
    assert request_head("OPTIONS", "*", Headers(), (1, 0)) == b"OPTIONS * HTTP/1.0\r\n\r\n"


@pytest.mark.parametrize(
    ("method", "target", "version", "fragment"),
    [
        ("GET\r\nX: y", "/", (1, 1), "method"),
        ("GET /", "/", (1, 1), "method"),
        ("", "/", (1, 1), "method"),
        ("GET", "", (1, 1), "target"),
        ("GET", "/a b", (1, 1), "target"),
        ("GET", "/\r\nX: y", (1, 1), "target"),
        ("GET", "/\x00", (1, 1), "target"),
        ("GET", "/é", (1, 1), "target"),
        ("GET", "/", (2, 0), "version"),
    ],
)
def test_request_head_refuses_injection(
    method: str, target: str, version: tuple[int, int], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        request_head(method, target, Headers(), version)


@pytest.mark.parametrize(
    ("name", "val"),
    [
        ("X-A", "a\r\nX-Evil: 1"),
        ("X-A", "a\nb"),
        ("X-A", "a\rb"),
        ("X-A", "a\x00b"),
        ("X-A", "a\x0bb"),
        ("X-A", "€"),
        ("X-A\r\nX-Evil", "1"),
        ("X A", "1"),
        ("X:A", "1"),
        ("", "1"),
    ],
)
def test_header_injection_refused(name: str, val: str) -> None:
    with pytest.raises(BadRequestError):
        Headers([(name, val)])


def test_response_head_writes_fields_as_they_are() -> None:
    head = response_head(200, "OK", Headers([("A", "1")]), (1, 0), b"B: 2\r\n")
    assert head == b"HTTP/1.0 200 OK\r\nA: 1\r\nB: 2\r\n\r\n"


def frame_args(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "GET",
        "version": (1, 1),
        "keep_alive": True,
        "body_length": 0,
    }
    base.update(kw)
    return base


def test_framing_is_a_pure_decision_on_its_inputs() -> None:
    headers = Headers([("Connection", "close")])
    frame_response(200, None, headers, **frame_args())
    assert headers.items() == [("Connection", "close")]  # the handler's fields are not touched


@pytest.mark.parametrize("length", [-1, 1.0, True, "5"])
def test_body_length_must_be_a_count(length: Any) -> None:
    with pytest.raises(ValueError, match="body length"):
        frame(200, body_length=length)
