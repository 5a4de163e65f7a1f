"""A real nameserver for the resolver tests: dnsmasq on 127.0.0.1, with records of its own.

``dnsmasq`` (module scope) starts ``/usr/sbin/dnsmasq --keep-in-foreground``
on a free port (UDP and TCP) with ``--no-resolv --no-hosts``: it answers
only from the records below (``--local=/#/``: any other name is NXDOMAIN),
with TTL :data:`TTL`, and stops it afterwards. The test is skipped, saying why, when
dnsmasq is not installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evweb.dns import Message, make_query

DNSMASQ = "/usr/sbin/dnsmasq"
TTL = 300
LARGE = [f"10.0.0.{i}" for i in range(1, 41)]  # 40 A records: over 512 bytes, so TC then TCP
SEARCH_HOSTS = {
    "host.c.example.com": "11.22.33.44",
    "host2.b.example.com": "200.100.0.100",
    "host3.example.com": "33.33.33.33",
    "host3.example.com.sub.example.com": "44.44.44.44",
}
OPTIONS = [
    "--host-record=www.example.com,192.0.2.1,2001:db8::1",
    "--host-record=v4only.example.com,192.0.2.2",
    "--host-record=mail.example.com,192.0.2.3",
    "--cname=alias.example.com,www.example.com",
    "--cname=chain.example.com,alias.example.com",
    "--mx-host=example.com,mail.example.com,10",
    "--txt-record=example.com,hello world",
    "--srv-host=_sip._tcp.example.com,sip.example.com,5060,0,5",
    *(f"--host-record={name},{address}" for name, address in SEARCH_HOSTS.items()),
]


@dataclass
class Dnsmasq:
    """A running dnsmasq: its ``port`` and ``address`` (``127.0.0.1:port``)."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        """For ``add_nameserver``."""
        return f"127.0.0.1:{self.port}"


def _free_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for both UDP and TCP")


def _wait_ready(port: int, process: subprocess.Popen[bytes], seconds: float = 5.0) -> None:
    query = make_query("www.example.com", "A", id=7)
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.05)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"dnsmasq exited with status {process.returncode}")
            sock.sendto(query, ("127.0.0.1", port))
            try:
                if Message.parse(sock.recv(4096)).id == 7:
                    return
            except (TimeoutError, ConnectionRefusedError):
                continue
    raise RuntimeError("dnsmasq did not answer within 5 s")


@pytest.fixture(scope="module")
def dnsmasq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dnsmasq]:
    """A dnsmasq serving the records of this module (see the module doc)."""
    if not os.path.exists(DNSMASQ) or shutil.which(DNSMASQ) is None:
        pytest.skip(f"dnsmasq is not installed ({DNSMASQ} missing): apt-get install dnsmasq-base")
    workdir: Path = tmp_path_factory.mktemp("dnsmasq")
    hosts = workdir / "hosts"
    hosts.write_text("".join(f"{address} large.example.com\n" for address in LARGE))
    port = _free_port()
    command = [
        DNSMASQ,
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        f"--port={port}",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--local=/#/",
        f"--local-ttl={TTL}",
        f"--addn-hosts={hosts}",
        "--pid-file=",
        f"--user={pwd.getpwuid(os.geteuid()).pw_name}",  # stay who we are: it reads tmp_path
        f"--log-facility={workdir / 'log'}",
        *OPTIONS,
    ]
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(command, stdin=quiet, stdout=quiet, stderr=quiet)
    try:
        _wait_ready(port, process)
        yield Dnsmasq(port, process)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
