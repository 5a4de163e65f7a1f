"""bench/http_server.py: its parsers, its server handling, and a short real run."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   700.00us  200.00us   3.10ms   90.00%
    Req/Sec    70.00k     1.00k   72.00k    80.00%
  Latency Distribution
     50%  680.00us
     75%  750.00us
     90%  800.00us
     99%    1.13ms
  71000 requests in 1.00s, 9.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  71611.25
Transfer/sec:      9.00MB
"""


@pytest.fixture(scope="module")
def hs() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the script imports _common from its own folder
    try:
        return importlib.import_module("http_server")
    finally:
        sys.path.remove(str(BENCH))


def test_parse_wrk(hs: ModuleType) -> None:
    assert hs.parse_wrk(WRK_OUTPUT) == (71611.25, 1.13, 7)
    clean = re.sub(r"  (Socket errors|Non-2xx).*\n", "", WRK_OUTPUT).replace("1.13ms", "900us")
    assert hs.parse_wrk(clean) == (71611.25, pytest.approx(0.9), 0)
    with pytest.raises(ValueError, match="Requests/sec"):
        hs.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_response_end(hs: ModuleType) -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
    assert hs.response_end(reply) == len(reply)
    assert hs.response_end(reply + b"HTTP/1.1") == len(reply)
    assert hs.response_end(reply[:-1]) is None
    assert hs.response_end(reply[:20]) is None
    with pytest.raises(ValueError, match="Content-Length"):
        hs.response_end(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(ValueError, match="status line"):
        hs.response_end(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_print_rows_aligns_short_rows(hs: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    hs.print_rows("t", [["server", "req/s", "p99"], ["evweb-app", "skipped (why)"],
                        ["c", "12", "1.5"]])
    assert capsys.readouterr().out.splitlines() == [
        "", "t", "server     req/s  p99", "evweb-app  skipped (why)", "c             12  1.5"]


def test_pick(hs: ModuleType) -> None:
    names = list(hs.HELLO_SERVERS)
    assert hs.pick(names, set()) == names
    assert hs.pick(names, {"evweb", "evhttp"}) == ["evweb-lowlevel", "evweb-app", "evhttp"]
    assert hs.pick(names, {"evweb-app"}) == ["evweb-app"]


def test_server_exiting_before_listening_is_skipped(hs: ModuleType) -> None:
    # the placeholder every evweb server was before it existed (runs from the repo root)
    code = ("import sys; sys.path.insert(0, 'bench/servers'); "
            "from _placeholder import not_available; sys.exit(not_available('placeholder'))")
    argv, why = hs.server_argv([hs.PY, "-c", code, "--port", "{port}"], hs.Cfg())
    assert not why
    srv = hs.Server("placeholder", argv, pin=[])
    try:
        reason = srv.start()
    finally:
        srv.stop()
    assert reason == "evweb HTTP server not available yet; exit status 3"


def test_quick_run_with_evhttp(hs: ModuleType) -> None:
    exe, why = hs.build_c("evhttp_hello", "event2/http.h", ("-levent",))
    if exe is None:
        pytest.skip(why)
    result = subprocess.run(
        [sys.executable, str(BENCH / "http_server.py"), "--case", "idle,static",
         "--only", "evhttp,evweb-static", "--idle", "50", "--file-mb", "2", "--rounds", "2"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "command: python bench/http_server.py --case idle,static" in out
    # evweb-static is measured once it exists, skipped while it is a placeholder
    assert re.search(r"^evweb-static +(skipped \(evweb HTTP server not available yet; exit "
                     r"status 3\)|\d+ +\d+ \d+ .*)$", out, re.M), out
    assert re.search(r"^evhttp +[\d.]+ +[\d.]+ +-?[\d.]+ +50 +[\d.]+$", out, re.M), out
    assert re.search(r"^evhttp +\d+ +\d+ \d+ +n/a +1\.00$", out, re.M), out
    assert "evweb-app" not in out  # a bar is printed only for the servers asked for
    assert out.rstrip().endswith("HEADLINE: SKIP (no bar measured)")
