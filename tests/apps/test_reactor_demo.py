"""The README's demo (apps/reactor_demo.py): it serves, chats and stops on SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "apps" / "reactor_demo.py"


def test_self_test_chats_and_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, str(APP), "--self-test"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "listening on 127.0.0.1:" in result.stdout
    assert "self-test: b received:" in result.stdout
    assert "hello from a" in result.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serves_a_client_and_stops_on_sigint() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(APP), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the demo never listened"
                time.sleep(0.05)
        with client:
            assert client.recv(100).startswith(b"* welcome")
            client.sendall(b"ping\n")
            received = b""
            while b"ping" not in received:
                chunk = client.recv(100)
                assert chunk, "connection closed before the echo"
                received += chunk
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "got SIGINT, stopping" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
