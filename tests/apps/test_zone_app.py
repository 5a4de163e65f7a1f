"""The zone server example (apps/zone_server.py): --self-test passes; served, dnspython asks it."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

APP = Path(__file__).resolve().parents[2] / "apps" / "zone_server.py"


def test_zone_server_self_test(tmp_path: Path) -> None:
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
    assert "self-test: ok   CNAME chain" in result.stdout
    assert result.stdout.rstrip().endswith("self-test: passed")


def test_zone_server_serves_until_sigterm(tmp_path: Path) -> None:
    cmd = [sys.executable, str(APP), "--port", "0", "--hosts", "3"]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("Serving lab.test. on 127.0.0.1:"), line
        port = int(line.split(":")[1].split(";")[0])
        reply = dns.query.udp(
            dns.message.make_query("host2.lab.test", "A"), "127.0.0.1", timeout=2, port=port
        )
        assert reply.rcode() == dns.rcode.NOERROR
        assert [rd.to_text() for rd in reply.answer[0]] == ["10.0.0.2"]
    finally:
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(10)
        proc.stdout.close()
    assert status == 0
