"""getaddrinfo over a scripted resolver: libevent's evdns_getaddrinfo rules (regress_dns.c
getaddrinfo_async), numeric and hosts answers, services, families, the skew timer, cancel."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.dns import _addrinfo
from evweb.dns._skew import SkewTimers, skew_timers
from evweb.dns.cache import CachingResolver
from evweb.dns.getaddrinfo import EAI_CANCEL, answer_now, gai_strerror, getaddrinfo
from evweb.dns.hosts import HostsFile
from evweb.errors import DNSErrorCode, DNSGetaddrinfoError
from evweb.reactor import EventBase
from tests.dns.fake_resolver import FakeResolver

STREAM, DGRAM = socket.SOCK_STREAM, socket.SOCK_DGRAM
TCP, UDP = socket.IPPROTO_TCP, socket.IPPROTO_UDP
INET, INET6, UNSPEC = socket.AF_INET, socket.AF_INET6, socket.AF_UNSPEC


@pytest.fixture
def base() -> Iterator[EventBase]:
    b = EventBase()
    yield b
    b.close()


def run(base: EventBase, resolver: Any, host: str | None, service: Any = None, **kw: Any) -> Any:
    """getaddrinfo, the loop run until the callback; returns what it got."""
    got: list[Any] = []

    def done(result: Any) -> None:
        got.append(result)
        base.loopbreak()

    getaddrinfo(resolver, host, service, done, **kw)
    assert got == []  # never inside the call
    base.loopexit(5)
    base.dispatch()
    assert len(got) == 1
    return got[0]


def sockaddrs(result: Any) -> list[Any]:
    assert isinstance(result, list), result
    return [info[4] for info in result]


def eai(result: Any) -> int:
    assert isinstance(result, DNSGetaddrinfoError), result
    assert isinstance(result, socket.gaierror) and result.errno == result.eai
    return result.eai


# --- answered without the DNS ---------------------------------------------------------------


def test_numeric_ipv4_with_port_gives_tcp_and_udp(base: EventBase) -> None:
    r = FakeResolver(base, {})
    result = run(base, r, "127.0.0.1", 80)
    assert result == [
        (INET, STREAM, TCP, "", ("127.0.0.1", 80)),
        (INET, DGRAM, UDP, "", ("127.0.0.1", 80)),
    ]
    assert r.calls == []


def test_numeric_ipv6_and_socktype_and_service_name(base: EventBase) -> None:
    r = FakeResolver(base, {})
    result = run(base, r, "::1", "http", socktype=STREAM)
    assert result == [(INET6, STREAM, TCP, "", ("::1", 80, 0, 0))]
    assert run(base, r, "0:0::2", "53", proto=UDP) == [(INET6, DGRAM, UDP, "", ("::2", 53, 0, 0))]


def test_numeric_ipv6_with_scope(base: EventBase) -> None:
    result = run(base, FakeResolver(base, {}), "fe80::1%1", 9, socktype=STREAM)
    assert sockaddrs(result) == [("fe80::1", 9, 0, 1)]


def test_numeric_host_of_excluded_family_is_addrfamily(base: EventBase) -> None:
    r = FakeResolver(base, {})
    assert eai(run(base, r, "127.0.0.1", 1, family=INET6)) == socket.EAI_ADDRFAMILY
    assert eai(run(base, r, "::1", 1, family=INET)) == socket.EAI_ADDRFAMILY
    assert r.calls == []


def test_no_host_passive_and_not(base: EventBase) -> None:
    r = FakeResolver(base, {})
    passive = run(base, r, None, 8080, socktype=STREAM, flags=socket.AI_PASSIVE)
    assert sockaddrs(passive) == [("0.0.0.0", 8080), ("::", 8080, 0, 0)]
    active = run(base, r, None, 8080, socktype=STREAM)
    assert sockaddrs(active) == [("127.0.0.1", 8080), ("::1", 8080, 0, 0)]
    assert sockaddrs(run(base, r, None, 1, family=INET6, socktype=STREAM)) == [("::1", 1, 0, 0)]


@pytest.mark.parametrize(
    ("host", "service", "kw", "code"),
    [
        (None, None, {}, socket.EAI_NONAME),
        ("a.test", None, {"family": socket.AF_UNIX}, socket.EAI_FAMILY),
        ("a.test", None, {"flags": 0x10000000}, socket.EAI_BADFLAGS),
        ("a.test", None, {"socktype": socket.SOCK_RAW}, socket.EAI_SOCKTYPE),
        ("a.test", "no-such-service", {}, socket.EAI_NONAME),
        ("a.test", "http", {"flags": socket.AI_NUMERICSERV}, socket.EAI_NONAME),
        ("a.test", 70000, {}, socket.EAI_SERVICE),
        ("a.test", None, {"flags": socket.AI_NUMERICHOST}, socket.EAI_NONAME),
        ("", None, {}, socket.EAI_NONAME),
        ("127.1", 1, {"flags": socket.AI_NUMERICHOST}, socket.EAI_NONAME),  # strict, as libevent
    ],
)
def test_refused_before_any_query(
    base: EventBase, host: str | None, service: Any, kw: dict[str, Any], code: int
) -> None:
    r = FakeResolver(base, {})
    result = run(base, r, host, service, **kw)
    assert eai(result) == code
    assert result.code == DNSErrorCode.UNKNOWN
    assert r.calls == []


def test_hosts_file_answers_alone(base: EventBase) -> None:
    hosts = HostsFile.parse("10.1.1.1 box\n::5 box\n10.2.2.2 v4only\n")
    r = FakeResolver(base, {}, hosts=hosts)
    assert sockaddrs(run(base, r, "BOX", 7, socktype=STREAM)) == [("10.1.1.1", 7), ("::5", 7, 0, 0)]
    assert sockaddrs(run(base, r, "box", 7, family=INET6, socktype=STREAM)) == [("::5", 7, 0, 0)]
    assert eai(run(base, r, "v4only", 7, family=INET6)) == socket.EAI_ADDRFAMILY
    assert r.calls == []


def test_answer_now_is_synchronous_for_numeric() -> None:
    class NoResolver:
        hosts = None

    assert answer_now(NoResolver(), "10.0.0.1", 5, socktype=DGRAM) == [
        (INET, DGRAM, UDP, "", ("10.0.0.1", 5))
    ]
    hints = answer_now(NoResolver(), "name.test", "5")
    assert not isinstance(hints, list) and hints.port == 5


# --- A and AAAA in parallel ------------------------------------------------------------------


def test_both_families_ipv4_first_whatever_the_order(base: EventBase) -> None:
    answers = {("a.test", "A"): ["10.0.0.1", "10.0.0.2"], ("a.test", "AAAA"): ["fd00::1"]}
    r = FakeResolver(base, answers, delays={("a.test", "A"): 0.02})  # AAAA first
    result = run(base, r, "a.test", 443, socktype=STREAM)
    assert sockaddrs(result) == [("10.0.0.1", 443), ("10.0.0.2", 443), ("fd00::1", 443, 0, 0)]
    assert sorted(c[1] for c in r.calls) == [1, 28]


def test_family_restricts_the_query(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "AAAA"): ["fd00::1"]})
    assert sockaddrs(run(base, r, "a.test", 1, family=INET6, socktype=STREAM)) == [
        ("fd00::1", 1, 0, 0)
    ]
    assert [c[:2] for c in r.calls] == [("a.test", 28)]


def test_addrconfig_narrows_unspec(base: EventBase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_addrinfo, "_configured", (True, False))
    r = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"]})
    result = run(base, r, "a.test", 1, socktype=STREAM, flags=socket.AI_ADDRCONFIG)
    assert sockaddrs(result) == [("10.0.0.1", 1)]
    assert [c[1] for c in r.calls] == [1]


def test_skew_timer_delivers_the_first_family(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"], ("a.test", "AAAA"): None}, skew=0.05)
    t0 = base.monotonic_time()
    result = run(base, r, "a.test", 1, socktype=STREAM)
    assert sockaddrs(result) == [("10.0.0.1", 1)]
    assert 0.04 <= base.monotonic_time() - t0 < 2
    assert r.cancelled == [("a.test", 28)]


def test_skew_timer_delivers_the_first_error(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): "NXDOMAIN", ("a.test", "AAAA"): None}, skew=0.02)
    result = run(base, r, "a.test", 1)
    assert eai(result) == socket.EAI_NONAME
    assert result.code == DNSErrorCode.NOTEXIST and result.rcode == 3


def test_an_error_then_an_answer_is_the_answer(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): "NODATA", ("a.test", "AAAA"): ["fd00::2"]})
    r.delays = {("a.test", 28): 0.01}
    assert sockaddrs(run(base, r, "a.test", 1, socktype=STREAM)) == [("fd00::2", 1, 0, 0)]


def test_an_answer_then_an_error_is_the_answer(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): ["10.0.0.3"], ("a.test", "AAAA"): "SERVFAIL"})
    r.delays = {("a.test", 28): 0.01}
    assert sockaddrs(run(base, r, "a.test", 1, socktype=STREAM)) == [("10.0.0.3", 1)]


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("NXDOMAIN", socket.EAI_NONAME),
        ("NODATA", socket.EAI_NODATA),
        ("TIMEOUT", socket.EAI_AGAIN),
        ("SERVFAIL", socket.EAI_AGAIN),
    ],
)
def test_both_fail(base: EventBase, spec: str, code: int) -> None:
    r = FakeResolver(base, {("a.test", "A"): spec, ("a.test", "AAAA"): spec})
    result = run(base, r, "a.test", None)
    assert eai(result) == code
    assert gai_strerror(code) in str(result)


def test_later_error_wins(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): "NODATA", ("a.test", "AAAA"): "NXDOMAIN"})
    r.delays = {("a.test", 28): 0.01}
    assert eai(run(base, r, "a.test", None)) == socket.EAI_NONAME


def test_canonname_on_the_first_entry_only(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"], ("a.test", "AAAA"): ["fd00::1"]})
    result = run(base, r, "a.test", 1, socktype=STREAM, flags=socket.AI_CANONNAME)
    assert [info[3] for info in result] == ["a.test", ""]


def test_query_flags_reach_the_resolver(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"]})
    run(base, r, "a.test", 1, family=INET, query_flags=0x01)
    assert r.calls == [("a.test", 1, 1)]


def test_cancel_gives_eai_cancel_from_the_loop(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): None, ("a.test", "AAAA"): None})
    got: list[Any] = []
    request = getaddrinfo(r, "a.test", 1, got.append)
    request.cancel()
    request.cancel()
    assert got == [] and request.done
    assert sorted(r.cancelled) == [("a.test", 1), ("a.test", 28)]
    base.loopexit(0.02)
    base.dispatch()
    assert len(got) == 1 and eai(got[0]) == EAI_CANCEL
    assert got[0].code == DNSErrorCode.CANCEL and request.result is got[0]


def test_cancel_of_an_immediate_answer(base: EventBase) -> None:
    got: list[Any] = []
    getaddrinfo(FakeResolver(base, {}), "10.0.0.1", 1, got.append).cancel()
    base.loopexit(0.02)
    base.dispatch()
    assert len(got) == 1 and eai(got[0]) == EAI_CANCEL


def test_cancel_after_the_first_family_answered(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"], ("a.test", "AAAA"): None}, skew=0.05)
    got: list[Any] = []
    request = getaddrinfo(r, "a.test", 1, got.append)
    base.loopexit(0.01)
    base.dispatch()
    request.cancel()
    base.loopexit(0.1)
    base.dispatch()
    assert len(got) == 1 and eai(got[0]) == EAI_CANCEL
    assert r.cancelled == [("a.test", 28)]


def test_cancel_after_the_answer_is_a_no_op(base: EventBase) -> None:
    r = FakeResolver(base, {("a.test", "A"): ["10.0.0.1"]})
    got: list[Any] = []
    request = getaddrinfo(r, "a.test", 1, got.append, family=INET)
    base.loopexit(0.05)
    base.dispatch()
    request.cancel()
    base.loop(1)
    assert len(got) == 1 and isinstance(got[0], list)


def test_gai_strerror_and_cancel_code() -> None:
    assert gai_strerror(EAI_CANCEL) == "request canceled"
    assert gai_strerror(socket.EAI_NONAME).startswith("nodename")
    assert gai_strerror(12345) == "unknown error code"


# --- the skew timers and the cache step ------------------------------------------------------


def test_no_timer_lingers_after_both_families_answered(base: EventBase) -> None:
    answers = {("a.test", "A"): ["10.0.0.1"], ("a.test", "AAAA"): ["fd00::1"]}
    r = FakeResolver(base, answers, delays={("a.test", "AAAA"): 0.02}, skew=30)
    got: list[Any] = []
    getaddrinfo(r, "a.test", 1, got.append)
    t0 = time.monotonic()
    base.dispatch()  # returns once nothing is left: the 30 s skew timer went with the answer
    assert time.monotonic() - t0 < 2 and len(got) == 1
    assert len(skew_timers(r)) == 0


def test_skew_timers_are_shared_and_fire_in_order(base: EventBase) -> None:
    class Waiter:
        def __init__(self) -> None:
            self.skew_at: float | None = None
            self.fired = 0

        def on_skew(self) -> None:
            self.fired += 1

    timers = SkewTimers(base)
    first, second, gone = Waiter(), Waiter(), Waiter()
    timers.add(first, 0.01)
    timers.add(gone, 0.02)
    timers.add(second, 0.005)  # a lowered delay: inserted in order
    timers.discard(gone)
    assert len(timers) == 3  # stale entries leave from the front only
    base.dispatch()
    assert (first.fired, second.fired, gone.fired) == (1, 1, 0)
    assert len(timers) == 0


def test_cached_families_answer_without_queries(base: EventBase) -> None:
    answers = {("a.test", "A"): ["10.0.0.1"], ("a.test", "AAAA"): "NODATA"}
    r = CachingResolver(FakeResolver(base, answers))
    first = run(base, r, "a.test", 1, socktype=STREAM)
    calls = len(r.resolver.calls)
    again = run(base, r, "a.test", 1, socktype=STREAM)  # from the loop, not in the call
    assert first == again == [(INET, STREAM, TCP, "", ("10.0.0.1", 1))]
    assert len(r.resolver.calls) == calls
    stats = r.cache.statistics()
    assert (stats.hits, stats.negative_hits) == (1, 1)


def test_cached_negative_answer_is_the_error(base: EventBase) -> None:
    r = CachingResolver(FakeResolver(base, {("nope.test", "A"): "NXDOMAIN"}))
    assert eai(run(base, r, "nope.test", 1, family=INET)) == socket.EAI_NONAME
    assert eai(run(base, r, "nope.test", 1, family=INET)) == socket.EAI_NONAME
    assert len(r.resolver.calls) == 1


def test_lookup_cached_is_all_or_nothing(base: EventBase) -> None:
    r = CachingResolver(FakeResolver(base, {("a.test", "A"): ["10.0.0.1"]}))
    run(base, r, "a.test", 1, family=INET)
    assert r.lookup_cached("a.test", (1, 28)) is None
    assert r.cache.statistics().hits == 0
    (hit,) = r.lookup_cached("A.test", (1,)) or []
    assert hit.addresses == ["10.0.0.1"]
    assert r.lookup_cached("a.test", (1,), flags=0x100) is None  # NO_CACHE
