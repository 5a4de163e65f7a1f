"""getaddrinfo, the cache and ConnectResolver over the real resolver: against dnsmasq, and a
scripted server naming 127.0.0.1, so a BufferEvent and the HTTP client connect by name."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evweb.dns.cache import CachingResolver
from evweb.dns.connect import ConnectResolver, connect_addresses
from evweb.dns.getaddrinfo import AddrInfo, getaddrinfo
from evweb.dns.resolver import DNSResolver
from evweb.errors import DNSGetaddrinfoError
from evweb.http import Client, HTTPServer, Request
from evweb.io import BevEvent, Listener, SocketBufferEvent
from evweb.io.connect import dns_error
from evweb.reactor import EventBase
from tests.dns.dnsmasq import Dnsmasq, dnsmasq  # noqa: F401 - the fixture
from tests.dns.scripted_server import ScriptedServer, run_until

STREAM = socket.SOCK_STREAM


@pytest.fixture
def base() -> Iterator[EventBase]:
    b = EventBase()
    yield b
    b.close()


@pytest.fixture
def resolver(base: EventBase, dnsmasq: Dnsmasq) -> Iterator[DNSResolver]:  # noqa: F811
    r = DNSResolver(base, resolv_conf=None, hosts=None)
    r.add_nameserver(dnsmasq.address)
    r.set_option("getaddrinfo-allow-skew", "1")
    yield r
    r.close(fail_requests=False)


def gai(base: EventBase, resolver: Any, host: str, port: Any = 80, **kw: Any) -> Any:
    got: list[Any] = []
    getaddrinfo(resolver, host, port, got.append, **kw)
    run_until(base, lambda: got, 5)
    return got[0]


def test_both_families_from_dnsmasq(base: EventBase, resolver: DNSResolver) -> None:
    result = gai(base, resolver, "www.example.com", "http", socktype=STREAM)
    assert [info[4] for info in result] == [("192.0.2.1", 80), ("2001:db8::1", 80, 0, 0)]


def test_one_family_answers_nodata_no_skew_wait(base: EventBase, resolver: DNSResolver) -> None:
    got: list[Any] = []
    getaddrinfo(resolver, "v4only.example.com", 1, got.append, socktype=STREAM)
    took = run_until(base, lambda: got, 5)
    assert [info[4] for info in got[0]] == [("192.0.2.2", 1)]
    assert took < 0.5  # the AAAA NODATA came back: no skew wait


def test_canonname_follows_the_cname_chain(base: EventBase, resolver: DNSResolver) -> None:
    result = gai(
        base, resolver, "chain.example.com", 1, family=socket.AF_INET, flags=socket.AI_CANONNAME
    )
    assert result[0][3] == "www.example.com" and result[0][4] == ("192.0.2.1", 1)


def test_nxdomain_is_eai_noname(base: EventBase, resolver: DNSResolver) -> None:
    result = gai(base, resolver, "nope.example.com")
    assert isinstance(result, DNSGetaddrinfoError) and result.eai == socket.EAI_NONAME
    assert isinstance(result, socket.gaierror) and result.rcode == 3


def test_hosts_file_of_the_resolver(base: EventBase, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.9.9.9 box.example\n")
    r = DNSResolver(base, resolv_conf=None, hosts=str(hosts))
    try:
        assert gai(base, r, "box.example", 5, socktype=STREAM) == [
            (socket.AF_INET, STREAM, socket.IPPROTO_TCP, "", ("10.9.9.9", 5))
        ]
    finally:
        r.close()


def test_cache_answers_repeats(base: EventBase, resolver: DNSResolver) -> None:
    cached = CachingResolver(resolver)
    first = gai(base, cached, "www.example.com", 1, socktype=STREAM)
    again = gai(base, cached, "WWW.example.com", 1, socktype=STREAM)
    assert first == again
    stats = cached.cache.statistics()
    assert (stats.hits, stats.misses, stats.stored) == (2, 2, 2)


def test_connect_addresses_drops_duplicates() -> None:
    infos: list[AddrInfo] = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 1)),
        (socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("10.0.0.1", 1)),
    ]
    assert connect_addresses(infos) == [(socket.AF_INET, ("10.0.0.1", 1))]


# --- connecting by name ---------------------------------------------------------------------


@pytest.fixture
def named(base: EventBase) -> Iterator[ConnectResolver]:
    server = ScriptedServer(base, zone={"svc.test": {"A": ["127.0.0.1"]}})
    r = DNSResolver(base, resolv_conf=None, hosts=None)
    r.add_nameserver(server.address)
    adapter = ConnectResolver(r)
    yield adapter
    adapter.close()
    server.close()


def test_bufferevent_connects_by_name(base: EventBase, named: ConnectResolver) -> None:
    accepted: list[socket.socket] = []
    listener = Listener.bind(base, lambda lst, sock, addr: accepted.append(sock), ("127.0.0.1", 0))
    bev = SocketBufferEvent(base)
    events: list[int] = []
    bev.set_callbacks(event=lambda b, what, arg: events.append(what))
    try:
        bev.connect_hostname("svc.test", listener.address[1], resolver=named)
        run_until(base, lambda: events and accepted, 5)
        assert events[0] & BevEvent.CONNECTED
    finally:
        bev.close()
        listener.close()
        for sock in accepted:
            sock.close()


def test_bufferevent_gets_the_dns_error(base: EventBase, named: ConnectResolver) -> None:
    bev = SocketBufferEvent(base)
    events: list[int] = []
    bev.set_callbacks(event=lambda b, what, arg: events.append(what))
    try:
        bev.connect_hostname("nope.test", 80, resolver=named)
        run_until(base, lambda: events, 5)
        assert events[0] & BevEvent.ERROR
        assert dns_error(bev) == socket.EAI_NONAME
        assert isinstance(bev.error, socket.gaierror)
    finally:
        bev.close()


def test_cancelled_resolve_never_calls_back(base: EventBase, named: ConnectResolver) -> None:
    got: list[Any] = []
    named.resolve("svc.test", 80, socket.AF_UNSPEC, got.append).cancel()
    base.loopexit(0.1)
    base.dispatch()
    assert got == []


def test_http_client_by_name(base: EventBase, named: ConnectResolver) -> None:
    server = HTTPServer(base)

    def hello(req: Request) -> None:
        req.send_reply(200, None, b"hi " + (req.headers.get("host") or "").encode())

    server.set_gencb(hello)
    port = server.bind(("127.0.0.1", 0)).address[1]
    client = Client(base, resolver=named)
    try:
        response = client.get(f"http://svc.test:{port}/").wait(5)
        assert response.status == 200 and response.body == f"hi svc.test:{port}".encode()
        assert named.resolver.cache.statistics().stored >= 1
    finally:
        client.close()
        server.close()
