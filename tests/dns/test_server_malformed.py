"""No packet, however malformed, stops the DNS server or makes it answer with data it does not hold.

Each bad packet is answered FORMERR (a query whose header could be read),
NOTIMP (another opcode) or dropped (too short, or a reply), and a good query
sent right after is still answered.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import pytest

from evweb.dns import make_query
from evweb.dns.server import ServerRequest
from tests.dns.server_support import Harness

pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")

HEADER = struct.Struct("!HHHHHH")
QUESTION = b"\x03www\x07example\x03com\x00\x00\x01\x00\x01"


def header(ident: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0,
           ar: int = 0) -> bytes:  # fmt: skip
    return HEADER.pack(ident, flags, qd, an, ns, ar)


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


def still_answers(h: Harness) -> None:
    reply = h.query("after.example")
    assert reply.rcode() == dns.rcode.NOERROR
    assert [rrset.to_text() for rrset in reply.answer] == ["after.example. 300 IN A 192.0.2.1"]


def assert_formerr(wire: bytes, ident: int = 0x1234, flags: int = 0x0100) -> None:
    reply = dns.message.from_wire(wire)
    assert reply.id == ident
    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.flags & dns.flags.QR
    assert bool(reply.flags & dns.flags.RD) == bool(flags & 0x0100)
    assert (reply.question, reply.answer, reply.authority, reply.additional) == ([], [], [], [])
    assert len(wire) == 12


MALFORMED = {
    "counts that lie (two questions, one sent)": header(qd=2) + QUESTION,
    "counts that lie (an answer announced)": header(an=1) + QUESTION,
    "counts that lie (too low: trailing bytes)": header(qd=1) + QUESTION + QUESTION,
    "trailing bytes": header() + QUESTION + b"\x00",
    "pointer loop": header() + b"\xc0\x0c\x00\x01\x00\x01",
    "pointer to itself further on": header() + b"\x03www\xc0\x10\x00\x01\x00\x01",
    "forward pointer": header() + b"\xc0\x20\x00\x01\x00\x01" + b"\x00" * 30,
    "label over 63 bytes": header() + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",
    "label type 0x80": header() + b"\x80abc\x00\x00\x01\x00\x01",
    "name over 255 bytes": header() + b"\x3f" + b"a" * 63 + (b"\x3f" + b"b" * 63) * 3 + b"\x00"
    + b"\x00\x01\x00\x01",
    "question cut short": header() + QUESTION[:-2],
    "label runs past the end": header() + b"\x10abc",
    "no question at all": header(qd=0),
    "two OPT records": header(ar=2) + QUESTION + (b"\x00\x00\x29\x10\x00" + b"\x00" * 6) * 2,
    "OPT record not the root's": header(ar=1) + QUESTION + b"\x01x\x00\x00\x29\x10\x00"
    + b"\x00" * 6,
    "record data past the end": header(ar=1) + QUESTION + b"\x00\x00\x01\x00\x01" + b"\x00" * 4
    + b"\x00\x10\x01",
}  # fmt: skip


@pytest.mark.parametrize("packet", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_query_over_udp_gets_formerr(harness: Harness, packet: bytes) -> None:
    assert_formerr(harness.udp_exchange(packet))
    assert harness.server.stats.formerr == 1
    still_answers(harness)


@pytest.mark.parametrize("packet", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_query_over_tcp_gets_formerr_and_the_connection_stays(
    harness: Harness, packet: bytes
) -> None:
    sock = harness.tcp_client()
    harness.tcp_send(sock, packet, make_query("next.example", "A", id=7))
    formerr, good = harness.tcp_receive(sock, 2)
    assert_formerr(formerr)
    assert dns.message.from_wire(good).id == 7


@pytest.mark.parametrize("size", [0, 1, 2, 5, 11])
def test_short_header_is_dropped(harness: Harness, size: int) -> None:
    client = harness.udp_client()
    client.send(header()[:size])
    assert harness.udp_silent(client)
    still_answers(harness)
    assert harness.server.stats.dropped == 1


def test_formerr_keeps_the_opcode_rd_and_cd(harness: Harness) -> None:
    wire = harness.udp_exchange(header(flags=0x0010, qd=3) + QUESTION)  # CD, no RD
    assert_formerr(wire, flags=0x0010)
    assert wire[2:4] == b"\x80\x11"  # QR, CD, FORMERR


def test_malformed_packet_of_another_opcode_gets_notimp(harness: Harness) -> None:
    reply = dns.message.from_wire(harness.udp_exchange(header(flags=0x2800) + b"\xc0\x0c"))
    assert reply.rcode() == dns.rcode.NOTIMP and reply.opcode() == 5
    still_answers(harness)


@pytest.mark.parametrize(
    "packet",
    [
        header(flags=0x8180) + QUESTION,  # a well-formed reply
        header(flags=0x8000, qd=5) + b"junk",  # a malformed one
        header(flags=0xA800),  # an UPDATE reply
    ],
)
def test_replies_are_dropped_never_answered(harness: Harness, packet: bytes) -> None:
    client = harness.udp_client()
    client.send(packet)
    assert harness.udp_silent(client)
    sock = harness.tcp_client()
    harness.tcp_send(sock, packet, make_query("next.example", "A", id=8))
    (good,) = harness.tcp_receive(sock)
    assert dns.message.from_wire(good).id == 8
    assert harness.server.stats.dropped == 2
    still_answers(harness)


def test_tcp_length_prefix_larger_than_the_data_then_eof(harness: Harness) -> None:
    sock = harness.tcp_client()
    sock.sendall(struct.pack("!H", 100) + header() + QUESTION)
    sock.shutdown(1)
    harness.tcp_closed(sock)
    assert harness.server.stats.responses == 0
    still_answers(harness)


def test_tcp_length_prefix_larger_than_the_data_times_out() -> None:
    h = Harness(tcp_idle_timeout=0.1)
    try:
        sock = h.tcp_client()
        sock.sendall(struct.pack("!H", 500) + header() + QUESTION)
        assert h.tcp_closed(sock) < 1.0
        assert h.server.tcp_clients == 0
        still_answers(h)
    finally:
        h.close()


def test_tcp_zero_length_message_closes_the_connection(harness: Harness) -> None:
    sock = harness.tcp_client()
    sock.sendall(b"\x00\x00" + struct.pack("!H", 29) + header() + QUESTION)
    harness.tcp_closed(sock)
    assert harness.server.stats.queries == 0
    still_answers(harness)


def test_tcp_short_message_is_dropped_and_the_connection_stays(harness: Harness) -> None:
    sock = harness.tcp_client()
    harness.tcp_send(sock, b"\x12\x34\x01", make_query("next.example", "A", id=9))
    (good,) = harness.tcp_receive(sock)
    assert dns.message.from_wire(good).id == 9


def test_random_packets_never_stop_the_server_nor_leak_data() -> None:
    """Mutations of good queries and raw noise: every reply is one the server may send."""

    def handler(request: ServerRequest) -> None:
        request.add_a("held.example.", ["192.0.2.1"], 5)
        request.respond()

    rng = random.Random(4242)
    good = make_query("www.example.com", "A", id=1, edns_udp_size=1232)
    packets = []
    for _ in range(300):
        mutated = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        packets.append(bytes(mutated[: rng.randint(0, len(mutated) + 2)]))
    packets += [rng.randbytes(rng.randint(0, 80)) for _ in range(200)]
    h = Harness(handler)
    try:
        client = h.udp_client()
        replies: list[bytes] = []
        for start in range(0, len(packets), 50):
            for packet in packets[start : start + 50]:
                client.send(packet)
            h.run_for(0.03)
            while True:
                try:
                    replies.append(client.recv(65535))
                except BlockingIOError:
                    break
        for reply_wire in replies:
            reply = dns.message.from_wire(reply_wire)
            assert reply.flags & dns.flags.QR
            for rrset in reply.answer:
                assert rrset.to_text() == "held.example. 5 IN A 192.0.2.1"
            assert reply.authority == [] and reply.additional == []
        stats = h.server.stats
        assert stats.responses == len(replies)
        reply = h.query("after.example")
        assert [rrset.to_text() for rrset in reply.answer] == ["held.example. 5 IN A 192.0.2.1"]
    finally:
        h.close()
