"""The server's shortened wire paths give byte for byte what the codec gives."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evweb.dns import MX, NS, SOA, SRV, TXT, A, Message, Record, make_query
from evweb.dns._codec import write_message
from evweb.dns._server_wire import opt_record, read_query, write_reply
from evweb.dns.rdata import AAAA, CNAME, PTR, Opaque
from evweb.dns.records import Edns
from evweb.errors import DNSFormatError, DNSValueError

LABEL = st.text("abcXYZ019-_*", min_size=1, max_size=12)
NAMES = st.lists(LABEL, min_size=0, max_size=4).map(lambda ls: ".".join(ls) + "." if ls else ".")


def same_message(a: Message, b: Message) -> None:
    assert (a.id, a.flags, a.questions, a.answers, a.authorities, a.additionals, a.edns) == (
        b.id,
        b.flags,
        b.questions,
        b.answers,
        b.authorities,
        b.additionals,
        b.edns,
    )


@settings(max_examples=300, deadline=None)
@given(
    name=NAMES,
    qtype=st.integers(0, 65535),
    ident=st.integers(0, 65535),
    edns=st.none() | st.integers(512, 65535),
)
def test_read_query_is_message_parse(name: str, qtype: int, ident: int, edns: int | None) -> None:
    wire = make_query(name, qtype, ident, edns_udp_size=edns)
    fast = read_query(wire)
    assert fast is not None
    message, (qwire, starts, qname) = fast
    same_message(message, Message.parse(wire))
    assert qwire == wire[12 : 12 + len(qwire)] and qname == message.questions[0].name
    assert [qwire[s] for s in starts] == [len(label) for label in name.split(".")[:-1] if label]


@settings(max_examples=500, deadline=None)
@given(data=st.binary(min_size=12, max_size=80), prefix=st.sampled_from([b"", b"\x00\x01\x00\x00"]))
def test_read_query_never_disagrees_with_message_parse(data: bytes, prefix: bytes) -> None:
    wire = data[:4] + prefix + data[4 + len(prefix) :] if prefix else data
    fast = read_query(wire)
    try:
        full = Message.parse(wire)
    except DNSFormatError:
        assert fast is None
        return
    if fast is not None:
        same_message(fast[0], full)


@pytest.mark.parametrize(
    "wire",
    [
        make_query("a\\.b.example", "A"),  # a dot in a label: escaped text
        make_query("a\\032b.example", "A"),  # a space
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x00\x00\x01\x00\x01",  # a pointer
        make_query("a.example", "A") + b"\x00",  # trailing byte
        make_query("a.example", "A", edns_udp_size=1232)[:-1],  # cut OPT
    ],
)
def test_read_query_leaves_the_unusual_to_the_full_parse(wire: bytes) -> None:
    assert read_query(wire) is None


def test_read_query_reads_edns_options() -> None:
    wire = bytearray(make_query("a.example", "A", edns_udp_size=4096))
    wire[-2:] = b"\x00\x0c"
    wire += b"\x00\x0a\x00\x08" + b"12345678"  # a cookie
    fast = read_query(bytes(wire))
    assert fast is not None
    same_message(fast[0], Message.parse(bytes(wire)))
    assert fast[0].edns is not None and fast[0].edns.options == ((10, b"12345678"),)


def rdata_for(kind: int, name: str) -> object:
    return [
        A("192.0.2.1"),
        AAAA("2001:db8::1"),
        CNAME(name),
        PTR("x." + name if name != "." else "x."),
        NS(name),
        MX(10, name),
        TXT([b"hello", b"x" * 200]),
        SRV(1, 2, 3, name),
        SOA(name, "admin." + name if name != "." else ".", 1, 2, 3, 4, 5),
        Opaque(65280, b"\x00" * 40),
    ][kind]


RECORDS = st.lists(
    st.tuples(st.integers(0, 2), st.booleans(), NAMES, st.integers(0, 9), st.integers(0, 1000)),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    qname=NAMES,
    records=RECORDS,
    edns=st.booleans(),
    rcode=st.sampled_from([0, 3, 16, 23]),
    limit=st.sampled_from([None, 512, 700, 1232]),
)
def test_write_reply_is_write_message(
    qname: str, records: list[tuple[int, bool, str, int, int]], edns: bool, rcode: int,
    limit: int | None,
) -> None:  # fmt: skip
    if rcode > 15 and not edns:
        rcode = 2
    query = make_query(qname, "A", 99, edns_udp_size=1232 if edns else None)
    fast = read_query(query)
    assert fast is not None
    message, question = fast
    sections: tuple[list[Record], list[Record], list[Record]] = ([], [], [])
    for section, own, name, kind, ttl in records:
        owner = message.questions[0].name if own else name
        sections[section].append(Record(owner, ttl, rdata_for(kind, name)))  # type: ignore[arg-type]
    header = (99, 0x8100 | (rcode & 0xF))
    expected = write_message(
        header, message.questions, sections, Edns(ext_rcode=rcode >> 4) if edns else None, limit
    )
    got = write_reply(header, question, sections, opt_record(rcode) if edns else b"", limit)
    assert got == expected


def test_write_reply_hands_values_out_of_range_to_the_codec() -> None:
    fast = read_query(make_query("a.example", "A"))
    assert fast is not None
    message, question = fast
    for record in (Record("a.example.", 2**31, A("192.0.2.1")), Record("a.", -1, A("192.0.2.1"))):
        assert write_reply((1, 0x8000), question, ([record], [], []), b"", 512) is None
        with pytest.raises(DNSValueError):
            write_message((1, 0x8000), message.questions, ([record], [], []), None, 512)
    huge = [Record("a.example.", 1, TXT([b"x" * 255] * 200))] * 2
    assert write_reply((1, 0x8000), question, (huge, [], []), b"", None) is None


def test_remembered_questions_cannot_be_confused() -> None:
    """A question that runs into the bytes taken for an OPT record is not remembered."""
    head = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 1)
    long_name = b"\x05aaaaa\x0bbbbbbbbbbbb\x00\x00\x01\x00\x01"  # no OPT after it: 11 bytes short
    for tail in (b"\x0bbbbbbbbbbbb", b"\x0bcccccccccc"):
        wire = head + long_name.replace(b"\x0bbbbbbbbbbbb", tail)
        assert read_query(wire) is None
        with pytest.raises(DNSFormatError):
            Message.parse(wire)
    for name in ("a.example", "A.example", "b.example"):
        for edns in (None, 1232):
            wire = make_query(name, "MX", 5, edns_udp_size=edns)
            for _ in range(2):  # the second time from what was remembered
                fast = read_query(wire)
                assert fast is not None
                same_message(fast[0], Message.parse(wire))
