"""BufferEvent constants with libevent's values (``BEV_EVENT_*``, ``BEV_OPT_*``, flush modes).

Event bits are plain ints: they are OR-ed on every read and write.
"""

from __future__ import annotations

import enum

from evweb.reactor.flags import name_bits

# --- what happened (the event callback's ``what``) ---
READING = 0x01
"""The event happened while reading."""
WRITING = 0x02
"""The event happened while writing."""
EOF = 0x10
"""The peer closed the connection."""
ERROR = 0x20
"""An error; the exception is in :attr:`BufferEvent.error`."""
TIMEOUT = 0x40
"""A read or write timeout expired; that direction is now disabled."""
CONNECTED = 0x80
"""A connect (or a TLS handshake) finished."""


class BevEvent(enum.IntFlag):
    """The same bits as a flag type, for user code: ``what & BevEvent.EOF``."""

    READING = READING
    WRITING = WRITING
    EOF = EOF
    ERROR = ERROR
    TIMEOUT = TIMEOUT
    CONNECTED = CONNECTED


class BevOption(enum.IntFlag):
    """Options of a BufferEvent (``BEV_OPT_*``)."""

    NONE = 0
    CLOSE_ON_FREE = 1 << 0
    """Closing the BufferEvent closes its socket."""
    THREADSAFE = 1 << 1
    """Accepted for compatibility; use a thread-safe EventBase."""
    DEFER_CALLBACKS = 1 << 2
    """Run the user's callbacks from the loop, after the current callback, not inline."""
    UNLOCK_CALLBACKS = 1 << 3
    """Accepted for compatibility (libevent: release the lock around deferred callbacks)."""


class Flush(enum.IntEnum):
    """Flush modes (``BEV_NORMAL``, ``BEV_FLUSH``, ``BEV_FINISHED``)."""

    NORMAL = 0
    FLUSH = 1
    FINISHED = 2


DEFAULT_MAX_SINGLE_READ = 256 * 1024
"""Bytes read per readiness at most, unless changed.

libevent 2.2 uses 16 KiB; in Python each read costs a pass through the loop,
so evweb takes asyncio's 256 KiB (``bench/io.py``: three times the echo
throughput). The high watermark and rate limits still cap a read.
"""
DEFAULT_MAX_SINGLE_WRITE = 256 * 1024
"""Bytes written per readiness at most, unless changed (see the read default)."""


def describe(what: int) -> str:
    """Name the bits of an event callback's ``what``, e.g. ``'READING|EOF'``."""
    return name_bits(what, _NAMES)


_NAMES = (
    (READING, "READING"),
    (WRITING, "WRITING"),
    (EOF, "EOF"),
    (ERROR, "ERROR"),
    (TIMEOUT, "TIMEOUT"),
    (CONNECTED, "CONNECTED"),
)
