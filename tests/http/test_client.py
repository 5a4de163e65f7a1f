"""Client (URLs, default fields, pool, redirects, stale resends) against real servers on loopback.

The origin is an evweb HTTPServer on the client's own base (``Origin``),
whose generic callback answers by path: ``/headers`` echoes the request
fields as JSON, ``/echo`` the body, ``/redirect/CODE?to=URL`` redirects,
``/status/CODE`` answers that status, ``/slow`` answers after 0.2 s and
``/never`` never. For servers that close at a chosen moment, a
ScriptedServer (tests/http/scripted.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from evweb import __version__
from evweb.errors import (
    ConfigError,
    ConnectError,
    ContentTooLargeError,
    HTTPStatusError,
    InvalidURIError,
    PoolTimeoutError,
    ReadTimeoutError,
    RequestCancelledError,
    ServerDisconnectedError,
    TooManyRedirectsError,
)
from evweb.http import (
    Client,
    ClientResponse,
    ConnectionState,
    HTTPServer,
    Limits,
    Request,
    ResponseFuture,
    Timeouts,
)
from evweb.reactor import EventBase
from tests.http.scripted import Peer, free_port, scripted

WAIT = 5.0


class Origin:
    """An evweb server on ``base`` answering by path (see the module docstring)."""

    def __init__(self, base: EventBase) -> None:
        self.base = base
        self.server = HTTPServer(base)
        self.server.set_gencb(self.handle)
        self.peers: list[Any] = []
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.held: list[Request] = []
        self.server.on_connection = lambda conn: self.peers.append(conn.peer) and None
        self.port = self.server.bind(("127.0.0.1", 0)).address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def handle(self, req: Request) -> None:
        headers = {name: value for name, value in req.headers.items()}
        self.seen.append((req.method, req.target, headers, req.body))
        path = req.path
        if path == "/headers":
            body = {"method": req.method, "target": req.target, "headers": headers}
            req.response_headers["Content-Type"] = "application/json"
            req.send_reply(200, None, json.dumps(body).encode())
        elif path == "/echo":
            req.response_headers["Content-Type"] = req.headers.get("content-type") or "x/y"
            req.send_reply(200, None, req.body)
        elif path.startswith("/redirect/"):
            to = dict(parse_qsl(urlsplit(req.target).query)).get("to", "/headers")
            req.response_headers["Location"] = to
            req.send_reply(int(path.rsplit("/", 1)[1]), None, b"moved")
        elif path.startswith("/status/"):
            req.send_reply(int(path.rsplit("/", 1)[1]), None, b"status body")
        elif path == "/slow":
            delay = int(req.query.get("ms", "200")) / 1000
            self.base.once(-1, 0x01, lambda *_: self._late(req), None, delay)
        elif path == "/loop":
            req.response_headers["Location"] = "/loop"
            req.send_reply(302, None, b"again")
        elif path == "/never":
            self.held.append(req)
        elif path == "/text":
            charset = req.query.get("charset")
            ctype = f"text/plain; charset={charset}" if charset else "text/plain"
            req.response_headers["Content-Type"] = ctype
            req.send_reply(200, None, "héllo".encode(charset or "utf-8"))
        else:
            req.send_reply(404, None, b"not here")

    def _late(self, req: Request) -> None:
        if not req.connection_lost:
            req.send_reply(200, None, b"slow")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def base1() -> Iterator[EventBase]:
    b = EventBase()
    yield b
    b.close()


@pytest.fixture
def origin(base: EventBase) -> Iterator[Origin]:
    o = Origin(base)
    yield o
    o.close()


@pytest.fixture
def origin1(base1: EventBase) -> Iterator[Origin]:
    o = Origin(base1)
    yield o
    o.close()


@pytest.fixture
def client(base: EventBase) -> Iterator[Client]:
    c = Client(base)
    yield c
    c.close()


@pytest.fixture
def client1(base1: EventBase) -> Iterator[Client]:
    c = Client(base1)
    yield c
    c.close()


def fails_with(future: ResponseFuture, error: type[BaseException]) -> Any:
    with pytest.raises(error) as info:
        future.wait(WAIT)
    return info.value


def run_for(base: EventBase, seconds: float) -> None:
    base.loopexit(seconds)
    base.dispatch()


def wait_all(futures: list[ResponseFuture]) -> list[ClientResponse]:
    return [f.wait(WAIT) for f in futures]


# --- requests and the fields a client sends ----------------------------------------------------


def test_get_sends_the_usual_fields(
    base: EventBase, origin: Origin, client: Client, callbacks_must_not_fail: None
) -> None:
    r = client.get(origin.url + "/headers").wait(WAIT)
    assert r.status == 200 and r.url == origin.url + "/headers"
    sent = r.json()["headers"]
    assert sent["Host"] == f"127.0.0.1:{origin.port}"  # a non-default port is in Host
    assert sent["User-Agent"] == f"evweb/{__version__}"
    assert sent["Accept"] == "*/*"
    assert sent["Accept-Encoding"] == "identity"
    assert sent["Connection"] == "keep-alive"
    assert "Content-Length" not in sent and r.history == []


def test_headers_of_client_and_request(base1: EventBase, origin1: Origin) -> None:
    with Client(base1, headers={"X-Team": "a", "Accept": "text/html"}, user_agent="t/1") as c:
        r = c.get(origin1.url + "/headers", headers={"X-Team": "b", "X-Once": "1"}).wait(WAIT)
        sent = r.json()["headers"]
        assert (sent["X-Team"], sent["X-Once"], sent["Accept"]) == ("b", "1", "text/html")
        assert sent["User-Agent"] == "t/1"
        r = c.get(origin1.url + "/headers").wait(WAIT)
        assert r.json()["headers"]["X-Team"] == "a" and "X-Once" not in r.json()["headers"]
        r = c.get(origin1.url + "/headers", headers={"Connection": "close"}).wait(WAIT)
        assert r.json()["headers"]["Connection"] == "close"
        assert not r.keep_alive


def test_default_port_is_not_in_host() -> None:
    from evweb.http._call import _host_field, parse_url

    assert _host_field(parse_url("http://example.com:80/x", None)) == "example.com"
    assert _host_field(parse_url("https://example.com:443/", None)) == "example.com"
    assert _host_field(parse_url("https://example.com:80/", None)) == "example.com:80"
    assert _host_field(parse_url("http://[::1]:8080/", None)) == "[::1]:8080"
    assert _host_field(parse_url("HTTP://Example.com/", None)) == "Example.com"


def test_params_are_merged_into_the_query(
    base1: EventBase, origin1: Origin, client1: Client
) -> None:
    r = client1.get(origin1.url + "/headers?a=1#frag", params={"b": "x y", "c": [1, 2]})
    assert r.wait(WAIT).json()["target"] == "/headers?a=1&b=x+y&c=1&c=2"
    r = client1.get(origin1.url + "/headers", params=[("q", "é")])
    assert r.wait(WAIT).json()["target"] == "/headers?q=%C3%A9"
    assert client1.get(origin1.url, params={}).wait(WAIT).status == 404  # "/" is sent


def test_methods(base: EventBase, origin: Origin, client: Client) -> None:
    url = origin.url + "/headers"
    for call, verb in (
        (client.post, "POST"),
        (client.put, "PUT"),
        (client.patch, "PATCH"),
        (client.delete, "DELETE"),
        (client.options, "OPTIONS"),
        (client.get, "GET"),
    ):
        assert call(url).wait(WAIT).json()["method"] == verb
    r = client.head(url).wait(WAIT)
    assert (r.status, r.body) == (200, b"")
    assert client.request("put", url).wait(WAIT).json()["method"] == "PUT"  # upper-cased
    assert len(origin.peers) == 1


def test_json_body(base1: EventBase, origin1: Origin, client1: Client) -> None:
    r = client1.post(origin1.url + "/echo", json={"a": [1, "é"]}).wait(WAIT)
    assert r.json() == {"a": [1, "é"]} and r.content_type == "application/json"
    assert r.body == b'{"a":[1,"\\u00e9"]}'  # compact, ASCII
    _, _, headers, _ = origin1.seen[-1]
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(r.body))
    with pytest.raises(ConfigError, match="body or json"):
        client1.post(origin1.url + "/echo", json=1, body=b"x")
    r = client1.post(origin1.url + "/echo", json=None, body="text").wait(WAIT)
    assert r.body == b"text"


def test_streamed_upload_through_the_client(base1: EventBase, origin1: Origin) -> None:
    with Client(base1) as c:
        r = c.put(origin1.url + "/echo", body=iter([b"a" * 100_000, b"b"])).wait(WAIT)
        assert r.body == b"a" * 100_000 + b"b"
        assert origin1.seen[-1][2]["Transfer-Encoding"] == "chunked"


def test_expect_continue(base1: EventBase, origin1: Origin, client1: Client) -> None:
    r = client1.post(origin1.url + "/echo", body=b"held", expect_continue=True).wait(WAIT)
    assert r.body == b"held" and origin1.seen[-1][2]["Expect"] == "100-continue"


def test_streaming_download(base1: EventBase, origin1: Origin, client1: Client) -> None:
    heads: list[int] = []
    pieces: list[bytes] = []
    r = client1.get(
        origin1.url + "/text",
        on_head=lambda resp: heads.append(resp.status),
        on_chunk=lambda resp, data: pieces.append(data),
    ).wait(WAIT)
    assert heads == [200] and b"".join(pieces) == "héllo".encode() and r.body == b""


def test_bad_urls(base1: EventBase, client1: Client) -> None:
    for url in ("ftp://x/", "/relative", "http:///nohost", "example.com/x"):
        with pytest.raises(InvalidURIError):
            client1.get(url)


def test_closed_client_refuses_requests(base1: EventBase, origin1: Origin) -> None:
    c = Client(base1)
    c.close()
    with pytest.raises(ConfigError, match="closed"):
        c.get(origin1.url)


# --- responses ---------------------------------------------------------------------------------


def test_raise_for_status(base1: EventBase, origin1: Origin, client1: Client) -> None:
    ok = client1.get(origin1.url + "/status/204").wait(WAIT)
    assert ok.raise_for_status() is ok and ok.ok
    for code in (404, 500, 418):
        r = client1.get(origin1.url + f"/status/{code}").wait(WAIT)
        assert not r.ok
        with pytest.raises(HTTPStatusError) as info:
            r.raise_for_status()
        assert info.value.status == code and info.value.response is r
        assert f"/status/{code}" in str(info.value)


def test_text_and_charset(base1: EventBase, origin1: Origin, client1: Client) -> None:
    r = client1.get(origin1.url + "/text").wait(WAIT)
    assert (r.text, r.charset, r.content_type) == ("héllo", None, "text/plain")
    r = client1.get(origin1.url + "/text?charset=latin-1").wait(WAIT)
    assert (r.text, r.charset) == ("héllo", "latin-1")
    r = client1.get(origin1.url + "/text?charset=utf-16").wait(WAIT)
    assert r.text == "héllo"
    r = client1.get(origin1.url + "/status/200").wait(WAIT)
    with pytest.raises(ValueError):
        r.json()


def test_connection_refused(base: EventBase, client: Client) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    futures = [client.get(url) for _ in range(3)]
    for f in futures:
        error = fails_with(f, ConnectError)
        assert error.request is f.request
    assert client.pool.total == 0


def test_read_timeout(base1: EventBase, origin1: Origin) -> None:
    with Client(base1, timeouts=Timeouts(read=0.1)) as c:
        fails_with(c.get(origin1.url + "/never"), ReadTimeoutError)
        assert c.get(origin1.url + "/headers").wait(WAIT).status == 200
        assert c.pool.total == 1


def test_max_body_size(base1: EventBase, origin1: Origin) -> None:
    with Client(base1, max_body_size=5) as c:
        fails_with(c.get(origin1.url + "/headers"), ContentTooLargeError)
        assert c.get(origin1.url + "/status/204").wait(WAIT).status == 204


# --- keep-alive and the pool -------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(
    base: EventBase, origin: Origin, client: Client, callbacks_must_not_fail: None
) -> None:
    for _ in range(5):
        assert client.get(origin.url + "/headers").wait(WAIT).status == 200
    assert len(origin.peers) == 1
    assert client.pool.total == 1 and client.pool.idle_count() == 1


def test_pool_limit_bounds_concurrent_connections(
    base: EventBase, origin: Origin, callbacks_must_not_fail: None
) -> None:
    with Client(base, limits=Limits(max_connections=2)) as c:
        futures = [c.get(origin.url + "/slow?ms=40") for _ in range(10)]
        assert c.pool.total == 2
        start = time.monotonic()
        assert [r.body for r in wait_all(futures)] == [b"slow"] * 10
        assert time.monotonic() - start >= 0.04 * 5 * 0.9  # five rounds of two
        assert len(origin.peers) == 2


def test_pool_limit_per_origin(base1: EventBase, origin1: Origin) -> None:
    other = Origin(base1)
    try:
        limits = Limits(max_connections=10, max_per_origin=1)
        with Client(base1, limits=limits) as c:
            futures = [c.get(origin1.url + "/slow?ms=40") for _ in range(3)]
            futures += [c.get(other.url + "/slow?ms=40") for _ in range(3)]
            assert c.pool.total == 2
            wait_all(futures)
        assert len(origin1.peers) == 1 and len(other.peers) == 1
    finally:
        other.close()


def test_pool_evicts_an_idle_connection_of_another_origin(
    base1: EventBase, origin1: Origin
) -> None:
    other = Origin(base1)
    try:
        with Client(base1, limits=Limits(max_connections=1)) as c:
            c.get(origin1.url + "/headers").wait(WAIT)
            assert c.pool.idle_count() == 1
            c.get(other.url + "/headers").wait(WAIT)  # not a wait for the pool timeout
            assert c.pool.total == 1
            c.get(origin1.url + "/headers").wait(WAIT)
        assert len(origin1.peers) == 2
    finally:
        other.close()


def test_pool_timeout(base1: EventBase, origin1: Origin) -> None:
    timeouts = Timeouts(pool=0.05)
    with Client(base1, timeouts=timeouts, limits=Limits(max_connections=1)) as c:
        slow = c.get(origin1.url + "/slow")
        waiting = c.get(origin1.url + "/headers")
        error = fails_with(waiting, PoolTimeoutError)
        assert isinstance(error, TimeoutError) and error.request is waiting.request
        assert slow.wait(WAIT).body == b"slow"
        assert c.get(origin1.url + "/headers").wait(WAIT).status == 200
        assert len(origin1.peers) == 1


def test_cancel_while_waiting_for_the_pool(base: EventBase, origin: Origin) -> None:
    with Client(base, limits=Limits(max_connections=1)) as c:
        slow = c.get(origin.url + "/slow")
        waiting = c.get(origin.url + "/headers")
        after = c.get(origin.url + "/echo", body=b"after")
        assert waiting.cancel()
        fails_with(waiting, RequestCancelledError)
        assert slow.wait(WAIT).body == b"slow"
        assert after.wait(WAIT).body == b"after"  # the cancelled waiter took no turn
        assert [s[1] for s in origin.seen] == ["/slow", "/echo"]


def test_cancel_in_flight(base1: EventBase, origin1: Origin, client1: Client) -> None:
    f = client1.get(origin1.url + "/never")
    run_for(base1, 0.05)
    assert f.cancel()
    fails_with(f, RequestCancelledError)
    assert client1.pool.total == 0  # the connection was reset, and left the pool
    assert client1.get(origin1.url + "/headers").wait(WAIT).status == 200


def test_wait_timeout_cancels(base1: EventBase, origin1: Origin, client1: Client) -> None:
    with pytest.raises(RequestCancelledError):
        client1.get(origin1.url + "/never").wait(0.05)


def test_close_fails_requests_in_flight_and_waiting(base1: EventBase, origin1: Origin) -> None:
    c = Client(base1, limits=Limits(max_connections=1))
    in_flight = c.get(origin1.url + "/never")
    waiting = c.get(origin1.url + "/headers")
    run_for(base1, 0.05)
    c.close()
    assert in_flight.done() and waiting.done()
    fails_with(in_flight, RequestCancelledError)
    fails_with(waiting, RequestCancelledError)
    assert c.pool.total == 0


def test_keepalive_expiry_closes_idle_connections(base1: EventBase, origin1: Origin) -> None:
    with Client(base1, limits=Limits(keepalive_expiry=0.05)) as c:
        c.get(origin1.url + "/headers").wait(WAIT)
        assert c.pool.total == 1
        run_for(base1, 0.2)
        assert c.pool.total == 0 and c.pool.idle_count() == 0
        c.get(origin1.url + "/headers").wait(WAIT)
        assert len(origin1.peers) == 2


def test_server_closing_idle_connections_leaves_the_pool(base1: EventBase) -> None:
    from evweb.http import ServerConfig

    server = HTTPServer(base1, ServerConfig(keep_alive_timeout=0.05))
    server.set_gencb(lambda req: req.send_reply(200, None, b"ok"))
    url = f"http://127.0.0.1:{server.bind(('127.0.0.1', 0)).address[1]}/"
    try:
        with Client(base1) as c:
            c.get(url).wait(WAIT)
            run_for(base1, 0.2)
            assert c.pool.total == 0
            assert c.get(url).wait(WAIT).body == b"ok"
    finally:
        server.close()


# --- stale keep-alive connections ----------------------------------------------------------------


def _close_after_one(peer: Peer) -> None:
    req = peer.read_request()
    if req is not None:
        peer.reply(200, f"{req.method} {req.target} {peer.index}".encode())


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE", "HEAD"])
def test_stale_connection_idempotent_request_is_resent(
    base: EventBase, verb: str, callbacks_must_not_fail: None
) -> None:
    with scripted(_close_after_one) as srv, Client(base) as c:
        assert c.get(srv.url + "/1").wait(WAIT).body == b"GET /1 0"
        time.sleep(0.05)  # the server closed; the client has not looked yet
        r = c.request(verb, srv.url + "/2").wait(WAIT)
        assert r.status == 200
        if verb != "HEAD":
            assert r.body == f"{verb} /2 1".encode()
        assert srv.accepted == 2


def test_stale_connection_post_is_not_resent(base: EventBase) -> None:
    with scripted(_close_after_one) as srv, Client(base) as c:
        c.get(srv.url + "/1").wait(WAIT)
        time.sleep(0.05)
        fails_with(c.post(srv.url + "/2", body=b"x"), ServerDisconnectedError)
        assert srv.accepted == 1
        assert c.get(srv.url + "/3").wait(WAIT).body == b"GET /3 1"


# --- redirects -----------------------------------------------------------------------------------


def _redirect(origin: Origin, code: int, to: str) -> str:
    from urllib.parse import quote

    return f"{origin.url}/redirect/{code}?to={quote(to, safe='')}"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_of_a_get(base1: EventBase, origin1: Origin, code: int) -> None:
    with Client(base1, follow_redirects=True) as c:
        r = c.get(_redirect(origin1, code, "/headers?x=1")).wait(WAIT)
        assert (r.status, r.json()["method"], r.json()["target"]) == (200, "GET", "/headers?x=1")
        assert r.url == origin1.url + "/headers?x=1"
        assert [h.status for h in r.history] == [code]
        assert r.history[0].url is not None and "/redirect/" in r.history[0].url


@pytest.mark.parametrize(
    ("code", "method", "body"),
    [
        (301, "GET", b""),
        (302, "GET", b""),
        (303, "GET", b""),
        (307, "POST", b"payload"),
        (308, "POST", b"payload"),
    ],
)
def test_redirect_of_a_post(
    base1: EventBase, origin1: Origin, code: int, method: str, body: bytes
) -> None:
    with Client(base1, follow_redirects=True) as c:
        r = c.post(
            _redirect(origin1, code, "/echo"), body=b"payload", headers={"Content-Type": "text/x"}
        ).wait(WAIT)
        final_method, _, headers, final_body = origin1.seen[-1]
        assert (final_method, final_body, r.body) == (method, body, body)
        if method == "GET":
            assert "Content-Length" not in headers and "Content-Type" not in headers
        else:
            assert headers["Content-Type"] == "text/x"


def test_redirect_303_of_a_put_and_head(base1: EventBase, origin1: Origin) -> None:
    with Client(base1, follow_redirects=True) as c:
        c.put(_redirect(origin1, 303, "/echo"), body=b"x").wait(WAIT)
        assert origin1.seen[-1][0] == "GET"
        c.put(_redirect(origin1, 301, "/echo"), body=b"x").wait(WAIT)
        assert origin1.seen[-1][0] == "PUT" and origin1.seen[-1][3] == b"x"
        c.head(_redirect(origin1, 303, "/echo")).wait(WAIT)
        assert origin1.seen[-1][0] == "HEAD"


def test_redirects_not_followed_by_default(
    base1: EventBase, origin1: Origin, client1: Client
) -> None:
    r = client1.get(_redirect(origin1, 302, "/headers")).wait(WAIT)
    assert (r.status, r.headers["Location"], r.body) == (302, "/headers", b"moved")
    r = client1.get(_redirect(origin1, 302, "/headers"), follow_redirects=True).wait(WAIT)
    assert r.status == 200


def test_too_many_redirects(base1: EventBase, origin1: Origin) -> None:
    with Client(base1, follow_redirects=True, max_redirects=3) as c:
        f = c.get(origin1.url + "/loop")  # redirects to itself, forever
        error = fails_with(f, TooManyRedirectsError)
        assert isinstance(error.response, ClientResponse) and error.response.status == 302
        assert error.request is not None
        assert [s[1] for s in origin1.seen] == ["/loop"] * 4
        assert "more than 3 redirects" in str(error)
    with Client(base1, follow_redirects=True, max_redirects=0) as c:
        fails_with(c.get(_redirect(origin1, 302, "/headers")), TooManyRedirectsError)


def test_redirect_chain_history(base1: EventBase, origin1: Origin) -> None:
    hop2 = _redirect(origin1, 307, "/headers")
    hop1 = _redirect(origin1, 301, hop2)
    with Client(base1, follow_redirects=True) as c:
        r = c.get(hop1).wait(WAIT)
        assert [h.status for h in r.history] == [301, 307]
        assert r.history[0].url == hop1 and r.history[1].url == hop2
        assert len(origin1.peers) == 1  # same origin: the same keep-alive connection


def test_cross_origin_redirect_drops_credentials(base1: EventBase, origin1: Origin) -> None:
    other = Origin(base1)
    try:
        with Client(base1, follow_redirects=True) as c:
            headers = {"Authorization": "Bearer s3cret", "Cookie": "a=1", "X-Keep": "yes"}
            r = c.get(_redirect(origin1, 302, other.url + "/headers"), headers=headers)
            sent = r.wait(WAIT).json()["headers"]
            assert "Authorization" not in sent and "Cookie" not in sent
            assert sent["X-Keep"] == "yes"
            assert sent["Host"] == f"127.0.0.1:{other.port}"
            r = c.get(_redirect(origin1, 302, "/headers"), headers=headers).wait(WAIT)
            assert r.json()["headers"]["Authorization"] == "Bearer s3cret"  # same origin
    finally:
        other.close()


def test_redirect_with_a_streamed_body_is_the_answer(base1: EventBase, origin1: Origin) -> None:
    with Client(base1, follow_redirects=True) as c:
        r = c.post(_redirect(origin1, 307, "/echo"), body=iter([b"once"])).wait(WAIT)
        assert r.status == 307 and r.history == []


def test_redirect_to_another_scheme_fails(base1: EventBase, origin1: Origin) -> None:
    with Client(base1, follow_redirects=True) as c:
        fails_with(c.get(_redirect(origin1, 302, "ftp://example.com/")), InvalidURIError)


def test_redirect_without_location_is_the_answer(base1: EventBase) -> None:
    def script(peer: Peer) -> None:
        while peer.read_request() is not None:
            peer.reply(302, b"nowhere")

    with scripted(script) as srv, Client(base1, follow_redirects=True) as c:
        assert c.get(srv.url + "/").wait(WAIT).status == 302


def test_cancel_during_a_redirect(base1: EventBase, origin1: Origin) -> None:
    with Client(base1, follow_redirects=True) as c:
        f = c.get(_redirect(origin1, 302, "/never"))
        run_for(base1, 0.05)
        assert len(origin1.held) == 1
        f.cancel()
        fails_with(f, RequestCancelledError)
        assert c.pool.total == 0


# --- misc ----------------------------------------------------------------------------------------


def test_many_sequential_requests_stay_on_one_connection(base1: EventBase, origin1: Origin) -> None:
    with Client(base1) as c:
        for i in range(50):
            assert c.post(origin1.url + "/echo", body=str(i)).wait(WAIT).body == str(i).encode()
        assert len(origin1.peers) == 1
        conns = [conn for conns in c.pool._conns.values() for conn in conns]
        assert [conn.state for conn in conns] == [ConnectionState.IDLE]


def test_refused_connections_do_not_block_pool_waiters(base1: EventBase) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with Client(base1, limits=Limits(max_connections=1), timeouts=Timeouts(pool=2.0)) as c:
        futures = [c.get(url) for _ in range(3)]
        start = time.monotonic()
        for f in futures:
            fails_with(f, ConnectError)  # each in turn, not a pool timeout
        assert time.monotonic() - start < 1.0 and c.pool.total == 0


def test_server_closing_after_each_response_with_a_full_pool(base: EventBase) -> None:
    def script(peer: Peer) -> None:
        req = peer.read_request()
        if req is not None:
            peer.reply(200, req.target.encode(), [("Connection", "close")])

    with scripted(script) as srv, Client(base, limits=Limits(max_connections=1)) as c:
        futures = [c.get(f"{srv.url}/{i}") for i in range(5)]
        assert [r.body for r in wait_all(futures)] == [f"/{i}".encode() for i in range(5)]
        assert srv.accepted == 5 and c.pool.total == 0


def test_a_request_that_cannot_be_framed(
    base1: EventBase, origin1: Origin, client1: Client
) -> None:
    f = client1.post(origin1.url + "/echo", body=42)  # type: ignore[arg-type]
    fails_with(f, ConfigError)
    assert client1.pool.total == 0
    assert client1.get(origin1.url + "/headers").wait(WAIT).status == 200


def _has_ipv6() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback (::1) here")
def test_ipv6_literal_url(base1: EventBase) -> None:
    server = HTTPServer(base1)
    server.set_gencb(lambda req: req.send_reply(200, None, req.headers["Host"].encode()))
    port = server.bind(("::1", 0)).address[1]
    try:
        with Client(base1) as c:
            r = c.get(f"http://[::1]:{port}/").wait(WAIT)
            assert r.body == f"[::1]:{port}".encode()
            assert r.url == f"http://[::1]:{port}/"
    finally:
        server.close()


def test_config_values_are_checked(base1: EventBase) -> None:
    assert Timeouts.all(3) == Timeouts(3, 3, 3, 3)
    for bad in (0, -1, float("nan"), float("inf"), "1", True):
        with pytest.raises(ConfigError):
            Timeouts(connect=bad)  # type: ignore[arg-type]
    for kwargs in ({"max_connections": 0}, {"max_per_origin": 0}, {"keepalive_expiry": -1}):
        with pytest.raises(ConfigError):
            Limits(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="proxy"):
        Client(base1, proxy="socks5://x:1")


def test_streaming_callbacks_see_only_the_final_response(base1: EventBase, origin1: Origin) -> None:
    heads: list[int] = []
    pieces: list[bytes] = []
    with Client(base1, follow_redirects=True) as c:
        r = c.get(
            _redirect(origin1, 302, "/text"),
            on_head=lambda resp: heads.append(resp.status),
            on_chunk=lambda resp, data: pieces.append(data),
        ).wait(WAIT)
        assert r.status == 200 and [h.status for h in r.history] == [302]
        assert heads == [200]
        assert b"".join(pieces) == "héllo".encode()  # not the redirect's b"moved"
        assert r.history[0].body == b"moved"


def test_a_redirect_that_is_the_answer_is_streamed(base1: EventBase, origin1: Origin) -> None:
    heads: list[int] = []
    pieces: list[bytes] = []
    with Client(base1, follow_redirects=True) as c:
        r = c.post(
            _redirect(origin1, 307, "/echo"),
            body=iter([b"once"]),  # cannot be sent twice: the 307 is the answer
            on_head=lambda resp: heads.append(resp.status),
            on_chunk=lambda resp, data: pieces.append(data),
        ).wait(WAIT)
        assert (r.status, heads, b"".join(pieces), r.body) == (307, [307], b"moved", b"")


class _SilentResolver:
    """Never answers: the connection stays in its dial."""

    class _Handle:
        def cancel(self) -> None:
            pass

    def resolve(self, host: str, port: int, family: int, callback: Any) -> Any:
        return self._Handle()


def test_cancelling_while_the_connection_dials_frees_its_pool_slot(base1: EventBase) -> None:
    from evweb.reactor import NONBLOCK

    client = Client(base1, resolver=_SilentResolver(), limits=Limits(max_connections=1))
    future = client.get("http://never.test/")
    base1.loop(NONBLOCK)
    assert client.pool.total == 1
    assert future.cancel() and future.cancelled()
    assert client.pool.total == 0  # the dialing connection left the pool with its request
    client.close()
