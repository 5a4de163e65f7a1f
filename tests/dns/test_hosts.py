"""The hosts file: names to addresses, addresses to names, bad lines skipped with a warning."""

from __future__ import annotations

import logging
import socket

import pytest

from evweb.dns.hosts import HostsFile
from evweb.dns.resolver import read_hosts
from evweb.errors import DNSNameError

HOSTS = """\
# comment line
127.0.0.1   localhost
::1         localhost ip6-localhost   # trailing comment
192.0.2.10  web.example.com web       www#not-an-alias
192.0.2.11  web.example.com
2001:db8::10 WEB.example.com
fe80::1%lo  link.local
"""


@pytest.fixture
def table() -> HostsFile:
    return HostsFile.parse(HOSTS, "hosts")


def test_forward(table):
    assert table.lookup("localhost") == ["127.0.0.1", "::1"]
    assert table.lookup("localhost", socket.AF_INET) == ["127.0.0.1"]
    assert table.lookup("LOCALHOST.", socket.AF_INET6) == ["::1"]
    assert table.lookup("web.example.com") == ["192.0.2.10", "192.0.2.11", "2001:db8::10"]
    assert table.lookup("web") == ["192.0.2.10"] and table.lookup("www") == ["192.0.2.10"]
    assert table.lookup("ip6-localhost", socket.AF_INET) == []  # known, not for IPv4
    assert table.lookup("nowhere.example") is None
    assert table.lookup("link.local") == ["fe80::1%lo"]


def test_reverse(table):
    assert table.lookup_reverse("127.0.0.1") == ["localhost."]
    assert table.lookup_reverse("::1") == ["localhost.", "ip6-localhost."]
    assert table.lookup_reverse("192.0.2.10") == ["web.example.com.", "web.", "www."]
    assert table.lookup_reverse("2001:db8:0::10") == ["WEB.example.com."]
    assert table.lookup_ptr("10.2.0.192.in-addr.arpa") == ["web.example.com.", "web.", "www."]
    assert table.lookup_reverse("192.0.2.99") is None
    assert table.lookup_reverse("not an address") is None


def test_repeats_count_once_and_tables_grow():
    table = HostsFile.parse("10.0.0.1 a\n10.0.0.1 a\n")
    assert table.lookup("a") == ["10.0.0.1"]
    table.update("10.0.0.2 a\n")
    assert table.lookup("a") == ["10.0.0.1", "10.0.0.2"] and len(table) == 1
    assert table.entries() == [("10.0.0.1", "a."), ("10.0.0.2", "a.")]
    table.clear()
    assert len(table) == 0 and table.lookup("a") is None


def test_localhost_defaults():
    table = HostsFile.localhost()
    assert table.lookup("localhost") == ["127.0.0.1", "::1"]


@pytest.mark.parametrize(
    ("line", "message", "skipped"),
    [
        ("10.0.0.300 bad", "not an IP address", "line"),
        ("example.com host", "not an IP address", "line"),
        ("10.0.0.1", "without a name", "line"),
        ("10.0.0.1:53 host", "not an IP address", "line"),
        ("10.0.0.1 good a..b", "empty label", "name"),
        ("10.0.0.1 good " + "x" * 64, "at most 63", "name"),
    ],
)
def test_bad_lines_warn_with_file_and_line(caplog, line, message, skipped):
    with caplog.at_level(logging.WARNING, logger="evweb.dns"):
        table = HostsFile.parse(f"10.0.0.9 first\n{line}\n10.0.0.8 last\n", "/etc/hosts.test")
    assert table.lookup("first") == ["10.0.0.9"] and table.lookup("last") == ["10.0.0.8"]
    assert len(caplog.records) == 1
    assert "/etc/hosts.test:2:" in caplog.text and message in caplog.text
    assert f"{skipped} skipped" in caplog.text
    assert (table.lookup("good") is not None) == (skipped == "name")


def test_add_refuses_bad_input():
    table = HostsFile()
    with pytest.raises(ValueError):
        table.add("nope", ["x"])
    with pytest.raises(DNSNameError):
        table.add("10.0.0.1", ["a b"])


def test_read_hosts(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("10.9.8.7 box\n")
    assert read_hosts(str(path)).lookup("box") == ["10.9.8.7"]
    assert read_hosts(str(tmp_path / "missing")).lookup("localhost") == ["127.0.0.1", "::1"]
