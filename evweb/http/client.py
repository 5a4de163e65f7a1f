"""Client: HTTP requests by URL over pooled keep-alive connections, callback style.

::

    client = Client(base)
    future = client.get("http://127.0.0.1:8080/hello")
    future.add_done_callback(lambda f: print(f.result().text))
    base.loop()

What it adds to :class:`~evweb.http.connection.HTTPConnection`, which it
uses for each connection: URLs (with ``params`` merged into the query), the
fields every request should carry (``Host``, ``User-Agent``, ``Accept``,
``Accept-Encoding: identity``, ``Connection``, ``Content-Length``), JSON
bodies, a pool per origin (:mod:`evweb.http._pool`), one silent resend of
an idempotent request that met a stale keep-alive connection, redirects
when asked (``follow_redirects``), HTTPS with verification by default, and
an HTTP proxy reached through ``CONNECT`` tunnels.

Redirects follow what browsers and requests do: 303, and 301/302 after a
POST, become a GET without body; 307 and 308 repeat the method and body
(a streamed body cannot be repeated: the redirect is then the answer);
``Authorization`` and ``Cookie`` are dropped when the origin changes.
"""

from __future__ import annotations

import json as _json
import ssl
from typing import Any, NamedTuple
from urllib.parse import urlencode

from evweb import __version__
from evweb.errors import ConfigError, InvalidURIError, TooManyRedirectsError
from evweb.http._pool import Origin, Pool
from evweb.http.client_config import Limits, Timeouts
from evweb.http.connection import HTTPConnection
from evweb.http.exchange import (
    BodyInput,
    ChunkCallback,
    ClientRequest,
    ClientResponse,
    HeadCallback,
    ResponseFuture,
)
from evweb.http.headers import HeaderInput, Headers
from evweb.http.uri import URI
from evweb.io.resolve import Resolver
from evweb.reactor import EventBase

DEFAULT_PORTS = {"http": 80, "https": 443}
IDEMPOTENT = frozenset(("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"))
REDIRECTS = frozenset((301, 302, 303, 307, 308))
_ORIGIN_ONLY = ("authorization", "cookie", "proxy-authorization", "host")
_DEFAULT_FIELDS = (("Accept", "*/*"), ("Accept-Encoding", "identity"), ("Connection", "keep-alive"))
_URL_CACHE_SIZE = 256


class _Target(NamedTuple):
    """What a URL means for a request: where to connect, the request target, the Host field."""

    origin: Origin
    target: str
    host: str
    url: str


class Client:
    """Makes requests by URL; see the module docstring.

    ``headers`` are sent with every request (a request's own headers win);
    ``follow_redirects`` and ``max_redirects`` are defaults a request may
    override. ``proxy`` is ``http://host:port``. ``verify=False`` accepts
    any certificate (tests only!); ``ssl_context`` replaces the default
    verifying context. ``max_body_size`` bounds responses (None: no bound).
    """

    def __init__(
        self,
        base: EventBase,
        *,
        timeouts: Timeouts | None = None,
        limits: Limits | None = None,
        headers: HeaderInput | None = None,
        user_agent: str = f"evweb/{__version__}",
        follow_redirects: bool = False,
        max_redirects: int = 10,
        proxy: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        verify: bool = True,
        resolver: Resolver | None = None,
        max_body_size: int | None = None,
    ) -> None:
        self.base = base
        self.timeouts = timeouts or Timeouts()
        self.limits = limits or Limits()
        self.headers = Headers(headers)
        self.headers.setdefault("User-Agent", user_agent)
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.proxy = _parse_proxy(proxy) if proxy else None
        self.ssl_context = ssl_context
        self.verify = verify
        self.resolver = resolver
        self.max_body_size = max_body_size
        self._pool = Pool(base, self.limits, self.timeouts, self._new_connection)
        self._closed = False
        self._targets: dict[str, _Target] = {}
        self._defaults: tuple[list[str], list[str], Headers] | None = None

    # -- requests ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: HeaderInput | None = None,
        body: BodyInput = None,
        json: Any = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        on_head: HeadCallback | None = None,
        on_chunk: ChunkCallback | None = None,
        follow_redirects: bool | None = None,
        expect_continue: bool = False,
    ) -> ResponseFuture:
        """Send ``method url``; the future completes with the response (after redirects).

        ``body`` is bytes, str, an iterable of bytes or a binary file (the
        last two are streamed); ``json`` serialises a value as the body.
        ``on_head``/``on_chunk`` stream the response instead of keeping it.
        """
        if self._closed:
            raise ConfigError("request() on a closed Client")
        method = method.upper()
        dest = self._targets.get(url) if params is None else None
        if dest is None:
            dest = _target_of(_parse_url(url, params))
            if params is None and len(self._targets) < _URL_CACHE_SIZE:
                self._targets[url] = dest
        fields = self._default_fields()
        if headers is not None or json is not None or expect_continue:
            fields = fields.copy()
            if json is not None:
                if body is not None:
                    raise ConfigError("give body or json, not both")
                body = _json.dumps(json, separators=(",", ":")).encode("utf-8")
                fields["Content-Type"] = "application/json"
            for name, value in Headers(headers).items():
                fields[name] = value
            if expect_continue:
                fields["Expect"] = "100-continue"
        call = _Call(self, method, dest, fields, body, on_head, on_chunk)
        call.follow = self.follow_redirects if follow_redirects is None else follow_redirects
        call.start()
        return call.future

    def _default_fields(self) -> Headers:
        """``headers`` with the fields every request carries (shared: copy before changing)."""
        mine = self.headers
        cached = self._defaults
        if cached is None or cached[0] != mine._names or cached[1] != mine._values:
            fields = mine.copy()
            for name, value in _DEFAULT_FIELDS:
                fields.setdefault(name, value)
            cached = self._defaults = (list(mine._names), list(mine._values), fields)
        return cached[2]

    def get(self, url: str, **kwargs: Any) -> ResponseFuture:
        """``request("GET", url, ...)``."""
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> ResponseFuture:
        """``request("HEAD", url, ...)``."""
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> ResponseFuture:
        """``request("POST", url, ...)``."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> ResponseFuture:
        """``request("PUT", url, ...)``."""
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> ResponseFuture:
        """``request("PATCH", url, ...)``."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> ResponseFuture:
        """``request("DELETE", url, ...)``."""
        return self.request("DELETE", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> ResponseFuture:
        """``request("OPTIONS", url, ...)``."""
        return self.request("OPTIONS", url, **kwargs)

    # -- the pool --------------------------------------------------------------------

    @property
    def pool(self) -> Pool:
        """The connection pool (counts of open and idle connections)."""
        return self._pool

    def close(self) -> None:
        """Close every connection; requests in flight fail as cancelled."""
        self._closed = True
        self._pool.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _new_connection(self, origin: Origin) -> HTTPConnection:
        scheme, host, port = origin
        context = self._tls_context() if scheme == "https" else None
        return HTTPConnection(
            self.base,
            host,
            port,
            ssl_context=context,
            proxy=self.proxy,
            resolver=self.resolver,
            timeouts=self.timeouts,
            max_body_size=self.max_body_size,
        )  # keep-alive expiry is the pool's

    def _tls_context(self) -> ssl.SSLContext:
        if self.ssl_context is None:
            context = ssl.create_default_context()
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self.ssl_context = context
        return self.ssl_context


class _Call:
    """One ``Client.request``: the future the caller holds and the attempt behind it."""

    def __init__(
        self,
        client: Client,
        method: str,
        dest: _Target,
        headers: Headers,
        body: BodyInput,
        on_head: HeadCallback | None,
        on_chunk: ChunkCallback | None,
    ) -> None:
        self.client = client
        self.method = method
        self.dest = dest
        self.headers = headers  # shared with the Client: copied before any change
        self.body = body
        self.on_head = on_head
        self.on_chunk = on_chunk
        self.follow = False
        self.history: list[ClientResponse] = []
        self.request = self._build_request()
        self.future = ResponseFuture(client.base, self.request)
        self.future._set_canceller(self._cancel)
        self._waiter: Any = None
        self._inner: ResponseFuture | None = None

    def _build_request(self) -> ClientRequest:
        fields = self.headers
        host = self.dest.host
        if "host" in fields._keys:  # the caller's Host wins (virtual hosts, tests)
            fields = fields.copy()
            host = fields.get("host") or host
            fields.discard("host")
        headers = Headers._trusted(
            ["Host", *fields._names], ["host", *fields._keys], [host, *fields._values]
        )
        request = ClientRequest(
            self.method,
            self.dest.target,
            headers,
            self.body,
            on_head=self._on_head if self.on_head is not None else None,
            on_chunk=self._on_chunk if self.on_chunk is not None else None,
        )
        request.retry_stale = self.method in IDEMPOTENT
        return request

    def _follows(self, response: ClientResponse) -> bool:
        """Whether ``response`` is a redirect this call goes on from (as ``_redirect`` decides)."""
        status = response.status
        if not (self.follow and status in REDIRECTS and response.headers.get("location")):
            return False
        to_get = (status == 303 and self.method != "HEAD") or (
            status in (301, 302) and self.method == "POST"
        )
        return to_get or self.body is None or isinstance(self.body, (bytes, bytearray, str))

    def _on_head(self, response: ClientResponse) -> object:
        # a redirect that will be followed is not the caller's response: its callbacks skip it
        if self.on_head is None or self._follows(response):
            return None
        response.history = self.history  # the redirects that led here, for the caller's use
        return self.on_head(response)

    def _on_chunk(self, response: ClientResponse, data: bytes) -> object:
        if self._follows(response):
            response.body += data  # kept for ``history``, as without on_chunk
            return None
        assert self.on_chunk is not None
        return self.on_chunk(response, data)

    @property
    def origin(self) -> Origin:
        return self.dest.origin

    def start(self) -> None:
        self._waiter = self.client._pool.acquire(self.origin, self._granted)

    def _granted(self, conn: HTTPConnection | None, error: BaseException | None) -> None:
        self._waiter = None
        if conn is None:
            assert error is not None
            self.future._set_error(error)
            return
        try:
            inner = conn.request(self.request)
        except Exception as exc:  # the request cannot be framed: nothing was sent
            self.client._pool.release(self.origin, conn)
            self.future._set_error(exc)
            return
        self._inner = inner
        origin = self.origin
        inner.add_done_callback(lambda fut: self._answered(fut, conn, origin))

    def _answered(self, inner: ResponseFuture, conn: HTTPConnection, origin: Origin) -> None:
        self._inner = None
        self.client._pool.release(origin, conn)
        if self.future.done():
            return
        error = inner.exception()
        if error is not None:
            self.future._set_error(error)
            return
        response = inner.result()
        response.url = self.dest.url
        location = response.headers.get("location")
        if self.follow and response.status in REDIRECTS and location:
            self._redirect(response, location)
            return
        response.history = self.history
        self.future._set_result(response)

    def _redirect(self, response: ClientResponse, location: str) -> None:
        if len(self.history) >= self.client.max_redirects:
            error = TooManyRedirectsError(
                f"more than {self.client.max_redirects} redirects from {self.history[0].url}"
                if self.history
                else f"redirects are limited to {self.client.max_redirects}",
                response,
            )
            self.future._set_error(error)
            return
        try:
            target = URI.parse(self.dest.url).resolve(location)
        except InvalidURIError as exc:
            self.future._set_error(exc)
            return
        if (target.scheme or "http") not in DEFAULT_PORTS:
            self.future._set_error(InvalidURIError(location, "redirect to an unsupported scheme"))
            return
        status = response.status
        self.headers = self.headers.copy()
        if (status == 303 and self.method != "HEAD") or (
            status in (301, 302) and self.method == "POST"
        ):
            self.method, self.body = "GET", None
            for name in ("content-length", "content-type", "transfer-encoding", "expect"):
                self.headers.discard(name)
        elif self.body is not None and not isinstance(self.body, (bytes, bytearray, str)):
            response.history = self.history
            self.future._set_result(response)  # a stream cannot be sent twice
            return
        old_origin = self.origin
        target.set_fragment(None)
        self.dest = _target_of(target)
        if self.origin != old_origin:
            for name in _ORIGIN_ONLY:
                self.headers.discard(name)
        self.history.append(response)
        self.request = self._build_request()
        self.future.request = self.request
        self.start()

    def _cancel(self, future: ResponseFuture) -> None:
        if self._waiter is not None:
            self.client._pool.forget(self._waiter)
            self._waiter = None
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.cancel()


def _parse_url(url: str, params: dict[str, Any] | list[tuple[str, Any]] | None) -> URI:
    uri = URI.parse(url)
    scheme = uri.scheme
    if scheme is None or scheme.lower() not in DEFAULT_PORTS:
        raise InvalidURIError(url, "the URL must start with http:// or https://")
    if not uri.host:
        raise InvalidURIError(url, "the URL has no host")
    uri.set_scheme(scheme.lower())
    if params:
        extra = urlencode(params, doseq=True)
        uri.set_query(f"{uri.query}&{extra}" if uri.query else extra)
    uri.set_fragment(None)
    return uri


def _target_of(uri: URI) -> _Target:
    scheme = uri.scheme or "http"
    host = uri.host or ""
    origin = (scheme, host, uri.port or DEFAULT_PORTS[scheme])
    target = uri.path or "/"
    if uri.query is not None:
        target += "?" + uri.query
    return _Target(origin, target, _host_field(uri), uri.join())


def _host_field(uri: URI) -> str:
    host = uri.host or ""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    scheme = uri.scheme or "http"
    port = uri.port
    return host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"


def _parse_proxy(proxy: str) -> tuple[str, int]:
    try:
        uri = URI.parse(proxy)
    except InvalidURIError:  # "host:port" without a scheme parses as a bad relative path
        raise ConfigError(f"proxy must be http://host[:port], got {proxy!r}") from None
    if uri.scheme is None or uri.scheme.lower() != "http" or not uri.host:
        raise ConfigError(f"proxy must be http://host[:port], got {proxy!r}")
    return (uri.host.strip("[]"), uri.port or 8080)
