"""resolv.conf text and resolver options, parsed with libevent's rules; reading the file."""

from __future__ import annotations

import logging

import pytest

from evweb.dns.resolv_conf import (
    OPTION_NAMES,
    ResolverConfig,
    apply_option,
    parse_nameserver,
    parse_resolv_conf,
)
from evweb.dns.resolver import DNSResolver, read_resolv_conf
from evweb.errors import AddressError, ConfigError
from evweb.reactor import EventBase

EVERY_OPTION = """\
# a comment
; another
nameserver 10.0.0.1
nameserver 10.0.0.2:5353
nameserver [2001:db8::1]:53
nameserver 2001:db8::2
nameserver 10.0.0.1
domain ignored.example
search example.com Example.ORG
options ndots:2 timeout:1.5 attempts:4 max-timeouts:7 max-inflight:100 randomize-case:0
options bind-to:192.0.2.7:1234 initial-probe-timeout:2 max-probe-timeout:60
options probe-backoff-factor:5 so-rcvbuf:65536 so-sndbuf:32768 tcp-idle-timeout:9
options use-vc ignore-tc edns-udp-size:4096 rotate getaddrinfo-allow-skew:0.5
"""


def test_every_option_and_line():
    config = parse_resolv_conf(EVERY_OPTION, "test.conf")
    assert config.nameservers == (
        ("10.0.0.1", 53),
        ("10.0.0.2", 5353),
        ("2001:db8::1", 53),
        ("2001:db8::2", 53),
    )
    assert config.search == ("example.com.", "Example.ORG.")
    assert (config.ndots, config.timeout, config.attempts) == (2, 1.5, 4)
    assert (config.max_timeouts, config.max_inflight, config.randomize_case) == (7, 100, False)
    assert config.bind_to == ("192.0.2.7", 1234)
    assert (config.initial_probe_timeout, config.max_probe_timeout) == (2.0, 60.0)
    assert config.probe_backoff_factor == 5
    assert (config.so_rcvbuf, config.so_sndbuf, config.tcp_idle_timeout) == (65536, 32768, 9.0)
    assert config.use_vc and config.ignore_tc and config.rotate
    assert (config.edns_udp_size, config.getaddrinfo_allow_skew) == (4096, 0.5)


def test_defaults_are_libevents():
    config = ResolverConfig()
    assert (config.ndots, config.timeout, config.attempts, config.max_timeouts) == (1, 5.0, 3, 3)
    assert (config.max_inflight, config.randomize_case, config.edns_udp_size) == (64, True, 512)
    assert (config.initial_probe_timeout, config.max_probe_timeout) == (10.0, 3600.0)
    assert (config.probe_backoff_factor, config.tcp_idle_timeout) == (3, 5.0)
    assert (config.use_vc, config.ignore_tc, config.getaddrinfo_allow_skew) == (False, False, 3.0)


def test_last_domain_or_search_line_wins():
    assert parse_resolv_conf("search a.example\ndomain b.example extra\n").search == ("b.example.",)
    assert parse_resolv_conf("domain b.example\nsearch a.example c.example\n").search == (
        "a.example.",
        "c.example.",
    )
    assert parse_resolv_conf("search .\n").search == ()


def test_search_from_the_hostname_without_search_lines():
    assert parse_resolv_conf("", hostname="box.corp.example").search == ("corp.example.",)
    assert parse_resolv_conf("", hostname="box").search == ()
    assert parse_resolv_conf("search x.example\n", hostname="box.corp").search == ("x.example.",)


def test_glibc_edns0_option():
    assert parse_resolv_conf("options edns0\n").edns_udp_size == 1232
    assert parse_resolv_conf("options edns-udp-size:4096 edns0\n").edns_udp_size == 4096


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("nameserver", "without an address"),
        ("nameserver 10.0.0.300", "not a numeric IPv4"),
        ("nameserver example.com", "not a numeric"),
        ("nameserver 10.0.0.1:0", "out of range"),
        ("search", "without a domain"),
        ("domain a..b", "empty label"),
        ("options ndots:two", "ndots"),
        ("options timeout:0", "timeout"),
        ("options use-vc:1", "use-vc"),
        ("options no-such-option", "unknown option"),
        ("frobnicate yes", "unknown keyword"),
    ],
)
def test_bad_lines_are_skipped_with_a_warning(caplog, line, message):
    text = f"nameserver 10.0.0.9\n{line}\noptions attempts:2\n"
    with caplog.at_level(logging.WARNING, logger="evweb.dns"):
        config = parse_resolv_conf(text, "/etc/test.conf")
    assert config.nameservers == (("10.0.0.9", 53),) and config.attempts == 2
    assert len(caplog.records) == 1
    assert "/etc/test.conf:2:" in caplog.text and message in caplog.text


def test_other_resolvers_words_are_skipped_silently(caplog):
    text = "sortlist 10.0.0.0/8\nlookup file bind\noptions single-request inet6 trust-ad\n"
    with caplog.at_level(logging.WARNING, logger="evweb.dns"):
        parse_resolv_conf(text)
    assert not caplog.records


# --- options, one by one (libevent's set_option test) ---------------------------------------

INT_OPTIONS = ["ndots", "max-timeouts", "max-inflight", "attempts", "randomize-case",
               "so-rcvbuf", "so-sndbuf"]  # fmt: skip
SECONDS_OPTIONS = ["timeout", "getaddrinfo-allow-skew", "initial-probe-timeout", "tcp-idle-timeout"]


@pytest.mark.parametrize("colon", ["", ":"])
@pytest.mark.parametrize("name", INT_OPTIONS)
def test_int_options(name, colon):
    for good in ("0", "1", "10000"):
        apply_option(ResolverConfig(), name + colon, good)
    for bad in ("foo", "3.14", "", "1 "):
        with pytest.raises(ConfigError, match=name):
            apply_option(ResolverConfig(), name + colon, bad)


@pytest.mark.parametrize("colon", ["", ":"])
@pytest.mark.parametrize("name", SECONDS_OPTIONS)
def test_seconds_options(name, colon):
    for good in ("1", "0.001", "3.14", "10000"):
        apply_option(ResolverConfig(), name + colon, good)
    for bad in ("0", "foo", "-1", "nan", "inf", "1_0", "0.0001"):
        with pytest.raises(ConfigError):
            apply_option(ResolverConfig(), name + colon, bad)


@pytest.mark.parametrize("colon", ["", ":"])
def test_bind_to(colon):
    for good, expected in [("8.8.8.8:80", ("8.8.8.8", 80)), ("1.2.3.4", ("1.2.3.4", 0)),
                           ("::1:82", ("::1:82", 0)), ("3::4", ("3::4", 0))]:  # fmt: skip
        assert apply_option(ResolverConfig(), "bind-to" + colon, good).bind_to == expected
    for bad in ("3.14", "foo"):
        with pytest.raises(ConfigError):
            apply_option(ResolverConfig(), "bind-to" + colon, bad)


@pytest.mark.parametrize(
    "name", ["use-vc", "use-vc:", "ignore-tc", "ignore-tc:", "rotate", "edns0"]
)
def test_options_without_values(name):
    apply_option(ResolverConfig(), name, None)
    apply_option(ResolverConfig(), name, "")
    for bad in ("1", "foo"):
        with pytest.raises(ConfigError):
            apply_option(ResolverConfig(), name, bad)


def test_numbers_are_clipped_to_libevents_ranges():
    config = ResolverConfig()
    assert apply_option(config, "max-timeouts", "0").max_timeouts == 1
    assert apply_option(config, "max-timeouts", "1000").max_timeouts == 255
    assert apply_option(config, "max-inflight", "0").max_inflight == 1
    assert apply_option(config, "max-inflight", "99999").max_inflight == 65000
    assert apply_option(config, "attempts", "1000").attempts == 255
    assert apply_option(config, "probe-backoff-factor", "99").probe_backoff_factor == 10
    assert apply_option(config, "max-probe-timeout", "0").max_probe_timeout == 1
    assert apply_option(config, "initial-probe-timeout", "7200").initial_probe_timeout == 3600
    assert apply_option(config, "edns-udp-size", "100").edns_udp_size == 512
    assert apply_option(config, "edns-udp-size", "70000").edns_udp_size == 65535


def test_unknown_option_and_every_name_listed():
    with pytest.raises(ConfigError, match="unknown"):
        apply_option(ResolverConfig(), "sortlist", "")
    assert "probe-backoff-factor" in OPTION_NAMES and "edns0" in OPTION_NAMES


def test_direct_construction_is_checked():
    with pytest.raises(ConfigError, match="timeout"):
        ResolverConfig(timeout=0)
    with pytest.raises(ConfigError, match="max_inflight"):
        ResolverConfig(max_inflight=0)
    with pytest.raises(ConfigError, match="edns_udp_size"):
        ResolverConfig(edns_udp_size=100)


def test_parse_nameserver():
    assert parse_nameserver("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("[::1]:5353") == ("::1", 5353)
    assert parse_nameserver("::1") == ("::1", 53)
    with pytest.raises(AddressError):
        parse_nameserver("localhost")


# --- files ----------------------------------------------------------------------------------


def test_read_resolv_conf(tmp_path, caplog):
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 10.1.2.3\noptions ndots:3\n")
    config = read_resolv_conf(str(path))
    assert config.nameservers == (("10.1.2.3", 53),) and config.ndots == 3
    path.write_text("options ndots:3\n")
    assert read_resolv_conf(str(path)).nameservers == (("127.0.0.1", 53),)
    missing = read_resolv_conf(str(tmp_path / "missing"))
    assert missing.nameservers == (("127.0.0.1", 53),) and missing.ndots == 1


def test_resolver_reads_the_file_and_config_wins(tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 127.0.0.1:5300\nnameserver [::1]:5301\nsearch example.com\n")
    base = EventBase()
    resolver = DNSResolver(base, resolv_conf=str(path), hosts=None)
    assert resolver.nameservers == [("127.0.0.1", 5300), ("::1", 5301)]
    assert resolver.config.search == ("example.com.",)
    resolver.close()
    other = DNSResolver(base, config=ResolverConfig(ndots=4), resolv_conf=str(path), hosts=None)
    assert other.nameserver_count == 0 and other.config.ndots == 4
    other.close()
    base.close()


def test_resolver_set_option_and_search():
    base = EventBase()
    resolver = DNSResolver(base, resolv_conf=None, hosts=None)
    resolver.set_option("ndots:", "2")
    resolver.set_option("use-vc")
    assert resolver.config.ndots == 2 and resolver.config.use_vc
    with pytest.raises(ConfigError):
        resolver.set_option("ndots", "x")
    resolver.add_search("a.example")
    resolver.add_search("b.example.")
    assert resolver.config.search == ("a.example.", "b.example.")
    resolver.clear_search()
    assert resolver.config.search == ()
    assert resolver.add_nameserver(("127.0.0.1", 53))
    assert not resolver.add_nameserver("127.0.0.1")  # the same one
    assert resolver.add_nameserver(("::1", 53, 0, 0))
    with pytest.raises(AddressError):
        resolver.add_nameserver("dns.example")
    resolver.close()
    base.close()
