"""Every record type both ways: to the wire and back, its text, and dnspython's view of it."""

from __future__ import annotations

import pytest

from evweb.dns import (
    AAAA,
    CNAME,
    MX,
    NS,
    OPT,
    PTR,
    SOA,
    SRV,
    TXT,
    A,
    Message,
    Opaque,
    Question,
    Rdata,
    Record,
    RecordClass,
    RecordType,
)
from evweb.errors import DNSFormatError, DNSValueError

pytest.importorskip("dns")
import dns.message
import dns.rdata

CASES: list[tuple[Rdata, str]] = [
    (A("192.0.2.1"), "192.0.2.1"),
    (AAAA("2001:db8::1"), "2001:db8::1"),
    (AAAA("::ffff:192.0.2.1"), "::ffff:192.0.2.1"),
    (NS("ns1.Example.com."), "ns1.Example.com."),
    (CNAME("web.example.com."), "web.example.com."),
    (PTR("host.example.net."), "host.example.net."),
    (MX(10, "mail.example.com."), "10 mail.example.com."),
    (
        SOA("ns1.example.com.", r"host\.master.example.com.", 2024010101, 7200, 900, 1209600, 300),
        r"ns1.example.com. host\.master.example.com. 2024010101 7200 900 1209600 300",
    ),
    (TXT([b"v=spf1 -all"]), '"v=spf1 -all"'),
    (TXT([b"a", b'q"uote\\', b"\x00\xff", b""]), r'"a" "q\"uote\\" "\000\255" ""'),
    (SRV(10, 60, 5060, "sip.example.com."), "10 60 5060 sip.example.com."),
    (Opaque(65280, b"\x01\x02\x03"), r"\# 3 010203"),
    (Opaque(65281, b""), r"\# 0"),
]


def _roundtrip(data: Rdata, rclass: int = RecordClass.IN) -> Record:
    record = Record("example.com.", 3600, data, rclass)
    message = Message(7, 0x8180, [Question("example.com.", data.rtype)], [record])
    parsed = Message.parse(message.to_wire())
    assert len(parsed.answers) == 1
    return parsed.answers[0]


@pytest.mark.parametrize(("data", "text"), CASES, ids=lambda c: type(c).__name__)
def test_both_ways(data: Rdata, text: str) -> None:
    back = _roundtrip(data)
    assert back.data == data and back.rtype == data.rtype
    assert back.data.to_text() == text
    assert back.to_text().startswith("example.com. 3600 IN ")


@pytest.mark.parametrize(("data", "text"), CASES, ids=lambda c: type(c).__name__)
def test_dnspython_reads_what_we_write_and_agrees_on_text(data: Rdata, text: str) -> None:
    record = Record("example.com.", 60, data)
    wire = Message(1, 0, answers=[record]).to_wire()
    theirs = dns.message.from_wire(wire).answer[0]
    expected = dns.rdata.from_text(dns.rdataclass.IN, data.rtype, text)
    assert theirs[0] == expected
    assert theirs[0].to_text().rstrip() == text  # dnspython writes "\\# 0 "


def test_record_text_like_dig() -> None:
    record = Record("www.example.com.", 300, A("93.184.216.34"))
    assert record.to_text() == "www.example.com. 300 IN A 93.184.216.34"
    opaque = Record("x.", 0, Opaque(65280, b"\xab"), 42)
    assert opaque.to_text() == r"x. 0 CLASS42 TYPE65280 \# 1 ab"
    assert Record("x.", 0, Opaque(65281, b"")).to_text() == r"x. 0 IN TYPE65281 \# 0"
    assert repr(record) == "<Record www.example.com. 300 IN A 93.184.216.34>"


def test_rdata_equality_repr_and_hash() -> None:
    assert MX(10, "a.") == MX(10, "a.") and hash(MX(10, "a.")) == hash(MX(10, "a."))
    assert MX(10, "a.") != MX(20, "a.")
    assert NS("a.") != CNAME("a.")  # same fields, different types
    assert A("1.2.3.4") != "1.2.3.4"
    assert repr(SRV(1, 2, 3, "t.")) == "SRV(priority=1, weight=2, port=3, target='t.')"
    assert TXT(["é"]).strings == ("é".encode(),)
    assert Opaque(1, bytearray(b"x")).data == b"x"


def test_opt_rdata_text() -> None:
    # OPT data travels in Message.edns (see test_message); here only its text.
    assert OPT([(10, b"\x01\x02"), (12, b"")]).to_text() == "10:0102 12:"


def test_opt_outside_the_additional_section_is_refused() -> None:
    wire = Message(1, 0, answers=[Record(".", 0, OPT())]).to_wire()
    with pytest.raises(DNSFormatError, match="OPT record in the answer section"):
        Message.parse(wire)


def test_in_only_types_are_opaque_in_other_classes() -> None:
    back = _roundtrip(Opaque(RecordType.A, b"\x00\x05ab"), RecordClass.CH)
    assert back.data == Opaque(1, b"\x00\x05ab") and back.rclass == RecordClass.CH
    back = _roundtrip(MX(5, "m."), RecordClass.CH)  # class-independent types are decoded
    assert back.data == MX(5, "m.")


def test_update_classes_keep_empty_data_opaque() -> None:
    back = _roundtrip(Opaque(RecordType.CNAME, b""), RecordClass.ANY)
    assert back.data == Opaque(5, b"")


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (A("1.2.3"), "A address"),
        (A("::1"), "A address"),
        (AAAA("1.2.3.4"), "AAAA address"),
        (MX(65536, "a."), "MX preference"),
        (MX(-1, "a."), "MX preference"),
        (SRV(1, 2, 70000, "t."), "SRV port"),
        (SOA("a.", "b.", 1 << 32, 0, 0, 0, 0), "SOA serial"),
        (TXT([b"x" * 256]), "TXT string of 256"),
        (OPT([(70000, b"")]), "option code"),
        (Opaque(1 << 16, b""), "type"),
        (TXT([]), "at least one string"),
        (Opaque(99, b"x" * 70000), "record data of 70000"),
    ],
)
def test_values_checked_when_encoded(data: Rdata, rule: str) -> None:
    with pytest.raises(DNSValueError, match=rule):
        Message(answers=[Record("a.", 1, data)]).to_wire()


def test_record_fields_checked_when_encoded() -> None:
    for record, rule in [
        (Record("a.", -1, A("1.2.3.4")), "TTL"),
        (Record("a.", 1 << 32, A("1.2.3.4")), "TTL"),
        (Record("a.", 1 << 31, A("1.2.3.4")), "TTL"),
        (Record("a.", 1, A("1.2.3.4"), 1 << 16), "class"),
        (Record("a..b", 1, A("1.2.3.4")), "empty label"),
    ]:
        with pytest.raises(ValueError, match=rule):
            Message(answers=[record]).to_wire()


def test_a_ttl_with_its_top_bit_set_reads_as_zero() -> None:
    wire = bytearray(Message(answers=[Record("a.", 0x7FFFFFFF, A("1.2.3.4"))]).to_wire())
    assert Message.parse(bytes(wire)).answers[0].ttl == 0x7FFFFFFF
    wire[12 + 3 + 4] |= 0x80  # RFC 2181 §8
    assert Message.parse(bytes(wire)).answers[0].ttl == 0
