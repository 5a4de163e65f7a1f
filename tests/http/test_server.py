"""The HTTP server against real clients: requests, curl and raw sockets, on every backend."""

from __future__ import annotations

import select
import shutil
import socket
import subprocess
import time
from typing import Any

import pytest
import requests

from evweb.http import HTTPServer, Request, ServerConfig
from evweb.reactor import supported_methods
from tests.http.live import live_server, raw_exchange, read_response

pytestmark = pytest.mark.parametrize("method", supported_methods())


def hello(req: Request) -> None:
    req.response_headers["Content-Type"] = "text/plain"
    req.send_reply(200, None, b"Hello, World!")


def echo(req: Request) -> None:
    req.response_headers["Content-Type"] = "application/octet-stream"
    req.response_headers["X-Method"] = req.method
    req.send_reply(200, None, req.body)


def basic(server: HTTPServer) -> None:
    server.set_cb("/", hello)
    server.set_cb("/echo", echo)


def test_requests_keep_alive_reuses_one_connection(method: str) -> None:
    seen: list[Any] = []

    def setup(server: HTTPServer) -> None:
        basic(server)
        server.on_connection = lambda conn: seen.append(conn.peer) and None

    with live_server(setup, method=method) as srv, requests.Session() as http:
        for _ in range(5):
            r = http.get(srv.url + "/")
            assert r.status_code == 200
            assert r.text == "Hello, World!"
            assert r.headers["Content-Type"] == "text/plain"
            assert "Date" in r.headers
        r = http.post(srv.url + "/echo", data=b"x" * 100_000)
        assert r.content == b"x" * 100_000
        assert r.headers["X-Method"] == "POST"
    assert len(seen) == 1


def test_not_found_page(method: str) -> None:
    with live_server(basic, method=method) as srv:
        r = requests.get(srv.url + "/missing?q=1")
        assert r.status_code == 404
        assert "/missing" in r.text
        assert r.headers["Content-Type"].startswith("text/html")


def test_pipelined_requests_answered_in_order(method: str) -> None:
    def setup(server: HTTPServer) -> None:
        basic(server)

        def slow(req: Request) -> None:  # answers later, from a timer
            server.base.once(-1, 0x01, lambda *_: req.send_reply(200, None, b"slow"), None, 0.05)

        server.set_cb("/slow", slow)

    with live_server(setup, method=method) as srv:
        batch = (
            b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        data = raw_exchange(srv.port, batch)
    bodies = [part for part in (b"slow", b"abc", b"Hello, World!")]
    positions = [data.find(body) for body in bodies]
    assert all(p > 0 for p in positions), data
    assert positions == sorted(positions)
    assert data.count(b"HTTP/1.1 200 OK") == 3


def test_chunked_request_and_streamed_chunked_reply(method: str) -> None:
    def stream(req: Request) -> None:
        req.start_reply(200)
        for i in range(3):
            req.send_chunk(f"part{i};".encode())
        req.end_reply()

    def setup(server: HTTPServer) -> None:
        basic(server)
        server.set_cb("/stream", stream)

    with live_server(setup, method=method) as srv:

        def gen() -> Any:
            yield b"hello "
            yield b"chunked "
            yield b"world"

        r = requests.post(srv.url + "/echo", data=gen())
        assert r.content == b"hello chunked world"
        r = requests.get(srv.url + "/stream")
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert r.text == "part0;part1;part2;"
        http10 = raw_exchange(srv.port, b"GET /stream HTTP/1.0\r\n\r\n")
        assert b"Transfer-Encoding" not in http10
        assert http10.endswith(b"\r\n\r\npart0;part1;part2;")


def test_expect_100_continue(method: str) -> None:
    with (
        live_server(basic, method=method) as srv,
        socket.create_connection(("127.0.0.1", srv.port)) as s,
    ):
        s.settimeout(5)
        s.sendall(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello")
        head, body = read_response(s)
        assert head.startswith(b"HTTP/1.1 200") and body == b"hello"


def test_expect_continue_over_limit_gets_413_without_100(method: str) -> None:
    config = ServerConfig(max_body_size=10)
    with live_server(basic, method=method, config=config) as srv:
        data = raw_exchange(
            srv.port,
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\nExpect: 100-continue\r\n\r\n",
        )
    assert data.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in data


def test_head_has_length_but_no_body(method: str) -> None:
    with (
        live_server(basic, method=method) as srv,
        socket.create_connection(("127.0.0.1", srv.port)) as s,
    ):
        s.settimeout(5)
        s.sendall(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.2)
        data = s.recv(65536)
        first, _, rest = data.partition(b"\r\n\r\n")
        assert b"Content-Length: 13" in first
        assert rest.startswith(b"HTTP/1.1 200 OK"), rest


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405),
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
        ),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: tea\r\nContent-Length: 1\r\n\r\nx", 417),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 20000 + b"\r\n\r\n", 431),
        (b"\x00\x01\x02garbage\r\n\r\n", 400),
    ],
)
def test_malformed_requests_get_their_status_and_close(
    method: str, request_bytes: bytes, status: int
) -> None:
    with live_server(basic, method=method) as srv:
        data = raw_exchange(srv.port, request_bytes)
        assert data.startswith(b"HTTP/1.1 %d " % status), data[:200]
        assert b"Connection: close" in data
        if status == 405:
            assert b"Allow: " in data
        # the server keeps serving
        assert requests.get(srv.url + "/").text == "Hello, World!"


def test_body_over_limit_is_413_and_chunked_too(method: str) -> None:
    config = ServerConfig(max_body_size=1000)
    with live_server(basic, method=method, config=config) as srv:
        r = requests.post(srv.url + "/echo", data=b"x" * 5000)
        assert r.status_code == 413
        chunk = b"%x\r\n%s\r\n" % (600, b"y" * 600)
        data = raw_exchange(
            srv.port,
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunk * 3
            + b"0\r\n\r\n",
        )
        assert data.startswith(b"HTTP/1.1 413 ")


def test_handler_exception_is_500_and_server_goes_on(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(req: Request) -> None:
        raise RuntimeError("secret detail")

    def setup(server: HTTPServer) -> None:
        basic(server)
        server.set_cb("/boom", boom)

    with live_server(setup, method=method) as srv, requests.Session() as http:
        r = http.get(srv.url + "/boom")
        assert r.status_code == 500
        assert "secret detail" not in r.text
        assert http.get(srv.url + "/").status_code == 200
    assert any("secret detail" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)


def test_slow_headers_and_slow_body_are_cut(method: str) -> None:
    config = ServerConfig(head_timeout=0.3, body_timeout=0.3)
    with live_server(basic, method=method, config=config) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.settimeout(5)
            start = time.monotonic()
            s.sendall(b"GET / HTTP/1.1\r\n")
            for _ in range(
                10
            ):  # drip a header byte every 0.1 s: never idle long, but too slow overall
                time.sleep(0.1)
                try:
                    s.sendall(b"X")
                except OSError:
                    break
            data = s.recv(65536)
            assert data.startswith(b"HTTP/1.1 408 "), data
            assert time.monotonic() - start < 2
        data = raw_exchange(
            srv.port, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"
        )
        assert data.startswith(b"HTTP/1.1 408 ")


def test_idle_keep_alive_connection_is_closed(method: str) -> None:
    config = ServerConfig(keep_alive_timeout=0.2)
    with (
        live_server(basic, method=method, config=config) as srv,
        socket.create_connection(("127.0.0.1", srv.port)) as s,
    ):
        s.settimeout(5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        read_response(s)
        assert s.recv(100) == b""  # closed after the idle timeout, without a reply


def test_client_disconnect_during_chunked_reply(method: str) -> None:
    flushed: list[int] = []

    def setup(server: HTTPServer) -> None:
        def forever(req: Request) -> None:
            req.start_reply(200)
            state = {"n": 0}

            def more(r: Request) -> None:
                state["n"] += 1
                flushed.append(state["n"])
                if not r.connection_lost and state["n"] < 10_000:
                    r.send_chunk(b"z" * 65536, more)

            req.send_chunk(b"z" * 65536, more)

        server.set_cb("/forever", forever)
        basic(server)

    with live_server(setup, method=method) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(b"GET /forever HTTP/1.1\r\nHost: a\r\n\r\n")
            s.recv(100_000)
        deadline = time.monotonic() + 5
        while srv.call(lambda: len(srv.server.connections)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.call(lambda: len(srv.server.connections)) == 0
        assert requests.get(srv.url + "/").status_code == 200
    assert len(flushed) < 10_000


def test_max_connections_answers_503(method: str) -> None:
    config = ServerConfig(max_connections=2)
    with live_server(basic, method=method, config=config) as srv:
        a = socket.create_connection(("127.0.0.1", srv.port))
        b = socket.create_connection(("127.0.0.1", srv.port))
        try:
            deadline = time.monotonic() + 5
            while srv.call(lambda: len(srv.server.connections)) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            data = raw_exchange(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert data.startswith(b"HTTP/1.1 503 ")
        finally:
            a.close()
            b.close()


def test_virtual_hosts_and_aliases(method: str) -> None:
    def setup(server: HTTPServer) -> None:
        basic(server)
        vhost = HTTPServer(server.base)
        vhost.set_cb("/", lambda req: req.send_reply(200, None, b"vhost"))
        vhost.add_server_alias("alias.test")
        server.add_virtual_host("*.example.com", vhost)

    with live_server(setup, method=method) as srv:
        assert requests.get(srv.url + "/", headers={"Host": "www.EXAMPLE.com:80"}).text == "vhost"
        assert requests.get(srv.url + "/", headers={"Host": "alias.test"}).text == "vhost"
        assert requests.get(srv.url + "/", headers={"Host": "other.test"}).text == "Hello, World!"
        data = raw_exchange(
            srv.port, b"GET http://a.example.com/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert data.endswith(b"vhost")


def test_streamed_request_body(method: str) -> None:
    got: list[bytes] = []

    def upload(req: Request) -> None:
        def on_data(r: Request, data: bytes) -> None:
            got.append(data)

        def on_end(r: Request) -> None:
            r.send_reply(200, None, str(sum(map(len, got))).encode())

        req.read_body(on_data, on_end)

    def setup(server: HTTPServer) -> None:
        server.set_cb("/upload", upload, stream=True, max_body_size=None)

    with live_server(setup, method=method, config=ServerConfig(max_body_size=10)) as srv:
        r = requests.post(srv.url + "/upload", data=b"u" * 3_000_000)
        assert r.text == "3000000"
    assert len(got) > 1


def test_http10_keep_alive_and_close(method: str) -> None:
    with live_server(basic, method=method) as srv:
        data = raw_exchange(srv.port, b"GET / HTTP/1.0\r\n\r\n")
        assert data.startswith(b"HTTP/1.0 200 OK") and data.endswith(b"Hello, World!")
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.settimeout(5)
            s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            head, _ = read_response(s)
            assert b"Connection: keep-alive" in head
            s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            assert read_response(s)[1] == b"Hello, World!"


@pytest.mark.skipif(
    shutil.which("curl") is None, reason="curl is not installed (Debian package curl)"
)
def test_curl_get_post_and_head(method: str) -> None:
    with live_server(basic, method=method) as srv:
        out = subprocess.run(
            ["curl", "-s", "-i", srv.url + "/", srv.url + "/"],
            capture_output=True,
            timeout=10,
            check=True,
        ).stdout
        assert out.count(b"HTTP/1.1 200 OK") == 2
        out = subprocess.run(
            ["curl", "-s", "--data-binary", "posted", srv.url + "/echo"],
            capture_output=True,
            timeout=10,
            check=True,
        ).stdout
        assert out == b"posted"
        out = subprocess.run(
            ["curl", "-s", "-I", srv.url + "/"], capture_output=True, timeout=10, check=True
        ).stdout
        assert b"Content-Length: 13" in out
        out = subprocess.run(
            [
                "curl",
                "-s",
                "-H",
                "Transfer-Encoding: chunked",
                "--data-binary",
                "@-",
                srv.url + "/echo",
            ],
            input=b"streamed via curl",
            capture_output=True,
            timeout=10,
            check=True,
        ).stdout
        assert out == b"streamed via curl"


def test_graceful_shutdown_finishes_in_flight_request(method: str) -> None:
    finished: list[bool] = []

    def setup(server: HTTPServer) -> None:
        def slow(req: Request) -> None:
            server.base.once(-1, 0x01, lambda *_: req.send_reply(200, None, b"done"), None, 0.2)

        server.set_cb("/slow", slow)
        basic(server)

    with live_server(setup, method=method) as srv:
        idle = socket.create_connection(("127.0.0.1", srv.port))
        busy = socket.create_connection(("127.0.0.1", srv.port))
        try:
            busy.settimeout(5)
            idle.settimeout(5)
            busy.sendall(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(0.05)
            srv.call(lambda: srv.server.shutdown(5, lambda: finished.append(True)))
            assert idle.recv(10) == b""  # idle connection closed at once
            head, body = read_response(busy)
            assert body == b"done" and b"Connection: close" in head
            assert busy.recv(10) == b""
        finally:
            idle.close()
            busy.close()
        deadline = time.monotonic() + 5
        while not finished and time.monotonic() < deadline:
            time.sleep(0.01)
    assert finished == [True]


def test_streaming_route_answering_a_bodiless_request_keeps_the_connection(method: str) -> None:
    def setup(server: HTTPServer) -> None:
        server.set_cb("/s", lambda req: req.send_reply(200, None, b"early"), stream=True)

    with (
        live_server(setup, method=method) as srv,
        socket.create_connection(("127.0.0.1", srv.port)) as s,
    ):
        s.settimeout(5)
        for _ in range(3):
            s.sendall(b"GET /s HTTP/1.1\r\nHost: a\r\n\r\n")
            head, body = read_response(s)
            assert body == b"early" and b"Connection: close" not in head


def test_one_server_on_ipv4_ipv6_and_a_unix_socket(method: str, tmp_path: Any) -> None:
    path = str(tmp_path / "http.sock")
    ports: dict[str, Any] = {}

    def setup(server: HTTPServer) -> None:
        basic(server)
        ports["unix"] = server.bind(path).address
        if socket.has_ipv6:
            try:
                ports["v6"] = server.bind(("::1", 0)).address[1]
            except OSError:  # no IPv6 loopback here
                pass

    request = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    with live_server(setup, method=method) as srv:
        assert raw_exchange(srv.port, request).endswith(b"Hello, World!")
        with socket.socket(socket.AF_UNIX) as u:
            u.settimeout(5)
            u.connect(path)
            u.sendall(request)
            assert read_response(u)[1] == b"Hello, World!"
        if "v6" in ports:
            with socket.create_connection(("::1", ports["v6"]), timeout=5) as s6:
                s6.sendall(request)
                assert read_response(s6)[1] == b"Hello, World!"


def test_lingering_close_discards_what_follows_without_a_second_reply(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(linger_time=0.5)
    with (
        caplog.at_level("INFO", logger="evweb.http"),
        live_server(basic, method=method, config=config) as srv,
        socket.create_connection(("127.0.0.1", srv.port)) as s,
    ):
        s.settimeout(5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 400 ")
        for _ in range(5):  # the client keeps sending while the server lingers
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(0.02)
        assert s.recv(65536) == b""  # then a clean close, nothing more
    rejections = [r for r in caplog.records if "obs-fold" in r.getMessage()]
    assert len(rejections) == 1, [r.getMessage() for r in rejections]
    assert len([r for r in caplog.records if r.name == "evweb.http.access"]) == 1


def test_head_deadline_holds_against_a_steady_drip(method: str) -> None:
    config = ServerConfig(head_timeout=0.3)
    with (
        live_server(basic, method=method, config=config) as srv,
        socket.create_connection(("127.0.0.1", srv.port)) as s,
    ):
        s.settimeout(5)
        start = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\n")
        answered_after = None
        for _ in range(40):  # a byte every 50 ms for 2 s: never silent for 0.3 s
            time.sleep(0.05)
            if select.select([s], [], [], 0)[0]:
                answered_after = time.monotonic() - start
                break
            s.sendall(b"X")
        assert answered_after is not None and answered_after < 1.0
        assert s.recv(65536).startswith(b"HTTP/1.1 408 ")
