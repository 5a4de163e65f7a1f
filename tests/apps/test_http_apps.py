"""The HTTP examples (apps/static_server.py, upload.py, chunked.py, fetch.py), as subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

APPS = Path(__file__).resolve().parents[2] / "apps"
TIMEOUT = 30  # seconds; each self-test takes about one


def self_test(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APPS / script), "--self-test"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_static_server_self_test(tmp_path: Path) -> None:
    result = self_test("static_server.py", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.match(r"Listening on 127\.0\.0\.1:\d+\n", result.stdout)
    assert "Received a POST request for /dump" in result.stdout
    assert result.stdout.rstrip().endswith(
        "static-server self-test: ok: listing=ok, sendfile=ok, range=ok, redirect=ok,"
        " dump=ok, traversal=ok"
    )


def test_upload_self_test(tmp_path: Path) -> None:
    result = self_test("upload.py", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith(
        "upload self-test: ok: content-length=ok, chunked=ok, safe name=ok, 100-continue=ok,"
        " 413 over the limit=ok, no temp files left=ok"
    )
    assert list(tmp_path.iterdir()) == []  # the uploads went to a temporary directory


def test_chunked_self_test(tmp_path: Path) -> None:
    result = self_test("chunked.py", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "stream: 200 chunks of 65536 bytes sent, at most 1 waiting in the server" in result.stdout
    )
    assert result.stdout.rstrip().endswith(
        "chunked self-test: ok: chunked coding=ok, every byte in order=ok, ticks=ok,"
        " http/1.0 close-delimited=ok, client leaving=ok, still serving=ok"
    )


def test_fetch_self_test(tmp_path: Path) -> None:
    result = self_test("fetch.py", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.match(r"Listening on http://127\.0\.0\.1:\d+/\n", result.stdout)
    assert result.stdout.rstrip().endswith(
        "fetch self-test: ok: concurrent gets=ok, pool limit=ok, streamed download=ok, json post=ok"
    )


def start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start an app on a free port; the URL from its 'Listening on' line."""
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    line = b""
    deadline = time.monotonic() + 15
    fd = proc.stdout.fileno()
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0 and select.select([fd], [], [], left)[0], line
        byte = os.read(fd, 1)
        assert byte, line
        line += byte
    match = re.search(rb"Listening on (?:http://)?([\d.]+:\d+)", line)
    assert match, line
    return proc, f"http://{match[1].decode()}"


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode


def test_static_server_serves_a_docroot(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a file\n")
    proc, url = start([str(APPS / "static_server.py"), "-p", "0", str(tmp_path)], tmp_path)
    try:
        assert requests.get(url + "/a.txt").text == "a file\n"
        assert 'href="a.txt"' in requests.get(url + "/").text
        assert requests.post(url + "/anything", data=b"x").text == "OK\n"  # dumped
    finally:
        assert stop(proc) == 0


def test_static_server_needs_a_docroot(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(APPS / "static_server.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    assert "Syntax: static_server.py <docroot>" in result.stderr


def test_upload_stores_the_body(tmp_path: Path) -> None:
    store = tmp_path / "store"
    args = [str(APPS / "upload.py"), "--port", "0", "--dir", str(store)]
    proc, url = start(args, tmp_path)
    try:
        data = os.urandom(300_000)
        r = requests.put(url + "/upload?name=data.bin", data=data)
        answer = json.loads(r.text)
        digest = hashlib.sha256(data).hexdigest()
        assert answer == {"bytes": len(data), "sha256": digest, "file": f"{digest[:16]}-data.bin"}
        assert (store / answer["file"]).read_bytes() == data
        assert requests.get(url + "/upload").status_code == 405
    finally:
        assert stop(proc) == 0
