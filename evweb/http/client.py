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

Each request is a :class:`~evweb.http._call.Call`, which also follows
redirects (see there for the rules).
"""

from __future__ import annotations

import json as _json
import ssl
from typing import Any

from evweb import __version__
from evweb.errors import ConfigError, InvalidURIError
from evweb.http._call import Call, Target, parse_url, target_of
from evweb.http._pool import Origin, Pool
from evweb.http.client_config import Limits, Timeouts
from evweb.http.connection import HTTPConnection
from evweb.http.exchange import (
    BodyInput,
    ChunkCallback,
    HeadCallback,
    ResponseFuture,
)
from evweb.http.headers import HeaderInput, Headers
from evweb.http.uri import URI
from evweb.io.resolve import Resolver
from evweb.reactor import EventBase

_DEFAULT_FIELDS = (("Accept", "*/*"), ("Accept-Encoding", "identity"), ("Connection", "keep-alive"))
_URL_CACHE_SIZE = 256


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
        self._targets: dict[str, Target] = {}
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
            dest = target_of(parse_url(url, params))
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
        call = Call(self, method, dest, fields, body, on_head, on_chunk)
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


def _parse_proxy(proxy: str) -> tuple[str, int]:
    try:
        uri = URI.parse(proxy)
    except InvalidURIError:  # "host:port" without a scheme parses as a bad relative path
        raise ConfigError(f"proxy must be http://host[:port], got {proxy!r}") from None
    if uri.scheme is None or uri.scheme.lower() != "http" or not uri.host:
        raise ConfigError(f"proxy must be http://host[:port], got {proxy!r}")
    return (uri.host.strip("[]"), uri.port or 8080)
