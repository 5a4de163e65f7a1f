"""Client settings as values: :class:`Timeouts` and :class:`Limits`.

The defaults of :class:`Timeouts` are libevent's evhttp_connection ones
(connect 45 s, read and write 50 s); ``pool`` bounds how long a
:class:`~evweb.http.client.Client` request waits for a connection when the
pool is full. :class:`Limits` follows what aiohttp and httpx users know: a
cap on connections in total and per origin, and how long an idle
keep-alive connection is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from evweb.errors import ConfigError


def _check_seconds(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number of seconds or None, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0 or None, got {value!r}")


@dataclass(frozen=True)
class Timeouts:
    """Seconds each phase of a request may take; None: no limit.

    ``connect`` covers resolving, TCP, a proxy tunnel and the TLS handshake;
    ``read`` is the longest silence while a response is due; ``write`` the
    longest stall while sending; ``pool`` the wait for a free connection.
    """

    connect: float | None = 45.0
    read: float | None = 50.0
    write: float | None = 50.0
    pool: float | None = 30.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool"):
            _check_seconds(f"Timeouts.{name}", getattr(self, name))

    @classmethod
    def all(cls, seconds: float | None) -> Timeouts:
        """The same limit for every phase."""
        return cls(seconds, seconds, seconds, seconds)


@dataclass(frozen=True)
class Limits:
    """How many connections a Client keeps.

    ``max_connections`` caps open connections in total and
    ``max_per_origin`` per scheme, host and port (None: only the total);
    ``keepalive_expiry`` closes a connection idle for that long (None:
    keep it until the server closes it).
    """

    max_connections: int = 100
    max_per_origin: int | None = None
    keepalive_expiry: float | None = 15.0

    def __post_init__(self) -> None:
        if isinstance(self.max_connections, bool) or not isinstance(self.max_connections, int):
            raise ConfigError(f"max_connections must be an int, got {self.max_connections!r}")
        if self.max_connections < 1:
            raise ConfigError(f"max_connections must be >= 1, got {self.max_connections}")
        per = self.max_per_origin
        if per is not None and (isinstance(per, bool) or not isinstance(per, int) or per < 1):
            raise ConfigError(f"max_per_origin must be an int >= 1 or None, got {per!r}")
        _check_seconds("Limits.keepalive_expiry", self.keepalive_expiry)
