"""The state under a Buffer and what every operation shares.

:class:`BufferCore` holds the segments, the frozen ends, the reservation and
the callbacks, and the primitives the public methods in
:mod:`evweb.io.buffer` are built from: finding room at the tail, copying,
draining (which runs reference cleanups) and reporting a change to the
callbacks, at once or deferred to an event loop.
"""

from __future__ import annotations

from collections import deque
from mmap import mmap
from typing import TYPE_CHECKING, Any, TypeVar, cast

from evweb.errors import (
    BufferArgumentError,
    BufferFrozenError,
    BufferPositionError,
    UnknownCallbackError,
)
from evweb.io._callbacks import BufferCallback, CallbackHandle, CallbackInfo
from evweb.io._segments import CHUNK, Segment, gather, locate
from evweb.reactor import DeferredCallback, EventBase

if TYPE_CHECKING:
    from evweb.io.buffer import Buffer

BytesLike = bytes | bytearray | memoryview | mmap
"""What a buffer accepts as data (any object with the buffer protocol works)."""

DRAINS_TO_FD = 0x01
"""libevent's EVBUFFER_FLAG_DRAINS_TO_FD (kept; evweb picks sendfile per write)."""
MAX_READ_DEFAULT = 4096
"""How many bytes ``Buffer.read_from`` reads at most, as libevent 2.2."""
_INT_MAX = 2**31 - 1
_B = TypeVar("_B", bound="BufferCore")
_NO_SEGS = cast("deque[Segment]", ())  # shared and immutable: a missed upgrade fails loudly


class BufferCore:
    """State and shared primitives of :class:`evweb.io.Buffer`."""

    __slots__ = (
        "__weakref__",
        "_callbacks",
        "_deferred",
        "_flags",
        "_frozen_back",
        "_frozen_front",
        "_gen",
        "_len",
        "_max_read",
        "_n_add",
        "_n_del",
        "_reserved",
        "_segs",
        "_spare",
    )

    def __init__(self) -> None:
        self._segs: deque[Segment] = _NO_SEGS  # a deque costs ~760 B: made on first add
        self._len = 0
        self._spare: Segment | None = None
        self._frozen_front = self._frozen_back = False
        self._max_read = MAX_READ_DEFAULT
        self._flags = 0
        self._callbacks: list[CallbackHandle] = []
        self._n_add = self._n_del = 0
        self._gen = 0
        self._reserved: tuple[Segment, int, int, int] | None = None
        self._deferred: DeferredCallback | None = None

    def __len__(self) -> int:
        return self._len

    def _writable_segs(self) -> deque[Segment]:
        """The segment deque, created on first use (most buffers of idle connections stay empty)."""
        segs = self._segs
        if segs is _NO_SEGS:
            segs = self._segs = deque()
        return segs

    def __bytes__(self) -> bytes:
        return self._copy(0, self._len)

    def __repr__(self) -> str:
        return f"<Buffer len={self._len} segments={len(self._segs)}>"

    @property
    def contiguous_space(self) -> int:
        """Bytes in the first segment (libevent's get_contiguous_space)."""
        segs = self._segs
        return segs[0].end - segs[0].off if segs else 0

    @property
    def max_read(self) -> int:
        """The most :meth:`read_from` reads in one call (1..2**31-1, default 4096)."""
        return self._max_read

    @max_read.setter
    def max_read(self, n: int) -> None:
        if not 1 <= n <= _INT_MAX:
            raise BufferArgumentError(f"max_read {n} outside 1..{_INT_MAX}")
        self._max_read = n

    @property
    def flags(self) -> int:
        """Buffer flags (only :data:`DRAINS_TO_FD` exists)."""
        return self._flags

    def set_flags(self, flags: int) -> None:
        """Set buffer flags."""
        if flags & ~DRAINS_TO_FD:
            raise BufferArgumentError(f"unknown buffer flags {flags:#x}")
        self._flags |= flags

    def clear_flags(self, flags: int) -> None:
        """Clear buffer flags."""
        if flags & ~DRAINS_TO_FD:
            raise BufferArgumentError(f"unknown buffer flags {flags:#x}")
        self._flags &= ~flags

    def freeze(self, front: bool) -> None:
        """Refuse changes at the front (drain, remove, prepend) or back (add)."""
        if front:
            self._frozen_front = True
        else:
            self._frozen_back = True

    def unfreeze(self, front: bool) -> None:
        """Allow changes at the front or back again."""
        if front:
            self._frozen_front = False
        else:
            self._frozen_back = False

    def is_frozen(self, front: bool) -> bool:
        """Whether the front (or back) is frozen."""
        return self._frozen_front if front else self._frozen_back

    def _check_front(self, operation: str) -> None:
        if self._frozen_front:
            raise BufferFrozenError(operation, True)

    def _check_back(self, operation: str) -> None:
        if self._frozen_back:
            raise BufferFrozenError(operation, False)

    def _append_copy(self, mv: memoryview) -> None:
        n = len(mv)
        if n >= CHUNK:
            obj = mv.obj
            # a whole bytes object is immutable: holding it is as good as a copy
            data = obj if type(obj) is bytes and len(obj) == n else bytes(mv)
            self._writable_segs().append(Segment.copy_of(data))
        else:
            seg = self._room(n)
            end = seg.end
            seg.mem[end : end + n] = mv  # type: ignore[index]
            seg.end = end + n
            if seg is self._spare:
                self._writable_segs().append(seg)
                self._spare = None
        self._len += n

    def _append_bytes_from(self, data: bytes, start: int) -> None:
        """Append ``data[start:]`` of an immutable bytes object without copying it."""
        seg = Segment.copy_of(data)
        seg.off = start
        self._writable_segs().append(seg)
        n = len(data) - start
        self._len += n
        self._changed(n, 0)

    def _room(self, n: int) -> Segment:
        """An owned segment with ``n`` free bytes: the tail, or a spare chunk."""
        segs = self._segs
        if segs:
            tail = segs[-1]
            if tail.writable and tail.cap - tail.end >= n:
                return tail
        spare = self._spare
        if spare is None or spare.cap - spare.end < n:
            spare = self._spare = Segment.chunk(max(n, CHUNK))
        return spare

    def _take_all(self) -> tuple[int, deque[Segment]]:
        n, taken = self._len, self._segs
        self._segs = _NO_SEGS
        self._len = 0
        return n, taken

    def _check_count(self, operation: str, n: int) -> int:
        if n < 0:
            raise BufferArgumentError(f"{operation}: negative count {n}")
        return min(n, self._len)

    def _check_position(self, operation: str, pos: int) -> None:
        if not 0 <= pos <= self._len:
            raise BufferPositionError(operation, pos, self._len)

    def _drain(self, n: int) -> None:
        if not n:
            return
        segs = self._segs
        left = n
        while left:
            seg = segs[0]
            avail = seg.end - seg.off
            if avail > left:
                seg.off += left
                break
            left -= avail
            segs.popleft()
            if seg.owner is not None:
                seg.owner.release()
            elif seg.writable and self._spare is None and seg.cap == CHUNK:
                seg.off = seg.end = 0  # keep the emptied chunk for the next small add
                self._spare = seg
        self._len -= n
        self._changed(0, n)

    def _copy(self, start: int, n: int) -> bytes:
        if not n:
            return b""
        idx, at = locate(self._segs, start)
        return gather(self._segs, idx, at, n)

    def add_callback(self, callback: BufferCallback) -> CallbackHandle:
        """Call ``callback(buffer, info)`` after changes; returns its handle."""
        handle = CallbackHandle(callback)
        self._callbacks.append(handle)
        return handle

    def remove_callback(self, handle: CallbackHandle) -> None:
        """Unregister a handle from :meth:`add_callback`."""
        try:
            self._callbacks.remove(handle)
        except ValueError:
            raise UnknownCallbackError(f"{handle!r} is not registered on {self!r}") from None

    @property
    def callbacks(self) -> tuple[CallbackHandle, ...]:
        """The registered handles, in calling order."""
        return tuple(self._callbacks)

    def defer_callbacks(self, base: EventBase) -> None:
        """Run callbacks from ``base``'s loop, once per iteration for all changes."""
        self._deferred = base.deferred(self._run_deferred)

    def _changed(self, added: int, deleted: int) -> None:
        self._gen += 1
        if not self._callbacks:
            self._n_add = self._n_del = 0
            return
        self._n_add += added
        self._n_del += deleted
        deferred = self._deferred
        if deferred is None:
            self._run_callbacks()
        else:
            deferred.schedule()

    def _run_deferred(self, arg: Any) -> None:
        self._run_callbacks()

    def _run_callbacks(self) -> None:
        n_add, n_del = self._n_add, self._n_del
        if not (n_add or n_del) or not self._callbacks:
            return
        self._n_add = self._n_del = 0
        info = CallbackInfo(self._len + n_del - n_add, n_add, n_del)
        me = cast("Buffer", self)
        for handle in list(self._callbacks):
            if handle.enabled and handle in self._callbacks:
                handle.callback(me, info)

    def free(self) -> None:
        """Drop every byte without callbacks, running reference cleanups.

        The Python form of evbuffer_free: frozen ends are ignored and the
        callbacks are unregistered.
        """
        segs, self._segs = self._segs, _NO_SEGS
        self._len = 0
        self._spare = None
        self._reserved = None
        self._callbacks.clear()
        self._gen += 1
        for seg in segs:
            if seg.owner is not None:
                seg.owner.release()

    def __enter__(self: _B) -> _B:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()
