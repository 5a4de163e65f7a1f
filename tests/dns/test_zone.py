"""Authoritative answering (sans-IO): a ZoneSet and query messages, no sockets."""

from __future__ import annotations

import pytest

from evweb.dns import SOA, Message, Question, Rcode, Record, make_query
from evweb.dns import zone as zone_module
from evweb.dns.zone import ZoneSet
from evweb.dns.zonefile import parse_hosts, parse_zone
from evweb.errors import ZoneFileError

ZONE = """
$ORIGIN example.com.
$TTL 3600
@       SOA  ns1 hostmaster 7 7200 900 604800 300
        NS   ns1
        MX   10 mail
        MX   20 mail.elsewhere.net.
ns1     A    192.0.2.53
mail    A    192.0.2.25
        AAAA 2001:db8::25
WWW 300 A    192.0.2.1
        AAAA 2001:db8::1
alias   CNAME www
chain   CNAME alias
loop1   CNAME loop2
loop2   CNAME loop1
out     CNAME www.example.org.
dangling CNAME nothere
nodata  CNAME mail
*.wild  A    192.0.2.99
deep.a.b TXT "deep"
_sip._tcp SRV 0 5 5060 mail
"""


@pytest.fixture(scope="module")
def zones() -> ZoneSet:
    return ZoneSet.from_records(parse_zone(ZONE, filename="example.zone"))


def ask(zones: ZoneSet, name: str, rtype: str = "A", **kw: object) -> Message:
    reply = zones.answer(Message.parse(make_query(name, rtype, id=99, **kw)))  # type: ignore[arg-type]
    return Message.parse(reply.to_wire())


def texts(records: list[Record]) -> list[str]:
    return [r.to_text() for r in records]


NEGATIVE_SOA = (
    "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 7 7200 900 604800 300"
)


def test_exact_match_is_authoritative(zones: ZoneSet) -> None:
    reply = ask(zones, "www.example.com")
    assert (reply.rcode, reply.aa, reply.qr, reply.id) == (Rcode.NOERROR, True, True, 99)
    assert texts(reply.answers) == ["www.example.com. 300 IN A 192.0.2.1"]
    assert reply.authorities == reply.additionals == []


def test_owner_spelt_as_the_query_spelt_it(zones: ZoneSet) -> None:
    assert texts(ask(zones, "wWw.ExAmple.COM", "AAAA").answers) == [
        "wWw.ExAmple.COM. 3600 IN AAAA 2001:db8::1"
    ]


def test_cname_chain_followed_in_the_zone(zones: ZoneSet) -> None:
    reply = ask(zones, "Chain.example.com")
    assert reply.rcode == Rcode.NOERROR and reply.aa
    assert texts(reply.answers) == [
        "Chain.example.com. 3600 IN CNAME alias.example.com.",
        "alias.example.com. 3600 IN CNAME www.example.com.",
        "www.example.com. 300 IN A 192.0.2.1",
    ]


def test_cname_asked_for_itself_is_not_followed(zones: ZoneSet) -> None:
    assert texts(ask(zones, "alias.example.com", "CNAME").answers) == [
        "alias.example.com. 3600 IN CNAME www.example.com."
    ]


def test_cname_loop_stops(zones: ZoneSet) -> None:
    reply = ask(zones, "loop1.example.com")
    assert reply.rcode == Rcode.NOERROR
    assert len(reply.answers) == 2


def test_cname_leaving_the_zone_stops_there(zones: ZoneSet) -> None:
    reply = ask(zones, "out.example.com")
    assert (reply.rcode, texts(reply.answers), reply.authorities) == (
        Rcode.NOERROR,
        ["out.example.com. 3600 IN CNAME www.example.org."],
        [],
    )


def test_cname_to_a_missing_name_is_nxdomain(zones: ZoneSet) -> None:
    reply = ask(zones, "dangling.example.com")
    assert reply.rcode == Rcode.NXDOMAIN and reply.aa
    assert len(reply.answers) == 1
    assert texts(reply.authorities) == [NEGATIVE_SOA]


def test_cname_to_a_name_without_the_type_is_nodata(zones: ZoneSet) -> None:
    reply = ask(zones, "nodata.example.com", "TXT")
    assert reply.rcode == Rcode.NOERROR
    assert texts(reply.answers) == ["nodata.example.com. 3600 IN CNAME mail.example.com."]
    assert texts(reply.authorities) == [NEGATIVE_SOA]


def test_nxdomain_with_soa_ttl_per_rfc2308(zones: ZoneSet) -> None:
    reply = ask(zones, "nope.example.com")
    assert (reply.rcode, reply.aa, reply.answers) == (Rcode.NXDOMAIN, True, [])
    assert texts(reply.authorities) == [NEGATIVE_SOA]  # min(3600, minimum 300)


def test_nodata_with_soa(zones: ZoneSet) -> None:
    reply = ask(zones, "www.example.com", "MX")
    assert (reply.rcode, reply.aa, reply.answers) == (Rcode.NOERROR, True, [])
    assert texts(reply.authorities) == [NEGATIVE_SOA]


def test_empty_non_terminal_is_nodata(zones: ZoneSet) -> None:
    for name in ("b.example.com", "a.b.example.com"):
        reply = ask(zones, name)
        assert reply.rcode == Rcode.NOERROR and reply.authorities, name
    assert ask(zones, "c.b.example.com").rcode == Rcode.NXDOMAIN


def test_refused_outside_every_zone(zones: ZoneSet) -> None:
    for name in ("example.org", "com", "."):
        reply = ask(zones, name)
        assert (reply.rcode, reply.aa, reply.answers) == (Rcode.REFUSED, False, []), name


def test_other_classes_and_transfers_refused(zones: ZoneSet) -> None:
    assert ask(zones, "www.example.com", qclass="CH").rcode == Rcode.REFUSED
    assert ask(zones, "example.com", "AXFR").rcode == Rcode.REFUSED
    assert ask(zones, "www.example.com", qclass="ANY").rcode == Rcode.NOERROR


def test_wildcard(zones: ZoneSet) -> None:
    reply = ask(zones, "Host.Wild.example.com")
    assert texts(reply.answers) == ["Host.Wild.example.com. 3600 IN A 192.0.2.99"]
    assert ask(zones, "host.wild.example.com", "TXT").rcode == Rcode.NOERROR  # NODATA
    assert ask(zones, "wild.example.com").rcode == Rcode.NOERROR  # empty non-terminal


def test_any_gives_every_rrset(zones: ZoneSet) -> None:
    reply = ask(zones, "www.example.com", "ANY")
    assert sorted(texts(reply.answers)) == [
        "www.example.com. 300 IN A 192.0.2.1",
        "www.example.com. 3600 IN AAAA 2001:db8::1",
    ]


def test_glue_for_mx_ns_srv_targets_in_the_zone(zones: ZoneSet) -> None:
    mx = ask(zones, "example.com", "MX")
    assert len(mx.answers) == 2
    assert texts(mx.additionals) == [
        "mail.example.com. 3600 IN A 192.0.2.25",
        "mail.example.com. 3600 IN AAAA 2001:db8::25",
    ]
    assert texts(ask(zones, "example.com", "NS").additionals) == [
        "ns1.example.com. 3600 IN A 192.0.2.53"
    ]
    assert len(ask(zones, "_sip._tcp.example.com", "SRV").additionals) == 2


def test_soa_query(zones: ZoneSet) -> None:
    reply = ask(zones, "example.com", "SOA")
    assert isinstance(reply.answers[0].data, SOA) and reply.answers[0].ttl == 3600


def test_opcode_and_question_count(zones: ZoneSet) -> None:
    query = Message.parse(make_query("www.example.com", "A"))
    query.opcode = 2
    assert zones.answer(query).rcode == Rcode.NOTIMP
    two = Message(1, 0, [Question("a.example.com.", 1), Question("b.example.com.", 1)])
    assert zones.answer(two).rcode == Rcode.FORMERR


def test_positive_answers_are_built_at_load(zones: ZoneSet) -> None:
    first = zones.lookup("www.example.com.", 1)
    assert zones.lookup("wWW.EXAMPLE.COM.", 1) is first  # one dict lookup, nothing rebuilt
    assert first.answers_for("WWW.example.com.") is first.answers  # spelt as in the file


def test_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    zones = ZoneSet.from_records(parse_zone(ZONE))
    monkeypatch.setattr(zone_module, "MEMO_SIZE", 10)
    for i in range(25):
        assert zones.lookup(f"n{i}.example.com.", 1).rcode == Rcode.NXDOMAIN
    assert len(zones._memo) <= 10


def test_zone_summary(zones: ZoneSet) -> None:
    zone = zones.zones["example.com."]
    assert (zone.origin, zone.serial) == ("example.com.", 7)
    assert len(zones) == zone.records == 19


def build(text: str) -> ZoneSet:
    return ZoneSet.from_records(parse_zone("$ORIGIN e.\n$TTL 60\n" + text, filename="f"))


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("@ SOA ns h 1 2 3 4 5\nw CNAME x\nw A 192.0.2.1\n", 4, "CNAME and other data"),
        ("@ SOA ns h 1 2 3 4 5\nw CNAME x\nw CNAME y\n", 4, "more than one CNAME"),
        ("@ SOA ns h 1 2 3 4 5\n@ CNAME x\n", 4, "CNAME and other data"),
        ("w A 192.0.2.1\n", 3, "outside every zone"),
        ("@ SOA ns h 1 2 3 4 5\nx.other. A 192.0.2.1\n", 4, "outside every zone"),
        ("@ SOA ns h 1 2 3 4 5\n@ SOA ns h 2 2 3 4 5\n", 4, r"a second SOA .*\(the first: f:3\)"),
    ],
)
def test_build_errors(text: str, line: int, reason: str) -> None:
    with pytest.raises(ZoneFileError, match=reason) as info:
        build(text)
    assert (info.value.file, info.value.line) == ("f", line)


def test_duplicates_count_once_and_rrset_ttls_become_the_lowest() -> None:
    zones = build("@ SOA ns h 1 2 3 4 5\nw 60 A 192.0.2.1\nw 30 A 192.0.2.2\nw A 192.0.2.1\n")
    answer = zones.lookup("w.e.", 1)
    assert [(r.ttl, r.data.to_text()) for r in answer.answers] == [
        (30, "192.0.2.1"),
        (30, "192.0.2.2"),
    ]


def test_nested_zones_the_deepest_wins() -> None:
    parent = parse_zone("$ORIGIN e.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\nx.sub A 192.0.2.1\n")
    child = parse_zone("$ORIGIN a.sub.e.\n$TTL 60\n@ SOA ns h 2 2 3 4 5\nw A 192.0.2.2\n")
    zones = ZoneSet.from_records(parent + child)
    assert zones.lookup("w.a.sub.e.", 1).rcode == Rcode.NOERROR
    nx = zones.lookup("q.a.sub.e.", 1)
    assert nx.rcode == Rcode.NXDOMAIN and nx.authorities[0].name == "a.sub.e."
    assert zones.lookup("sub.e.", 1).rcode == Rcode.NOERROR  # empty non-terminal of e.
    assert zones.lookup("nope.sub.e.", 1).authorities[0].name == "e."


def test_hosts_zones_and_master_zones_together() -> None:
    master = parse_zone("$ORIGIN example.com.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n")
    hosts = parse_hosts("192.0.2.1 www.example.com db.internal\n")
    zones = ZoneSet.from_records(master + hosts)
    assert set(zones.zones) == {"example.com.", "internal.", "2.0.192.in-addr.arpa."}
    assert zones.zones["example.com."].serial == 1  # the master file's SOA, not a made-up one
    assert zones.lookup("www.example.com.", 1).rcode == Rcode.NOERROR
    ptr = zones.lookup("1.2.0.192.in-addr.arpa.", 12)
    assert [r.data.to_text() for r in ptr.answers] == ["www.example.com."]
    assert zones.lookup("other.internal.", 1).rcode == Rcode.NXDOMAIN
