r"""Buffer: libevent's evbuffer, a byte queue that adds and sends without copying.

>>> buf = Buffer()
>>> buf.add(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
>>> buf.readln(EOL.CRLF)
b'GET / HTTP/1.1'
>>> buf.search(b"\r\n\r\n")
7

The bytes live in a deque of segments (see :mod:`evweb.io._segments`):
small adds are copied into one owned chunk, references and file segments are
kept as they are, and moving a whole buffer only moves segments. Positions
are plain ints (libevent's ``evbuffer_ptr``). Invalid counts and positions
raise :class:`~evweb.errors.BufferArgumentError` subclasses, operations on a
frozen end :class:`~evweb.errors.BufferFrozenError`.
"""

from __future__ import annotations

from collections.abc import Callable

from evweb.errors import (
    BufferArgumentError,
    BufferCommitError,
    BufferReferenceError,
    BufferTooShortError,
)
from evweb.io import _bufio, _scan
from evweb.io._callbacks import EOL
from evweb.io._core import BufferCore, BytesLike
from evweb.io._file_segment import CLOSE_ON_FREE, FileSegment, HasFileno
from evweb.io._segments import CleanupOwner, Finder, Segment, as_bytes, locate


class Buffer(BufferCore):
    """A byte queue (libevent's ``evbuffer``); see the module docstring."""

    __slots__ = ()

    def __init__(self, data: BytesLike = b"") -> None:
        super().__init__()
        if data:
            self.add(data)

    def add(self, data: BytesLike) -> None:
        """Append a copy of ``data``; small adds share one owned chunk."""
        self._check_back("add")
        mv = as_bytes(data)
        n = len(mv)
        if n:
            self._append_copy(mv)
            self._changed(n, 0)

    def add_reference(self, data: BytesLike, cleanup: Callable[[], object] | None = None) -> None:
        """Append ``data`` without copying; ``cleanup()`` runs once it is all drained."""
        self._check_back("add_reference")
        mv = as_bytes(data)
        n = len(mv)
        if not n:
            if cleanup is not None:
                cleanup()
            return
        raw: Finder | None = data if isinstance(data, bytes | bytearray) else None
        owner = CleanupOwner(cleanup) if cleanup is not None else None
        self._writable_segs().append(Segment(mv, raw, n, owner=owner))
        self._len += n
        self._changed(n, 0)

    def add_buffer(self, other: Buffer) -> None:
        """Move all of ``other``'s bytes to the end of this buffer (no copy)."""
        if other is self:
            return
        self._check_back("add_buffer")
        other._check_front("add_buffer (source)")
        n, taken = other._take_all()
        if n:
            self._writable_segs().extend(taken)
            self._len += n
            other._changed(0, n)
            self._changed(n, 0)

    def add_buffer_reference(self, other: Buffer) -> None:
        """Append a read-only view of ``other``'s bytes; ``other`` keeps them.

        Refused for ``self`` and for a source holding file segments or views
        of a third buffer, as libevent.
        """
        if other is self:
            raise BufferReferenceError("add_buffer_reference: a buffer cannot reference itself")
        self._check_back("add_buffer_reference")
        for seg in other._segs:
            if seg.file is not None or seg.twin:
                kind = "a file segment" if seg.file is not None else "a buffer reference"
                raise BufferReferenceError(f"add_buffer_reference: the source holds {kind}")
        n = other._len
        if n:
            self._writable_segs().extend(seg.multicast() for seg in other._segs)
            self._len += n
            self._changed(n, 0)

    def prepend(self, data: BytesLike) -> None:
        """Insert a copy of ``data`` at the front."""
        self._check_front("prepend")
        mv = as_bytes(data)
        n = len(mv)
        if n:
            self._writable_segs().appendleft(Segment.copy_of(bytes(mv)))
            self._len += n
            self._changed(n, 0)

    def prepend_buffer(self, other: Buffer) -> None:
        """Move all of ``other``'s bytes to the front of this buffer."""
        if other is self:
            return
        self._check_front("prepend_buffer")
        other._check_front("prepend_buffer (source)")
        n, taken = other._take_all()
        if n:
            self._writable_segs().extendleft(reversed(taken))
            self._len += n
            other._changed(0, n)
            self._changed(n, 0)

    def add_file(
        self, fd: int | HasFileno, offset: int = 0, length: int = -1, flags: int = 0
    ) -> None:
        """Append ``length`` bytes of a file from ``offset`` (-1: to its end).

        An int fd is owned from here on, even when this raises: it is closed
        once its bytes are drained. A file object's fd is duplicated.
        ``flags`` adds file segment flags (``DISABLE_MMAP``, ``DISABLE_SENDFILE``).
        """
        seg = None
        try:
            seg = FileSegment(fd, offset, length, CLOSE_ON_FREE | flags)
            self.add_file_segment(seg)
        except BaseException:
            if seg is None and isinstance(fd, int) and fd >= 0:
                _bufio.close_quietly(fd)
            raise
        finally:
            if seg is not None:
                seg.free()

    def add_file_segment(self, seg: FileSegment, offset: int = 0, length: int = -1) -> None:
        """Append ``length`` bytes of ``seg`` from ``offset`` (relative to the segment)."""
        self._check_back("add_file_segment")
        if length == -1:
            length = seg.length - offset
        if offset < 0 or length < 0 or offset + length > seg.length:
            raise BufferArgumentError(
                f"add_file_segment: offset {offset}, length {length} outside a"
                f" {seg.length}-byte segment"
            )
        if seg.fd < 0:
            raise BufferArgumentError(f"add_file_segment: {seg!r} is already freed")
        if not length:
            return
        piece = Segment(None, None, offset + length, owner=seg)
        piece.off = offset
        piece.file = seg
        seg.retain()
        self._writable_segs().append(piece)
        self._len += length
        self._changed(length, 0)

    def expand(self, n: int) -> None:
        """Make room so that ``n`` more bytes can be added without allocating."""
        if n < 0:
            raise BufferArgumentError(f"expand: negative size {n}")
        try:
            self._room(n)
        except (MemoryError, OverflowError):
            raise BufferArgumentError(f"expand: cannot allocate {n} bytes") from None

    def drain(self, n: int) -> None:
        """Discard the first ``n`` bytes (all of them if ``n`` exceeds the length)."""
        self._check_front("drain")
        self._drain(self._check_count("drain", n))

    def clear(self) -> None:
        """Discard everything (``drain(len(self))``)."""
        self.drain(self._len)

    def remove(self, n: int) -> bytes:
        """Remove and return the first ``n`` bytes (fewer if the buffer is shorter)."""
        self._check_front("remove")
        n = self._check_count("remove", n)
        data = self._copy(0, n)
        self._drain(n)
        return data

    def remove_into(self, out: BytesLike) -> int:
        """Move bytes into the writable buffer ``out``; return how many."""
        self._check_front("remove_into")
        dst = as_bytes(out)
        n = min(len(dst), self._len)
        got = 0
        for seg in self._segs:
            if got >= n:
                break
            view = seg.view()[: n - got]
            dst[got : got + len(view)] = view
            got += len(view)
        self._drain(n)
        return n

    def copyout(self, n: int, start: int = 0) -> bytes:
        """The ``n`` bytes from ``start`` (fewer at the end), left in the buffer."""
        self._check_position("copyout", start)
        if n < 0:
            raise BufferArgumentError(f"copyout: negative count {n}")
        return self._copy(start, min(n, self._len - start))

    def remove_buffer(self, dst: Buffer, n: int) -> int:
        """Move up to ``n`` bytes to the end of ``dst``, whole segments without copying."""
        if dst is self:
            raise BufferArgumentError("remove_buffer: source and destination are the same")
        self._check_front("remove_buffer")
        dst._check_back("remove_buffer (destination)")
        n = self._check_count("remove_buffer", n)
        if not n:
            return 0
        segs, left = self._segs, n
        while left and segs[0].end - segs[0].off <= left:
            seg = segs.popleft()
            left -= seg.end - seg.off
            dst._writable_segs().append(seg)
        self._len -= n - left
        dst._len += n - left
        if left:
            dst._append_copy(segs[0].view()[:left])
            segs[0].off += left
            self._len -= left
        self._changed(0, n)
        dst._changed(n, 0)
        return n

    def pullup(self, n: int = -1) -> memoryview:
        """The first ``n`` bytes (-1: all) as one contiguous view, merging segments."""
        if n < 0:
            n = self._len
        elif n > self._len:
            raise BufferTooShortError("pullup", n, self._len)
        segs = self._segs
        if not n:
            return memoryview(b"")
        first = segs[0]
        if first.end - first.off >= n:
            return first.view()[:n]
        parts, owners, got = [], [], 0
        while got < n:
            seg = segs.popleft()
            parts.append(seg.view())
            got += len(parts[-1])
            if seg.owner is not None:
                owners.append(seg.owner)
        merged = Segment.copy_of(b"".join(parts))
        segs.appendleft(merged)
        parts.clear()
        self._gen += 1  # segments changed under any reservation
        for owner in owners:
            owner.release()
        return memoryview(merged.raw)[:n]  # type: ignore[arg-type]

    def peek(self, n: int = -1, start: int = 0) -> list[memoryview]:
        """Views of the segments covering ``n`` bytes (-1: all) from ``start``.

        As libevent's extents, views are whole segments: the last one may
        reach past ``n``.
        """
        self._check_position("peek", start)
        segs = self._segs
        idx, at = locate(segs, start)
        out: list[memoryview] = []
        total = 0
        while idx < len(segs) and (n < 0 or total < n):
            seg = segs[idx]
            view = seg.view()[at - seg.off :]
            out.append(view)
            total += len(view)
            idx += 1
            if idx < len(segs):
                at = segs[idx].off
        return out

    def readln(self, style: EOL | int = EOL.LF) -> bytes | None:
        """Remove and return the next line without its EOL; None if no full line."""
        self._check_front("readln")
        pos, eol_len = self.search_eol(0, style)
        if pos < 0:
            return None
        line = self._copy(0, pos)
        self._drain(pos + eol_len)
        return line

    def search(self, what: BytesLike, start: int = 0, end: int | None = None) -> int:
        """Position of the first ``what`` at or after ``start`` ending by ``end``; -1 if none."""
        self._check_position("search", start)
        if end is None:
            end = self._len
        else:
            self._check_position("search (end)", end)
        needle = bytes(as_bytes(what))
        if not needle:
            return start if start <= end else -1
        return _scan.find(self._segs, needle, start, end)

    def search_eol(self, start: int = 0, style: EOL | int = EOL.LF) -> tuple[int, int]:
        """(position, length) of the first EOL of ``style`` at or after ``start``; (-1, 0)."""
        self._check_position("search_eol", start)
        return _scan.search_eol(self._segs, self._len, start, style)

    def reserve(self, n: int) -> memoryview:
        """Writable space for at least ``n`` bytes at the end; :meth:`commit` adds them.

        Reserving again before committing returns the same space.
        """
        self._check_back("reserve")
        if n < 0:
            raise BufferArgumentError(f"reserve: negative size {n}")
        try:
            seg = self._room(max(n, 1))
        except (MemoryError, OverflowError):
            raise BufferArgumentError(f"reserve: cannot allocate {n} bytes") from None
        self._reserved = (seg, seg.end, seg.cap - seg.end, self._gen)
        assert seg.mem is not None
        return seg.mem[seg.end : seg.cap]

    def commit(self, written: memoryview | int) -> None:
        """Add the first ``written`` bytes (or ``len(view)``) of the reserved space."""
        self._check_back("commit")
        reserved = self._reserved
        if reserved is None:
            raise BufferCommitError("commit: nothing is reserved")
        seg, end, avail, gen = reserved
        if gen != self._gen or seg.end != end:
            raise BufferCommitError("commit: the buffer changed since reserve")
        if isinstance(written, memoryview):
            exporter: object = written.obj
            if exporter is not seg.raw:
                raise BufferCommitError("commit: the view is not the reserved space")
            written = written.nbytes
        if not 0 <= written <= avail:
            raise BufferCommitError(f"commit: {written} bytes, but {avail} were reserved")
        self._reserved = None
        if not written:
            return
        seg.end = end + written
        if seg is self._spare:
            self._writable_segs().append(seg)
            self._spare = None
        self._len += written
        self._changed(written, 0)

    def read_from(self, source: int | HasFileno, howmuch: int = -1) -> int:
        """Read up to ``howmuch`` (at most :attr:`max_read`) bytes; 0 at EOF.

        ``BlockingIOError`` and other ``OSError`` pass through unchanged.
        """
        return _bufio.read_from(self, source, howmuch)

    def write_to(self, target: int | HasFileno, howmuch: int = -1) -> int:
        """Write up to ``howmuch`` (-1: all) bytes, drain them, return how many.

        Memory goes out with one ``sendmsg``/``writev`` of up to 64 views,
        file segments with ``os.sendfile`` to sockets. ``BlockingIOError``
        and other ``OSError`` pass through unchanged.
        """
        return _bufio.write_to(self, target, howmuch)
