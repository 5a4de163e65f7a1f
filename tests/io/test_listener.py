"""Listener: libevent's listener/ group (regress_listener.c) and test-fdleak, over loopback."""

from __future__ import annotations

import errno
import logging
import os
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evweb.errors import ConfigError, EvwebError
from evweb.io.listener import (
    MAX_ACCEPTS_PER_WAKEUP,
    Listener,
    ListenerConfigError,
    ListenerFlag,
    ListenerStateError,
)
from evweb.libevent import (
    LEV_OPT_BIND_IPV4_AND_IPV6,
    LEV_OPT_BIND_IPV6ONLY,
    LEV_OPT_CLOSE_ON_EXEC,
    LEV_OPT_CLOSE_ON_FREE,
    LEV_OPT_DEFERRED_ACCEPT,
    LEV_OPT_DISABLED,
    LEV_OPT_LEAVE_SOCKETS_BLOCKING,
    LEV_OPT_REUSEABLE,
    LEV_OPT_REUSEABLE_PORT,
    LEV_OPT_THREADSAFE,
    evconnlistener_disable,
    evconnlistener_enable,
    evconnlistener_free,
    evconnlistener_get_base,
    evconnlistener_get_fd,
    evconnlistener_new,
    evconnlistener_new_bind,
    evconnlistener_set_cb,
    evconnlistener_set_error_cb,
)
from evweb.reactor import NONBLOCK, ONCE, PERSIST, READ, Event, EventBase, EventConfig

Pair = tuple[socket.socket, socket.socket]
LOCAL = ("127.0.0.1", 0)
REUSE = ListenerFlag.REUSEABLE | ListenerFlag.CLOSE_ON_EXEC


def _reraise(base: EventBase, ev: Event, exc: Exception) -> None:
    raise exc


@pytest.fixture
def base(base: EventBase) -> EventBase:
    """The suite's base, with callback exceptions leaving the loop (an assert must fail)."""
    base.set_exception_handler(_reraise)
    return base


def _noop(fd: int, what: int, arg: Any) -> None:
    pass


def run_until(base: EventBase, done: Callable[[], bool], timeout: float = 3.0) -> None:
    """Loop until ``done()``; a ticking timer bounds each iteration, ``timeout`` the whole."""
    deadline = time.monotonic() + timeout
    tick = base.timer(_noop, persist=True)
    tick.add(0.01)
    try:
        while not done():
            assert time.monotonic() < deadline, "timed out waiting for the condition"
            base.loop(ONCE)
    finally:
        tick.delete()


def run_for(base: EventBase, seconds: float) -> None:
    """Loop for about ``seconds`` (to show that nothing happens)."""
    end = time.monotonic() + seconds
    run_until(base, lambda: time.monotonic() >= end, timeout=seconds + 2.0)


class Accepted:
    """An accept callback recording (and keeping open) every accepted socket."""

    def __init__(self, disable_after: int | None = None, close_after: int | None = None) -> None:
        self.socks: list[socket.socket] = []
        self.addresses: list[Any] = []
        self.disable_after = disable_after
        self.close_after = close_after

    def __call__(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        self.socks.append(sock)
        self.addresses.append(address)
        if self.disable_after is not None and len(self.socks) >= self.disable_after:
            listener.disable()
        if self.close_after is not None and len(self.socks) >= self.close_after:
            listener.close()

    def __len__(self) -> int:
        return len(self.socks)

    def close(self) -> None:
        for s in self.socks:
            s.close()


@pytest.fixture
def accepted() -> Iterator[Accepted]:
    acc = Accepted()
    yield acc
    acc.close()


@pytest.fixture
def clients() -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()


def connect(
    clients: list[socket.socket], address: Any, family: int = socket.AF_INET
) -> socket.socket:
    c = socket.socket(family, socket.SOCK_STREAM)
    clients.append(c)
    c.settimeout(3.0)
    c.connect(address)
    return c


def _open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to count fds"
)


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


# --- the basics (randport, v6, unix, already listening) -----------------------------------


@pytest.mark.parametrize("flags", [REUSE, REUSE | ListenerFlag.THREADSAFE], ids=["", "ts"])
def test_randport(base: EventBase, clients: list[socket.socket], flags: ListenerFlag) -> None:
    """libevent's listener/randport(_ts): two listeners on port 0, each counts down, disables."""
    acc1, acc2 = Accepted(disable_after=2), Accepted(disable_after=1)
    with (
        Listener.bind(base, acc1, LOCAL, flags=flags) as l1,
        Listener.bind(base, acc2, LOCAL, flags=flags) as l2,
    ):
        try:
            a1, a2 = l1.address, l2.address
            assert a1[0] == a2[0] == "127.0.0.1"
            assert a1[1] != a2[1] and 0 not in (a1[1], a2[1])
            assert l1.base is base and l2.base is base
            assert l1.family == socket.AF_INET
            assert l1.fileno == l1.socket.fileno() >= 0
            connect(clients, a1)
            connect(clients, a1)
            connect(clients, a2)
            run_until(base, lambda: len(acc1) == 2 and len(acc2) == 1)
            assert not l1.enabled and not l2.enabled
            assert base.dispatch() == 1  # nothing left: both listeners disabled
        finally:
            acc1.close()
            acc2.close()
    assert l1.closed and l1.socket.fileno() == -1  # CLOSE_ON_FREE from bind()


def test_data_flows_and_accepted_socket_modes(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    with Listener.bind(base, accepted, LOCAL) as listener:
        c = connect(clients, listener.address)
        c.sendall(b"ping")
        run_until(base, lambda: len(accepted) == 1)
        conn = accepted.socks[0]
        assert accepted.addresses[0] == c.getsockname()
        assert conn.getblocking() is False
        assert os.get_blocking(conn.fileno()) is False
        assert os.get_inheritable(conn.fileno()) is False
        conn.settimeout(3.0)
        assert conn.recv(4) == b"ping"
        conn.sendall(b"pong")
        assert c.recv(4) == b"pong"


def test_leave_sockets_blocking(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    with Listener.bind(
        base, accepted, LOCAL, flags=ListenerFlag.LEAVE_SOCKETS_BLOCKING
    ) as listener:
        connect(clients, listener.address)
        run_until(base, lambda: len(accepted) == 1)
        assert accepted.socks[0].getblocking() is True
        assert os.get_blocking(accepted.socks[0].fileno()) is True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6(base: EventBase, accepted: Accepted, clients: list[socket.socket]) -> None:
    with Listener.bind(base, accepted, ("::1", 0), flags=REUSE) as listener:
        assert listener.family == socket.AF_INET6
        assert listener.address[0] == "::1"
        c = connect(clients, listener.address[:2], socket.AF_INET6)
        c.sendall(b"six")
        run_until(base, lambda: len(accepted) == 1)
        assert accepted.addresses[0][:2] == c.getsockname()[:2]
        accepted.socks[0].settimeout(3.0)
        assert accepted.socks[0].recv(3) == b"six"


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6only_options(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    mapped = ("::ffff:127.0.0.1", 0)  # an IPv4-mapped address: binds only without V6ONLY
    with Listener.bind(base, None, ("::1", 0), flags=ListenerFlag.BIND_IPV6ONLY) as listener:
        assert listener.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    with pytest.raises(OSError):
        Listener.bind(base, None, mapped, flags=ListenerFlag.BIND_IPV6ONLY)
    flags = ListenerFlag.BIND_IPV4_AND_IPV6
    with Listener.bind(base, accepted, mapped, flags=flags) as listener:
        assert listener.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        connect(clients, ("127.0.0.1", listener.address[1]))  # a plain IPv4 client
        run_until(base, lambda: len(accepted) == 1)
    both = ListenerFlag.BIND_IPV6ONLY | ListenerFlag.BIND_IPV4_AND_IPV6
    with pytest.raises(ListenerConfigError, match="contradict"):
        Listener.bind(base, None, ("::1", 0), flags=both)


def test_ipv6_flags_refused_for_ipv4(base: EventBase) -> None:
    with pytest.raises(ListenerConfigError, match="IPv6"):
        Listener.bind(base, None, LOCAL, flags=ListenerFlag.BIND_IPV6ONLY)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_unix_socket(
    base: EventBase, accepted: Accepted, clients: list[socket.socket], tmp_path: Path
) -> None:
    path = tmp_path / "listener.sock"
    with Listener.bind(base, accepted, path) as listener:
        assert listener.family == socket.AF_UNIX
        assert listener.address == str(path)
        c = connect(clients, str(path), socket.AF_UNIX)
        c.sendall(b"unix")
        run_until(base, lambda: len(accepted) == 1)
        assert accepted.addresses[0] in ("", None, b"")  # an unnamed client
        accepted.socks[0].settimeout(3.0)
        assert accepted.socks[0].recv(4) == b"unix"


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
@pytest.mark.parametrize(
    "flag",
    [ListenerFlag.REUSEABLE, ListenerFlag.REUSEABLE_PORT, ListenerFlag.DEFERRED_ACCEPT],
    ids=lambda f: f.name,
)
def test_unix_socket_refuses_tcp_options(
    base: EventBase, tmp_path: Path, flag: ListenerFlag
) -> None:
    """libevent's listener/reuseport_on_unix_socket."""
    path = tmp_path / "reuse.sock"
    with pytest.raises(ListenerConfigError, match=str(flag.name)):
        Listener.bind(base, None, path, flags=flag)
    assert not path.exists()
    with Listener.bind(base, None, path, flags=ListenerFlag.CLOSE_ON_EXEC):
        assert path.exists()


def test_already_listening_socket_backlog_zero(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    with socket.socket() as sock:
        sock.bind(LOCAL)
        sock.listen(8)
        with Listener(base, accepted, sock=sock, backlog=0) as listener:
            assert listener.socket is sock
            connect(clients, sock.getsockname())
            run_until(base, lambda: len(accepted) == 1)
        assert sock.fileno() >= 0  # no CLOSE_ON_FREE: the socket stays the caller's
        assert sock.getblocking() is False  # the listener made it non-blocking


def test_bound_socket_is_listened_and_raw_fd_left_open(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    with socket.socket() as sock:
        sock.bind(LOCAL)
        with Listener(base, accepted, sock=sock.fileno(), backlog=4) as listener:
            assert listener.fileno == sock.fileno()
            connect(clients, sock.getsockname())
            run_until(base, lambda: len(accepted) == 1)
        os.fstat(sock.fileno())  # the raw fd is still open for its owner


def test_close_on_free_with_given_socket(base: EventBase) -> None:
    sock = socket.socket()
    sock.bind(LOCAL)
    listener = Listener(base, None, sock=sock, flags=ListenerFlag.CLOSE_ON_FREE)
    listener.close()
    assert sock.fileno() == -1


def test_bind_refuses_backlog_zero(base: EventBase) -> None:
    with pytest.raises(ListenerConfigError, match="backlog") as info:
        Listener.bind(base, None, LOCAL, backlog=0)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, EvwebError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"sock": 0, "address": LOCAL},
        {"address": 12},
        {"address": ("127.0.0.1",)},
        {"address": ("127.0.0.1", 70000)},
        {"address": ("127.0.0.1", "80")},
        {"address": (None, 0)},
        {"address": ""},
        {"address": "/tmp/x", "family": socket.AF_INET},
        {"sock": -3},
        {"sock": "3"},
        {"address": LOCAL, "backlog": 1.5},
    ],
    ids=repr,
)
def test_bad_arguments(base: EventBase, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ListenerConfigError):
        Listener(base, None, **kwargs)


def test_bad_callbacks(base: EventBase) -> None:
    with pytest.raises(ListenerConfigError, match="callable"):
        Listener.bind(base, "nope", LOCAL)  # type: ignore[arg-type]
    with Listener.bind(base, None, LOCAL) as listener:
        with pytest.raises(ListenerConfigError):
            listener.set_callback(42)  # type: ignore[arg-type]
        with pytest.raises(ListenerConfigError):
            listener.set_error_callback(42)  # type: ignore[arg-type]


def test_address_in_use_raises_oserror_and_closes(base: EventBase) -> None:
    with Listener.bind(base, None, LOCAL) as first:
        with pytest.raises(OSError) as info:
            Listener.bind(base, None, first.address)
        assert info.value.errno == errno.EADDRINUSE


def test_non_socket_fd_is_refused(base: EventBase) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(ListenerConfigError, match="not a usable socket"):
            Listener(base, None, sock=r, backlog=0)
        os.fstat(r)  # untouched
    finally:
        os.close(r)
        os.close(w)


# --- enabling and disabling ---------------------------------------------------------------


def test_disabled_at_start_then_enable(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    with Listener.bind(base, accepted, LOCAL, flags=ListenerFlag.DISABLED) as listener:
        assert not listener.enabled
        connect(clients, listener.address)
        run_for(base, 0.05)
        assert len(accepted) == 0
        listener.enable()
        run_until(base, lambda: len(accepted) == 1)


def test_disable_leaves_connections_in_the_backlog(
    base: EventBase, clients: list[socket.socket]
) -> None:
    acc = Accepted(disable_after=1)
    try:
        with Listener.bind(base, acc, LOCAL) as listener:
            connect(clients, listener.address)
            run_until(base, lambda: len(acc) == 1)
            assert not listener.enabled
            connect(clients, listener.address)
            connect(clients, listener.address)
            run_for(base, 0.05)
            assert len(acc) == 1
            acc.disable_after = None
            listener.enable()
            run_until(base, lambda: len(acc) == 3)
    finally:
        acc.close()


def test_none_callback_waits_until_set(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    with Listener.bind(base, None, LOCAL) as listener:
        assert listener.enabled and listener.callback is None
        connect(clients, listener.address)
        run_for(base, 0.05)
        listener.set_callback(accepted)
        run_until(base, lambda: len(accepted) == 1)
        listener.set_callback(None)
        connect(clients, listener.address)
        run_for(base, 0.05)
        assert len(accepted) == 1
        listener.set_callback(accepted)
        run_until(base, lambda: len(accepted) == 2)


def test_close_is_idempotent_and_final(base: EventBase) -> None:
    listener = Listener.bind(base, None, LOCAL)
    assert "enabled" in repr(listener)
    listener.close()
    listener.close()
    assert listener.closed and not listener.enabled and "closed" in repr(listener)
    listener.disable()  # harmless
    with pytest.raises(ListenerStateError):
        listener.enable()
    with pytest.raises(ListenerStateError):
        _ = listener.address
    assert base.dispatch() == 1  # no event left behind


def test_close_accepted_fd(base: EventBase, clients: list[socket.socket]) -> None:
    """libevent's listener/close_accepted_fd: the callback frees the listener."""
    acc = Accepted(close_after=1)
    try:
        listener = Listener.bind(base, acc, LOCAL, flags=REUSE)
        connect(clients, listener.address)
        connect(clients, listener.address)
        run_until(base, lambda: listener.closed)
        assert len(acc) == 1  # the accept loop stopped at once
        assert listener.socket.fileno() == -1
        assert base.dispatch() == 1
    finally:
        acc.close()


def test_immediate_close(base: EventBase, accepted: Accepted) -> None:
    """libevent's listener/immediate_close: clients gone before accept() still get accepted."""
    with Listener.bind(base, accepted, LOCAL, flags=REUSE) as listener:
        for _ in range(2):
            with socket.create_connection(listener.address, timeout=3.0):
                pass
        run_until(base, lambda: len(accepted) == 2)
        for conn in accepted.socks:
            conn.settimeout(3.0)
            try:
                assert conn.recv(1) == b""
            except ConnectionResetError:
                pass


def test_many_clients_are_accepted_in_bounded_batches(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    n = MAX_ACCEPTS_PER_WAKEUP + 36
    other: list[int] = []
    with Listener.bind(base, accepted, LOCAL, backlog=256) as listener:
        for _ in range(n):
            connect(clients, listener.address)
        a, b = socket.socketpair()
        try:
            ev = base.event(a, READ | PERSIST, lambda fd, what, arg: other.append(len(accepted)))
            ev.add()
            b.send(b"x")
            base.loop(ONCE)  # one wake-up: one batch, and the other event gets its turn
            assert len(accepted) == MAX_ACCEPTS_PER_WAKEUP
            assert other == [MAX_ACCEPTS_PER_WAKEUP] or other == [0]
            base.loop(ONCE)
            assert len(accepted) == n
            ev.delete()
        finally:
            a.close()
            b.close()


@pytest.mark.parametrize("action", ["disable", "close"])
def test_callback_stops_the_accept_loop(
    base: EventBase, clients: list[socket.socket], action: str
) -> None:
    acc = Accepted(**{f"{action}_after": 2})
    try:
        listener = Listener.bind(base, acc, LOCAL)
        address = listener.address
        for _ in range(5):
            connect(clients, address)
        base.loop(ONCE)
        assert len(acc) == 2
        run_for(base, 0.05)
        assert len(acc) == 2
        listener.close()
    finally:
        acc.close()


# --- errors ---------------------------------------------------------------------------------


class Errors:
    def __init__(self, disable: bool = True) -> None:
        self.seen: list[OSError] = []
        self.disable = disable

    def __call__(self, listener: Listener, exc: OSError) -> None:
        self.seen.append(exc)
        if self.disable:
            listener.disable()


@pytest.mark.parametrize("flags", [0, ListenerFlag.THREADSAFE], ids=["", "ts"])
def test_error_callback_on_a_socket_that_is_not_listening(
    base: EventBase, pair: Pair, accepted: Accepted, flags: ListenerFlag
) -> None:
    """libevent's listener/error(_ts): accept() on a readable non-listening socket fails."""
    pair[1].send(b"hello")
    errors = Errors()
    with Listener(base, accepted, sock=pair[0], backlog=0, flags=flags) as listener:
        listener.set_error_callback(errors)
        assert listener.error_callback is errors
        run_until(base, lambda: bool(errors.seen))
        assert len(errors.seen) == 1 and errors.seen[0].errno == errno.EINVAL
        assert not listener.enabled and len(accepted) == 0


def test_error_without_callback_is_logged(
    base: EventBase, pair: Pair, accepted: Accepted, caplog: pytest.LogCaptureFixture
) -> None:
    pair[1].send(b"hello")
    with (
        caplog.at_level(logging.WARNING, logger="evweb.io"),
        Listener(base, accepted, sock=pair[0], backlog=0) as listener,
    ):
        base.loop(ONCE)
        listener.disable()
    assert any(
        r.name == "evweb.io" and r.levelno == logging.WARNING and "accept" in r.getMessage()
        for r in caplog.records
    )


@pytest.fixture
def low_fd_limit() -> Iterator[Callable[[int], None]]:
    """Lower RLIMIT_NOFILE's soft limit (restored afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def lower(limit: int) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))

    yield lower
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@needs_proc
def test_emfile_refuses_the_client_with_the_reserve_fd(
    base: EventBase,
    accepted: Accepted,
    clients: list[socket.socket],
    low_fd_limit: Callable[[int], None],
) -> None:
    errors = Errors(disable=False)
    with Listener.bind(base, accepted, LOCAL) as listener:
        listener.set_error_callback(errors)
        victim = connect(clients, listener.address)
        fillers: list[int] = []
        try:
            limit = max(_open_fds()) + 8
            low_fd_limit(limit)
            for _ in range(limit):
                try:
                    fillers.append(os.open(os.devnull, os.O_RDONLY))
                except OSError as exc:
                    assert exc.errno == errno.EMFILE
                    break
            else:
                pytest.fail("could not exhaust the fd limit")
            base.loop(ONCE)  # one wake-up: refuse, report
            assert len(errors.seen) == 1 and errors.seen[0].errno == errno.EMFILE
            assert len(accepted) == 0
            base.loop(NONBLOCK)  # not readable any more: no spinning, no second report
            base.loop(NONBLOCK)
            assert len(errors.seen) == 1
        finally:
            for fd in fillers:
                os.close(fd)
        try:
            assert victim.recv(1) == b""  # the client sees its connection closed
        except ConnectionResetError:
            pass
        connect(clients, listener.address)  # the reserve fd is back; accepting works again
        run_until(base, lambda: len(accepted) == 1)
        assert len(errors.seen) == 1


@needs_proc
def test_fd_leak(base: EventBase, low_fd_limit: Callable[[int], None]) -> None:
    """In the spirit of test-fdleak: many cycles under a low RLIMIT_NOFILE, no fd growth."""
    served: list[int] = []

    def echo(listener: Listener, sock: socket.socket, address: Any) -> None:
        with sock:
            sock.settimeout(3.0)
            sock.sendall(sock.recv(1))
        served.append(1)

    errors = Errors()
    with Listener.bind(base, echo, LOCAL, flags=REUSE) as listener:
        listener.set_error_callback(errors)
        address = listener.address
        before = _open_fds()
        low_fd_limit(max(before) + 12)
        for i in range(300):
            with socket.create_connection(address, timeout=3.0) as c:
                c.sendall(b"A")
                run_until(base, lambda i=i: len(served) > i)  # type: ignore[misc]
                assert c.recv(1) == b"A"
        assert errors.seen == []
        assert _open_fds() == before


# --- options ------------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux socket options")
def test_deferred_accept_reuseport_and_keepalive_are_set(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    flags = ListenerFlag.DEFERRED_ACCEPT | ListenerFlag.REUSEABLE_PORT | ListenerFlag.REUSEABLE
    with Listener.bind(base, accepted, LOCAL, flags=flags) as listener:
        s = listener.socket
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) > 0
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 300
        # a second socket may bind the same port with REUSEABLE_PORT
        with Listener.bind(base, None, listener.address, flags=ListenerFlag.REUSEABLE_PORT) as twin:
            assert twin.address == listener.address
        # deferred: the connection is reported once the client has sent something
        c = connect(clients, listener.address)
        c.sendall(b"go")
        run_until(base, lambda: len(accepted) == 1)


def test_plain_bind_sets_no_reuse_options(base: EventBase) -> None:
    with Listener.bind(base, None, LOCAL) as listener:
        assert listener.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
        assert listener.flags == ListenerFlag.CLOSE_ON_FREE


# --- threads --------------------------------------------------------------------------------


@pytest.fixture
def ts_base(method: str) -> Iterator[EventBase]:
    b = EventBase(EventConfig(method=method, threadsafe=True))
    b.set_exception_handler(_reraise)
    yield b
    b.close()


def test_disable_in_thread(ts_base: EventBase, clients: list[socket.socket]) -> None:
    """libevent's listener/disable_in_thread: disable() from a thread while the callback runs."""
    threads: list[threading.Thread] = []
    acc = Accepted()

    def on_accept(listener: Listener, sock: socket.socket, address: Any) -> None:
        acc(listener, sock, address)
        t = threading.Thread(target=listener.disable)
        t.start()
        threads.append(t)
        time.sleep(0.005)

    flags = REUSE | ListenerFlag.THREADSAFE
    try:
        with Listener.bind(ts_base, on_accept, LOCAL, flags=flags) as listener:
            connect(clients, listener.address)
            ts_base.loop(ONCE)
            for t in threads:
                t.join(5.0)
                assert not t.is_alive()
            assert not listener.enabled
            connect(clients, listener.address)
            run_for(ts_base, 0.05)
            assert len(acc) == 1
    finally:
        acc.close()


def test_disable_in_thread_error(ts_base: EventBase, pair: Pair, accepted: Accepted) -> None:
    """libevent's listener/disable_in_thread_error: the same from the error callback."""
    pair[1].send(b"hello")
    threads: list[threading.Thread] = []

    def on_error(listener: Listener, exc: OSError) -> None:
        t = threading.Thread(target=listener.disable)
        t.start()
        threads.append(t)
        time.sleep(0.005)

    with Listener(
        ts_base, accepted, sock=pair[0], backlog=0, flags=ListenerFlag.THREADSAFE
    ) as listener:
        listener.set_error_callback(on_error)
        ts_base.loop(ONCE)
        for t in threads:
            t.join(5.0)
            assert not t.is_alive()
        assert len(threads) == 1 and not listener.enabled


def test_disable_enable_and_close_from_another_thread_while_looping(
    ts_base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    flags = ListenerFlag.THREADSAFE | ListenerFlag.CLOSE_ON_FREE
    listener = Listener.bind(ts_base, accepted, LOCAL, flags=flags)
    address = listener.address
    tick = ts_base.timer(_noop, persist=True)
    tick.add(0.01)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            ts_base.loop(ONCE)

    looper = threading.Thread(target=loop)
    looper.start()
    try:
        connect(clients, address)
        deadline = time.monotonic() + 3.0
        while len(accepted) < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(accepted) == 1
        listener.disable()  # from this (foreign) thread
        connect(clients, address)
        time.sleep(0.05)
        assert len(accepted) == 1
        listener.enable()
        deadline = time.monotonic() + 3.0
        while len(accepted) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(accepted) == 2
        listener.close()  # returns once the loop no longer watches the socket
        assert listener.socket.fileno() == -1
    finally:
        stop.set()
        looper.join(5.0)
        tick.delete()
        listener.close()
    assert not looper.is_alive()


# --- libevent's C API -----------------------------------------------------------------------


def test_lev_opt_values() -> None:
    assert [1 << i for i in range(10)] == [
        LEV_OPT_LEAVE_SOCKETS_BLOCKING,
        LEV_OPT_CLOSE_ON_FREE,
        LEV_OPT_CLOSE_ON_EXEC,
        LEV_OPT_REUSEABLE,
        LEV_OPT_THREADSAFE,
        LEV_OPT_DISABLED,
        LEV_OPT_DEFERRED_ACCEPT,
        LEV_OPT_REUSEABLE_PORT,
        LEV_OPT_BIND_IPV6ONLY,
        LEV_OPT_BIND_IPV4_AND_IPV6,
    ]
    assert [int(f) for f in ListenerFlag if f] == [1 << i for i in range(10)]


def test_c_api_new_bind(base: EventBase, clients: list[socket.socket]) -> None:
    calls: list[tuple[Any, ...]] = []

    def acceptcb(lev: Listener, fd: int, sa: Any, socklen: int, arg: Any) -> None:
        calls.append((lev, sa, socklen, arg))
        os.close(fd)
        evconnlistener_disable(lev)

    assert (
        evconnlistener_new_bind(base, acceptcb, None, LEV_OPT_CLOSE_ON_FREE, 0, LOCAL, 16) is None
    )
    assert evconnlistener_new_bind(base, acceptcb, None, LEV_OPT_CLOSE_ON_FREE, -1, None, 0) is None
    lev = evconnlistener_new_bind(
        base,
        acceptcb,
        "arg",
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_DISABLED,
        -1,
        LOCAL,
    )
    assert lev is not None
    assert evconnlistener_get_base(lev) is base
    fd = evconnlistener_get_fd(lev)
    address = socket.socket(fileno=os.dup(fd))
    try:
        sockname = address.getsockname()
    finally:
        address.close()
    connect(clients, sockname)
    run_for(base, 0.03)
    assert calls == []
    assert evconnlistener_enable(lev) == 0
    run_until(base, lambda: bool(calls))
    assert calls[0][0] is lev and calls[0][2] == 16 and calls[0][3] == "arg"
    assert calls[0][1] == clients[0].getsockname()
    evconnlistener_free(lev)
    assert lev.closed
    assert evconnlistener_enable(lev) == -1


def test_c_api_free_without_close_on_free_leaves_the_fd(base: EventBase) -> None:
    lev = evconnlistener_new_bind(base, None, None, 0, -1, LOCAL)
    assert lev is not None
    fd = evconnlistener_get_fd(lev)
    evconnlistener_free(lev)
    os.fstat(fd)  # still open, the caller's to close, as in C
    os.close(fd)


def test_c_api_error_cb_and_set_cb(base: EventBase, pair: Pair) -> None:
    """libevent's listener/error with the C signatures; set_cb's arg is the error cb's too."""
    pair[1].send(b"hello")
    seen: list[Any] = []

    def errorcb(lev: Listener, arg: Any) -> None:
        seen.append(arg)
        evconnlistener_disable(lev)

    def acceptcb(lev: Listener, fd: int, sa: Any, socklen: int, arg: Any) -> None:
        os.close(fd)

    lev = evconnlistener_new(base, acceptcb, "first", LEV_OPT_THREADSAFE, 0, pair[0].fileno())
    assert lev is not None
    evconnlistener_set_error_cb(lev, errorcb)
    evconnlistener_set_cb(lev, acceptcb, "second")
    run_until(base, lambda: bool(seen))
    assert seen == ["second"]
    evconnlistener_free(lev)
    os.fstat(pair[0].fileno())  # not CLOSE_ON_FREE: the socketpair's fd is untouched


def test_c_api_new_failure_returns_none(base: EventBase) -> None:
    r, w = os.pipe()
    try:
        assert evconnlistener_new(base, None, None, 0, 0, r) is None
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_c_api_unix_socklen(base: EventBase, clients: list[socket.socket], tmp_path: Path) -> None:
    lens: list[int] = []

    def acceptcb(lev: Listener, fd: int, sa: Any, socklen: int, arg: Any) -> None:
        lens.append(socklen)
        os.close(fd)

    path = str(tmp_path / "c.sock")
    lev = evconnlistener_new_bind(
        base, acceptcb, None, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, path
    )
    assert lev is not None
    try:
        connect(clients, path, socket.AF_UNIX)
        run_until(base, lambda: bool(lens))
        assert lens == [2]  # an unnamed client: sa_family only
    finally:
        evconnlistener_free(lev)


def test_c_api_options_pass_through(base: EventBase, clients: list[socket.socket]) -> None:
    blocking: list[bool] = []

    def acceptcb(lev: Listener, fd: int, sa: Any, socklen: int, arg: Any) -> None:
        blocking.append(os.get_blocking(fd))
        os.close(fd)

    flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_LEAVE_SOCKETS_BLOCKING
    lev = evconnlistener_new_bind(base, acceptcb, None, flags, 16, LOCAL)
    assert lev is not None
    try:
        connect(clients, lev.address)
        run_until(base, lambda: bool(blocking))
        assert blocking == [True]
        assert lev.flags == flags
    finally:
        evconnlistener_free(lev)
    if _has_ipv6_loopback():
        mapped = ("::ffff:127.0.0.1", 0)
        assert evconnlistener_new_bind(base, None, None, LEV_OPT_BIND_IPV6ONLY, -1, mapped) is None
        for flag, expected in ((LEV_OPT_BIND_IPV6ONLY, 1), (LEV_OPT_BIND_IPV4_AND_IPV6, 0)):
            lev6 = evconnlistener_new_bind(
                base,
                None,
                None,
                LEV_OPT_CLOSE_ON_FREE | flag,
                -1,
                mapped if expected == 0 else ("::1", 0),
            )
            assert lev6 is not None
            assert lev6.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == expected
            evconnlistener_free(lev6)
    if hasattr(socket, "TCP_DEFER_ACCEPT"):
        levd = evconnlistener_new_bind(
            base,
            None,
            None,
            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DEFERRED_ACCEPT | LEV_OPT_REUSEABLE_PORT,
            -1,
            LOCAL,
        )
        assert levd is not None
        assert levd.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) > 0
        evconnlistener_free(levd)


def test_failed_construction_leaks_nothing() -> None:
    closed = EventBase()
    closed.close()
    with pytest.raises(EvwebError):
        Listener.bind(closed, _accept_nothing, LOCAL)  # enable() fails on a closed base
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(OSError):  # listen() on a datagram socket
            Listener(closed, None, sock=sock.fileno(), backlog=-1)
        os.fstat(sock.fileno())  # the caller's fd was left open


def _accept_nothing(listener: Listener, sock: socket.socket, address: Any) -> None:
    sock.close()


def test_callback_cleared_mid_loop_leaves_the_rest_waiting(
    base: EventBase, clients: list[socket.socket]
) -> None:
    acc = Accepted()

    def once(listener: Listener, sock: socket.socket, address: Any) -> None:
        acc(listener, sock, address)
        listener.set_callback(None)

    try:
        with Listener.bind(base, once, LOCAL) as listener:
            for _ in range(3):
                connect(clients, listener.address)
            base.loop(ONCE)
            assert len(acc) == 1 and listener.enabled
            run_for(base, 0.03)
            assert len(acc) == 1
            listener.set_callback(acc)
            run_until(base, lambda: len(acc) == 3)
    finally:
        acc.close()


def test_exception_in_callback_leaves_the_loop_and_the_listener_usable(
    base: EventBase, accepted: Accepted, clients: list[socket.socket]
) -> None:
    def boom(listener: Listener, sock: socket.socket, address: Any) -> None:
        sock.close()
        raise RuntimeError("boom")

    with Listener.bind(base, boom, LOCAL, flags=ListenerFlag.THREADSAFE) as listener:
        connect(clients, listener.address)
        with pytest.raises(RuntimeError, match="boom"):
            run_until(base, lambda: False)
        listener.set_callback(accepted)  # the lock was released
        connect(clients, listener.address)
        run_until(base, lambda: len(accepted) == 1)
