"""Reading names from a message with compression, and writing them compressed.

Why it is shaped this way. A name on the wire is labels ending either in a
zero byte or in a 2-byte pointer to an earlier offset where the rest of the
name is (RFC 1035 §4.1.4). Pointers are what make hostile messages
expensive, so the reader's rules are:

* A pointer must point below the start of the run of labels it ends (the
  name's own start, then each target in turn): targets strictly decrease,
  so a chain cannot loop and a forward pointer is refused outright.
* A name is at most 255 bytes once expanded and labels at most 63; the
  label types 0x40 and 0x80 (RFC 6891 deprecated them) are refused.
* Every offset a name visits, label or pointer, is remembered with the
  name's text from there on, for this one message. A later pointer to any
  of them costs one dict lookup, and a chain of N pointers to pointers
  costs N steps in all, not N²: parsing is linear in the message's size.
  The memo lives and dies with the Reader (nothing global grows).

The writer keeps, for each name written, the offsets of its suffixes keyed
by their exact wire bytes: a later name with the same suffix, in the same
case, becomes its unshared labels and a pointer. Case-sensitive matching
keeps every name's case as the caller wrote it (0x20 depends on that); a
server that builds answers from the question's name gets full compression.
Offsets beyond 0x3FFF cannot be pointed at and are not remembered.
"""

from __future__ import annotations

import struct

from evweb.dns.names import MAX_NAME, encode_name, label_text
from evweb.errors import DNSFormatError, DNSValueError

_POINTER = struct.Struct("!H")
_MAX_POINTER = 0x3FFF


class Reader:
    """The bytes of one message being parsed and the names decoded so far."""

    __slots__ = ("_names", "data", "size")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        # offset -> (text of the name from there on, its expanded wire length)
        self._names: dict[int, tuple[str, int]] = {}

    def name(self, pos: int, end: int) -> tuple[str, int]:
        """Read the name at ``pos``, its own bytes ending by ``end``.

        Returns the name and the offset after its own bytes (after its first
        pointer, if it has one).
        """
        data = self.data
        start = pos
        offsets: list[int] = []  # each label's or pointer's offset, in order
        labels: list[str | None] = []  # the label's text there, None for a pointer
        limit = end  # in place, labels end by end; at a pointer's target, by the message's
        floor = pos  # a pointer must point below this
        after = 0  # the offset after the name's own bytes, once known
        length = 0
        while True:
            if after:  # following pointers: earlier names may have been here
                known = self._names.get(pos)
                if known is not None:
                    break
            if pos >= limit:
                raise DNSFormatError("a name runs past the end of its data", pos)
            size = data[pos]
            if not size:
                known = (".", 1)
                after = after or pos + 1
                break
            if size < 0x40:
                stop = pos + 1 + size
                if stop > limit:
                    raise DNSFormatError("a label runs past the end of its data", pos)
                length += size + 1
                if length >= MAX_NAME:
                    raise DNSFormatError(f"a name is over {MAX_NAME} bytes", start)
                offsets.append(pos)
                labels.append(label_text(data[pos + 1 : stop]))
                pos = stop
                continue
            target = self._target(pos, size, limit, floor)
            offsets.append(pos)
            labels.append(None)
            after = after or pos + 2
            pos = floor = target
            limit = self.size
        return self._remember(offsets, labels, known, length, start), after

    def _remember(
        self, offsets: list[int], labels: list[str | None], known: tuple[str, int], length: int,
        start: int,
    ) -> str:  # fmt: skip
        """Check the name's expanded length, and remember its text from each offset visited."""
        text, total = known
        if length + total > MAX_NAME:
            raise DNSFormatError(f"a name is over {MAX_NAME} bytes", start)
        names = self._names
        data = self.data
        for index in range(len(offsets) - 1, -1, -1):  # the suffixes, shortest first
            label = labels[index]
            if label is not None:
                text = label + "." if text == "." else label + "." + text
                total += data[offsets[index]] + 1
            names[offsets[index]] = (text, total)
        return text

    def _target(self, pos: int, size: int, limit: int, floor: int) -> int:
        """The offset the pointer at ``pos`` points to, if the rules allow it."""
        if size < 0xC0:
            raise DNSFormatError(f"label type {size & 0xC0:#04x} is not supported", pos)
        if pos + 2 > limit:
            raise DNSFormatError("a compression pointer runs past the end of its data", pos)
        target = ((size & 0x3F) << 8) | self.data[pos + 1]
        if target >= self.size:
            raise DNSFormatError(f"a compression pointer to {target} is out of range", pos)
        if target >= floor:
            raise DNSFormatError(
                f"a compression pointer to {target} does not point before {floor}", pos
            )
        return target


class Writer:
    """A message being built: its bytes and the offsets of the names already written."""

    __slots__ = ("_added", "_encoded", "_suffixes", "buf")

    def __init__(self) -> None:
        self.buf = bytearray(12)  # the header goes in last, once the counts are known
        self._suffixes: dict[bytes, int] = {}  # a name suffix's wire bytes -> its offset
        self._added: list[bytes] = []  # the keys of _suffixes, in the order written
        self._encoded: dict[str, tuple[bytes, tuple[int, ...]]] = {}

    def name(self, name: str, compress: bool = True) -> None:
        """Append ``name``; when ``compress``, its longest suffix already written becomes a pointer.

        Pass ``compress=False`` for names RFC 3597 forbids compressing, such as SRV's target.
        """
        encoded = self._encoded.get(name)
        if encoded is None:
            encoded = self._encoded[name] = encode_name(name)
        wire, starts = encoded
        buf = self.buf
        base = len(buf)
        if compress:
            suffixes = self._suffixes
            for start in starts:
                offset = suffixes.get(wire[start:])
                if offset is not None:
                    buf += wire[:start]
                    buf += _POINTER.pack(0xC000 | offset)
                    self._note(wire, starts, start, base)
                    return
        buf += wire
        self._note(wire, starts, len(wire), base)

    def _note(self, wire: bytes, starts: tuple[int, ...], stop: int, base: int) -> None:
        """Remember where the suffixes written in full (those starting before ``stop``) are."""
        suffixes = self._suffixes
        for start in starts:
            if start >= stop or base + start > _MAX_POINTER:
                return
            key = wire[start:]
            if key not in suffixes:
                suffixes[key] = base + start
                self._added.append(key)

    def rollback(self, mark: int) -> None:
        """Forget everything written from offset ``mark`` on (a record that did not fit)."""
        del self.buf[mark:]
        added = self._added
        while added and self._suffixes[added[-1]] >= mark:
            del self._suffixes[added.pop()]


def check_range(value: int, bits: int, what: str) -> int:
    """``value`` if it is an int that fits in ``bits`` unsigned bits; else DNSValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise DNSValueError(f"{what} must be an int in 0..{(1 << bits) - 1}, got {value!r}")
    return value
