"""File segments through a real socketpair: sendfile, mmap and read paths."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import pytest

from evweb.errors import BufferArgumentError, BufferReferenceError, FileSegmentError
from evweb.io import (
    CLOSE_ON_FREE,
    DISABLE_MMAP,
    DISABLE_SENDFILE,
    EOL,
    Buffer,
    FileSegment,
)

CONTENT = bytes(range(256)) * 64 + b"tail line\nend"  # > one page, so offsets cross pages

MODES = {
    "sendfile": 0,
    "mmap": DISABLE_SENDFILE,
    "linear": DISABLE_SENDFILE | DISABLE_MMAP,
}


@pytest.fixture
def path() -> Iterator[str]:
    fd, name = tempfile.mkstemp()
    os.write(fd, CONTENT)
    os.close(fd)
    yield name
    os.unlink(name)


def drain_to_peer(buf: Buffer, a: socket.socket, b: socket.socket) -> bytes:
    got = bytearray()
    while len(buf):
        try:
            buf.write_to(a)
        except BlockingIOError:
            pass
        try:
            while chunk := b.recv(65536):
                got += chunk
        except BlockingIOError:
            pass
    a.shutdown(socket.SHUT_WR)
    b.setblocking(True)
    while chunk := b.recv(65536):
        got += chunk
    return bytes(got)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("file_off", "seg_off", "length"),
    [(0, 0, -1), (0, 100, 5000), (4097, 0, -1), (300, 7, 9000)],
)
def test_file_segment_to_socket(
    mode: str,
    file_off: int,
    seg_off: int,
    length: int,
    path: str,
    pair: tuple[socket.socket, socket.socket],
) -> None:
    cleaned: list[int] = []
    fd = os.open(path, os.O_RDONLY)
    seg = FileSegment(fd, file_off, -1, MODES[mode] | CLOSE_ON_FREE)
    seg.add_cleanup(lambda s, flags: cleaned.append(flags))
    buf = Buffer(b"<")
    buf.add_file_segment(seg, seg_off, length)
    buf.add(b">")
    seg.free()
    assert cleaned == []
    expected_body = CONTENT[file_off + seg_off :]
    if length >= 0:
        expected_body = expected_body[:length]
    assert len(buf) == len(expected_body) + 2
    assert drain_to_peer(buf, *pair) == b"<" + expected_body + b">"
    assert cleaned == [MODES[mode] | CLOSE_ON_FREE]
    assert seg.fd == -1


@pytest.mark.parametrize("mode", MODES)
def test_add_file_then_read_in_python(mode: str, path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    seg = FileSegment(fd, 10, -1, MODES[mode] | CLOSE_ON_FREE)
    buf = Buffer()
    buf.add_file_segment(seg, 5)
    seg.free()
    pos = buf.search(b"tail line")
    assert pos == len(CONTENT) - 13 - 15
    assert buf.copyout(4) == CONTENT[15:19]
    assert buf.readln(EOL.LF) == CONTENT[15:266]  # byte value 10 is an LF
    buf.drain(buf.search(b"tail line"))
    assert buf.readln(EOL.LF) == b"tail line"
    assert buf.remove(100) == b"end"
    assert len(buf) == 0


def test_add_file_owns_fd(path: str, pair: tuple[socket.socket, socket.socket]) -> None:
    fd = os.open(path, os.O_RDONLY)
    buf = Buffer()
    buf.add_file(fd, 100, 50)
    assert drain_to_peer(buf, *pair) == CONTENT[100:150]
    with pytest.raises(OSError):
        os.fstat(fd)  # closed once drained


def test_add_file_object_is_duplicated(path: str) -> None:
    with open(path, "rb") as f:
        buf = Buffer()
        buf.add_file(f)
        assert bytes(buf) == CONTENT
        buf.free()
        assert f.read(3) == CONTENT[:3]  # the caller's fd is untouched


def test_add_file_failures_close_fd(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    buf = Buffer()
    buf.freeze(False)
    with pytest.raises(Exception):  # noqa: B017 - BufferFrozenError
        buf.add_file(fd)
    with pytest.raises(OSError):
        os.fstat(fd)
    fd = os.open(path, os.O_RDONLY)
    with pytest.raises(FileSegmentError):
        Buffer().add_file(fd, len(CONTENT) + 1)
    with pytest.raises(OSError):
        os.fstat(fd)


def test_segment_range_checks(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    seg = FileSegment(fd, 0, 100, CLOSE_ON_FREE)
    buf = Buffer()
    with pytest.raises(BufferArgumentError):
        buf.add_file_segment(seg, 50, 51)
    with pytest.raises(BufferArgumentError):
        buf.add_file_segment(seg, -1)
    buf.add_file_segment(seg, 100)  # empty: nothing added
    assert len(buf) == 0
    with pytest.raises(FileSegmentError):
        FileSegment(fd, -1)
    with pytest.raises(FileSegmentError):
        FileSegment(fd, 0, -1, 0x100)
    buf.add_file_segment(seg, 90)
    other = Buffer()
    with pytest.raises(BufferReferenceError):
        other.add_buffer_reference(buf)
    seg.free()
    assert seg.fd == fd  # still held by buf
    buf.free()
    assert seg.fd == -1


def test_file_shorter_than_promised(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    seg = FileSegment(fd, 0, len(CONTENT) + 10, DISABLE_MMAP | CLOSE_ON_FREE)
    buf = Buffer()
    buf.add_file_segment(seg)
    seg.free()
    with pytest.raises(FileSegmentError):
        buf.copyout(10)
    buf.free()


def test_big_file_partial_writes(path: str, pair: tuple[socket.socket, socket.socket]) -> None:
    with open(path, "ab") as f:
        f.write(os.urandom(1 << 20))
    with open(path, "rb") as f:
        expected = f.read()
    fd = os.open(path, os.O_RDONLY)
    buf = Buffer()
    buf.add_file(fd)
    assert drain_to_peer(buf, *pair) == expected
