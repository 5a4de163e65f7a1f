"""The HTTP client through an HTTP proxy: CONNECT tunnels to http and https origins.

The proxy is a few threads with blocking sockets: it reads ``CONNECT
host:port``, answers as told (200 then a relay both ways, a refusal with
403 or 407, garbage, a close, silence) and records each CONNECT, so a test
can tell how many tunnels a run of requests opened.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme

from evweb.errors import (
    CertificateError,
    ConfigError,
    ConnectError,
    ConnectTimeoutError,
    ProxyError,
)
from evweb.http import (
    Client,
    ClientRequest,
    ConnectionState,
    HTTPConnection,
    HTTPServer,
    Request,
    Timeouts,
)
from evweb.reactor import EventBase
from tests.http.live import LiveServer, live_server

WAIT = 5.0
IO_TIMEOUT = 5.0


class ConnectProxy:
    """A CONNECT-only proxy on 127.0.0.1; ``mode`` says how it answers the next CONNECT.

    Modes: ``ok`` (200, then relay), ``403`` / ``407`` (refuse), ``garbage``,
    ``close`` (close without answering), ``silent`` (never answer),
    ``eager`` (200, then bytes of its own before relaying).
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.mode = "ok"
        self.connects: list[str] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(IO_TIMEOUT)
            thread = threading.Thread(target=self._serve, args=(sock, self.mode), daemon=True)
            with self._lock:
                self._socks.append(sock)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket, mode: str) -> None:
        upstream: socket.socket | None = None
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                data = client.recv(4096)
                if not data:
                    return
                head += data
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, authority, _ = line.split(" ")
            assert method == "CONNECT", line
            with self._lock:
                self.connects.append(authority)
            if mode in ("403", "407"):
                reason = "Forbidden" if mode == "403" else "Proxy Authentication Required"
                extra = "Proxy-Authenticate: Basic realm=x\r\n" if mode == "407" else ""
                client.sendall(
                    f"HTTP/1.1 {mode} {reason}\r\n{extra}Content-Length: 4\r\n\r\nnope".encode()
                )
                return
            if mode == "garbage":
                client.sendall(b"SOCKS? no.\x00\xff\r\n\r\n")
                return
            if mode == "close":
                return
            if mode == "silent":
                self.stopping.wait(IO_TIMEOUT)
                return
            host, _, port = authority.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=IO_TIMEOUT)
            with self._lock:
                self._socks.append(upstream)
            answer = b"HTTP/1.1 200 Connection established\r\n\r\n"
            if mode == "eager":
                answer += b"\x15\x03\x03\x00\x02\x02\x28"  # not what the origin sent
            client.sendall(answer)
            self._relay(client, upstream)
        except (ConnectionError, TimeoutError):
            pass
        except BaseException as exc:
            if not self.stopping.is_set():
                self.errors.append(exc)
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        open_ends = {a, b}
        with selectors.DefaultSelector() as sel:
            for sock in peers:
                sel.register(sock, selectors.EVENT_READ)
            while open_ends and not self.stopping.is_set():
                for key, _ in sel.select(0.05):
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = sock.recv(65536)
                    other = peers[sock]
                    if data:
                        other.sendall(data)
                        continue
                    sel.unregister(sock)
                    open_ends.discard(sock)
                    with contextlib.suppress(OSError):
                        other.shutdown(socket.SHUT_WR)
                    if not open_ends or other not in open_ends:
                        return

    def close(self) -> None:
        self.stopping.set()
        self._acceptor.join(IO_TIMEOUT)
        self.listener.close()
        with self._lock:
            socks, threads = list(self._socks), list(self._threads)
        for sock in socks:
            with contextlib.suppress(OSError):
                if sock.fileno() != -1:
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(IO_TIMEOUT)
        assert not any(t.is_alive() for t in threads), "a proxy thread did not stop"
        assert not self.errors, f"the proxy failed: {self.errors!r}"


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    p = ConnectProxy()
    yield p
    p.close()


def setup(server: HTTPServer) -> None:
    def who(req: Request) -> None:
        peer = req.remote_address
        req.response_headers["X-Peer-Port"] = str(peer[1])
        body = f"tls={req.is_tls} {req.method} {req.target} body={len(req.body)}"
        req.send_reply(200, None, body)

    server.set_gencb(who)


@pytest.fixture
def origin() -> Iterator[LiveServer]:
    with live_server(setup) as srv:
        yield srv


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_origin(ca: trustme.CA) -> Iterator[LiveServer]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    with live_server(setup, ssl_context=ctx) as srv:
        yield srv


@pytest.fixture
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


@pytest.fixture
def loop() -> Iterator[EventBase]:
    base = EventBase()
    yield base
    base.close()


def _client(base: EventBase, proxy: ConnectProxy | str, **kwargs: object) -> Client:
    kwargs.setdefault("timeouts", Timeouts(connect=2, read=2, write=2, pool=2))
    url = proxy if isinstance(proxy, str) else proxy.url
    return Client(base, proxy=url, **kwargs)  # type: ignore[arg-type]


# -- tunnels that work ------------------------------------------------------------------


def test_http_origin_through_the_tunnel(
    base: EventBase, proxy: ConnectProxy, origin: LiveServer
) -> None:
    with _client(base, proxy) as client:
        got = client.get(f"{origin.url}/a?b=1").wait(WAIT)
        assert got.text == "tls=False GET /a?b=1 body=0"  # origin-form inside the tunnel
        got = client.post(f"{origin.url}/p", body=b"x" * 100_000).wait(WAIT)
        assert got.text == "tls=False POST /p body=100000"
    assert proxy.connects == [f"127.0.0.1:{origin.port}"]


def test_https_origin_through_the_tunnel(
    base: EventBase, proxy: ConnectProxy, tls_origin: LiveServer, client_ctx: ssl.SSLContext
) -> None:
    with _client(base, proxy, ssl_context=client_ctx) as client:
        got = client.get(f"https://localhost:{tls_origin.port}/s").wait(WAIT)
        assert got.text == "tls=True GET /s body=0"
        got = client.get(f"https://127.0.0.1:{tls_origin.port}/ip").wait(WAIT)
        assert got.text == "tls=True GET /ip body=0"
    assert proxy.connects == [f"localhost:{tls_origin.port}", f"127.0.0.1:{tls_origin.port}"]


def test_keep_alive_through_the_tunnel(
    loop: EventBase,
    proxy: ConnectProxy,
    origin: LiveServer,
    tls_origin: LiveServer,
    client_ctx: ssl.SSLContext,
) -> None:
    with _client(loop, proxy, ssl_context=client_ctx) as client:
        for url in (origin.url, f"https://localhost:{tls_origin.port}"):
            ports = {client.get(f"{url}/{i}").wait(WAIT).headers["x-peer-port"] for i in range(4)}
            assert len(ports) == 1, "a request opened a new tunnel"
        assert client.pool.total == 2
    assert proxy.connects == [f"127.0.0.1:{origin.port}", f"localhost:{tls_origin.port}"]


def test_certificate_is_checked_through_the_tunnel(
    loop: EventBase, proxy: ConnectProxy, tls_origin: LiveServer
) -> None:
    with _client(loop, proxy) as client:  # the system's CAs do not know trustme's
        with pytest.raises(CertificateError, match=f"localhost:{tls_origin.port}"):
            client.get(f"https://localhost:{tls_origin.port}/").wait(WAIT)
        assert client.pool.total == 0


# -- tunnels that fail -------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 407])
def test_proxy_refusal_is_a_proxy_error_with_the_status(
    loop: EventBase, proxy: ConnectProxy, origin: LiveServer, status: int
) -> None:
    proxy.mode = str(status)
    with _client(loop, proxy) as client:
        with pytest.raises(ProxyError) as info:
            client.get(origin.url + "/").wait(WAIT)
        error = info.value
        assert error.status == status
        assert isinstance(error, ConnectError)
        assert error.address == f"127.0.0.1:{proxy.port}"
        assert f"proxy 127.0.0.1:{proxy.port} refused CONNECT 127.0.0.1:{origin.port}" in str(error)
        assert str(status) in str(error)
        assert client.pool.total == 0
        proxy.mode = "ok"  # the client keeps serving
        assert client.get(origin.url + "/").wait(WAIT).ok


def test_proxy_answering_garbage(loop: EventBase, proxy: ConnectProxy, origin: LiveServer) -> None:
    proxy.mode = "garbage"
    with _client(loop, proxy) as client:
        with pytest.raises(ProxyError, match="answered CONNECT badly: malformed status line"):
            client.get(origin.url + "/").wait(WAIT)
        proxy.mode = "ok"
        assert client.get(origin.url + "/").wait(WAIT).ok


def test_proxy_closing_without_an_answer(
    loop: EventBase, proxy: ConnectProxy, origin: LiveServer
) -> None:
    proxy.mode = "close"
    with _client(loop, proxy) as client:
        with pytest.raises(ProxyError, match=f"proxy 127.0.0.1:{proxy.port} closed") as info:
            client.get(origin.url + "/").wait(WAIT)
        assert info.value.status == 0
        assert info.value.address == f"127.0.0.1:{proxy.port}"
        assert client.pool.total == 0


def test_silent_proxy_times_out(loop: EventBase, proxy: ConnectProxy, origin: LiveServer) -> None:
    proxy.mode = "silent"
    timeouts = Timeouts(connect=0.3, read=2, write=2, pool=2)
    with _client(loop, proxy, timeouts=timeouts) as client:
        with pytest.raises(ConnectTimeoutError, match=f"127.0.0.1:{origin.port} timed out"):
            client.get(origin.url + "/").wait(WAIT)
        assert client.pool.total == 0


def test_proxy_bytes_before_the_tls_handshake(
    loop: EventBase, proxy: ConnectProxy, tls_origin: LiveServer, client_ctx: ssl.SSLContext
) -> None:
    proxy.mode = "eager"
    with _client(loop, proxy, ssl_context=client_ctx) as client:
        with pytest.raises(ProxyError, match="sent bytes before the TLS handshake"):
            client.get(f"https://localhost:{tls_origin.port}/").wait(WAIT)
        assert client.pool.total == 0


def test_unreachable_proxy_names_the_proxy(loop: EventBase, origin: LiveServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens here once closed
    with _client(loop, f"http://127.0.0.1:{dead}") as client:
        with pytest.raises(ConnectError) as info:
            client.get(origin.url + "/").wait(WAIT)
        error = info.value
        assert type(error) is ConnectError
        assert f"cannot connect to 127.0.0.1:{dead}" in str(error)
        assert error.address == f"127.0.0.1:{dead}"
        assert isinstance(error.__cause__, ConnectionRefusedError)
        assert client.pool.total == 0


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:3128", "socks5://127.0.0.1:1080", "127.0.0.1:3128", "http://"]
)
def test_bad_proxy_urls_are_refused(loop: EventBase, url: str) -> None:
    with pytest.raises(ConfigError, match="proxy must be http://host"):
        Client(loop, proxy=url)


def test_connect_request_by_hand_leaves_the_connection_unused(
    loop: EventBase, proxy: ConnectProxy, origin: LiveServer
) -> None:
    # a CONNECT sent as an ordinary request: the 2xx turns the connection into a tunnel,
    # so it must not go back to carrying requests
    with HTTPConnection(loop, "127.0.0.1", proxy.port) as conn:
        authority = f"127.0.0.1:{origin.port}"
        request = ClientRequest("CONNECT", authority, [("Host", authority)])
        got = conn.request(request).wait(WAIT)
        assert got.status == 200
        assert conn.state is not ConnectionState.IDLE
        assert proxy.connects == [authority]
