"""Moving a Buffer's bytes to and from fds: recv_into, sendmsg/writev, sendfile.

Small reads land in reserved space; big ones go through one reused scratch
buffer per thread and are copied once into the Buffer. Writes hand the
kernel up to 64 segment views at once; a file segment at the front goes out
with ``os.sendfile`` when the target is a socket, so its bytes never enter
Python. Errors are not translated: ``BlockingIOError`` tells a caller to wait
for readiness, anything else is the peer's or the OS's.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
from typing import TYPE_CHECKING

from evweb.io._file_segment import HasFileno

if TYPE_CHECKING:
    from evweb.io.buffer import Buffer

MAX_IOV = 64
"""Most views handed to one sendmsg/writev."""


def close_quietly(fd: int) -> None:
    """Close ``fd``, ignoring an fd that is already gone."""
    try:
        os.close(fd)
    except OSError:
        pass


def _fileno(obj: int | HasFileno) -> int:
    return obj if isinstance(obj, int) else obj.fileno()


def _is_socket(obj: int | HasFileno) -> bool:
    if isinstance(obj, socket.socket):
        return True
    try:
        return stat.S_ISSOCK(os.fstat(_fileno(obj)).st_mode)
    except OSError:
        return False


def read_from(buf: Buffer, source: int | HasFileno, howmuch: int) -> int:
    """Read at most ``howmuch`` bytes (capped by ``buf.max_read``) into ``buf``."""
    buf._check_back("read_from")
    limit = buf.max_read
    n = limit if howmuch < 0 or howmuch > limit else howmuch
    if not n:
        return 0
    if n >= _SCRATCH_FROM and isinstance(source, socket.socket):
        return _read_via_scratch(buf, source, n)
    view = buf.reserve(n)[:n]
    try:
        if isinstance(source, socket.socket):
            got = source.recv_into(view, n)
        else:
            got = os.readv(_fileno(source), [view])
    finally:
        view.release()
    buf.commit(got)
    return got


_SCRATCH_FROM = 16384
_scratch = threading.local()


def _read_via_scratch(buf: Buffer, source: socket.socket, n: int) -> int:
    """Big reads go through one reused buffer per thread and are copied once.

    Reserving ``n`` bytes in the Buffer means a fresh zero-filled bytearray
    of that size per read, which costs more than the read itself when only
    part of it fills; copying the bytes actually received does not.
    """
    scratch: bytearray | None = getattr(_scratch, "buffer", None)
    if scratch is None or len(scratch) < n:
        scratch = _scratch.buffer = bytearray(n)
    with memoryview(scratch) as view:
        got = source.recv_into(view, n)
        if got:  # read_from checked the frozen end already
            buf._append_copy(view[:got])
            buf._changed(got, 0)
    return got


def recv_bytes(sock: socket.socket, n: int) -> bytes:
    """Receive up to ``n`` bytes through the thread's scratch buffer (b"" at EOF).

    ``sock.recv(n)`` would allocate ``n`` bytes and shrink them for every
    read; for large ``n`` that costs more than the read.
    """
    scratch: bytearray | None = getattr(_scratch, "buffer", None)
    if scratch is None or len(scratch) < n:
        scratch = _scratch.buffer = bytearray(n)
    with memoryview(scratch) as view:
        got = sock.recv_into(view, n)
        return bytes(view[:got])


def write_to(buf: Buffer, target: int | HasFileno, howmuch: int) -> int:
    """Write up to ``howmuch`` bytes of ``buf`` (-1: all) and drain what went out."""
    buf._check_front("write_to")
    total = len(buf)
    n = total if howmuch < 0 or howmuch > total else howmuch
    if not n:
        return 0
    segs = buf._segs
    first = segs[0]
    fseg = first.file
    sock: bool | None = None
    if fseg is not None and fseg.can_sendfile:
        sock = _is_socket(target)
        if sock:
            count = min(n, first.end - first.off)
            sent = os.sendfile(_fileno(target), fseg.fd, fseg.offset + first.off, count)
            if not sent:  # the file ended early (it shrank): the rest can never be sent
                raise OSError(errno.EIO, f"fd {fseg.fd} ended before the file segment did")
            buf._drain(sent)
            return sent
    views: list[memoryview] = []
    left = n
    for seg in segs:
        if left <= 0 or len(views) >= MAX_IOV:
            break
        f = seg.file
        if views and f is not None and f.can_sendfile:
            if sock is None:
                sock = _is_socket(target)
            if sock:  # let the next write send it with sendfile
                break
        view = seg.view()
        if len(view) > left:
            view = view[:left]
        views.append(view)
        left -= len(view)
    try:
        if isinstance(target, socket.socket):
            sent = target.sendmsg(views) if len(views) > 1 else target.send(views[0])
        else:
            sent = os.writev(_fileno(target), views)
    finally:
        for view in views:
            view.release()
    buf._drain(sent)
    return sent
