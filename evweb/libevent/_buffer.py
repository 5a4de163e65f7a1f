"""``event2/buffer.h`` over :class:`evweb.io.Buffer`.

C shapes become Python ones: ``(data, len)`` pairs are one bytes-like
object; out-buffers are returned (``evbuffer_remove(buf, n)`` returns the
bytes, ``evbuffer_readln`` returns ``(line, n_read)``); a ``struct
evbuffer_ptr`` is an int position (-1 when not found); iovec arrays are lists
of memoryviews. Functions returning ``int`` in C return 0 / -1 (or a count).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from evweb.errors import EvwebBufferError, EvwebError
from evweb.io import (
    CLOSE_ON_FREE,
    DISABLE_LOCKING,
    DISABLE_MMAP,
    DISABLE_SENDFILE,
    DRAINS_TO_FD,
    EOL,
    Buffer,
    BytesLike,
    CallbackHandle,
    CallbackInfo,
    FileSegment,
)
from evweb.libevent._status import failed
from evweb.reactor import EventBase

EVBUFFER_EOL_ANY = int(EOL.ANY)
EVBUFFER_EOL_CRLF = int(EOL.CRLF)
EVBUFFER_EOL_CRLF_STRICT = int(EOL.CRLF_STRICT)
EVBUFFER_EOL_LF = int(EOL.LF)
EVBUFFER_EOL_NUL = int(EOL.NUL)
EVBUFFER_FLAG_DRAINS_TO_FD = DRAINS_TO_FD
EVBUFFER_CB_ENABLED = 1
EVBUFFER_PTR_SET = 0
EVBUFFER_PTR_ADD = 1
EVBUF_FS_CLOSE_ON_FREE = CLOSE_ON_FREE
EVBUF_FS_DISABLE_MMAP = DISABLE_MMAP
EVBUF_FS_DISABLE_SENDFILE = DISABLE_SENDFILE
EVBUF_FS_DISABLE_LOCKING = DISABLE_LOCKING

evbuffer_cb_func = Callable[[Buffer, CallbackInfo, Any], object]
Fd = int | socket.socket


def _status(name: str, fn: Callable[[], object]) -> int:
    try:
        fn()
    except EvwebError as exc:
        return failed(name, exc)
    return 0


def evbuffer_new() -> Buffer:
    """``Buffer()``."""
    return Buffer()


def evbuffer_free(buf: Buffer) -> None:
    """``buf.free()``: drop the bytes, running reference cleanups."""
    buf.free()


def evbuffer_get_length(buf: Buffer) -> int:
    """``len(buf)``."""
    return len(buf)


def evbuffer_get_contiguous_space(buf: Buffer) -> int:
    """``buf.contiguous_space``: bytes in the first segment."""
    return buf.contiguous_space


def evbuffer_set_max_read(buf: Buffer, n: int) -> int:
    """``buf.max_read = n``; 0 or -1."""
    return _status("evbuffer_set_max_read", lambda: setattr(buf, "max_read", n))


def evbuffer_get_max_read(buf: Buffer) -> int:
    """``buf.max_read``."""
    return buf.max_read


def evbuffer_set_flags(buf: Buffer, flags: int) -> int:
    """``buf.set_flags(flags)``; 0 or -1."""
    return _status("evbuffer_set_flags", lambda: buf.set_flags(flags))


def evbuffer_clear_flags(buf: Buffer, flags: int) -> int:
    """``buf.clear_flags(flags)``; 0 or -1."""
    return _status("evbuffer_clear_flags", lambda: buf.clear_flags(flags))


def evbuffer_defer_callbacks(buf: Buffer, base: EventBase) -> int:
    """``buf.defer_callbacks(base)``; 0."""
    buf.defer_callbacks(base)
    return 0


def evbuffer_expand(buf: Buffer, n: int) -> int:
    """``buf.expand(n)``; 0 or -1."""
    return _status("evbuffer_expand", lambda: buf.expand(n))


def evbuffer_add(buf: Buffer, data: BytesLike) -> int:
    """``buf.add(data)``; 0 or -1."""
    return _status("evbuffer_add", lambda: buf.add(data))


def evbuffer_add_printf(buf: Buffer, fmt: str, *args: Any) -> int:
    """Add ``fmt % args`` (UTF-8); the number of bytes added, or -1."""
    data = (fmt % args if args else fmt).encode()
    return len(data) if evbuffer_add(buf, data) == 0 else -1


def evbuffer_add_reference(
    buf: Buffer,
    data: BytesLike,
    cleanup: Callable[[BytesLike, int, Any], object] | None = None,
    arg: Any = None,
) -> int:
    """``buf.add_reference(data, cleanup)``; ``cleanup(data, len, arg)``; 0 or -1."""
    n = memoryview(data).nbytes
    done = None if cleanup is None else (lambda: cleanup(data, n, arg))
    return _status("evbuffer_add_reference", lambda: buf.add_reference(data, done))


def evbuffer_add_buffer(dst: Buffer, src: Buffer) -> int:
    """``dst.add_buffer(src)``; 0 or -1."""
    return _status("evbuffer_add_buffer", lambda: dst.add_buffer(src))


def evbuffer_add_buffer_reference(dst: Buffer, src: Buffer) -> int:
    """``dst.add_buffer_reference(src)``; 0 or -1."""
    return _status("evbuffer_add_buffer_reference", lambda: dst.add_buffer_reference(src))


def evbuffer_prepend(buf: Buffer, data: BytesLike) -> int:
    """``buf.prepend(data)``; 0 or -1."""
    return _status("evbuffer_prepend", lambda: buf.prepend(data))


def evbuffer_prepend_buffer(dst: Buffer, src: Buffer) -> int:
    """``dst.prepend_buffer(src)``; 0 or -1."""
    return _status("evbuffer_prepend_buffer", lambda: dst.prepend_buffer(src))


def evbuffer_add_file(buf: Buffer, fd: int, offset: int, length: int) -> int:
    """``buf.add_file(fd, offset, length)`` (fd owned from here on); 0 or -1."""
    return _status("evbuffer_add_file", lambda: buf.add_file(fd, offset, length))


def evbuffer_file_segment_new(fd: int, offset: int, length: int, flags: int) -> FileSegment | None:
    """``FileSegment(fd, offset, length, flags)``, or None on failure."""
    try:
        return FileSegment(fd, offset, length, flags)
    except (EvwebError, OSError) as exc:
        failed("evbuffer_file_segment_new", exc)
        return None


def evbuffer_file_segment_free(seg: FileSegment) -> None:
    """``seg.free()``: drop the creator's reference."""
    seg.free()


def evbuffer_file_segment_add_cleanup_cb(
    seg: FileSegment, cb: Callable[[FileSegment, int, Any], object], arg: Any = None
) -> None:
    """``seg.add_cleanup(...)``: ``cb(seg, flags, arg)`` once the segment is freed."""
    seg.add_cleanup(lambda s, flags: cb(s, flags, arg))


def evbuffer_add_file_segment(buf: Buffer, seg: FileSegment, offset: int, length: int) -> int:
    """``buf.add_file_segment(seg, offset, length)``; 0 or -1."""
    return _status("evbuffer_add_file_segment", lambda: buf.add_file_segment(seg, offset, length))


def evbuffer_remove(buf: Buffer, n: int) -> bytes | None:
    """``buf.remove(n)``: the bytes removed, or None (C's -1)."""
    try:
        return buf.remove(n)
    except EvwebBufferError as exc:
        failed("evbuffer_remove", exc)
        return None


def evbuffer_copyout(buf: Buffer, n: int) -> bytes | None:
    """``buf.copyout(n)``, or None (C's -1)."""
    return evbuffer_copyout_from(buf, 0, n)


def evbuffer_copyout_from(buf: Buffer, pos: int, n: int) -> bytes | None:
    """``buf.copyout(n, pos)``, or None (C's -1)."""
    try:
        return buf.copyout(n, pos)
    except EvwebBufferError as exc:
        failed("evbuffer_copyout_from", exc)
        return None


def evbuffer_remove_buffer(src: Buffer, dst: Buffer, n: int) -> int:
    """``src.remove_buffer(dst, n)``: bytes moved, or -1."""
    try:
        return src.remove_buffer(dst, n)
    except EvwebBufferError as exc:
        return failed("evbuffer_remove_buffer", exc)


def evbuffer_drain(buf: Buffer, n: int) -> int:
    """``buf.drain(n)``; 0 or -1."""
    return _status("evbuffer_drain", lambda: buf.drain(n))


def evbuffer_pullup(buf: Buffer, n: int) -> memoryview | None:
    """``buf.pullup(n)``, or None when ``n`` exceeds the length."""
    try:
        return buf.pullup(n)
    except EvwebBufferError as exc:
        failed("evbuffer_pullup", exc)
        return None


def evbuffer_peek(buf: Buffer, n: int = -1, start: int | None = None) -> list[memoryview]:
    """``buf.peek(n, start)``: the extents (their count is C's return value)."""
    try:
        return buf.peek(n, 0 if start is None else start)
    except EvwebBufferError as exc:
        failed("evbuffer_peek", exc)
        return []


def evbuffer_readln(buf: Buffer, style: int) -> tuple[bytes | None, int]:
    """``buf.readln(style)`` as ``(line or None, n_read_out)``."""
    try:
        line = buf.readln(style)
    except EvwebBufferError as exc:
        failed("evbuffer_readln", exc)
        line = None
    return line, 0 if line is None else len(line)


def evbuffer_readline(buf: Buffer) -> bytes | None:
    """Compat: ``buf.readln(EOL.ANY)``."""
    return evbuffer_readln(buf, EVBUFFER_EOL_ANY)[0]


def evbuffer_ptr_set(buf: Buffer, pos: int, position: int, how: int) -> int:
    """The new position (``position``, or ``pos + position`` with PTR_ADD); -1 if past the end."""
    new = position if how == EVBUFFER_PTR_SET else pos + position
    return new if pos >= 0 and 0 <= new <= len(buf) else -1


def evbuffer_search(buf: Buffer, what: BytesLike, start: int | None = None) -> int:
    """``buf.search(what, start)``: position or -1."""
    return evbuffer_search_range(buf, what, start, None)


def evbuffer_search_range(buf: Buffer, what: BytesLike, start: int | None, end: int | None) -> int:
    """``buf.search(what, start, end)``: position or -1."""
    try:
        return buf.search(what, 0 if start is None else start, end)
    except EvwebBufferError as exc:
        return failed("evbuffer_search_range", exc)


def evbuffer_search_eol(buf: Buffer, start: int | None, style: int) -> tuple[int, int]:
    """``buf.search_eol(start, style)`` as ``(position or -1, eol_len_out)``."""
    try:
        return buf.search_eol(0 if start is None else start, style)
    except EvwebBufferError as exc:
        failed("evbuffer_search_eol", exc)
        return -1, 0


def evbuffer_find(buf: Buffer, what: BytesLike) -> int:
    """Compat: position of ``what`` or -1."""
    return evbuffer_search(buf, what)


def evbuffer_reserve_space(buf: Buffer, size: int) -> list[memoryview]:
    """``[buf.reserve(size)]`` (one extent), or [] (C's -1)."""
    try:
        return [buf.reserve(size)]
    except EvwebBufferError as exc:
        failed("evbuffer_reserve_space", exc)
        return []


def evbuffer_commit_space(buf: Buffer, vecs: list[memoryview] | int) -> int:
    """``buf.commit(...)`` of the (possibly shortened) extent; 0 or -1."""
    if isinstance(vecs, list):
        if len(vecs) > 1:
            return failed("evbuffer_commit_space", EvwebBufferError("more than one extent"))
        written: memoryview | int = vecs[0] if vecs else 0
    else:
        written = vecs
    return _status("evbuffer_commit_space", lambda: buf.commit(written))


def evbuffer_read(buf: Buffer, fd: Fd, howmuch: int) -> int:
    """``buf.read_from(fd, howmuch)``: bytes read, 0 at EOF, -1 on error."""
    try:
        return buf.read_from(fd, howmuch)
    except (EvwebError, OSError) as exc:
        return failed("evbuffer_read", exc)


def evbuffer_write(buf: Buffer, fd: Fd) -> int:
    """``buf.write_to(fd)``: bytes written or -1."""
    return evbuffer_write_atmost(buf, fd, -1)


def evbuffer_write_atmost(buf: Buffer, fd: Fd, howmuch: int) -> int:
    """``buf.write_to(fd, howmuch)``: bytes written or -1."""
    try:
        return buf.write_to(fd, howmuch)
    except (EvwebError, OSError) as exc:
        return failed("evbuffer_write_atmost", exc)


def evbuffer_freeze(buf: Buffer, at_front: int) -> int:
    """``buf.freeze(bool(at_front))``; 0."""
    buf.freeze(bool(at_front))
    return 0


def evbuffer_unfreeze(buf: Buffer, at_front: int) -> int:
    """``buf.unfreeze(bool(at_front))``; 0."""
    buf.unfreeze(bool(at_front))
    return 0


def evbuffer_add_cb(buf: Buffer, cb: evbuffer_cb_func, arg: Any = None) -> CallbackHandle:
    """``buf.add_callback(...)``: ``cb(buf, info, arg)``; returns the entry."""
    handle = buf.add_callback(lambda b, info: cb(b, info, arg))
    handle.key = (cb, arg)
    return handle


def evbuffer_remove_cb_entry(buf: Buffer, ent: CallbackHandle) -> int:
    """``buf.remove_callback(ent)``; 0 or -1."""
    return _status("evbuffer_remove_cb_entry", lambda: buf.remove_callback(ent))


def evbuffer_remove_cb(buf: Buffer, cb: evbuffer_cb_func, arg: Any = None) -> int:
    """Remove the first entry added with this ``(cb, arg)``; 0 or -1."""
    for handle in buf.callbacks:
        key = handle.key
        if isinstance(key, tuple) and key[0] is cb and key[1] is arg:
            buf.remove_callback(handle)
            return 0
    return -1


def evbuffer_cb_set_flags(buf: Buffer, ent: CallbackHandle, flags: int) -> int:
    """Enable the entry when ``flags`` has EVBUFFER_CB_ENABLED; 0."""
    if flags & EVBUFFER_CB_ENABLED:
        ent.enable()
    return 0


def evbuffer_cb_clear_flags(buf: Buffer, ent: CallbackHandle, flags: int) -> int:
    """Disable the entry when ``flags`` has EVBUFFER_CB_ENABLED; 0."""
    if flags & EVBUFFER_CB_ENABLED:
        ent.disable()
    return 0
