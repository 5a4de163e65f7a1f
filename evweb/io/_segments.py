"""The pieces a Buffer is made of, and the scans that walk them.

A buffer is a deque of :class:`Segment`. Each segment shows ``mem[off:end]``
of some memory: a bytearray the buffer owns (appendable up to ``cap``), an
immutable copy, a caller's object added by reference, another buffer's
segment (multicast) or a file segment, whose memory is only mapped or read
when Python code needs the bytes (sendfile never needs them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

CHUNK = 4096
"""Size of the owned chunk that small adds are coalesced into."""


class Owner(Protocol):
    """What keeps a segment's memory valid: released once per segment."""

    def retain(self) -> None:
        """Count one more segment showing this memory."""

    def release(self) -> None:
        """Forget one segment; the last release runs the cleanup."""


class CleanupOwner:
    """A reference's cleanup, run once when the last segment showing it goes."""

    __slots__ = ("_cleanup", "_refs")

    def __init__(self, cleanup: Callable[[], object]) -> None:
        self._cleanup: Callable[[], object] | None = cleanup
        self._refs = 1

    def retain(self) -> None:
        """Count one more segment (a multicast copy)."""
        self._refs += 1

    def release(self) -> None:
        """Forget one segment; run the cleanup when none is left."""
        self._refs -= 1
        if self._refs <= 0 and self._cleanup is not None:
            cleanup, self._cleanup = self._cleanup, None
            cleanup()


class Finder(Protocol):
    """Objects with ``bytes.find``'s signature (bytes, bytearray, mmap)."""

    def find(self, sub: bytes, start: int, end: int, /) -> int: ...


class Loader(Protocol):
    """A file segment as a segment sees it: memory on demand, sendfile data."""

    @property
    def fd(self) -> int:
        """The file's descriptor."""
        ...

    @property
    def offset(self) -> int:
        """Where the segment starts in the file."""
        ...

    @property
    def can_sendfile(self) -> bool:
        """Whether writes may use sendfile."""
        ...

    def load(self) -> tuple[memoryview, Finder | None, int]:
        """Return (memory, finder, offset of memory[0] in the finder)."""
        ...


class Segment:
    """``mem[off:end]`` of some memory; ``cap > end`` only for owned chunks."""

    __slots__ = ("base", "cap", "end", "file", "mem", "off", "owner", "raw", "twin", "writable")

    def __init__(
        self,
        mem: memoryview | None,
        raw: Finder | None,
        end: int,
        *,
        cap: int = -1,
        writable: bool = False,
        owner: Owner | None = None,
    ) -> None:
        self.mem = mem
        self.raw = raw
        self.base = 0
        self.off = 0
        self.end = end
        self.cap = end if cap < 0 else cap
        self.writable = writable
        self.owner = owner
        self.file: Loader | None = None
        self.twin = False

    @classmethod
    def chunk(cls, size: int) -> Segment:
        """An empty owned chunk with room for ``size`` bytes."""
        ba = bytearray(size)
        return cls(memoryview(ba), ba, 0, cap=size, writable=True)

    @classmethod
    def copy_of(cls, data: bytes) -> Segment:
        """An immutable segment holding ``data``."""
        return cls(memoryview(data), data, len(data))

    def view(self) -> memoryview:
        """The segment's bytes, mapping or reading a file segment first."""
        mem = self.mem
        if mem is None:
            mem = self.load()
        return mem[self.off : self.end]

    def load(self) -> memoryview:
        """Make ``mem`` available (file segments are loaded lazily)."""
        if self.mem is None:
            assert self.file is not None
            self.mem, self.raw, self.base = self.file.load()
        return self.mem

    def find(self, what: bytes, lo: int, hi: int) -> int:
        """First ``what`` in ``mem[lo:hi]``, as an index into ``mem``; -1 if none."""
        mem = self.mem if self.mem is not None else self.load()
        raw = self.raw
        if raw is None:
            r = bytes(mem[lo:hi]).find(what)
            return r + lo if r >= 0 else -1
        base = self.base
        r = raw.find(what, base + lo, base + hi)
        return r - base if r >= 0 else -1

    def multicast(self) -> Segment:
        """A read-only segment showing the same bytes (add_buffer_reference)."""
        twin = Segment(self.mem, self.raw, self.end, owner=self.owner)
        twin.base = self.base
        twin.off = self.off
        twin.twin = True
        self.writable = False  # shared now: never refilled or recycled
        if self.owner is not None:
            self.owner.retain()
        return twin


def as_bytes(data: object) -> memoryview:
    """A flat byte view of any bytes-like object (TypeError otherwise)."""
    mv = memoryview(data)  # type: ignore[arg-type]
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def locate(segs: deque[Segment], pos: int) -> tuple[int, int]:
    """(segment index, index into its mem) of buffer position ``pos`` (< len)."""
    for i, seg in enumerate(segs):
        n = seg.end - seg.off
        if pos < n:
            return i, seg.off + pos
        pos -= n
    return len(segs), 0


def gather(segs: deque[Segment], idx: int, at: int, n: int) -> bytes:
    """Up to ``n`` bytes starting at ``mem[at]`` of segment ``idx``."""
    parts: list[memoryview] = []
    nsegs = len(segs)
    while n > 0 and idx < nsegs:
        seg = segs[idx]
        mem = seg.mem if seg.mem is not None else seg.load()
        take = min(n, seg.end - at)
        parts.append(mem[at : at + take])
        n -= take
        idx += 1
        if idx < nsegs:
            at = segs[idx].off
    if len(parts) == 1:
        return bytes(parts[0])
    return b"".join(parts)
