"""The HTTP client over HTTPS: trustme certificates, evweb's own HTTPServer on the other end.

The server runs in a thread (:mod:`tests.http.live`); the client's loop runs
here. Verification is on by default: a certificate for another name or from
an unknown CA is refused with :class:`CertificateError` (a ConnectError),
``verify=False`` accepts anything, SNI carries the host name (never an IP).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme

from evweb.errors import CertificateError, ConnectError, ConnectTimeoutError
from evweb.http import Client, ClientResponse, HTTPServer, Request, Timeouts
from evweb.reactor import EventBase
from tests.http.fake_server import fake_server, send, wait_for_close
from tests.http.live import LiveServer, live_server

WAIT = 5.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_ctx(cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    return _server_ctx(ca.issue_cert("localhost", "127.0.0.1"))


@pytest.fixture(scope="module")
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def setup(server: HTTPServer) -> None:
    def who(req: Request) -> None:
        peer = req.remote_address
        req.response_headers["X-Peer-Port"] = str(peer[1])
        req.send_reply(200, None, f"tls={req.is_tls} {req.method} body={len(req.body)}")

    def stream(req: Request) -> None:
        req.start_reply(200)
        for _ in range(20):
            req.send_chunk(b"s" * 50_000)
        req.end_reply()

    server.set_cb("/", who)
    server.set_cb("/stream", stream)


@pytest.fixture
def srv(server_ctx: ssl.SSLContext) -> Iterator[LiveServer]:
    with live_server(setup, ssl_context=server_ctx) as live:
        yield live


@pytest.fixture
def loop() -> Iterator[EventBase]:
    base = EventBase()
    yield base
    base.close()


def _client(base: EventBase, **kwargs: object) -> Client:
    kwargs.setdefault("timeouts", Timeouts(connect=3, read=3, write=3, pool=3))
    return Client(base, **kwargs)  # type: ignore[arg-type]


def _url(srv: LiveServer, host: str = "127.0.0.1", path: str = "/") -> str:
    return f"https://{host}:{srv.port}{path}"


def test_get_and_post_over_https(
    base: EventBase, srv: LiveServer, client_ctx: ssl.SSLContext
) -> None:
    with _client(base, ssl_context=client_ctx) as client:
        got = client.get(_url(srv)).wait(WAIT)
        assert (got.status, got.text) == (200, "tls=True GET body=0")
        got = client.post(_url(srv), body=b"p" * 200_000).wait(WAIT)
        assert got.text == "tls=True POST body=200000"
        streamed = client.post(_url(srv), body=iter([b"a" * 70_000] * 3)).wait(WAIT)
        assert streamed.text == "tls=True POST body=210000"


def test_keep_alive_reuse_over_tls(
    base: EventBase, srv: LiveServer, client_ctx: ssl.SSLContext
) -> None:
    with _client(base, ssl_context=client_ctx) as client:
        ports = {client.get(_url(srv)).wait(WAIT).headers["x-peer-port"] for _ in range(5)}
        assert len(ports) == 1, "each request opened a new TLS connection"
        assert client.pool.total == client.pool.idle_count() == 1


def test_streamed_download_over_tls(
    loop: EventBase, srv: LiveServer, client_ctx: ssl.SSLContext
) -> None:
    pieces: list[int] = []
    heads: list[int] = []

    def on_head(response: ClientResponse) -> None:
        heads.append(response.status)

    def on_chunk(response: ClientResponse, data: bytes) -> None:
        pieces.append(len(data))

    with _client(loop, ssl_context=client_ctx) as client:
        got = client.get(_url(srv, path="/stream"), on_head=on_head, on_chunk=on_chunk).wait(WAIT)
        assert heads == [200]
        assert sum(pieces) == 1_000_000 and len(pieces) > 1
        assert got.body == b""  # streamed, not kept
        assert client.get(_url(srv)).wait(WAIT).ok  # and the connection goes on
        assert client.pool.total == 1


def test_hostname_mismatch_is_refused(
    loop: EventBase, ca: trustme.CA, client_ctx: ssl.SSLContext
) -> None:
    other = _server_ctx(ca.issue_cert("other.example"))
    with live_server(setup, ssl_context=other) as live, _client(loop, ssl_context=client_ctx) as c:
        with pytest.raises(CertificateError) as info:
            c.get(_url(live, "localhost")).wait(WAIT)
        error = info.value
        assert isinstance(error, ConnectError)
        assert f"localhost:{live.port}" in str(error) and error.address == f"localhost:{live.port}"
        assert "Hostname mismatch, certificate is not valid for 'localhost'" in str(error)
        assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
        assert c.pool.total == 0


def test_unknown_ca_is_refused_and_verify_false_accepts(loop: EventBase, srv: LiveServer) -> None:
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)
    with _client(loop, ssl_context=stranger) as client:
        with pytest.raises(
            CertificateError, match=r"certificate of 127\.0\.0\.1:\d+ refused"
        ) as info:
            client.get(_url(srv)).wait(WAIT)
        assert "unable to get local issuer certificate" in str(info.value)
        assert client.pool.total == 0
    with _client(loop) as client:  # the system's CAs do not know trustme's either
        with pytest.raises(CertificateError):
            client.get(_url(srv)).wait(WAIT)
        assert client.pool.total == 0
    with _client(loop, verify=False) as client:
        got = client.get(_url(srv, "localhost")).wait(WAIT)
        assert got.text == "tls=True GET body=0"


def test_a_failed_handshake_does_not_break_the_client(
    loop: EventBase, srv: LiveServer, client_ctx: ssl.SSLContext, ca: trustme.CA
) -> None:
    other = _server_ctx(ca.issue_cert("other.example"))
    with (
        live_server(setup, ssl_context=other) as bad,
        _client(loop, ssl_context=client_ctx) as client,
    ):
        for _ in range(3):
            with pytest.raises(CertificateError):
                client.get(_url(bad)).wait(WAIT)
            assert client.get(_url(srv)).wait(WAIT).ok
        assert client.pool.total == 1


class _SNIRecorder:
    """A server context whose sni_callback records the names clients sent."""

    def __init__(self, cert: trustme.LeafCert) -> None:
        self.names: list[str | None] = []
        self.lock = threading.Lock()
        self.ctx = _server_ctx(cert)
        self.ctx.sni_callback = self._on_sni

    def _on_sni(self, sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        with self.lock:
            self.names.append(name)


def test_sni_names_the_host(loop: EventBase, ca: trustme.CA, client_ctx: ssl.SSLContext) -> None:
    sni = _SNIRecorder(ca.issue_cert("localhost", "127.0.0.1"))
    with (
        live_server(setup, ssl_context=sni.ctx) as live,
        _client(loop, ssl_context=client_ctx) as client,
    ):
        assert client.get(_url(live, "localhost")).wait(WAIT).ok
        assert client.get(_url(live, "127.0.0.1")).wait(WAIT).ok
    with sni.lock:
        assert sni.names == ["localhost", None]  # RFC 6066: no IP address in SNI


def test_ip_address_host_with_a_certificate_for_the_ip(
    loop: EventBase, ca: trustme.CA, client_ctx: ssl.SSLContext
) -> None:
    ip_only = _server_ctx(ca.issue_cert("127.0.0.1"))
    with (
        live_server(setup, ssl_context=ip_only) as live,
        _client(loop, ssl_context=client_ctx) as client,
    ):
        assert client.get(_url(live, "127.0.0.1")).wait(WAIT).text.startswith("tls=True")
        with pytest.raises(CertificateError, match="Hostname mismatch"):
            client.get(_url(live, "localhost")).wait(WAIT)
    other = _server_ctx(ca.issue_cert("127.0.0.2"))
    with (
        live_server(setup, ssl_context=other) as live,
        _client(loop, ssl_context=client_ctx) as client,
    ):
        with pytest.raises(CertificateError, match="IP address mismatch"):
            client.get(_url(live, "127.0.0.1")).wait(WAIT)
        assert client.pool.total == 0


def test_plain_http_answer_to_the_handshake(loop: EventBase, client_ctx: ssl.SSLContext) -> None:
    plain_400 = (send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), wait_for_close)
    with fake_server(plain_400) as srv, _client(loop, ssl_context=client_ctx) as client:
        with pytest.raises(ConnectError, match=f"TLS with 127.0.0.1:{srv.port} failed") as info:
            client.get(f"https://127.0.0.1:{srv.port}/").wait(WAIT)
        assert type(info.value) is ConnectError
        assert isinstance(info.value.__cause__, ssl.SSLError)
        assert client.pool.total == 0
        assert client.get(f"http://127.0.0.1:{srv.port}/").wait(WAIT).body == b"ok"


def test_silent_server_times_out_the_handshake(loop: EventBase, client_ctx: ssl.SSLContext) -> None:
    timeouts = Timeouts(connect=0.3, read=3, write=3, pool=3)
    with (
        fake_server((wait_for_close,)) as srv,
        _client(loop, ssl_context=client_ctx, timeouts=timeouts) as client,
    ):
        with pytest.raises(ConnectTimeoutError, match=f"connecting to 127.0.0.1:{srv.port}"):
            client.get(f"https://127.0.0.1:{srv.port}/").wait(WAIT)
        assert client.pool.total == 0
