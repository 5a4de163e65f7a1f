"""Connecting a SocketBufferEvent to a host name, trying every address (Happy Eyeballs v2).

libevent's ``bufferevent_socket_connect_hostname`` connects to the first
address only (libevent issue #263). :func:`connect_hostname` resolves the
name through a :class:`~evweb.io.resolve.Resolver`, orders the addresses as
RFC 8305 asks (the first address's family, then the other family, then
alternating) and races them: each attempt gets a head start of
``attempt_delay`` (250 ms, RFC 8305's "Connection Attempt Delay") before the
next one begins, and an attempt that fails starts the next at once. The
first socket to connect wins; the others are closed.

Why the race uses raw sockets and not the BufferEvent: a SocketBufferEvent
owns one socket, and ``SocketBufferEvent.connect`` both creates it and
reports the outcome. Racing several attempts through it would mean
replacing its socket mid-connect. Instead each attempt is a plain
non-blocking socket watched by our own one-shot WRITE event; the winner is
handed over with the public ``setfd`` (the BufferEvent then owns it:
CLOSE_ON_FREE is set, as ``connect`` does for a socket it creates) and
CONNECTED is reported through ``SocketBufferEvent._connected``, so the
user's event callback runs exactly as after ``connect`` (deferred when the
BufferEvent defers; after the handshake for TLS). That protected method is
used deliberately: this module belongs to ``evweb.io``.

Failures are reported as libevent does: resolution failing gives ERROR with
the :class:`socket.gaierror` in ``bev.error`` and its EAI code in
:attr:`HostnameConnect.dns_error` (and :func:`dns_error`); every address
failing gives ERROR with the last :class:`OSError`. The BufferEvent's write
timeout, when set, bounds the connecting phase (WRITING|TIMEOUT, as a
libevent connect times out). Closing the BufferEvent cancels everything at
once (its ``close`` calls :func:`cancel_pending_connect`), as does
:meth:`HostnameConnect.cancel`.
"""

from __future__ import annotations

import errno
import os
import socket
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from evweb.errors import ConfigError, EventStateError, EvwebTimeoutError
from evweb.io.bevflags import ERROR, TIMEOUT, WRITING, BevOption
from evweb.io.resolve import (
    FAMILIES,
    Addresses,
    NumericResolver,
    ResolveHandle,
    Resolver,
    SockAddr,
    default_resolver,
)
from evweb.io.socket_bev import SocketBufferEvent
from evweb.io.sockets import is_numeric_host
from evweb.reactor import WRITE, Callback, Event, EventBase

ATTEMPT_DELAY = 0.25
"""RFC 8305's recommended Connection Attempt Delay, in seconds."""

Connector = Callable[[int, SockAddr], socket.socket]
"""``connector(family, sockaddr)``: a non-blocking stream socket whose connect has begun.

It raises :class:`OSError` when the connect fails at once. Tests inject one.
"""

_IN_PROGRESS = {0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR}


def start_connect(
    family: int, sockaddr: SockAddr, local_address: SockAddr | None = None
) -> socket.socket:
    """The default :data:`Connector`: a new TCP socket, non-blocking, connecting.

    With ``local_address`` the socket is bound to it first (libevent's
    ``evhttp_connection_set_local_address``); its family must match.
    """
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if local_address is not None:
            sock.bind(local_address)
        code = sock.connect_ex(sockaddr)
    except BaseException:
        sock.close()
        raise
    if code not in _IN_PROGRESS:
        sock.close()
        raise OSError(code, os.strerror(code))
    return sock


def interleave(addresses: Addresses) -> Addresses:
    """RFC 8305 §4 order: alternate families, starting with the first address's family."""
    if not addresses:
        return []
    first = addresses[0][0]
    primary = [a for a in addresses if a[0] == first]
    secondary = [a for a in addresses if a[0] != first]
    out: Addresses = []
    for i in range(max(len(primary), len(secondary))):
        out += primary[i : i + 1] + secondary[i : i + 1]
    return out


class _Attempt:
    """One racing socket and the one-shot WRITE event that tells how its connect ended."""

    __slots__ = ("event", "sock", "sockaddr")

    def __init__(
        self, base: EventBase, sock: socket.socket, sockaddr: SockAddr, callback: Callback
    ) -> None:
        self.sock = sock
        self.sockaddr = sockaddr
        self.event = Event(base, sock, WRITE, callback, self)
        self.event.add()


class HostnameConnect:
    """One :func:`connect_hostname`: its progress and, once over, its outcome.

    ``dns_error`` is the EAI code of a failed resolution (0 otherwise),
    ``addresses`` what the resolver returned, ``tried`` the sockaddrs
    attempted in order, ``address`` the one that connected, ``error`` why
    it failed. ``done`` turns True once CONNECTED or ERROR was reported or
    the connect was cancelled.
    """

    def __init__(
        self,
        bev: SocketBufferEvent,
        host: str,
        port: int,
        attempt_delay: float,
        connector: Connector,
    ) -> None:
        self.host = host
        self.port = port
        self.attempt_delay = attempt_delay
        self.dns_error = 0
        self.addresses: Addresses = []
        self.tried: list[SockAddr] = []
        self.address: SockAddr | None = None
        self.error: BaseException | None = None
        self.done = False
        self._bev: SocketBufferEvent | None = bev
        self._connector = connector
        self._queue: deque[tuple[int, SockAddr]] = deque()
        self._attempts: list[_Attempt] = []
        self._lookup: ResolveHandle | None = None
        self._base = base = bev.base
        self._delay = base.timer(self._on_delay)
        self._deadline = base.timer(self._on_deadline)

    def __repr__(self) -> str:
        state = "done" if self.done else f"{len(self._attempts)} attempts"
        return f"<HostnameConnect {self.host}:{self.port} {state}>"

    def cancel(self) -> None:
        """Stop resolving and connecting, close every attempt; no callback will run."""
        if not self.done:
            self._end()

    # --- resolution ---------------------------------------------------------------

    def _start(self, resolver: Resolver, family: int) -> None:
        self._lookup = resolver.resolve(self.host, self.port, family, self._on_resolved)

    def _on_resolved(self, result: Addresses | Exception) -> None:
        self._lookup = None
        if self._bev_gone():
            return
        if isinstance(result, Exception):
            if isinstance(result, socket.gaierror) and result.errno is not None:
                self.dns_error = result.errno
            else:
                self.dns_error = socket.EAI_FAIL
            self._fail(ERROR, result)
            return
        if not result:
            self.dns_error = socket.EAI_NONAME
            self._fail(ERROR, socket.gaierror(socket.EAI_NONAME, f"no address for {self.host}"))
            return
        self.addresses = list(result)
        self._queue.extend(interleave(self.addresses))
        bev = self._bev
        if bev is not None and bev.write_timeout is not None:
            self._deadline.add(bev.write_timeout)
        self._start_next()

    # --- the race -------------------------------------------------------------------

    def _start_next(self) -> None:
        """Start the next address (skipping those that fail at once), re-arm the delay."""
        self._delay.delete()
        while self._queue:
            family, sockaddr = self._queue.popleft()
            self.tried.append(sockaddr)
            try:
                sock = self._connector(family, sockaddr)
            except OSError as exc:
                self.error = exc
                continue
            self._attempts.append(_Attempt(self._base, sock, sockaddr, self._on_writable))
            if self._queue:
                self._delay.add(self.attempt_delay)
            return
        if not self._attempts:
            error = self.error or OSError(errno.EHOSTUNREACH, f"no address of {self.host} works")
            self._fail(ERROR, error)

    def _on_delay(self, fd: int, what: int, arg: Any) -> None:
        if not self._bev_gone():
            self._start_next()

    def _on_writable(self, fd: int, what: int, attempt: _Attempt) -> None:
        if self._bev_gone():
            return
        code = attempt.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == 0:
            self._win(attempt)
            return
        self._attempts.remove(attempt)
        attempt.sock.close()
        self.error = OSError(code, os.strerror(code))
        self._start_next()  # a failure gives the next address its turn at once

    def _on_deadline(self, fd: int, what: int, arg: Any) -> None:
        if not self._bev_gone():
            self._fail(WRITING | TIMEOUT, EvwebTimeoutError(f"connecting to {self.host} timed out"))

    # --- outcome --------------------------------------------------------------------

    def _win(self, winner: _Attempt) -> None:
        bev = self._bev
        assert bev is not None
        self._attempts.remove(winner)
        winner.event.delete()
        self._end()
        self.address = winner.sockaddr
        self.error = None
        bev.options |= BevOption.CLOSE_ON_FREE  # the socket is ours, as with connect()
        bev.setfd(winner.sock)
        bev._connected()  # CONNECTED now, or (TLS) once the handshake is done

    def _fail(self, what: int, error: BaseException) -> None:
        bev = self._bev
        assert bev is not None
        self._end()
        self.error = error
        bev._call_event(what, None if what & TIMEOUT else error)

    def _end(self) -> None:
        """Release everything; the BufferEvent is no longer ours to call."""
        self.done = True
        self._bev = None
        if self._lookup is not None:
            self._lookup.cancel()
            self._lookup = None
        for attempt in self._attempts:
            attempt.event.delete()
            attempt.sock.close()
        self._attempts.clear()
        self._queue.clear()
        self._delay.delete()
        self._deadline.delete()

    def _bev_gone(self) -> bool:
        """Cancel if the BufferEvent was closed meanwhile; True when there is nothing to do."""
        if self.done:
            return True
        bev = self._bev
        if bev is None or bev.closed:
            self._end()
            return True
        return False


_last_connect: weakref.WeakKeyDictionary[SocketBufferEvent, HostnameConnect] = (
    weakref.WeakKeyDictionary()
)


def connect_hostname(
    bev: SocketBufferEvent,
    host: str,
    port: int,
    family: int = socket.AF_UNSPEC,
    resolver: Resolver | None = None,
    *,
    attempt_delay: float = ATTEMPT_DELAY,
    connector: Connector = start_connect,
) -> HostnameConnect:
    """Resolve ``host`` and connect ``bev`` to the first of its addresses that answers.

    ``bev`` must have no socket yet. Its event callback then gets CONNECTED
    (``bev.socket`` is the winner), or ERROR (``bev.error``: the
    :class:`socket.gaierror` or the last :class:`OSError`). ``resolver``
    defaults to a :class:`~evweb.io.resolve.ThreadResolver` shared by the
    base; ``family`` is AF_UNSPEC, AF_INET or AF_INET6. A connect still in
    progress on ``bev`` is cancelled first.
    """
    if bev.closed:
        raise EventStateError("cannot connect a closed BufferEvent")
    if bev.socket is not None:
        raise ConfigError("connect_hostname needs a BufferEvent without a socket")
    if family not in FAMILIES:
        raise ConfigError(f"family must be AF_UNSPEC, AF_INET or AF_INET6, got {family}")
    if attempt_delay < 0:
        raise ConfigError(f"attempt_delay must be >= 0, got {attempt_delay}")
    previous = _last_connect.get(bev)
    if previous is not None:
        previous.cancel()
    op = HostnameConnect(bev, host, port, attempt_delay, connector)
    _last_connect[bev] = op
    try:
        if resolver is None:  # an address needs no resolver set up, a name the base's default
            numeric = is_numeric_host(host.strip("[]"))
            resolver = NumericResolver(bev.base) if numeric else default_resolver(bev.base)
        op._start(resolver, family)
    except BaseException:
        op.cancel()
        raise
    return op


def dns_error(bev: SocketBufferEvent) -> int:
    """The EAI code of ``bev``'s last :func:`connect_hostname` resolution (0: none)."""
    op = _last_connect.get(bev)
    return op.dns_error if op is not None else 0


def cancel_pending_connect(bev: SocketBufferEvent) -> None:
    """Stop a :func:`connect_hostname` still running for ``bev`` (its close() calls this)."""
    op = _last_connect.get(bev)
    if op is not None and not op.done:
        op.cancel()
