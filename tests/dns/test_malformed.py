"""Every rule a message can break gives a DNSFormatError naming it, in linear time."""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import evweb.dns
from evweb.dns import A, Edns, Message, Question, Record, name_to_wire
from evweb.errors import DNSError, DNSFormatError, ProtocolError

ID = 0xBEEF
FLAGS = 0x0100  # a query with RD


def header(qd: int = 0, an: int = 0, ns: int = 0, ar: int = 0, flags: int = FLAGS) -> bytes:
    return struct.pack("!HHHHHH", ID, flags, qd, an, ns, ar)


def rr(name: bytes, rtype: int, rdata: bytes, rdlength: int | None = None) -> bytes:
    size = len(rdata) if rdlength is None else rdlength
    return name + struct.pack("!HHIH", rtype, 1, 60, size) + rdata


QNAME = b"\x07example\x03com\x00"  # at offset 12
QUESTION = QNAME + b"\x00\x01\x00\x01"


def refused(data: bytes, rule: str) -> DNSFormatError:
    with pytest.raises(DNSFormatError, match=rule) as info:
        Message.parse(data)
    return info.value


def test_the_error_carries_what_a_server_needs() -> None:
    error = refused(header(qd=1) + QUESTION + b"junk", "4 bytes after the last record")
    assert (error.id, error.flags, error.opcode, error.offset) == (ID, FLAGS, 0, 29)
    assert error.rcode == 1 and error.status is None
    assert isinstance(error, ProtocolError) and isinstance(error, DNSError)
    assert str(error) == "4 bytes after the last record (at offset 29)"
    assert error.reason == "4 bytes after the last record"


@pytest.mark.parametrize(("size", "ident", "flags"), [(0, None, None), (1, None, None),
                                                    (3, ID, None), (11, ID, FLAGS)])  # fmt: skip
def test_truncated_header(size: int, ident: int | None, flags: int | None) -> None:
    error = refused(header(qd=1)[:size], "no 12-byte header")
    assert (error.id, error.flags) == (ident, flags)
    assert error.opcode == (None if flags is None else 0)


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (header(qd=1), "name runs past the end"),  # count too high: nothing there
        (header(qd=1) + QNAME[:5], "label runs past the end"),
        (header(qd=1) + QNAME[:8], "name runs past the end"),
        (header(qd=1) + QNAME + b"\x00\x01\x00", "question 1 of 1 is cut short"),
        (header(qd=2) + QUESTION, "name runs past the end"),
    ],
)
def test_truncated_question(data: bytes, rule: str) -> None:
    refused(data, rule)


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (header(qd=1, an=1) + QUESTION + b"\xc0\x0c\x00\x01\x00", "answer record 1 of 1"),
        (header(an=1, ns=1) + rr(QNAME, 1, b"\x01\x02\x03\x04"), "name runs past the end"),
        (header(ar=1) + b"\x00\x00\x01\x00\x01", "additional record 1 of 1 is cut short"),
        (header(an=1) + rr(b"\x00", 1, b"\x01\x02", rdlength=4), "data of 4 bytes runs past"),
        (header(ns=1) + rr(b"\x00", 16, b"\x05abc", rdlength=4), "TXT string runs past"),
    ],
)
def test_truncated_record_and_rdata(data: bytes, rule: str) -> None:
    refused(data, rule)


@pytest.mark.parametrize(
    ("rtype", "rdata", "rule"),
    [
        (1, b"\x01\x02\x03\x04\x05", "A data is 5 bytes, not 4"),
        (1, b"\x01\x02\x03", "A data is 3 bytes, not 4"),
        (28, b"\x00" * 15, "AAAA data is 15 bytes, not 16"),
        (5, b"\x01a\x00\xff", "CNAME data has 1 bytes after its last field"),
        (2, b"\x01a\x00\x00", "NS data has 1 bytes after"),
        (12, b"\x03ab", "label runs past the end of its data"),
        (12, b"\x01a", "name runs past the end of its data"),
        (15, b"\x00\x01", "MX data is 2 bytes, too short"),
        (15, b"\x00\x01\x00\x00", "MX data has 1 bytes after"),
        (6, b"\x00\x00" + b"\x00" * 19, "SOA data has 19 bytes after its names, not 20"),
        (6, b"\x00\x00" + b"\x00" * 21, "SOA data has 21 bytes"),
        (33, b"\x00" * 6, "SRV data is 6 bytes, too short"),
        (33, b"\x00" * 8, "SRV data has 1 bytes after"),
        (16, b"", "TXT data holds no string"),
        (16, b"\x02a", "TXT string runs past the end"),
    ],
)
def test_rdlength_that_lies(rtype: int, rdata: bytes, rule: str) -> None:
    refused(header(an=1) + rr(b"\x00", rtype, rdata), rule)


def test_counts_that_lie() -> None:
    answer = rr(b"\xc0\x0c", 1, b"\x01\x02\x03\x04")
    Message.parse(header(qd=1, an=2) + QUESTION + answer * 2)  # the truth parses
    refused(header(qd=1, an=3) + QUESTION + answer * 2, "name runs past the end")
    refused(header(qd=1, an=1) + QUESTION + answer * 2, "16 bytes after the last record")
    refused(header(qd=0, an=2) + QUESTION + answer * 2, "A data is 1 bytes, not 4")
    refused(header(qd=65535) + QUESTION, "name runs past the end")


@pytest.mark.parametrize("junk", [b"\x00", b"\x00" * 100, b"\xc0\x0c"])
def test_trailing_garbage(junk: bytes) -> None:
    refused(header(qd=1) + QUESTION + junk, f"{len(junk)} bytes after the last record")


@pytest.mark.parametrize("length_byte", [0x40, 0x7F, 0x80, 0xBF])
def test_label_over_63_is_an_unknown_label_type(length_byte: int) -> None:
    refused(header(qd=1) + bytes([length_byte]) + b"a" * 64 + b"\x00\x00\x01\x00\x01", "label type")


def test_name_over_255() -> None:
    long_in_place = b"\x3f" + b"a" * 63
    four = long_in_place * 4 + b"\x00"  # 257 bytes
    refused(header(qd=1) + four + b"\x00\x01\x00\x01", "name is over 255 bytes")
    three = long_in_place * 3 + b"\x00"  # 193 bytes: fine alone
    ok = (
        header(qd=2)
        + three
        + b"\x00\x01\x00\x01"
        + b"\x01a" * 31
        + b"\xc0\x0c"
        + b"\x00\x01\x00\x01"
    )
    assert len(name_to_wire(Message.parse(ok).questions[1].name)) == 255  # 62 + 193
    over = (
        header(qd=2)
        + three
        + b"\x00\x01\x00\x01"
        + b"\x01a" * 32
        + b"\xc0\x0c"
        + b"\x00\x01\x00\x01"
    )
    error = refused(over, "name is over 255 bytes")
    assert error.offset == 12 + 193 + 4  # the name's start


def test_pointer_loop_forward_and_out_of_range() -> None:
    refused(header(qd=1) + b"\xc0\x0c\x00\x01\x00\x01", "pointer to 12 does not point before 12")
    refused(header(qd=1) + b"\xc0\x0e\x00\x01\x00\x01", "pointer to 14 does not point before 12")
    refused(header(qd=1) + b"\xff\xff\x00\x01\x00\x01", "pointer to 16383 is out of range")
    # a loop between two names: the second points back, the first's target points forward
    two = header(qd=2) + b"\x01a\xc0\x12\x00\x01\x00\x01" + b"\xc0\x0c\x00\x01\x00\x01"
    refused(two, "pointer to 18 does not point before 12")
    # a pointer into a name whose own pointer leads back to it
    looped = header(qd=2) + QUESTION + b"\x01b\xc0\x0c" + b"\x00\x01\x00\x01"
    Message.parse(looped)  # sane: b.example.com.
    chase = header(qd=2) + b"\x01a\x01b\x00\x00\x01\x00\x01" + b"\x01c\xc0\x0e\x00\x01\x00\x01"
    assert [q.name for q in Message.parse(chase).questions] == ["a.b.", "c.b."]
    refused(header(qd=1) + b"\x01a\xc0", "pointer runs past the end")


def test_pointer_in_rdata_must_also_point_back() -> None:
    refused(header(an=1) + rr(b"\x00", 5, b"\xc0\x17"), "pointer to 23 does not point before 23")
    refused(header(an=1) + rr(b"\x00", 5, b"\xc0"), "pointer runs past the end of its data")


def test_opt_rules() -> None:
    opt = rr(b"\x00", 41, b"")
    Message.parse(header(ar=1) + opt)
    refused(header(ar=2) + opt * 2, "a second OPT record")
    refused(header(an=1) + opt, "OPT record in the answer section")
    refused(header(ns=1) + opt, "OPT record in the authority section")
    refused(header(ar=1) + rr(b"\x01a\x00", 41, b""), "OPT record owned by 'a.'")
    refused(header(ar=1) + rr(b"\x00", 41, b"\x00\x01\x00"), "EDNS option header runs past")
    refused(header(ar=1) + rr(b"\x00", 41, b"\x00\x01\x00\x05ab"), "EDNS option 1 runs past")


def test_a_valid_message_with_every_part_parses() -> None:
    m = Message(ID, FLAGS, [Question("example.com.", "A")], edns=Edns())
    m.answers.append(Record("example.com.", 1, A("192.0.2.1")))
    assert Message.parse(m.to_wire()).answers == m.answers


# --- linear time: count the lines of evweb.dns run, not the seconds ---------------------

_DNS_DIR = str(Path(evweb.dns.__file__).parent)


def lines_run(work: Callable[[], object]) -> int:
    """How many lines of evweb/dns code ``work`` executes."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if not frame.f_code.co_filename.startswith(_DNS_DIR):
            return None
        if event == "line":
            count += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        work()
    except DNSFormatError:
        pass
    finally:
        sys.settrace(previous)
    return count


def pointer_chain(count: int, tail: bytes = b"") -> bytes:
    """``count`` questions, each name a pointer to the previous question's name."""
    parts = [header(qd=count), b"\x01a\x00\x00\x01\x00\x01"]
    previous = 12
    for index in range(1, count):
        offset = 12 + 7 + 6 * (index - 1)
        parts.append(struct.pack("!H", 0xC000 | previous) + b"\x00\x01\x00\x01")
        previous = offset
    return b"".join(parts) + tail


def test_pointer_chains_cost_linear_work() -> None:
    small = pointer_chain(500)
    large = pointer_chain(2000)
    assert all(q.name == "a." for q in Message.parse(large).questions)
    ratio = lines_run(lambda: Message.parse(large)) / lines_run(lambda: Message.parse(small))
    assert ratio < 4.5  # 4x the input; quadratic work would be 16x


def test_a_chain_refused_at_its_end_is_refused_in_linear_work() -> None:
    refused(pointer_chain(2000, b"x"), "1 bytes after the last record")
    small = lines_run(lambda: Message.parse(pointer_chain(500, b"x")))
    large = lines_run(lambda: Message.parse(pointer_chain(2000, b"x")))
    assert large / small < 4.5


def test_many_pointers_into_one_long_name_cost_linear_work() -> None:
    def message(count: int) -> bytes:
        long_name = b"\x01a" * 120 + b"\x00"  # 241 bytes at offset 12
        parts = [header(qd=1 + count), long_name, b"\x00\x01\x00\x01"]
        # each later name points at a different label of the long name
        parts += [struct.pack("!H", 0xC000 | (12 + 2 * (i % 120))) + b"\x00\x01\x00\x01"
                  for i in range(count)]  # fmt: skip
        return b"".join(parts)

    small = lines_run(lambda: Message.parse(message(500)))
    large = lines_run(lambda: Message.parse(message(2000)))
    assert large / small < 4.5
