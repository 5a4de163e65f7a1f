"""Filter BufferEvents: libevent's bufferevent[_pair]_filters*, filter_data_stuck and zlib tests."""

from __future__ import annotations

import os
import random
import socket
import traceback
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.io.bevflags import CONNECTED, EOF, ERROR, READING, TIMEOUT, WRITING, BevOption, Flush
from evweb.io.buffer import Buffer
from evweb.io.bufferevent import BufferEvent
from evweb.io.filter import FilterBufferEvent, FilterError, FilterResult
from evweb.io.pair_bev import pair as make_pair
from evweb.io.socket_bev import SocketBufferEvent
from evweb.io.zlib_filter import zlib_filters
from evweb.libevent import BEV_ERROR, BEV_OK, bufferevent_filter_new
from evweb.reactor import NONBLOCK, ONCE, READ, WRITE, EventBase
from tests.helpers import spin

Pair = tuple[socket.socket, socket.socket]
Ends = tuple[BufferEvent, BufferEvent]


pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")


@pytest.fixture(params=["pair", "socket"])
def ends(request: pytest.FixtureRequest, base: EventBase, pair: Pair) -> Iterator[Ends]:
    """Two connected BufferEvents: a pair, or SocketBufferEvents over a socketpair."""
    first: BufferEvent
    second: BufferEvent
    if request.param == "pair":
        first, second = make_pair(base)
    else:
        first, second = SocketBufferEvent(base, pair[0]), SocketBufferEvent(base, pair[1])
    yield first, second
    first.close()
    second.close()


# --- filters used below ---------------------------------------------------------------


def add_x(src: Buffer, dst: Buffer, limit: int, mode: Flush) -> FilterResult:
    """libevent's output filter: an 'x' before each byte."""
    data = src.remove(len(src))
    dst.add(b"".join(b"x" + data[i : i + 1] for i in range(len(data))))
    return FilterResult.OK


def strip_x(src: Buffer, dst: Buffer, limit: int, mode: Flush) -> FilterResult:
    """libevent's input filter: drop the byte before each byte ('x', or '-' with what follows)."""
    n = len(src) - len(src) % 2
    data = src.remove(n)
    for i in range(0, n, 2):
        if data[i : i + 1] == b"-":
            continue
        assert data[i : i + 1] == b"x"
        dst.add(data[i + 1 : i + 2])
    return FilterResult.OK


def upper(src: Buffer, dst: Buffer, limit: int, mode: Flush) -> FilterResult:
    n = len(src) if limit < 0 else min(limit, len(src))
    dst.add(src.remove(n).upper())
    return FilterResult.OK


def whole_lines(src: Buffer, dst: Buffer, limit: int, mode: Flush) -> FilterResult:
    """Pass only complete lines; a partial line waits for more input."""
    end = src.search(b"\n")
    if end < 0:
        return FilterResult.NEED_MORE
    while end >= 0:
        dst.add(src.remove(end + 1))
        end = src.search(b"\n")
    return FilterResult.OK


# --- pass-through and transforming ------------------------------------------------------


def test_none_filters_pass_bytes_through_both_ways(base: EventBase, ends: Ends) -> None:
    a, b = ends
    f = FilterBufferEvent(a)
    assert f.underlying is a
    assert f.fileno() == (a.fileno() if isinstance(a, SocketBufferEvent) else -1)
    got_b = bytearray()
    got_f = bytearray()
    b.set_callbacks(read=lambda bev, arg: got_b.extend(bev.read()))
    f.set_callbacks(read=lambda bev, arg: got_f.extend(bev.read()))
    b.enable(READ)
    f.enable(READ)
    f.write(b"down")
    b.write(b"up")
    spin(base, lambda: got_b == b"down" and got_f == b"up")
    f.close()


@pytest.mark.parametrize("write_inside_filter", [False, True])
def test_libevent_filters(base: EventBase, ends: Ends, write_inside_filter: bool) -> None:
    """bufferevent[_pair]_filters[_disable]: 'x'-stuffing out, stripping in, 8333 bytes.

    With ``write_inside_filter`` the output filter writes to its own
    BufferEvent while running, which must not call the filter again inside.
    """
    a, b = ends
    data = bytes(i & 0xFF for i in range(8333))
    calls: list[int] = []
    holder: list[FilterBufferEvent] = []

    def out_filter(src: Buffer, dst: Buffer, limit: int, mode: Flush) -> FilterResult:
        calls.append(len(src))
        depth = len(calls)
        add_x(src, dst, limit, mode)
        if write_inside_filter and depth == 1:
            holder[0].write(b"-")  # becomes "-" + next byte... see strip_x
            assert len(calls) == depth  # not re-entered
        return FilterResult.OK

    sender = FilterBufferEvent(a, None, out_filter, BevOption.CLOSE_ON_FREE)
    holder.append(sender)
    receiver = FilterBufferEvent(b, strip_x, None, BevOption.CLOSE_ON_FREE)
    received = bytearray()
    drained: list[int] = []
    sender.set_callbacks(write=lambda bev, arg: drained.append(len(bev.output)))
    receiver.set_callbacks(read=lambda bev, arg: received.extend(bev.read()))
    sender.disable(READ)
    receiver.enable(READ)
    sender.write(data)
    spin(base, lambda: len(received) >= len(data))
    # the inner "-" went through the filter as "x-": one extra byte
    assert bytes(received) == data + (b"-" if write_inside_filter else b"")
    assert drained and drained[-1] == 0
    sender.close()
    receiver.close()
    assert a.closed and b.closed


def test_transforming_filter_upper_cases(base: EventBase, ends: Ends) -> None:
    a, b = ends
    f = FilterBufferEvent(b, upper, None)
    got = bytearray()
    f.set_callbacks(read=lambda bev, arg: got.extend(bev.read()))
    f.enable(READ)
    a.write(b"hello, ")
    a.write(b"world")
    spin(base, lambda: len(got) == 12)
    assert bytes(got) == b"HELLO, WORLD"
    f.close()


def test_need_more_keeps_partial_input_buffered(base: EventBase, ends: Ends) -> None:
    a, b = ends
    f = FilterBufferEvent(b, whole_lines, None)
    lines: list[bytes] = []
    f.set_callbacks(read=lambda bev, arg: lines.append(bev.read()))
    f.enable(READ)
    a.write(b"hel")
    spin(base, lambda: b.input)
    base.loop(NONBLOCK)
    assert lines == [] and bytes(b.input) == b"hel"
    a.write(b"lo\nwor")
    spin(base, lambda: lines)
    assert lines == [b"hello\n"]
    a.write(b"ld\n")
    spin(base, lambda: len(lines) == 2)
    assert lines[1] == b"world\n"
    f.close()


# --- errors -------------------------------------------------------------------------


def test_input_filter_returning_error_is_reported(base: EventBase, ends: Ends) -> None:
    a, b = ends

    def refuse(src: Buffer, dst: Buffer, limit: int, mode: Flush) -> FilterResult:
        return FilterResult.ERROR

    f = FilterBufferEvent(b, refuse, None)
    seen: list[int] = []
    f.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    f.enable(READ)
    a.write(b"bad")
    spin(base, lambda: seen)
    assert seen == [READING | ERROR]
    assert isinstance(f.error, FilterError) and f.error.direction == READING
    assert not f.enabled & READ
    f.close()


def test_output_filter_raising_is_reported(base: EventBase, ends: Ends) -> None:
    a, _ = ends
    boom = RuntimeError("boom")

    def explode(src: Buffer, dst: Buffer, limit: int, mode: Flush) -> FilterResult:
        raise boom

    f = FilterBufferEvent(a, None, explode)
    seen: list[int] = []
    f.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    f.write(b"payload")
    assert seen == [WRITING | ERROR]
    assert f.error is boom
    assert not f.enabled & WRITE
    f.close()


def test_corrupt_zlib_input_is_a_read_error(base: EventBase, ends: Ends) -> None:
    a, b = ends
    inflate, _ = zlib_filters()
    f = FilterBufferEvent(b, inflate, None)
    seen: list[int] = []
    f.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    f.enable(READ)
    a.write(b"this is not a zlib stream at all")
    spin(base, lambda: seen)
    assert seen == [READING | ERROR] and isinstance(f.error, zlib.error)
    f.close()


# --- enabling, watermarks, events ----------------------------------------------------------


def test_disabling_read_stops_data(base: EventBase, ends: Ends) -> None:
    a, b = ends
    f = FilterBufferEvent(b, upper, None)
    got = bytearray()
    f.set_callbacks(read=lambda bev, arg: got.extend(bev.read()))
    assert not b.enabled & READ  # the filter is not reading yet, nor is its underlying
    a.write(b"wait")
    for _ in range(5):
        base.loop(ONCE | NONBLOCK)
    assert not got
    f.enable(READ)
    assert b.enabled & READ
    spin(base, lambda: got)
    assert bytes(got) == b"WAIT"
    f.disable(READ)
    assert not b.enabled & READ
    f.close()


def test_input_respects_this_read_high_watermark(base: EventBase) -> None:
    a, b = make_pair(base)
    f = FilterBufferEvent(b, upper, None)
    f.set_watermark(READ, 0, 100)
    f.enable(READ)
    sizes: list[int] = []
    total = [0]

    def readcb(bev: BufferEvent, arg: Any) -> None:
        sizes.append(len(bev.input))
        total[0] += len(bev.read())

    a.write(b"q" * 1000)
    assert len(f.input) == 100  # filtered up to the mark, the rest waits below
    f.set_callbacks(read=readcb)
    f.read(50)
    spin(base, lambda: total[0] + 50 == 1000)
    assert max(sizes) <= 100
    f.close()
    a.close()
    b.close()


def test_output_respects_the_underlying_write_high_watermark(base: EventBase) -> None:
    a, b = make_pair(base)
    a.set_watermark(WRITE, 0, 100)
    f = FilterBufferEvent(a, None, upper)
    f.write(b"w" * 1000)  # b does not read: a's output fills to its high mark only
    assert len(a.output) == 100 and len(f.output) == 900
    got = bytearray()
    b.set_callbacks(read=lambda bev, arg: got.extend(bev.read()))
    b.enable(READ)
    spin(base, lambda: len(got) == 1000)
    assert bytes(got) == b"W" * 1000
    f.close()
    a.close()
    b.close()


def test_filter_data_stuck(base: EventBase) -> None:
    """bufferevent_filter_data_stuck: a header-adding filter at the watermark does not stall."""
    high = 4096
    header = 20
    options = BevOption.CLOSE_ON_FREE | BevOption.DEFER_CALLBACKS
    a, b = make_pair(base, options)
    a.set_watermark(READ, 0, high)
    b.set_watermark(READ, 0, high)
    inserted = [False]

    def add_header(src: Buffer, dst: Buffer, limit: int, mode: Flush) -> FilterResult:
        n = 0
        if not inserted[0]:
            dst.add(bytes(header))
            inserted[0] = True
            n = header
        src.remove_buffer(dst, len(src) if limit < 0 else max(0, min(len(src), limit - n)))
        return FilterResult.OK

    f = FilterBufferEvent(b, add_header, None, options)
    total = [0]
    f.set_callbacks(read=lambda bev, arg: total.__setitem__(0, total[0] + len(bev.read())))
    f.enable(READ | WRITE)
    f.set_watermark(READ, 0, high)
    a.write(bytes(4096))
    spin(base, lambda: total[0] == 4096 + header)
    f.close()
    a.close()


def test_underlying_events_pass_through(base: EventBase, pair: Pair) -> None:
    a, b = pair
    under = SocketBufferEvent(base, a)
    f = FilterBufferEvent(under, upper, None)
    seen: list[int] = []
    f.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    f.set_timeouts(0.02, None)
    assert under.read_timeout == 0.02
    f.enable(READ)
    spin(base, lambda: seen)
    assert seen == [READING | TIMEOUT]
    assert not f.enabled & READ and not under.enabled & READ
    f.enable(READ)
    f.set_timeouts(None, None)
    b.sendall(b"last words")
    b.shutdown(socket.SHUT_WR)
    got = bytearray()
    f.set_callbacks(
        read=lambda bev, arg: got.extend(bev.read()),
        event=lambda bev, what, arg: seen.append(what),
    )
    spin(base, lambda: len(seen) == 2)
    assert seen[1] == READING | EOF and bytes(got) == b"LAST WORDS"
    f.close()
    under.close()


def test_connected_passes_through(base: EventBase) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    under = SocketBufferEvent(base)
    f = FilterBufferEvent(under, None, None, BevOption.CLOSE_ON_FREE)
    seen: list[int] = []
    f.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    under.connect(listener.getsockname())
    spin(base, lambda: seen)
    assert seen == [CONNECTED]
    f.close()
    assert under.closed and under.socket is None
    listener.close()


def test_close_without_close_on_free_detaches(base: EventBase) -> None:
    a, b = make_pair(base)
    cleaned: list[str] = []
    f = FilterBufferEvent(a, None, None, cleanup=lambda: cleaned.append("done"))
    f.close()
    f.close()
    assert cleaned == ["done"]
    assert not a.closed and a.get_callbacks() == (None, None, None, None)
    a.close()
    b.close()


def test_deferred_callbacks_on_the_filter(base: EventBase) -> None:
    a, b = make_pair(base)
    f = FilterBufferEvent(b, upper, None, BevOption.DEFER_CALLBACKS)
    got: list[bytes] = []
    f.set_callbacks(read=lambda bev, arg: got.append(bev.read()))
    f.enable(READ)
    a.write(b"soon")
    assert got == [] and bytes(f.input) == b"SOON"
    spin(base, lambda: got)
    assert got == [b"SOON"]
    f.close()
    a.close()
    b.close()


def test_echo_through_filters_over_a_pair_does_not_recurse(base: EventBase) -> None:
    a, b = make_pair(base)
    fa = FilterBufferEvent(a, upper, None)
    fb = FilterBufferEvent(b, None, upper)
    rounds = 1000
    count = [0]
    depths: list[int] = []

    def echo(bev: BufferEvent, arg: Any) -> None:
        depths.append(len(traceback.extract_stack()))
        data = bev.read()
        count[0] += 1
        if count[0] < rounds:
            bev.write(data.lower())

    fa.set_callbacks(read=echo)
    fb.set_callbacks(read=echo)
    fa.enable(READ)
    fb.enable(READ)
    fa.write(b"ball")
    spin(base, lambda: count[0] >= rounds, limit=rounds * 2)
    assert max(depths) - min(depths) < 60
    fa.close()
    fb.close()
    a.close()
    b.close()


# --- zlib -------------------------------------------------------------------------------


def _payload(size: int) -> bytes:
    rng = random.Random(1234)
    words = [bytes(rng.randrange(97, 123) for _ in range(rng.randrange(2, 9))) for _ in range(300)]
    text = b" ".join(rng.choice(words) for _ in range(size // 5))
    return (os.urandom(size // 2) + text)[:size]


@pytest.mark.parametrize("mode", [Flush.FLUSH, Flush.FINISHED])
def test_zlib_round_trip(base: EventBase, ends: Ends, mode: Flush) -> None:
    """bufferevent_zlib: compress on one side, decompress on the other, over a pair or socket."""
    a, b = ends
    data = _payload(1 << 20)
    inflate, _ = zlib_filters()
    _, deflate = zlib_filters(6)
    sender = FilterBufferEvent(a, None, deflate)
    receiver = FilterBufferEvent(b, inflate, None)
    got = bytearray()
    events: list[int] = []
    drained: list[int] = []
    sender.set_callbacks(write=lambda bev, arg: drained.append(len(bev.output)))
    receiver.set_callbacks(
        read=lambda bev, arg: got.extend(bev.read()),
        event=lambda bev, what, arg: events.append(what),
    )
    sender.disable(READ)
    receiver.enable(READ)
    sender.write(data[:1800])
    sender.write(data[1800:])
    assert sender.flush(WRITE, mode) == 1
    spin(base, lambda: len(got) >= len(data))
    assert bytes(got) == data
    assert drained and drained[-1] == 0
    # over a pair FINISHED also ends the stream with EOF; a socket flush sends nothing extra
    expected = [READING | EOF] if mode == Flush.FINISHED and sender.fileno() == -1 else []
    if expected:
        spin(base, lambda: events)
    assert events == expected
    sender.close()
    receiver.close()


def test_zlib_stream_in_several_flushed_pieces(base: EventBase, ends: Ends) -> None:
    a, b = ends
    inflate, _ = zlib_filters()
    _, deflate = zlib_filters()
    sender = FilterBufferEvent(a, None, deflate)
    receiver = FilterBufferEvent(b, inflate, None)
    got = bytearray()
    receiver.set_callbacks(read=lambda bev, arg: got.extend(bev.read()))
    receiver.enable(READ)
    expected = bytearray()
    for i in range(5):
        piece = _payload(5000 + i)
        expected += piece
        sender.write(piece)
        sender.flush(WRITE, Flush.FLUSH)  # a sync point: everything so far is decodable
        spin(base, lambda: len(got) == len(expected))  # noqa: B023 (used at once)
        assert got == expected
    sender.close()
    receiver.close()


# --- libevent's C shape ------------------------------------------------------------------


def test_libevent_filter_new_with_context(base: EventBase) -> None:
    a, b = make_pair(base)
    freed: list[object] = []
    ctx = {"calls": 0}

    def out_filter(src: Buffer, dst: Buffer, limit: int, mode: int, c: Any) -> int:
        c["calls"] += 1
        if c["calls"] > 1:
            return BEV_ERROR
        dst.add(src.remove(len(src))[::-1])
        return BEV_OK

    assert bufferevent_filter_new(None, None, None, 0, None, None) is None
    f = bufferevent_filter_new(a, None, out_filter, 0, freed.append, ctx)
    assert f is not None
    seen: list[int] = []
    f.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    b.enable(READ)
    f.write(b"abc")
    assert bytes(b.input) == b"cba"
    f.write(b"again")
    assert seen == [WRITING | ERROR]
    f.close()
    assert freed == [ctx]
    a.close()
    b.close()
