"""Listener: accept connections on a listening socket (libevent's ``evconnlistener``).

>>> def on_accept(listener, sock, address):
...     ...                                   # sock is yours: non-blocking, close-on-exec
>>> with Listener.bind(base, on_accept, ("127.0.0.1", 0)) as listener:
...     port = listener.address[1]
...     base.dispatch()

A listener is one persistent READ event on the listening socket. When the
socket becomes readable it calls ``accept()`` repeatedly until the kernel
has no connection left (EAGAIN), passing each new socket to
``callback(listener, sock, address)``. Details that matter:

* **Bounded accepting.** At most :data:`MAX_ACCEPTS_PER_WAKEUP` (64)
  connections are accepted per wake-up. The event is level-triggered, so
  connections left in the backlog wake the listener again on the next
  loop iteration, after the other ready events have had their turn: a
  flood on one listener cannot starve the loop.
* **Stopping early.** The loop stops as soon as the callback disables or
  closes the listener; the remaining connections stay in the backlog.
* **Errors.** Errors that concern one connection or are transient
  (EAGAIN, EINTR, ECONNABORTED, EPROTO, ENETDOWN, EHOSTUNREACH, EPERM...)
  are ignored. Any other error (EMFILE, ENFILE, ENOBUFS, ENOMEM, EINVAL on
  a socket that is not listening...) is passed to
  ``error_callback(listener, exc)``, or logged as a warning on the
  ``evweb.io`` logger when there is no error callback. The listener stays
  enabled, as in libevent: an error that persists is reported again on
  every wake-up until the error callback disables or closes the listener.
* **The reserve fd (EMFILE).** Out of file descriptors, ``accept()`` fails
  and leaves the connection in the backlog, so the socket stays readable
  and a naive loop spins. Each listener therefore holds one spare fd (an
  open ``/dev/null``). On EMFILE or ENFILE it closes the spare, accepts
  the pending connection, closes it at once (the client sees the
  connection closed, a clean refusal), reopens the spare and then reports
  the error. Up to the per-wake-up bound, every connection waiting in the
  backlog is refused this way; the error is reported once per wake-up.
* **Callback ownership.** The accepted socket belongs to the callback,
  which must close it (or hand it to something that will). With
  ``LEAVE_SOCKETS_BLOCKING`` it is in blocking mode, otherwise
  non-blocking; it is always close-on-exec (Python creates every fd so).
* **Threads.** With ``THREADSAFE`` a lock guards the listener and is held
  while callbacks run, so :meth:`disable`, :meth:`enable`, :meth:`close`
  and the setters may be called from any thread: once :meth:`disable`
  returns, no new callback starts. Use it with a thread-safe base
  (``EventConfig(threadsafe=True)``) so that the event changes reach the
  loop thread.

Differences from libevent: a listener built from ``address`` applies
``CLOSE_ON_EXEC`` always (Python's sockets are close-on-exec); setting a
``None`` callback makes the listener wait (connections stay in the backlog)
instead of accepting and closing them; libevent's closing of connections
whose peer address has length 0 (old Linux kernels answering nmap) has no
Python equivalent and is not done.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from evweb.errors import AddressError, ListenerConfigError, ListenerStateError
from evweb.io.sockets import (
    is_numeric_host,
    make_listen_socket_ipv6only,
    make_listen_socket_not_ipv6only,
    make_listen_socket_reuseable,
    make_listen_socket_reuseable_port,
    make_tcp_listen_socket_deferred,
    set_tcp_keepalive,
)
from evweb.reactor import PERSIST, READ, Event, EventBase

__all__ = [
    "DEFAULT_BACKLOG",
    "MAX_ACCEPTS_PER_WAKEUP",
    "AcceptCallback",
    "AddressError",
    "ErrorCallback",
    "Listener",
    "ListenerConfigError",
    "ListenerFlag",
    "ListenerStateError",
]

log = logging.getLogger("evweb.io")

DEFAULT_BACKLOG = 128
"""The ``listen()`` backlog used for a negative ``backlog`` (libevent's choice)."""

MAX_ACCEPTS_PER_WAKEUP = 64
"""The most connections one wake-up accepts before yielding to the loop."""

BIND_KEEPALIVE_SECS = 300
"""TCP keep-alive idle time set on TCP sockets the listener creates, as libevent."""


class ListenerFlag(enum.IntFlag):
    """Options of a :class:`Listener`, with libevent's ``LEV_OPT_*`` values."""

    NONE = 0
    LEAVE_SOCKETS_BLOCKING = 1 << 0
    """Hand accepted sockets over in blocking mode."""
    CLOSE_ON_FREE = 1 << 1
    """:meth:`Listener.close` closes the listening socket (:meth:`Listener.bind` sets it)."""
    CLOSE_ON_EXEC = 1 << 2
    """Close-on-exec on the sockets; always the case in Python, accepted for compatibility."""
    REUSEABLE = 1 << 3
    """SO_REUSEADDR on a socket the listener creates (refused for Unix sockets)."""
    THREADSAFE = 1 << 4
    """Guard the listener with a lock so any thread may call its methods."""
    DISABLED = 1 << 5
    """Start disabled; :meth:`Listener.enable` starts accepting."""
    DEFERRED_ACCEPT = 1 << 6
    """TCP_DEFER_ACCEPT where available: report a connection once the client has sent data."""
    REUSEABLE_PORT = 1 << 7
    """SO_REUSEPORT on a socket the listener creates (refused for Unix sockets)."""
    BIND_IPV6ONLY = 1 << 8
    """IPV6_V6ONLY on an IPv6 socket the listener creates."""
    BIND_IPV4_AND_IPV6 = 1 << 9
    """Clear IPV6_V6ONLY on an IPv6 socket the listener creates (accept v4-mapped too)."""


AcceptCallback = Callable[["Listener", socket.socket, Any], object]
"""``callback(listener, sock, address)``: ``sock`` is the accepted connection, now the callee's."""

ErrorCallback = Callable[["Listener", OSError], object]
"""``error_callback(listener, exc)`` for an ``accept()`` error that is not retriable."""

Address = Any
"""A socket address: ``(host, port)``, ``(host, port, flowinfo, scope_id)``, or a Unix path."""

_WOULD_BLOCK = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})
_RETRIABLE = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNABORTED",
        "ECONNRESET",
        "EPROTO",
        "ENETDOWN",
        "ENETUNREACH",
        "ENOPROTOOPT",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "ENONET",
        "EOPNOTSUPP",
        "EPERM",
        "ETIMEDOUT",
    )
    if hasattr(errno, name)
)
_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE})


class Listener:
    """Accepts connections on a listening socket and hands each to ``callback``.

    Give either ``sock`` (a socket object or a raw fd, bound and possibly
    listening: libevent's ``evconnlistener_new``) or ``address`` (a socket
    is created, configured from ``flags``, bound and listened:
    ``evconnlistener_new_bind``; :meth:`bind` is the short form).

    ``address`` is ``(host, port)`` or an IPv6 4-tuple for TCP (the family
    comes from the numeric host, else from a blocking ``getaddrinfo``; port 0
    picks a free port, see :attr:`address`), or a ``str``/``bytes``/path for a
    Unix socket. ``family`` forces the address family.

    ``backlog`` > 0 calls ``listen(backlog)``, a negative one
    ``listen(128)``, and 0 means the socket is already listening (only with
    ``sock``: a socket the listener creates cannot be). The listening socket
    is put in non-blocking mode.

    ``REUSEABLE``, ``REUSEABLE_PORT``, ``DEFERRED_ACCEPT``, ``BIND_IPV6ONLY``
    and ``BIND_IPV4_AND_IPV6`` act only on a socket the listener creates
    (they are ignored with ``sock``, as in libevent). Without
    ``CLOSE_ON_FREE`` :meth:`close` leaves the socket open: a socket object
    stays usable through :attr:`socket`, a raw fd stays open for its owner.

    Raises :class:`ListenerConfigError` (a ``ValueError``) for arguments that
    cannot work, naming the culprit, and lets the kernel's :class:`OSError`
    (address in use, ...) through; a socket the listener created is closed
    first.
    """

    __slots__ = (
        "__weakref__",
        "_callback",
        "_closed",
        "_enabled",
        "_error_callback",
        "_event",
        "_flags",
        "_lock",
        "_raw_fd",
        "_sock",
        "_spare",
    )

    def __init__(
        self,
        base: EventBase,
        callback: AcceptCallback | None,
        *,
        sock: socket.socket | int | None = None,
        address: Address | None = None,
        family: socket.AddressFamily | int | None = None,
        backlog: int = -1,
        flags: ListenerFlag | int = ListenerFlag.NONE,
    ) -> None:
        flags = ListenerFlag(flags)
        if callback is not None and not callable(callback):
            raise ListenerConfigError(f"callback {callback!r} is not callable")
        if isinstance(backlog, bool) or not isinstance(backlog, int):
            raise ListenerConfigError(f"backlog must be an int, got {backlog!r}")
        if (sock is None) == (address is None):
            raise ListenerConfigError("give exactly one of sock= and address=")
        created = sock is None
        if sock is None:
            self._sock = _create_bound_socket(address, family, backlog, flags)
            self._raw_fd = False
        else:
            if family is not None:
                raise ListenerConfigError("family= applies only with address=")
            self._sock, self._raw_fd = _adopt(sock)
        self._flags = flags
        self._callback = callback
        self._error_callback: ErrorCallback | None = None
        self._enabled = False
        self._closed = False
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if flags & ListenerFlag.THREADSAFE else nullcontext()
        )
        self._spare = -1
        try:
            if backlog != 0:
                self._sock.listen(backlog if backlog > 0 else DEFAULT_BACKLOG)
            self._sock.setblocking(False)
            self._event: Event = base.event(self._sock, READ | PERSIST, self._on_readable)
            self._spare = _open_spare()
            if not flags & ListenerFlag.DISABLED:
                self.enable()
        except BaseException:
            if self._spare >= 0:
                os.close(self._spare)
            if created:
                self._sock.close()
            elif self._raw_fd:
                self._sock.detach()
            raise

    @classmethod
    def bind(
        cls,
        base: EventBase,
        callback: AcceptCallback | None,
        address: Address,
        *,
        family: socket.AddressFamily | int | None = None,
        backlog: int = -1,
        flags: ListenerFlag | int = ListenerFlag.NONE,
    ) -> Listener:
        """Listen on a new socket bound to ``address`` (``evconnlistener_new_bind``).

        Adds ``CLOSE_ON_FREE``: :meth:`close` closes the socket. ``backlog``
        0 is refused with :class:`ListenerConfigError`.
        """
        return cls(
            base,
            callback,
            address=address,
            family=family,
            backlog=backlog,
            flags=ListenerFlag(flags) | ListenerFlag.CLOSE_ON_FREE,
        )

    # --- enabling -------------------------------------------------------------------

    def enable(self) -> None:
        """Start (or resume) accepting (``evconnlistener_enable``).

        Without a callback the listener only remembers it is enabled and
        starts once :meth:`set_callback` gives one. Raises
        :class:`ListenerStateError` on a closed listener.
        """
        with self._lock:
            if self._closed:
                raise ListenerStateError("cannot enable a closed listener")
            self._enabled = True
            if self._callback is not None:
                self._event.add()

    def disable(self) -> None:
        """Stop accepting; new connections wait in the backlog (``evconnlistener_disable``).

        Called from the accept callback, the accept loop stops after it.
        Does nothing on a closed listener.
        """
        with self._lock:
            self._enabled = False
            if not self._closed:
                self._event.delete(wait=False)

    @property
    def enabled(self) -> bool:
        """True while the listener is enabled (it accepts only with a callback)."""
        return self._enabled

    # --- callbacks ------------------------------------------------------------------

    def set_callback(self, callback: AcceptCallback | None) -> None:
        """Replace the accept callback (``evconnlistener_set_cb``).

        ``None`` makes an enabled listener wait, connections staying in the
        backlog, until a callback is set again.
        """
        if callback is not None and not callable(callback):
            raise ListenerConfigError(f"callback {callback!r} is not callable")
        with self._lock:
            self._callback = callback
            if self._closed or not self._enabled:
                return
            if callback is None:
                self._event.delete(wait=False)
            else:
                self._event.add()

    @property
    def callback(self) -> AcceptCallback | None:
        """The accept callback."""
        return self._callback

    def set_error_callback(self, error_callback: ErrorCallback | None) -> None:
        """Call ``error_callback(listener, exc)`` on non-retriable accept errors (None: log)."""
        if error_callback is not None and not callable(error_callback):
            raise ListenerConfigError(f"error callback {error_callback!r} is not callable")
        with self._lock:
            self._error_callback = error_callback

    @property
    def error_callback(self) -> ErrorCallback | None:
        """The error callback, or None."""
        return self._error_callback

    # --- accessors ------------------------------------------------------------------

    @property
    def base(self) -> EventBase:
        """The base the listener's event belongs to (``evconnlistener_get_base``)."""
        return self._event.base

    @property
    def socket(self) -> socket.socket:
        """The listening socket."""
        return self._sock

    @property
    def fileno(self) -> int:
        """The listening socket's fd (``evconnlistener_get_fd``); the last value after close."""
        return self._event.fd

    @property
    def family(self) -> int:
        """The listening socket's address family."""
        return int(self._sock.family)

    @property
    def address(self) -> Address:
        """The bound address (``getsockname()``): with port 0, the port the kernel picked."""
        if self._closed and self._sock.fileno() < 0:
            raise ListenerStateError("the listener is closed and its socket with it")
        return self._sock.getsockname()

    @property
    def flags(self) -> ListenerFlag:
        """The flags the listener was created with."""
        return self._flags

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    # --- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Stop for good (``evconnlistener_free``); closes the socket with ``CLOSE_ON_FREE``.

        Safe to call from the accept or error callback, and more than once.
        From another thread (on a thread-safe base) it returns once the loop
        no longer watches the socket.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._enabled = False
            self._callback = None
            self._error_callback = None
        self._event.delete()
        if self._spare >= 0:
            os.close(self._spare)
            self._spare = -1
        if self._flags & ListenerFlag.CLOSE_ON_FREE:
            self._sock.close()
        elif self._raw_fd:
            self._sock.detach()

    free = close

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "enabled" if self._enabled else "disabled"
        return f"<Listener fd={self.fileno} {state}>"

    # --- accepting ------------------------------------------------------------------

    def _on_readable(self, fd: int, what: int, arg: Any) -> None:
        with self._lock:
            if self._closed or not self._enabled or self._callback is None:
                return
            error: OSError | None = None
            for _ in range(MAX_ACCEPTS_PER_WAKEUP):
                callback = self._callback
                if callback is None:  # cleared by the callback: wait in the backlog
                    break
                try:
                    conn, address = self._sock.accept()
                except OSError as exc:
                    code = exc.errno
                    if code in _WOULD_BLOCK:
                        break
                    if code in _RETRIABLE:
                        continue
                    error = exc
                    if code in _OUT_OF_FDS and self._refuse_one():
                        continue
                    break
                conn.setblocking(bool(self._flags & ListenerFlag.LEAVE_SOCKETS_BLOCKING))
                callback(self, conn, address)
                if self._closed or not self._enabled:
                    break
            if error is not None and not self._closed:
                self._report(error)

    def _refuse_one(self) -> bool:
        """Accept one pending connection with the spare fd and close it; True if done."""
        if self._spare < 0:
            self._spare = _open_spare()  # maybe an fd was freed since
            return False
        os.close(self._spare)
        self._spare = -1
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return False
        else:
            conn.close()
            return True
        finally:
            self._spare = _open_spare()

    def _report(self, error: OSError) -> None:
        handler = self._error_callback
        if handler is not None:
            handler(self, error)
        else:
            log.warning("listener on fd %d: accept() failed: %s", self._event.fd, error)


def _open_spare() -> int:
    try:
        return os.open(os.devnull, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return -1


def _adopt(sock: socket.socket | int) -> tuple[socket.socket, bool]:
    """The socket object to use for ``sock``, and whether it wraps a caller's raw fd."""
    if isinstance(sock, socket.socket):
        if sock.fileno() < 0:
            raise ListenerConfigError(f"socket {sock!r} is closed")
        return sock, False
    if isinstance(sock, bool) or not isinstance(sock, int):
        raise ListenerConfigError(f"sock must be a socket or an fd, got {sock!r}")
    if sock < 0:
        raise ListenerConfigError(f"invalid fd {sock}")
    try:
        return socket.socket(fileno=sock), True
    except OSError as exc:
        raise ListenerConfigError(f"fd {sock} is not a usable socket: {exc}") from exc


def _resolve(
    address: Address, family: socket.AddressFamily | int | None
) -> tuple[socket.AddressFamily, Address]:
    """The family and the ``bind()`` argument for ``address``."""
    if isinstance(address, (str, bytes, os.PathLike)):
        if family is not None and family != socket.AF_UNIX:
            raise ListenerConfigError(f"a path address {address!r} needs family AF_UNIX")
        path = os.fspath(address)
        if not path:
            raise ListenerConfigError("empty Unix socket path")
        return socket.AF_UNIX, path
    if not isinstance(address, tuple) or len(address) not in (2, 4):
        raise ListenerConfigError(
            f"address must be (host, port), (host, port, flowinfo, scope_id) or a path,"
            f" got {address!r}"
        )
    host, port = address[0], address[1]
    if not isinstance(host, str):
        raise ListenerConfigError(f"host must be a str, got {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ListenerConfigError(f"port must be an int in 0..65535, got {port!r}")
    if family is not None:
        return socket.AddressFamily(family), address
    if host == "" or is_numeric_host(host, socket.AF_INET):
        return socket.AF_INET, address
    if is_numeric_host(host, socket.AF_INET6):
        return socket.AF_INET6, address
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise ListenerConfigError(f"{host!r} resolves to no address")
    return infos[0][0], infos[0][4]


def _create_bound_socket(
    address: Address,
    family: socket.AddressFamily | int | None,
    backlog: int,
    flags: ListenerFlag,
) -> socket.socket:
    """A new socket configured from ``flags`` and bound to ``address`` (not yet listening)."""
    if backlog == 0:
        raise ListenerConfigError(
            "backlog=0 means 'already listening', impossible for a socket the listener"
            " creates: pass a positive backlog, or -1 for the default"
        )
    fam, sockaddr = _resolve(address, family)
    unix = hasattr(socket, "AF_UNIX") and fam == socket.AF_UNIX
    if unix:
        for flag in (
            ListenerFlag.REUSEABLE,
            ListenerFlag.REUSEABLE_PORT,
            ListenerFlag.DEFERRED_ACCEPT,
        ):
            if flags & flag:
                raise ListenerConfigError(
                    f"{flag.name} does not apply to a Unix socket (bind would fail or mislead)"
                )
    v6_flags = flags & (ListenerFlag.BIND_IPV6ONLY | ListenerFlag.BIND_IPV4_AND_IPV6)
    if v6_flags and fam != socket.AF_INET6:
        raise ListenerConfigError(f"{v6_flags!r} applies only to an IPv6 address")
    if v6_flags == ListenerFlag.BIND_IPV6ONLY | ListenerFlag.BIND_IPV4_AND_IPV6:
        raise ListenerConfigError("BIND_IPV6ONLY and BIND_IPV4_AND_IPV6 contradict each other")
    sock = socket.socket(fam, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if not unix:
            set_tcp_keepalive(sock, True, BIND_KEEPALIVE_SECS)
        if flags & ListenerFlag.REUSEABLE:
            make_listen_socket_reuseable(sock)
        if flags & ListenerFlag.REUSEABLE_PORT:
            make_listen_socket_reuseable_port(sock)
        if flags & ListenerFlag.DEFERRED_ACCEPT:
            make_tcp_listen_socket_deferred(sock)
        if flags & ListenerFlag.BIND_IPV6ONLY:
            make_listen_socket_ipv6only(sock)
        if flags & ListenerFlag.BIND_IPV4_AND_IPV6:
            make_listen_socket_not_ipv6only(sock)
        sock.bind(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock
