"""The resolver against a real nameserver (dnsmasq): record types, errors, search lists, load."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evweb.dns import MX, SRV, TXT
from evweb.dns.resolver import DNSResolver, DNSResult, QueryFlags
from evweb.errors import DNSErrorCode
from evweb.reactor import EventBase, supported_methods
from tests.dns.dnsmasq import LARGE, TTL, Dnsmasq, dnsmasq  # noqa: F401 - the fixture
from tests.dns.scripted_server import run_until


@pytest.fixture
def resolver(dnsmasq: Dnsmasq) -> Iterator[DNSResolver]:  # noqa: F811
    base = EventBase()
    resolver = DNSResolver(base, resolv_conf=None, hosts=None)
    resolver.add_nameserver(dnsmasq.address)
    yield resolver
    resolver.close()
    base.close()


def ask(resolver: DNSResolver, name: str, rtype: int | str = "A", **kw: object) -> DNSResult:
    results: list[DNSResult] = []
    resolver.query(name, rtype, results.append, **kw)  # type: ignore[arg-type]
    resolver.base.dispatch()  # returns once the lookup is over: the resolver keeps no event
    assert len(results) == 1
    return results[0]


def test_a_and_aaaa(resolver):
    a = ask(resolver, "www.example.com")
    assert a.ok and a.addresses == ["192.0.2.1"] and a.ttl == TTL and a.rcode == 0
    aaaa = ask(resolver, "www.example.com", "AAAA")
    assert aaaa.addresses == ["2001:db8::1"]
    results: list[DNSResult] = []
    resolver.resolve_ipv4("v4only.example.com", results.append)
    resolver.resolve_ipv6("www.example.com", results.append)
    resolver.base.dispatch()
    assert [r.addresses for r in results] == [["192.0.2.2"], ["2001:db8::1"]]


def test_cname_chain(resolver):
    result = ask(resolver, "chain.example.com")
    assert result.addresses == ["192.0.2.1"]
    assert result.names == ["alias.example.com.", "www.example.com."]
    assert result.canonical_name == "www.example.com."
    cname = ask(resolver, "alias.example.com", "CNAME")
    assert cname.names == ["www.example.com."] and cname.addresses == []


def test_mx_txt_srv(resolver):
    mx = ask(resolver, "example.com", "MX")
    assert [(r.data.preference, r.data.exchange) for r in mx.answers if isinstance(r.data, MX)] == [
        (10, "mail.example.com.")
    ]
    txt = ask(resolver, "example.com", "TXT")
    assert [r.data.strings for r in txt.answers if isinstance(r.data, TXT)] == [(b"hello world",)]
    srv = ask(resolver, "_sip._tcp.example.com", "SRV")
    data = next(r.data for r in srv.answers if isinstance(r.data, SRV))
    assert (data.priority, data.weight, data.port, data.target) == (0, 5, 5060, "sip.example.com.")


@pytest.mark.parametrize("address", ["192.0.2.1", "2001:db8::1"])
def test_reverse(resolver, address):
    results: list[DNSResult] = []
    resolver.resolve_reverse(address, results.append)
    resolver.base.dispatch()
    assert results[0].ok and results[0].names == ["www.example.com."]
    assert results[0].qname.endswith(("in-addr.arpa.", "ip6.arpa."))


def test_nxdomain_and_nodata(resolver):
    missing = ask(resolver, "nope.example.com")
    assert missing.error is not None and missing.error.code == DNSErrorCode.NOTEXIST
    assert missing.rcode == 3 and missing.error.name == "nope.example.com"
    empty = ask(resolver, "v4only.example.com", "AAAA")
    assert empty.code == DNSErrorCode.NODATA and empty.rcode == 0


def test_truncated_then_tcp_and_use_vc(resolver):
    large = ask(resolver, "large.example.com")
    assert sorted(large.addresses) == sorted(LARGE)
    truncated = ask(resolver, "large.example.com", flags=QueryFlags.IGNORE_TC)
    assert truncated.code == DNSErrorCode.TRUNCATED
    resolver.set_option("use-vc")
    assert ask(resolver, "www.example.com").addresses == ["192.0.2.1"]


def test_edns_avoids_tcp(resolver):
    resolver.set_option("edns-udp-size:", "4096")
    result = ask(resolver, "large.example.com", flags=QueryFlags.IGNORE_TC)
    assert len(result.addresses) == len(LARGE)


def test_many_concurrent_queries(resolver):
    results: list[DNSResult] = []
    names = ["www.example.com", "v4only.example.com", "mail.example.com", "nope.example.com"]
    for i in range(400):
        resolver.resolve_ipv4(names[i % 4], results.append)
    assert resolver.pending == 400
    resolver.base.dispatch()
    assert len(results) == 400 and resolver.pending == 0
    for i, result in enumerate(results):
        assert result.name == names[i % 4]
        assert result.ok == (i % 4 != 3)


# --- search lists (libevent's dns/search, search_lower) -------------------------------------


@pytest.fixture
def searching(resolver: DNSResolver) -> DNSResolver:
    for domain in ("a.example.com", "b.example.com", "c.example.com"):
        resolver.add_search(domain)
    return resolver


def test_search_list(searching):
    host = ask(searching, "host")
    assert host.addresses == ["11.22.33.44"] and host.qname == "host.c.example.com."
    assert ask(searching, "host2").addresses == ["200.100.0.100"]
    assert ask(searching, "host", flags=QueryFlags.NO_SEARCH).code == DNSErrorCode.NOTEXIST
    assert ask(searching, "host2", flags=QueryFlags.NO_SEARCH).code == DNSErrorCode.NOTEXIST
    nowhere = ask(searching, "host3")
    assert nowhere.code == DNSErrorCode.NOTEXIST and nowhere.qname == "host3."  # bare name last
    assert ask(searching, "host.").code == DNSErrorCode.NOTEXIST  # absolute: no search


def test_search_ndots_ordering(resolver):
    resolver.add_search("sub.example.com")
    assert ask(resolver, "host3.example.com").addresses == ["33.33.33.33"]  # as given first
    resolver.set_option("ndots", "3")
    deep = ask(resolver, "host3.example.com")
    assert deep.addresses == ["44.44.44.44"]  # the search domains first
    assert deep.qname == "host3.example.com.sub.example.com."
    resolver.clear_search()
    assert ask(resolver, "host3.example.com").addresses == ["33.33.33.33"]


def test_search_lower(searching):
    # libevent's search_lower: names and search domains in any case resolve
    searching.clear_search()
    searching.add_search("C.Example.COM")
    result = ask(searching, "HoSt")
    assert result.addresses == ["11.22.33.44"] and result.qname == "HoSt.C.Example.COM."


def test_search_skips_ptr(searching):
    assert ask(searching, "1.2.0.192.in-addr.arpa", "PTR").names == ["www.example.com."]


# --- every backend ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", supported_methods())
def test_backends(dnsmasq, method):  # noqa: F811
    from evweb.reactor import EventConfig

    base = EventBase(EventConfig(method=method))
    resolver = DNSResolver(base, resolv_conf=None, hosts=None)
    resolver.add_nameserver(dnsmasq.address)
    results: list[DNSResult] = []
    for name in ("www.example.com", "chain.example.com", "large.example.com") * 5:
        resolver.resolve_ipv4(name, results.append)
    run_until(base, lambda: len(results) == 15)
    assert all(r.ok for r in results)
    resolver.close()
    base.close()
