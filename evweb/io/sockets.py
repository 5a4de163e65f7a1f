"""Small socket helpers: libevent's ``evutil`` socket functions (``event2/util.h``).

Each helper takes a :class:`socket.socket` or a raw fd and raises
:class:`OSError` when the kernel refuses (where libevent returns -1).

============================================  ==========================================
libevent                                      evweb
============================================  ==========================================
``evutil_parse_sockaddr_port``                :func:`parse_sockaddr_port`
``evutil_make_socket_nonblocking``            :func:`make_socket_nonblocking`
``evutil_make_socket_closeonexec``            :func:`make_socket_closeonexec`
``evutil_make_listen_socket_reuseable``       :func:`make_listen_socket_reuseable`
``evutil_make_listen_socket_reuseable_port``  :func:`make_listen_socket_reuseable_port`
``evutil_make_listen_socket_ipv6only``        :func:`make_listen_socket_ipv6only`
``evutil_make_listen_socket_not_ipv6only``    :func:`make_listen_socket_not_ipv6only`
``evutil_make_tcp_listen_socket_deferred``    :func:`make_tcp_listen_socket_deferred`
``evutil_set_tcp_keepalive``                  :func:`set_tcp_keepalive`
``evutil_socketpair``                         :func:`socketpair`
============================================  ==========================================

Python creates every fd close-on-exec already (PEP 446), so
:func:`make_socket_closeonexec` only matters for fds that were made
inheritable on purpose.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from evweb.errors import AddressError, ConfigError

__all__ = [
    "AddressError",
    "SocketLike",
    "make_listen_socket_ipv6only",
    "make_listen_socket_not_ipv6only",
    "make_listen_socket_reuseable",
    "make_listen_socket_reuseable_port",
    "make_socket_closeonexec",
    "make_socket_nonblocking",
    "make_tcp_listen_socket_deferred",
    "parse_sockaddr_port",
    "set_tcp_keepalive",
    "socketpair",
]

SocketLike = socket.socket | int
"""A socket object or a raw socket fd."""

_MAX_PORT = 65535
_MAX_HOST = 127  # libevent copies the address part into a 128-byte buffer

# FreeBSD 12+ balances load only with SO_REUSEPORT_LB; Python does not name it.
_SO_REUSEPORT_LB = 0x00010000


def parse_sockaddr_port(text: str) -> tuple[str, int]:
    """Split ``text`` into ``(host, port)`` with ``evutil_parse_sockaddr_port``'s rules.

    Accepted forms: ``[v6]:port``, ``[v6]``, ``v6``, ``v4:port`` and ``v4``
    (numeric addresses only; an IPv6 address may carry a ``%scope``). The
    port is 0 when absent; a given port must be decimal in 1..65535, so an
    explicit ``:0`` is refused, as in libevent. The host comes back without
    brackets, ready for a ``(host, port)`` socket address. Anything else
    raises :class:`AddressError` (a ``ValueError``). Stricter than libevent
    on one point: text after ``[v6]`` other than ``:port`` is refused
    instead of ignored.

    >>> parse_sockaddr_port("[::1]:8080")
    ('::1', 8080)
    >>> parse_sockaddr_port("127.0.0.1")
    ('127.0.0.1', 0)
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_sockaddr_port() takes a str, not {type(text).__name__}")
    port_text: str | None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise AddressError(text, "'[' without a matching ']'")
        host, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise AddressError(text, f"unexpected {rest!r} after ']'")
        port_text = rest[1:] if rest else None
        is_v6 = True
    else:
        colon = text.find(":")
        if colon >= 0 and text.find(":", colon + 1) >= 0:
            host, port_text, is_v6 = text, None, True
        elif colon >= 0:
            host, port_text, is_v6 = text[:colon], text[colon + 1 :], False
        else:
            host, port_text, is_v6 = text, None, False
    if len(host) > _MAX_HOST:
        raise AddressError(text, f"the address part is longer than {_MAX_HOST} characters")
    port = 0 if port_text is None else _parse_port(text, port_text)
    if not _is_numeric_host(host, socket.AF_INET6 if is_v6 else socket.AF_INET):
        kind = "IPv6" if is_v6 else "IPv4"
        raise AddressError(text, f"{host!r} is not a numeric {kind} address")
    return host, port


def _parse_port(text: str, port_text: str) -> int:
    if not port_text.isascii() or not port_text.isdigit():
        raise AddressError(text, f"port {port_text!r} is not a decimal number")
    port = int(port_text)
    if not 1 <= port <= _MAX_PORT:
        raise AddressError(text, f"port {port} is out of range 1..{_MAX_PORT}")
    return port


def _is_numeric_host(host: str, family: socket.AddressFamily) -> bool:
    if family == socket.AF_INET6 and "%" in host:
        scope = host.split("%", 1)[1]
        if not scope or "%" in scope:
            return False
    elif "%" in host:
        return False
    return is_numeric_host(host, family)


def is_numeric_host(host: str, family: int | None = None) -> bool:
    """Whether ``host`` (less any ``%scope``) is a numeric IPv4 or IPv6 address.

    With ``family``, only an address of that family counts.
    """
    bare = host.split("%", 1)[0]
    for fam in (socket.AF_INET, socket.AF_INET6) if family is None else (family,):
        try:
            socket.inet_pton(fam, bare)
        except (OSError, ValueError):
            continue
        return True
    return False


@contextmanager
def _as_socket(sock: SocketLike) -> Iterator[socket.socket]:
    """``sock`` itself, or a temporary socket object over a raw fd (left open afterwards)."""
    if isinstance(sock, socket.socket):
        yield sock
        return
    wrapper = socket.socket(fileno=sock)
    try:
        yield wrapper
    finally:
        wrapper.detach()


def _fileno(sock: SocketLike) -> int:
    return sock if isinstance(sock, int) else sock.fileno()


def make_socket_nonblocking(sock: SocketLike) -> None:
    """Put ``sock`` in non-blocking mode (``evutil_make_socket_nonblocking``)."""
    if isinstance(sock, socket.socket):
        sock.setblocking(False)
    else:
        os.set_blocking(sock, False)


def make_socket_closeonexec(sock: SocketLike) -> None:
    """Set close-on-exec on ``sock`` (``evutil_make_socket_closeonexec``)."""
    os.set_inheritable(_fileno(sock), False)


def make_listen_socket_reuseable(sock: SocketLike) -> None:
    """Set SO_REUSEADDR: the address can be bound again at once after the listener closes."""
    with _as_socket(sock) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


def make_listen_socket_reuseable_port(sock: SocketLike) -> None:
    """Let several sockets bind the same address and port, the kernel balancing connections.

    SO_REUSEPORT on Linux, DragonFly BSD, Solaris and AIX; SO_REUSEPORT_LB on
    FreeBSD. Elsewhere (macOS, other BSDs) SO_REUSEPORT does not balance
    load, so, as libevent, this raises :class:`OSError` (ENOPROTOOPT)
    rather than pretend.
    """
    platform = sys.platform
    if platform.startswith("freebsd"):
        option = getattr(socket, "SO_REUSEPORT_LB", _SO_REUSEPORT_LB)
    elif platform.startswith(("linux", "dragonfly", "sunos", "aix")) and hasattr(
        socket, "SO_REUSEPORT"
    ):
        option = socket.SO_REUSEPORT
    else:
        raise OSError(
            errno.ENOPROTOOPT,
            f"SO_REUSEPORT with load balancing is not available on {platform}",
        )
    with _as_socket(sock) as s:
        s.setsockopt(socket.SOL_SOCKET, option, 1)


def make_listen_socket_ipv6only(sock: SocketLike) -> None:
    """Set IPV6_V6ONLY: an IPv6 listener accepts IPv6 connections only."""
    with _as_socket(sock) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)


def make_listen_socket_not_ipv6only(sock: SocketLike) -> None:
    """Clear IPV6_V6ONLY: an IPv6 listener also accepts IPv4 (as v4-mapped addresses)."""
    with _as_socket(sock) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)


def make_tcp_listen_socket_deferred(sock: SocketLike) -> bool:
    """Ask the kernel to report a connection only once the client has sent data.

    TCP_DEFER_ACCEPT where the platform has it (Linux); returns True when
    the option was set and False where it does not exist (nothing done, as
    libevent).
    """
    option = getattr(socket, "TCP_DEFER_ACCEPT", None)
    if option is None:
        return False
    with _as_socket(sock) as s:
        s.setsockopt(socket.IPPROTO_TCP, option, 1)
    return True


def set_tcp_keepalive(sock: SocketLike, on: bool, idle_secs: int = 0) -> None:
    """Turn TCP keep-alive on or off (``evutil_set_tcp_keepalive``).

    With ``on`` and ``idle_secs > 0``, the first probe goes after
    ``idle_secs`` idle seconds, then one every ``idle_secs // 3`` seconds (at
    least 1), and the connection is dropped after 3 unanswered probes, so
    a dead peer is detected after about twice ``idle_secs``, as in libevent.
    ``idle_secs`` 0 keeps the system's timings. Unlike libevent, which does
    nothing at all when the timeout is 0, SO_KEEPALIVE is always set to
    ``on``. A negative ``idle_secs`` raises :class:`evweb.errors.ConfigError`.
    """
    if idle_secs < 0:
        raise ConfigError(f"invalid keep-alive idle time {idle_secs}: expected seconds >= 0")
    with _as_socket(sock) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if on else 0)
        if not on or idle_secs == 0:
            return
        idle_option = getattr(socket, "TCP_KEEPIDLE", None)
        if idle_option is None:  # macOS names it TCP_KEEPALIVE
            idle_option = getattr(socket, "TCP_KEEPALIVE", None)
        if idle_option is not None:
            s.setsockopt(socket.IPPROTO_TCP, idle_option, idle_secs)
        if hasattr(socket, "TCP_KEEPINTVL"):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, idle_secs // 3))
        if hasattr(socket, "TCP_KEEPCNT"):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


def socketpair(
    family: socket.AddressFamily | int = socket.AF_UNIX,
) -> tuple[socket.socket, socket.socket]:
    """A connected pair of non-blocking, close-on-exec stream sockets (``evutil_socketpair``).

    ``family`` is AF_UNIX by default; AF_INET or AF_INET6 give a pair over
    loopback TCP (built with a short-lived loopback listener where the
    kernel has no native TCP socketpair, as libevent does on Windows).
    """
    if family in (socket.AF_INET, socket.AF_INET6):
        a, b = _loopback_pair(socket.AddressFamily(family))
    else:
        a, b = socket.socketpair(family, socket.SOCK_STREAM)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def _loopback_pair(family: socket.AddressFamily) -> tuple[socket.socket, socket.socket]:
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen(1)
        client = socket.socket(family, socket.SOCK_STREAM)
        try:
            client.connect(listener.getsockname())
            server, peer = listener.accept()
        except BaseException:
            client.close()
            raise
    if peer[:2] != client.getsockname()[:2]:  # someone else connected first
        server.close()
        client.close()
        raise ConnectionError(f"loopback socketpair: unexpected peer {peer!r}")
    return server, client
