"""Searching a buffer's segments: substrings, ends of lines, runs of bytes.

Searches never walk bytes in Python: each segment is searched with the
``find`` of the object underneath (bytearray, bytes, mmap), and a match that
straddles a boundary is found in a small window of ``2 * len(what) - 2``
bytes copied around it, so a scan stays linear in the bytes it covers.
End-of-line rules are libevent's (see :class:`evweb.io.EOL`).
"""

from __future__ import annotations

from collections import deque

from evweb.errors import BufferArgumentError
from evweb.io._callbacks import EOL
from evweb.io._segments import Segment, gather, locate


def find(segs: deque[Segment], what: bytes, start: int, end: int) -> int:
    """Position of the first ``what`` in ``[start, end)`` of the buffer, or -1."""
    m = len(what)
    if end - start < m:
        return -1
    idx, at = locate(segs, start)
    pos = start - (at - segs[idx].off) if idx < len(segs) else start
    nsegs = len(segs)
    while idx < nsegs:
        seg = segs[idx]
        seg_end = pos + seg.end - seg.off  # buffer position of the segment's end
        hi = min(end, seg_end)
        r = seg.find(what, at, seg.off + (hi - pos))
        if r >= 0:
            return pos + r - seg.off
        if hi >= end:
            return -1
        if m > 1:  # a match may straddle into the next segments
            # Earlier starts were covered by the previous segment's window.
            w_start = max(start, pos, hi - m + 1)
            w_at = seg.off + (w_start - pos)
            window = gather(segs, idx, w_at, min(end, w_start + 2 * m - 2) - w_start)
            r = window.find(what)
            if r >= 0 and w_start + r < hi:
                return w_start + r
        pos = seg_end
        idx += 1
        if idx < nsegs:
            at = segs[idx].off
    return -1


def span(segs: deque[Segment], pos: int, chars: bytes) -> int:
    """How many bytes from ``pos`` on are all in ``chars`` (libevent's strspn)."""
    idx, at = locate(segs, pos)
    count = 0
    nsegs = len(segs)
    while idx < nsegs:
        seg = segs[idx]
        mem = seg.mem if seg.mem is not None else seg.load()
        while at < seg.end:
            chunk = bytes(mem[at : min(seg.end, at + 64)])
            run = len(chunk) - len(chunk.lstrip(chars))
            count += run
            if run < len(chunk):
                return count
            at += run
        idx += 1
        if idx < nsegs:
            at = segs[idx].off
    return count


def byte_at(segs: deque[Segment], pos: int) -> int:
    """The byte at buffer position ``pos`` (< len)."""
    idx, at = locate(segs, pos)
    return segs[idx].load()[at]


def search_eol(segs: deque[Segment], length: int, start: int, style: int) -> tuple[int, int]:
    """(position, length) of the first EOL of ``style`` from ``start``; (-1, 0) if none."""
    if style == EOL.LF or style == EOL.NUL:
        pos = find(segs, b"\n" if style == EOL.LF else b"\0", start, length)
        return (pos, 1) if pos >= 0 else (-1, 0)
    if style == EOL.CRLF_STRICT:
        pos = find(segs, b"\r\n", start, length)
        return (pos, 2) if pos >= 0 else (-1, 0)
    if style == EOL.CRLF:
        pos = find(segs, b"\n", start, length)
        if pos < 0:
            return -1, 0
        if pos > start and byte_at(segs, pos - 1) == 13:  # CR before the LF
            return pos - 1, 2
        return pos, 1
    if style == EOL.ANY:  # the first CR or LF, and the whole run of them after it
        lf = find(segs, b"\n", start, length)
        cr = find(segs, b"\r", start, lf if lf >= 0 else length)
        pos = cr if cr >= 0 else lf
        return (pos, span(segs, pos, b"\r\n")) if pos >= 0 else (-1, 0)
    raise BufferArgumentError(f"unknown EOL style {style!r}")
