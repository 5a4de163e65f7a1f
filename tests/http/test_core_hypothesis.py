"""Properties of the sans-IO core, checked with hypothesis.

1. Any bytes, random or a valid message mutated, fed in any pieces, give
   events or an HTTPProtocolError, never another exception; and the pieces
   never change the outcome.
2. What the writer serialises, the readers parse back to the same message,
   however the bytes are split.
3. Time is linear: a head, a chunked body or trailers dribbled one byte at
   a time are scanned a bounded number of times per byte.
"""

from __future__ import annotations

import itertools
import string
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evweb.errors import HTTPProtocolError
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
from evweb.http.headers import Headers
from evweb.http.reader import RequestReader, ResponseReader
from evweb.http.writer import (
    BodyMode,
    chunk,
    frame_response,
    last_chunk,
    reason_phrase,
    request_head,
    response_head,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
Reader = RequestReader | ResponseReader


def make_reader(kind: str, **limits: Any) -> Reader:
    if kind == "request":
        return RequestReader(**limits)
    reader = ResponseReader(**limits)
    for method in ("GET", "HEAD", "POST", "CONNECT", "GET"):
        reader.expect(method)
    return reader


def run(
    reader: Reader, pieces: list[bytes], eof: bool
) -> tuple[list[Any], HTTPProtocolError | None]:
    """Feed the pieces (then EOF), pulling events after each; the events and the error."""
    events: list[Any] = []
    try:
        for i, piece in enumerate(pieces):
            reader.feed(piece)
            if eof and i == len(pieces) - 1:
                reader.feed_eof()
            while True:
                event = reader.next_event()
                assert isinstance(
                    event, RequestHead | ResponseHead | Data | EndOfMessage | Sentinel
                )
                if event is NEED_DATA:
                    break
                events.append(event)
                if event is PAUSED or event is CLOSED:
                    return events, None
        if eof and not pieces:
            reader.feed_eof()
            events.append(reader.next_event())
    except HTTPProtocolError as exc:
        assert isinstance(exc.status, int) and 400 <= exc.status <= 599
        try:
            reader.next_event()
        except HTTPProtocolError as again:
            assert again is exc  # sticky
        else:  # pragma: no cover
            raise AssertionError("a broken reader answered an event") from exc
        return events, exc
    return events, None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


def summary(events: list[Any]) -> list[Any]:
    out: list[Any] = []
    body = b""
    for e in events:
        if isinstance(e, RequestHead):
            out.append((e.method, e.target, e.version, e.headers.items(), e.content_length))
        elif isinstance(e, ResponseHead):
            out.append((e.status, e.reason, e.version, e.headers.items(), e.content_length))
        elif isinstance(e, Data):
            assert e.data  # never an empty Data
            body += e.data
        elif isinstance(e, EndOfMessage):
            out.append((body, e.trailers.items()))
            body = b""
        else:
            out.append(e)
    if body:
        out.append(("partial", body))
    return out


def check_any_input(
    kind: str, data: bytes, cuts: list[int], eof: bool, limits: dict[str, Any]
) -> None:
    whole, whole_error = run(make_reader(kind, **limits), [data], eof)
    pieces, pieces_error = run(make_reader(kind, **limits), split(data, cuts), eof)
    assert (whole_error is None) == (pieces_error is None), (whole_error, pieces_error)
    if whole_error is None:
        assert summary(whole) == summary(pieces)


LIMITS = st.sampled_from(
    [{}, {"max_header_size": 60, "max_line": 30, "max_fields": 3, "max_body_size": 10}]
)


# -- 1. random and mutated input ------------------------------------------------------
@SETTINGS
@given(
    kind=st.sampled_from(["request", "response"]),
    data=st.binary(max_size=600),
    cuts=st.lists(st.integers(0, 600), max_size=12),
    eof=st.booleans(),
    limits=LIMITS,
)
def test_random_bytes(
    kind: str, data: bytes, cuts: list[int], eof: bool, limits: dict[str, Any]
) -> None:
    check_any_input(kind, data, cuts, eof, limits)


REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5;e="q\\""\r\nhello\r\n0\r\nT: 1\r\n\r\n',
    b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\ntunnel",
    b"\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\nX: 1, 2\r\nx: 3\r\n\r\n",
]
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\nraw",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
]
INTERESTING = b'\r\n \t:;,"=\x00\x7f\x80\xff0129aAfFzZ-+/\\'


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    msg = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        pos = draw(st.integers(0, len(msg)))
        byte = draw(st.sampled_from(list(INTERESTING)) | st.integers(0, 255))
        if op == "insert":
            msg[pos:pos] = bytes([byte])
        elif op == "delete" and pos < len(msg):
            del msg[pos]
        elif op == "replace" and pos < len(msg):
            msg[pos] = byte
        elif op == "duplicate":
            end = draw(st.integers(pos, min(len(msg), pos + 20)))
            msg[pos:pos] = msg[pos:end]
    return bytes(msg)


@SETTINGS
@given(
    data=mutated(REQUESTS),
    cuts=st.lists(st.integers(0, 400), max_size=12),
    eof=st.booleans(),
    limits=LIMITS,
)
def test_mutated_requests(data: bytes, cuts: list[int], eof: bool, limits: dict[str, Any]) -> None:
    check_any_input("request", data, cuts, eof, limits)


@SETTINGS
@given(
    data=mutated(RESPONSES),
    cuts=st.lists(st.integers(0, 400), max_size=12),
    eof=st.booleans(),
    limits=LIMITS,
)
def test_mutated_responses(data: bytes, cuts: list[int], eof: bool, limits: dict[str, Any]) -> None:
    check_any_input("response", data, cuts, eof, limits)


# -- 2. what the writer writes, the readers read back -------------------------------------
TCHARS = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits
VCHARS = "".join(chr(c) for c in range(0x21, 0x7F)) + "".join(chr(c) for c in range(0x80, 0x100))
FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect"}

tokens = st.text(alphabet=TCHARS, min_size=1, max_size=10)
field_values = st.text(alphabet=VCHARS + " \t", max_size=24).map(lambda s: s.strip(" \t"))
field_lists = st.lists(
    st.tuples(tokens.filter(lambda n: n.lower() not in FRAMING), field_values), max_size=6
)
targets = st.text(alphabet=VCHARS[:94], max_size=24).map(lambda s: "/" + s)
bodies = st.binary(max_size=200)


def chunked_body(body: bytes, cuts: list[int], trailers: Headers) -> bytes:
    return b"".join(chunk(piece) for piece in split(body, cuts)) + last_chunk(trailers)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, tuple[Any, ...]]:
    method = draw(tokens.filter(lambda m: m != "CONNECT"))
    target = draw(targets)
    version = draw(st.sampled_from([(1, 0), (1, 1)]))
    fields = draw(field_lists)
    body = draw(bodies)
    framing = draw(
        st.sampled_from(["length", "chunked", "none"] if version == (1, 1) else ["length", "none"])
    )
    if framing == "none":
        body = b""
    trailers = Headers(draw(field_lists)) if framing == "chunked" else Headers()
    headers = Headers([("Host", "example.com"), *fields])
    if framing == "length":
        headers.add("Content-Length", str(len(body)))
    elif framing == "chunked":
        headers.add("Transfer-Encoding", "chunked")
    wire = request_head(method, target, headers, version)
    if framing == "chunked":
        wire += chunked_body(body, draw(st.lists(st.integers(0, 200), max_size=5)), trailers)
    else:
        wire += body
    length = len(body) if framing == "length" else None
    expected = (method, target, version, headers.items(), length)
    return wire, (expected, (body, trailers.items()))


@SETTINGS
@given(
    messages=st.lists(requests(), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_requests_round_trip(
    messages: list[tuple[bytes, tuple[Any, ...]]], cuts: list[int]
) -> None:
    data = b"".join(wire for wire, _ in messages)
    events, error = run(RequestReader(), split(data, cuts), eof=True)
    assert error is None
    expected = [part for _, parts in messages for part in parts]
    assert summary(events) == [*expected, CLOSED]


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, str, list[Any]]:
    method = draw(st.sampled_from(["GET", "GET", "HEAD", "POST"]))
    version = draw(st.sampled_from([(1, 0), (1, 1)]))
    interim: list[Any] = []
    wire = b""
    if version == (1, 1):
        for status in draw(st.lists(st.sampled_from([100, 102, 103]), max_size=2)):
            fields = Headers(draw(field_lists))
            wire += response_head(status, None, fields, version)
            interim.append((status, reason_phrase(status), version, fields.items(), 0))
    status = draw(st.integers(200, 599).filter(lambda s: s not in (204, 304)))
    reason = draw(st.none() | field_values)
    fields = Headers(draw(field_lists))
    body = draw(bodies)
    chunked = version == (1, 1) and draw(st.booleans())
    trailers = Headers(draw(field_lists)) if chunked else Headers()
    headers = fields.copy()
    headers.add(
        *(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body))))
    )
    wire += response_head(status, reason, headers, version)
    if method == "HEAD":
        body, trailers = b"", Headers()
    elif chunked:
        wire += chunked_body(body, draw(st.lists(st.integers(0, 200), max_size=5)), trailers)
    else:
        wire += body
    length = 0 if method == "HEAD" else None if chunked else len(body)
    shown = reason if reason is not None else reason_phrase(status)
    final = (status, shown, version, headers.items(), length)
    return wire, method, [*interim, final, (body, trailers.items())]


@SETTINGS
@given(
    messages=st.lists(responses(), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_responses_round_trip(
    messages: list[tuple[bytes, str, list[Any]]], cuts: list[int]
) -> None:
    reader = ResponseReader()
    for _, method, _ in messages:
        reader.expect(method)
    data = b"".join(wire for wire, _, _ in messages)
    events, error = run(reader, split(data, cuts), eof=True)
    assert error is None
    got = summary(events)
    expected = [part for _, _, parts in messages for part in parts]
    assert len(got) == len(expected) + 1 and got[-1] is CLOSED
    assert got[:-1] == expected


@SETTINGS
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "CONNECT"]),
    status=st.sampled_from([101, 200, 201, 204, 206, 304, 404, 500, 599]),
    version=st.sampled_from([(1, 0), (1, 1)]),
    keep_alive=st.booleans(),
    body=bodies,
    stream=st.booleans(),
    fields=field_lists,
    close_field=st.booleans(),
)
def test_framed_responses_parse_back(
    method: str,
    status: int,
    version: tuple[int, int],
    keep_alive: bool,
    body: bytes,
    stream: bool,
    fields: list[tuple[str, str]],
    close_field: bool,
) -> None:
    headers = Headers(fields)
    if close_field:
        headers.add("Connection", "close")
    framing = frame_response(
        status,
        None,
        headers,
        method=method,
        version=version,
        keep_alive=keep_alive,
        body_length=None if stream else len(body),
        default_content_type="text/plain",
    )
    wire = framing.head
    sent = body
    if framing.mode is BodyMode.CHUNKED:
        wire += chunk(body) + last_chunk()
    elif framing.mode in (BodyMode.LENGTH, BodyMode.CLOSE):
        wire += body
    else:
        sent = b""
    reader = ResponseReader()
    reader.expect(method)
    events, error = run(reader, [wire], eof=framing.mode is BodyMode.CLOSE)
    assert error is None
    head = events[0]
    assert isinstance(head, ResponseHead) and head.status == status
    assert head.keep_alive is framing.keep_alive or framing.mode is BodyMode.CLOSE
    if status == 101:
        assert events[1:] == [PAUSED]
        return
    got = summary(events[1:])
    assert got[0] == (sent, [])
    if method == "CONNECT" and status < 300:
        assert got[1:] == [PAUSED]
    assert len(head.headers.get_all("content-length")) <= 1
    assert len(head.headers.get_all("date")) == 1


# -- 3. linear time -------------------------------------------------------------------------
class CountingBuffer(bytearray):
    """A reader buffer that adds up how many bytes its searches cover.

    A few searches of a few bytes per byte fed is linear (about 12 per byte
    for a head); rescanning the buffer would be thousands per byte here.
    """

    scanned = 0

    def find(self, sub: Any, start: Any = 0, end: Any = None) -> int:
        stop = len(self) if end is None else min(end, len(self))
        CountingBuffer.scanned += max(0, stop - (start or 0))
        return super().find(sub, start, stop)


def dribble(reader: Reader, data: bytes) -> list[Any]:
    reader._buf = CountingBuffer()
    CountingBuffer.scanned = 0
    events: list[Any] = []
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        while (event := reader.next_event()) is not NEED_DATA:
            events.append(event)
    assert type(reader._buf) is CountingBuffer
    return events


def test_head_fed_byte_by_byte_is_scanned_linearly() -> None:
    head = b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: a\r\n"
    head += b"".join(b"X-%d: %s\r\n" % (i, b"v" * 50) for i in range(3000)) + b"\r\n"
    reader = RequestReader(max_line=30_000, max_header_size=len(head), max_fields=5000)
    events = dribble(reader, head)
    assert isinstance(events[0], RequestHead) and len(events[0].headers) == 3001
    assert CountingBuffer.scanned < 20 * len(head), CountingBuffer.scanned


def test_chunked_body_fed_byte_by_byte_is_scanned_linearly() -> None:
    ext = b";e=" + b"x" * 4000
    body = b"".join(b"%x%s\r\n%s\r\n" % (n, ext, b"d" * n) for n in (1, 100, 1000, 1, 7))
    trailers = b"".join(b"T-%d: %s\r\n" % (i, b"t" * 50) for i in range(200))
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    data += body + b"0" + ext + b"\r\n" + trailers + b"\r\n"
    reader = RequestReader(max_fields=500, max_header_size=20_000)
    events = dribble(reader, data)
    assert isinstance(events[-1], EndOfMessage) and len(events[-1].trailers) == 200
    assert sum(len(e.data) for e in events if isinstance(e, Data)) == 1109
    assert CountingBuffer.scanned < 20 * len(data), CountingBuffer.scanned


def test_response_fed_byte_by_byte_is_scanned_linearly() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 40) for i in range(2000))
    data = head + b"Content-Length: 3\r\n\r\nabc"
    reader = ResponseReader(max_header_size=len(data), max_fields=3000)
    events = dribble(reader, data)
    assert [type(e) for e in events] == [ResponseHead, Data, Data, Data, EndOfMessage]
    assert CountingBuffer.scanned < 20 * len(data)


def test_a_megabyte_head_byte_by_byte_finishes_fast() -> None:
    field = b"X-Field: " + b"v" * 90 + b"\r\n"
    head = b"GET / HTTP/1.1\r\nHost: a\r\n" + field * 10_000 + b"\r\n"
    assert len(head) > 1_000_000
    reader = RequestReader(max_header_size=len(head), max_fields=20_000)
    feed, next_event = reader.feed, reader.next_event
    view = memoryview(head)
    started = time.monotonic()
    for i in range(len(head) - 1):
        feed(view[i : i + 1])
        assert next_event() is NEED_DATA
    feed(view[-1:])
    event = next_event()
    elapsed = time.monotonic() - started
    assert isinstance(event, RequestHead) and len(event.headers) == 10_001
    # A rescan of the buffer per byte would take hours; linear takes about a second.
    assert elapsed < 60, elapsed
