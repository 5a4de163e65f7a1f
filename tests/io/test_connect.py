"""connect_hostname: resolution, Happy Eyeballs ordering and delays, cancellation, no leaks."""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from evweb.errors import ConfigError, EventStateError
from evweb.io.bevflags import CONNECTED, ERROR, TIMEOUT, WRITING, BevOption
from evweb.io.connect import (
    ATTEMPT_DELAY,
    connect_hostname,
    dns_error,
    interleave,
    start_connect,
)
from evweb.io.resolve import (
    Addresses,
    ResolveCallback,
    ThreadResolver,
    default_resolver,
    set_default_factory,
)
from evweb.io.socket_bev import SocketBufferEvent
from evweb.reactor import NONBLOCK, ONCE, Event, EventBase
from evweb.reactor import TIMEOUT as EV_TIMEOUT

V4 = socket.AF_INET
V6 = socket.AF_INET6


def spin(base: EventBase, until: Callable[[], object], limit: float = 5.0) -> None:
    """Run the loop until ``until()`` holds, for at most ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not until() and time.monotonic() < deadline:
        base.loop(ONCE | NONBLOCK)
        if not until():
            base.loopexit(0.005)
            base.dispatch()
    assert until(), "condition not reached"


def _listener(family: int = V4, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(8)
    return sock


def _refused_port(family: int = V4, host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(V6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


class Recorder:
    """The bev's event callback: remembers every ``what``."""

    def __init__(self) -> None:
        self.events: list[int] = []

    def __call__(self, bev: Any, what: int, arg: Any) -> None:
        self.events.append(what)


class FakeResolver:
    """Answers with fixed addresses on the next loop iteration (or never)."""

    def __init__(self, base: EventBase, answer: Addresses | Exception | None) -> None:
        self.base = base
        self.answer = answer
        self.cancelled = 0
        self.calls: list[tuple[str, int, int]] = []

    def resolve(self, host: str, port: int, family: int, callback: ResolveCallback) -> Any:
        self.calls.append((host, port, family))
        handle = _Handle(self)
        answer = self.answer
        if answer is None:  # a real lookup keeps something on the base: its timeout
            handle.timer = self.base.timer(lambda fd, what, arg: None)
            handle.timer.add(60.0)
        else:

            def deliver(fd: int, what: int, arg: Any) -> None:
                if not handle.cancelled:
                    callback(answer)

            self.base.once(-1, EV_TIMEOUT, deliver)
        return handle


class _Handle:
    def __init__(self, resolver: FakeResolver) -> None:
        self.resolver = resolver
        self.cancelled = False
        self.timer: Event | None = None

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            if self.timer is not None:
                self.timer.delete()
            self.resolver.cancelled += 1


class Connector:
    """A connector that records when each attempt starts; blackholed addresses never answer.

    A blackholed attempt gets a listening socket: it never becomes writable,
    which is what a connect to an address that drops SYNs looks like.
    """

    def __init__(self, blackhole: set[Any] | None = None, fail_now: set[Any] | None = None) -> None:
        self.blackhole = blackhole or set()
        self.fail_now = fail_now or set()
        self.started: list[tuple[Any, float]] = []
        self.sockets: list[socket.socket] = []

    def __call__(self, family: int, sockaddr: Any) -> socket.socket:
        self.started.append((sockaddr, time.monotonic()))
        if sockaddr in self.fail_now:
            raise OSError(errno.ENETUNREACH, "unreachable (test)")
        sock = _listener() if sockaddr in self.blackhole else start_connect(family, sockaddr)
        self.sockets.append(sock)
        return sock


@pytest.fixture
def server() -> Iterator[socket.socket]:
    sock = _listener()
    yield sock
    sock.close()


def _accept_and_close(server: socket.socket) -> None:
    server.settimeout(2.0)
    conn, _ = server.accept()
    conn.close()


def _bev(base: EventBase, recorder: Recorder, options: int = 0) -> SocketBufferEvent:
    bev = SocketBufferEvent(base, None, options)
    bev.set_callbacks(event=recorder)
    return bev


# --- ordering ----------------------------------------------------------------------------


def test_interleave_alternates_families_starting_with_the_first() -> None:
    a6, b6, c6 = ((V6, ("::1", 1, 0, 0)), (V6, ("::2", 1, 0, 0)), (V6, ("::3", 1, 0, 0)))
    a4, b4 = (V4, ("10.0.0.1", 1)), (V4, ("10.0.0.2", 1))
    assert interleave([a6, b6, c6, a4, b4]) == [a6, a4, b6, b4, c6]
    assert interleave([a4, b4, a6]) == [a4, a6, b4]
    assert interleave([]) == []


def test_attempts_interleave_v6_and_v4(base: EventBase) -> None:
    addrs: Addresses = [
        (V6, ("::1", 1, 0, 0)),
        (V6, ("::2", 1, 0, 0)),
        (V4, ("10.0.0.1", 1)),
        (V4, ("10.0.0.2", 1)),
    ]
    connector = Connector(fail_now={a for _, a in addrs})
    rec = Recorder()
    bev = _bev(base, rec)
    op = connect_hostname(bev, "dual", 1, resolver=FakeResolver(base, addrs), connector=connector)
    spin(base, lambda: rec.events)
    assert [a for a, _ in connector.started] == [addrs[0][1], addrs[2][1], addrs[1][1], addrs[3][1]]
    assert op.tried == [a for a, _ in connector.started]
    assert rec.events == [ERROR]
    assert isinstance(bev.error, OSError) and bev.error.errno == errno.ENETUNREACH
    bev.close()


# --- numeric hosts and names --------------------------------------------------------------


def test_numeric_ipv4(base: EventBase, server: socket.socket) -> None:
    rec = Recorder()
    bev = _bev(base, rec)
    port = server.getsockname()[1]
    op = connect_hostname(bev, "127.0.0.1", port)
    assert rec.events == []
    spin(base, lambda: rec.events)
    assert rec.events == [CONNECTED]
    assert bev.socket is not None and bev.socket.getpeername() == ("127.0.0.1", port)
    assert op.address == ("127.0.0.1", port) and op.done and op.dns_error == 0
    assert bev.options & BevOption.CLOSE_ON_FREE
    _accept_and_close(server)
    bev.close()


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_numeric_ipv6(base: EventBase, host: str) -> None:
    if not _has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    server = _listener(V6, "::1")
    try:
        rec = Recorder()
        bev = _bev(base, rec)
        port = server.getsockname()[1]
        connect_hostname(bev, host, port)
        spin(base, lambda: rec.events)
        assert rec.events == [CONNECTED]
        assert bev.socket is not None and bev.socket.family == V6
        _accept_and_close(server)
        bev.close()
    finally:
        server.close()


def test_numeric_host_of_the_wrong_family_fails_resolution(base: EventBase) -> None:
    rec = Recorder()
    bev = _bev(base, rec)
    op = connect_hostname(bev, "127.0.0.1", 80, family=V6)
    spin(base, lambda: rec.events)
    assert rec.events == [ERROR]
    assert isinstance(bev.error, socket.gaierror)
    assert op.dns_error != 0 and dns_error(bev) == op.dns_error
    bev.close()


def test_numeric_answer_is_never_synchronous(base: EventBase) -> None:
    got: list[Any] = []
    with ThreadResolver(base) as resolver:
        resolver.resolve("[::1]", 80, socket.AF_UNSPEC, got.append)
        resolver.resolve("1.2.3.4", 80, socket.AF_UNSPEC, got.append)
        assert got == []
        spin(base, lambda: len(got) == 2)
    assert got == [[(V6, ("::1", 80, 0, 0))], [(V4, ("1.2.3.4", 80))]]


def test_localhost_through_getaddrinfo(base: EventBase, server: socket.socket) -> None:
    rec = Recorder()
    bev = _bev(base, rec)
    with ThreadResolver(base, timeout=2.0) as resolver:
        op = connect_hostname(bev, "localhost", server.getsockname()[1], resolver=resolver)
        spin(base, lambda: rec.events)
        if op.dns_error:
            pytest.skip(f"localhost does not resolve here: {bev.error}")
        # localhost may also be ::1, where nobody listens: that attempt fails and v4 wins
        assert rec.events == [CONNECTED], bev.error
        assert op.address is not None and op.address[0] == "127.0.0.1"
        assert resolver.pending == 0
    _accept_and_close(server)
    bev.close()


@pytest.fixture
def thread_default() -> Iterator[None]:
    """Connects that name no resolver use a ThreadResolver (``import evweb`` installs DNS)."""
    previous = set_default_factory(ThreadResolver)
    yield
    set_default_factory(previous)


def test_the_default_resolver_is_evweb_dns_closed_with_the_base(server: socket.socket) -> None:
    base = EventBase()
    rec = Recorder()
    bev = _bev(base, rec)
    connect_hostname(bev, "localhost", server.getsockname()[1], family=V4)  # from /etc/hosts
    resolver = default_resolver(base)
    assert type(resolver).__name__ == "ConnectResolver" and default_resolver(base) is resolver
    spin(base, lambda: rec.events)
    assert rec.events == [CONNECTED], bev.error
    _accept_and_close(server)
    bev.close()
    base.close()
    assert resolver.closed  # its sockets went with the base


def test_default_resolver_is_per_base_and_holds_no_fd_when_idle(
    base: EventBase, server: socket.socket, thread_default: None
) -> None:
    rec = Recorder()
    bev = _bev(base, rec)
    connect_hostname(bev, "localhost", server.getsockname()[1], family=V4)
    resolver = default_resolver(base)
    assert default_resolver(base) is resolver
    spin(base, lambda: rec.events)
    assert rec.events == [CONNECTED], bev.error
    assert resolver.pending == 0  # the notifier is released: the fd-leak check agrees
    _accept_and_close(server)
    bev.close()
    assert base.loop(NONBLOCK) == 1  # an idle resolver keeps nothing on the base
    resolver.close()


def test_name_that_does_not_resolve(base: EventBase) -> None:
    rec = Recorder()
    bev = _bev(base, rec)
    with ThreadResolver(base, timeout=2.0) as resolver:
        op = connect_hostname(bev, "nonexistent.invalid", 80, resolver=resolver)
        spin(base, lambda: rec.events, limit=4.0)
    if "timed out" in str(bev.error):
        bev.close()
        pytest.skip("the system resolver took more than 2 s")
    assert rec.events == [ERROR]
    assert isinstance(bev.error, socket.gaierror)
    assert op.dns_error == bev.error.errno != 0
    assert dns_error(bev) == op.dns_error
    assert bev.socket is None
    bev.close()


@pytest.fixture
def slow_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Lookups in worker threads wait until the returned Event is set (at most 2 s)."""
    release = threading.Event()
    real = socket.getaddrinfo
    busy = threading.Semaphore(0)
    started: list[int] = []

    def slow(host: Any, port: Any, *args: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            return real(host, port, *args)
        started.append(1)
        try:
            release.wait(2.0)
            return real(host, port, *args)
        finally:
            busy.release()

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    yield release
    release.set()
    for _ in started:  # let the workers finish: getaddrinfo opens fds while it runs
        busy.acquire(timeout=2.0)


def test_resolver_timeout_reports_eai_again(base: EventBase, slow_lookups: threading.Event) -> None:
    got: list[Any] = []
    with ThreadResolver(base, timeout=0.02) as resolver:
        resolver.resolve("localhost", 80, V4, got.append)
        spin(base, lambda: got)
        assert resolver.pending == 0
    assert isinstance(got[0], socket.gaierror) and got[0].errno == socket.EAI_AGAIN


def test_cancelled_thread_query_never_calls_back(
    base: EventBase, slow_lookups: threading.Event
) -> None:
    got: list[Any] = []
    kept: list[Any] = []
    with ThreadResolver(base) as resolver:
        handle = resolver.resolve("localhost", 80, V4, got.append)
        resolver.resolve("localhost", 81, V4, kept.append)
        handle.cancel()
        assert resolver.pending == 1
        slow_lookups.set()
        spin(base, lambda: kept)
        base.loop(NONBLOCK)
    assert got == [] and kept == [[(V4, ("127.0.0.1", 81))]]


def test_close_releases_a_busy_resolver(base: EventBase, slow_lookups: threading.Event) -> None:
    got: list[Any] = []
    resolver = ThreadResolver(base)
    resolver.resolve("localhost", 80, V4, got.append)
    assert resolver.pending == 1
    resolver.close()
    slow_lookups.set()
    base.loopexit(0.05)
    base.dispatch()
    assert got == [] and resolver.closed and resolver.pending == 0


def test_closing_the_bev_during_a_thread_lookup(
    base: EventBase, slow_lookups: threading.Event, thread_default: None
) -> None:
    rec = Recorder()
    bev = _bev(base, rec)
    op = connect_hostname(bev, "localhost", 80)
    resolver = default_resolver(base)
    assert resolver.pending == 1
    bev.close()
    base.loop(NONBLOCK)
    assert op.done and resolver.pending == 0 and rec.events == []
    resolver.close()


# --- every address, the head start ----------------------------------------------------------


def test_every_address_is_tried(base: EventBase, server: socket.socket) -> None:
    good = ("127.0.0.1", server.getsockname()[1])
    refused = ("127.0.0.1", _refused_port())
    rec = Recorder()
    bev = _bev(base, rec)
    resolver = FakeResolver(base, [(V4, refused), (V4, good)])
    op = connect_hostname(bev, "twice", good[1], resolver=resolver, attempt_delay=5.0)
    started = time.monotonic()
    spin(base, lambda: rec.events)
    assert rec.events == [CONNECTED]
    assert op.tried == [refused, good] and op.address == good
    assert time.monotonic() - started < 2.0  # the failure started the next one at once
    _accept_and_close(server)
    bev.close()


def test_all_addresses_failing_reports_the_last_oserror(base: EventBase) -> None:
    first, last = ("127.0.0.1", _refused_port()), ("10.255.255.1", 9)
    rec = Recorder()
    bev = _bev(base, rec)
    connector = Connector(fail_now={last})
    resolver = FakeResolver(base, [(V4, first), (V4, last)])
    op = connect_hostname(bev, "none", 1, resolver=resolver, connector=connector)
    spin(base, lambda: rec.events)
    assert rec.events == [ERROR]
    assert isinstance(bev.error, OSError) and bev.error is op.error
    assert op.tried == [first, last]
    assert all(s.fileno() == -1 for s in connector.sockets)
    bev.close()


def test_a_blackholed_first_address_gets_a_250ms_head_start(
    base: EventBase, server: socket.socket
) -> None:
    hole = ("192.0.2.1", 80)
    good = ("127.0.0.1", server.getsockname()[1])
    connector = Connector(blackhole={hole})
    rec = Recorder()
    bev = _bev(base, rec)
    resolver = FakeResolver(base, [(V4, hole), (V4, good)])
    op = connect_hostname(bev, "slow", 1, resolver=resolver, connector=connector)
    spin(base, lambda: rec.events)
    assert rec.events == [CONNECTED] and op.address == good
    (a, t_hole), (b, t_good) = connector.started
    assert (a, b) == (hole, good)
    assert ATTEMPT_DELAY == 0.25
    assert 0.24 <= t_good - t_hole < 2.0
    assert connector.sockets[0].fileno() == -1  # the loser is closed
    assert bev.socket is connector.sockets[1]
    _accept_and_close(server)
    bev.close()


def test_write_timeout_bounds_the_connect(base: EventBase) -> None:
    hole = ("192.0.2.1", 80)
    connector = Connector(blackhole={hole})
    rec = Recorder()
    bev = _bev(base, rec)
    bev.set_timeouts(None, 0.05)
    resolver = FakeResolver(base, [(V4, hole)])
    op = connect_hostname(bev, "slow", 80, resolver=resolver, connector=connector)
    spin(base, lambda: rec.events)
    assert rec.events == [WRITING | TIMEOUT] and op.done
    assert connector.sockets[0].fileno() == -1
    bev.close()


def test_deferred_callbacks_get_connected_from_the_loop(
    base: EventBase, server: socket.socket
) -> None:
    rec = Recorder()
    bev = _bev(base, rec, BevOption.DEFER_CALLBACKS)
    connect_hostname(bev, "127.0.0.1", server.getsockname()[1])
    spin(base, lambda: rec.events)
    assert rec.events == [CONNECTED]
    _accept_and_close(server)
    bev.close()


# --- cancellation and misuse -----------------------------------------------------------------


def test_closing_the_bev_cancels_resolution(base: EventBase) -> None:
    rec = Recorder()
    bev = _bev(base, rec)
    resolver = FakeResolver(base, None)  # never answers
    op = connect_hostname(bev, "pending", 80, resolver=resolver)
    bev.close()
    base.loop(NONBLOCK)
    assert resolver.cancelled == 1 and op.done and rec.events == []


def test_closing_the_bev_cancels_the_race(base: EventBase) -> None:
    holes = [("192.0.2.1", 80), ("192.0.2.2", 80)]
    connector = Connector(blackhole=set(holes))
    rec = Recorder()
    bev = _bev(base, rec)
    resolver = FakeResolver(base, [(V4, h) for h in holes])
    op = connect_hostname(bev, "x", 80, resolver=resolver, connector=connector, attempt_delay=0)
    spin(base, lambda: len(connector.started) == 2)
    bev.close()
    base.loop(NONBLOCK)
    assert op.done and rec.events == []
    assert all(s.fileno() == -1 for s in connector.sockets)
    assert base.loop(NONBLOCK) == 1  # nothing of the connect is left on the base


def test_cancel_releases_at_once(base: EventBase) -> None:
    hole = ("192.0.2.1", 80)
    connector = Connector(blackhole={hole})
    rec = Recorder()
    bev = _bev(base, rec)
    op = connect_hostname(
        bev, "x", 80, resolver=FakeResolver(base, [(V4, hole)]), connector=connector
    )
    spin(base, lambda: connector.sockets)
    op.cancel()
    assert connector.sockets[0].fileno() == -1 and op.done
    bev.close()


def test_a_new_connect_cancels_the_previous(base: EventBase, server: socket.socket) -> None:
    rec = Recorder()
    bev = _bev(base, rec)
    stuck = FakeResolver(base, None)
    first = connect_hostname(bev, "stuck", 80, resolver=stuck)
    second = connect_hostname(bev, "127.0.0.1", server.getsockname()[1])
    assert first.done and stuck.cancelled == 1
    spin(base, lambda: rec.events)
    assert rec.events == [CONNECTED] and second.done
    _accept_and_close(server)
    bev.close()


def test_misuse_is_refused(base: EventBase, pair: tuple[socket.socket, socket.socket]) -> None:
    has_socket = SocketBufferEvent(base, pair[0])
    bev = SocketBufferEvent(base)
    try:
        with pytest.raises(ConfigError):
            connect_hostname(has_socket, "localhost", 80)
        with pytest.raises(ConfigError):
            connect_hostname(bev, "localhost", 80, family=socket.AF_UNIX)
        with pytest.raises(ConfigError):
            connect_hostname(bev, "localhost", 80, attempt_delay=-1)
    finally:
        has_socket.close()
        bev.close()
    with pytest.raises(EventStateError):
        connect_hostname(bev, "localhost", 80)


def test_set_default_factory_swaps_and_none_restores_the_thread_resolver() -> None:
    made: list[EventBase] = []

    def factory(base: EventBase) -> ThreadResolver:
        made.append(base)
        return ThreadResolver(base)

    previous = set_default_factory(factory)
    try:
        base = EventBase()
        assert isinstance(default_resolver(base), ThreadResolver) and made == [base]
        base.close()
        assert set_default_factory(None) is factory
        other = EventBase()
        assert type(default_resolver(other)) is ThreadResolver and made == [base]
        other.close()
    finally:
        set_default_factory(previous)


def test_a_connect_to_an_address_sets_up_no_resolver(server: socket.socket) -> None:
    made: list[EventBase] = []

    def factory(base: EventBase) -> ThreadResolver:
        made.append(base)
        return ThreadResolver(base)

    previous = set_default_factory(factory)
    base = EventBase()
    try:
        rec = Recorder()
        bev = _bev(base, rec)
        connect_hostname(bev, "127.0.0.1", server.getsockname()[1])
        spin(base, lambda: rec.events)
        assert rec.events == [CONNECTED] and made == []  # numeric: answered without one
        _accept_and_close(server)
        bev.close()
        other = _bev(base, Recorder())
        op = connect_hostname(other, "[::1", 80)  # not an address, not a name: a lookup error
        spin(base, lambda: op.done)
        other.close()
    finally:
        set_default_factory(previous)
        base.close()
