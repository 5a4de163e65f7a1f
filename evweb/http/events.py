"""The events the sans-IO HTTP/1.1 readers produce, and the constants they use.

A reader turns bytes into a stream of events: one head (:class:`RequestHead`
or :class:`ResponseHead`), zero or more :class:`Data`, one
:class:`EndOfMessage`; then the next message's head. When it needs more
bytes it answers :data:`NEED_DATA`; after a message that ends the
connection (a body read until close, a protocol switch) it answers
:data:`CLOSED` or :data:`PAUSED`.
"""

from __future__ import annotations

import enum
from typing import Final

from evweb.http.headers import Headers


class Sentinel(enum.Enum):
    """Answers of ``next_event`` that are not events."""

    NEED_DATA = "NEED_DATA"
    """Feed more bytes (or EOF) before asking again."""
    PAUSED = "PAUSED"
    """The bytes after this message are not HTTP (CONNECT, Upgrade): see ``trailing_data``."""
    CLOSED = "CLOSED"
    """The peer closed the connection between messages; no more events will come."""


NEED_DATA: Final = Sentinel.NEED_DATA
PAUSED: Final = Sentinel.PAUSED
CLOSED: Final = Sentinel.CLOSED

KNOWN_METHODS: Final = frozenset(
    [
        *("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH"),
        *("PROPFIND", "PROPPATCH", "MKCOL", "LOCK", "UNLOCK", "COPY", "MOVE"),
    ]
)
"""The methods libevent's evhttp knows (``enum evhttp_cmd_type``); others are extension methods."""

UNSAFE_TE_MESSAGE: Final = "Transfer-Encoding whose final coding is not chunked"


class RequestHead:
    """A request line and its header fields, with the framing the reader derived from them.

    ``version`` is ``(1, 0)`` or ``(1, 1)`` (a later 1.x minor is read as 1.1).
    ``content_length`` is the declared body size, or None when the body is
    chunked or absent; ``chunked`` says whether it is chunked.
    ``keep_alive`` is what the client asked for under RFC 9112 §9.3;
    ``expect_continue`` is set for an HTTP/1.1 ``Expect: 100-continue``.
    """

    __slots__ = (
        "chunked",
        "content_length",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "target",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: tuple[int, int],
        headers: Headers,
        content_length: int | None = None,
        chunked: bool = False,
        keep_alive: bool = True,
        expect_continue: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.content_length = content_length
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue

    @property
    def has_body(self) -> bool:
        """Whether body bytes follow (chunked, or a non-zero Content-Length)."""
        return self.chunked or bool(self.content_length)

    def __repr__(self) -> str:
        return f"<RequestHead {self.method} {self.target} HTTP/{self.version[0]}.{self.version[1]}>"


class ResponseHead:
    """A status line and its header fields, with the framing the reader derived.

    An interim (1xx) response is a head alone: no Data or EndOfMessage
    follows it, the next event is another head. For a final response
    ``content_length`` is the number of body bytes that follow (0 for HEAD,
    204, 304 and 2xx to CONNECT, whatever the fields say), or None when the
    body is chunked (``chunked``) or ends when the connection does
    (``until_close``).
    """

    __slots__ = (
        "chunked",
        "content_length",
        "headers",
        "keep_alive",
        "reason",
        "status",
        "until_close",
        "version",
    )

    def __init__(
        self,
        status: int,
        reason: str,
        version: tuple[int, int],
        headers: Headers,
        content_length: int | None = None,
        chunked: bool = False,
        until_close: bool = False,
        keep_alive: bool = True,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.content_length = content_length
        self.chunked = chunked
        self.until_close = until_close
        self.keep_alive = keep_alive

    @property
    def informational(self) -> bool:
        """A 1xx interim response: the final one is still to come."""
        return 100 <= self.status < 200

    def __repr__(self) -> str:
        return (
            f"<ResponseHead HTTP/{self.version[0]}.{self.version[1]} {self.status} {self.reason}>"
        )


class Data:
    """A piece of a message body, already de-chunked."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"<Data {len(self.data)} bytes>"


class EndOfMessage:
    """The body is complete; ``trailers`` holds a chunked body's trailer fields."""

    __slots__ = ("_trailers",)

    def __init__(self, trailers: Headers | None = None) -> None:
        self._trailers = trailers

    @property
    def trailers(self) -> Headers:
        """The trailer fields (empty unless a chunked body carried some)."""
        trailers = self._trailers
        if trailers is None:
            trailers = self._trailers = Headers()
        return trailers

    def __repr__(self) -> str:
        count = 0 if self._trailers is None else len(self._trailers)
        return f"<EndOfMessage trailers={count}>"


Event = RequestHead | ResponseHead | Data | EndOfMessage
"""Anything ``next_event`` returns that is not a :class:`Sentinel`."""
