"""Buffer behaviour, after libevent's test/regress_buffer.c (evbuffer/ group)."""

from __future__ import annotations

import socket
import sys

import pytest

from evweb.errors import (
    BufferArgumentError,
    BufferCommitError,
    BufferFrozenError,
    BufferPositionError,
    BufferReferenceError,
    BufferTooShortError,
    EvwebBufferError,
    UnknownCallbackError,
)
from evweb.io import EOL, Buffer, CallbackInfo
from evweb.reactor import EventBase


def segments(buf: Buffer) -> list[bytes]:
    return [bytes(v) for v in buf.peek()]


# -- add / remove / drain -----------------------------------------------------


def test_add_remove_drain() -> None:
    buf = Buffer()
    assert len(buf) == 0
    buf.add(b"hello")
    buf.add(bytearray(b" "))
    buf.add(memoryview(b"world"))
    assert len(buf) == 11
    assert segments(buf) == [b"hello world"]  # small adds coalesce
    assert buf.remove(6) == b"hello "
    buf.drain(2)
    assert bytes(buf) == b"rld"
    buf.drain(100)  # more than held drains all
    assert len(buf) == 0
    assert buf.remove(5) == b""


def test_large_add_is_one_segment() -> None:
    buf = Buffer()
    data = bytes(range(256)) * 40
    buf.add(b"x")
    buf.add(data)
    assert bytes(buf) == b"x" + data
    assert buf.remove(len(data) + 1) == b"x" + data


def test_negative_counts_are_typed_errors() -> None:
    buf = Buffer(b"abc")
    for call in (
        lambda: buf.drain(-1),
        lambda: buf.remove(-1),
        lambda: buf.copyout(-1),
        lambda: buf.reserve(-1),
        lambda: buf.expand(-1),
    ):
        with pytest.raises(BufferArgumentError):
            call()


def test_remove_into() -> None:
    buf = Buffer(b"abc")
    buf.add_reference(b"defgh")
    out = bytearray(6)
    assert buf.remove_into(out) == 6
    assert out == b"abcdef"
    assert bytes(buf) == b"gh"


def test_remove_buffer_with_empty_and_partial_segments() -> None:
    src, dst = Buffer(), Buffer()
    src.reserve(100)  # a reservation leaves no empty segment behind
    src.add(b"first")
    src.add_reference(b"second")
    src.add_reference(b"third")
    assert src.remove_buffer(dst, 8) == 8
    assert bytes(dst) == b"firstsec"
    assert bytes(src) == b"ondthird"
    assert src.remove_buffer(dst, 100) == 8
    assert bytes(dst) == b"firstsecondthird"
    assert len(src) == 0
    assert src.remove_buffer(dst, 5) == 0
    with pytest.raises(BufferArgumentError):
        src.remove_buffer(src, 1)


def test_add_buffer_and_prepend_buffer_move_segments() -> None:
    a, b = Buffer(b"123"), Buffer()
    b.add_reference(b"456")
    b.add(b"789")
    a.add_buffer(b)
    assert bytes(a) == b"123456789" and len(b) == 0
    a.add_buffer(b)  # empty source: nothing happens
    a.add_buffer(a)  # itself: nothing happens, as libevent
    c = Buffer(b"abc")
    a.prepend_buffer(c)
    assert bytes(a) == b"abc123456789" and len(c) == 0


def test_prepend() -> None:
    buf = Buffer()
    buf.prepend(b"world")
    buf.prepend(b"hello ")
    buf.add(b"!")
    assert bytes(buf) == b"hello world!"
    buf.drain(3)
    buf.prepend(b"J")
    assert buf.readln(EOL.NUL) is None
    assert bytes(buf) == b"Jlo world!"


def test_empty_reference_then_prepend() -> None:
    calls: list[int] = []
    buf = Buffer()
    buf.add_reference(b"", lambda: calls.append(1))
    assert calls == [1]  # nothing to drain: cleaned up at once
    buf.prepend(b"foo")
    assert bytes(buf) == b"foo"
    other = Buffer()
    other.add_reference(b"")
    other.prepend_buffer(buf)
    assert bytes(other) == b"foo"


def test_copyout_across_segments() -> None:
    buf = Buffer(b"abc")
    buf.add_reference(b"defg")
    buf.add_reference(b"hij")
    assert buf.copyout(5) == b"abcde"
    assert buf.copyout(4, start=2) == b"cdef"
    assert buf.copyout(100, start=8) == b"ij"
    assert buf.copyout(3, start=10) == b""
    assert len(buf) == 10
    with pytest.raises(BufferPositionError) as info:
        buf.copyout(1, start=11)
    assert info.value.position == 11 and info.value.length == 10


def test_pullup_merges_and_checks_length() -> None:
    buf = Buffer(b"ab")
    buf.add_reference(b"cd")
    buf.add_reference(b"ef")
    assert bytes(buf.pullup(1)) == b"a"
    assert bytes(buf.pullup(3)) == b"abc"
    assert len(buf.peek()) == 2  # "abcd" merged, "ef" untouched
    assert bytes(buf.pullup()) == b"abcdef"
    assert bytes(buf.pullup(0)) == b""
    with pytest.raises(BufferTooShortError) as info:
        buf.pullup(7)
    assert (info.value.wanted, info.value.available) == (7, 6)


def test_peek_whole_segments() -> None:
    buf = Buffer(b"x" * 10)
    buf.add_reference(b"y" * 10)
    buf.add_reference(b"z" * 10)
    assert buf.peek(0) == []
    views = buf.peek(5)  # first segment longer than asked: returned whole
    assert [bytes(v) for v in views] == [b"x" * 10]
    assert len(buf.peek(11)) == 2
    assert len(buf.peek()) == 3
    assert [bytes(v) for v in buf.peek(5, start=15)] == [b"y" * 5]
    assert [bytes(v) for v in buf.peek(start=25)] == [b"z" * 5]
    with pytest.raises(BufferPositionError):
        buf.peek(start=31)


# -- reserve / commit / expand ------------------------------------------------


def test_reserve_commit() -> None:
    buf = Buffer(b"head")
    space = buf.reserve(10)
    assert len(space) >= 10
    again = buf.reserve(10)  # same space
    assert again.obj is space.obj and len(again) == len(space)
    space[:5] = b"12345"
    buf.commit(3)  # less than reserved
    assert bytes(buf) == b"head123"
    with pytest.raises(BufferCommitError):
        buf.commit(1)  # nothing reserved anymore
    view = buf.reserve(4)
    view[:4] = b"WXYZ"
    buf.commit(view[:2])
    assert bytes(buf) == b"head123WX"


def test_commit_fails_after_change_or_overcommit() -> None:
    buf = Buffer()
    space = buf.reserve(8)
    buf.add(b"x")
    with pytest.raises(BufferCommitError):
        buf.commit(1)
    space = buf.reserve(8)
    with pytest.raises(BufferCommitError):
        buf.commit(len(space) + 1)
    with pytest.raises(BufferCommitError):
        buf.commit(memoryview(bytearray(2)))
    buf.commit(0)
    assert bytes(buf) == b"x"


def test_reserve_large_then_small() -> None:
    buf = Buffer()
    big = buf.reserve(100_000)
    big[:100_000] = b"a" * 100_000
    buf.commit(100_000)
    small = buf.reserve(10)
    small[:2] = b"bc"
    buf.commit(2)
    assert len(buf) == 100_002 and buf.copyout(3, 99_999) == b"abc"


def test_expand() -> None:
    buf = Buffer(b"abc")
    buf.expand(10_000)
    space = buf.reserve(10_000)
    assert len(space) >= 10_000
    with pytest.raises(BufferArgumentError):
        buf.expand(sys.maxsize)  # fails cleanly, as libevent's expand_overflow
    buf.add(b"d")
    assert bytes(buf) == b"abcd"


# -- references and multicast -------------------------------------------------


def test_reference_cleanup_runs_once() -> None:
    calls: list[str] = []
    buf = Buffer()
    buf.add_reference(b"abcdef", lambda: calls.append("a"))
    buf.add_reference(memoryview(b"ghi"), lambda: calls.append("g"))
    buf.drain(5)
    assert calls == []
    buf.drain(1)
    assert calls == ["a"]
    buf.add(b"tail")
    buf.free()
    assert calls == ["a", "g"]
    buf.free()
    assert calls == ["a", "g"]


def test_reference_moved_then_drained() -> None:
    calls: list[int] = []
    src, dst = Buffer(), Buffer()
    src.add_reference(b"xyz", lambda: calls.append(1))
    dst.add_buffer(src)
    src.free()
    assert calls == []
    assert dst.remove(3) == b"xyz"
    assert calls == [1]


def test_pullup_runs_reference_cleanup() -> None:
    calls: list[int] = []
    buf = Buffer(b"a")
    buf.add_reference(b"bc", lambda: calls.append(1))
    assert bytes(buf.pullup()) == b"abc"
    assert calls == [1]


def test_multicast() -> None:
    calls: list[int] = []
    src = Buffer(b"hello ")
    src.add_reference(b"world", lambda: calls.append(1))
    outs = [Buffer() for _ in range(3)]
    for out in outs:
        out.add_buffer_reference(src)
    src.add(b"!")  # later adds to the source are not seen
    assert bytes(src) == b"hello world!"
    for out in outs:
        assert bytes(out) == b"hello world"
    src.drain(len(src))
    outs[0].drain(100)
    outs[1].free()
    assert calls == []
    assert outs[2].remove(11) == b"hello world"
    assert calls == [1]


def test_multicast_refusals() -> None:
    src, mid, dst = Buffer(b"abc"), Buffer(), Buffer()
    mid.add_buffer_reference(src)
    with pytest.raises(BufferReferenceError):
        dst.add_buffer_reference(mid)  # a reference to a reference
    with pytest.raises(BufferReferenceError):
        src.add_buffer_reference(src)


def test_multicast_then_modify_tail() -> None:
    src, dst = Buffer(b"abc"), Buffer()
    dst.add_buffer_reference(src)
    dst.add(b"def")  # dst's view is read-only; this goes to a new chunk
    src.add(b"XYZ")
    assert bytes(dst) == b"abcdef"
    assert bytes(src) == b"abcXYZ"


# -- readln ---------------------------------------------------------------------


def test_readln_any() -> None:
    buf = Buffer(b"complex silly newline\r\n\n\r\n\n\rmore\0\n")
    assert buf.readln(EOL.ANY) == b"complex silly newline"
    assert buf.readln(EOL.ANY) == b"more\0"  # embedded NUL kept
    assert buf.readln(EOL.ANY) is None
    assert len(buf) == 0
    buf.add(b"lone\rcr")
    assert buf.readln(EOL.ANY) == b"lone"
    assert buf.readln(EOL.ANY) is None  # partial line stays
    assert bytes(buf) == b"cr"


def test_readln_crlf() -> None:
    buf = Buffer(b"line with\rcr\r\nbare lf\n\nlast")
    assert buf.readln(EOL.CRLF) == b"line with\rcr"
    assert buf.readln(EOL.CRLF) == b"bare lf"
    assert buf.readln(EOL.CRLF) == b""
    assert buf.readln(EOL.CRLF) is None
    assert bytes(buf) == b"last"
    buf.add(b"\r")
    assert buf.readln(EOL.CRLF) is None
    buf.add(b"\n")
    assert buf.readln(EOL.CRLF) == b"last"


def test_readln_crlf_strict() -> None:
    buf = Buffer(b"one\ntwo\r\nthree\r")
    assert buf.readln(EOL.CRLF_STRICT) == b"one\ntwo"
    assert buf.readln(EOL.CRLF_STRICT) is None
    buf.add(b"\n")
    assert buf.readln(EOL.CRLF_STRICT) == b"three"


def test_readln_lf_and_nul() -> None:
    buf = Buffer(b"a\r\nb\n\0c\0")
    assert buf.readln(EOL.LF) == b"a\r"
    assert buf.readln(EOL.LF) == b"b"
    assert buf.readln(EOL.NUL) == b""
    assert buf.readln(EOL.NUL) == b"c"
    assert buf.readln(EOL.NUL) is None


def test_readln_eol_split_across_segments() -> None:
    buf = Buffer(b"first\r")
    buf.add_reference(b"\nsecond\r")
    buf.add_reference(b"\r\n\r")
    buf.add_reference(b"\nthird")
    assert buf.readln(EOL.CRLF_STRICT) == b"first"
    assert buf.readln(EOL.ANY) == b"second"
    assert bytes(buf) == b"third"


def test_readln_long_line() -> None:
    buf = Buffer()
    line = b"x" * 100_000
    for i in range(0, len(line), 1000):
        buf.add_reference(line[i : i + 1000])
    assert buf.readln(EOL.LF) is None
    buf.add(b"\n")
    assert buf.readln(EOL.LF) == line


def test_readln_bad_style() -> None:
    buf = Buffer(b"a\n")
    with pytest.raises(BufferArgumentError):
        buf.readln(9)


# -- search -------------------------------------------------------------------------


def make_split(*parts: bytes) -> Buffer:
    buf = Buffer()
    for p in parts:
        buf.add_reference(p)
    return buf


def test_search_across_segments() -> None:
    buf = make_split(b"hello wo", b"r", b"ld, attack", b" of the clones")
    assert buf.search(b"world") == 6
    assert buf.search(b"attack") == 13
    assert buf.search(b"o") == 4
    assert buf.search(b"o", 5) == 7
    assert buf.search(b"clones") == len(buf) - 6
    assert buf.search(b"missing") == -1
    assert buf.search(b"") == 0
    assert buf.search(b"", 3) == 3


def test_search_range() -> None:
    buf = make_split(b"abc", b"def", b"abcdef")
    assert buf.search(b"cd", 0, 4) == 2
    assert buf.search(b"cd", 0, 3) == -1  # the match must end by `end`
    assert buf.search(b"abc", 1, 9) == 6
    assert buf.search(b"abc", 1, 8) == -1
    assert buf.search(b"f", 0, 12) == 5
    with pytest.raises(BufferPositionError):
        buf.search(b"a", 13)
    with pytest.raises(BufferPositionError):
        buf.search(b"a", 0, 13)


def test_search_eol() -> None:
    buf = make_split(b"line 1\r", b"\r\nline 2\n", b"\r\nline 3\r")
    assert buf.search_eol(0, EOL.ANY) == (6, 3)
    assert buf.search_eol(0, EOL.CRLF) == (7, 2)
    assert buf.search_eol(0, EOL.CRLF_STRICT) == (7, 2)
    assert buf.search_eol(0, EOL.LF) == (8, 1)
    assert buf.search_eol(9, EOL.CRLF) == (15, 1)
    assert buf.search_eol(16, EOL.CRLF) == (16, 2)
    assert buf.search_eol(17, EOL.CRLF) == (17, 1)  # LF right at start: no back-up
    assert buf.search_eol(18, EOL.LF) == (-1, 0)
    assert buf.search_eol(0, EOL.NUL) == (-1, 0)
    assert buf.search_eol(len(buf), EOL.ANY) == (-1, 0)


# -- callbacks and freezing ----------------------------------------------------------


def test_callbacks_counts_and_flags() -> None:
    buf = Buffer()
    log1: list[str] = []
    log2: list[str] = []

    def logger(log: list[str]) -> object:
        def cb(b: Buffer, info: CallbackInfo) -> None:
            log.append(f"{info.orig_size}->{info.orig_size + info.n_added - info.n_deleted}")

        return cb

    cb1 = buf.add_callback(logger(log1))  # type: ignore[arg-type]
    cb2 = buf.add_callback(logger(log2))  # type: ignore[arg-type]
    buf.add(b"The 2 magic words are spotty pudding")
    cb2.disable()
    buf.drain(10)
    buf.prepend(b"Hello")
    cb2.enable()
    buf.add_reference(b"Goodbye")
    buf.remove_callback(cb1)
    buf.drain(len(buf))
    with pytest.raises(UnknownCallbackError):
        buf.remove_callback(cb1)
    buf.add(b"X")
    buf.remove_callback(cb2)
    assert log1 == ["0->36", "36->26", "26->31", "31->38"]
    assert log2 == ["0->36", "31->38", "38->0", "0->1"]


def test_callback_may_drain() -> None:
    buf = Buffer()
    infos: list[CallbackInfo] = []

    def drainer(b: Buffer, info: CallbackInfo) -> None:
        infos.append(info)
        if len(b):
            b.drain(len(b))

    buf.add_callback(drainer)
    buf.add(b"This should get drained right away.")
    assert len(buf) == 0
    assert infos == [CallbackInfo(0, 35, 0), CallbackInfo(35, 0, 35)]


def test_deferred_callbacks_coalesce(base: EventBase) -> None:
    buf = Buffer()
    infos: list[CallbackInfo] = []
    buf.add_callback(lambda b, info: infos.append(info))
    buf.defer_callbacks(base)
    buf.add(b"0123456789")
    buf.drain(4)
    buf.add(b"ab")
    assert infos == []
    base.loop()
    assert infos == [CallbackInfo(0, 12, 4)]
    buf.drain(8)
    base.loop()
    assert infos == [CallbackInfo(0, 12, 4), CallbackInfo(8, 0, 8)]
    base.loop()
    assert len(infos) == 2


@pytest.mark.parametrize("front", [True, False])
def test_freeze(front: bool, pair: tuple[socket.socket, socket.socket]) -> None:
    buf = Buffer(b"I've known the wind by water banks to shake\nthe late leaves")
    tmp = Buffer(b"xyz")
    buf.freeze(front)
    assert buf.is_frozen(front) and not buf.is_frozen(not front)
    back_ops = [
        lambda: buf.add(b"abc"),
        lambda: buf.reserve(10),
        lambda: buf.commit(0),
        lambda: buf.add_reference(b"abc"),
        lambda: buf.add_buffer(Buffer(b"q")),
        lambda: buf.read_from(pair[1]),
    ]
    front_ops = [
        lambda: buf.remove(1),
        lambda: buf.drain(3),
        lambda: buf.prepend(b"dummy"),
        lambda: buf.readln(EOL.LF),
        lambda: buf.remove_buffer(tmp, 3),
        lambda: buf.prepend_buffer(Buffer(b"q")),
        lambda: buf.write_to(pair[0]),
    ]
    pair[0].send(b"data")
    for op in front_ops if front else back_ops:
        with pytest.raises(BufferFrozenError) as info:
            op()
        assert info.value.front is front
    length = len(buf)
    for op in back_ops if front else front_ops:
        if op is back_ops[2]:
            continue  # commit needs the reserve before it
        op()
    assert len(buf) != length
    buf.unfreeze(front)
    buf.add(b"ok")
    buf.drain(1)


def test_frozen_source_of_add_buffer() -> None:
    src, dst = Buffer(b"abc"), Buffer()
    src.freeze(True)
    with pytest.raises(BufferFrozenError):
        dst.add_buffer(src)
    with pytest.raises(BufferFrozenError):
        dst.prepend_buffer(src)


def test_errors_are_in_the_tree() -> None:
    for exc in (BufferFrozenError("x", True), BufferTooShortError("x", 2, 1)):
        assert isinstance(exc, EvwebBufferError)
    assert issubclass(BufferPositionError, IndexError)
    assert issubclass(BufferTooShortError, ValueError)


def test_max_read() -> None:
    buf = Buffer()
    assert buf.max_read == 4096
    buf.max_read = 10
    assert buf.max_read == 10
    with pytest.raises(BufferArgumentError):
        buf.max_read = 0
    with pytest.raises(BufferArgumentError):
        buf.max_read = 2**31


# -- socket IO -----------------------------------------------------------------


def test_read_from_and_write_to(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    out = Buffer(b"head-")
    for i in range(100):
        out.add_reference(b"%03d," % i)
    total = len(out)
    written = 0
    while len(out):
        written += out.write_to(a)
    assert written == total
    inp = Buffer()
    inp.max_read = 100
    got = 0
    while got < total:
        n = inp.read_from(b)
        assert 0 < n <= 100
        got += n
    assert bytes(inp).startswith(b"head-000,001,")
    with pytest.raises(BlockingIOError):
        inp.read_from(b)
    a.shutdown(socket.SHUT_WR)
    assert inp.read_from(b) == 0
    assert len(inp) == total


def test_write_to_howmuch_and_fd(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    buf = Buffer(b"0123456789")
    assert buf.write_to(a.fileno(), 4) == 4
    assert bytes(buf) == b"456789"
    assert b.recv(100) == b"0123"
    inp = Buffer()
    a.send(b"xyz")
    assert inp.read_from(b.fileno(), 2) == 2
    assert bytes(inp) == b"xy"
    assert Buffer().write_to(a) == 0


def test_recycled_chunk_never_overwrites_a_multicast_view() -> None:
    source, view = Buffer(), Buffer()
    source.add(b"first")
    view.add_buffer_reference(source)
    source.drain(len(source))  # the chunk's last user here: it must not be recycled
    source.add(b"XXXXX")
    assert bytes(view) == b"first"
    assert bytes(source) == b"XXXXX"


def test_recycled_chunk_serves_the_next_small_add() -> None:
    buf = Buffer()
    for i in range(100):
        buf.add(b"msg%d" % i)
        assert buf.remove(len(buf)) == b"msg%d" % i
