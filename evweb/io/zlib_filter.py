"""A zlib filter pair for :class:`~evweb.io.filter.FilterBufferEvent` (libevent's regress_zlib).

The output filter compresses, the input filter decompresses; put each on
the end that sends or receives::

    deflate_in, deflate_out = zlib_filters()
    sender = FilterBufferEvent(a, None, deflate_out)
    inflate_in, _ = zlib_filters()
    receiver = FilterBufferEvent(b, inflate_in, None)

Flush modes map to zlib's: NORMAL compresses what it can (zlib may keep
some back), FLUSH emits a sync point (``Z_SYNC_FLUSH``) so the receiver can
decode everything sent so far, FINISHED ends the stream (``Z_FINISH``).
Corrupt input makes the input filter raise :class:`zlib.error`, which the
FilterBufferEvent reports as ``READING|ERROR``.
"""

from __future__ import annotations

import zlib

from evweb.io.bevflags import Flush
from evweb.io.buffer import Buffer
from evweb.io.filter import Filter, FilterResult

CHUNK = 65536
"""Bytes handed to zlib per call."""


class _Deflate:
    """The output filter: compress ``src`` into ``dst``."""

    __slots__ = ("_finished", "_z")

    def __init__(self, level: int) -> None:
        self._z = zlib.compressobj(level)
        self._finished = False

    def __call__(self, src: Buffer, dst: Buffer, dst_limit: int, mode: Flush) -> FilterResult:
        produced = consumed = 0
        while src and (dst_limit < 0 or produced < dst_limit):
            chunk = src.copyout(CHUNK)
            out = self._z.compress(chunk)
            src.drain(len(chunk))
            consumed += len(chunk)
            produced += len(out)
            dst.add(out)
        if mode == Flush.FLUSH and not self._finished:
            out = self._z.flush(zlib.Z_SYNC_FLUSH)
            produced += len(out)
            dst.add(out)
        elif mode == Flush.FINISHED and not self._finished and not src:
            self._finished = True
            out = self._z.flush(zlib.Z_FINISH)
            produced += len(out)
            dst.add(out)
        return FilterResult.OK if consumed or produced else FilterResult.NEED_MORE


class _Inflate:
    """The input filter: decompress ``src`` into ``dst``, at most ``dst_limit`` bytes."""

    __slots__ = ("_finished", "_z")

    def __init__(self) -> None:
        self._z = zlib.decompressobj()
        self._finished = False

    def __call__(self, src: Buffer, dst: Buffer, dst_limit: int, mode: Flush) -> FilterResult:
        produced = consumed = 0
        z = self._z
        while src and not z.eof and (dst_limit < 0 or produced < dst_limit):
            chunk = src.copyout(CHUNK)
            room = 0 if dst_limit < 0 else dst_limit - produced
            out = z.decompress(chunk, room)
            used = len(chunk) - len(z.unconsumed_tail) - (len(z.unused_data) if z.eof else 0)
            src.drain(used)
            consumed += used
            produced += len(out)
            dst.add(out)
            if not used and not out:
                break
        if z.eof and src:
            raise zlib.error(f"{len(src)} bytes after the end of the compressed stream")
        if mode == Flush.FINISHED and not self._finished and not src:
            self._finished = True
            out = z.flush()
            produced += len(out)
            dst.add(out)
        if not produced:
            return FilterResult.NEED_MORE  # a partial block: wait for more input
        return FilterResult.OK


def zlib_filters(level: int = zlib.Z_DEFAULT_COMPRESSION) -> tuple[Filter, Filter]:
    """``(input_filter, output_filter)``: decompress incoming bytes, compress outgoing ones.

    Each call makes fresh zlib streams; use one pair per FilterBufferEvent.
    """
    return _Inflate(), _Deflate(level)
