"""``event2/listener.h``: evconnlistener over :class:`evweb.io.listener.Listener`.

Callbacks keep C's shape: ``cb(listener, fd, sockaddr, socklen, arg)``, where
``fd`` is the accepted socket's raw fd (the callback owns it: close it with
``os.close`` or wrap it with ``socket.socket(fileno=fd)``), ``sockaddr`` the
peer's Python address (tuple, or str for Unix sockets) and ``socklen`` the
length C's ``struct sockaddr`` would have; ``errorcb(listener, arg)``. The
``listener`` passed around is the :class:`Listener` itself, so the Pythonic
methods work on it too.

``evconnlistener_new_bind`` takes the address as Python's ``bind()`` argument
(``("127.0.0.1", 0)``, ``("::1", 0)`` or a Unix path); ``socklen`` is accepted
and ignored. As in C, without ``LEV_OPT_CLOSE_ON_FREE`` freeing the listener
leaves its fd open for the caller (see ``evconnlistener_get_fd``).
Constructors return None where C returns NULL, the reason being logged at
DEBUG on ``evweb.libevent``: ``evconnlistener_new`` wants a bound socket (an
int fd or a socket object; ``backlog`` 0 means it already listens, a
negative one listens with 128); ``evconnlistener_new_bind`` refuses
``backlog`` 0 and a None ``sa`` (C would listen on an unbound socket). A None
``cb`` makes the listener wait, connections staying in the backlog, until
``evconnlistener_set_cb`` gives one.
"""

from __future__ import annotations

import socket
import weakref
from collections.abc import Callable
from typing import Any

from evweb.errors import EvwebError
from evweb.io.listener import Listener, ListenerFlag
from evweb.libevent._status import failed, log
from evweb.reactor import EventBase

LEV_OPT_LEAVE_SOCKETS_BLOCKING = 1 << 0
LEV_OPT_CLOSE_ON_FREE = 1 << 1
LEV_OPT_CLOSE_ON_EXEC = 1 << 2
LEV_OPT_REUSEABLE = 1 << 3
LEV_OPT_THREADSAFE = 1 << 4
LEV_OPT_DISABLED = 1 << 5
LEV_OPT_DEFERRED_ACCEPT = 1 << 6
LEV_OPT_REUSEABLE_PORT = 1 << 7
LEV_OPT_BIND_IPV6ONLY = 1 << 8
LEV_OPT_BIND_IPV4_AND_IPV6 = 1 << 9

evconnlistener_cb = Callable[[Listener, int, Any, int, Any], object]
"""``cb(listener, fd, sockaddr, socklen, arg)``: a connection was accepted."""

evconnlistener_errorcb = Callable[[Listener, Any], object]
"""``errorcb(listener, arg)``: ``accept()`` failed with a non-retriable error."""


class _CState:
    """What C keeps in ``struct evconnlistener``: the C-shaped callbacks and their arg."""

    __slots__ = ("arg", "cb", "created", "errorcb")

    def __init__(self) -> None:
        self.cb: evconnlistener_cb | None = None
        self.errorcb: evconnlistener_errorcb | None = None
        self.arg: Any = None
        self.created = False  # the socket is the listener's own (evconnlistener_new_bind)


_states: weakref.WeakKeyDictionary[Listener, _CState] = weakref.WeakKeyDictionary()


def _state(lev: Listener) -> _CState:
    state = _states.get(lev)
    if state is None:
        state = _states[lev] = _CState()
    return state


def _socklen(family: int, address: Any) -> int:
    """The length C's accept() would report for ``address``."""
    if family == socket.AF_INET:
        return 16
    if family == socket.AF_INET6:
        return 28
    if isinstance(address, str):
        address = address.encode("utf-8", "surrogateescape")
    if not address:
        return 2  # an unnamed Unix socket: just sa_family
    if address[:1] == b"\0":
        return 2 + len(address)  # abstract namespace
    return 2 + len(address) + 1  # a path, with its NUL


def _on_accept(lev: Listener, sock: socket.socket, address: Any) -> None:
    state = _state(lev)
    cb = state.cb
    fd = sock.detach()
    if cb is None:  # pragma: no cover - the Listener waits while it has no callback
        socket.close(fd)
        return
    cb(lev, fd, address, _socklen(lev.family, address), state.arg)


def _on_error(lev: Listener, exc: OSError) -> None:
    state = _state(lev)
    log.debug("evconnlistener on fd %d: accept() failed: %s", lev.fileno, exc)
    if state.errorcb is not None:
        state.errorcb(lev, state.arg)


def evconnlistener_new(
    base: EventBase, cb: evconnlistener_cb | None, ptr: Any, flags: int, backlog: int, fd: Any
) -> Listener | None:
    """``Listener(base, cb, sock=fd, backlog=backlog, flags=flags)``; None on failure."""
    try:
        lev = Listener(base, None, sock=fd, backlog=backlog, flags=flags)
    except (EvwebError, OSError) as exc:
        failed("evconnlistener_new", exc)
        return None
    evconnlistener_set_cb(lev, cb, ptr)  # an enabled listener starts accepting here
    return lev


def evconnlistener_new_bind(
    base: EventBase,
    cb: evconnlistener_cb | None,
    ptr: Any,
    flags: int,
    backlog: int,
    sa: Any,
    socklen: int = 0,
) -> Listener | None:
    """``Listener(base, cb, address=sa, backlog=backlog, flags=flags)``; None on failure."""
    if sa is None:
        failed("evconnlistener_new_bind", ValueError("no address (sa is NULL)"))
        return None
    try:
        lev = Listener(
            base,
            None,
            address=sa,
            backlog=backlog,
            flags=flags,
        )
    except (EvwebError, OSError) as exc:
        failed("evconnlistener_new_bind", exc)
        return None
    _state(lev).created = True
    evconnlistener_set_cb(lev, cb, ptr)  # an enabled listener starts accepting here
    return lev


def evconnlistener_free(lev: Listener) -> None:
    """``lev.close()``; without LEV_OPT_CLOSE_ON_FREE the fd stays open, as in C."""
    state = _states.pop(lev, None)
    lev.close()
    created = state is not None and state.created
    if created and not lev.flags & ListenerFlag.CLOSE_ON_FREE and lev.socket.fileno() >= 0:
        lev.socket.detach()


def evconnlistener_enable(lev: Listener) -> int:
    """``lev.enable()``: 0, or -1 on a freed listener."""
    try:
        lev.enable()
    except EvwebError as exc:
        return failed("evconnlistener_enable", exc)
    return 0


def evconnlistener_disable(lev: Listener) -> int:
    """``lev.disable()``: 0."""
    lev.disable()
    return 0


def evconnlistener_get_base(lev: Listener) -> EventBase:
    """``lev.base``."""
    return lev.base


def evconnlistener_get_fd(lev: Listener) -> int:
    """``lev.fileno``: the listening socket's fd."""
    return lev.fileno


def evconnlistener_set_cb(lev: Listener, cb: evconnlistener_cb | None, arg: Any) -> None:
    """``lev.set_callback(...)``: the new callback and the arg errorcb shares (None: wait)."""
    state = _state(lev)
    state.cb = cb
    state.arg = arg
    lev.set_callback(_on_accept if cb is not None else None)


def evconnlistener_set_error_cb(lev: Listener, errorcb: evconnlistener_errorcb | None) -> None:
    """``lev.set_error_callback``: ``errorcb(lev, arg)`` on non-retriable accept errors."""
    _state(lev).errorcb = errorcb
    lev.set_error_callback(_on_error if errorcb is not None else None)
