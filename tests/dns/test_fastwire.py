"""The resolver's short wire paths give exactly what make_query and Message.parse give."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evweb.dns import AAAA, CNAME, SOA, A, Message, Record, make_query
from evweb.dns._fastwire import query_wire, question_end, read_echoing_reply

LABEL = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=1,
    max_size=20,
)
NAMES = st.lists(LABEL, min_size=1, max_size=5).map(lambda labels: ".".join(labels) + ".")


def random_case(name: str, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)


@given(NAMES, st.integers(0, 2**32), st.sampled_from([1, 28, 12, 255]), st.integers(0, 0xFFFF))
def test_query_wire_is_make_query(name: str, seed: int, rtype: int, ident: int) -> None:
    sent = random_case(name, seed)
    for edns in (None, 1232):
        assert query_wire(sent, rtype, ident, edns) == make_query(
            sent, rtype, ident, edns_udp_size=edns
        )
    relative = sent[:-1]
    assert query_wire(relative, rtype, ident, None) == make_query(relative, rtype, ident)


def test_query_wire_with_escapes_and_the_root_label() -> None:
    for name in ("a\\.b.example.", "x\\065y.test.", "Plain.Test."):
        assert query_wire(name, 1, 7, None) == make_query(name, 1, 7)


def reply_to(query: bytes, records: list[Record], rcode: int = 0) -> bytes:
    message = Message.parse(query).reply(rcode)
    message.answers.extend(records)
    message.authorities.append(Record("test.", 60, SOA("ns.test.", "h.test.", 1, 2, 3, 4, 5)))
    return message.to_wire()


def same(a: Message, b: Message) -> None:
    assert (a.id, a.flags, a.questions, a.answers) == (b.id, b.flags, b.questions, b.answers)
    assert (a.authorities, a.additionals, a.edns) == (b.authorities, b.additionals, b.edns)


@given(NAMES, st.integers(0, 2**32), st.booleans())
def test_read_echoing_reply_is_parse(name: str, seed: int, edns: bool) -> None:
    sent = random_case(name, seed)
    query = query_wire(sent, 1, 4242, 1232 if edns else None)
    records = [
        Record(sent, 300, CNAME("other." + name)),
        Record("other." + name, 300, A("192.0.2.1")),
        Record(sent, 30, AAAA("2001:db8::1")),
    ]
    data = reply_to(query, records)
    fast = read_echoing_reply(data, query, sent, 1)
    assert fast is not None
    same(fast, Message.parse(data))


def test_other_questions_and_broken_replies_are_left_to_the_full_parse() -> None:
    query = query_wire("Www.Example.Com.", 1, 1, None)
    data = reply_to(query, [Record("Www.Example.Com.", 300, A("192.0.2.1"))])
    other = query_wire("www.example.com.", 1, 1, None)  # the case differs: 0x20 says no
    assert read_echoing_reply(data, other, "www.example.com.", 1) is None
    assert read_echoing_reply(data + b"\x00", query, "Www.Example.Com.", 1) is None
    assert read_echoing_reply(data[:-3], query, "Www.Example.Com.", 1) is None
    assert read_echoing_reply(data[:10], query, "Www.Example.Com.", 1) is None
    no_question = data[:4] + b"\x00\x00" + data[6:]
    assert read_echoing_reply(no_question, query, "Www.Example.Com.", 1) is None


@pytest.mark.parametrize("edns", [None, 512, 4096])
def test_question_end(edns: int | None) -> None:
    query = query_wire("a.test.", 28, 9, edns)
    assert question_end(query) == 12 + len(b"\x01a\x04test\x00") + 4
