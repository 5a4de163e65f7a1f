"""``evweb dns serve`` and ZoneServer on loopback: dig, dnspython and evweb's resolver ask it.

One server process (the CLI, ``--port 0``) serves a master file and a hosts
file for the query tests; the reload tests run their own, in this process
(to count every reply across a SIGHUP) or as the CLI.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from evweb.dns import Message, make_query
from evweb.dns.resolver import DNSResolver
from evweb.dns.zone_server import ZoneServer
from evweb.errors import DNSErrorCode
from evweb.reactor import NONBLOCK, ONCE, EventBase

ZONE = """$ORIGIN example.com.
$TTL 300
@        SOA   ns1 hostmaster 1 3600 600 86400 60
         NS    ns1
         MX    10 mail
ns1      A     192.0.2.53
mail     A     192.0.2.25
www      A     192.0.2.1
         AAAA  2001:db8::1
         TXT   "v=spf1 -all" "second"
alias    CNAME www
chain    CNAME alias
_sip._tcp SRV  0 5 5060 mail
$ORIGIN 2.0.192.in-addr.arpa.
@        SOA   ns1.example.com. hostmaster.example.com. 1 3600 600 86400 60
1        PTR   www.example.com.
"""
ZONE_2 = ZONE.replace(" 1 3600", " 2 3600").replace("192.0.2.1\n", "192.0.2.111\n")
HOSTS = "198.51.100.7 db.internal\n"
TIMEOUT = 2.0


def start_cli(*args: str, stderr: Any) -> tuple[subprocess.Popen[str], int]:
    """Start ``evweb dns serve ARGS --port 0``; wait (bounded) for its ``Serving DNS`` line."""
    cmd = [sys.executable, "-m", "evweb", "dns", "serve", *args, "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("Serving DNS on 127.0.0.1:"):
        stop(proc)
        pytest.fail(f"the server did not start: {line!r}")
    return proc, int(line.split(":")[1].split()[0])


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()
    return status


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The CLI serving ZONE and HOSTS: its port and its stderr's file."""
    root = tmp_path_factory.mktemp("zones")
    (root / "example.zone").write_text(ZONE)
    (root / "hosts").write_text(HOSTS)
    log = root / "stderr.log"
    with open(log, "w") as err:
        proc, port = start_cli(
            str(root / "example.zone"), str(root / "hosts"), "--query-log", stderr=err
        )
        yield port, log
        assert stop(proc) == 0


def ask(port: int, name: str, rtype: str, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rtype)
    query.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(query, "127.0.0.1", timeout=TIMEOUT, port=port)
    return dns.query.udp(query, "127.0.0.1", timeout=TIMEOUT, port=port)


def rdatas(reply: dns.message.Message, section: str = "answer") -> list[str]:
    return [
        f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rd}"
        for rrset in getattr(reply, section)
        for rd in rrset
    ]


@pytest.mark.parametrize(
    ("name", "rtype", "expected"),
    [
        ("www.example.com", "A", ["www.example.com. A 192.0.2.1"]),
        ("www.example.com", "AAAA", ["www.example.com. AAAA 2001:db8::1"]),
        ("example.com", "MX", ["example.com. MX 10 mail.example.com."]),
        ("www.example.com", "TXT", ['www.example.com. TXT "v=spf1 -all" "second"']),
        ("_sip._tcp.example.com", "SRV", ["_sip._tcp.example.com. SRV 0 5 5060 mail.example.com."]),
        ("example.com", "NS", ["example.com. NS ns1.example.com."]),
        ("1.2.0.192.in-addr.arpa", "PTR", ["1.2.0.192.in-addr.arpa. PTR www.example.com."]),
        ("db.internal", "A", ["db.internal. A 198.51.100.7"]),
        ("7.100.51.198.in-addr.arpa", "PTR", ["7.100.51.198.in-addr.arpa. PTR db.internal."]),
    ],
)
def test_dnspython_record_types(
    served: tuple[int, Path], name: str, rtype: str, expected: list[str]
) -> None:
    reply = ask(served[0], name, rtype)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert rdatas(reply) == expected


def test_soa_and_glue(served: tuple[int, Path]) -> None:
    soa = ask(served[0], "example.com", "SOA")
    assert rdatas(soa) == [
        "example.com. SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 60"
    ]
    assert rdatas(ask(served[0], "example.com", "MX"), "additional") == [
        "mail.example.com. A 192.0.2.25"
    ]


def test_cname_chain_over_tcp(served: tuple[int, Path]) -> None:
    reply = ask(served[0], "chain.example.com", "A", tcp=True)
    assert reply.flags & dns.flags.AA
    assert rdatas(reply) == [
        "chain.example.com. CNAME alias.example.com.",
        "alias.example.com. CNAME www.example.com.",
        "www.example.com. A 192.0.2.1",
    ]


def test_nxdomain_and_nodata_carry_the_soa(served: tuple[int, Path]) -> None:
    for name, rtype, rcode in [
        ("nope.example.com", "A", dns.rcode.NXDOMAIN),
        ("mail.example.com", "MX", dns.rcode.NOERROR),
    ]:
        reply = ask(served[0], name, rtype)
        assert (reply.rcode(), reply.answer) == (rcode, [])
        assert reply.flags & dns.flags.AA
        assert rdatas(reply, "authority") == [
            "example.com. SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 60"
        ]
        assert reply.authority[0].ttl == 60


def test_refused_outside_the_zones(served: tuple[int, Path]) -> None:
    reply = ask(served[0], "www.example.org", "A")
    assert reply.rcode() == dns.rcode.REFUSED
    assert not reply.flags & dns.flags.AA


@pytest.mark.skipif(
    shutil.which("dig") is None, reason="dig not installed (apt install bind9-dnsutils)"
)
def test_dig(served: tuple[int, Path]) -> None:
    def dig(*args: str) -> str:
        cmd = ["dig", "@127.0.0.1", "-p", str(served[0]), "+norec", "+tries=1", "+time=2", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True).stdout

    out = dig("WwW.example.com", "A")
    assert "status: NOERROR" in out and "flags: qr aa;" in out
    assert "WwW.example.com.\t300\tIN\tA\t192.0.2.1" in out  # the query's spelling
    out = dig("+tcp", "nope.example.com", "AAAA")
    assert "status: NXDOMAIN" in out and "(TCP)" in out
    assert "example.com.\t\t60\tIN\tSOA" in out
    assert "status: REFUSED" in dig("example.net", "A")
    assert dig("+short", "alias.example.com").split() == ["www.example.com.", "192.0.2.1"]


def test_evweb_resolver(served: tuple[int, Path]) -> None:
    got: list[Any] = []
    with EventBase() as base:
        resolver = DNSResolver(base, resolv_conf=None, hosts=None)  # 0x20 case randomisation on
        resolver.add_nameserver(f"127.0.0.1:{served[0]}")

        def done(result: Any) -> None:
            got.append(result)
            if len(got) == 4:
                base.loopbreak()

        resolver.resolve_ipv4("chain.example.com", done)
        resolver.resolve_ipv6("www.example.com", done)
        resolver.resolve_reverse("192.0.2.1", done)
        resolver.resolve_ipv4("nope.example.com", done)
        base.loopexit(5)
        base.dispatch()
        resolver.close()
    assert len(got) == 4
    by_kind = {(r.qname.lower(), r.error.code if r.error else None): r for r in got}
    assert by_kind[("chain.example.com.", None)].addresses == ["192.0.2.1"]
    assert by_kind[("www.example.com.", None)].addresses == ["2001:db8::1"]
    assert any(r.error is not None and r.error.code == DNSErrorCode.NOTEXIST for r in got)


def test_query_log(served: tuple[int, Path]) -> None:
    ask(served[0], "logged.example.com", "A")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = served[1].read_text()
        if "evweb.dns.queries: 127.0.0.1 udp logged.example.com. A -> NXDOMAIN 0/1/0" in text:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"no query log line in {text!r}")
    assert "loaded example.com.: serial 1" in text


def test_cli_refuses_a_bad_zone_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zone"
    bad.write_text("$ORIGIN e.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\nwww A 300.1.1.1\n")
    cmd = [sys.executable, "-m", "evweb", "dns", "serve", str(bad), "--port", "0"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert f"{bad}:4: A data" in result.stderr and result.stdout == ""


def test_cli_sighup_reload_good_then_bad(tmp_path: Path) -> None:
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    log = tmp_path / "stderr.log"
    with open(log, "w") as err:
        proc, port = start_cli(str(zone), stderr=err)
        try:
            zone.write_text(ZONE_2)
            proc.send_signal(signal.SIGHUP)
            assert wait_for(
                lambda: (
                    rdatas(ask(port, "www.example.com", "A")) == ["www.example.com. A 192.0.2.111"]
                )
            )
            zone.write_text(ZONE_2 + "broken A not-an-address\n")
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reload failed" in log.read_text())
            assert rdatas(ask(port, "www.example.com", "A")) == ["www.example.com. A 192.0.2.111"]
        finally:
            assert stop(proc) == 0
    text = log.read_text()
    assert "reloaded example.com.: serial 2" in text
    assert f"still serving the previous zones: {zone}:17: A data" in text


def wait_for(check: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_sighup_reload_in_process_answers_every_query(tmp_path: Path) -> None:
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    with (
        EventBase() as base,
        ZoneServer(base, [str(zone)]) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        address = server.listen("127.0.0.1", 0)
        server.reload_on_sighup()
        client.setblocking(False)
        for i in range(100):
            client.sendto(make_query("www.example.com", "A", id=i), address)
        zone.write_text(ZONE_2)
        os.kill(os.getpid(), signal.SIGHUP)
        for i in range(100, 200):
            client.sendto(make_query("www.example.com", "A", id=i), address)
        replies = collect(base, client, 200)
        deadline = time.monotonic() + 5
        while server.reloads < 1 and time.monotonic() < deadline:
            base.loop(ONCE | NONBLOCK)
        client.sendto(make_query("www.example.com", "A", id=200), address)
        replies.update(collect(base, client, 1))
    assert sorted(replies) == list(range(201))  # none dropped
    assert set(replies.values()) <= {"192.0.2.1", "192.0.2.111"}
    assert replies[200] == "192.0.2.111"


def collect(base: EventBase, client: socket.socket, count: int) -> dict[int, str]:
    """Run the loop until ``count`` replies came back (bounded); id -> first answer's data."""
    replies: dict[int, str] = {}
    deadline = time.monotonic() + 10
    while len(replies) < count and time.monotonic() < deadline:
        base.loop(ONCE | NONBLOCK)
        try:
            while True:
                reply = Message.parse(client.recv(4096))
                replies[reply.id] = reply.answers[0].data.to_text()
        except BlockingIOError:
            time.sleep(0.001)
    return replies


def test_reload_keeps_the_old_zones_on_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    with EventBase() as base, ZoneServer(base, [str(zone)], query_log=True) as server:
        before = server.zones
        zone.write_text(ZONE.replace("_sip", "www CNAME elsewhere\n_sip"))
        with caplog.at_level(logging.INFO, logger="evweb.dns"):
            assert server.reload() is False
        assert server.zones is before and server.failed_reloads == 1
        assert f"{zone}:13: www.example.com. has a CNAME and other data" in caplog.text
        zone.unlink()
        assert server.reload() is False
        assert "cannot read the file" in caplog.text
        zone.write_text(ZONE_2)
        assert server.reload() is True and server.zones is not before
