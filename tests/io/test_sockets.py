"""evweb.io.sockets: libevent's evutil socket helpers (util/sockaddr_port_parse and friends)."""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from evweb.errors import ConfigError, EvwebError
from evweb.io.sockets import (
    AddressError,
    make_listen_socket_ipv6only,
    make_listen_socket_not_ipv6only,
    make_listen_socket_reuseable,
    make_listen_socket_reuseable_port,
    make_socket_closeonexec,
    make_socket_nonblocking,
    make_tcp_listen_socket_deferred,
    parse_sockaddr_port,
    set_tcp_keepalive,
    socketpair,
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux options")


@pytest.fixture
def tcp() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        yield s


# --- parse_sockaddr_port ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # libevent's sa_port_ents that parse
        ("[ffff::1]:1000", ("ffff::1", 1000)),
        ("[ffff::1]", ("ffff::1", 0)),
        ("::1", ("::1", 0)),
        ("1:2::1", ("1:2::1", 0)),
        ("192.168.0.1:50", ("192.168.0.1", 50)),
        ("1.2.3.4", ("1.2.3.4", 0)),
        # more
        ("[::1]:65535", ("::1", 65535)),
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("[fe80::1%lo]:80", ("fe80::1%lo", 80)),
        ("::ffff:1.2.3.4", ("::ffff:1.2.3.4", 0)),
    ],
)
def test_parse_sockaddr_port_accepts(text: str, expected: tuple[str, int]) -> None:
    assert parse_sockaddr_port(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # libevent's sa_port_ents that fail
        "[ffff::1",
        "[ffff::1]:65599",
        "[ffff::1]:0",
        "[ffff::1]:-1",
        # more
        "1.2.3.4:0",
        "1.2.3.4:",
        "1.2.3.4:65536",
        "1.2.3.4:80x",
        "1.2.3.4: 80",
        "1.2.3.4:+80",
        "1.2.3.4:٨٠",  # non-ASCII digits
        "1.2.3",
        "256.1.1.1",
        "localhost",
        "localhost:80",
        "",
        "[]",
        "[1.2.3.4]:80",
        "[::1]x",
        "[::1]80",
        "::1:80:zz",
        "fe80::1%",
        "fe80::1%a%b",
        "[" + "1" * 200 + "]",
    ],
)
def test_parse_sockaddr_port_refuses(text: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_sockaddr_port(text)
    assert info.value.text == text
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, EvwebError)


def test_parse_sockaddr_port_error_names_the_port() -> None:
    with pytest.raises(AddressError, match="65599"):
        parse_sockaddr_port("[::1]:65599")


def test_parse_sockaddr_port_needs_a_str() -> None:
    with pytest.raises(TypeError):
        parse_sockaddr_port(b"1.2.3.4")  # type: ignore[arg-type]


# --- fd flags -------------------------------------------------------------------------------


def test_make_socket_nonblocking(tcp: socket.socket) -> None:
    assert tcp.getblocking()
    make_socket_nonblocking(tcp)
    assert not tcp.getblocking() and not os.get_blocking(tcp.fileno())
    with socket.socket() as other:
        make_socket_nonblocking(other.fileno())
        assert not os.get_blocking(other.fileno())


def test_make_socket_closeonexec(tcp: socket.socket) -> None:
    tcp.set_inheritable(True)
    make_socket_closeonexec(tcp)
    assert not os.get_inheritable(tcp.fileno())
    tcp.set_inheritable(True)
    make_socket_closeonexec(tcp.fileno())
    assert not tcp.get_inheritable()


# --- listen socket options ----------------------------------------------------------------


def test_make_listen_socket_reuseable(tcp: socket.socket) -> None:
    make_listen_socket_reuseable(tcp)
    assert tcp.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    with socket.socket() as other:
        make_listen_socket_reuseable(other.fileno())
        assert other.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0


def test_make_listen_socket_reuseable_port(tcp: socket.socket) -> None:
    if sys.platform.startswith("linux"):
        make_listen_socket_reuseable_port(tcp)
        assert tcp.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        with socket.socket() as twin:
            tcp.bind(("127.0.0.1", 0))
            make_listen_socket_reuseable_port(twin.fileno())
            twin.bind(tcp.getsockname())  # same address and port
    elif sys.platform == "darwin":  # pragma: no cover - not balanced there: refused
        with pytest.raises(OSError) as info:
            make_listen_socket_reuseable_port(tcp)
        assert info.value.errno == errno.ENOPROTOOPT


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_ipv6only_helpers() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        make_listen_socket_ipv6only(s)
        assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        make_listen_socket_not_ipv6only(s.fileno())
        assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0


def test_make_tcp_listen_socket_deferred(tcp: socket.socket) -> None:
    applied = make_tcp_listen_socket_deferred(tcp)
    assert applied == hasattr(socket, "TCP_DEFER_ACCEPT")
    if applied:
        assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) > 0


# --- keep-alive -----------------------------------------------------------------------------


@linux_only
def test_set_tcp_keepalive_timings(tcp: socket.socket) -> None:
    set_tcp_keepalive(tcp, True, 300)
    assert tcp.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 300
    assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 100
    assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    set_tcp_keepalive(tcp.fileno(), True, 2)
    assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 2
    assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 1  # at least 1


def test_set_tcp_keepalive_on_off_and_defaults(tcp: socket.socket) -> None:
    set_tcp_keepalive(tcp, True)
    assert tcp.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    set_tcp_keepalive(tcp, False, 60)
    assert tcp.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0


def test_set_tcp_keepalive_refuses_negative_idle(tcp: socket.socket) -> None:
    with pytest.raises(ConfigError, match="-1"):
        set_tcp_keepalive(tcp, True, -1)


# --- socketpair -----------------------------------------------------------------------------


@pytest.mark.parametrize("family", [socket.AF_UNIX, socket.AF_INET], ids=["unix", "inet"])
def test_socketpair(family: socket.AddressFamily) -> None:
    a, b = socketpair(family)
    with a, b:
        for s in (a, b):
            assert not s.getblocking() and not os.get_blocking(s.fileno())
            assert not os.get_inheritable(s.fileno())
            assert s.type == socket.SOCK_STREAM
        with pytest.raises(BlockingIOError):
            a.recv(1)
        a.sendall(b"x")
        b.settimeout(3.0)
        assert b.recv(1) == b"x"
