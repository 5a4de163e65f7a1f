"""``evweb fetch``: in-process for speed, as a subprocess where the process itself matters."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from evweb import _fetch
from evweb.cli import build_parser
from evweb.http import HTTPServer, Request, ServerConfig
from tests.http.live import LiveServer, live_server

ROOT = Path(__file__).resolve().parents[1]
BIG = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)  # a little over 3 MiB


def setup(server: HTTPServer) -> None:
    base = server.base
    hung: list[Request] = []

    def hello(req: Request) -> None:
        req.send_reply(200, None, "hello", "text/plain")

    def echo(req: Request) -> None:
        seen = {
            "method": req.method,
            "content-type": req.headers.get("content-type"),
            "content-length": req.headers.get("content-length"),
            "chunked": req.headers.has_token("transfer-encoding", "chunked"),
            "x-test": req.headers.get_all("x-test"),
            "user-agent": req.headers.get("user-agent"),
        }
        req.send_reply(200, None, json.dumps(seen).encode() + b"\n" + req.body)

    def big(req: Request) -> None:
        req.send_reply(200, None, BIG, "application/octet-stream")

    def missing(req: Request) -> None:
        req.send_reply(404, None, "no such thing", "text/plain")

    def redirect_to(status: int, location: str) -> Any:
        def handler(req: Request) -> None:
            req.response_headers["Location"] = location
            req.send_reply(status, None, f"redirect body {status}", "text/plain")

        return handler

    def slow(req: Request) -> None:  # 6 chunks, 0.25 s apart: 1.5 s in all
        req.start_reply(200)
        left = [6]

        def tick(fd: int, what: int, arg: Any) -> None:
            req.send_chunk(b"x" * 1000)
            left[0] -= 1
            if left[0] == 0:
                timer.delete()
                req.end_reply()

        timer = base.timer(tick, persist=True)
        timer.add(0.25)

    server.set_cb("/", hello)
    server.set_cb("/echo", echo)
    server.set_cb("/big", big)
    server.set_cb("/missing", missing)
    server.set_cb("/hang", hung.append)  # never answered
    server.set_cb("/slow", slow)
    server.set_cb("/302", redirect_to(302, "/"))
    server.set_cb("/303", redirect_to(303, "/echo"))
    server.set_cb("/307", redirect_to(307, "/echo"))
    server.set_cb("/loop", redirect_to(302, "/loop"))
    server.set_cb("/ftp", redirect_to(302, "ftp://example.com/"))


@pytest.fixture
def srv() -> Iterator[LiveServer]:  # one per test: stopping it closes every fd it holds
    with live_server(setup, config=ServerConfig(max_body_size=None)) as server:
        yield server


class Result:
    def __init__(self, status: int, out: bytes, err: str) -> None:
        self.status = status
        self.out = out
        self.err = err


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def fetch(*argv: str, stdin: bytes = b"", stderr: io.StringIO | None = None) -> Result:
    """``evweb fetch ARGV`` in this process."""
    args = build_parser().parse_args(["fetch", *argv])
    out, err = io.BytesIO(), stderr if stderr is not None else io.StringIO()
    status = _fetch.run(args, stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return Result(status, out.getvalue(), err.getvalue())


def run_cli(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "evweb", "fetch", *argv],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )


def echoed(out: bytes) -> tuple[dict[str, Any], bytes]:
    line, _, body = out.partition(b"\n")
    return json.loads(line), body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the body and the head ----------------------------------------------------------------


def test_body_to_stdout_as_a_subprocess(srv: LiveServer) -> None:
    result = run_cli(srv.url + "/")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"hello", b"")


def test_body_to_stdout(srv: LiveServer) -> None:
    result = fetch(srv.url + "/")
    assert (result.status, result.out, result.err) == (0, b"hello", "")


def test_include_writes_the_status_line_and_headers_first(srv: LiveServer) -> None:
    result = fetch("-i", srv.url + "/")
    head, _, body = result.out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"Content-Length: 5" in lines and b"Content-Type: text/plain" in lines
    assert body == b"hello"


def test_head_request(srv: LiveServer) -> None:
    result = fetch("-I", srv.url + "/")
    assert result.status == 0
    assert result.out.startswith(b"HTTP/1.1 200 OK\r\n") and result.out.endswith(b"\r\n\r\n")


def test_output_file_is_byte_exact(srv: LiveServer, tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    result = fetch("-o", str(target), srv.url + "/big")
    assert (result.status, result.out, result.err) == (0, b"", "")
    assert target.read_bytes() == BIG


def test_output_dash_is_stdout(srv: LiveServer) -> None:
    assert fetch("-o", "-", srv.url + "/big").out == BIG


def test_big_download_through_a_pipe(srv: LiveServer) -> None:
    result = run_cli(srv.url + "/big")
    assert result.returncode == 0
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(BIG).digest()


# -- what is sent ------------------------------------------------------------------------------


def test_method_headers_and_data(srv: LiveServer) -> None:
    result = fetch(
        "-X", "put", "-H", "X-Test: one", "-H", "User-Agent: mine", "-d", "a=1", "-d", "b=2",
        srv.url + "/echo",
    )  # fmt: skip
    seen, body = echoed(result.out)
    assert result.status == 0
    assert seen["method"] == "PUT"
    assert seen["content-type"] == "application/x-www-form-urlencoded"
    assert seen["x-test"] == ["one"] and seen["user-agent"] == "mine"
    assert body == b"a=1&b=2"


def test_data_is_a_post_and_content_type_can_be_replaced(srv: LiveServer) -> None:
    result = fetch("-H", "Content-Type: application/json", "-d", '{"a": 1}', srv.url + "/echo")
    seen, body = echoed(result.out)
    assert (seen["method"], seen["content-type"], body) == ("POST", "application/json", b'{"a": 1}')


def test_data_from_a_file_is_streamed_as_is(srv: LiveServer, tmp_path: Path) -> None:
    data = os.urandom(2_000_000)
    (tmp_path / "up.bin").write_bytes(data)
    for option in (["-d", f"@{tmp_path / 'up.bin'}"], ["--data-file", str(tmp_path / "up.bin")]):
        seen, body = echoed(fetch(*option, srv.url + "/echo").out)
        assert seen["method"] == "POST"
        assert seen["content-length"] == str(len(data))  # a regular file: its size is known
        assert body == data
    seen, _ = echoed(fetch("--data-file", str(tmp_path / "up.bin"), srv.url + "/echo").out)
    assert seen["content-type"] is None


def test_data_from_stdin(srv: LiveServer) -> None:
    result = fetch("--data-file", "-", "-X", "PATCH", srv.url + "/echo", stdin=b"from stdin")
    seen, body = echoed(result.out)
    assert (seen["method"], body) == ("PATCH", b"from stdin")
    assert echoed(fetch("-d", "@-", srv.url + "/echo", stdin=b"at-dash").out)[1] == b"at-dash"


def test_data_from_a_stdin_pipe_goes_chunked(srv: LiveServer) -> None:
    result = run_cli("--data-file", "-", srv.url + "/echo", stdin=b"piped " * 10_000)
    seen, body = echoed(result.stdout)
    assert result.returncode == 0, result.stderr
    assert seen["chunked"] and body == b"piped " * 10_000


# -- exit statuses -----------------------------------------------------------------------------


def test_status_404_is_exit_1_with_the_body_written(srv: LiveServer) -> None:
    result = fetch(srv.url + "/missing")
    assert (result.status, result.out) == (1, b"no such thing")
    assert result.err == f"evweb fetch: {srv.url}/missing: 404 Not Found\n"


def test_status_404_from_the_process(srv: LiveServer) -> None:
    result = run_cli(srv.url + "/missing")
    assert (result.returncode, result.stdout) == (1, b"no such thing")
    assert b"404 Not Found" in result.stderr and b"Traceback" not in result.stderr


def test_refused_port_is_exit_3() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    result = run_cli(url)
    assert result.returncode == 3
    err = result.stderr.decode()
    assert err.startswith(f"evweb fetch: {url}: cannot connect") and "refused" in err
    assert err.count("\n") == 1


def test_no_output_file_when_nothing_arrived(tmp_path: Path) -> None:
    result = fetch("-o", str(tmp_path / "out"), f"http://127.0.0.1:{free_port()}/")
    assert result.status == 3
    assert not (tmp_path / "out").exists()


def test_timeout_is_exit_4(srv: LiveServer) -> None:
    started = time.monotonic()
    result = fetch("--timeout", "0.5", srv.url + "/hang")
    assert result.status == 4
    assert time.monotonic() - started < 5
    assert result.err.startswith(f"evweb fetch: {srv.url}/hang: ")
    assert "sent nothing for 0.5 s" in result.err


def test_max_time_is_exit_4(srv: LiveServer) -> None:
    result = fetch("--max-time", "0.3", srv.url + "/hang")
    assert result.status == 4
    assert "within 0.3 s (--max-time)" in result.err


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("example.com/x", "must start with http:// or https://"),
        ("ftp://example.com/", "must start with http:// or https://"),
        ("http:///path", "no host"),
    ],
)
def test_invalid_url_is_exit_2(url: str, reason: str) -> None:
    result = fetch(url)
    assert result.status == 2
    assert result.err.startswith(f"evweb fetch: {url}: ") and reason in result.err


def test_invalid_url_from_the_process() -> None:
    result = run_cli("not a url")
    assert result.returncode == 2
    assert result.stderr.count(b"\n") == 1 and b"Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["-H", "no colon"],
        ["-H", "Bad Name: x"],
        ["-X", "GE T"],
        ["--timeout", "0"],
        ["-I", "-d", "x"],
        ["-d", "x", "--data-file", "y"],
    ],
)
def test_usage_errors_are_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        fetch(*argv, "http://127.0.0.1:1/")
    assert info.value.code == 2
    assert "evweb fetch: error:" in capsys.readouterr().err


def test_bad_proxy_and_mixed_data_are_exit_2() -> None:
    assert fetch("--proxy", "socks://x", "http://127.0.0.1:1/").status == 2
    result = fetch("-d", "@a", "-d", "b", "http://127.0.0.1:1/")
    assert result.status == 2 and "cannot be combined" in result.err


def test_unreadable_data_file_is_exit_6(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = fetch("--data-file", str(missing), "http://127.0.0.1:1/")
    assert result.status == 6
    reason = f"cannot read {missing}: No such file or directory"
    assert result.err == f"evweb fetch: http://127.0.0.1:1/: {reason}\n"


def test_unwritable_output_is_exit_6(srv: LiveServer, tmp_path: Path) -> None:
    result = fetch("-o", str(tmp_path / "no" / "dir"), srv.url + "/")
    assert result.status == 6 and "cannot write" in result.err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failing_write_cancels_the_download(srv: LiveServer) -> None:
    started = time.monotonic()
    result = fetch("-o", "/dev/full", srv.url + "/big")
    assert result.status == 6
    reason = "cannot write /dev/full: No space left on device"
    assert result.err == f"evweb fetch: {srv.url}/big: {reason}\n"
    assert time.monotonic() - started < 5


def test_a_reader_leaving_the_pipe_is_quiet(srv: LiveServer) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "evweb", "fetch", srv.url + "/big"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(10) == BIG[:10]
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=30) == 6
    assert err == b""


def test_garbage_from_the_server_is_exit_5() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"SPDY/9 nonsense\r\n\r\n")

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        result = fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/")
    finally:
        thread.join(10)
        listener.close()
    assert result.status == 5
    assert result.err.count("\n") == 1


# -- redirects ---------------------------------------------------------------------------------


def test_redirects_are_answers_without_L(srv: LiveServer) -> None:
    result = fetch(srv.url + "/302")
    assert (result.status, result.out) == (0, b"redirect body 302")


def test_L_follows_and_writes_only_the_last_body(srv: LiveServer) -> None:
    result = fetch("-L", srv.url + "/302")
    assert (result.status, result.out) == (0, b"hello")


def test_L_with_include_writes_every_head(srv: LiveServer) -> None:
    out = fetch("-iL", srv.url + "/302").out
    assert out.startswith(b"HTTP/1.1 302 Found\r\n")
    assert b"\r\n\r\nHTTP/1.1 200 OK\r\n" in out
    assert b"redirect body" not in out and out.endswith(b"\r\n\r\nhello")


def test_303_after_a_post_becomes_a_get(srv: LiveServer) -> None:
    seen, body = echoed(fetch("-L", "-d", "x=1", srv.url + "/303").out)
    assert (seen["method"], body) == ("GET", b"")


def test_307_repeats_the_post(srv: LiveServer) -> None:
    seen, body = echoed(fetch("-L", "-d", "x=1", srv.url + "/307").out)
    assert (seen["method"], body) == ("POST", b"x=1")


def test_307_with_a_streamed_body_is_the_answer(srv: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "up").write_bytes(b"data")
    result = fetch("-L", "--data-file", str(tmp_path / "up"), srv.url + "/307")
    assert (result.status, result.out) == (0, b"redirect body 307")


def test_redirect_loop_is_exit_5(srv: LiveServer) -> None:
    result = fetch("-L", srv.url + "/loop")
    assert result.status == 5 and "redirects" in result.err


def test_redirect_to_another_scheme_is_exit_5(srv: LiveServer) -> None:
    result = fetch("-L", srv.url + "/ftp")
    assert result.status == 5 and "unsupported scheme" in result.err


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture
def tls_srv(tls_ctx: ssl.SSLContext) -> Iterator[LiveServer]:
    with live_server(setup, ssl_context=tls_ctx) as server:
        yield server


def test_an_unknown_certificate_is_exit_3(tls_srv: LiveServer) -> None:
    result = fetch(tls_srv.url + "/")
    assert result.status == 3, result.err
    assert result.err.startswith(f"evweb fetch: {tls_srv.url}/: certificate of 127.0.0.1:")


def test_insecure_accepts_it(tls_srv: LiveServer) -> None:
    assert fetch("--insecure", tls_srv.url + "/").out == b"hello"
    assert fetch("-k", "-o", "-", tls_srv.url + "/big").out == BIG


# -- the progress line ----------------------------------------------------------------------


def test_progress_waits_a_second_then_shows_bytes_rate_and_percent() -> None:
    stream = TTY()
    progress = _fetch.Progress(stream, 4 * 1024 * 1024, started=100.0)
    progress.received = 1024 * 1024
    progress.update(100.5)
    assert stream.getvalue() == ""
    progress.update(102.0)
    assert stream.getvalue() == "\r1.0 MiB of 4.0 MiB (25%), 512.0 KiB/s\x1b[K"
    progress.finish()
    assert stream.getvalue().endswith("\x1b[K\r\x1b[K")


def test_progress_without_a_length_and_unshown_finish() -> None:
    stream = TTY()
    progress = _fetch.Progress(stream, None, started=0.0, clock=lambda: 2.0)
    progress.finish()
    assert stream.getvalue() == ""  # never drawn: nothing to erase
    progress.received = 3000
    progress.update()
    assert stream.getvalue() == "\r2.9 KiB, 1.5 KiB/s\x1b[K"


def test_sizes() -> None:
    assert [_fetch.size(n) for n in (0, 1023, 1536, 5 << 20, 3 << 30, 1 << 42)] == [
        "0 B", "1023 B", "1.5 KiB", "5.0 MiB", "3.0 GiB", "4096.0 GiB",
    ]  # fmt: skip


def test_a_slow_download_shows_progress_on_a_terminal_and_clears_it(srv: LiveServer) -> None:
    err = TTY()
    result = fetch("-o", "-", srv.url + "/slow", stderr=err)
    assert result.status == 0 and result.out == b"x" * 6000
    text = err.getvalue()
    assert "\r" in text and "KiB" in text and "B/s" in text
    assert text.endswith("\r\x1b[K")


def test_no_progress_off_a_terminal_or_when_silent(srv: LiveServer) -> None:
    assert fetch(srv.url + "/slow").err == ""
    err = TTY()
    assert fetch("-s", srv.url + "/slow", stderr=err).out == b"x" * 6000
    assert err.getvalue() == ""
