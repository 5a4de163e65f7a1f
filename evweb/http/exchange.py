"""What an HTTP client sends and gets back: ClientRequest, ClientResponse, ResponseFuture.

libevent's ``struct evhttp_request`` serves both ways; here the request
(method, target, headers, body and the callbacks that stream the response)
and the response (status, headers, body, trailers) are separate objects,
and :class:`ResponseFuture` is the handle a request returns: it completes
once with a response or with a typed error, runs its done callbacks from
the loop, and can be cancelled at any moment (from inside a chunk callback
too). The coroutine layer will wrap it as an awaitable.
"""

from __future__ import annotations

import json as _json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, BinaryIO, Union

from evweb.errors import EventStateError, HTTPStatusError, RequestCancelledError
from evweb.http.headers import HeaderInput, Headers

if TYPE_CHECKING:
    from evweb.reactor import EventBase

log = logging.getLogger("evweb.http.client")

BodyInput = Union[bytes, bytearray, memoryview, str, Iterable[bytes], BinaryIO, None]
"""A request body: bytes (or str, sent as UTF-8), an iterable of bytes (streamed:
chunked unless a Content-Length is given), or a binary file (streamed from its
current position; its size is the Content-Length when it is a regular file)."""
HeadCallback = Callable[["ClientResponse"], object]
"""``on_head(response)`` once the final head is in; returning False cancels the request."""
ChunkCallback = Callable[["ClientResponse", bytes], object]
"""``on_chunk(response, data)`` for each piece of body: the body is not kept."""
DoneCallback = Callable[["ResponseFuture"], object]


class ClientRequest:
    """One request to send over an :class:`~evweb.http.connection.HTTPConnection`.

    ``target`` is the request target (``/path?query``, or an absolute URI
    for proxies). ``headers`` are sent as given: the connection adds only
    ``Content-Length`` or ``Transfer-Encoding`` (libevent adds no ``Host``
    either; :class:`~evweb.http.client.Client` adds the usual fields).
    With ``Expect: 100-continue`` the body waits for the server's 100 (or
    ``expect_timeout`` seconds). ``on_head`` and ``on_chunk`` stream the
    response (libevent's header and chunked callbacks); ``max_body_size``
    overrides the connection's limit.
    """

    __slots__ = (
        "body",
        "expect_timeout",
        "headers",
        "max_body_size",
        "method",
        "on_chunk",
        "on_head",
        "retry_stale",
        "target",
        "version",
    )

    def __init__(
        self,
        method: str = "GET",
        target: str = "/",
        headers: HeaderInput | Headers | None = None,
        body: BodyInput = None,
        *,
        version: tuple[int, int] = (1, 1),
        on_head: HeadCallback | None = None,
        on_chunk: ChunkCallback | None = None,
        max_body_size: int | None = -1,
        expect_timeout: float = 1.0,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.version = version
        self.on_head = on_head
        self.on_chunk = on_chunk
        self.max_body_size = max_body_size
        """Largest body accepted; -1: the connection's limit, None: no limit."""
        self.expect_timeout = expect_timeout
        self.retry_stale = False
        """Resend once on a new connection when a reused one turns out closed (idempotent only)."""

    def __repr__(self) -> str:
        return f"<ClientRequest {self.method} {self.target}>"


class ClientResponse:
    """A response: status line, fields, body (unless streamed to ``on_chunk``) and trailers."""

    __slots__ = (
        "_body_parts",
        "body",
        "headers",
        "history",
        "keep_alive",
        "reason",
        "request",
        "status",
        "trailers",
        "url",
        "version",
    )

    def __init__(
        self,
        request: ClientRequest,
        status: int,
        reason: str,
        version: tuple[int, int],
        headers: Headers,
        keep_alive: bool = True,
    ) -> None:
        self.request = request
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.body = b""
        self.trailers = Headers()
        self.url: str | None = None
        """The absolute URL this response answers (set by the Client)."""
        self.history: list[ClientResponse] = []
        """The redirect responses that led here, oldest first (Client with redirects)."""
        self._body_parts: list[bytes] = []

    @property
    def ok(self) -> bool:
        """Whether the status is below 400."""
        return self.status < 400

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' when absent)."""
        value = self.headers.get("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of Content-Type, if any."""
        value = self.headers.get("content-type") or ""
        for param in value.split(";")[1:]:
            name, _, val = param.partition("=")
            if name.strip().lower() == "charset":
                return val.strip().strip('"') or None
        return None

    @property
    def text(self) -> str:
        """The body decoded with its charset (UTF-8 when none; undecodable bytes replaced)."""
        charset = self.charset or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:  # an unknown charset name
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (:class:`ValueError` when it is not)."""
        return _json.loads(self.body)

    def raise_for_status(self) -> ClientResponse:
        """Raise :class:`~evweb.errors.HTTPStatusError` for a 4xx or 5xx; else return self."""
        if self.status >= 400:
            where = f" for {self.url}" if self.url else ""
            raise HTTPStatusError(
                f"{self.status} {self.reason}{where}", response=self, status=self.status
            )
        return self

    def __repr__(self) -> str:
        return f"<ClientResponse {self.status} {self.reason}>"


_PENDING, _DONE, _CANCELLED = 0, 1, 2


class ResponseFuture:
    """The eventual outcome of a request: a :class:`ClientResponse` or an exception.

    Done callbacks run once, from the loop, in the order added (at once when
    added after completion). :meth:`cancel` ends the request with
    :class:`~evweb.errors.RequestCancelledError`; :meth:`wait` runs the
    loop until the outcome is known (only from outside the loop).
    """

    __slots__ = ("_base", "_callbacks", "_canceller", "_error", "_response", "_state", "request")

    def __init__(self, base: EventBase, request: ClientRequest) -> None:
        self._base = base
        self.request = request
        self._state = _PENDING
        self._response: ClientResponse | None = None
        self._error: BaseException | None = None
        self._callbacks: list[DoneCallback] = []
        self._canceller: Callable[[ResponseFuture], object] | None = None

    def done(self) -> bool:
        """Whether the outcome is known."""
        return self._state != _PENDING

    def cancelled(self) -> bool:
        """Whether :meth:`cancel` ended the request."""
        return self._state == _CANCELLED

    def result(self) -> ClientResponse:
        """The response; raises the request's error, or EventStateError while pending."""
        if self._state == _PENDING:
            raise EventStateError(f"{self.request!r} has no result yet")
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response

    def exception(self) -> BaseException | None:
        """The error the request ended with, or None (EventStateError while pending)."""
        if self._state == _PENDING:
            raise EventStateError(f"{self.request!r} has no result yet")
        return self._error

    def add_done_callback(self, fn: DoneCallback) -> None:
        """Call ``fn(future)`` once the outcome is known."""
        if self._state == _PENDING:
            self._callbacks.append(fn)
        else:
            fn(self)

    def cancel(self) -> bool:
        """End the request now (the connection it used is reset); False when already done."""
        if self._state != _PENDING:
            return False
        canceller, self._canceller = self._canceller, None
        error = RequestCancelledError(f"{self.request!r} was cancelled")
        error.request = self.request
        # Settled first, so nothing the reset triggers can complete it another way; the
        # reset comes before the done callbacks, so they see the connection as it is left.
        self._state, self._error = _CANCELLED, error
        if canceller is not None:
            canceller(self)
        self._finish(None, error, _CANCELLED)
        return True

    def wait(self, timeout: float | None = None) -> ClientResponse:
        """Run the loop until the request ends and return :meth:`result`.

        ``timeout`` bounds the wait (the request is cancelled when it runs
        out). Not for use from a callback: the loop is already running there.
        """
        from evweb.reactor import ONCE

        if timeout is not None:
            timer = self._base.timer(lambda fd, what, arg: self.cancel())
            timer.add(timeout)
            self.add_done_callback(lambda fut: timer.delete())
        while self._state == _PENDING:
            if self._base.loop(ONCE) == 1:  # nothing on the loop could ever complete it
                raise EventStateError(f"{self.request!r} cannot complete: the loop has no events")
        return self.result()

    # -- for the connection --------------------------------------------------------

    def _set_canceller(self, fn: Callable[[ResponseFuture], object] | None) -> None:
        self._canceller = fn

    def _set_result(self, response: ClientResponse) -> None:
        if self._state == _PENDING:
            self._finish(response, None, _DONE)

    def _set_error(self, error: BaseException) -> None:
        if self._state == _PENDING:
            if getattr(error, "request", None) is None and hasattr(error, "request"):
                error.request = self.request
            self._finish(None, error, _DONE)

    def _finish(
        self, response: ClientResponse | None, error: BaseException | None, state: int
    ) -> None:
        self._state = state
        self._response = response
        self._error = error
        self._canceller = None
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            try:
                fn(self)
            except Exception:  # one callback's bug must not keep the others from running
                log.exception("done callback %r of %r raised", fn, self)

    def __repr__(self) -> str:
        state = ("pending", "done", "cancelled")[self._state]
        return f"<ResponseFuture {self.request.method} {self.request.target} {state}>"
