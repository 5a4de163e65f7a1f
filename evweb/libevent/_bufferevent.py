"""``event2/bufferevent.h``: socket bufferevents over :class:`evweb.io.SocketBufferEvent`.

The ``struct bufferevent *`` is the SocketBufferEvent itself, so its
Pythonic methods work on it too. Callbacks keep C's shapes, which are
evweb's: ``readcb(bev, arg)``, ``writecb(bev, arg)``, ``eventcb(bev, what,
arg)`` with ``what`` made of the ``BEV_EVENT_*`` bits.

C shapes become Python ones: ``bufferevent_write(bev, data, size)`` takes
a bytes-like object (``size`` optional), ``bufferevent_read(bev, size)``
returns the bytes read, ``bufferevent_getcb`` returns its four
out-parameters as a tuple, ``bufferevent_getwatermark`` fills lists passed
for ``lowmark`` / ``highmark`` (``[n]``), a ``struct timeval *`` is float
seconds or None, a sockaddr is Python's address tuple. Functions returning
``int`` in C return 0, or -1 with the reason logged at DEBUG on
``evweb.libevent``; ``bufferevent_socket_new`` returns None for NULL.

``bufferevent_socket_connect_hostname`` tries every address of the name
(Happy Eyeballs, :func:`evweb.io.connect.connect_hostname`), not only the
first as libevent does. A None ``dns_base`` resolves in worker threads
instead of blocking; any :class:`evweb.io.resolve.Resolver` may be passed
as the ``dns_base``. ``bufferevent_socket_connect`` with a NULL address
("the fd is already connecting") is not offered and returns -1.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from evweb.errors import EvwebError
from evweb.io import bevflags
from evweb.io.bevflags import DEFAULT_MAX_SINGLE_READ, DEFAULT_MAX_SINGLE_WRITE, Flush
from evweb.io.buffer import Buffer
from evweb.io.bufferevent import BufferEvent
from evweb.io.connect import connect_hostname, dns_error
from evweb.io.resolve import Resolver
from evweb.io.socket_bev import SocketBufferEvent
from evweb.libevent._status import Timeval, failed
from evweb.reactor import READ, WRITE, CommonTimeout, EventBase

BEV_EVENT_READING = bevflags.READING
BEV_EVENT_WRITING = bevflags.WRITING
BEV_EVENT_EOF = bevflags.EOF
BEV_EVENT_ERROR = bevflags.ERROR
BEV_EVENT_TIMEOUT = bevflags.TIMEOUT
BEV_EVENT_CONNECTED = bevflags.CONNECTED
BEV_OPT_CLOSE_ON_FREE = 1 << 0
BEV_OPT_THREADSAFE = 1 << 1
BEV_OPT_DEFER_CALLBACKS = 1 << 2
BEV_OPT_UNLOCK_CALLBACKS = 1 << 3

_SSIZE_MAX = (1 << 63) - 1

bufferevent_data_cb = Callable[[BufferEvent, Any], object]
"""``readcb(bev, arg)`` / ``writecb(bev, arg)``."""
bufferevent_event_cb = Callable[[BufferEvent, int, Any], object]
"""``eventcb(bev, what, arg)``: ``what`` holds ``BEV_EVENT_*`` bits."""


def _status(name: str, fn: Callable[[], object]) -> int:
    try:
        fn()
    except (EvwebError, OSError) as exc:
        return failed(name, exc)
    return 0


def _seconds(tv: Timeval) -> float | None:
    return tv.duration if isinstance(tv, CommonTimeout) else tv


# --- socket bufferevents ----------------------------------------------------------------


def bufferevent_socket_new(
    base: EventBase, fd: int | socket.socket | None, options: int
) -> SocketBufferEvent | None:
    """``SocketBufferEvent(base, fd, options)``; ``fd`` -1 (or None) for one connect creates."""
    sock = None if fd is None or (isinstance(fd, int) and fd < 0) else fd
    try:
        return SocketBufferEvent(base, sock, options)
    except (EvwebError, OSError) as exc:
        failed("bufferevent_socket_new", exc)
        return None


def bufferevent_socket_connect(bev: SocketBufferEvent, sa: Any, socklen: int = 0) -> int:
    """``bev.connect(sa)``: 0 (the outcome reaches eventcb), -1 if it cannot start."""
    if sa is None:
        return failed("bufferevent_socket_connect", ValueError("a NULL address is not supported"))
    return _status("bufferevent_socket_connect", lambda: bev.connect(sa))


def bufferevent_socket_connect_hostname(
    bev: SocketBufferEvent, dns_base: Resolver | None, family: int, hostname: str, port: int
) -> int:
    """``connect_hostname(bev, hostname, port, family, dns_base)``: 0, or -1 if it cannot start."""
    return _status(
        "bufferevent_socket_connect_hostname",
        lambda: connect_hostname(bev, hostname, port, family, dns_base),
    )


def bufferevent_socket_get_dns_error(bev: SocketBufferEvent) -> int:
    """``evweb.io.connect.dns_error(bev)``: the EAI code of a failed resolution, else 0."""
    return dns_error(bev)


# --- callbacks and directions --------------------------------------------------------------


def bufferevent_setcb(
    bev: BufferEvent,
    readcb: bufferevent_data_cb | None,
    writecb: bufferevent_data_cb | None,
    eventcb: bufferevent_event_cb | None,
    cbarg: Any,
) -> None:
    """``bev.set_callbacks(readcb, writecb, eventcb, cbarg)``."""
    bev.set_callbacks(readcb, writecb, eventcb, cbarg)


def bufferevent_getcb(
    bev: BufferEvent,
) -> tuple[
    bufferevent_data_cb | None, bufferevent_data_cb | None, bufferevent_event_cb | None, Any
]:
    """``bev.get_callbacks()``: ``(readcb, writecb, eventcb, cbarg)``."""
    return bev.get_callbacks()


def bufferevent_enable(bev: BufferEvent, event: int) -> int:
    """``bev.enable(event)``: 0, or -1 on a freed bufferevent."""
    if bev.closed:
        return failed("bufferevent_enable", ValueError("the bufferevent is freed"))
    return _status("bufferevent_enable", lambda: bev.enable(event))


def bufferevent_disable(bev: BufferEvent, event: int) -> int:
    """``bev.disable(event)``: 0."""
    return _status("bufferevent_disable", lambda: bev.disable(event))


def bufferevent_get_enabled(bev: BufferEvent) -> int:
    """``bev.enabled``: EV_READ and/or EV_WRITE."""
    return bev.enabled


# --- data ----------------------------------------------------------------------------------


def bufferevent_write(bev: BufferEvent, data: Any, size: int | None = None) -> int:
    """``bev.write(data[:size])``: 0, or -1 (bad size, frozen output)."""
    if size is not None:
        if not 0 <= size <= len(data):
            return failed("bufferevent_write", ValueError(f"size {size} outside 0..{len(data)}"))
        data = memoryview(data)[:size]
    return _status("bufferevent_write", lambda: bev.write(data))


def bufferevent_write_buffer(bev: BufferEvent, buf: Buffer) -> int:
    """``bev.write_buffer(buf)``: moves all of ``buf`` to the output; 0 or -1."""
    return _status("bufferevent_write_buffer", lambda: bev.write_buffer(buf))


def bufferevent_read(bev: BufferEvent, size: int) -> bytes:
    """``bev.read(size)``: up to ``size`` bytes from the input (C's count is ``len()``)."""
    return bev.read(max(size, 0))


def bufferevent_read_buffer(bev: BufferEvent, buf: Buffer) -> int:
    """``bev.read_buffer(buf)``: moves the whole input to ``buf``; 0 or -1."""
    return _status("bufferevent_read_buffer", lambda: bev.read_buffer(buf))


def bufferevent_get_input(bev: BufferEvent) -> Buffer:
    """``bev.input``."""
    return bev.input


def bufferevent_get_output(bev: BufferEvent) -> Buffer:
    """``bev.output``."""
    return bev.output


def bufferevent_flush(bev: BufferEvent, iotype: int, mode: int) -> int:
    """``bev.flush(iotype, mode)`` (mode: BEV_NORMAL, BEV_FLUSH, BEV_FINISHED): 0 or -1."""
    try:
        return bev.flush(iotype, Flush(mode))
    except (EvwebError, ValueError) as exc:
        return failed("bufferevent_flush", exc)


# --- lifetime and fd --------------------------------------------------------------------------


def bufferevent_free(bev: BufferEvent) -> None:
    """``bev.close()``; the socket is closed only with BEV_OPT_CLOSE_ON_FREE."""
    bev.close()


def bufferevent_get_base(bev: BufferEvent) -> EventBase:
    """``bev.base``."""
    return bev.base


def bufferevent_getfd(bev: SocketBufferEvent) -> int:
    """``bev.fileno()``: the socket's fd, or -1."""
    return bev.fileno()


def bufferevent_setfd(bev: SocketBufferEvent, fd: int | socket.socket) -> int:
    """``bev.setfd(fd)``: 0, or -1 (freed bufferevent, bad fd)."""
    if bev.closed:
        return failed("bufferevent_setfd", ValueError("the bufferevent is freed"))
    return _status("bufferevent_setfd", lambda: bev.setfd(fd))


# --- watermarks, timeouts, single I/O sizes ------------------------------------------------------


def bufferevent_setwatermark(bev: BufferEvent, events: int, lowmark: int, highmark: int) -> None:
    """``bev.set_watermark(events, lowmark, highmark)`` (void in C: a refusal is only logged)."""
    _status("bufferevent_setwatermark", lambda: bev.set_watermark(events, lowmark, highmark))


def bufferevent_getwatermark(
    bev: BufferEvent, events: int, lowmark: list[int] | None, highmark: list[int] | None
) -> int:
    """``bev.get_watermark(events)`` into ``[low]``, ``[high]``; -1 unless READ or WRITE."""
    if events not in (READ, WRITE):
        return failed("bufferevent_getwatermark", ValueError(f"events {events:#x}"))
    low, high = bev.get_watermark(events)
    if lowmark is not None:
        lowmark[:] = [low]
    if highmark is not None:
        highmark[:] = [high]
    return 0


def bufferevent_set_timeouts(
    bev: BufferEvent, timeout_read: Timeval, timeout_write: Timeval
) -> int:
    """``bev.set_timeouts(read, write)`` (None: no timeout): 0, or -1 for a bad timeout."""
    read, write = _seconds(timeout_read), _seconds(timeout_write)
    for tv in (read, write):
        if tv is not None and not 0 <= tv < float("inf"):
            return failed("bufferevent_set_timeouts", ValueError(f"invalid timeout {tv!r}"))
    return _status("bufferevent_set_timeouts", lambda: bev.set_timeouts(read, write))


def bufferevent_set_max_single_read(bev: BufferEvent, size: int) -> int:
    """``bev.max_single_read = size``: 0 or > SSIZE_MAX gives the default; -1 if negative."""
    if size < 0:
        return failed("bufferevent_set_max_single_read", ValueError(f"size {size}"))
    bev.max_single_read = size if 0 < size <= _SSIZE_MAX else DEFAULT_MAX_SINGLE_READ
    return 0


def bufferevent_set_max_single_write(bev: BufferEvent, size: int) -> int:
    """``bev.max_single_write = size``: 0 or > SSIZE_MAX gives the default; -1 if negative."""
    if size < 0:
        return failed("bufferevent_set_max_single_write", ValueError(f"size {size}"))
    bev.max_single_write = size if 0 < size <= _SSIZE_MAX else DEFAULT_MAX_SINGLE_WRITE
    return 0


def bufferevent_get_max_single_read(bev: BufferEvent) -> int:
    """``bev.max_single_read``."""
    return bev.max_single_read


def bufferevent_get_max_single_write(bev: BufferEvent) -> int:
    """``bev.max_single_write``."""
    return bev.max_single_write
