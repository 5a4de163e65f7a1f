"""One Client request from URL to final response: the pool, the connection, redirects.

:class:`Call` is what :meth:`~evweb.http.client.Client.request` starts: it
waits for a pooled connection, sends the request over it, and either
completes the future the caller holds or follows a redirect and starts
again. Redirects follow what browsers and requests do: 303, and 301/302
after a POST, become a GET without body; 307 and 308 repeat the method and
body (a streamed body cannot be repeated: the redirect is then the
answer); ``Authorization``, ``Cookie`` and a caller's ``Host`` are dropped
when the origin changes. The caller's ``on_head``/``on_chunk`` see the
final response only, with ``history`` already set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlencode

from evweb.errors import InvalidURIError, TooManyRedirectsError
from evweb.http._pool import Origin
from evweb.http.connection import HTTPConnection
from evweb.http.exchange import (
    BodyInput,
    ChunkCallback,
    ClientRequest,
    ClientResponse,
    HeadCallback,
    ResponseFuture,
)
from evweb.http.headers import Headers
from evweb.http.uri import URI

if TYPE_CHECKING:
    from evweb.http.client import Client

DEFAULT_PORTS = {"http": 80, "https": 443}
IDEMPOTENT = frozenset(("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"))
REDIRECTS = frozenset((301, 302, 303, 307, 308))
_ORIGIN_ONLY = ("authorization", "cookie", "proxy-authorization", "host")
_BODY_FIELDS = ("content-length", "content-type", "transfer-encoding", "expect")


class Target(NamedTuple):
    """What a URL means for a request: where to connect, the request target, the Host field."""

    origin: Origin
    target: str
    host: str
    url: str


class Call:
    """One ``Client.request``: the future the caller holds and the attempt behind it."""

    def __init__(
        self,
        client: Client,
        method: str,
        dest: Target,
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
        """Whether ``response`` is a redirect this call goes on from.

        A redirect that must repeat a streamed body cannot be followed (the
        stream is spent): it is then the answer.
        """
        status = response.status
        if not (self.follow and status in REDIRECTS and response.headers.get("location")):
            return False
        return _becomes_get(status, self.method) or _replayable(self.body)

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
        if self._follows(response):
            self._redirect(response)
            return
        response.history = self.history
        self.future._set_result(response)

    def _redirect(self, response: ClientResponse) -> None:
        try:
            target = self._next_target(response)
        except (InvalidURIError, TooManyRedirectsError) as exc:
            self.future._set_error(exc)
            return
        self.headers = self.headers.copy()
        if _becomes_get(response.status, self.method):
            self.method, self.body = "GET", None
            for name in _BODY_FIELDS:
                self.headers.discard(name)
        old_origin = self.origin
        self.dest = target_of(target)
        if self.origin != old_origin:
            for name in _ORIGIN_ONLY:
                self.headers.discard(name)
        self.history.append(response)
        self.request = self._build_request()
        self.future.request = self.request
        self.start()

    def _next_target(self, response: ClientResponse) -> URI:
        """Where the redirect leads (raises when it may not be followed)."""
        limit = self.client.max_redirects
        if len(self.history) >= limit:
            start = self.history[0].url if self.history else self.dest.url
            raise TooManyRedirectsError(f"more than {limit} redirects from {start}", response)
        location = response.headers.get("location") or ""
        target = URI.parse(self.dest.url).resolve(location)
        if (target.scheme or "http") not in DEFAULT_PORTS:
            raise InvalidURIError(location, "redirect to an unsupported scheme")
        target.set_fragment(None)
        return target

    def _cancel(self, future: ResponseFuture) -> None:
        if self._waiter is not None:
            self.client._pool.forget(self._waiter)
            self._waiter = None
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.cancel()


def parse_url(url: str, params: dict[str, Any] | list[tuple[str, Any]] | None) -> URI:
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


def target_of(uri: URI) -> Target:
    scheme = uri.scheme or "http"
    host = uri.host or ""
    origin = (scheme, host, uri.port or DEFAULT_PORTS[scheme])
    target = uri.path or "/"
    if uri.query is not None:
        target += "?" + uri.query
    return Target(origin, target, _host_field(uri), uri.join())


def _host_field(uri: URI) -> str:
    host = uri.host or ""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    scheme = uri.scheme or "http"
    port = uri.port
    return host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"


def _becomes_get(status: int, method: str) -> bool:
    """Whether a redirect with ``status`` turns ``method`` into a GET without body."""
    return (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST")


def _replayable(body: BodyInput) -> bool:
    """Whether ``body`` can be sent again (held whole, not a spent stream)."""
    return body is None or isinstance(body, (bytes, bytearray, memoryview, str))
