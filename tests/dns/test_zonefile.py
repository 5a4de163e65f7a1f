"""The zone-file parser (sans-IO): RFC 1035 master files, hosts-format files, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from evweb.dns import AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT, A
from evweb.dns.zonefile import (
    load_zone_files,
    looks_like_hosts,
    parse_hosts,
    parse_ttl,
    parse_zone,
)
from evweb.errors import DNSError, ZoneFileError

ZONE = r"""
$ORIGIN example.com.
$TTL 1h             ; default TTL
@   IN  SOA ns1 hostmaster (
        2024010101  ; serial
        2h 15m 1w   ; refresh retry expire
        300 )       ; minimum
    IN  NS  ns1
    IN  MX  10 mail
ns1         A       192.0.2.53
www  300 IN A       192.0.2.1
     IN 60  AAAA    2001:DB8:0::1
alias       CNAME   www
txt         TXT     "hello \"world\"" plain "a\065\\b;c"
_sip._tcp   SRV     0 5 5060 sip
1.2.0.192.in-addr.arpa. PTR www
abs.example.com. 1d A 192.0.2.9
"""


def parsed(text: str, **kw: object) -> list[tuple[str, int, object]]:
    return [(r.record.name, r.record.ttl, r.record.data) for r in parse_zone(text, **kw)]  # type: ignore[arg-type]


def test_master_file_features() -> None:
    assert parsed(ZONE) == [
        (
            "example.com.",
            3600,
            SOA("ns1.example.com.", "hostmaster.example.com.", 2024010101, 7200, 900, 604800, 300),
        ),
        ("example.com.", 3600, NS("ns1.example.com.")),
        ("example.com.", 3600, MX(10, "mail.example.com.")),
        ("ns1.example.com.", 3600, A("192.0.2.53")),
        ("www.example.com.", 300, A("192.0.2.1")),
        ("www.example.com.", 60, AAAA("2001:db8::1")),
        ("alias.example.com.", 3600, CNAME("www.example.com.")),
        ("txt.example.com.", 3600, TXT([b'hello "world"', b"plain", b"aA\\b;c"])),
        ("_sip._tcp.example.com.", 3600, SRV(0, 5, 5060, "sip.example.com.")),
        ("1.2.0.192.in-addr.arpa.", 3600, PTR("www.example.com.")),
        ("abs.example.com.", 86400, A("192.0.2.9")),
    ]


def test_lines_are_those_the_records_start_on() -> None:
    lines = [r.line for r in parse_zone(ZONE, filename="z")]
    assert lines[:4] == [4, 8, 9, 10]
    assert {r.file for r in parse_zone(ZONE, filename="z")} == {"z"}


def test_origin_argument_and_relative_origin_change() -> None:
    text = "www 60 A 192.0.2.1\n$ORIGIN sub\nx 60 A 192.0.2.2\n@ 60 A 192.0.2.3\n"
    names = [name for name, _, _ in parsed(text, origin="example.org")]
    assert names == ["www.example.org.", "x.sub.example.org.", "sub.example.org."]


def test_ttl_falls_back_to_the_last_one_given_then_soa_minimum() -> None:
    text = "@ SOA ns h 1 2 3 4 77\nwww A 192.0.2.1\nx 5 A 192.0.2.2\ny A 192.0.2.3\n"
    assert [ttl for _, ttl, _ in parsed(text, origin="e.")] == [77, 77, 5, 5]


def test_default_ttl_argument_and_class_ttl_order() -> None:
    text = "a IN 10 A 192.0.2.1\nb 20 IN A 192.0.2.2\nc IN A 192.0.2.3\n"
    assert [ttl for _, ttl, _ in parsed(text, origin="e.", default_ttl=99)] == [10, 20, 99]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("3600", 3600), ("1h", 3600), ("1H30m", 5400), ("2w", 1209600), ("1d1s", 86401)],
)
def test_parse_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h1", "-1", "2147483648", "1.5h"])
def test_parse_ttl_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ttl(text)


def test_escaped_names_and_root_targets() -> None:
    text = r"a\.b 60 A 192.0.2.1" + "\n_x._tcp 60 SRV 0 0 0 .\n"
    assert parsed(text, origin="e.") == [
        (r"a\.b.e.", 60, A("192.0.2.1")),
        ("_x._tcp.e.", 60, SRV(0, 0, 0, ".")),
    ]


def test_include(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "hosts.inc").write_text("www A 192.0.2.1\n")
    main = tmp_path / "main.zone"
    main.write_text(
        "$ORIGIN example.com.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n"
        "$INCLUDE sub/hosts.inc lab\nafter A 192.0.2.2\n"
    )
    records = load_zone_files([str(main)])
    assert [(r.record.name, r.line) for r in records] == [
        ("example.com.", 3),
        ("www.lab.example.com.", 1),
        ("after.example.com.", 5),
    ]
    assert records[1].file.endswith("hosts.inc")


def test_include_refused_without_a_loader_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ZoneFileError, match=r"z:1: \$INCLUDE is not allowed"):
        parse_zone("$INCLUDE other\n", filename="z")
    main = tmp_path / "main.zone"
    main.write_text("$ORIGIN e.\n$INCLUDE nothere.inc\n")
    with pytest.raises(ZoneFileError, match=r"main\.zone:2: \$INCLUDE nothere\.inc: No such file"):
        load_zone_files([str(main)])


def test_include_loop_is_bounded(tmp_path: Path) -> None:
    loop = tmp_path / "loop.zone"
    loop.write_text("$INCLUDE loop.zone\n")
    with pytest.raises(ZoneFileError, match="nested over"):
        load_zone_files([str(loop)], origin="e.")


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("www A 192.0.2.1\n", 1, "relative name 'www' with no origin"),
        ("$ORIGIN e.\n\nwww 60 A 192.0.2.300\n", 3, "A data: .*192.0.2.300"),
        ("$ORIGIN e.\nwww 60 A 2001:db8::1\n", 2, "not an IPv4 address"),
        ("$ORIGIN e.\nwww 60 AAAA 192.0.2.1\n", 2, "not an IPv6 address"),
        ("$ORIGIN e.\nwww 60 MX mail\n", 2, "MX data is preference exchange, got 'mail'"),
        ("$ORIGIN e.\nwww 60 MX 70000 mail\n", 2, "MX preference must be a number below 65536"),
        ("$ORIGIN e.\nwww 60 SRV 1 2 x t\n", 2, "SRV port"),
        ("$ORIGIN e.\nwww 60 HINFO a b\n", 2, "unsupported record type 'HINFO'"),
        ("$ORIGIN e.\nwww 60 CH A 192.0.2.1\n", 2, "class CH: only class IN"),
        ("$ORIGIN e.\nwww A 192.0.2.1\n", 2, "no TTL"),
        ("$ORIGIN e.\nwww 60\n", 2, "without its type"),
        ("$ORIGIN e.\n  60 A 192.0.2.1\n", 2, "blank owner and no previous owner"),
        ("$ORIGIN e.\n$TTL 1y\n", 2, "not a TTL"),
        ("$ORIGIN e.\n$TTL\n", 2, r"\$TTL takes 1"),
        ("$ORIGIN e.\n$GENERATE 1-2 a A 1.2.3.4\n", 2, "unknown directive"),
        ('$ORIGIN e.\nw 60 TXT "open\n', 2, "quoted string is not closed"),
        ("$ORIGIN e.\nw 60 A (192.0.2.1\n\n", 2, r"'\(' is never closed"),
        ("$ORIGIN e.\nw 60 A 192.0.2.1 )\n", 2, r"'\)' without its '\('"),
        ("$ORIGIN e.\nw 60 A ((192.0.2.1))\n", 2, "cannot nest"),
        ('$ORIGIN e.\nw 60 TXT "' + "x" * 256 + '"\n', 2, "256 bytes"),
        ("$ORIGIN e.\nw 60 TXT\n", 2, "TXT data needs"),
        ("$ORIGIN e.\nw 60 TXT \\300\n", 2, "over 255"),
        ("$ORIGIN e.\n" + "a" * 64 + " 60 A 192.0.2.1\n", 2, "at most 63"),
        ("$ORIGIN e.\nw..x 60 A 192.0.2.1\n", 2, "empty label"),
        ('$ORIGIN e.\n"w" 60 A 192.0.2.1\n', 2, "cannot be quoted"),
        ("$ORIGIN e.\n@ 60 SOA ns h x 1 2 3 4\n", 2, "SOA serial"),
        ("$ORIGIN e.\nw 60 A 192.0.2.1 \\\n", 2, "backslash at the end"),
    ],
)
def test_errors_name_file_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(ZoneFileError, match=reason) as info:
        parse_zone(text, filename="bad.zone")
    assert (info.value.file, info.value.line) == ("bad.zone", line)
    assert str(info.value).startswith(f"bad.zone:{line}: ")
    assert isinstance(info.value, DNSError)


def test_hosts_format() -> None:
    text = "# comment\n192.0.2.1 www.example.com www2.example.com  # trailing\n::1 localhost\n"
    records = parse_hosts(text, filename="hosts")
    got = [(r.record.name, r.record.data, r.line, r.implicit) for r in records]
    assert got[:5] == [
        ("www.example.com.", A("192.0.2.1"), 2, False),
        ("www2.example.com.", A("192.0.2.1"), 2, False),
        ("1.2.0.192.in-addr.arpa.", PTR("www.example.com."), 2, False),
        ("localhost.", AAAA("::1"), 3, False),
        (
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
            PTR("localhost."),
            3,
            False,
        ),
    ]
    soas = sorted(r.record.name for r in records if r.implicit)
    assert "example.com." in soas and "localhost." in soas and "2.0.192.in-addr.arpa." in soas
    assert all(isinstance(r.record.data, SOA) for r in records if r.implicit)


def test_hosts_zones_fold_into_the_highest_parent() -> None:
    records = parse_hosts("192.0.2.1 a.b.example.com www.example.com\n")
    assert sorted(r.record.name for r in records if r.implicit) == [
        "2.0.192.in-addr.arpa.",
        "example.com.",
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("192.0.2.1\n", "without a name"),
        ("192.0.2.1 bad\\name\n", "cannot be in a host name"),
        ("192.0.2.1 ok\nnot-an-ip x\n", "'not-an-ip' is not an IP address"),
    ],
)
def test_hosts_errors(text: str, reason: str) -> None:
    with pytest.raises(ZoneFileError, match=reason) as info:
        parse_hosts(text, filename="h")
    assert info.value.file == "h"
    assert info.value.line == text.count("\n")


def test_looks_like_hosts() -> None:
    assert looks_like_hosts("\n# c\n10.0.0.1 a\n")
    assert looks_like_hosts("fe80::1%eth0 a\n")
    assert not looks_like_hosts("; c\n$ORIGIN e.\n")
    assert not looks_like_hosts("www A 192.0.2.1\n")
    assert not looks_like_hosts("")


def test_load_zone_files_mixes_formats(tmp_path: Path) -> None:
    zone = tmp_path / "e.zone"
    zone.write_text("$ORIGIN e.\n$TTL 5\n@ SOA ns h 1 2 3 4 5\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("192.0.2.1 a.h.test\n")
    records = load_zone_files([str(zone), str(hosts)])
    assert [r.record.name for r in records][:2] == ["e.", "a.h.test."]


def test_load_zone_files_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ZoneFileError, match="cannot read the file") as info:
        load_zone_files([str(tmp_path / "missing.zone")])
    assert info.value.line == 0
    binary = tmp_path / "bin.zone"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ZoneFileError, match="cannot read the file"):
        load_zone_files([str(binary)])
