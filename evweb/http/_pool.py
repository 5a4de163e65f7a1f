"""The Client's connection pool: HTTPConnections per origin, within limits, reused LIFO.

Each pooled :class:`~evweb.http.connection.HTTPConnection` carries one
request at a time, so "idle" means "open with nothing in flight". A
request takes the most recently used idle connection of its origin (the
one least likely to have been closed by the server), else opens a new one
while the limits allow, else waits, oldest first, for up to
``Timeouts.pool`` seconds. When the total limit is reached and another
origin holds idle connections, the oldest of those is closed to make room.

A connection leaves the pool when it closes: the server closed it while
idle, a response ended it, a connect failed, or it sat idle longer than
``Limits.keepalive_expiry``. Expiry is checked when a connection is taken
and by a sweep that runs only while connections are idle, so back-to-back
requests touch no timer for it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from evweb.errors import PoolTimeoutError, RequestCancelledError
from evweb.http.client_config import Limits, Timeouts
from evweb.http.connection import ConnectionState, HTTPConnection
from evweb.reactor import EventBase

Origin = tuple[str, str, int]
"""``(scheme, host, port)``."""
Factory = Callable[[Origin], HTTPConnection]
Grant = Callable[[HTTPConnection | None, BaseException | None], object]


class _Waiter:
    __slots__ = ("grant", "origin", "timer")

    def __init__(self, origin: Origin, grant: Grant) -> None:
        self.origin = origin
        self.grant = grant
        self.timer: Any = None


class Pool:
    """Connections by origin; :meth:`acquire` grants one (now or later), or a PoolTimeoutError."""

    def __init__(
        self, base: EventBase, limits: Limits, timeouts: Timeouts, factory: Factory
    ) -> None:
        self.base = base
        self.limits = limits
        self.timeouts = timeouts
        self._factory = factory
        self._conns: dict[Origin, list[HTTPConnection]] = {}
        self._idle: dict[Origin, list[HTTPConnection]] = {}
        self._waiters: deque[_Waiter] = deque()
        self._total = 0
        self._sweeper = base.timer(self._sweep)

    @property
    def total(self) -> int:
        """Open (or opening) connections."""
        return self._total

    def idle_count(self, origin: Origin | None = None) -> int:
        """Idle connections, of one origin or of all."""
        if origin is not None:
            return len(self._idle.get(origin, ()))
        return sum(len(v) for v in self._idle.values())

    def acquire(self, origin: Origin, grant: Grant) -> _Waiter | None:
        """Call ``grant(conn, None)`` now or later; a waiter is returned when it must wait."""
        conn = self._take(origin)
        if conn is not None:
            grant(conn, None)
            return None
        waiter = _Waiter(origin, grant)
        self._waiters.append(waiter)
        if self.timeouts.pool is not None:
            waiter.timer = self.base.timer(self._on_wait_timeout, waiter)
            waiter.timer.add(self.timeouts.pool)
        return waiter

    def forget(self, waiter: _Waiter) -> None:
        """Stop waiting (the request was cancelled)."""
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if waiter.timer is not None:
            waiter.timer.delete()

    def close(self) -> None:
        """Close every connection; waiters are told with a RequestCancelledError."""
        for waiter in list(self._waiters):
            self.forget(waiter)
            _, host, port = waiter.origin
            error = RequestCancelledError(f"the client closed while waiting for {host}:{port}")
            waiter.grant(None, error)
        for conns in list(self._conns.values()):
            for conn in list(conns):
                conn.close()
        self._conns.clear()
        self._idle.clear()
        self._total = 0
        self._sweeper.delete()

    # -- taking and returning ------------------------------------------------------------

    def _take(self, origin: Origin) -> HTTPConnection | None:
        idle = self._idle.get(origin)
        expiry = self.limits.keepalive_expiry
        while idle:
            conn = idle.pop()
            fresh = expiry is None or time.monotonic() - conn.idle_since < expiry
            if fresh and conn.state is ConnectionState.IDLE and conn.pending == 0:
                return conn
            self._discard(conn, serve=False)
        limits = self.limits
        if self._total >= limits.max_connections and not self._evict_other(origin):
            return None
        mine = self._conns.get(origin, ())
        if limits.max_per_origin is not None and len(mine) >= limits.max_per_origin:
            return None
        return self._open(origin)

    def _open(self, origin: Origin) -> HTTPConnection:
        conn = self._factory(origin)
        conn.on_close = lambda c: self._on_close(origin, c)
        self._conns.setdefault(origin, []).append(conn)
        self._total += 1
        return conn

    def _evict_other(self, origin: Origin) -> bool:
        """Close the oldest idle connection of another origin; whether there was one."""
        for other, idle in self._idle.items():
            if other != origin and idle:
                self._discard(idle[0], serve=False)
                return True
        return False

    def release(self, origin: Origin, conn: HTTPConnection) -> None:
        """A request on ``conn`` ended: keep it if it is idle, else let it go.

        The only way back into ``_idle``: ``conn`` was taken out of it (or
        opened) by :meth:`_take` for the request now released.
        """
        if conn.pending:
            return
        if conn.state is not ConnectionState.IDLE:
            self._discard(conn)
            return
        self._idle.setdefault(origin, []).append(conn)
        expiry = self.limits.keepalive_expiry
        if expiry is not None and not self._sweeper.pending():
            self._sweeper.add(expiry)
        self._serve_waiters()

    def _sweep(self, fd: int, what: int, arg: Any) -> None:
        """Close connections idle for longer than the keep-alive expiry; rerun while any idle."""
        expiry = self.limits.keepalive_expiry
        assert expiry is not None
        now = time.monotonic()
        oldest = now
        for idle in list(self._idle.values()):
            for conn in list(idle):
                if now - conn.idle_since >= expiry:
                    self._discard(conn, serve=False)
                else:
                    oldest = min(oldest, conn.idle_since)
        if self.idle_count():
            self._sweeper.add(max(oldest + expiry - now, 0.01))

    def _on_close(self, origin: Origin, conn: HTTPConnection) -> None:
        if conn.pending == 0:  # a request being resent keeps its connection
            self._discard(conn)

    def _discard(self, conn: HTTPConnection, serve: bool = True) -> None:
        for origin, conns in self._conns.items():
            if conn in conns:
                conns.remove(conn)
                self._total -= 1
                idle = self._idle.get(origin)
                if idle and conn in idle:
                    idle.remove(conn)
                break
        conn.on_close = None
        conn.close()
        if serve:
            self._serve_waiters()

    def _serve_waiters(self) -> None:
        for waiter in list(self._waiters):
            if waiter not in self._waiters:
                continue
            conn = self._take(waiter.origin)
            if conn is None:
                continue
            self.forget(waiter)
            waiter.grant(conn, None)

    def _on_wait_timeout(self, fd: int, what: int, waiter: _Waiter) -> None:
        self.forget(waiter)
        scheme, host, port = waiter.origin
        waiter.grant(
            None,
            PoolTimeoutError(
                f"no connection to {scheme}://{host}:{port} came free in {self.timeouts.pool} s "
                f"({self._total} open, limit {self.limits.max_connections})"
            ),
        )
