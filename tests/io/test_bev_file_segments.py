"""File segments queued on a SocketBufferEvent: a file that shrinks, a bev closed early.

``os.sendfile`` answers 0 once the offset is past the end of the file. Taken
as progress, that made the WRITE event fire forever (100 % CPU, the
connection never closed). A bev closed with a file still queued kept the
file's fd open for good (an HTTP client leaving mid-download leaked one fd).
And sendfile was held to ``max_single_write`` (256 KiB) though no byte of it
passes through Python: a 100 MiB download took 400 loop passes instead of ~30.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from evweb.io import BevEvent, Buffer, SocketBufferEvent, TokenBucketConfig, set_rate_limit
from evweb.reactor import NONBLOCK, ONCE, EventBase
from tests.helpers import spin


def test_buffer_write_to_raises_eio(
    tmp_path: Path, pair: tuple[socket.socket, socket.socket]
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100_000)
    buf = Buffer()
    buf.add_file(os.open(path, os.O_RDONLY))
    os.truncate(path, 10)
    a, b = pair
    assert buf.write_to(a) == 10  # what is left of the file
    with pytest.raises(OSError) as info:
        buf.write_to(a)
    assert info.value.errno == errno.EIO
    assert b.recv(100) == b"x" * 10
    buf.free()


def test_buffer_event_reports_an_error(
    base: EventBase, tmp_path: Path, pair: tuple[socket.socket, socket.socket]
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"y" * 4_000_000)
    a, b = pair
    events: list[int] = []
    bev = SocketBufferEvent(base, a)
    bev.set_callbacks(event=lambda _bev, what, _arg: events.append(what))
    bev.output.add_file(os.open(path, os.O_RDONLY))  # more than the socket buffer takes
    os.truncate(path, 0)

    def reader_drained_and_error_seen() -> bool:
        try:
            while b.recv(1 << 20):
                pass
        except BlockingIOError:
            pass
        return bool(events)

    spin(base, reader_drained_and_error_seen, seconds=5)
    assert events[0] & BevEvent.ERROR and events[0] & BevEvent.WRITING
    assert isinstance(bev.error, OSError) and bev.error.errno == errno.EIO
    bev.close()


def test_closing_releases_queued_files(
    base: EventBase, tmp_path: Path, pair: tuple[socket.socket, socket.socket]
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"z" * 4_000_000)
    a, _ = pair
    bev = SocketBufferEvent(base, a)
    fd = os.open(path, os.O_RDONLY)
    bev.output.add_file(fd)  # the socket takes a part; the rest waits
    assert bev.output
    bev.close()
    assert not bev.output
    with pytest.raises(OSError):
        os.fstat(fd)  # closed with the bev; the fd-leak check would also say so


def test_sendfile_is_not_held_to_max_single_write(base: EventBase, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"w" * (8 << 20))
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        bev = SocketBufferEvent(base, a)
        bev.output.add_file(os.open(path, os.O_RDONLY))  # sent at once, inline
        sent = (8 << 20) - len(bev.output)
        if a.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < 2 * bev.max_single_write:
            bev.close()
            pytest.skip("the send buffer cannot be made bigger than max_single_write here")
        assert sent > bev.max_single_write
        bev.close()


def test_sendfile_still_obeys_a_rate_limit(base: EventBase, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"r" * (1 << 20))
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        bev = SocketBufferEvent(base, a)
        set_rate_limit(bev, TokenBucketConfig(1000, 1000, 5000, 5000, tick=10.0))
        bev.output.add_file(os.open(path, os.O_RDONLY))
        base.loop(ONCE | NONBLOCK)
        assert (1 << 20) - len(bev.output) <= 5000
        bev.close()
