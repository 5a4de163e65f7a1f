"""The ports of libevent's samples (apps/), each run as a subprocess."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[2] / "apps"
TIMEOUT = 10  # seconds; each run takes well under one


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APPS / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_signal_test_self_test(tmp_path: Path) -> None:
    result = run("signal_test.py", "--self-test", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "signal_cb: got signal 2\n" * 2


@pytest.mark.parametrize("persist", [[], ["-p"]], ids=["re-added", "persistent"])
def test_time_test_self_test(tmp_path: Path, persist: list[str]) -> None:
    result = run("time_test.py", "--self-test", *persist, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    tick = re.compile(r"timeout_cb called at \d+: (\d+\.\d{3}) seconds elapsed\.")
    matches = [tick.fullmatch(line) for line in lines[:3]]
    assert all(matches), lines
    assert all(0.04 <= float(m.group(1)) < 1.0 for m in matches if m)
    assert lines[3:] == ["Caught an interrupt signal; exiting cleanly."]


def test_time_test_bounded_run(tmp_path: Path) -> None:
    result = run("time_test.py", "--interval", "0.02", "--ticks", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[-1] == "Done ticking; exiting."


def test_event_read_fifo_self_test(tmp_path: Path) -> None:
    result = run("event_read_fifo.py", "--self-test", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    read = "".join(line.removeprefix("Read: ") for line in result.stdout.splitlines())
    assert "hello from the writer thread" in read and "and goodbye" in read
    assert result.stderr.startswith("Write data to ")
    assert "fifo_read called with fd: " in result.stderr
    assert result.stderr.endswith("Connection closed\n")
    assert list(tmp_path.iterdir()) == []  # the fifo went to a temporary directory


def test_event_read_fifo_refuses_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "event.fifo").write_text("not a fifo")
    result = run("event_read_fifo.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "lstat: File exists\n"


def test_hello_world_self_test(tmp_path: Path) -> None:
    result = run("hello_world.py", "--self-test", "--exit-delay", "0.1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "flushed answer" in result.stdout
    assert "client got b'Hello, World!\\n'" in result.stdout
    assert result.stdout.rstrip().endswith("done")


# --- le-proxy and becat: bufferevents over loopback --------------------------------------

SELF_TEST_TIMEOUT = 20  # seconds; each run takes well under one


def run_self_test(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APPS / script), "--self-test", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SELF_TEST_TIMEOUT,
        check=False,
    )


def tls_files(tmp_path: Path) -> list[str]:
    """--certfile/--keyfile/--cafile for 127.0.0.1, from a throw-away CA."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert, key, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(cafile))
    return ["--certfile", str(cert), "--keyfile", str(key), "--cafile", str(cafile)]


LE_PROXY_SUMMARY = re.compile(
    r"le-proxy self-test: ok: 4194304 of 4194304 bytes echoed intact through"
    r" 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \((?P<mode>[^)]*)\),"
    r" back-pressure engaged (?P<throttled>\d+) times \(largest output \d+ KiB\),"
    r" all connections closed, [\d.]+ s"
)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls-both-sides"])
def test_le_proxy_self_test(tmp_path: Path, tls: bool) -> None:
    args = ["-s", "-W", *tls_files(tmp_path)] if tls else []
    result = run_self_test("le_proxy.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    match = LE_PROXY_SUMMARY.fullmatch(result.stdout.strip())
    assert match, result.stdout
    assert match["mode"] == ("client TLS+backend TLS" if tls else "plain TCP")
    assert int(match["throttled"]) >= 1  # the watermark back-pressure did its work
    assert result.stderr == ""


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_becat_self_test(tmp_path: Path, tls: bool) -> None:
    args = ["-S", *tls_files(tmp_path)] if tls else []
    result = run_self_test("becat.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(
        "becat self-test: ok: listener printed b'hello from the connector\\n',"
        " connector printed b'hello from the listener\\n' over 127.0.0.1:"
    ), result.stdout
    assert f"({'TLS' if tls else 'plain TCP'}), exit statuses 0/0" in result.stdout
    assert "listener: Got 0x11 event on fd=" in result.stderr  # READING|EOF: the peer hung up


def _read_until(fd: int, needle: bytes, timeout: float = 10.0) -> bytes:
    """Bytes from a pipe until ``needle`` shows up (or the time is up)."""
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got and len(got) < 65536:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        got += chunk
    return got


def test_becat_listens_and_copies_both_ways(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(APPS / "becat.py"), "-v", "-l", "127.0.0.1", "0"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        banner = _read_until(proc.stderr.fileno(), b"\n")
        listening = re.search(rb"Listening on 127\.0\.0\.1:(\d+)\n", banner)
        assert listening, banner
        with socket.create_connection(("127.0.0.1", int(listening[1])), timeout=10) as client:
            client.sendall(b"hello becat\n")
            assert _read_until(proc.stdout.fileno(), b"\n") == b"hello becat\n"
            proc.stdin.write(b"hello socket\n")
            proc.stdin.flush()
            answer = b""
            while not answer.endswith(b"\n") and len(answer) < 100:
                chunk = client.recv(100)
                if not chunk:
                    break
                answer += chunk
            assert answer == b"hello socket\n"
        assert proc.wait(timeout=10) == 0  # the peer closed: becat exits
        rest = proc.stderr.read().decode()
        assert "Got 0x11 event on fd=" in rest and "Terminating connection" in rest
        assert proc.stdout.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
