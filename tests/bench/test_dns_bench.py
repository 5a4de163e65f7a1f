"""bench/dns.py: a short real run (dnsmasq, every client, the table and the verdicts)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "dns.py"


@pytest.mark.skipif(
    shutil.which("dnsmasq") is None and not Path("/usr/sbin/dnsmasq").exists(),
    reason="dnsmasq is not installed",
)
def test_short_run_prints_the_table_and_a_headline() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--count", "300", "--inflight", "20", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: a bar failed on a loaded machine
    out = proc.stdout
    assert "DNS: 300 A lookups" in out and "HEADLINE:" in out
    for client in ("evweb ", "aiodns", "dnspython", "c-evdns", "evweb-gai"):
        assert client in out
    assert "failed" not in out, out
