"""The ports of libevent's samples (apps/), each run as a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
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
