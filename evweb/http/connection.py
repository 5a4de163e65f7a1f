"""HTTPConnection: libevent's evhttp_connection, one server, requests one at a time.

Requests queue and go out one at a time over one connection, which is
opened lazily by the first request and kept alive between them (no
pipelining, as in libevent). The response is read with the sans-IO
:class:`~evweb.http.reader.ResponseReader`; the connection only moves
bytes and decides what happens to the connection afterwards.

The states, and what moves them:

============  ==========================================  =============================
state         meaning                                     leaves when
============  ==========================================  =============================
DISCONNECTED  no socket; a request starts a dial          request(): CONNECTING
CONNECTING    dialing (TCP, proxy tunnel, TLS), or        dialed: IDLE; failed: retry
              waiting to retry a failed connect           or fail every queued request
IDLE          open, nothing in flight; watching for       request(): BUSY; EOF or idle
              the server closing it (close detection)     timeout: DISCONNECTED
BUSY          a request is being sent and answered        the response ends: IDLE, or
                                                          DISCONNECTED if not kept alive
CLOSED        close() was called                          never
============  ==========================================  =============================

Why it is shaped this way:

* A failed connect is retried ``retries`` times (-1: forever) after
  ``initial_retry_delay`` doubling each time, capped at an hour; when the
  retries run out every queued request fails with the connect error, as in
  libevent. A failure mid-request fails that request only; the next queued
  one goes over a new connection.
* A request marked ``retry_stale`` (the Client marks idempotent ones) that
  meets a reused keep-alive connection closed by the server before a byte
  of the response arrived is sent again once over a new connection: the
  server closing an idle connection while the request was in flight is
  not an error the caller could act on.
* Cancelling the request in flight resets the connection (its response
  would otherwise still arrive); cancelling a queued one just dequeues it.
  Both are safe from inside the request's own callbacks: after each
  callback the exchange checks it is still the current one.
* With ``Expect: 100-continue`` the body waits for the 100 (or the
  request's ``expect_timeout``); a final response arriving first means the
  body is never sent, and the connection is closed after that response.
"""

from __future__ import annotations

import copy
import enum
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

from evweb.errors import ConfigError, EventStateError
from evweb.http._dial import Dial, DialTarget
from evweb.http._exchange_io import ExchangeIO
from evweb.http._job import Job
from evweb.http.client_config import Timeouts
from evweb.http.exchange import ClientRequest, ResponseFuture
from evweb.http.reader import DEFAULT_MAX_HEADER_SIZE
from evweb.io import BufferEvent
from evweb.io.resolve import Resolver
from evweb.reactor import EventBase

log = logging.getLogger("evweb.http.client")

MAX_RETRY_DELAY = 3600.0
"""libevent's cap on the delay between connect retries (seconds)."""

CloseCallback = Callable[["HTTPConnection"], object]


class ConnectionState(enum.Enum):
    """Where an :class:`HTTPConnection` stands (see the module's table)."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    IDLE = "idle"
    BUSY = "busy"
    CLOSED = "closed"


class HTTPConnection(ExchangeIO):
    """A connection to one HTTP server (``evhttp_connection_base_new``).

    ``host`` and ``port`` name the server (``unix_path`` a Unix socket
    instead); ``ssl_context`` makes it HTTPS, verifying the certificate
    and sending SNI for ``server_hostname`` (default: ``host``; an IP
    address is checked but not sent as SNI). ``proxy`` is ``(host, port)``
    of an HTTP proxy reached through a ``CONNECT`` tunnel. ``family``
    restricts the addresses tried, ``local_address`` binds the socket.
    Limits: ``max_header_size`` and ``max_body_size`` (None: none) apply
    to responses.
    """

    def __init__(
        self,
        base: EventBase,
        host: str = "127.0.0.1",
        port: int = 80,
        *,
        unix_path: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        proxy: tuple[str, int] | None = None,
        family: int = socket.AF_UNSPEC,
        local_address: tuple[str, int] | None = None,
        resolver: Resolver | None = None,
        timeouts: Timeouts | None = None,
        retries: int = 0,
        initial_retry_delay: float = 2.0,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        max_body_size: int | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {port!r}")
        if retries < -1:
            raise ConfigError(f"retries must be >= -1 (-1: forever), got {retries}")
        if initial_retry_delay < 0:
            raise ConfigError(f"initial_retry_delay must be >= 0, got {initial_retry_delay}")
        self.base = base
        self.host = host.strip("[]")
        self.port = port
        if server_hostname is None and ssl_context is not None:
            # an IP address is checked against the certificate's IP entries; ssl sends no
            # SNI for it (RFC 6066)
            server_hostname = self.host
        self.target = DialTarget(
            self.host,
            port,
            unix_path=unix_path,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            proxy=proxy,
            family=family,
            local_address=local_address,
        )
        self.resolver = resolver
        self.timeouts = timeouts or Timeouts()
        self.retries = retries
        self.initial_retry_delay = initial_retry_delay
        self.idle_timeout = idle_timeout
        self.state = ConnectionState.DISCONNECTED
        self.peer: Any = None
        """The address connected to (the proxy's when tunnelling), once connected."""
        self.requests_sent = 0
        """Requests sent over the current socket (0: a fresh one)."""
        self.auto_close = False
        """Close once the queue is empty (``evhttp_connection_free_on_completion``)."""
        self.on_close: CloseCallback | None = None
        """Called each time an open connection closes (``evhttp_connection_set_closecb``)."""
        self._queue: deque[Job] = deque()
        self._dial: Dial | None = None
        self._retry_count = 0
        self._retry_timer = base.timer(self._on_retry)
        ExchangeIO.__init__(self, max_header_size, max_body_size)

    # -- the public API ------------------------------------------------------------

    def request(self, request: ClientRequest) -> ResponseFuture:
        """Queue ``request`` (``evhttp_make_request``); the future tells how it ended."""
        if self.state is ConnectionState.CLOSED:
            raise EventStateError("request() on a closed HTTPConnection")
        future = ResponseFuture(self.base, request)
        job = Job(request, future)
        future._set_canceller(lambda fut: self._cancel(job))
        self._queue.append(job)
        self._advance()
        return future

    @property
    def pending(self) -> int:
        """Requests queued or in flight."""
        return len(self._queue) + (self._job is not None)

    @property
    def bufferevent(self) -> BufferEvent | None:
        """The BufferEvent of the open connection (``evhttp_connection_get_bufferevent``)."""
        return self._bev

    def close(self) -> None:
        """Close the connection; requests still queued or in flight fail as cancelled."""
        if self.state is ConnectionState.CLOSED:
            return
        self._stop_dial()
        self._retry_timer.delete()
        active = self._job
        self._abandon()  # the request in flight is cancelled with the queued ones
        self.state = ConnectionState.CLOSED
        jobs = ([active] if active is not None else []) + list(self._queue)
        self._queue.clear()
        for job in jobs:
            job.future.cancel()

    def __enter__(self) -> HTTPConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<HTTPConnection {self.target.address} {self.state.value} pending={self.pending}>"

    # -- moving the queue ------------------------------------------------------------

    def _advance(self) -> None:
        """Start the next queued request if the connection can take it."""
        if self._job is not None or self.state is ConnectionState.CLOSED:
            return
        if not self._queue:
            if self.auto_close:
                self.close()
            return
        if self._bev is None:
            if self.state is ConnectionState.DISCONNECTED:
                self._start_dial()
            return
        job = self._queue.popleft()
        self.state = ConnectionState.BUSY
        job.reused = self.requests_sent > 0
        self.requests_sent += 1
        self._send(job)

    def _cancel(self, job: Job) -> None:
        if job is self._job:
            self._abandon()
            self._advance()
        elif job in self._queue:
            self._queue.remove(job)
            if not self._queue and self.state is ConnectionState.CONNECTING and self._bev is None:
                self._stop_dial()
                self._retry_timer.delete()  # else it would dial again beside a later request's
                self._retry_count = 0
                self.state = ConnectionState.DISCONNECTED

    # -- dialing and retrying ----------------------------------------------------------

    def _start_dial(self) -> None:
        self._stop_dial()  # never two dials at once: the older one would be orphaned
        self._retry_timer.delete()
        self.state = ConnectionState.CONNECTING
        dial = Dial(
            self.base,
            self.target,
            self._on_dialed,
            timeout=self.timeouts.connect,
            resolver=self.resolver,
        )
        self._dial = dial
        dial.start()

    def _stop_dial(self) -> None:
        if self._dial is not None:
            self._dial.cancel()
            self._dial = None

    def _on_dialed(self, bev: BufferEvent | None, error: BaseException | None) -> None:
        dial, self._dial = self._dial, None
        if bev is None:
            assert error is not None
            self._connect_failed(error)
            return
        self._retry_count = 0
        self.peer = dial.peer if dial is not None else None
        self.requests_sent = 0
        self.state = ConnectionState.IDLE
        self._attach(bev)
        self._advance()

    def _connect_failed(self, error: BaseException) -> None:
        if self.retries == -1 or self._retry_count < self.retries:
            delay = min(self.initial_retry_delay * (2**self._retry_count), MAX_RETRY_DELAY)
            self._retry_count += 1
            log.debug(
                "%s: %s; retry %d in %.3g s", self.target.address, error, self._retry_count, delay
            )
            self._retry_timer.add(delay)
            return
        self._retry_count = 0
        self.state = ConnectionState.DISCONNECTED
        jobs = list(self._queue)
        self._queue.clear()
        for i, job in enumerate(jobs):
            job.future._set_error(error if i == 0 else _copy_error(error))  # each its .request
        self._advance()  # callbacks may have queued more: they get a fresh attempt

    def _on_retry(self, fd: int, what: int, arg: Any) -> None:
        if self.state is ConnectionState.CONNECTING and self._queue:
            self._start_dial()
        elif self.state is ConnectionState.CONNECTING:
            self.state = ConnectionState.DISCONNECTED

    # -- what ExchangeIO reports -------------------------------------------------------

    def _exchange_ended(self, keep_alive: bool) -> None:
        """The response ended (or failed, with keep_alive False): move the queue on."""
        if keep_alive and self._bev is not None:
            self.state = ConnectionState.IDLE
            self._idle()
        else:
            self._drop_connection()
        self._advance()

    def _retry_later(self, job: Job) -> None:
        """Send ``job`` again first, over a new connection."""
        job.retried = True
        job.reset()
        self._queue.appendleft(job)

    def _connection_lost(self) -> None:
        """The socket went away while idle (close detection) or after an exchange."""
        if self.state is not ConnectionState.CLOSED:
            self.state = ConnectionState.DISCONNECTED
        if self.on_close is not None:
            self.on_close(self)


def _copy_error(error: BaseException) -> BaseException:
    """A copy of ``error`` for another request (same type, fields and cause)."""
    twin = copy.copy(error)
    twin.__cause__ = error.__cause__
    if hasattr(twin, "request"):
        twin.request = None
    return twin
