"""The resolver's two hot wire paths, shortened: building a query, reading a reply to it.

Why: a lookup builds one query and reads one reply, and at tens of
thousands of lookups a second the general codec's work per name shows:
``make_query`` splits and checks the name's labels every time, and
``Message.parse`` decodes the question's name again in every reply. Both
have something to lean on here:

* the name of a query is one the resolver already checked, and with 0x20
  randomisation only its letters' case changes from one query to the next.
  :func:`query_wire` keeps the wire form of each name in lower case (a
  bounded dict) and applies the case as bytes: byte ``i`` of the text is
  byte ``i + 1`` of the wire form, a dot in the text being a length byte
  there, so the case flips line up (names with escapes, whose text and wire
  forms do not line up, go through ``make_query``);
* a reply echoes the question. :func:`read_echoing_reply` compares the
  reply's question bytes with the query's (the 0x20 case included, which
  is the check the resolver makes anyway) and, when they match, reads only
  the sections after it, the question's name being known: compression
  pointers to it are not followed again. Anything else (another question,
  a malformed reply) returns None and the caller parses in full, so every
  rule of the codec still applies to what this path does not read.

Both give exactly what ``make_query`` and ``Message.parse`` give.
"""

from __future__ import annotations

import struct

from evweb.dns._codec import HEADER, _records
from evweb.dns._wire import Reader
from evweb.dns.message import Message, make_query
from evweb.dns.names import name_to_wire
from evweb.dns.records import Question
from evweb.errors import DNSFormatError

_QUESTION = struct.Struct("!HH")
_OPT = struct.Struct("!BHHIH")  # root name, type 41, payload size, TTL, rdlength
_RD = 0x0100
_ONE_QUESTION = b"\x00\x01"
_MAX_NAMES = 4096
_names: dict[str, bytes] = {}  # lower-case name text -> its wire form


def query_wire(sent: str, rtype: int, ident: int, edns_udp_size: int | None) -> bytes:
    """``make_query(sent, rtype, ident, edns_udp_size=...)`` for a name already checked."""
    if "\\" in sent:
        return make_query(sent, rtype, ident, edns_udp_size=edns_udp_size)
    lower = sent.lower()
    name = _names.get(lower)
    if name is None:
        if len(_names) >= _MAX_NAMES:
            _names.clear()
        name = _names[lower] = name_to_wire(lower)
    if sent != lower:
        flips = int.from_bytes(sent.encode("ascii"), "big") ^ int.from_bytes(
            lower.encode("ascii"), "big"
        )
        if len(name) == len(sent) + 2:  # a relative name: the wire form adds the final 0 byte
            flips <<= 8
        name = (int.from_bytes(name, "big") ^ flips).to_bytes(len(name), "big")
    question = _QUESTION.pack(rtype, 1)
    if edns_udp_size is None:
        return HEADER.pack(ident, _RD, 1, 0, 0, 0) + name + question
    opt = _OPT.pack(0, 41, edns_udp_size, 0, 0)
    return HEADER.pack(ident, _RD, 1, 0, 0, 1) + name + question + opt


def question_end(wire: bytes) -> int:
    """Where the question of a query built here ends (its OPT record, if any, follows)."""
    return len(wire) - (11 if wire[11] else 0)


def read_echoing_reply(data: bytes, wire: bytes, sent: str, rtype: int) -> Message | None:
    """``Message.parse(data)`` for a reply whose question is ``wire``'s, byte for byte; else None.

    ``wire`` is the query as sent and ``sent`` its name's text. None also
    for a reply that does not parse: the caller's full parse says why.
    """
    end = question_end(wire)
    if len(data) < end or data[4:6] != _ONE_QUESTION or data[12:end] != wire[12:end]:
        return None
    ident, flags, _, ancount, nscount, arcount = HEADER.unpack_from(data)
    reader = Reader(data)
    reader._names[HEADER.size] = (sent, end - HEADER.size - _QUESTION.size)
    try:
        answers, _, pos = _records(reader, ancount, end, 0)
        authorities, _, pos = _records(reader, nscount, pos, 1)
        additionals, edns, pos = _records(reader, arcount, pos, 2)
    except DNSFormatError:
        return None
    if pos != len(data):
        return None
    message = Message(ident, flags)
    message.questions = [Question(sent, rtype, 1)]
    message.answers = answers
    message.authorities = authorities
    message.additionals = additionals
    message.edns = edns
    return message
