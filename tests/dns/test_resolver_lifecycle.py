"""A request's life and the resolver's: the waiting queue, cancel, shutdown, suspend, idle loops."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.dns.resolver import DNSResolver, DNSResult, QueryFlags, ResolverConfig
from evweb.errors import DNSErrorCode, DNSNameError, DNSValueError, EventStateError
from evweb.reactor import EventBase, supported_methods
from tests.dns.resolver_support import Harness
from tests.dns.scripted_server import Delayed, Query, ScriptedServer, answer, error, run_for


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


def collect(resolver: DNSResolver, names: list[str], **kw: Any) -> list[DNSResult]:
    results: list[DNSResult] = []
    for name in names:
        resolver.query(name, "A", results.append, **kw)
    return results


# --- the waiting queue -------------------------------------------------------------------


def test_max_inflight_queues_the_rest(h):
    outstanding = [0, 0]  # now, most

    def handler(query: Query) -> Any:
        outstanding[0] += 1
        outstanding[1] = max(outstanding)

        def sent() -> Any:
            outstanding[0] -= 1
            return answer(query, "A", "192.0.2.1")

        return Delayed(0.01, sent)

    server = h.server(handler)
    resolver = h.resolver(server, max_inflight="3", randomize_case="0", timeout="2")
    results = collect(resolver, ["foof.example.com"] * 20)
    assert resolver.pending == 20
    h.run_until(lambda: len(results) == 20)
    assert all(r.ok for r in results) and outstanding[1] == 3 and len(server.queries) == 20


def test_requests_wait_for_a_nameserver(h):
    resolver = h.resolver()
    results = collect(resolver, ["www.example.com"])
    run_for(h.base, 0.02)
    assert not results and resolver.pending == 1
    resolver.add_nameserver(h.server().address)
    h.run_until(lambda: results)
    assert results[0].ok


def test_suspend_and_resume(h):
    server = h.server(lambda q: Delayed(0.02, answer(q, "A", "192.0.2.1")))
    resolver = h.resolver(server, timeout="2")
    results = collect(resolver, ["a.example.com", "b.example.com"])
    resolver.suspend()
    run_for(h.base, 0.05)
    assert not results  # the replies to the first transmissions are ignored
    resolver.resume()
    h.run_until(lambda: len(results) == 2)
    assert [r.name for r in results] == ["a.example.com", "b.example.com"]
    assert len(server.queries) == 4


def test_clear_nameservers_suspends_until_resume(h):
    old, new = h.server(lambda q: None), h.server()
    resolver = h.resolver(old)
    assert resolver.nameserver_count == 1
    results = collect(resolver, ["www.example.com"])
    resolver.clear_nameservers()
    assert resolver.nameserver_count == 0 and resolver.pending == 1
    resolver.add_nameserver(new.address)
    run_for(h.base, 0.02)
    assert not results and not new.queries  # suspended
    resolver.resume()
    h.run_until(lambda: results)
    assert results[0].ok and results[0].server == ("127.0.0.1", new.port)


# --- cancel and close ----------------------------------------------------------------------


def test_cancel_in_flight_and_waiting(h):
    server = h.server(lambda q: Delayed(0.03, answer(q, "A", "192.0.2.1")))
    resolver = h.resolver(server, max_inflight="1", timeout="2")
    results: list[DNSResult] = []
    first = resolver.resolve_ipv4("a.example.com", results.append)
    second = resolver.resolve_ipv4("b.example.com", results.append)
    third = resolver.resolve_ipv4("c.example.com", results.append)
    first.cancel()
    second.cancel()
    first.cancel()  # twice: nothing more
    assert not results  # from the loop, never inside cancel()
    h.run_until(lambda: len(results) == 3)
    assert [r.code for r in results] == [DNSErrorCode.CANCEL] * 2 + [DNSErrorCode.NONE]
    third.cancel()  # done already: nothing
    run_for(h.base, 0.05)
    assert len(results) == 3


def test_search_cancel(h):
    # libevent's search_cancel: cancel in the middle of a search
    resolver = h.resolver()
    requests: list[Any] = []

    def handler(query: Query) -> Any:
        if len(server.queries) == 3:
            requests[0].cancel()
        return error(query, "NXDOMAIN")

    server = h.server(handler)
    resolver.add_nameserver(server.address)
    for domain in ("a.example.com", "b.example.com", "c.example.com", "d.example.com"):
        resolver.add_search(domain)
    results: list[DNSResult] = []
    requests.append(resolver.resolve_ipv4("host", results.append))
    h.run_until(lambda: results)
    run_for(h.base, 0.05)
    assert [r.code for r in results] == [DNSErrorCode.CANCEL]
    assert len(server.queries) == 3


@pytest.mark.parametrize("fail", [True, False])
def test_close_fails_or_drops_outstanding_requests(h, fail):
    server = h.server(lambda q: None)
    resolver = h.resolver(server, max_inflight="1")
    results = collect(resolver, ["a.example.com", "b.example.com"])  # one sent, one waiting
    resolver.close(fail_requests=fail)
    assert resolver.closed and not results
    run_for(h.base, 0.05)
    expected = [DNSErrorCode.SHUTDOWN] * 2 if fail else []
    assert [r.code for r in results] == expected
    with pytest.raises(EventStateError):
        resolver.resolve_ipv4("www.example.com", results.append)
    resolver.close()  # twice: nothing


def test_close_from_a_callback(h):
    server = h.server()
    resolver = h.resolver(server)
    results: list[DNSResult] = []

    def first(result: DNSResult) -> None:
        results.append(result)
        resolver.close()

    resolver.resolve_ipv4("www.example.com", first)
    resolver.resolve_ipv4("www.example.com", results.append)
    h.run_until(lambda: len(results) == 2)
    assert results[0].ok and results[1].code in (DNSErrorCode.NONE, DNSErrorCode.SHUTDOWN)


# --- names refused before sending, hosts answers -----------------------------------------------


@pytest.mark.parametrize("name", ["", ".", "a..b", ".a", "x" * 64 + ".com", "a b.com", "a\x00b"])
def test_invalid_names_are_refused_before_sending(h, name):
    server = h.server()
    resolver = h.resolver(server)
    with pytest.raises(DNSNameError):
        resolver.resolve_ipv4(name, lambda r: None)
    assert not server.queries and resolver.pending == 0


def test_bad_addresses_and_types_are_refused(h):
    resolver = h.resolver()
    with pytest.raises(DNSValueError):
        resolver.resolve_reverse("not-an-address", lambda r: None)
    with pytest.raises(DNSValueError):
        resolver.query("www.example.com", "NOPE", lambda r: None)


def test_hosts_answers_come_without_the_network(h, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("192.0.2.50 web.local web\n2001:db8::50 web.local\n10.0.0.1 v4.local\n")
    server = h.server()
    resolver = h.resolver(server, hosts=str(hosts))
    results: list[DNSResult] = []
    resolver.resolve_ipv4("WEB.local", results.append)
    resolver.resolve_ipv6("web.local.", results.append)
    resolver.resolve_reverse("192.0.2.50", results.append)
    resolver.resolve_ipv6("v4.local", results.append)
    assert not results
    h.run_until(lambda: len(results) == 4)
    v4, v6, ptr, missing = results
    assert v4.ok and v4.from_hosts and v4.addresses == ["192.0.2.50"]
    assert v6.addresses == ["2001:db8::50"] and ptr.names == ["web.local.", "web."]
    assert missing.code == DNSErrorCode.NODATA and missing.from_hosts
    assert not server.queries
    assert h.lookup(resolver, "web.local", flags=QueryFlags.NO_HOSTS).code == DNSErrorCode.NOTEXIST


# --- the loop when idle --------------------------------------------------------------------


def test_idle_resolver_lets_dispatch_return():
    base = EventBase()
    with ScriptedServer.threaded(zone={"www.example.com": {"A": ["192.0.2.1"]}}) as server:
        resolver = DNSResolver(base, resolv_conf=None, hosts=None)
        resolver.add_nameserver(server.address)
        results = collect(resolver, ["www.example.com"] * 3)
        assert base.dispatch() == 1  # returns: nothing left
        assert len(results) == 3 and all(r.ok for r in results)
        resolver.close()
    base.close()


def test_down_server_probes_wait_while_idle():
    base = EventBase()
    with ScriptedServer.threaded(lambda q: None) as server:
        resolver = DNSResolver(base, resolv_conf=None, hosts=None)
        resolver.set_option("timeout", "0.05")
        resolver.set_option("attempts", "1")
        resolver.set_option("initial-probe-timeout", "0.05")
        resolver.add_nameserver(server.address)
        results = collect(resolver, ["www.example.com"])
        started = time.monotonic()
        base.dispatch()
        assert results[0].code == DNSErrorCode.TIMEOUT
        assert time.monotonic() - started < 0.5 and not resolver.nameserver_up(server.address)
        resolver.close()
    base.close()


def test_keep_loop_alive_keeps_the_loop_running():
    base = EventBase()
    with ScriptedServer.threaded(zone={"www.example.com": {"A": ["192.0.2.1"]}}) as server:
        resolver = DNSResolver(base, resolv_conf=None, hosts=None, keep_loop_alive=True)
        resolver.add_nameserver(server.address)
        results = collect(resolver, ["www.example.com"])
        base.loopexit(0.1)
        assert base.dispatch() == 0  # ended by loopexit, not by running dry
        assert results[0].ok
        resolver.close()
        assert base.dispatch() == 1
    base.close()


def test_unreachable_server_fails_fast(h):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nobody listens: ICMP port unreachable
    resolver = h.resolver(timeout="5")
    resolver.add_nameserver(f"127.0.0.1:{port}")
    started = time.monotonic()
    result = h.lookup(resolver)
    assert result.code == DNSErrorCode.TIMEOUT and time.monotonic() - started < 1


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_nameserver_over_udp_and_tcp(h):
    server = h.server(host="::1")
    resolver = h.resolver(server)
    assert resolver.nameservers == [("::1", server.port)]
    assert h.lookup(resolver).addresses == ["192.0.2.1"]
    assert h.lookup(resolver, flags=QueryFlags.USE_TCP).ok
    assert [q.transport for q in server.queries] == ["udp", "tcp"]


def test_a_nameserver_that_cannot_be_used_is_skipped_at_start(caplog):
    base = EventBase()
    config = ResolverConfig(nameservers=(("fe80::1", 53), ("127.0.0.1", 5300)))  # no scope
    with caplog.at_level(logging.WARNING, logger="evweb.dns"):
        resolver = DNSResolver(base, config=config, hosts=None)
    assert resolver.nameservers == [("127.0.0.1", 5300)]
    assert "cannot use nameserver [fe80::1]:53" in caplog.text
    with pytest.raises(OSError):
        resolver.add_nameserver("[fe80::1]:53")
    resolver.close()
    base.close()


# --- every backend ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", supported_methods())
def test_backends(method):
    harness = Harness(method)
    try:
        big = [f"10.0.0.{i}" for i in range(1, 61)]
        server = harness.server(
            zone={"www.example.com": {"A": ["192.0.2.1"]}, "big.example.com": {"A": big}}
        )
        resolver = harness.resolver(server)
        results = collect(resolver, ["www.example.com"] * 10 + ["big.example.com"])
        harness.run_until(lambda: len(results) == 11)
        assert all(r.ok for r in results) and len(results[-1].addresses) == 60
        assert harness.lookup(resolver, "nope.example.com").code == DNSErrorCode.NOTEXIST
    finally:
        harness.close()
