"""``evweb dns lookup`` against dnsmasq: dig-like answer lines, rcode names and exit statuses."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from evweb.cli import main
from tests.dns.dnsmasq import TTL, Dnsmasq, dnsmasq  # noqa: F401 - the fixture
from tests.dns.scripted_server import ScriptedServer, error


def lookup(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """Run ``evweb dns lookup ARGV``; its status, stdout lines and stderr."""
    status = main(["dns", "lookup", *argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


@pytest.fixture
def server(dnsmasq: Dnsmasq) -> str:  # noqa: F811
    return dnsmasq.address


def test_a_record(capsys: pytest.CaptureFixture[str], server: str) -> None:
    status, lines, err = lookup(capsys, "www.example.com", "--server", server)
    assert (status, lines, err) == (0, [f"www.example.com. {TTL} IN A 192.0.2.1"], "")


@pytest.mark.parametrize(
    ("name", "rtype", "expected"),
    [
        ("www.example.com", "aaaa", [f"www.example.com. {TTL} IN AAAA 2001:db8::1"]),
        ("example.com", "MX", [f"example.com. {TTL} IN MX 10 mail.example.com."]),
        ("example.com", "TXT", [f'example.com. {TTL} IN TXT "hello world"']),
    ],
)
def test_other_types(
    capsys: pytest.CaptureFixture[str], server: str, name: str, rtype: str, expected: list[str]
) -> None:
    status, lines, _ = lookup(capsys, name, "-t", rtype, "--server", server)
    assert (status, lines) == (0, expected)


def test_cname_chain_printed_in_order(capsys: pytest.CaptureFixture[str], server: str) -> None:
    status, lines, _ = lookup(capsys, "chain.example.com", "--server", server, "--no-search")
    assert status == 0
    assert [line.split()[3:] for line in lines] == [
        ["CNAME", "alias.example.com."],
        ["CNAME", "www.example.com."],
        ["A", "192.0.2.1"],
    ]


def test_reverse(capsys: pytest.CaptureFixture[str], server: str) -> None:
    status, lines, _ = lookup(capsys, "-x", "192.0.2.1", "--server", server)
    assert status == 0
    assert lines == [f"1.2.0.192.in-addr.arpa. {TTL} IN PTR www.example.com."]


def test_over_tcp(capsys: pytest.CaptureFixture[str], server: str) -> None:
    status, lines, _ = lookup(capsys, "www.example.com", "--tcp", "--server", server)
    assert (status, len(lines)) == (0, 1)


def test_nxdomain(capsys: pytest.CaptureFixture[str], server: str) -> None:
    status, lines, err = lookup(capsys, "nope.example.com", "--server", server)
    assert (status, lines) == (1, [])
    assert "NXDOMAIN" in err and "nope.example.com" in err


@pytest.mark.parametrize("rcode", ["REFUSED", "SERVFAIL"])
def test_error_rcodes(capsys: pytest.CaptureFixture[str], rcode: str) -> None:
    with ScriptedServer.threaded(lambda query: error(query, rcode)) as scripted:
        status, lines, err = lookup(
            capsys, "a.test", "--server", scripted.address, "--timeout", "0.05"
        )
    assert (status, lines) == (1, []) and f"{rcode}: " in err


def test_nodata_is_success_without_lines(capsys: pytest.CaptureFixture[str], server: str) -> None:
    status, lines, err = lookup(capsys, "v4only.example.com", "-t", "AAAA", "--server", server)
    assert (status, lines) == (0, []) and "NODATA" in err


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A UDP port that takes queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_timeout(capsys: pytest.CaptureFixture[str], black_hole: str) -> None:
    status, lines, err = lookup(capsys, "a.test", "--server", black_hole, "--timeout", "0.05")
    assert (status, lines) == (9, []) and "TIMEOUT" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["a.test", "-x", "10.0.0.1"],
        ["a.test", "-t", "NOSUCHTYPE", "--server", "127.0.0.1"],
        ["a.test", "--server", "not-an-ip"],
        ["bad..name", "--server", "127.0.0.1"],
        ["-x", "not-an-address", "--server", "127.0.0.1"],
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    status, lines, err = lookup(capsys, *argv)
    assert (status, lines) == (2, []) and err.startswith("evweb dns lookup: ")


def test_bad_timeout_is_refused_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["dns", "lookup", "a.test", "--timeout", "0"])
    assert exc.value.code == 2


def test_dns_without_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dns"]) == 2
    assert "lookup" in capsys.readouterr().err


def test_the_installed_command(server: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "evweb", "dns", "lookup", "www.example.com", "--server", server],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"www.example.com. {TTL} IN A 192.0.2.1\n"
