"""What goes on the wire and what comes back: TCP fallback and pipelining, EDNS0, 0x20, spoofs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dns.flags
import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from evweb.dns.resolver import DNSResult, QueryFlags
from evweb.errors import DNSErrorCode
from tests.dns.resolver_support import Harness
from tests.dns.scripted_server import (
    Delayed,
    FromOtherPort,
    Query,
    answer,
    error,
    run_for,
)

LARGE = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(60)]  # 60 A records: ~1 KB


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.close()


def large(query: Query) -> Any:
    return answer(query, "A", *LARGE)


# --- TCP ------------------------------------------------------------------------------------


def test_truncated_reply_is_retried_over_tcp(h):
    server = h.server(large)
    result = h.lookup(h.resolver(server))
    assert result.ok and sorted(result.addresses) == sorted(LARGE)
    assert [q.transport for q in server.queries] == ["udp", "tcp"]


def test_tcp_fallback_goes_to_the_server_that_truncated(h):
    one, two = h.server(large), h.server(large)
    resolver = h.resolver(one, two)
    h.lookup(resolver)
    h.lookup(resolver)
    for server in (one, two):
        assert [q.transport for q in server.queries] == ["udp", "tcp"]


@pytest.mark.parametrize("how", ["flag", "option"])
def test_ignore_tc_gives_truncated(h, how):
    server = h.server(large)
    resolver = h.resolver(server, **({"ignore-tc": ""} if how == "option" else {}))
    flags = QueryFlags.IGNORE_TC if how == "flag" else QueryFlags.NONE
    result = h.lookup(resolver, flags=flags)
    assert result.error is not None and result.error.code == DNSErrorCode.TRUNCATED
    assert result.addresses == [] and server.names("tcp") == []


@pytest.mark.parametrize("how", ["flag", "option"])
def test_use_tcp_pipelines_on_one_connection(h, how):
    # the first reply is held back: replies come out of order and still match
    held = [True]

    def handler(query: Query) -> Any:
        reply = answer(query, "A", "192.0.2.1")
        if held[0]:
            held[0] = False
            return Delayed(0.03, reply)
        return reply

    server = h.server(handler)
    resolver = h.resolver(server, timeout="2", **({"use-vc": ""} if how == "option" else {}))
    flags = QueryFlags.USE_TCP if how == "flag" else QueryFlags.NONE
    results: list[DNSResult] = []
    for i in range(5):
        resolver.query(f"n{i}.example.com", "A", results.append, flags)
    h.run_until(lambda: len(results) == 5)
    assert all(r.ok for r in results)
    assert [r.name for r in results][-1] == "n0.example.com"
    assert server.tcp_accepted == 1 and server.names("udp") == []


def test_idle_tcp_connection_closes_after_the_idle_timeout(h):
    server = h.server()
    resolver = h.resolver(server, keep=True, tcp_idle_timeout="0.1")
    assert h.lookup(resolver, flags=QueryFlags.USE_TCP).ok
    assert server.tcp_open == 1
    assert h.lookup(resolver, flags=QueryFlags.USE_TCP).ok
    assert server.tcp_accepted == 1  # reused
    h.run_until(lambda: server.tcp_closed == 1, 2)


def test_idle_tcp_without_keep_alive_is_replaced_lazily(h):
    server = h.server()
    resolver = h.resolver(server, tcp_idle_timeout="0.3")
    assert h.lookup(resolver, flags=QueryFlags.USE_TCP).ok
    assert h.lookup(resolver, flags=QueryFlags.USE_TCP).ok
    assert server.tcp_accepted == 1
    run_for(h.base, 0.35)
    assert h.lookup(resolver, flags=QueryFlags.USE_TCP).ok
    assert server.tcp_accepted == 2
    h.run_until(lambda: server.tcp_closed == 1)


def test_server_closing_the_idle_connection_is_noticed(h):
    server = h.server()
    resolver = h.resolver(server, tcp_idle_timeout="10")
    assert h.lookup(resolver, flags=QueryFlags.USE_TCP).ok
    server.close_tcp_connections()
    run_for(h.base, 0.02)
    assert h.lookup(resolver, flags=QueryFlags.USE_TCP).ok
    assert server.tcp_accepted == 2


def test_connection_lost_with_a_query_pending_is_retried(h):
    first = [True]

    def handler(query: Query) -> Any:
        if first[0]:
            first[0] = False
            h.base.once(-1, 1, lambda *a: server.close_tcp_connections())  # 1: TIMEOUT
            return None
        return answer(query, "A", "192.0.2.1")

    server = h.server(handler)
    result = h.lookup(h.resolver(server, timeout="5"), flags=QueryFlags.USE_TCP, timeout=2)
    assert result.ok and server.tcp_accepted == 2


def test_tcp_timeout(h):
    server = h.server(lambda q: None)
    result = h.lookup(h.resolver(server, attempts="2"), flags=QueryFlags.USE_TCP)
    assert result.code == DNSErrorCode.TIMEOUT
    assert len(server.names("tcp")) == 2
    assert server.tcp_accepted == 2  # the connection is dropped on a timeout


def test_tcp_notimpl(h):
    server = h.server(lambda q: error(q, "NOTIMP"))
    result = h.lookup(h.resolver(server), flags=QueryFlags.USE_TCP)
    assert result.code == DNSErrorCode.NOTIMPL


# --- EDNS0 ------------------------------------------------------------------------------------


def test_edns_size_in_the_query(h):
    server = h.server(large)
    resolver = h.resolver(server)
    h.lookup(resolver)
    assert server.queries[0].edns_payload is None  # libevent's default: 512, no OPT
    resolver.set_option("edns-udp-size", "4096")
    result = h.lookup(resolver)
    assert server.queries[-1].edns_payload == 4096 and server.queries[-1].transport == "udp"
    assert result.ok and len(result.addresses) == 60  # fits: no TCP
    resolver.set_option("edns-udp-size", "100")
    assert resolver.config.edns_udp_size == 512  # clipped


# --- 0x20 and spoofed replies ---------------------------------------------------------------


def test_names_are_sent_in_random_case(h):
    server = h.server()
    resolver = h.resolver(server)
    for _ in range(8):
        assert h.lookup(resolver).ok
    sent = {q.name for q in server.queries}
    assert len(sent) > 2 and all(name.lower() == "www.example.com" for name in sent)


def rename_question(reply: Any, name: str, rdtype: str | None = None) -> None:
    """Give the reply's question another name or type (the query's own stays as received)."""
    question = reply.question[0]
    qtype = dns.rdatatype.from_text(rdtype) if rdtype else question.rdtype
    reply.question = [dns.rrset.RRset(dns.name.from_text(name), question.rdclass, qtype)]


def lowered(query: Query) -> Any:
    reply = answer(query, "A", "192.0.2.1")
    rename_question(reply, query.name.lower())
    return reply


def test_reply_in_another_case_is_ignored_with_0x20(h):
    server = h.server(lowered)
    result = h.lookup(h.resolver(server, attempts="1"), "WWW.EXAMPLE.COM")
    assert result.code == DNSErrorCode.TIMEOUT


def test_search_lower_without_0x20(h):
    # libevent's search_lower: a server answering in lower case works with randomize-case:0
    server = h.server(lowered)
    resolver = h.resolver(server, randomize_case="0")
    result = h.lookup(resolver, "WWW.Example.COM")
    assert result.ok and result.addresses == ["192.0.2.1"]
    assert server.queries[0].name == "WWW.Example.COM"


def retarget(query: Query, name: str, rdtype: str | None = None) -> Any:
    reply = answer(query, "A", "6.6.6.6")
    rename_question(reply, name, rdtype)
    return reply


def not_a_reply(query: Query) -> Any:
    reply = answer(query, "A", "6.6.6.6")
    reply.flags &= ~dns.flags.QR
    return reply


def with_id(query: Query, delta: int) -> Any:
    reply = answer(query, "A", "6.6.6.6")
    reply.id = (query.message.id + delta) % 65536
    return reply


@pytest.mark.parametrize(
    "spoof",
    [
        pytest.param(lambda q: with_id(q, 1), id="wrong id"),
        pytest.param(lambda q: FromOtherPort(answer(q, "A", "6.6.6.6")), id="wrong port"),
        pytest.param(
            lambda q: FromOtherPort(answer(q, "A", "6.6.6.6"), "127.0.0.2"), id="wrong address"
        ),
        pytest.param(lambda q: retarget(q, q.name, "AAAA"), id="wrong type"),
        pytest.param(lambda q: retarget(q, "evil.example.com"), id="wrong name"),
        pytest.param(lambda q: b"\x00" * 3, id="garbage"),
        pytest.param(not_a_reply, id="not a reply"),
    ],
)
def test_spoofed_replies_are_ignored(h, spoof):
    server = h.server(lambda q: [spoof(q), Delayed(0.01, answer(q, "A", "192.0.2.1"))])
    result = h.lookup(h.resolver(server, timeout="2"))
    assert result.ok and result.addresses == ["192.0.2.1"]
    assert len(server.queries) == 1
