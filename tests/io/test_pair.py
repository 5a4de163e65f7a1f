"""Paired BufferEvents: libevent's bufferevent_pair* tests (regress_bufferevent.c)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.errors import BufferFrozenError
from evweb.io.bevflags import EOF, READING, TIMEOUT, WRITING, BevOption, Flush
from evweb.io.bufferevent import BufferEvent
from evweb.io.pair_bev import BufferEventPair, PairBufferEvent, pair
from evweb.libevent import (
    BEV_FINISHED,
    bufferevent_pair_get_partner,
    bufferevent_pair_new,
)
from evweb.reactor import NONBLOCK, ONCE, READ, WRITE, EventBase
from tests.helpers import spin

pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")


@pytest.fixture
def ends(base: EventBase) -> Iterator[BufferEventPair]:
    p = pair(base)
    yield p
    p.close()


def test_pair_moves_bytes_both_ways(base: EventBase, ends: BufferEventPair) -> None:
    a, b = ends
    assert a.partner is b and b.partner is a
    assert a.fileno() == -1 and a.underlying is None
    assert a.enabled == WRITE and b.enabled == WRITE
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    a.set_callbacks(read=lambda bev, arg: got_a.append(bev.read()))
    b.set_callbacks(read=lambda bev, arg: got_b.append(bev.read()))
    a.enable(READ)
    b.enable(READ)
    a.write(b"ping")
    assert got_b == [b"ping"]  # inline without DEFER_CALLBACKS
    b.write(b"pong")
    assert got_a == [b"pong"]
    assert not a.output and not b.output


def test_nothing_moves_until_the_partner_reads(base: EventBase, ends: BufferEventPair) -> None:
    a, b = ends
    a.write(b"queued")
    base.loop(NONBLOCK)
    assert bytes(a.output) == b"queued" and not b.input
    b.enable(READ)
    assert bytes(b.input) == b"queued" and not a.output


def test_nothing_moves_while_the_writer_has_write_disabled(
    base: EventBase, ends: BufferEventPair
) -> None:
    a, b = ends
    b.enable(READ)
    a.disable(WRITE)
    a.write(b"held")
    assert not b.input
    a.enable(WRITE)
    assert bytes(b.input) == b"held"


def test_input_and_output_ends_are_frozen(ends: BufferEventPair) -> None:
    a, _ = ends
    with pytest.raises(BufferFrozenError):
        a.input.add(b"x")
    with pytest.raises(BufferFrozenError):
        a.output.drain(1)


@pytest.mark.parametrize("mode", [None, Flush.NORMAL, Flush.FLUSH, Flush.FINISHED])
def test_pair_flush_modes(base: EventBase, ends: BufferEventPair, mode: Flush | None) -> None:
    """bufferevent_pair and bufferevent_pair_flush_{normal,flush,finished}."""
    a, b = ends
    data = bytes(i & 0xFF for i in range(8333))
    received: list[bytes] = []
    drained: list[int] = []
    events: list[int] = []

    def readcb(bev: BufferEvent, arg: Any) -> None:
        if len(bev.input) == len(data):
            received.append(bev.read())
            bev.disable(READ)

    def writecb(bev: BufferEvent, arg: Any) -> None:
        drained.append(len(bev.output))

    a.set_callbacks(read=readcb, write=writecb, event=lambda bev, w, arg: events.append(w))
    b.set_callbacks(read=readcb, write=writecb, event=lambda bev, w, arg: events.append(w))
    a.disable(READ)
    b.enable(READ)
    assert b.enabled == READ | WRITE
    b.disable(READ)  # hold the bytes back so that only flush can move them
    a.write(data)
    if mode is not None:
        assert a.flush(WRITE, mode) == 0
        if mode == Flush.NORMAL:
            assert not b.input
    b.enable(READ)
    spin(base, lambda: received and drained)
    base.loop(NONBLOCK)
    assert received == [data]
    assert drained == [0]
    assert events == ([READING | EOF] if mode == Flush.FINISHED else [])


def test_flush_finished_without_data_reports_eof(base: EventBase, ends: BufferEventPair) -> None:
    """bufferevent_pair_flush: FINISHED reaches the partner's event callback."""
    a, b = ends
    b.enable(READ)
    seen: list[int] = []
    b.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    a.flush(WRITE, Flush.FINISHED)
    base.loop(ONCE | NONBLOCK)
    assert seen == [READING | EOF]
    a.flush(READ, Flush.FINISHED)
    assert seen[-1] == WRITING | EOF


def test_flush_ignores_the_read_high_watermark(ends: BufferEventPair) -> None:
    a, b = ends
    b.set_watermark(READ, 0, 10)
    b.enable(READ)
    a.write(b"x" * 100)
    assert len(b.input) == 10
    a.flush(WRITE, Flush.FLUSH)
    assert len(b.input) == 100 and not a.output


def test_pair_watermarks(base: EventBase, ends: BufferEventPair) -> None:
    """bufferevent_pair_watermarks: reads arrive 10..20 bytes at a time, writecb at <= 100."""
    a, b = ends
    data = bytes(i & 0xFF for i in range(65000))
    got = bytearray()
    write_lengths: list[int] = []

    def readcb(bev: BufferEvent, arg: Any) -> None:
        n = len(bev.input)
        assert 10 <= n <= 20
        got.extend(bev.read())
        if len(got) == len(data):
            bev.disable(READ)

    def writecb(bev: BufferEvent, arg: Any) -> None:
        assert len(bev.output) <= 100
        write_lengths.append(len(bev.output))

    a.set_callbacks(write=writecb)
    b.set_callbacks(read=readcb)
    a.disable(READ)
    b.enable(READ)
    assert a.get_watermark(READ) == (0, 0) and b.get_watermark(WRITE) == (0, 0)
    b.set_watermark(READ, 10, 20)
    a.set_watermark(WRITE, 100, 2000)
    assert b.get_watermark(READ) == (10, 20)
    assert a.get_watermark(WRITE) == (100, 2000)
    a.write(data)
    spin(base, lambda: len(got) == len(data), limit=20000)
    assert bytes(got) == data
    assert write_lengths[-1] == 0


def test_back_pressure_stops_at_high_watermark_and_resumes(ends: BufferEventPair) -> None:
    a, b = ends
    b.set_watermark(READ, 0, 100)
    b.enable(READ)
    a.write(b"y" * 1000)
    assert len(b.input) == 100 and len(a.output) == 900
    a.write(b"z")  # more data does not push past the watermark
    assert len(b.input) == 100
    b.read(30)  # drained below the mark: the move resumes up to the mark again
    assert len(b.input) == 100 and len(a.output) == 871
    total = 30
    for _ in range(20):
        if not b.input:
            break
        total += len(b.read())
    assert total == 1001 and not a.output


def test_closing_one_end_reports_eof_to_the_other(base: EventBase) -> None:
    a, b = pair(base)
    seen: list[int] = []
    b.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    a.close()
    assert seen == [READING | EOF]
    assert a.partner is None and b.partner is None
    assert b.flush(WRITE, Flush.FLUSH) == -1
    b.write(b"into the void")  # no partner: stays put, no error
    b.close()


def test_closing_inside_a_callback_is_safe(base: EventBase) -> None:
    a, b = pair(base)
    seen: list[tuple[str, int]] = []

    def readcb(bev: BufferEvent, arg: Any) -> None:
        seen.append(("read", len(bev.read())))
        bev.close()

    b.set_callbacks(read=readcb)
    a.set_callbacks(event=lambda bev, what, arg: seen.append(("event", what)))
    b.enable(READ)
    a.write(b"bye")
    base.loop(NONBLOCK)
    assert seen == [("read", 3), ("event", READING | EOF)]
    a.close()


def test_deferred_callbacks_run_from_the_loop(base: EventBase) -> None:
    a, b = pair(base, BevOption.DEFER_CALLBACKS)
    calls: list[str] = []
    b.set_callbacks(read=lambda bev, arg: calls.append("read"))
    a.set_callbacks(write=lambda bev, arg: calls.append("write"))
    b.enable(READ)
    a.write(b"later")
    assert calls == [] and bytes(b.input) == b"later"  # the bytes move now, callbacks later
    spin(base, lambda: len(calls) == 2)
    assert sorted(calls) == ["read", "write"]
    a.close()
    base.loop(NONBLOCK)
    b.close()


@pytest.mark.parametrize("options", [BevOption.NONE, BevOption.DEFER_CALLBACKS])
def test_echo_between_the_ends_does_not_recurse(base: EventBase, options: BevOption) -> None:
    a, b = pair(base, options)
    rounds = 3000
    count = [0]
    depths: list[int] = []

    def echo(bev: BufferEvent, arg: Any) -> None:
        depths.append(len(traceback.extract_stack()))
        data = bev.read()
        count[0] += 1
        if count[0] < rounds:
            bev.write(data)

    a.set_callbacks(read=echo)
    b.set_callbacks(read=echo)
    a.enable(READ)
    b.enable(READ)
    a.write(b"ball")
    spin(base, lambda: count[0] >= rounds, limit=rounds * 2)
    assert max(depths) - min(depths) < 30  # the stack stays flat
    a.close()
    b.close()


def test_read_timeout_disables_reading_and_reports(base: EventBase, ends: BufferEventPair) -> None:
    a, b = ends
    seen: list[int] = []
    b.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    b.set_timeouts(0.02, None)
    b.enable(READ)
    spin(base, lambda: seen, seconds=2)
    assert seen == [READING | TIMEOUT]
    assert not b.enabled & READ
    b.enable(READ)  # re-enabling restarts the timeout; data keeps it quiet
    a.write(b"x")
    assert bytes(b.input) == b"x"


def test_write_timeout_runs_only_while_output_is_waiting(
    base: EventBase, ends: BufferEventPair
) -> None:
    a, _ = ends
    seen: list[int] = []
    a.set_callbacks(event=lambda bev, what, arg: seen.append(what))
    a.set_timeouts(None, 0.02)
    time.sleep(0.03)
    base.loop(NONBLOCK)
    assert seen == []  # nothing to write, no timeout
    a.write(b"stuck")  # the partner does not read
    spin(base, lambda: seen, seconds=2)
    assert seen == [WRITING | TIMEOUT]
    assert not a.enabled & WRITE


def test_libevent_pair_functions(base: EventBase) -> None:
    made = bufferevent_pair_new(base, 0)
    assert made is not None
    a, b = made
    assert isinstance(a, PairBufferEvent)
    assert bufferevent_pair_get_partner(a) is b
    assert bufferevent_pair_get_partner(b) is a
    b.enable(READ)
    a.write(b"c-shaped")
    assert a.flush(WRITE, Flush(BEV_FINISHED)) == 0
    b.close()
    assert bufferevent_pair_get_partner(a) is None
    a.close()
