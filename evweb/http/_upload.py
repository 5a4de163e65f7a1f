"""Request bodies as the connection sends them: bytes at once, or a stream pulled as it drains.

A stream (an iterable of bytes or a binary file) is read one piece at a
time, only when the BufferEvent's output has drained below the low mark,
so an upload of any size holds a bounded amount in memory. A file's size
becomes the Content-Length when it is a regular file; other streams go
chunked unless the caller set a Content-Length (then the stream must match
it exactly, else the request fails rather than desynchronise the
connection).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterable, Iterator
from typing import Any

from evweb.errors import ConfigError

PIECE = 64 * 1024
"""Bytes read from a stream for one write."""


class StreamBody:
    """A body read piece by piece; ``length`` is None when it must be sent chunked."""

    __slots__ = ("_file", "_iter", "length", "sent")

    def __init__(self, source: Any, length: int | None) -> None:
        self._file = source if _is_file(source) else None
        self._iter: Iterator[Any] | None = None if self._file is not None else iter(source)
        self.length = length
        self.sent = 0

    def next_piece(self) -> bytes:
        """The next non-empty piece, or b'' at the end (ConfigError when a piece is not bytes)."""
        if self._file is not None:
            piece = _as_bytes(self._file.read(PIECE))
            self.sent += len(piece)
            return piece
        if self._iter is not None:
            for item in self._iter:
                piece = _as_bytes(item)
                if piece:  # an empty piece would end a chunked body: skip it
                    self.sent += len(piece)
                    return piece
            self._iter = None
        return b""

    def close(self) -> None:
        """Release the source (generators are closed; files are the caller's)."""
        close = getattr(self._iter, "close", None)
        if close is not None:
            close()
        self._iter = None


def _as_bytes(piece: Any) -> bytes:
    if isinstance(piece, bytes):
        return piece
    if isinstance(piece, str):
        return piece.encode("utf-8")
    if isinstance(piece, (bytearray, memoryview)):
        return bytes(piece)
    raise ConfigError(f"a body stream must yield bytes, got {type(piece).__name__}")


def _is_file(source: Any) -> bool:
    return isinstance(source, io.IOBase) or hasattr(source, "read")


def file_length(source: Any) -> int | None:
    """Bytes left in a regular file from its position, or None when its size is unknown."""
    try:
        fd = source.fileno()
        st = os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    try:
        pos = int(source.tell())
    except (AttributeError, OSError, ValueError):
        return None
    return max(0, st.st_size - pos)


def prepare(body: Any, declared: int | None) -> bytes | StreamBody:
    """The body as bytes to send whole, or a StreamBody (``declared``: a Content-Length set)."""
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if _is_file(body):
        length = declared if declared is not None else file_length(body)
        return StreamBody(body, length)
    if isinstance(body, Iterable):
        return StreamBody(body, declared)
    raise ConfigError(f"cannot send a body of type {type(body).__name__}")
