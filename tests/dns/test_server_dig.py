"""dig (BIND's client) against DNSServer over UDP and TCP, with and without EDNS."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from evweb.dns.server import DNSServer, ServerRequest
from evweb.reactor import EventBase
from tests.dns.scripted_server import run_until

DIG = shutil.which("dig")
pytestmark = [
    pytest.mark.skipif(DIG is None, reason="dig is not installed (apt-get install bind9-dnsutils)"),
    pytest.mark.usefixtures("callbacks_must_not_fail"),
]

BIG = [f"10.2.{i // 250}.{i % 250 + 1}" for i in range(100)]  # 100 A records: 1.6 KB


def handler(request: ServerRequest) -> None:
    question = request.questions[0]
    name = question.name.lower()
    if name == "www.example.com." and question.qtype == 1:
        request.add_a(question.name, ["192.0.2.1", "192.0.2.2"], 300)
    elif name == "big.example.com." and question.qtype == 1:
        request.add_a(question.name, BIG, 60)
    elif name == "mail.example.com." and question.qtype == 15:
        request.add_mx(question.name, 10, "mx.example.com.", 300)
        request.add_a("mx.example.com.", "192.0.2.25", 300, section=2)
    else:
        request.add_soa(
            "example.com.", "ns.example.com.", "admin.example.com.", 1, 2, 3, 4, 60, 60, section=1
        )
        request.set_flags(aa=True)
        request.respond(3)
        return
    request.set_flags(aa=True)
    request.respond()


class Served:
    """A server on UDP and TCP, one port on 127.0.0.1, and a way to run dig against it.

    :meth:`dig` returns dig's output with each run of spaces and tabs made one space.
    """

    def __init__(self) -> None:
        self.base = EventBase()
        self.server = DNSServer(self.base, handler)
        for _ in range(5):  # the same port for both: dig +tcp uses it
            port = self.server.listen_udp(("127.0.0.1", 0))[1]
            try:
                self.server.listen_tcp(("127.0.0.1", port))
                break
            except OSError:
                self.server.close()
                self.server = DNSServer(self.base, handler)
        self.port = port

    def dig(self, *args: str) -> str:
        command = [DIG or "dig", "@127.0.0.1", "-p", str(self.port), "+tries=1", "+time=2", *args]
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            run_until(self.base, lambda: proc.poll() is not None, 10)
        finally:
            if proc.poll() is None:
                proc.kill()
            out, _ = proc.communicate()
        return " \n".join(" ".join(line.split()) for line in out.splitlines()) + " \n"

    def close(self) -> None:
        self.server.close()
        self.base.close()


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served()
    yield s
    s.close()


def flags_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(";; flags:"))


def test_dig_over_udp(served: Served) -> None:
    out = served.dig("www.example.com", "A")
    assert "status: NOERROR" in out
    assert "qr aa rd" in flags_line(out)
    assert "www.example.com. 300 IN A 192.0.2.1" in out
    assert "www.example.com. 300 IN A 192.0.2.2" in out
    assert "(UDP)" in out


def test_dig_over_tcp(served: Served) -> None:
    out = served.dig("www.example.com", "A", "+tcp")
    assert "status: NOERROR" in out and "(TCP)" in out
    assert "www.example.com. 300 IN A 192.0.2.1" in out


def test_dig_nxdomain_with_soa(served: Served) -> None:
    out = served.dig("nothing.example.com", "A")
    assert "status: NXDOMAIN" in out
    assert "AUTHORITY SECTION" in out and "IN SOA ns.example.com." in out


def test_dig_mx_with_additional(served: Served) -> None:
    out = served.dig("mail.example.com", "MX")
    assert "IN MX 10 mx.example.com." in out
    assert "mx.example.com. 300 IN A 192.0.2.25" in out


def test_dig_without_edns_gets_a_truncated_udp_reply(served: Served) -> None:
    out = served.dig("big.example.com", "A", "+noedns", "+ignore")
    assert " tc" in flags_line(out)
    answers = out.count("big.example.com. 60 IN A")
    assert 0 < answers < 100
    assert "MSG SIZE rcvd: " in out and int(out.split("MSG SIZE rcvd: ")[1].split()[0]) <= 512


def test_dig_with_bufsize_4096_gets_it_whole(served: Served) -> None:
    out = served.dig("big.example.com", "A", "+bufsize=4096", "+ignore")
    assert " tc" not in flags_line(out)
    assert out.count("big.example.com. 60 IN A") == 100


def test_dig_falls_back_to_tcp_on_truncation(served: Served) -> None:
    out = served.dig("big.example.com", "A", "+noedns")
    assert "Truncated, retrying in TCP mode" in out
    assert out.count("big.example.com. 60 IN A") == 100
    assert "(TCP)" in out


def test_dig_opcode_status_gets_notimp(served: Served) -> None:
    out = served.dig("+opcode=status", "www.example.com")
    assert "status: NOTIMP" in out


def test_the_server_binds_loopback_only(served: Served) -> None:
    assert served.server.udp_addresses[0][0] == "127.0.0.1"
    assert socket.inet_aton(served.server.tcp_addresses[0][0]) == b"\x7f\x00\x00\x01"
