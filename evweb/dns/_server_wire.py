"""The DNS server's two hot wire paths, shortened: reading a plain query, writing its reply.

Why: an authoritative server must answer tens of thousands of queries a
second, and almost every query is the same shape: one question, no records,
perhaps an OPT record, the name's labels written out without compression
(a query has nothing earlier to point at). For that shape:

* :func:`read_query` walks the labels once, turning the whole name into
  text in one step when every byte is a plain one, and returns the same
  :class:`~evweb.dns.message.Message` as ``Message.parse`` along with the
  question's wire bytes. Anything else (a pointer, an escape to write, a
  count but these, an OPT record that is not the root's, a byte too many or
  too few) returns None, and the caller runs the full parse, which applies
  every rule of the codec and says what is wrong.
* :func:`write_reply` starts the reply with those question bytes as they
  came, and tells the writer where the name's suffixes are, so that records
  owned by the question's name (or a name under it) compress against it
  exactly as if the writer had written the question itself; the OPT record
  of the usual reply is built once. The records and the truncation rules
  are the codec's own (``_write_sections``).

Both give byte for byte what ``Message.parse`` and ``write_message`` give
(the tests compare them).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from evweb.dns._codec import _MAX_MESSAGE, _MAX_TTL, _QUESTION, _RR, _U16, HEADER, _opt_record
from evweb.dns._wire import Reader, Writer
from evweb.dns.constants import Flag
from evweb.dns.message import Message
from evweb.dns.names import _PLAIN, MAX_NAME
from evweb.dns.rdata import OPT
from evweb.dns.records import Edns, Question, Record
from evweb.errors import DNSFormatError

_TO_QUESTION = b"\xc0\x0c"  # a compression pointer to offset 12, the question's name
_PLAIN_OR_DOT = _PLAIN + b"."
_TC = int(Flag.TC)
_PLAIN_OPT = _opt_record(Edns())  # the OPT record of a reply with an rcode under 16

_Known = tuple[str, tuple[int, ...], int, int, int]  # name, label starts, end, qtype, qclass
_MAX_KNOWN = 4096
_known: dict[bytes, _Known] = {}  # a query's bytes from its question on -> what the question is

QuestionWire = tuple[bytes, tuple[int, ...], str]
"""A question as the query carried it: its wire form (name, type, class), where the name's
labels start in it, and the name's text."""


def read_query(data: bytes) -> tuple[Message, QuestionWire] | None:
    """``Message.parse(data)`` for a plain one-question query, and its question's wire form.

    None for any other message (the caller parses it in full).
    """
    size = len(data)
    if size < 17 or data[4:10] != b"\x00\x01\x00\x00\x00\x00" or data[10] or data[11] > 1:
        return None
    key = data[12 : size - 11] if data[11] else data[12:]
    known = _known.get(key)
    if known is None:
        known = _read_question(data)
        if known is None:
            return None
        if known[2] <= 12 + len(key):  # the whole question is in the key: safe to remember
            if len(_known) >= _MAX_KNOWN:
                _known.clear()
            _known[key] = known
    name, starts, end, qtype, qclass = known
    edns = None
    if data[11]:
        edns = _read_opt(data, end)
        if edns is None:
            return None
    elif end != size:
        return None
    message = Message(data[0] << 8 | data[1], data[2] << 8 | data[3])
    message.questions = [Question(name, qtype, qclass)]
    message.edns = edns
    return message, (data[12:end], starts, name)


def _read_question(data: bytes) -> _Known | None:
    """The question at offset 12, if its name's labels are all plain bytes; else None."""
    size = len(data)
    pos = 12
    starts = []
    labels = []
    while True:
        length = data[pos]
        if not length:
            break
        if length > 63:
            return None
        starts.append(pos - 12)
        pos += length + 1
        labels.append(data[pos - length : pos])
        if pos >= size:
            return None
    end = pos + 5  # the zero byte, the type and the class
    if end - 12 > MAX_NAME + 4 or end > size:
        return None
    name = "."
    if labels:
        joined = b".".join(labels)
        if joined.translate(None, _PLAIN_OR_DOT) or joined.count(b".") != len(labels) - 1:
            return None  # a byte to escape (a dot inside a label is one)
        name = joined.decode("ascii") + "."
    qtype, qclass = _QUESTION.unpack_from(data, pos + 1)
    return name, tuple(starts), end, qtype, qclass


def _read_opt(data: bytes, pos: int) -> Edns | None:
    """The EDNS parameters of the root's OPT record filling ``data`` from ``pos``; else None."""
    size = len(data)
    if pos + 11 > size or data[pos]:
        return None
    rtype, payload, ttl, rdlength = _RR.unpack_from(data, pos + 1)  # after the root name
    end = pos + 11 + rdlength
    if rtype != 41 or end != size:
        return None
    options: tuple[tuple[int, bytes], ...] = ()
    if rdlength:
        try:
            read = OPT.read(Reader(data), pos + 11, end)
        except DNSFormatError:
            return None
        assert isinstance(read, OPT)
        options = read.options
    return Edns(payload, (ttl >> 16) & 0xFF, ttl & 0xFFFF, ttl >> 24, options)


def write_reply(
    header: tuple[int, int],
    question: QuestionWire,
    sections: tuple[Sequence[Record], Sequence[Record], Sequence[Record]],
    opt: bytes,
    max_size: int | None,
) -> bytes | None:
    """``write_message`` for a reply to the one question of :func:`read_query`.

    ``opt`` is the reply's OPT record (:func:`opt_record`), or empty bytes
    for none. None when a value is out of range or the reply is too big
    for TCP: ``write_message`` then says which.
    """
    w = _ReplyWriter(question)
    buf = w.buf
    starts, qname = question[1], question[2]
    limit = (_MAX_MESSAGE if max_size is None else max_size) - len(opt)
    try:
        counts, cut = _write_records(w, sections, limit, qname if starts else None)
    except _OutOfRangeError:
        return None
    ident, flags = header
    if cut is not None:
        if max_size is None:
            return None
        if cut < 2:  # an answer or authority record left out (RFC 2181 §9)
            flags |= _TC
    buf += opt
    HEADER.pack_into(buf, 0, ident, flags, 1, counts[0], counts[1], counts[2] + bool(opt))
    return bytes(buf)


class _ReplyWriter(Writer):
    """A writer whose message starts with the question as the query carried it.

    The question's name is made known to compression when the first name
    is written, which is often never: records owned by the question's name
    take their pointer without the writer (see :func:`_write_records`).
    """

    __slots__ = ("_question",)

    def __init__(self, question: QuestionWire) -> None:
        super().__init__()
        self.buf += question[0]
        self._question: QuestionWire | None = question

    def name(self, name: str, compress: bool = True) -> None:
        """``Writer.name``, the question's name known to compression."""
        question = self._question
        if question is not None:
            self._question = None
            qwire, starts, qname = question
            wire = qwire[:-4]
            suffixes = self._suffixes
            added = self._added
            for start in starts:
                key = wire[start:]
                suffixes[key] = 12 + start
                added.append(key)
            self._encoded[qname] = (wire, starts)
        Writer.name(self, name, compress)


class _OutOfRangeError(Exception):
    """A record holds a value the codec refuses: its own rules will say which."""


def _write_records(
    w: Writer, sections: tuple[Sequence[Record], ...], limit: int, qname: str | None
) -> tuple[list[int], int | None]:
    """The codec's ``_write_sections`` after the question: counts, and the section cut (0..2).

    A record owned by the question's name, in the same case, gets the
    pointer to the question that ``w.name`` would have found (``qname`` is
    None for the root, which is written whole, being shorter).
    """
    buf = w.buf
    name = w.name
    counts = [0, 0, 0]
    for index in range(3):
        count = 0
        for record in sections[index]:
            mark = len(buf)
            owner = record.name
            if owner == qname:
                buf += _TO_QUESTION
            else:
                name(owner)
            ttl = record.ttl
            try:
                buf += _RR.pack(record.data.rtype, record.rclass, ttl, 0)
            except struct.error:
                raise _OutOfRangeError from None
            start = len(buf)
            record.data.write(w)
            rdlength = len(buf) - start
            if rdlength > 0xFFFF or ttl > _MAX_TTL:
                raise _OutOfRangeError
            _U16.pack_into(buf, start - 2, rdlength)
            if len(buf) > limit:
                w.rollback(mark)
                counts[index] = count
                return counts, index
            count += 1
        counts[index] = count
    return counts, None


def opt_record(rcode: int) -> bytes:
    """The OPT record of a reply with ``rcode`` (its upper bits go there), payload 1232."""
    return _PLAIN_OPT if rcode < 16 else _opt_record(Edns(ext_rcode=rcode >> 4))
