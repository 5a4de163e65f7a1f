"""FileSegment: a range of a file that buffers can carry without reading it.

libevent maps or reads the file when the segment is made unless the buffer
drains to an fd; evweb always defers: the bytes are mapped (or, with
DISABLE_MMAP or when mapping fails, read with ``os.pread``) the first time
Python code needs them, so a segment only ever written to a socket goes out
through ``os.sendfile`` and is never read at all.

Segments are refcounted: the creator holds one reference (dropped by
:meth:`FileSegment.free`) and every buffer segment showing part of it holds
another. When the last goes, the cleanup callbacks run, the mapping is
closed and, with CLOSE_ON_FREE, the fd too.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from typing import Protocol

from evweb.errors import FileSegmentError
from evweb.io._segments import Finder

CLOSE_ON_FREE = 0x01
"""Close the fd when the segment is freed."""
DISABLE_MMAP = 0x02
"""Never map the file: read it with ``os.pread`` when its bytes are needed."""
DISABLE_SENDFILE = 0x04
"""Never send the segment with ``os.sendfile``."""
DISABLE_LOCKING = 0x08
"""Accepted for libevent compatibility; evweb buffers take no locks."""

_ALL_FLAGS = CLOSE_ON_FREE | DISABLE_MMAP | DISABLE_SENDFILE | DISABLE_LOCKING


class HasFileno(Protocol):
    """A file, socket or anything else with an fd."""

    def fileno(self) -> int:
        """The fd."""
        ...


FileSegmentCleanup = Callable[["FileSegment", int], object]


class FileSegment:
    """``length`` bytes of ``fd`` from ``offset`` (libevent's evbuffer_file_segment).

    ``fd`` is an int, owned only with :data:`CLOSE_ON_FREE`, or a file
    object, whose fd is duplicated so that the segment closes its own copy
    and never the caller's. ``length=-1`` means up to the end of the file.
    """

    __slots__ = (
        "_base",
        "_cleanups",
        "_close_fd",
        "_fd",
        "_flags",
        "_length",
        "_mem",
        "_mmap",
        "_offset",
        "_raw",
        "_refs",
    )

    def __init__(
        self, fd: int | HasFileno, offset: int = 0, length: int = -1, flags: int = 0
    ) -> None:
        if flags & ~_ALL_FLAGS:
            raise FileSegmentError(f"unknown file segment flags {flags:#x}")
        if offset < 0 or length < -1:
            raise FileSegmentError(f"bad file range: offset {offset}, length {length}")
        if isinstance(fd, int):
            self._fd, self._close_fd = fd, bool(flags & CLOSE_ON_FREE)
        else:
            self._fd, self._close_fd = os.dup(fd.fileno()), True
        if length == -1:
            try:
                length = os.fstat(self._fd).st_size - offset
            except OSError:
                self._close()
                raise
            if length < 0:
                self._close()
                raise FileSegmentError(f"offset {offset} is past the end of fd {self._fd}")
        self._offset = offset
        self._length = length
        self._flags = flags
        self._refs = 1
        self._cleanups: list[FileSegmentCleanup] = []
        self._mem: memoryview | None = None
        self._raw: Finder | None = None
        self._base = 0
        self._mmap: mmap.mmap | None = None

    @property
    def fd(self) -> int:
        """The file descriptor (-1 once the segment is freed and closed)."""
        return self._fd

    @property
    def offset(self) -> int:
        """Where the segment starts in the file."""
        return self._offset

    @property
    def length(self) -> int:
        """How many bytes of the file the segment covers."""
        return self._length

    @property
    def flags(self) -> int:
        """The CLOSE_ON_FREE / DISABLE_* flags."""
        return self._flags

    @property
    def can_sendfile(self) -> bool:
        """Whether writes may use ``os.sendfile`` for this segment."""
        return not self._flags & DISABLE_SENDFILE and hasattr(os, "sendfile")

    def add_cleanup(self, cleanup: FileSegmentCleanup) -> None:
        """Call ``cleanup(segment, flags)`` when the segment is finally freed."""
        self._cleanups.append(cleanup)

    def free(self) -> None:
        """Drop the creator's reference (libevent's evbuffer_file_segment_free)."""
        self.release()

    def retain(self) -> None:
        """Count one more holder."""
        self._refs += 1

    def release(self) -> None:
        """Drop one holder; the last one runs the cleanups and closes."""
        self._refs -= 1
        if self._refs != 0:
            return
        cleanups, self._cleanups = self._cleanups, []
        self._unmap()
        self._close()
        for cleanup in cleanups:
            cleanup(self, self._flags)

    def load(self) -> tuple[memoryview, Finder | None, int]:
        """Map or read the bytes; return (memory, finder, memory's offset in it)."""
        if self._mem is None:
            if self._length == 0:
                self._mem, self._raw, self._base = memoryview(b""), b"", 0
            elif not self._flags & DISABLE_MMAP and self._map():
                pass
            else:
                data = self._read()
                self._mem, self._raw, self._base = memoryview(data), data, 0
        assert self._mem is not None
        return self._mem, self._raw, self._base

    def _map(self) -> bool:
        aligned = self._offset - self._offset % mmap.ALLOCATIONGRANULARITY
        skew = self._offset - aligned
        try:
            mm = mmap.mmap(self._fd, skew + self._length, access=mmap.ACCESS_READ, offset=aligned)
        except (OSError, ValueError):
            return False
        if len(mm) < skew + self._length:  # pragma: no cover - mmap checks the size
            mm.close()
            return False
        self._mmap = mm
        self._mem = memoryview(mm)[skew : skew + self._length]
        self._raw, self._base = mm, skew
        return True

    def _read(self) -> bytes:
        parts: list[bytes] = []
        got, want = 0, self._length
        while got < want:
            chunk = os.pread(self._fd, min(want - got, 1 << 20), self._offset + got)
            if not chunk:
                raise FileSegmentError(
                    f"fd {self._fd} ended after {got} of {want} bytes from offset {self._offset}"
                )
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def _unmap(self) -> None:
        mem, self._mem, self._raw = self._mem, None, None
        if mem is not None:
            try:
                mem.release()
            except BufferError:  # pragma: no cover - only if a caller re-exported it
                pass
        mm, self._mmap = self._mmap, None
        if mm is not None:
            try:
                mm.close()
            except BufferError:  # a caller still holds a view; the GC closes it
                pass

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        if self._close_fd and fd >= 0:
            os.close(fd)

    def __repr__(self) -> str:
        return (
            f"<FileSegment fd={self._fd} offset={self._offset} length={self._length}"
            f" flags={self._flags:#x} refs={self._refs}>"
        )
