"""Messages: header fields, queries, compression, truncation, EDNS0, replies and text."""

from __future__ import annotations

import struct

import pytest

from evweb.dns import (
    EDNS_DO,
    MX,
    SRV,
    TXT,
    A,
    Edns,
    Flag,
    Message,
    Opcode,
    Question,
    Rcode,
    Record,
    RecordType,
    make_query,
)
from evweb.errors import DNSNameError, DNSValueError


def test_flag_properties_read_and_write_the_flags_word() -> None:
    m = Message()
    for name, bit in [("qr", Flag.QR), ("aa", Flag.AA), ("tc", Flag.TC), ("rd", Flag.RD),
                      ("ra", Flag.RA), ("ad", Flag.AD), ("cd", Flag.CD)]:  # fmt: skip
        setattr(m, name, True)
        assert m.flags == bit and getattr(m, name) is True
        setattr(m, name, False)
        assert m.flags == 0 and getattr(m, name) is False
    m.opcode = Opcode.UPDATE
    m.rcode = Rcode.NXDOMAIN
    m.rd = True
    assert m.flags == 5 << 11 | 0x0100 | 3
    assert (m.opcode, m.rcode, m.rd) == (5, 3, True)
    assert type(m.flags) is int
    with pytest.raises(DNSValueError):
        m.opcode = 16
    with pytest.raises(DNSValueError, match="needs EDNS0"):
        m.rcode = Rcode.BADVERS
    assert Message.qr.__doc__ and "response" in Message.qr.__doc__


def test_make_query_wire() -> None:
    wire = make_query("Example.COM", "AAAA", id=0x1234)
    assert (
        wire
        == b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07Example\x03COM\x00\x00\x1c\x00\x01"
    )
    assert make_query("a", 1, id=1, rd=False)[2:4] == b"\x00\x00"
    q = Message.parse(make_query("a.b", "mx", qclass="CH"))
    assert q.questions == [Question("a.b.", RecordType.MX, 3)]
    assert 0 <= q.id < 65536 and q.edns is None and q.edns_payload is None


def test_make_query_with_edns() -> None:
    q = Message.parse(make_query("example.com", "A", id=9, edns_udp_size=4096))
    assert q.edns == Edns(4096) and q.edns_payload == 4096 and q.additionals == []
    assert (q.id, q.rd, q.qr, q.opcode) == (9, True, False, 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "rule"),
    [
        ({"id": 65536}, DNSValueError, "query id"),
        ({"id": -1}, DNSValueError, "query id"),
        ({"edns_udp_size": 511}, DNSValueError, "512..65535"),
        ({"edns_udp_size": 65536}, DNSValueError, "512..65535"),
        ({"qtype": "BOGUS"}, DNSValueError, "unknown record type"),
        ({"qtype": 70000}, DNSValueError, "outside"),
        ({"name": "a..b"}, DNSNameError, "empty label"),
    ],
)
def test_make_query_refuses(kwargs: dict[str, object], error: type[Exception], rule: str) -> None:
    args: dict[str, object] = {"name": "example.com", "qtype": "A"} | kwargs
    with pytest.raises(error, match=rule):
        make_query(**args)  # type: ignore[arg-type]


def test_parse_accepts_bytes_like() -> None:
    wire = make_query("a.b", "A", id=3)
    for data in (wire, bytearray(wire), memoryview(wire)):
        assert Message.parse(data).questions[0].name == "a.b."


def _answers(name: str, count: int) -> Message:
    answers = [Record(name, 60, A(f"192.0.2.{i}")) for i in range(count)]
    return Message(1, 0x8180, [Question(name, "A")], answers)


def test_compression_makes_repeated_names_small_and_decodes() -> None:
    m = _answers("www.example.com.", 5)
    m.authorities.append(Record("example.com.", 60, MX(10, "mail.example.com.")))
    wire = m.to_wire()
    uncompressed = 12 + (17 + 4) + 5 * (17 + 10 + 4) + (13 + 10 + 2 + 18)
    # header, question, 5 x (pointer, fixed fields, address), pointer + MX (10, mail + pointer)
    assert len(wire) == 12 + 21 + 5 * (2 + 10 + 4) + (2 + 10 + 2 + 5 + 2) < uncompressed
    assert wire.count(b"\x07example") == 1  # every later name points at the question's
    back = Message.parse(wire)
    assert [r.name for r in back.answers] == ["www.example.com."] * 5
    assert back.authorities[0].data == MX(10, "mail.example.com.")


def test_compression_keeps_case() -> None:
    m = Message(answers=[Record("WwW.eXample.com.", 1, A("1.2.3.4")),
                         Record("www.example.com.", 1, A("1.2.3.4"))])  # fmt: skip
    back = Message.parse(m.to_wire())
    assert [r.name for r in back.answers] == ["WwW.eXample.com.", "www.example.com."]
    assert m.to_wire().count(b"\x03com") == 1  # the shared, same-case suffix is compressed


def test_srv_target_never_compressed() -> None:
    m = Message(answers=[Record("_x._tcp.example.com.", 1, SRV(1, 1, 80, "example.com."))])
    wire = m.to_wire()
    assert wire.count(b"\x07example\x03com\x00") == 2
    assert Message.parse(wire).answers[0].data == SRV(1, 1, 80, "example.com.")


def test_no_pointer_to_offsets_beyond_0x3fff() -> None:
    big = [Record(f"n{i}.example.com.", 1, TXT([b"x" * 255])) for i in range(70)]
    m = Message(answers=big)
    back = Message.parse(m.to_wire())
    assert [r.name for r in back.answers] == [r.name for r in big]


def test_max_size_truncates_whole_records_and_sets_tc() -> None:
    m = _answers("example.com.", 40)
    full = m.to_wire()
    assert len(full) > 512 and not Message.parse(full).tc
    cut = m.to_wire(max_size=512)
    assert len(cut) <= 512
    back = Message.parse(cut)
    assert back.tc and 0 < len(back.answers) < 40
    assert back.answers == m.answers[: len(back.answers)]
    assert len(cut) + 16 > 512  # as many as fit: one more would not
    assert m.tc is False  # the message itself is unchanged


def test_truncation_keeps_the_opt_record() -> None:
    m = _answers("example.com.", 40)
    m.edns = Edns(1232, options=[(10, b"12345678")])
    back = Message.parse(m.to_wire(max_size=512))
    assert back.tc and back.edns == m.edns


def test_dropping_only_additional_records_does_not_set_tc() -> None:
    m = _answers("example.com.", 2)
    m.additionals = [Record("example.com.", 1, TXT([b"x" * 200])) for _ in range(5)]
    back = Message.parse(m.to_wire(max_size=512))
    assert not back.tc and len(back.answers) == 2 and 0 < len(back.additionals) < 5


def test_truncation_of_the_question_itself() -> None:
    m = Message(questions=[Question("a" * 60 + ".com", "A")])
    back = Message.parse(m.to_wire(max_size=20))
    assert back.tc and back.questions == []
    with pytest.raises(DNSValueError, match="no room for the header"):
        m.to_wire(max_size=11)
    m.edns = Edns()
    with pytest.raises(DNSValueError, match="11-byte OPT record"):
        m.to_wire(max_size=22)


def test_too_big_without_max_size() -> None:
    m = Message(answers=[Record("a.", 1, TXT([b"x" * 255] * 250)) for _ in range(2)])
    with pytest.raises(DNSValueError, match="over 65535 bytes"):
        m.to_wire()


def test_header_fields_checked() -> None:
    with pytest.raises(DNSValueError, match="message id"):
        Message(id=70000).to_wire()
    with pytest.raises(DNSValueError, match="flags"):
        Message(flags=-1).to_wire()
    with pytest.raises(DNSValueError, match="type"):
        Message(questions=[Question("a.", 70000)]).to_wire()
    with pytest.raises(DNSValueError, match="EDNS version"):
        Message(edns=Edns(version=256)).to_wire()


def test_edns_fields_and_extended_rcode() -> None:
    m = Message(5, 0x8000, edns=Edns(4096, version=0, flags=EDNS_DO, options=[(3, b"ns1")]))
    m.rcode = Rcode.BADVERS
    assert m.flags & 0xF == 0 and m.edns is not None and m.edns.ext_rcode == 1
    wire = m.to_wire()
    opt = wire[-18:]
    assert opt == b"\x00\x00\x29\x10\x00\x01\x00\x80\x00\x00\x07\x00\x03\x00\x03ns1"
    back = Message.parse(wire)
    assert back.rcode == Rcode.BADVERS and back.edns == m.edns and back.edns.do
    assert back.edns_payload == 4096 and back.additionals == []
    assert struct.unpack("!H", wire[10:12]) == (1,)  # ARCOUNT counts the OPT record


def test_reply_skeleton() -> None:
    query = Message.parse(make_query("Www.Example.com", "A", id=77, edns_udp_size=4096))
    query.cd = True
    reply = query.reply(Rcode.NXDOMAIN)
    assert (reply.id, reply.qr, reply.rd, reply.cd, reply.rcode) == (77, True, True, True, 3)
    assert reply.questions == query.questions and reply.questions is not query.questions
    assert reply.edns == Edns(1232)
    plain = Message.parse(make_query("a", "A", id=1)).reply()
    assert plain.edns is None and plain.rcode == 0


def test_to_text_like_dig() -> None:
    query = Message.parse(make_query("example.com", "A", id=4242, edns_udp_size=1232))
    reply = query.reply()
    reply.ra = True
    reply.answers.append(Record("example.com.", 300, A("93.184.216.34")))
    assert reply.to_text() == (
        ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4242\n"
        ";; flags: qr rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1\n"
        "\n;; OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; udp: 1232\n"
        "\n;; QUESTION SECTION:\n;example.com. IN A\n"
        "\n;; ANSWER SECTION:\nexample.com. 300 IN A 93.184.216.34\n"
    )
    assert repr(reply) == "<Message id=4242 QUERY NOERROR [qr rd ra] 1q 1an 0ns 0ar>"
    assert repr(query.questions[0]) == "<Question example.com. IN A>"
    edns = Edns(512, flags=EDNS_DO, options=[(10, b"\xab")])
    assert edns.to_text() == "; EDNS: version: 0, flags: do; udp: 512\n; OPT=10: ab"
    assert "ext_rcode=0" in repr(edns)


def test_question_and_edns_equality() -> None:
    assert Question("a.", "A") == Question("a.", 1, 1) and hash(Question("a.", 1)) == hash(
        Question("a.", "a")
    )
    assert Question("A.", 1) != Question("a.", 1)  # exact: case counts
    assert Edns() == Edns(1232) != Edns(512)
    assert Question("a.", 1) != "a." and Edns() != 1232 and Record("a.", 1, A("1.1.1.1")) != 1
    assert len({Record("a.", 1, A("1.1.1.1")), Record("a.", 1, A("1.1.1.1"))}) == 1
    assert len({Edns(), Edns()}) == 1
