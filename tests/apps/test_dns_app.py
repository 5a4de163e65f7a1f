"""The DNS example (apps/dns_lookup.py): its --self-test resolves without the network, exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "apps" / "dns_lookup.py"
DNSMASQ = "/usr/sbin/dnsmasq"


def test_dns_lookup_self_test(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(APP), "--self-test"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test: FAIL" not in result.stdout
    assert "self-test: ok   hosts: getaddrinfo gives both families" in result.stdout
    if os.access(DNSMASQ, os.X_OK):
        assert "self-test: ok   dnsmasq: the second round came from the cache" in result.stdout
    else:
        assert "self-test: skip dnsmasq part" in result.stdout
    assert result.stdout.rstrip().endswith("self-test: passed")


def test_dns_lookup_wants_a_name() -> None:
    result = subprocess.run(
        [sys.executable, str(APP)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "give at least one NAME" in result.stderr
