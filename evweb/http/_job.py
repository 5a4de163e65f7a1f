"""One queued client request as the connection handles it: its bytes, its body, its progress.

Framing is decided when the request is queued, so a request that cannot
be sent (a method that is not a token, a target with spaces, a body type
the client cannot stream) fails in ``request()`` itself, with the
offending value, instead of later from the loop.

The framing rules are evhttp's, completed: ``Content-Length`` for a body
whose size is known (and for an empty POST, PUT or PATCH, as servers
expect), chunked for a stream of unknown size (HTTP/1.1 only), nothing
for an empty body otherwise. A ``Content-Length`` or ``Transfer-Encoding``
the caller set is kept and the body sent to match it.
"""

from __future__ import annotations

from evweb.errors import ConfigError
from evweb.http._upload import StreamBody, prepare
from evweb.http.exchange import ClientRequest, ClientResponse, ResponseFuture
from evweb.http.headers import Headers
from evweb.http.writer import request_head

_LENGTH_ALWAYS = frozenset(("POST", "PUT", "PATCH"))


class Job:
    """A request, its future, and where its exchange stands."""

    __slots__ = (
        "body",
        "body_held",
        "chunked",
        "future",
        "got_bytes",
        "head",
        "interim",
        "parts",
        "persists",
        "request",
        "response",
        "retried",
        "reused",
        "upload_done",
    )

    def __init__(self, request: ClientRequest, future: ResponseFuture) -> None:
        self.request = request
        self.future = future
        self.body, self.chunked, self.head = frame(request)
        self.persists = _request_persists(request)  # the request lets the connection live on
        self.body_held = False  # waiting for 100 Continue
        self.upload_done = False
        self.got_bytes = False  # a byte of the response arrived
        self.reused = False  # sent over a connection that served a request before
        self.retried = False
        self.interim = 0
        self.response: ClientResponse | None = None
        self.parts: list[bytes] = []

    def reset(self) -> None:
        """Forget the progress of a failed attempt before sending again."""
        self.body_held = self.upload_done = self.got_bytes = False
        self.interim = 0
        self.response = None
        self.parts = []

    @property
    def replayable(self) -> bool:
        """Whether the body can be sent again (it is held whole, not a stream)."""
        return not isinstance(self.body, StreamBody)


def frame(request: ClientRequest) -> tuple[bytes | StreamBody, bool, bytes]:
    """The body to send, whether it goes chunked, and the head bytes."""
    headers = request.headers
    declared = _declared_length(headers)
    body = prepare(request.body, declared)
    chunked = headers.has_token("transfer-encoding", "chunked")
    if declared is None and not chunked:
        if isinstance(body, StreamBody) and body.length is None:
            if request.version < (1, 1):
                raise ConfigError(
                    f"a body of unknown length cannot be sent over HTTP/1.0: {request!r}"
                )
            headers = headers.copy()
            headers.add("Transfer-Encoding", "chunked")
            chunked = True
        else:
            length = body.length if isinstance(body, StreamBody) else len(body)
            if length or request.method in _LENGTH_ALWAYS:
                headers = headers.copy()
                headers.add("Content-Length", str(length))
    elif declared is not None and not isinstance(body, StreamBody) and declared != len(body):
        raise ConfigError(f"Content-Length {declared} but the body holds {len(body)} bytes")
    try:
        head = request_head(request.method, request.target, headers, request.version)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return body, chunked, head


def _request_persists(request: ClientRequest) -> bool:
    """Whether ``request`` allows the connection to persist after its response.

    Not with ``Connection: close``; an HTTP/1.0 request only with
    ``Connection: keep-alive`` (RFC 9112 §9.3): without it the server closes
    after responding, whatever its response says.
    """
    headers = request.headers
    if headers.has_token("connection", "close"):
        return False
    return request.version >= (1, 1) or headers.has_token("connection", "keep-alive")


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise ConfigError(f"Content-Length must be digits, got {value!r}")
    return int(value)
