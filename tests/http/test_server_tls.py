"""HTTPS through the TLS BufferEvent, and the access log."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import requests
import trustme

from evweb.http import HTTPServer, Request
from evweb.reactor import supported_methods
from tests.http.live import live_server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def setup_plain(server: HTTPServer) -> None:
    def who(req: Request) -> None:
        req.response_headers["Content-Type"] = "text/plain"
        req.send_reply(200, None, f"tls={req.is_tls} body={len(req.body)}")

    def stream(req: Request) -> None:
        req.start_reply(200)
        for _ in range(20):
            req.send_chunk(b"s" * 50_000)
        req.end_reply()

    server.set_cb("/", who)
    server.set_cb("/stream", stream)


setup = setup_plain


@pytest.mark.parametrize("method", supported_methods())
def test_https_with_requests(method: str, server_ctx: ssl.SSLContext, ca_file: str) -> None:
    with (
        live_server(setup, method=method, ssl_context=server_ctx) as srv,
        requests.Session() as http,
    ):
        for _ in range(3):
            r = http.get(srv.url + "/", verify=ca_file)
            assert r.text == "tls=True body=0"
        r = http.post(srv.url + "/", data=b"p" * 200_000, verify=ca_file)
        assert r.text == "tls=True body=200000"
        r = http.get(srv.url + "/stream", verify=ca_file)
        assert len(r.content) == 1_000_000


def test_https_rejects_plain_http_and_keeps_serving(
    server_ctx: ssl.SSLContext, ca_file: str
) -> None:
    with live_server(setup, ssl_context=server_ctx) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            data = s.recv(1000)
            assert not data.startswith(b"HTTP/1.1 200")
        assert requests.get(srv.url + "/", verify=ca_file).status_code == 200


@pytest.mark.skipif(
    shutil.which("curl") is None, reason="curl is not installed (Debian package curl)"
)
def test_https_with_curl(server_ctx: ssl.SSLContext, ca_file: str) -> None:
    with live_server(setup, ssl_context=server_ctx) as srv:
        out = subprocess.run(
            ["curl", "-s", "--cacert", ca_file, srv.url + "/", srv.url + "/"],
            capture_output=True,
            timeout=10,
            check=True,
        ).stdout
        assert out == b"tls=True body=0" * 2


def test_access_log_combined_format(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    with caplog.at_level(logging.INFO, logger="evweb.http.access"), live_server(setup) as srv:
        requests.get(srv.url + "/?x=1", headers={"Referer": "http://r/", "User-Agent": "ua/1"})
        requests.get(srv.url + "/nope")
    lines = [r.getMessage() for r in caplog.records if r.name == "evweb.http.access"]
    assert len(lines) == 2
    assert lines[0].startswith("127.0.0.1 - - [")
    assert '"GET /?x=1 HTTP/1.1" 200 ' in lines[0]
    assert lines[0].endswith('"http://r/" "ua/1"')
    assert '"GET /nope HTTP/1.1" 404 ' in lines[1]


def test_https_file_cut_short_mid_reply_does_not_kill_the_server(
    server_ctx: ssl.SSLContext, ca_file: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"f" * 8_000_000)

    def setup(server: HTTPServer) -> None:
        setup_plain(server)
        server.set_cb("/file", lambda req: req.send_file(os.open(big, os.O_RDONLY)))

    with live_server(setup, ssl_context=server_ctx) as srv:
        with requests.get(srv.url + "/file", verify=ca_file, stream=True, timeout=10) as r:
            big.write_bytes(b"")  # truncate while the reply is (or is about to be) sent
            try:
                r.raw.read()
            except Exception:  # a reply cut short is fine; a dead server is not
                pass
        assert requests.get(srv.url + "/", verify=ca_file).text.startswith("tls=True")
