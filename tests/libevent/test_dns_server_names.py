"""The evdns server names (event2/dns.h) over DNSServer, as regress_dns.c's test server uses them:
a UDP port answering A, AAAA, PTR, CNAME and errors, seen by evweb's own evdns_base."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import pytest

import evweb.libevent as le
from evweb.dns import make_query
from evweb.dns.server import ServerRequest
from evweb.io import Listener
from evweb.reactor import EventBase
from tests.dns.scripted_server import run_until

pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")


@pytest.fixture
def base() -> Iterator[EventBase]:
    b = EventBase()
    yield b
    b.close()


def regress_server_cb(req: ServerRequest, arg: Any) -> None:
    """regress_dns.c's dns_server_request_cb, in Python."""
    arg.append(le.evdns_server_request_get_requesting_addr(req))
    for question in req.questions:
        name, qtype = question.name.rstrip("."), question.qtype  # case as asked (0x20)
        key = name.lower()
        if qtype == le.EVDNS_TYPE_A and key == "zz.example.com":
            assert (
                le.evdns_server_request_add_a_reply(req, name, 1, b"\x0c\x22\x38\x4e", 12345) == 0
            )
        elif qtype == le.EVDNS_TYPE_AAAA and key == "zz.example.com":
            addr = socket.inet_pton(socket.AF_INET6, "1234:5678::abcd")
            assert le.evdns_server_request_add_aaaa_reply(req, name, 1, addr, 54321) == 0
        elif qtype == le.EVDNS_TYPE_PTR and key == "78.56.34.12.in-addr.arpa":
            assert (
                le.evdns_server_request_add_ptr_reply(req, None, name, "foo.bar.example.com", 54321)
                == 0
            )
        elif qtype == le.EVDNS_TYPE_A and key == "alias.example.com":
            assert le.evdns_server_request_add_cname_reply(req, name, "zz.example.com", 100) == 0
            assert (
                le.evdns_server_request_add_a_reply(req, "zz.example.com", 1, ["1.2.3.4"], 10) == 0
            )
        elif key == "nosuchplace.example.com":
            assert le.evdns_server_request_respond(req, le.DNS_ERR_NOTEXIST) == 0
            return
        elif key == "drop.example.com":
            assert le.evdns_server_request_drop(req) == 0
            return
    le.evdns_server_request_set_flags(req, le.EVDNS_FLAGS_AA)
    assert le.evdns_server_request_respond(req, le.DNS_ERR_NONE) == 0


class Port:
    """A UDP port made with evdns_add_server_port_with_base, and a client socket."""

    def __init__(self, base: EventBase) -> None:
        self.base = base
        self.seen: list[Any] = []
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        self.address = sock.getsockname()
        port = le.evdns_add_server_port_with_base(base, sock, 0, regress_server_cb, self.seen)
        assert port is not None
        self.port = port
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client.setblocking(False)
        self.client.connect(self.address)

    def ask(self, name: str, rdtype: str) -> dns.message.Message | None:
        self.client.send(dns.message.make_query(name, rdtype).to_wire())
        got: list[bytes] = []

        def ready() -> bool:
            try:
                got.append(self.client.recv(65535))
            except BlockingIOError:
                return False
            return True

        try:
            run_until(self.base, ready, 0.3)
        except AssertionError:
            return None
        return dns.message.from_wire(got[0])

    def close(self) -> None:
        self.client.close()
        le.evdns_close_server_port(self.port)


@pytest.fixture
def port(base: EventBase) -> Iterator[Port]:
    p = Port(base)
    yield p
    p.close()


def test_constants_have_libevents_values() -> None:
    assert (le.EVDNS_ANSWER_SECTION, le.EVDNS_AUTHORITY_SECTION, le.EVDNS_ADDITIONAL_SECTION) == (
        0,
        1,
        2,
    )
    assert (le.EVDNS_FLAGS_AA, le.EVDNS_FLAGS_RD) == (0x400, 0x080)
    assert (le.EVDNS_TYPE_A, le.EVDNS_TYPE_PTR, le.EVDNS_TYPE_AAAA, le.EVDNS_CLASS_INET) == (
        1,
        12,
        28,
        1,
    )


def test_a_aaaa_ptr_cname_answers(port: Port) -> None:
    reply = port.ask("zz.example.com", "A")
    assert reply is not None and reply.flags & dns.flags.AA
    assert [r.to_text() for r in reply.answer] == ["zz.example.com. 12345 IN A 12.34.56.78"]
    reply = port.ask("zz.example.com", "AAAA")
    assert reply is not None
    assert [r.to_text() for r in reply.answer] == ["zz.example.com. 54321 IN AAAA 1234:5678::abcd"]
    reply = port.ask("78.56.34.12.in-addr.arpa", "PTR")
    assert reply is not None
    assert [r.to_text() for r in reply.answer] == [
        "78.56.34.12.in-addr.arpa. 54321 IN PTR foo.bar.example.com."
    ]
    reply = port.ask("alias.example.com", "A")
    assert reply is not None
    assert [r.to_text() for r in reply.answer] == [
        "alias.example.com. 100 IN CNAME zz.example.com.",
        "zz.example.com. 10 IN A 1.2.3.4",
    ]
    assert port.seen[0] == port.client.getsockname()


def test_errors_and_drop(port: Port) -> None:
    reply = port.ask("nosuchplace.example.com", "A")
    assert reply is not None and reply.rcode() == dns.rcode.NXDOMAIN
    assert port.ask("drop.example.com", "A") is None


def test_evdns_base_resolves_against_the_port(base: EventBase, port: Port) -> None:
    dns_base = le.evdns_base_new(base, le.EVDNS_BASE_DISABLE_WHEN_INACTIVE)
    assert dns_base is not None
    assert le.evdns_base_nameserver_ip_add(dns_base, f"127.0.0.1:{port.address[1]}") == 0
    calls: list[tuple[Any, ...]] = []

    def cb(*args: Any) -> None:
        calls.append(args)

    le.evdns_base_resolve_ipv4(dns_base, "zz.example.com", 0, cb, "a")
    le.evdns_base_resolve_ipv6(dns_base, "zz.example.com", 0, cb, "b")
    le.evdns_base_resolve_reverse(dns_base, b"\x0c\x22\x38\x4e", 0, cb, "c")
    le.evdns_base_resolve_ipv4(dns_base, "nosuchplace.example.com", 0, cb, "d")
    try:
        run_until(base, lambda: len(calls) == 4, 5)
    finally:
        le.evdns_base_free(dns_base, 0)
    by_arg = {call[-1]: call for call in calls}
    assert by_arg["a"][:5] == (le.DNS_ERR_NONE, le.DNS_IPv4_A, 1, 12345, ["12.34.56.78"])
    assert by_arg["b"][:5] == (le.DNS_ERR_NONE, le.DNS_IPv6_AAAA, 1, 54321, ["1234:5678::abcd"])
    assert by_arg["c"][0] == le.DNS_ERR_NONE and by_arg["c"][4] == ["foo.bar.example.com"]
    assert by_arg["d"][0] == le.DNS_ERR_NOTEXIST


def test_add_reply_generic_and_set_flags(base: EventBase) -> None:
    def cb(req: ServerRequest, arg: Any) -> None:
        name = req.questions[0].name
        assert le.evdns_server_request_add_reply(
            req, le.EVDNS_ANSWER_SECTION, name, le.EVDNS_TYPE_TXT, 1, 30, 4, 0, b"\x03abcXYZ"
        ) == 0  # fmt: skip
        assert le.evdns_server_request_add_reply(
            req, le.EVDNS_AUTHORITY_SECTION, "example.com", le.EVDNS_TYPE_NS, 1, 30, -1, 1,
            "ns.example.com",
        ) == 0  # fmt: skip
        assert le.evdns_server_request_add_reply(
            req, le.EVDNS_ADDITIONAL_SECTION, "x.example.com", 65280, 1, 30, -1, 1, "t.example"
        ) == 0  # fmt: skip
        assert le.evdns_server_request_add_reply(req, 7, name, 1, 1, 30, 0, 0, b"") == -1
        assert le.evdns_server_request_add_a_reply(req, name, 1, b"\x01", 30) == -1  # short
        le.evdns_server_request_set_flags(req, le.EVDNS_FLAGS_AA | le.EVDNS_FLAGS_RD)
        assert le.evdns_server_request_respond(req, 16) == -1  # C allows 0..15
        assert le.evdns_server_request_respond(req, 0) == 0
        assert le.evdns_server_request_respond(req, 0) == -1  # once only
        assert le.evdns_server_request_drop(req) == -1

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    server = le.evdns_add_server_port_with_base(base, sock.detach(), 0, cb, None)
    assert server is not None
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setblocking(False)
    client.sendto(make_query("t.example", "TXT"), server.udp_addresses[0])
    got: list[bytes] = []

    def ready() -> bool:
        try:
            got.append(client.recv(4096))
        except BlockingIOError:
            return False
        return True

    try:
        run_until(base, ready)
    finally:
        client.close()
        le.evdns_close_server_port(server)
    reply = dns.message.from_wire(got[0])
    assert reply.flags & dns.flags.AA and reply.flags & dns.flags.RA  # libevent's "RD" is 0x080
    assert [r.to_text() for r in reply.answer] == ['t.example. 30 IN TXT "abc"']
    assert [r.to_text() for r in reply.authority] == ["example.com. 30 IN NS ns.example.com."]
    assert [r.to_text() for r in reply.additional] == [
        "x.example.com. 30 IN TYPE65280 \\# 2 c00c"
    ]  # compressed


def test_listener_port_and_options(base: EventBase) -> None:
    listener = Listener.bind(base, None, ("127.0.0.1", 0))
    server = le.evdns_add_server_port_with_listener(
        base, listener, 0, lambda req, arg: le.evdns_server_request_respond(req, 0), None
    )
    assert server is not None
    assert le.evdns_server_port_set_option(server, le.EVDNS_SOPT_TCP_MAX_CLIENTS, 3) == 0
    assert le.evdns_server_port_set_option(server, le.EVDNS_SOPT_TCP_IDLE_TIMEOUT, 7) == 0
    assert le.evdns_server_port_set_option(server, 99, 1) == -1
    assert (server.max_tcp_clients, server.tcp_idle_timeout) == (3, 7.0)
    sock = socket.create_connection(listener.address, timeout=2)
    query = make_query("a.example", "A", id=3)
    sock.sendall(len(query).to_bytes(2, "big") + query)
    sock.setblocking(False)
    buf = bytearray()

    def ready() -> bool:
        try:
            buf.extend(sock.recv(4096))
        except BlockingIOError:
            pass
        return len(buf) >= 14

    try:
        run_until(base, ready)
    finally:
        sock.close()
        le.evdns_close_server_port(server)
    assert dns.message.from_wire(bytes(buf[2:])).id == 3
    assert listener.closed


def test_bad_socket_gives_none(base: EventBase) -> None:
    assert le.evdns_add_server_port_with_base(base, -1, 0, regress_server_cb, None) is None
