"""The resolver's sending rules against a scripted nameserver: retries, fail-over, TCP, 0x20.

Each test runs one :class:`ScriptedServer` (or two) on the test's own
EventBase and a DNSResolver with small timeouts (0.05 s), loopback only.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from typing import Any

import dns.rrset
import pytest

from evweb.dns.resolver import DNSResolver, DNSResult, QueryFlags, ResolverConfig
from evweb.errors import DNSErrorCode, DNSTimeoutError
from evweb.reactor import EventBase
from tests.dns.resolver_support import Harness, dropping
from tests.dns.scripted_server import Delayed, Query, answer, error, run_for


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


# --- answers ------------------------------------------------------------------------------


def test_answer_fields(h):
    server = h.server()
    result = h.lookup(h.resolver(server))
    assert result.ok and result.error is None and result.code == DNSErrorCode.NONE
    assert result.addresses == ["192.0.2.1"]
    assert result.ttl == 300 and result.rcode == 0 and not result.from_hosts
    assert result.name == "www.example.com" and result.qname == "www.example.com."
    assert result.server == ("127.0.0.1", server.port)
    assert [r.rtype for r in result.answers] == [1]


def test_ids_are_random_and_each_server_has_its_own_port(h):
    server = h.server()
    resolver = h.resolver(server)
    for _ in range(20):
        h.lookup(resolver)
    assert len({q.message.id for q in server.queries}) >= 18
    other = h.resolver(server)
    ports = {r._servers[0].sock.getsockname()[1] for r in (resolver, other)}
    assert len(ports) == 2


def test_callback_runs_from_the_loop_never_inside_query(h):
    resolver = h.resolver(h.server())
    calls: list[DNSResult] = []
    request = resolver.resolve_ipv4("www.example.com", calls.append)
    assert not calls and not request.done
    h.run_until(lambda: calls)
    assert request.done


def test_negative_answers_carry_the_soa_ttl(h):
    handler = {
        "gone.example.com": lambda q: error(q, "NXDOMAIN", soa_ttl=42),
        "empty.example.com": lambda q: error(q, "NOERROR", soa_ttl=4000),
        "bare.example.com": lambda q: error(q, "NOERROR"),
    }
    resolver = h.resolver(h.server(lambda q: handler[q.name.lower()](q)))
    gone = h.lookup(resolver, "gone.example.com")
    assert gone.error is not None and gone.error.code == DNSErrorCode.NOTEXIST
    assert gone.rcode == 3 and gone.ttl == 42 and gone.authorities
    empty = h.lookup(resolver, "empty.example.com")
    assert empty.code == DNSErrorCode.NODATA and empty.ttl == 3600  # the SOA minimum
    assert h.lookup(resolver, "bare.example.com").ttl == 0


def test_cname_chain_followed_and_records_elsewhere_ignored(h):
    def handler(query: Query) -> Any:
        reply = answer(query, "CNAME", "next.example.com.", ttl=50)
        reply.answer.append(dns.rrset.from_text("next.example.com.", 70, "IN", "A", "192.0.2.9"))
        reply.answer.append(dns.rrset.from_text("evil.example.com.", 10, "IN", "A", "6.6.6.6"))
        return reply

    result = h.lookup(h.resolver(h.server(handler)), "start.example.com")
    assert result.addresses == ["192.0.2.9"]
    assert result.names == ["next.example.com."]
    assert result.canonical_name == "next.example.com."
    assert result.ttl == 50 and len(result.answers) == 3


# --- timeouts, retries, fail-over ---------------------------------------------------------


def test_timeout_after_attempts(h):
    server = h.server(lambda q: None)
    resolver = h.resolver(server, attempts="3")
    started = time.monotonic()
    result = h.lookup(resolver)
    assert isinstance(result.error, DNSTimeoutError) and isinstance(result.error, TimeoutError)
    assert result.error.code == DNSErrorCode.TIMEOUT and result.rcode is None
    assert len(server.queries) == 3
    assert 0.14 < time.monotonic() - started < 1.0


def test_retransmission_succeeds(h):
    server = h.server(dropping(2))
    result = h.lookup(h.resolver(server, max_timeouts="10"))
    assert result.ok and len(server.queries) == 3
    assert len({q.message.id for q in server.queries}) == 3  # a fresh id each time


def test_round_robin_over_servers_that_are_up(h):
    one, two = h.server(), h.server()
    resolver = h.resolver(one, two)
    for _ in range(4):
        assert h.lookup(resolver).ok
    assert len(one.queries) == len(two.queries) == 2


def test_without_rotate_the_first_server_takes_everything(h):
    one, two = h.server(), h.server()
    resolver = DNSResolver(h.base, config=ResolverConfig(rotate=False, timeout=0.05))
    resolver.add_nameserver(one.address)
    resolver.add_nameserver(two.address)
    for _ in range(4):
        assert h.lookup(resolver).ok
    assert (len(one.queries), len(two.queries)) == (4, 0)
    resolver.close()


def test_server_down_after_max_timeouts_then_probed_back(h):
    alive = [False]
    flaky = h.server(lambda q: answer(q, "A", "192.0.2.7") if alive[0] else None)
    good = h.server()
    resolver = h.resolver(flaky, good, keep=True, max_timeouts="1", attempts="5")
    for _ in range(3):
        assert h.lookup(resolver).ok  # timeouts on flaky move each request to good
    assert not resolver.nameserver_up(flaky.address)
    sent = len(flaky.queries)
    for _ in range(4):
        assert h.lookup(resolver).server == ("127.0.0.1", good.port)
    assert all(q.name == "google.com" for q in flaky.queries[sent:])  # probes only
    alive[0] = True
    h.run_until(lambda: resolver.nameserver_up(flaky.address), 3)
    assert flaky.queries[-1].name.lower() == "google.com"
    results = [h.lookup(resolver).server for _ in range(4)]
    assert results.count(("127.0.0.1", flaky.port)) == 2


def test_giving_up_marks_the_server_down(h):
    server = h.server(lambda q: None)
    resolver = h.resolver(server, attempts="1", max_timeouts="10")
    assert h.lookup(resolver).code == DNSErrorCode.TIMEOUT
    assert not resolver.nameserver_up(server.address)
    assert h.lookup(resolver).code == DNSErrorCode.TIMEOUT  # all down: still tried


def test_probe_backoff_and_cap(h):
    times: list[float] = []

    def handler(query: Query) -> Any:
        if query.name.lower() == "google.com":
            times.append(time.monotonic())
        return None

    server = h.server(handler)
    resolver = h.resolver(
        server,
        keep=True,
        attempts="1",
        initial_probe_timeout="0.05",
        probe_backoff_factor="3",
        max_probe_timeout="1",
    )
    assert h.lookup(resolver).code == DNSErrorCode.TIMEOUT
    h.run_until(lambda: len(times) >= 3, 3)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # each gap: the probe's own timeout (0.05) plus the next delay (0.15, then 0.45)
    assert 0.17 < gaps[0] < 0.45 and 0.45 < gaps[1] < 0.9
    assert resolver.config.initial_probe_timeout == 0.05


def test_max_probe_timeout_lowers_the_initial_one(h):
    resolver = h.resolver(initial_probe_timeout="10")
    resolver.set_option("max-probe-timeout", "2")
    assert resolver.config.initial_probe_timeout == 2.0 and resolver.config.max_probe_timeout == 2


@pytest.mark.parametrize("rcode", ["REFUSED", "NOTIMP"])
def test_refused_and_notimpl_reissued_to_another_server(h, rcode):
    bad = h.server(lambda q: error(q, rcode))
    good = h.server()
    resolver = h.resolver(bad, good)
    result = h.lookup(resolver)
    assert result.ok and result.server == ("127.0.0.1", good.port)
    assert len(bad.queries) == 1 and not resolver.nameserver_up(bad.address)


def test_refused_by_the_only_server_is_the_answer(h):
    resolver = h.resolver(h.server(lambda q: error(q, "REFUSED")))
    result = h.lookup(resolver)
    assert result.error is not None
    assert (result.error.code, result.error.rcode) == (DNSErrorCode.REFUSED, 5)


def test_servfail_is_handled_as_a_timeout(h):
    flaky = h.server(dropping(0, lambda q: error(q, "SERVFAIL")))
    resolver = h.resolver(flaky, attempts="3", max_timeouts="10", timeout="5")
    started = time.monotonic()
    result = h.lookup(resolver)
    assert len(flaky.queries) == 3 and time.monotonic() - started < 1  # no waiting
    assert result.error is not None and result.error.code == DNSErrorCode.SERVERFAILED
    assert result.rcode == 2

    one_bad = [True]

    def once(query: Query) -> Any:
        if one_bad[0]:
            one_bad[0] = False
            return error(query, "SERVFAIL")
        return answer(query, "A", "192.0.2.5")

    assert h.lookup(h.resolver(h.server(once))).addresses == ["192.0.2.5"]


# --- libevent's dns/search table, with its negative answers -------------------------------

SEARCH_TABLE: dict[str, Any] = {
    "host.a.example.com": ("err", 3),
    "host.b.example.com": ("err", 3),
    "host.c.example.com": ("A", "11.22.33.44"),
    "host2.a.example.com": ("err", 3),
    "host2.b.example.com": ("A", "200.100.0.100"),
    "host2.c.example.com": ("err", 3),
    "hostn.a.example.com": ("errsoa", 0),
    "hostn.b.example.com": ("errsoa", 3),
    "hostn.c.example.com": ("err", 0),
}


def search_table(query: Query) -> Any:
    kind, value = SEARCH_TABLE.get(query.name.lower(), ("err", 3))
    if kind == "A":
        return answer(query, "A", value)
    return error(query, value, soa_ttl=42 if kind == "errsoa" else None)


def test_libevent_search_table(h):
    resolver = h.resolver(h.server(search_table))
    for domain in ("a.example.com", "b.example.com", "c.example.com"):
        resolver.add_search(domain)
    no = QueryFlags.NO_SEARCH
    cases = [
        ("host", QueryFlags.NONE, DNSErrorCode.NONE, ["11.22.33.44"], 100),
        ("host2", QueryFlags.NONE, DNSErrorCode.NONE, ["200.100.0.100"], 100),
        ("host", no, DNSErrorCode.NOTEXIST, [], 0),
        ("host2", no, DNSErrorCode.NOTEXIST, [], 0),
        ("host3", QueryFlags.NONE, DNSErrorCode.NOTEXIST, [], 0),
        ("hostn.a.example.com", no, DNSErrorCode.NODATA, [], 42),
        ("hostn.b.example.com", no, DNSErrorCode.NOTEXIST, [], 42),
        ("hostn.c.example.com", no, DNSErrorCode.NODATA, [], 0),
    ]
    for name, flags, code, addresses, ttl in cases:
        result = h.lookup(resolver, name, flags=flags)
        assert (result.code, result.addresses) == (code, addresses), name
        assert result.ttl == (300 if addresses else ttl), name


def test_query_flags_keep_libevents_bits():
    assert (QueryFlags.NO_SEARCH, QueryFlags.USE_TCP, QueryFlags.IGNORE_TC) == (1, 2, 4)


def test_socket_buffer_options_apply_to_servers_added_later(h):
    resolver = h.resolver(so_rcvbuf="10240", so_sndbuf="10240")
    resolver.add_nameserver(h.server().address)
    sock = resolver._servers[0].sock
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 10240
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 10240


def test_system_files_by_default():
    base = EventBase()
    resolver = DNSResolver(base)  # /etc/resolv.conf and /etc/hosts, whatever this machine has
    assert resolver.nameserver_count >= 1 and resolver.hosts is not None
    assert resolver.hosts.lookup("localhost") is not None
    resolver.close()
    base.close()


def test_without_keep_alive_probes_wait_for_activity(h):
    alive = [False]
    flaky = h.server(lambda q: answer(q, "A", "192.0.2.7") if alive[0] else None)
    good = h.server()
    resolver = h.resolver(flaky, good, max_timeouts="1", attempts="5")
    while resolver.nameserver_up(flaky.address):
        assert h.lookup(resolver).ok
    alive[0] = True
    sent = len(flaky.queries)
    run_for(h.base, 0.3)  # idle: the probe (due after 0.1 s) waits
    assert len(flaky.queries) == sent
    slow = h.server(lambda q: Delayed(0.3, answer(q, "A", "192.0.2.8")))
    resolver.add_nameserver(slow.address)
    resolver.query("www.example.com", "A", lambda r: None, QueryFlags.NONE)
    h.run_until(lambda: resolver.nameserver_up(flaky.address), 2)
    assert flaky.queries[-1].name.lower() == "google.com"
