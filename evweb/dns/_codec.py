"""A whole message to and from the wire: the header, its four sections and the OPT record.

Reading trusts nothing: every count is checked against the data actually
present (a count too high runs past the end, one too low leaves trailing
bytes), every record's data must be exactly as long as its rdlength says,
and at most one OPT record may appear, in the additional section, owned by
the root (RFC 6891 §6.1.1). The errors carry the header's id and flags once
those were read, so a server can answer FORMERR to the right query.

Writing with a size limit keeps whole records only: the first record that
does not fit ends the message, the counts say what was kept, and the TC bit
is set if a question, answer or authority record was dropped. Dropping only
additional records does not set TC (RFC 2181 §9). The OPT record is
reserved room first, so it survives truncation (RFC 6891 §7).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TypeVar

from evweb.dns._wire import Reader, Writer, check_range
from evweb.dns.constants import Flag, RecordClass, RecordType
from evweb.dns.rdata import AAAA, CNAME, MX, NS, OPT, PTR, SOA, SRV, TXT, A, Opaque, Rdata
from evweb.dns.records import Edns, Question, Record
from evweb.errors import DNSFormatError, DNSValueError

HEADER = struct.Struct("!HHHHHH")
_QUESTION = struct.Struct("!HH")
_RR = struct.Struct("!HHIH")
_U16 = struct.Struct("!H")
_OPT_TYPE = int(RecordType.OPT)
_MAX_MESSAGE = 0xFFFF
_MAX_TTL = 0x7FFFFFFF
_SECTIONS = ("answer", "authority", "additional")

Parsed = tuple[list[Question], list[Record], list[Record], list[Record], "Edns | None"]
_Item = TypeVar("_Item", Question, Record)


def read_message(data: bytes) -> tuple[int, int, Parsed]:
    """Parse a whole message: its id, its flags word and its sections."""
    size = len(data)
    if size < HEADER.size:
        ident = _U16.unpack_from(data)[0] if size >= 2 else None
        flags = _U16.unpack_from(data, 2)[0] if size >= 4 else None
        raise DNSFormatError(f"a message of {size} bytes has no 12-byte header", 0, ident, flags)
    ident, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    try:
        reader = Reader(data)
        questions, pos = _questions(reader, qdcount, HEADER.size)
        answers, _, pos = _records(reader, ancount, pos, 0)
        authorities, _, pos = _records(reader, nscount, pos, 1)
        additionals, edns, pos = _records(reader, arcount, pos, 2)
        if pos != size:
            raise DNSFormatError(f"{size - pos} bytes after the last record", pos)
    except DNSFormatError as error:
        error.id = ident
        error.flags = flags
        raise
    return ident, flags, (questions, answers, authorities, additionals, edns)


def _questions(r: Reader, count: int, pos: int) -> tuple[list[Question], int]:
    data = r.data
    size = r.size
    questions = []
    for index in range(count):
        name, pos = r.name(pos, size)
        if pos + 4 > size:
            raise DNSFormatError(f"question {index + 1} of {count} is cut short", pos)
        qtype, qclass = _QUESTION.unpack_from(data, pos)
        questions.append(Question(name, qtype, qclass))
        pos += 4
    return questions, pos


def _records(
    r: Reader, count: int, pos: int, section: int
) -> tuple[list[Record], Edns | None, int]:
    records: list[Record] = []
    edns = None
    if not count:
        return records, edns, pos
    data = r.data
    size = r.size
    read_name = r.name
    append = records.append
    for index in range(count):
        name, pos = read_name(pos, size)
        if pos + 10 > size:
            where = f"{_SECTIONS[section]} record {index + 1} of {count}"
            raise DNSFormatError(f"{where} is cut short", pos)
        rtype, rclass, ttl, rdlength = _RR.unpack_from(data, pos)
        pos += 10
        end = pos + rdlength
        if end > size:
            raise DNSFormatError(f"record data of {rdlength} bytes runs past the end", pos - 2)
        if rtype == _OPT_TYPE:
            edns = _edns(r, name, rclass, ttl, pos, end, section, edns)
            pos = end
            continue
        if ttl > _MAX_TTL:
            ttl = 0  # RFC 2181 §8: a TTL with its top bit set counts as zero
        append(Record(name, ttl, _read_rdata(r, rtype, rclass, pos, end), rclass))
        pos = end
    return records, edns, pos


_TYPED: dict[int, type[Rdata]] = {
    cls.rtype: cls for cls in (A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV)
}


def _read_rdata(r: Reader, rtype: int, rclass: int, pos: int, end: int) -> Rdata:
    """Decode the data of a record of type ``rtype`` and class ``rclass`` at ``pos:end``.

    A type without a class here, or one defined for class IN only in another
    class, or any type in the NONE and ANY classes of dynamic update (whose
    data may be empty), is kept as :class:`Opaque`.
    """
    cls = _TYPED.get(rtype)
    if cls is None or (rclass != RecordClass.IN and (cls.in_only or rclass >= RecordClass.NONE)):
        return Opaque(rtype, r.data[pos:end])
    return cls.read(r, pos, end)


def _edns(
    r: Reader,
    name: str,
    payload: int,
    ttl: int,
    pos: int,
    end: int,
    section: int,
    seen: Edns | None,
) -> Edns:
    """The EDNS0 parameters of an OPT record, once its place in the message is checked."""
    if section != 2:
        raise DNSFormatError(f"an OPT record in the {_SECTIONS[section]} section", pos)
    if seen is not None:
        raise DNSFormatError("a second OPT record", pos)
    if name != ".":
        raise DNSFormatError(f"an OPT record owned by {name!r}, not the root", pos)
    options = OPT.read(r, pos, end)
    assert isinstance(options, OPT)
    return Edns(payload, (ttl >> 16) & 0xFF, ttl & 0xFFFF, ttl >> 24, options.options)


def write_message(
    header: tuple[int, int],
    questions: Sequence[Question],
    sections: tuple[Sequence[Record], Sequence[Record], Sequence[Record]],
    edns: Edns | None,
    max_size: int | None,
) -> bytes:
    """Build a message from its id and flags, its sections and its EDNS0 parameters."""
    ident = check_range(header[0], 16, "the message id")
    flags = check_range(header[1], 16, "the message flags")
    opt = _opt_record(edns) if edns is not None else b""
    w = Writer()
    counts, cut = _write_sections(w, questions, sections, _limit(max_size, len(opt)))
    if cut is not None:
        if max_size is None:
            raise DNSValueError(f"the message is over {_MAX_MESSAGE} bytes")
        if cut < 3:
            flags |= Flag.TC
    w.buf += opt
    qdcount, ancount, nscount, arcount = counts
    HEADER.pack_into(w.buf, 0, ident, flags, qdcount, ancount, nscount, arcount + bool(opt))
    return bytes(w.buf)


def _limit(max_size: int | None, reserved: int) -> int:
    """How far the sections may reach, leaving room for the OPT record."""
    if max_size is None:
        return _MAX_MESSAGE - reserved
    check_range(max_size, 16, "max_size")
    if max_size < HEADER.size + reserved:
        extra = f" and the {reserved}-byte OPT record" if reserved else ""
        raise DNSValueError(f"max_size {max_size} leaves no room for the header{extra}")
    return max_size - reserved


def _write_sections(
    w: Writer,
    questions: Sequence[Question],
    sections: tuple[Sequence[Record], ...],
    limit: int,
) -> tuple[list[int], int | None]:
    """Write until an item does not fit: the counts written, and the section cut (if one was)."""
    counts = [_write_all(w, questions, _write_question, limit)]
    if counts[0] < len(questions):
        return [*counts, 0, 0, 0], 0
    for index, records in enumerate(sections, 1):
        counts.append(_write_all(w, records, _write_record, limit))
        if counts[-1] < len(records):
            return counts + [0] * (3 - index), index
    return counts, None


def _write_all(
    w: Writer, items: Sequence[_Item], write: Callable[[Writer, _Item], None], limit: int
) -> int:
    """Write the items that fit before ``limit``; return how many did."""
    for count, item in enumerate(items):
        mark = len(w.buf)
        write(w, item)
        if len(w.buf) > limit:
            w.rollback(mark)
            return count
    return len(items)


def _write_question(w: Writer, question: Question) -> None:
    w.name(question.name)
    try:
        w.buf += _QUESTION.pack(question.qtype, question.qclass)
    except struct.error:
        check_range(question.qtype, 16, "a question's type")
        check_range(question.qclass, 16, "a question's class")
        raise


def _write_record(w: Writer, record: Record) -> None:
    w.name(record.name)
    buf = w.buf
    try:
        buf += _RR.pack(record.rtype, record.rclass, record.ttl, 0)
    except struct.error:
        check_range(record.rtype, 16, "a record's type")
        check_range(record.rclass, 16, "a record's class")
        check_range(record.ttl, 31, "a record's TTL")
        raise
    if record.ttl > _MAX_TTL:
        check_range(record.ttl, 31, "a record's TTL (RFC 2181 §8)")
    start = len(buf)
    record.data.write(w)
    rdlength = len(buf) - start
    if rdlength > 0xFFFF:
        raise DNSValueError(f"record data of {rdlength} bytes (at most 65535)")
    _U16.pack_into(buf, start - 2, rdlength)


def _opt_record(edns: Edns) -> bytes:
    """The OPT record carrying ``edns`` (RFC 6891 §6.1.2-3)."""
    ttl = (
        check_range(edns.ext_rcode, 8, "the EDNS extended rcode") << 24
        | check_range(edns.version, 8, "the EDNS version") << 16
        | check_range(edns.flags, 16, "the EDNS flags")
    )
    payload = check_range(edns.payload, 16, "the EDNS payload size")
    scratch = Writer()
    del scratch.buf[:]
    OPT(edns.options).write(scratch)
    return b"\x00" + _RR.pack(_OPT_TYPE, payload, ttl, len(scratch.buf)) + scratch.buf
