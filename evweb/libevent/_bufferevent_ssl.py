"""``event2/bufferevent_ssl.h``: TLS bufferevents over :class:`evweb.io.TLSBufferEvent`.

``bufferevent_openssl_filter_new`` (TLS over another bufferevent) makes a
:class:`evweb.io.TLSFilterBufferEvent`; the other functions take either kind.

Where C hands over an ``SSL *`` set up by the caller, these functions take
an :class:`ssl.SSLContext` (and, for a client, the ``server_hostname``
C would set with ``SSL_set_tlsext_host_name``); the TLS runs over memory
BIOs, never a blocking ssl socket. The ``struct bufferevent *`` is the
TLS BufferEvent itself, so the ``bufferevent_*`` functions of
:mod:`evweb.libevent._bufferevent` work on it too.

``bufferevent_get_openssl_error`` returns the oldest :class:`ssl.SSLError`
not yet taken (C: an OpenSSL error code), or 0 when there is none.
``bufferevent_ssl_renegotiate`` returns -1: Python's ssl module cannot
start a renegotiation.
"""

from __future__ import annotations

import socket
import ssl

from evweb.errors import EvwebError
from evweb.io._tls_engine import TLSFlag, TLSState
from evweb.io._tls_session import TLSSession
from evweb.io.bufferevent import BufferEvent
from evweb.io.tls import TLSBufferEvent
from evweb.io.tls_filter import TLSFilterBufferEvent
from evweb.libevent._status import failed
from evweb.reactor import EventBase

BUFFEREVENT_SSL_OPEN = int(TLSState.OPEN)
BUFFEREVENT_SSL_CONNECTING = int(TLSState.CONNECTING)
BUFFEREVENT_SSL_ACCEPTING = int(TLSState.ACCEPTING)
BUFFEREVENT_SSL_DIRTY_SHUTDOWN = int(TLSFlag.DIRTY_SHUTDOWN)
BUFFEREVENT_SSL_BATCH_WRITE = int(TLSFlag.BATCH_WRITE)

_UINT64_MAX = (1 << 64) - 1  # C's EV_UINT64_MAX: "not an SSL bufferevent" / "no flags given"
_KNOWN = BUFFEREVENT_SSL_DIRTY_SHUTDOWN | BUFFEREVENT_SSL_BATCH_WRITE


def bufferevent_openssl_socket_new(
    base: EventBase,
    fd: int | socket.socket | None,
    ssl_context: ssl.SSLContext,
    state: int,
    options: int,
    server_hostname: str | None = None,
) -> TLSBufferEvent | None:
    """``TLSBufferEvent(base, fd, ssl_context, state, options)``; None where C returns NULL."""
    sock = None if fd is None or (isinstance(fd, int) and fd < 0) else fd
    try:
        return TLSBufferEvent(base, sock, ssl_context, state, options, server_hostname)
    except (EvwebError, OSError) as exc:
        failed("bufferevent_openssl_socket_new", exc)
        return None


def bufferevent_openssl_filter_new(
    base: EventBase,
    underlying: BufferEvent | None,
    ssl_context: ssl.SSLContext,
    state: int,
    options: int,
    server_hostname: str | None = None,
) -> TLSFilterBufferEvent | None:
    """``TLSFilterBufferEvent(underlying, ctx, state, options)``; None where C returns NULL."""
    if underlying is None or underlying.base is not base:
        return None
    try:
        return TLSFilterBufferEvent(underlying, ssl_context, state, options, server_hostname)
    except (EvwebError, OSError) as exc:
        failed("bufferevent_openssl_filter_new", exc)
        return None


def bufferevent_openssl_get_ssl(bev: BufferEvent) -> ssl.SSLObject | None:
    """``bev.ssl_object``; None for a bufferevent without TLS."""
    return bev.ssl_object if isinstance(bev, TLSSession) else None


def bufferevent_get_openssl_error(bev: BufferEvent) -> ssl.SSLError | int:
    """``bev.tls_errors.pop(0)``: the oldest TLS error not yet taken; 0 when none is left."""
    if isinstance(bev, TLSSession) and bev.tls_errors:
        return bev.tls_errors.pop(0)
    return 0


def bufferevent_ssl_renegotiate(bev: BufferEvent) -> int:
    """No equivalent: Python cannot start a renegotiation; returns -1."""
    return failed("bufferevent_ssl_renegotiate", EvwebError("renegotiation is not supported"))


def bufferevent_ssl_get_flags(bev: BufferEvent) -> int:
    """``bev.flags``; EV_UINT64_MAX for a bufferevent without TLS."""
    return int(bev.flags) if isinstance(bev, TLSSession) else _UINT64_MAX


def bufferevent_ssl_set_flags(bev: BufferEvent, flags: int) -> int:
    """``bev.set_flags(flags)``: the flags before, or EV_UINT64_MAX (no TLS, no known flag)."""
    if not isinstance(bev, TLSSession) or not flags & _KNOWN:
        return _UINT64_MAX
    return int(bev.set_flags(flags & _KNOWN))


def bufferevent_ssl_clear_flags(bev: BufferEvent, flags: int) -> int:
    """``bev.clear_flags(flags)``: the flags before, or EV_UINT64_MAX."""
    if not isinstance(bev, TLSSession) or not flags & _KNOWN:
        return _UINT64_MAX
    return int(bev.clear_flags(flags & _KNOWN))


def bufferevent_openssl_get_allow_dirty_shutdown(bev: BufferEvent) -> int:
    """``bev.dirty_shutdown`` as 1 or 0; EV_UINT64_MAX without TLS (deprecated API)."""
    flags = bufferevent_ssl_get_flags(bev)
    return flags if flags == _UINT64_MAX else int(bool(flags & BUFFEREVENT_SSL_DIRTY_SHUTDOWN))


def bufferevent_openssl_set_allow_dirty_shutdown(bev: BufferEvent, allow: int) -> None:
    """``bev.dirty_shutdown = bool(allow)`` (deprecated API)."""
    change = bufferevent_ssl_set_flags if allow else bufferevent_ssl_clear_flags
    change(bev, BUFFEREVENT_SSL_DIRTY_SHUTDOWN)
