"""The DNS cache: TTLs, RFC 2308 negative caching, LRU, statistics, and CachingResolver
(answers from the loop, joined queries, cancel, NO_CACHE) over a scripted resolver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from evweb.dns import A, Record, RecordType
from evweb.dns._result import DNSResult
from evweb.dns.cache import CachingResolver, DNSCache, aged, cache_ttl
from evweb.dns.getaddrinfo import getaddrinfo
from evweb.errors import ConfigError
from evweb.reactor import EventBase
from tests.dns.fake_resolver import FakeResolver, make_result, soa

AT = int(RecordType.A)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def base() -> Iterator[EventBase]:
    b = EventBase()
    yield b
    b.close()


def positive(ttl: int = 300, name: str = "a.test") -> DNSResult:
    return make_result(name, AT, ["10.0.0.1"], ttl=ttl)


# --- DNSCache -----------------------------------------------------------------------------


def test_hit_until_the_ttl_runs_out_with_aged_ttls() -> None:
    clock = Clock()
    cache: DNSCache[DNSResult] = DNSCache(clock=clock)
    assert cache.put("k", positive(300))
    clock.now += 100
    hit = cache.get("k")
    assert hit is not None and hit.ttl == 200 and hit.answers[0].ttl == 200
    assert hit.addresses == ["10.0.0.1"]
    clock.now += 200
    assert cache.get("k") is None
    stats = cache.statistics()
    assert (stats.hits, stats.misses, stats.expired, stats.size) == (1, 1, 1, 0)


def test_negative_answers_kept_for_the_soa_minimum() -> None:
    clock = Clock()
    cache: DNSCache[DNSResult] = DNSCache(clock=clock)
    nx = make_result("nope.test", AT, "NXDOMAIN")  # SOA ttl 300, minimum 60
    nodata = make_result("a.test", AT, "NODATA")
    assert cache.put("nx", nx) and cache.put("nd", nodata)
    clock.now += 59
    assert cache.get("nx") is not None and cache.get("nd") is not None
    clock.now += 2
    assert cache.get("nx") is None
    assert cache.statistics().negative_hits == 2


def test_negative_ttl_capped_and_soa_ttl_counts() -> None:
    result = make_result("nope.test", AT, "NXDOMAIN")
    result.authorities = [soa(ttl=30, minimum=3600)]
    assert cache_ttl(result, 86400, 900) == (30, True)
    result.authorities = [soa(ttl=7200, minimum=3600)]
    assert cache_ttl(result, 86400, 900) == (900, True)


def test_not_cached() -> None:
    cache: DNSCache[DNSResult] = DNSCache(clock=Clock())
    nx_without_soa = make_result("nope.test", AT, "NXDOMAIN")
    nx_without_soa.authorities = []
    hosts = positive()
    hosts.from_hosts = True
    for result in (
        make_result("a.test", AT, "SERVFAIL"),
        make_result("a.test", AT, "TIMEOUT"),
        nx_without_soa,
        positive(ttl=0),
        hosts,
    ):
        assert not cache.put("k", result)
    assert len(cache) == 0


def test_max_ttl_caps_positive_answers() -> None:
    clock = Clock()
    cache: DNSCache[DNSResult] = DNSCache(max_ttl=10, clock=clock)
    cache.put("k", positive(3600))
    clock.now += 11
    assert cache.get("k") is None


def test_lru_eviction() -> None:
    cache: DNSCache[DNSResult] = DNSCache(max_size=2, clock=Clock())
    cache.put("a", positive())
    cache.put("b", positive())
    assert cache.get("a") is not None  # b is now the least recently used
    cache.put("c", positive())
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.statistics().evictions == 1


def test_expired_entries_go_before_live_ones_are_evicted() -> None:
    clock = Clock()
    cache: DNSCache[DNSResult] = DNSCache(max_size=2, clock=clock)
    cache.put("old", positive(5))
    cache.put("live", positive(300))
    clock.now += 10
    cache.put("new", positive(300))
    assert "live" in cache and "new" in cache
    stats = cache.statistics()
    assert stats.evictions == 0 and stats.expired == 1


def test_expire_clear_remove_and_stats() -> None:
    clock = Clock()
    cache: DNSCache[DNSResult] = DNSCache(clock=clock)
    cache.put("a", positive(5))
    cache.put("b", positive(50))
    clock.now += 6
    assert cache.expire() == 1
    assert cache.remove("b") and not cache.remove("b")
    cache.put("c", positive())
    cache.clear()
    assert len(cache) == 0
    assert cache.get("c") is None
    stats = cache.statistics()
    assert stats.stored == 3 and stats.lookups == 1 and stats.hit_ratio == 0.0
    cache.reset_stats()
    assert cache.statistics().stored == 0
    assert repr(cache) == "<DNSCache 0/10000 entries>"


def test_bad_sizes_refused() -> None:
    with pytest.raises(ConfigError):
        DNSCache(max_size=0)
    with pytest.raises(ConfigError):
        DNSCache(max_ttl=-1)


def test_aged_keeps_the_original() -> None:
    result = positive(100)
    older = aged(result, 30)
    assert (older.ttl, result.ttl) == (70, 100)
    assert older.answers == [Record("a.test.", 70, A("10.0.0.1"))]
    assert aged(result, 0) is result


# --- CachingResolver -------------------------------------------------------------------------


def collect(base: EventBase, start: Any, count: int) -> list[Any]:
    got: list[Any] = []

    def done(result: Any) -> None:
        got.append(result)
        if len(got) == count:
            base.loopbreak()

    start(done)
    base.loopexit(2)
    base.dispatch()
    return got


def test_second_lookup_from_the_cache_and_from_the_loop(base: EventBase) -> None:
    inner = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"]})
    r = CachingResolver(inner)
    first = collect(base, lambda cb: r.resolve_ipv4("a.test", cb), 1)
    got: list[Any] = []
    r.resolve_ipv4("A.TEST", got.append)
    assert got == []
    base.loop(1)
    assert got[0].addresses == first[0].addresses == ["10.0.0.1"]
    assert len(inner.calls) == 1
    assert r.cache.statistics().hits == 1


def test_lookups_in_flight_are_joined(base: EventBase) -> None:
    inner = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"]}, delay=0.01)
    r = CachingResolver(inner)

    def start(cb: Any) -> None:
        for _ in range(3):
            r.resolve_ipv4("a.test", cb)

    got = collect(base, start, 3)
    assert [g.addresses for g in got] == [["10.0.0.1"]] * 3
    assert len(inner.calls) == 1 and r.joined == 2


def test_cancel_one_waiter_then_all(base: EventBase) -> None:
    inner = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"]}, delay=0.01)
    r = CachingResolver(inner)
    got: list[Any] = []
    one = r.resolve_ipv4("a.test", got.append)

    def last(result: Any) -> None:
        got.append(result)
        base.loopbreak()

    two = r.resolve_ipv4("a.test", last)
    one.cancel()
    one.cancel()
    base.loopexit(1)
    base.dispatch()
    assert [g.code.name for g in got] == ["CANCEL", "NONE"]
    assert inner.cancelled == [] and two.done
    r.cache.clear()
    got.clear()
    three = r.resolve_ipv4("a.test", got.append)
    three.cancel()
    assert inner.cancelled == [("a.test", AT)]
    base.loopexit(0.05)
    base.dispatch()
    assert [g.code.name for g in got] == ["CANCEL"]


def test_cancel_a_cached_answer(base: EventBase) -> None:
    inner = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"]})
    r = CachingResolver(inner)
    collect(base, lambda cb: r.resolve_ipv4("a.test", cb), 1)
    got: list[Any] = []
    r.resolve_ipv4("a.test", got.append).cancel()
    base.loop(1)
    assert [g.code.name for g in got] == ["CANCEL"]


def test_no_cache_flag_and_no_search_key(base: EventBase) -> None:
    inner = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"]})
    r = CachingResolver(inner)
    collect(base, lambda cb: r.resolve_ipv4("a.test", cb), 1)
    collect(base, lambda cb: r.resolve_ipv4("a.test", cb, flags=0x100), 1)  # NO_CACHE
    collect(base, lambda cb: r.resolve_ipv4("a.test", cb, flags=0x01), 1)  # NO_SEARCH: other key
    assert len(inner.calls) == 3


def test_negative_answers_are_cached(base: EventBase) -> None:
    inner = FakeResolver(base, {("nope.test", "A"): "NXDOMAIN"})
    r = CachingResolver(inner)
    for _ in range(2):
        (result,) = collect(base, lambda cb: r.query("nope.test", "A", cb), 1)
        assert result.rcode == 3
    assert len(inner.calls) == 1 and r.cache.statistics().negative_hits == 1


def test_failures_are_not_cached(base: EventBase) -> None:
    inner = FakeResolver(base, {("a.test", "A"): "SERVFAIL"})
    r = CachingResolver(inner)
    collect(base, lambda cb: r.resolve_ipv4("a.test", cb), 1)
    collect(base, lambda cb: r.resolve_ipv4("a.test", cb), 1)
    assert len(inner.calls) == 2


def test_reverse_and_passthrough_and_close(base: EventBase) -> None:
    inner = FakeResolver(base, {})
    r = CachingResolver(inner)
    assert r.config is inner.config  # other names are the wrapped resolver's
    collect(base, lambda cb: r.resolve_reverse("10.0.0.1", cb), 1)
    r.close()
    assert inner.closed and len(r.cache) == 0
    assert "CachingResolver" in repr(r)


def test_getaddrinfo_through_the_cache(base: EventBase) -> None:
    inner = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"], ("a.test", "AAAA"): ["fd00::1"]})
    r = CachingResolver(inner)
    for _ in range(3):
        (result,) = collect(base, lambda cb: getaddrinfo(r, "a.test", 80, cb, socktype=1), 1)
        assert [info[4][0] for info in result] == ["10.0.0.1", "fd00::1"]
    assert len(inner.calls) == 2
    assert r.cache.statistics().hits == 4


def test_get_all_is_all_or_nothing() -> None:
    clock = Clock()
    cache: DNSCache[DNSResult] = DNSCache(clock=clock)
    cache.put("a", positive(10))
    cache.put("b", positive(300))
    assert cache.get_all(["a", "missing"]) is None
    assert [r.ttl for r in cache.get_all(["a", "b"]) or []] == [10, 300]
    clock.now += 20
    assert cache.get_all(["a", "b"]) is None
    assert cache.statistics().hits == 2 and cache.statistics().misses == 0
