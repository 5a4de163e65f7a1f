"""Properties of the wire codec, checked with hypothesis and against dnspython.

1. What dnspython encodes, evweb parses to the content dnspython parses
   from the same bytes; what evweb encodes, dnspython parses to exactly the
   message evweb was given (case and order included).
2. Random bytes and mutated valid messages give a Message or a
   DNSFormatError, never another exception; what parses, re-encodes to a
   message that parses to the same content.
3. Names: any labels go to text and back to the same wire form.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evweb.dns import (
    AAAA,
    CNAME,
    MX,
    NS,
    PTR,
    SOA,
    SRV,
    TXT,
    A,
    Edns,
    Message,
    Opaque,
    Question,
    Rdata,
    Record,
    name_from_wire,
    name_to_wire,
)
from evweb.dns.names import label_text
from evweb.errors import DNSFormatError

pytest.importorskip("dns")
import dns.edns
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.SRV
import dns.rrset

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IN = 1
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)

# -- strategies --------------------------------------------------------------------------
# Strategies are built once: the names a message uses come from a pool drawn
# first (names sharing suffixes, so compression has work) and are picked by index.

hostname_label = st.text("abcXYZ019-_", min_size=1, max_size=10).map(str.encode)
any_label = st.binary(min_size=1, max_size=12)
labels = st.lists(hostname_label | any_label, max_size=4)
index = st.integers(0, 31)
NAME = st.integers(0, 31)  # a field of named(): a name, picked from the pool
ttl = st.integers(0, 0x7FFFFFFF)
Pick = Callable[[list[str]], Any]


def text_of(name_labels: list[bytes]) -> str:
    return "".join(label_text(label) + "." for label in name_labels) or "."


@st.composite
def name_pools(draw: st.DrawFn) -> list[str]:
    pool = [text_of(draw(labels)) for _ in range(draw(st.integers(1, 4)))]
    for _ in range(draw(st.integers(0, 4))):
        parent = pool[draw(index) % len(pool)]
        pool.append(text_of([draw(hostname_label)]) + ("" if parent == "." else parent))
    return pool


def named(build: Callable[..., Rdata], *fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Pick]:
    """``build(*fields)`` once given the pool: each ``NAME`` field picks a name from it."""
    is_name = [field is NAME for field in fields]

    def pick(values: tuple[Any, ...]) -> Pick:
        def make(pool: list[str]) -> Rdata:
            args = zip(is_name, values, strict=True)
            return build(*(pool[v % len(pool)] if name else v for name, v in args))

        return make

    return st.tuples(*fields).map(pick)


RDATAS = st.one_of(
    named(A, st.ip_addresses(v=4).map(str)),
    named(AAAA, st.ip_addresses(v=6).map(str)),
    named(NS, NAME),
    named(CNAME, NAME),
    named(PTR, NAME),
    named(MX, u16, NAME),
    named(SOA, NAME, NAME, u32, u32, u32, u32, u32),
    named(TXT, st.lists(st.binary(max_size=40), min_size=1, max_size=3)),
    named(SRV, u16, u16, u16, NAME),
    named(Opaque, st.integers(65280, 65534), st.binary(max_size=20)),
)
RECORDS = st.tuples(index, ttl, RDATAS)
QUESTIONS = st.tuples(index, st.integers(1, 255))
EDNS = st.none() | st.builds(
    Edns,
    st.integers(512, 0xFFFF),
    st.integers(0, 255),
    u16,
    st.integers(0, 255),
    st.lists(st.tuples(st.integers(65001, 65534), st.binary(max_size=8)), max_size=2),
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    pool = draw(name_pools())
    questions = [
        Question(pool[i % len(pool)], qtype) for i, qtype in draw(st.lists(QUESTIONS, max_size=2))
    ]

    def section() -> list[Record]:
        drawn = draw(st.lists(RECORDS, max_size=4))
        return [Record(pool[i % len(pool)], t, make(pool)) for i, t, make in drawn]

    # not UPDATE (opcode 5): dnspython reads those with RFC 2136's zone rules
    flags = draw(u16) & ~0x7800 | draw(st.sampled_from([0, 1, 2, 4, 15])) << 11
    return Message(draw(u16), flags, questions, section(), section(), section(), draw(EDNS))


# -- content, from either side -----------------------------------------------------------


def _address(text: str) -> str:
    return ipaddress.ip_address(text).compressed


def ours_rdata(data: Rdata) -> tuple[Any, ...]:
    if isinstance(data, (A, AAAA)):
        return (_address(data.address),)
    if isinstance(data, Opaque):
        return (data.data,)
    return tuple(getattr(data, field) for field in data._fields)


def ours(message: Message) -> tuple[Any, ...]:
    questions = [(q.name, q.qtype, q.qclass) for q in message.questions]
    sections = [
        [(r.name, r.ttl, r.rclass, r.rtype, ours_rdata(r.data)) for r in records]
        for records in (message.answers, message.authorities, message.additionals)
    ]
    edns = message.edns
    opt = edns and (edns.payload, edns.version, edns.flags, edns.ext_rcode, edns.options)
    return (message.id, message.flags, questions, sections, opt)


def theirs_rdata(rd: Any) -> tuple[Any, ...]:
    kind = type(rd).__name__
    if kind in ("A", "AAAA"):
        return (_address(rd.address),)
    if kind == "GenericRdata":
        return (rd.data,)
    if kind == "TXT":
        return (tuple(rd.strings),)
    values = [getattr(rd, slot) for slot in type(rd).__slots__]
    return tuple(v.to_text() if isinstance(v, dns.name.Name) else v for v in values)


def theirs(message: dns.message.Message) -> tuple[Any, ...]:
    questions = [(q.name.to_text(), q.rdtype, q.rdclass) for q in message.question]
    sections = [
        [(s.name.to_text(), s.ttl, s.rdclass, s.rdtype, theirs_rdata(s[0])) for s in rrsets]
        for rrsets in (message.answer, message.authority, message.additional)
    ]
    opt = None
    if message.edns >= 0:
        flags = message.ednsflags
        options = tuple((o.otype, o.to_wire()) for o in message.options)
        opt = (message.payload, message.edns, flags & 0xFFFF, flags >> 24, options)
    return (message.id, int(message.flags), questions, sections, opt)


def to_dnspython(message: Message) -> dns.message.Message:
    out = dns.message.Message(id=message.id)
    out.flags = message.flags
    for q in message.questions:
        out.question.append(dns.rrset.RRset(dns.name.from_text(q.name), q.qclass, q.qtype))
    sections = (out.answer, out.authority, out.additional)
    for target, records in zip(sections, _sections(message), strict=True):
        for r in records:
            rdata = dnspython_rdata(r.data)
            target.append(dns.rrset.from_rdata(dns.name.from_text(r.name), r.ttl, rdata))
    if message.edns is not None:
        e = message.edns
        options = [dns.edns.GenericOption(code, data) for code, data in e.options]
        out.use_edns(e.version, e.flags, e.payload, options=options)
        out.ednsflags = e.ext_rcode << 24 | e.version << 16 | e.flags
    return out


def _sections(message: Message) -> tuple[list[Record], ...]:
    return (message.answers, message.authorities, message.additionals)


def dnspython_rdata(data: Rdata) -> Any:
    n = dns.name.from_text
    rt = data.rtype
    if isinstance(data, A):
        return dns.rdtypes.IN.A.A(IN, rt, data.address)
    if isinstance(data, AAAA):
        return dns.rdtypes.IN.AAAA.AAAA(IN, rt, data.address)
    if isinstance(data, NS | CNAME | PTR):
        cls = {
            2: dns.rdtypes.ANY.NS.NS,
            5: dns.rdtypes.ANY.CNAME.CNAME,
            12: dns.rdtypes.ANY.PTR.PTR,
        }
        return cls[rt](IN, rt, n(data.target))
    if isinstance(data, MX):
        return dns.rdtypes.ANY.MX.MX(IN, rt, data.preference, n(data.exchange))
    if isinstance(data, SOA):
        d = data
        soa = dns.rdtypes.ANY.SOA.SOA
        return soa(
            IN, rt, n(d.mname), n(d.rname), d.serial, d.refresh, d.retry, d.expire, d.minimum
        )
    if isinstance(data, TXT):
        return dns.rdtypes.ANY.TXT.TXT(IN, rt, data.strings)
    if isinstance(data, SRV):
        return dns.rdtypes.IN.SRV.SRV(IN, rt, data.priority, data.weight, data.port, n(data.target))
    assert isinstance(data, Opaque)
    return dns.rdata.GenericRdata(IN, rt, data.data)


# -- 1. dnspython agrees -----------------------------------------------------------------


@SETTINGS
@given(messages())
def test_we_parse_what_dnspython_writes(message: Message) -> None:
    wire = to_dnspython(message).to_wire()
    parsed = Message.parse(wire)
    # compared with dnspython's reading of the same bytes: dnspython compresses
    # ignoring case, so names may come back in the case of an earlier one
    assert ours(parsed) == theirs(dns.message.from_wire(wire, one_rr_per_rrset=True))


@SETTINGS
@given(messages())
def test_dnspython_parses_what_we_write(message: Message) -> None:
    wire = message.to_wire()
    assert theirs(dns.message.from_wire(wire, one_rr_per_rrset=True)) == ours(message)
    assert ours(Message.parse(wire)) == ours(message)


@SETTINGS
@given(messages(), st.sampled_from([512, 600, 1232]))
def test_truncated_messages_parse_and_keep_a_prefix(message: Message, size: int) -> None:
    wire = message.to_wire(max_size=size)
    assert len(wire) <= size
    parsed = Message.parse(wire)
    dns.message.from_wire(wire, one_rr_per_rrset=True)
    for mine, original in zip(ours(parsed)[3], ours(message)[3], strict=True):
        assert mine == original[: len(mine)]
    assert parsed.edns == message.edns


# -- 2. only typed errors ----------------------------------------------------------------


def parse_or_format_error(data: bytes) -> None:
    try:
        message = Message.parse(data)
    except DNSFormatError as error:
        assert 0 <= error.offset <= len(data)
        assert error.rcode == 1
        return
    again = Message.parse(message.to_wire())
    assert ours(again) == ours(message)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    parse_or_format_error(data)


@SETTINGS
@given(st.binary(min_size=12, max_size=12), st.binary(max_size=200))
def test_random_bodies_after_a_plausible_header(head: bytes, body: bytes) -> None:
    counts = bytes([0, head[4] % 3, 0, head[6] % 3, 0, head[8] % 3, 0, head[10] % 3])
    parse_or_format_error(head[:4] + counts + body)


@SETTINGS
@given(messages(), st.data())
def test_mutated_messages(message: Message, data: st.DataObject) -> None:
    wire = bytearray(message.to_wire())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire)))
        how = data.draw(st.sampled_from(["flip", "cut", "insert", "pointer"]))
        if how == "flip" and at < len(wire):
            wire[at] = data.draw(st.integers(0, 255))
        elif how == "cut":
            del wire[at:]
        elif how == "insert":
            wire[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif how == "pointer" and at + 1 < len(wire):
            wire[at : at + 2] = (0xC000 | data.draw(st.integers(0, 0x3FFF))).to_bytes(2, "big")
    parse_or_format_error(bytes(wire))


# -- 3. names ----------------------------------------------------------------------------


@SETTINGS
@given(labels)
def test_names_text_and_wire(name_labels: list[bytes]) -> None:
    wire = b"".join(bytes([len(label)]) + label for label in name_labels) + b"\x00"
    text, after = name_from_wire(wire)
    assert after == len(wire) and name_to_wire(text) == wire
    assert text == dns.name.Name([*name_labels, b""]).to_text()
    assert dns.name.from_text(text).to_wire() == wire
