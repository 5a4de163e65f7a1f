"""Names in text and on the wire: escapes, limits, case, comparison, host names, reverse names."""

from __future__ import annotations

import pytest

from evweb.dns import (
    check_hostname,
    name_from_wire,
    name_key,
    name_to_wire,
    names_equal,
    normalize_name,
    reverse_name,
)
from evweb.dns.names import encode_name, label_text
from evweb.errors import DNSError, DNSFormatError, DNSNameError, DNSValueError


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        (".", b"\x00"),
        ("com", b"\x03com\x00"),
        ("www.Example.COM.", b"\x03www\x07Example\x03COM\x00"),
        (r"a\.b.c", b"\x03a.b\x01c\x00"),
        (r"a\\b", b"\x03a\\b\x00"),
        (r"\000\255\032", b"\x03\x00\xff \x00"),
        (r"\065\bc.", b"\x03Abc\x00"),
        (r"a\.", b"\x02a.\x00"),
        (r"a\\.", b"\x02a\\\x00"),
        ("_sip._tcp.example.com", b"\x04_sip\x04_tcp\x07example\x03com\x00"),
    ],
)
def test_text_to_wire(text: str, wire: bytes) -> None:
    assert name_to_wire(text) == wire


@pytest.mark.parametrize(
    ("wire", "text"),
    [
        (b"\x00", "."),
        (b"\x03www\x07Example\x03COM\x00", "www.Example.COM."),
        (b"\x03a.b\x01c\x00", r"a\.b.c."),
        (b"\x03\x00\xff \x00", r"\000\255\032."),
        (b'\x09"();\\@$ \x7f\x00', r"\"\(\)\;\\\@\$\032\127."),
    ],
)
def test_wire_to_text(wire: bytes, text: str) -> None:
    assert name_from_wire(wire) == (text, len(wire))
    assert name_to_wire(text) == wire  # and back


def test_label_text_plain_and_escaped() -> None:
    assert label_text(b"my-host_1") == "my-host_1"
    assert label_text(b"a b") == r"a\032b"


def test_encode_name_gives_label_starts() -> None:
    assert encode_name("www.example.com") == (b"\x03www\x07example\x03com\x00", (0, 4, 12))
    assert encode_name(".") == (b"\x00", ())


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "empty name"),
        ("a..b", "empty label"),
        (".a", "empty label"),
        ("a..", "empty label"),
        (r"\065..", "empty label"),
        ("a" * 64 + ".com", "label of 64 bytes"),
        (".".join(["a" * 63] * 4), "257 bytes"),
        ("bücher.de", "outside ASCII"),
        (r"b\ücher.de", "outside ASCII"),
        ("a\\", "bad escape"),
        (r"a\1", "bad escape"),
        (r"a\12", "bad escape"),
        (r"a\256", "over 255"),
    ],
)
def test_bad_names_refused(text: str, rule: str) -> None:
    with pytest.raises(DNSNameError, match=rule) as info:
        name_to_wire(text)
    assert info.value.name == text
    assert isinstance(info.value, ValueError) and isinstance(info.value, DNSError)


def test_limits_exactly_at_the_edge() -> None:
    assert len(name_to_wire("a" * 63)) == 65
    longest = ".".join(["a" * 63] * 3 + ["a" * 61])  # 3*64 + 62 + 1 = 255
    assert len(name_to_wire(longest)) == 255
    with pytest.raises(DNSNameError):
        name_to_wire(longest + "a")


def test_normalize_keeps_case_and_canonicalises_escapes() -> None:
    assert normalize_name(r"Www.\069xample.com") == "Www.Example.com."
    assert normalize_name("a b.c") == r"a\032b.c."
    assert normalize_name(".") == "."
    assert normalize_name(r"x\.y") == r"x\.y."


def test_comparison_ignores_case_only() -> None:
    assert names_equal("WWW.example.COM", "www.Example.com.")
    assert names_equal(r"\065.b", "a.B")
    assert not names_equal("a.b", "a.c")
    assert not names_equal(r"a\.b", "a.b")
    assert name_key("Ex.COM") == name_key("ex.com.") == "ex.com."


@pytest.mark.parametrize(
    "name", ["example.com", "example.com.", "a", "_srv._tcp.x", "xn--bcher-kva.de"]
)
def test_hostnames_accepted(name: str) -> None:
    assert check_hostname(name) == name.rstrip(".") + "."


@pytest.mark.parametrize(
    "name",
    ["", ".", "a..b", ".a", "a" * 64, ".".join(["a" * 63] * 4), "a b", "a\tb", r"a\.b", "bü.de"],
)
def test_hostnames_refused(name: str) -> None:
    with pytest.raises(DNSNameError):
        check_hostname(name)


def test_reverse_names() -> None:
    assert reverse_name("192.0.2.1") == "1.2.0.192.in-addr.arpa."
    assert reverse_name("2001:db8::1") == (
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
    )
    assert reverse_name("fe80::1%eth0") == reverse_name("fe80::1")
    for bad in ["", "1.2.3", "example.com", "::g"]:
        with pytest.raises(DNSValueError):
            reverse_name(bad)


def test_name_from_wire_follows_pointers() -> None:
    data = b"\x03www\x07example\x03com\x00" + b"\x04mail\xc0\x04"
    assert name_from_wire(data, 17) == ("mail.example.com.", 24)
    with pytest.raises(DNSFormatError, match="does not point before"):
        name_from_wire(b"\xc0\x00")
