"""The evdns_* names (event2/dns.h, resolver side) over evweb.dns, as regress_dns.c uses them:
constants, evdns_base_new flags, nameservers, options, resolv.conf parsing, resolve callbacks
with C's arguments, cancel, shutdown, getaddrinfo (synchronous where C is), connect by name."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import evweb.libevent as le
from evweb.libevent import _dns
from evweb.reactor import PERSIST, READ, EventBase
from tests.dns.dnsmasq import TTL, Dnsmasq, dnsmasq  # noqa: F401 - the fixture
from tests.dns.scripted_server import ScriptedServer, run_until


@pytest.fixture
def base() -> Iterator[EventBase]:
    b = EventBase()
    yield b
    b.close()


@pytest.fixture
def dns_base(base: EventBase) -> Iterator[Any]:
    d = le.evdns_base_new(base, le.EVDNS_BASE_DISABLE_WHEN_INACTIVE)
    yield d
    le.evdns_base_free(d, 0)


@pytest.fixture
def live(dns_base: Any, dnsmasq: Dnsmasq) -> Any:  # noqa: F811
    assert le.evdns_base_nameserver_ip_add(dns_base, dnsmasq.address) == 0
    return dns_base


class Calls:
    """Records C-shaped callbacks."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)


def wait(base: EventBase, calls: Calls, n: int = 1) -> list[tuple[Any, ...]]:
    run_until(base, lambda: len(calls.calls) >= n, 5)
    return calls.calls


# --- constants and strings ------------------------------------------------------------------


def test_constants_have_libevents_values() -> None:
    assert (le.DNS_ERR_NONE, le.DNS_ERR_NOTEXIST, le.DNS_ERR_TIMEOUT, le.DNS_ERR_NODATA) == (
        0,
        3,
        67,
        70,
    )
    assert (le.DNS_IPv4_A, le.DNS_PTR, le.DNS_IPv6_AAAA, le.DNS_CNAME) == (1, 2, 3, 4)
    assert (le.DNS_QUERY_NO_SEARCH, le.DNS_QUERY_USETCP, le.DNS_QUERY_IGNTC) == (1, 2, 4)
    assert le.DNS_QUERY_USEVC == le.DNS_QUERY_USETCP
    assert (le.EVDNS_BASE_INITIALIZE_NAMESERVERS, le.EVDNS_BASE_DISABLE_WHEN_INACTIVE) == (
        1,
        0x8000,
    )
    assert le.EVDNS_BASE_NAMESERVERS_NO_DEFAULT == 0x10000 and le.DNS_OPTIONS_ALL == 15


def test_err_to_string() -> None:
    assert le.evdns_err_to_string(le.DNS_ERR_NONE) == "no error"
    assert le.evdns_err_to_string(le.DNS_ERR_NOTEXIST) == "name does not exist"
    assert le.evdns_err_to_string(le.DNS_ERR_CANCEL) == "dns request canceled"
    assert le.evdns_err_to_string(1234) == "[Unknown error code]"


# --- the base -------------------------------------------------------------------------------


def test_base_new_flags(base: EventBase) -> None:
    plain = le.evdns_base_new(base, 0)
    assert plain is not None
    assert le.evdns_base_count_nameservers(plain) == 0
    assert plain.resolver.keep_loop_alive and plain.cache_enabled
    le.evdns_base_free(plain, 0)
    idle = le.evdns_base_new(base, le.EVDNS_BASE_DISABLE_WHEN_INACTIVE | le.EVDNS_BASE_NO_CACHE)
    assert idle is not None and not idle.resolver.keep_loop_alive and not idle.cache_enabled
    le.evdns_base_free(idle, 1)


def resolv_conf(tmp_path: Path, text: str) -> str:
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    return str(path)


def test_initialize_nameservers(
    base: EventBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dns, "_RESOLV_CONF", resolv_conf(tmp_path, "nameserver 127.0.0.9\n"))
    monkeypatch.setattr(_dns, "_HOSTS", str(tmp_path / "no-hosts"))
    flags = le.EVDNS_BASE_INITIALIZE_NAMESERVERS | le.EVDNS_BASE_DISABLE_WHEN_INACTIVE
    d = le.evdns_base_new(base, flags)
    assert d is not None and le.evdns_base_count_nameservers(d) == 1
    assert d.resolver.nameservers == [("127.0.0.9", 53)]
    le.evdns_base_free(d, 0)


def test_no_nameservers_and_no_default(
    base: EventBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dns, "_RESOLV_CONF", resolv_conf(tmp_path, "search a.test\n"))
    monkeypatch.setattr(_dns, "_HOSTS", str(tmp_path / "no-hosts"))
    flags = le.EVDNS_BASE_INITIALIZE_NAMESERVERS | le.EVDNS_BASE_DISABLE_WHEN_INACTIVE
    with_default = le.evdns_base_new(base, flags)
    assert with_default is not None and with_default.resolver.nameservers == [("127.0.0.1", 53)]
    le.evdns_base_free(with_default, 0)
    without = le.evdns_base_new(base, flags | le.EVDNS_BASE_NAMESERVERS_NO_DEFAULT)
    assert le.evdns_base_count_nameservers(without) == 0
    le.evdns_base_free(without, 0)


def test_resolv_conf_parse_codes_and_flags(dns_base: Any, tmp_path: Path) -> None:
    path = resolv_conf(tmp_path, "nameserver 127.0.0.7\nsearch x.test y.test\noptions ndots:3\n")
    assert le.evdns_base_resolv_conf_parse(dns_base, le.DNS_OPTION_SEARCH, path) == 0
    assert dns_base.resolver.config.search == ("x.test.", "y.test.")
    assert le.evdns_base_count_nameservers(dns_base) == 0
    assert dns_base.resolver.config.ndots == 1
    assert le.evdns_base_resolv_conf_parse(dns_base, le.DNS_OPTION_MISC, path) == 0
    assert dns_base.resolver.config.ndots == 3
    assert le.evdns_base_resolv_conf_parse(dns_base, le.DNS_OPTION_NAMESERVERS, path) == 0
    assert le.evdns_base_count_nameservers(dns_base) == 1
    missing = str(tmp_path / "missing")
    assert (
        le.evdns_base_resolv_conf_parse(dns_base, 0, missing) == le.EVDNS_ERROR_FAILED_TO_OPEN_FILE
    )
    big = resolv_conf(tmp_path, "#" * 70000)
    assert le.evdns_base_resolv_conf_parse(dns_base, 0, big) == le.EVDNS_ERROR_FILE_TOO_LARGE


def test_resolv_conf_without_nameserver_is_error_6(dns_base: Any, tmp_path: Path) -> None:
    path = resolv_conf(tmp_path, "options timeout:2\n")
    code = le.evdns_base_resolv_conf_parse(dns_base, le.DNS_OPTIONS_ALL & ~8, path)
    assert code == le.EVDNS_ERROR_NO_NAMESERVERS_CONFIGURED
    assert dns_base.resolver.nameservers == [("127.0.0.1", 53)]
    assert dns_base.resolver.config.timeout == 2.0


def test_nameservers(dns_base: Any) -> None:
    assert le.evdns_base_nameserver_ip_add(dns_base, "127.0.0.5:5353") == 0
    assert le.evdns_base_nameserver_ip_add(dns_base, "127.0.0.5:5353") == 3
    assert le.evdns_base_nameserver_ip_add(dns_base, "not an ip") == -1
    assert le.evdns_base_nameserver_sockaddr_add(dns_base, ("::1", 5353, 0, 0), 28, 0) == 0
    assert le.evdns_base_count_nameservers(dns_base) == 2
    assert le.evdns_base_clear_nameservers_and_suspend(dns_base) == 0
    assert le.evdns_base_count_nameservers(dns_base) == 0
    assert le.evdns_base_resume(dns_base) == 0


def test_options_and_search(dns_base: Any) -> None:
    assert le.evdns_base_set_option(dns_base, "ndots:", "4") == 0
    assert le.evdns_base_set_option(dns_base, "timeout", "0.5") == 0
    assert le.evdns_base_set_option(dns_base, "timeout", "soon") == -1
    assert le.evdns_base_set_option(dns_base, "no-such-option", "1") == -1
    le.evdns_base_search_ndots_set(dns_base, 2)
    le.evdns_base_search_add(dns_base, "a.test")
    le.evdns_base_search_add(dns_base, "b.test")
    config = dns_base.resolver.config
    assert (config.ndots, config.timeout, config.search) == (2, 0.5, ("a.test.", "b.test."))
    le.evdns_base_search_clear(dns_base)
    assert dns_base.resolver.config.search == ()


# --- resolving ------------------------------------------------------------------------------


def test_resolve_ipv4_and_ipv6(base: EventBase, live: Any) -> None:
    calls = Calls()
    assert le.evdns_base_resolve_ipv4(live, "www.example.com", 0, calls, "v4") is not None
    assert le.evdns_base_resolve_ipv6(live, "www.example.com", 0, calls, "v6") is not None
    got = sorted(wait(base, calls, 2), key=lambda c: c[1])
    assert got == [
        (le.DNS_ERR_NONE, le.DNS_IPv4_A, 1, TTL, ["192.0.2.1"], "v4"),
        (le.DNS_ERR_NONE, le.DNS_IPv6_AAAA, 1, TTL, ["2001:db8::1"], "v6"),
    ]


def test_resolve_reverse_text_and_packed(base: EventBase, live: Any) -> None:
    calls = Calls()
    le.evdns_base_resolve_reverse(live, "192.0.2.1", 0, calls, 1)
    le.evdns_base_resolve_reverse(live, socket.inet_aton("192.0.2.1"), 0, calls, 2)
    le.evdns_base_resolve_reverse_ipv6(live, "2001:db8::1", 0, calls, 3)
    got = sorted(wait(base, calls, 3), key=lambda c: c[5])
    assert [c[:5] for c in got] == [(0, le.DNS_PTR, 1, TTL, ["www.example.com"])] * 3


def test_errors_reach_the_callback(base: EventBase, live: Any) -> None:
    calls = Calls()
    le.evdns_base_resolve_ipv4(live, "nope.example.com", le.DNS_QUERY_NO_SEARCH, calls, None)
    le.evdns_base_resolve_ipv6(live, "v4only.example.com", 0, calls, None)
    got = sorted(wait(base, calls, 2), key=lambda c: c[1])
    assert [(c[0], c[1], c[2], c[4]) for c in got] == [
        (le.DNS_ERR_NOTEXIST, le.DNS_IPv4_A, 0, None),
        (le.DNS_ERR_NODATA, le.DNS_IPv6_AAAA, 0, None),
    ]


def test_cname_callback(base: EventBase, live: Any) -> None:
    calls = Calls()
    le.evdns_base_resolve_ipv4(live, "alias.example.com", le.DNS_CNAME_CALLBACK, calls, None)
    got = wait(base, calls, 2)
    assert got[0][:5] == (0, le.DNS_IPv4_A, 1, TTL, ["192.0.2.1"])
    assert got[1][1:5] == (le.DNS_CNAME, 1, TTL, ["www.example.com"])


def test_empty_name_gives_null(live: Any) -> None:
    assert le.evdns_base_resolve_ipv4(live, "", 0, Calls(), None) is None
    assert le.evdns_base_resolve_reverse(live, "not an address", 0, Calls(), None) is None


def test_cancel_request(base: EventBase, live: Any) -> None:
    calls = Calls()
    req = le.evdns_base_resolve_ipv4(live, "www.example.com", 0, calls, "x")
    assert req is not None
    le.evdns_cancel_request(live, req)
    assert wait(base, calls) == [(le.DNS_ERR_CANCEL, le.DNS_IPv4_A, 0, 0, None, "x")]


def test_free_with_fail_requests(base: EventBase, dnsmasq: Dnsmasq) -> None:  # noqa: F811
    d = le.evdns_base_new(base, le.EVDNS_BASE_DISABLE_WHEN_INACTIVE)
    le.evdns_base_nameserver_ip_add(d, dnsmasq.address)
    calls = Calls()
    le.evdns_base_resolve_ipv4(d, "www.example.com", 0, calls, None)
    le.evdns_base_free(d, 1)
    assert wait(base, calls)[0][:2] == (le.DNS_ERR_SHUTDOWN, le.DNS_IPv4_A)


# --- getaddrinfo ----------------------------------------------------------------------------


def test_getaddrinfo_numeric_is_synchronous(live: Any) -> None:
    calls = Calls()
    hints = le.evutil_addrinfo(ai_socktype=socket.SOCK_STREAM)
    assert le.evdns_getaddrinfo(live, "127.0.0.1", "80", hints, calls, "a") is None
    assert calls.calls == [
        (0, [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))], "a")
    ]
    le.evdns_getaddrinfo(live, "x.test", "no-such-service", None, calls, "b")
    assert calls.calls[1] == (socket.EAI_NONAME, None, "b")
    le.evutil_freeaddrinfo(calls.calls[0][1])  # a no-op, for ported code


def test_getaddrinfo_by_name_and_the_cache(base: EventBase, live: Any) -> None:
    calls = Calls()
    hints = le.evutil_addrinfo(ai_family=socket.AF_INET, ai_socktype=socket.SOCK_STREAM)
    req = le.evdns_getaddrinfo(live, "www.example.com", "http", hints, calls, None)
    assert req is not None
    result, res, _ = wait(base, calls)[0]
    assert result == 0 and [ai[4] for ai in res] == [("192.0.2.1", 80)]
    le.evdns_getaddrinfo(live, "www.example.com", "http", hints, calls, None)
    wait(base, calls, 2)
    assert calls.calls[1] == calls.calls[0]
    assert live.cache.statistics().hits == 1


def test_getaddrinfo_cancel(base: EventBase, live: Any) -> None:
    calls = Calls()
    req = le.evdns_getaddrinfo(live, "www.example.com", None, None, calls, "c")
    le.evdns_getaddrinfo_cancel(req)
    assert wait(base, calls) == [(le.EVUTIL_EAI_CANCEL, None, "c")]


def test_connect_hostname_with_an_evdns_base(base: EventBase, dns_base: Any) -> None:
    server = ScriptedServer(base, zone={"svc.test": {"A": ["127.0.0.1"]}})
    le.evdns_base_nameserver_ip_add(dns_base, server.address)
    accepted: list[socket.socket] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    watch = base.event(listener, READ | PERSIST, lambda *_: accepted.append(listener.accept()[0]))
    watch.add()
    bev = le.bufferevent_socket_new(base, -1, le.BEV_OPT_CLOSE_ON_FREE)
    assert bev is not None
    events: list[int] = []
    le.bufferevent_setcb(bev, None, None, lambda b, what, arg: events.append(what), None)
    port = listener.getsockname()[1]
    try:
        assert le.bufferevent_socket_connect_hostname(bev, dns_base, 0, "svc.test", port) == 0
        run_until(base, lambda: events and accepted, 5)
        assert events[0] & le.BEV_EVENT_CONNECTED
    finally:
        le.bufferevent_free(bev)
        watch.delete()
        for sock in accepted:
            sock.close()
        listener.close()
        server.close()
