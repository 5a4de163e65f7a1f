"""DNSServer: the request object, the reply builders, UDP truncation, TCP, answering later."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from evweb.dns import Record, make_query
from evweb.dns.rdata import Opaque
from evweb.dns.resolver import DNSResolver, DNSResult
from evweb.dns.server import ADDITIONAL, ANSWER, AUTHORITY, DNSServer, ServerRequest
from evweb.errors import DNSValueError, EventStateError
from evweb.reactor import EventBase
from tests.dns.scripted_server import run_until
from tests.dns.server_support import Harness

pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


def serve(handler: Any, **kw: Any) -> Harness:
    return Harness(handler, **kw)


def rrset_texts(message: dns.message.Message, section: str = "answer") -> list[str]:
    return [rrset.to_text() for rrset in getattr(message, section)]


# --- the request object ---------------------------------------------------------------------


def test_request_shows_the_query_and_who_sent_it() -> None:
    seen: list[ServerRequest] = []

    def handler(request: ServerRequest) -> None:
        seen.append(request)
        assert not request.done
        request.respond()
        assert request.done

    h = serve(handler)
    try:
        client = h.udp_client()
        wire = make_query("WWW.Example.com", "AAAA", id=4321, edns_udp_size=1400)
        client.send(wire)
        h.udp_receive(client)
        request = seen[0]
        assert request.id == 4321
        assert request.questions[0].name == "WWW.Example.com."  # case kept
        assert request.questions[0].qtype == 28
        assert request.rd and not request.cd
        assert request.flags == 0x0100
        assert request.edns_payload == 1400
        assert request.peer == client.getsockname()
        assert request.transport == "udp"
        assert request.message.questions == request.questions
        assert "4321" in repr(request)
    finally:
        h.close()


def test_reply_copies_id_rd_cd_and_echoes_the_question(harness: Harness) -> None:
    query = dns.message.make_query("www.example.com", "A")
    query.id = 777
    query.flags |= dns.flags.CD
    reply = dns.message.from_wire(harness.udp_exchange(query.to_wire()))
    assert reply.id == 777
    assert reply.flags & dns.flags.QR and reply.flags & dns.flags.RD and reply.flags & dns.flags.CD
    assert not reply.flags & dns.flags.AA
    assert reply.question[0].to_text() == "www.example.com. IN A"
    assert rrset_texts(reply) == ["www.example.com. 300 IN A 192.0.2.1"]
    assert reply.edns < 0  # no EDNS in the query: none in the reply


def test_every_builder_in_every_section() -> None:
    def handler(request: ServerRequest) -> None:
        name = request.questions[0].name
        request.add_a(name, ["192.0.2.1", "192.0.2.2"], 60)
        request.add_aaaa(name, "2001:db8::1", 60)
        request.add_cname("alias.example.com.", name, 60)
        request.add_mx(name, 10, "mail.example.com.", 60)
        request.add_txt(name, ["v=spf1 -all", b"\x00binary"], 60)
        request.add_srv("_sip._udp.example.com.", 1, 2, 5060, "sip.example.com.", 60)
        request.add_ptr("192.0.2.1", "host.example.com.", 60)
        request.add_soa(
            "example.com.", "ns1.example.com.", "admin.example.com.", 7, 3600, 600, 86400, 30, 60,
            section=AUTHORITY,
        )  # fmt: skip
        request.add_ns("example.com.", "ns1.example.com.", 60, section=AUTHORITY)
        request.add_a("ns1.example.com.", "192.0.2.53", 60, section=ADDITIONAL)
        request.add_reply(ADDITIONAL, Record("x.example.com.", 5, Opaque(65280, b"\x01\x02")))
        request.set_flags(aa=True, ra=True)
        request.respond()

    h = serve(handler)
    try:
        reply = h.query("www.example.com", "A", use_edns=0, payload=4096)
    finally:
        h.close()
    assert reply.flags & dns.flags.AA and reply.flags & dns.flags.RA
    assert rrset_texts(reply) == [
        "www.example.com. 60 IN A 192.0.2.1\nwww.example.com. 60 IN A 192.0.2.2",
        "www.example.com. 60 IN AAAA 2001:db8::1",
        "alias.example.com. 60 IN CNAME www.example.com.",
        "www.example.com. 60 IN MX 10 mail.example.com.",
        'www.example.com. 60 IN TXT "v=spf1 -all" "\\000binary"',
        "_sip._udp.example.com. 60 IN SRV 1 2 5060 sip.example.com.",
        "1.2.0.192.in-addr.arpa. 60 IN PTR host.example.com.",
    ]
    assert rrset_texts(reply, "authority") == [
        "example.com. 60 IN SOA ns1.example.com. admin.example.com. 7 3600 600 86400 30",
        "example.com. 60 IN NS ns1.example.com.",
    ]
    assert rrset_texts(reply, "additional") == [
        "ns1.example.com. 60 IN A 192.0.2.53",
        "x.example.com. 5 IN TYPE65280 \\# 2 0102",
    ]


def test_builders_refuse_bad_values_at_once() -> None:
    errors: list[Exception] = []

    def handler(request: ServerRequest) -> None:
        checks: list[Callable[[], object]] = [
            lambda: request.add_a("a.", ["::1"], 5),
            lambda: request.add_aaaa("a.", ["192.0.2.1"], 5),
            lambda: request.add_a("a.", ["nonsense"], 5),
            lambda: request.add_a("a.", ["192.0.2.1"], -1),
            lambda: request.add_a("a.", ["192.0.2.1"], 5, section=3),
            lambda: request.add_reply(ANSWER, "not a record"),  # type: ignore[arg-type]
            lambda: request.set_flags(qr=True),
            lambda: request.respond(4096),
            lambda: request.respond(16),  # needs EDNS, the query had none
        ]
        for bad in checks:
            with pytest.raises(DNSValueError) as info:
                bad()
            errors.append(info.value)
        assert request.records(ANSWER) == []
        assert not request.done
        request.respond(3)

    h = serve(handler)
    try:
        reply = h.query("www.example.com")
    finally:
        h.close()
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert len(errors) == 9


def test_a_record_that_cannot_be_encoded_leaves_the_request_open() -> None:
    def handler(request: ServerRequest) -> None:
        request.add_mx("a.example.", 70000, "mx.example.", 5)  # preference over 16 bits
        with pytest.raises(DNSValueError):
            request.respond()
        assert not request.done
        request.records(ANSWER).clear()
        request.respond(2)

    h = serve(handler)
    try:
        assert h.query("a.example").rcode() == dns.rcode.SERVFAIL
    finally:
        h.close()


def test_extended_rcode_goes_in_the_opt_record() -> None:
    h = serve(lambda request: request.respond(23))  # BADCOOKIE
    try:
        reply = h.query("a.example", use_edns=0)
    finally:
        h.close()
    assert reply.rcode() == 23


def test_respond_or_drop_only_once() -> None:
    def handler(request: ServerRequest) -> None:
        request.respond()
        with pytest.raises(EventStateError):
            request.respond()
        with pytest.raises(EventStateError):
            request.drop()

    h = serve(handler)
    try:
        h.query("a.example")
    finally:
        h.close()


def test_drop_sends_nothing_and_the_server_goes_on() -> None:
    def handler(request: ServerRequest) -> None:
        if request.questions[0].name.startswith("drop"):
            request.drop()
            with pytest.raises(EventStateError):
                request.respond()
        else:
            request.respond()

    h = serve(handler)
    try:
        client = h.udp_client()
        client.send(make_query("drop.example", "A"))
        assert h.udp_silent(client)
        assert h.query("keep.example").rcode() == 0
        assert h.server.stats.dropped == 1
        assert h.server.stats.queries == 2
    finally:
        h.close()


# --- compression and truncation -----------------------------------------------------------


def many_a(count: int) -> Any:
    def handler(request: ServerRequest) -> None:
        name = request.questions[0].name
        request.add_a(name, [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(count)], 60)
        request.respond()

    return handler


def test_names_are_compressed() -> None:
    h = serve(many_a(10))
    try:
        wire = h.udp_exchange(make_query("www.example.com", "A"))
    finally:
        h.close()
    # header, question (17 + 4), ten answers of a pointer and 14 bytes
    assert len(wire) == 12 + 21 + 10 * 16
    assert wire.count(b"\xc0\x0c") == 10
    assert len(dns.message.from_wire(wire).answer[0]) == 10


def test_udp_reply_without_edns_is_cut_at_512_with_tc() -> None:
    h = serve(many_a(60))  # 33 + 60 * 16 bytes: over 512
    try:
        wire = h.udp_exchange(make_query("www.example.com", "A"))
        assert h.server.stats.truncated == 1
    finally:
        h.close()
    assert len(wire) <= 512
    reply = dns.message.from_wire(wire)
    assert reply.flags & dns.flags.TC
    assert len(reply.answer[0]) == (512 - 33) // 16


def test_udp_reply_fits_the_clients_edns_size() -> None:
    h = serve(many_a(200))  # 33 + 11 + 3200 bytes
    try:
        small = h.udp_exchange(make_query("www.example.com", "A", edns_udp_size=1232))
        large = h.udp_exchange(make_query("www.example.com", "A", edns_udp_size=4096))
        tiny = h.udp_exchange(make_query("www.example.com", "A", edns_udp_size=512))
    finally:
        h.close()
    assert len(small) <= 1232 and dns.message.from_wire(small).flags & dns.flags.TC
    assert len(tiny) <= 512 and dns.message.from_wire(tiny).flags & dns.flags.TC
    reply = dns.message.from_wire(large)
    assert not reply.flags & dns.flags.TC
    assert len(reply.answer[0]) == 200
    assert reply.edns == 0 and reply.payload == 1232  # the server's own size


def test_tcp_replies_are_never_truncated() -> None:
    h = serve(many_a(2000))  # 32 KB
    try:
        sock = h.tcp_client()
        h.tcp_send(sock, make_query("www.example.com", "A"))
        (wire,) = h.tcp_receive(sock)
    finally:
        h.close()
    reply = dns.message.from_wire(wire)
    assert not reply.flags & dns.flags.TC
    assert len(reply.answer[0]) == 2000


# --- TCP ------------------------------------------------------------------------------------


def test_tcp_pipelined_queries_answered_in_any_order() -> None:
    held: list[ServerRequest] = []

    def handler(request: ServerRequest) -> None:
        assert request.transport == "tcp"
        held.append(request)
        if len(held) == 3:
            for req in reversed(held):
                req.add_a(req.questions[0].name, ["192.0.2.9"], 1)
                req.respond()

    h = serve(handler)
    try:
        sock = h.tcp_client()
        h.tcp_send(sock, *(make_query(f"q{i}.example", "A", id=100 + i) for i in range(3)))
        replies = [dns.message.from_wire(w) for w in h.tcp_receive(sock, 3)]
        assert [r.id for r in replies] == [102, 101, 100]
        assert [r.question[0].name.to_text() for r in replies] == [
            "q2.example.",
            "q1.example.",
            "q0.example.",
        ]
        assert held[0].peer == sock.getsockname()
        h.tcp_send(sock, make_query("again.example", "A", id=5))  # the connection stays
        held.clear()
    finally:
        h.close()


def test_tcp_client_cap_closes_new_connections_at_once() -> None:
    h = serve(None, max_tcp_clients=2)
    try:
        first, second = h.tcp_client(), h.tcp_client()
        h.tcp_send(first, make_query("a.example", "A"))
        h.tcp_receive(first)
        h.tcp_send(second, make_query("b.example", "A"))
        h.tcp_receive(second)
        third = h.tcp_client()
        h.tcp_closed(third, 2)
        assert h.server.stats.tcp_refused == 1
        assert h.server.tcp_clients == 2
        first.close()
        h.run_until(lambda: h.server.tcp_clients == 1)
        fourth = h.tcp_client()
        h.tcp_send(fourth, make_query("c.example", "A"))
        assert len(h.tcp_receive(fourth)) == 1
    finally:
        h.close()


def test_tcp_idle_connection_is_closed() -> None:
    h = serve(None, tcp_idle_timeout=0.1)
    try:
        sock = h.tcp_client()
        h.tcp_send(sock, make_query("a.example", "A"))
        h.tcp_receive(sock)
        took = h.tcp_closed(sock, 2)
        assert 0.05 < took < 1.0
        assert h.server.tcp_clients == 0
    finally:
        h.close()


def test_tcp_idle_timeout_waits_for_a_slow_answer() -> None:
    held: list[ServerRequest] = []
    h = serve(held.append, tcp_idle_timeout=0.1)
    try:
        sock = h.tcp_client()
        h.tcp_send(sock, make_query("slow.example", "A", id=9))
        h.run_for(0.3)  # three idle timeouts pass while the handler holds the query
        held[0].respond()
        (wire,) = h.tcp_receive(sock)
        assert dns.message.from_wire(wire).id == 9
    finally:
        h.close()


def test_tcp_half_closed_client_still_gets_its_answers() -> None:
    held: list[ServerRequest] = []
    h = serve(held.append)
    try:
        sock = h.tcp_client()
        h.tcp_send(sock, make_query("a.example", "A", id=1), make_query("b.example", "A", id=2))
        sock.shutdown(socket.SHUT_WR)
        h.run_until(lambda: len(held) == 2)
        h.run_for(0.05)
        for request in held:
            request.respond()
        assert len(h.tcp_receive(sock, 2)) == 2
        h.tcp_closed(sock)
    finally:
        h.close()


# --- answering later, failing, closing ------------------------------------------------------


def test_handler_answers_later_from_the_loop() -> None:
    base_holder: list[EventBase] = []

    def handler(request: ServerRequest) -> None:
        def later(fd: int, what: int, arg: Any) -> None:
            request.add_a(request.questions[0].name, ["192.0.2.77"], 5)
            request.respond()

        base_holder[0].timer(later).add(0.05)

    h = serve(handler)
    base_holder.append(h.base)
    try:
        client = h.udp_client()
        client.send(make_query("later.example", "A"))
        h.run_until(lambda: h.server.pending == 1)
        reply = dns.message.from_wire(h.udp_receive(client))
        assert rrset_texts(reply) == ["later.example. 5 IN A 192.0.2.77"]
        assert h.server.pending == 0
    finally:
        h.close()


def test_close_answers_servfail_to_what_is_pending() -> None:
    held: list[ServerRequest] = []
    h = serve(held.append)
    udp = h.udp_client()
    tcp = h.tcp_client()
    udp.send(make_query("u.example", "A", id=1))
    h.tcp_send(tcp, make_query("t.example", "A", id=2))
    h.run_until(lambda: len(held) == 2)
    held[0].add_a("u.example.", ["192.0.2.1"], 5)  # left out of the SERVFAIL
    h.server.close()
    udp.setblocking(True)
    udp.settimeout(2)
    reply = dns.message.from_wire(udp.recv(512))
    assert (reply.id, reply.rcode(), reply.answer) == (1, dns.rcode.SERVFAIL, [])
    tcp.setblocking(True)
    tcp.settimeout(2)
    data = tcp.recv(512)
    assert dns.message.from_wire(data[2:]).rcode() == dns.rcode.SERVFAIL
    assert all(request.done for request in held)
    with pytest.raises(EventStateError):
        held[0].respond()
    with pytest.raises(EventStateError):
        h.server.listen_udp(("127.0.0.1", 0))
    h.close()


def test_handler_that_raises_gets_servfail(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: ServerRequest) -> None:
        request.add_a("x.example.", ["192.0.2.1"], 5)
        raise RuntimeError("boom")

    h = serve(handler)
    logger = logging.getLogger("evweb")
    try:
        handlers = logger.handlers[:]
        for extra in handlers:  # this test wants the error logged, not failed on
            logger.removeHandler(extra)
        with caplog.at_level(logging.ERROR, "evweb.dns"):
            reply = h.query("x.example")
        for extra in handlers:
            logger.addHandler(extra)
    finally:
        h.close()
    assert reply.rcode() == dns.rcode.SERVFAIL and reply.answer == []
    assert "boom" in caplog.text


def test_handler_may_close_the_server() -> None:
    holder: list[DNSServer] = []

    def handler(request: ServerRequest) -> None:
        request.respond()
        holder[0].close()

    h = serve(handler)
    holder.append(h.server)
    try:
        client = h.udp_client()
        for i in range(5):
            client.send(make_query(f"q{i}.example", "A"))
        h.udp_receive(client)
        assert h.server.closed and h.server.stats.queries == 1
    finally:
        h.close()


def test_notimp_for_other_opcodes_and_badvers_for_edns1(harness: Harness) -> None:
    for opcode in (dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY, dns.opcode.UPDATE):
        query = dns.message.make_query("a.example", "SOA")
        query.set_opcode(opcode)
        reply = dns.message.from_wire(harness.udp_exchange(query.to_wire()))
        assert reply.rcode() == dns.rcode.NOTIMP and reply.opcode() == opcode
    query = dns.message.make_query("a.example", "A", use_edns=1)
    reply = dns.message.from_wire(harness.udp_exchange(query.to_wire()))
    assert reply.rcode() == dns.rcode.BADVERS
    assert harness.server.stats.notimpl == 4 and harness.server.stats.queries == 0


# --- sockets --------------------------------------------------------------------------------


def test_add_socket_takes_bound_udp_and_tcp_sockets() -> None:
    base = EventBase()
    server = DNSServer(base, lambda request: request.respond())
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    assert server.add_socket(udp) == udp.getsockname()
    assert server.add_socket(tcp) == tcp.getsockname()
    assert server.udp_addresses == [udp.getsockname()]
    assert server.tcp_addresses == [tcp.getsockname()]
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as other, pytest.raises(ValueError):
        server.add_socket(other)
    server.close()
    assert udp.fileno() == -1 and tcp.fileno() == -1
    base.close()


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    base = EventBase()
    server = DNSServer(base, lambda request: request.respond(3))
    try:
        address = server.listen_udp(("::1", 0))
    except OSError as exc:
        server.close()
        base.close()
        pytest.skip(f"no IPv6 loopback: {exc}")
    client = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    client.setblocking(False)
    client.sendto(make_query("a.example", "A"), address[:2])
    got: list[bytes] = []

    def ready() -> bool:
        try:
            got.append(client.recv(512))
        except BlockingIOError:
            return False
        return True

    run_until(base, ready)
    assert dns.message.from_wire(got[0]).rcode() == dns.rcode.NXDOMAIN
    client.close()
    server.close()
    base.close()


def test_constructor_checks_its_arguments() -> None:
    base = EventBase()
    with pytest.raises(TypeError):
        DNSServer(base, "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DNSServer(base, print, max_tcp_clients=-1)
    with pytest.raises(ValueError):
        DNSServer(base, print, tcp_idle_timeout=0)
    server = DNSServer(base, print)
    server.max_tcp_clients = 3
    server.tcp_idle_timeout = 2
    assert (server.max_tcp_clients, server.tcp_idle_timeout) == (3, 2.0)
    with pytest.raises(ValueError):
        server.listen_udp(("localhost", 0))  # numeric addresses only
    server.close()
    server.close()  # idempotent
    base.close()


# --- evweb's own resolver against this server ----------------------------------------------


def zone_handler(request: ServerRequest) -> None:
    question = request.questions[0]
    name = question.name.lower()
    if name == "www.example.com.":
        if question.qtype == 1:
            request.add_a(question.name, ["192.0.2.1"], 300)
        elif question.qtype == 28:
            request.add_aaaa(question.name, ["2001:db8::1"], 300)
    elif name == "big.example.com." and question.qtype == 1:
        request.add_a(question.name, [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(100)], 60)
    elif name == "1.2.0.192.in-addr.arpa." and question.qtype == 12:
        request.add_ptr(question.name, "www.example.com.", 300)
    else:
        request.respond(3)
        return
    request.set_flags(aa=True)
    request.respond()


def test_evwebs_resolver_queries_this_server() -> None:
    h = serve(zone_handler)
    h.server.listen_tcp(h.udp)  # TCP on the UDP port too, for the resolver's fallback
    resolver = DNSResolver(h.base, resolv_conf=None, hosts=None)
    resolver.add_nameserver(f"127.0.0.1:{h.udp[1]}")
    results: list[DNSResult] = []
    try:
        resolver.resolve_ipv4("www.example.com", results.append)
        resolver.resolve_ipv6("www.example.com", results.append)
        resolver.resolve_reverse("192.0.2.1", results.append)
        resolver.resolve_ipv4("missing.example.com", results.append)
        resolver.resolve_ipv4("big.example.com", results.append)  # TC: retried over TCP
        h.run_until(lambda: len(results) == 5)
    finally:
        resolver.close()
        h.close()
    by_name = {(r.qname, r.error is None): r for r in results}
    assert by_name["www.example.com.", True].addresses in (["192.0.2.1"], ["2001:db8::1"])
    assert sorted(a for r in results if r.qname == "www.example.com." for a in r.addresses) == [
        "192.0.2.1",
        "2001:db8::1",
    ]
    assert by_name["missing.example.com.", False].error is not None
    assert len(by_name["big.example.com.", True].addresses) == 100
    assert h.server.stats.truncated == 1
    assert h.server.stats.tcp_accepted == 1


# --- back-pressure --------------------------------------------------------------------------


class FullSocket(socket.socket):
    """A UDP socket whose send buffer is 'full' for its first ``busy`` sends."""

    busy = 3

    def sendto(self, data: Any, *args: Any) -> int:  # type: ignore[override]
        if FullSocket.busy:
            FullSocket.busy -= 1
            raise BlockingIOError
        return super().sendto(data, *args)


def test_udp_replies_wait_while_the_socket_is_full() -> None:
    base = EventBase()
    server = DNSServer(base, lambda request: request.respond())
    sock = FullSocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    address = server.add_socket(sock)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setblocking(False)
    ids: list[int] = []

    def drain() -> bool:
        while True:
            try:
                ids.append(dns.message.from_wire(client.recv(512)).id)
            except BlockingIOError:
                return len(ids) == 5

    try:
        for ident in range(5):
            client.sendto(make_query("a.example", "A", id=ident), address)
        run_until(base, drain)
    finally:
        client.close()
        server.close()
        base.close()
    assert ids == [0, 1, 2, 3, 4]  # queued in order behind the first that did not go
    assert server.stats.send_errors == 0


def test_tcp_connection_stops_reading_at_the_inflight_cap() -> None:
    from evweb.dns._server_tcp import MAX_INFLIGHT

    held: list[ServerRequest] = []
    h = serve(held.append)
    try:
        sock = h.tcp_client()
        total = MAX_INFLIGHT + 40
        h.tcp_send(sock, *(make_query(f"q{i}.example", "A", id=i) for i in range(total)))
        h.run_until(lambda: len(held) == MAX_INFLIGHT)
        h.run_for(0.05)
        assert len(held) == MAX_INFLIGHT  # the rest waits
        for request in held[: MAX_INFLIGHT // 2 + 1]:
            request.respond()
        h.run_until(lambda: len(held) == total)
        for request in held[MAX_INFLIGHT // 2 + 1 :]:
            request.respond()
        ids = sorted(dns.message.from_wire(w).id for w in h.tcp_receive(sock, total))
        assert ids == list(range(total))
    finally:
        h.close()
