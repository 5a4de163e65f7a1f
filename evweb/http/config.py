"""ServerConfig: the limits, timeouts and options of an HTTP server, as one frozen object.

The defaults are meant to be safe for a server facing the public internet,
unlike evhttp's (no timeouts, no size limits): a client gets 10 s to send a
whole request head, a body may be silent for at most 30 s between reads and
may not exceed 1 MiB unless a route streams it, an idle keep-alive
connection is closed after 15 s, a reply the client does not read for 30 s
is abandoned, and at most 10,000 connections are served at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from evweb.errors import ConfigError

DEFAULT_ALLOWED_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"))
"""Methods a server accepts unless told otherwise (TRACE and CONNECT are left out)."""


@dataclass(frozen=True)
class ServerConfig:
    """Limits and timeouts of an :class:`~evweb.http.server.HTTPServer` (seconds and bytes).

    ``replace(**changes)`` gives a modified copy. None as a timeout means
    "no timeout", None as a size "no limit" (evhttp's behaviour, unsafe).
    """

    max_line: int = 8190
    """Longest request line; longer is 414."""
    max_header_size: int = 16384
    """Largest request head; larger is 431."""
    max_fields: int = 100
    """Most header fields; more is 431."""
    max_body_size: int | None = 1 << 20
    """Largest body a handler receives whole; larger is 413 (streaming routes set theirs)."""
    max_connections: int | None = 10_000
    """Connections served at once; the next ones get 503 and are closed."""
    head_timeout: float | None = 10.0
    """Time to receive a whole request head once its first byte came (slow headers); 408 after."""
    body_timeout: float | None = 30.0
    """Longest silence while a request body is being received (slow bodies); 408 after."""
    keep_alive_timeout: float | None = 15.0
    """How long an idle keep-alive connection is kept open."""
    write_timeout: float | None = 30.0
    """How long a reply may wait for the client to read it before the connection is dropped."""
    allowed_methods: frozenset[str] = DEFAULT_ALLOWED_METHODS
    """Known methods outside this set get 405 with ``Allow``; unknown methods get 501."""
    default_content_type: str | None = "text/html; charset=utf-8"
    """``Content-Type`` of a reply with a body whose handler set none."""
    lingering_close: bool = True
    """After an error reply, read and discard what the client still sends before closing,
    so that it sees the reply instead of a reset (evhttp's ``LINGERING_CLOSE``)."""
    linger_time: float = 2.0
    """Longest lingering close."""
    pipeline_buffer: int = 65536
    """Bytes of pipelined requests buffered while one is being answered; reading pauses above."""
    access_log: bool = True
    """Log every request on ``evweb.http.access`` in the combined log format."""

    def __post_init__(self) -> None:
        for name in ("max_line", "max_header_size", "max_fields", "pipeline_buffer"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"ServerConfig.{name} must be a positive int, got {value!r}")
        for name in ("max_body_size", "max_connections"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigError(f"ServerConfig.{name} must be None or an int >= 0, got {value!r}")
        for name in ("head_timeout", "body_timeout", "keep_alive_timeout", "write_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"ServerConfig.{name} must be None or > 0, got {value!r}")
        bad = [m for m in self.allowed_methods if not m or not m.isupper()]
        if bad:
            raise ConfigError(f"ServerConfig.allowed_methods holds invalid methods: {bad!r}")

    def replace(self, **changes: object) -> ServerConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
