"""Events: IO readiness, activation, pending state, once, counters, iteration and dumps.

Ports the event-level checks of libevent's ``main/`` group (regress.c) and the
format check of ``test-dumpevents`` + ``check-dumpevents.py``.
"""

from __future__ import annotations

import gc
import io
import os
import re
import socket
import time
import weakref
from typing import Any

import pytest

from evweb.errors import (
    EventStateError,
    InvalidEventError,
    InvalidFdError,
    ReactorError,
)
from evweb.reactor import (
    CLOSED,
    COUNT_ACTIVE,
    COUNT_ADDED,
    COUNT_VIRTUAL,
    ET,
    NONBLOCK,
    ONCE,
    PERSIST,
    READ,
    SELF,
    SIGNAL,
    TIMEOUT,
    WRITE,
    Event,
    EventBase,
    Feature,
)

EPS = 0.002
LATE = 1.0
TEST1 = b"this is a test\x00"

Pair = tuple[socket.socket, socket.socket]


pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")


def noop(fd: int, what: int, arg: Any) -> None:
    pass


def drain(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except BlockingIOError:
        pass
    return data


# --- simple IO -------------------------------------------------------------------------


def test_simpleread(base: EventBase, pair: Pair) -> None:
    """main/simpleread: data then EOF, the callback re-adding itself once."""
    pair[0].send(TEST1)
    pair[0].shutdown(socket.SHUT_WR)
    reads: list[bytes] = []

    def on_read(fd: int, what: int, ev: Event) -> None:
        assert what == READ
        assert fd == pair[1].fileno()
        reads.append(pair[1].recv(256))
        if len(reads) == 1:
            ev.add()

    base.event(pair[1], READ, on_read, SELF).add()
    assert base.dispatch() == 1
    assert reads == [TEST1, b""]


def test_simpleread_multiple(base: EventBase, pair: Pair) -> None:
    """main/simpleread_multiple: two events on one fd both fire."""
    pair[0].send(TEST1)
    pair[0].shutdown(socket.SHUT_WR)
    calls: list[str] = []
    base.event(pair[1], READ, lambda fd, what, arg: calls.append("one")).add()
    base.event(pair[1], READ, lambda fd, what, arg: calls.append("two")).add()
    assert base.dispatch() == 1
    assert sorted(calls) == ["one", "two"]


def test_simplewrite(base: EventBase, pair: Pair) -> None:
    """main/simplewrite."""
    written: list[int] = []

    def on_write(fd: int, what: int, arg: Any) -> None:
        assert what == WRITE
        written.append(pair[0].send(TEST1))

    base.event(pair[0], WRITE, on_write).add()
    assert base.dispatch() == 1
    assert written == [len(TEST1)]
    assert pair[1].recv(256) == TEST1


@pytest.mark.parametrize("persist", [False, True], ids=["multiple", "persistent"])
def test_multiple_and_persistent(base: EventBase, pair: Pair, persist: bool) -> None:
    """main/multiple and main/persistent: 4 KiB through the pair in 128-byte writes."""
    wbuf = bytes(i & 0xFF for i in range(4096))
    state = {"woff": 0}
    received = bytearray()
    flags = PERSIST if persist else 0

    def on_write(fd: int, what: int, ev: Event) -> None:
        woff = state["woff"]
        n = pair[0].send(wbuf[woff : woff + 128])
        state["woff"] = woff + n
        if state["woff"] >= len(wbuf):
            pair[0].shutdown(socket.SHUT_WR)
            if persist:
                ev.delete()
            return
        if not persist:
            ev.add()

    def on_read(fd: int, what: int, ev: Event) -> None:
        try:
            data = pair[1].recv(4096)
        except BlockingIOError:
            data = None  # spurious wake-up: wait again
        if data == b"":
            if persist:
                ev.delete()
            return
        if data:
            received.extend(data)
        if not persist:
            ev.add()

    base.event(pair[0], WRITE | flags, on_write, SELF).add()
    base.event(pair[1], READ | flags, on_read, SELF).add()
    assert base.dispatch() == 1
    assert state["woff"] == len(wbuf)
    assert bytes(received) == wbuf


def test_combined(base: EventBase, pair: Pair) -> None:
    """main/combined: a read and a write event on each end of the pair."""
    nread = {"r1": 0, "r2": 0, "w1": 4096, "w2": 8192}

    def make_reader(sock: socket.socket, key: str) -> Any:
        def on_read(fd: int, what: int, ev: Event) -> None:
            try:
                data = sock.recv(128)
            except BlockingIOError:
                ev.add()
                return
            if not data:
                return
            nread[key] += len(data)
            ev.add()

        return on_read

    def make_writer(sock: socket.socket, key: str) -> Any:
        def on_write(fd: int, what: int, ev: Event) -> None:
            n = min(128, nread[key])
            sent = sock.send(b"q" * n) if n else 0
            if sent <= 0:
                sock.shutdown(socket.SHUT_WR)
                return
            nread[key] -= sent
            ev.add()

        return on_write

    base.event(pair[0], READ, make_reader(pair[0], "r1"), SELF).add()
    base.event(pair[0], WRITE, make_writer(pair[0], "w1"), SELF).add()
    base.event(pair[1], READ, make_reader(pair[1], "r2"), SELF).add()
    base.event(pair[1], WRITE, make_writer(pair[1], "w2"), SELF).add()
    assert base.dispatch() == 1
    assert nread["r1"] == 8192
    assert nread["r2"] == 4096


def test_multiple_events_for_same_fd(base: EventBase, pair: Pair) -> None:
    """main/multiple_events_for_same_fd: a READ and a WRITE event on one fd."""
    seen: list[int] = []
    e1 = base.event(pair[0], READ, lambda fd, what, arg: seen.append(what))
    e2 = base.event(pair[0], WRITE, lambda fd, what, arg: seen.append(what))
    e1.add()
    e2.add()
    assert base.loop(ONCE) == 0
    assert seen == [WRITE]
    e2.delete()
    pair[1].send(TEST1)
    assert base.loop(ONCE) == 0
    assert seen == [WRITE, READ]
    e1.delete()


def test_nonpersist_readd(base: EventBase, pair: Pair) -> None:
    """main/nonpersist_readd: re-adding from a callback the event that is about to run."""
    last_added: list[Event] = []
    ran: list[str] = []

    def re_add(fd: int, what: int, other: list[Event]) -> None:
        sock = pair[0] if fd == pair[0].fileno() else pair[1]
        assert sock.recv(256) == b"Hello"
        other[0].add()
        last_added.append(other[0])
        ran.append("cb")

    ref1: list[Event] = []
    ref2: list[Event] = []
    ev1 = base.event(pair[0], READ, re_add, ref2)
    ev2 = base.event(pair[1], READ, re_add, ref1)
    ref1.append(ev1)
    ref2.append(ev2)
    assert pair[0].send(b"Hello") == 5
    assert pair[1].send(b"Hello") == 5
    ev1.add()
    ev2.add()
    assert base.loop(ONCE) == 0
    assert ran == ["cb", "cb"]
    # whichever ran first re-added the second, which was then deleted before
    # its own callback re-added the first: only the last re-added one is pending
    last = last_added[-1]
    other = ev2 if last is ev1 else ev1
    assert last.pending(READ) == READ
    assert other.pending(READ) == 0
    ev1.delete()
    ev2.delete()


def test_want_only_once(base: EventBase, pair: Pair) -> None:
    """main/want_only_once: a non-persistent event fires once even if still readable."""
    pair[0].send(TEST1)
    calls: list[bytes] = []

    def on_read(fd: int, what: int, arg: Any) -> None:
        calls.append(pair[1].recv(256))
        pair[0].send(TEST1)  # readable again, but nobody re-adds us

    base.loopexit(0.05)
    base.event(pair[1], READ, on_read).add()
    assert base.dispatch() == 0
    assert calls == [TEST1]


def test_simpleclose_rw(base: EventBase) -> None:
    """main/simpleclose_rw: a peer's close is seen as READ by a reader, WRITE by a writer."""
    pair1 = socket.socketpair()
    pair2 = socket.socketpair()
    try:
        pair1[1].setblocking(False)
        pair2[1].setblocking(False)
        chunk = b"c" * 1024
        while True:
            try:
                pair2[1].send(chunk)
            except BlockingIOError:
                break
        state = {"closed": False, "premature": False}
        got: dict[str, int] = {}

        def close_peers(fd: int, what: int, arg: Any) -> None:
            pair1[0].close()
            pair2[0].close()
            state["closed"] = True

        def record(fd: int, what: int, key: str) -> None:
            if not state["closed"]:
                state["premature"] = True
            got[key] = what
            if len(got) == 2:
                base.loopexit()

        base.timer(close_peers).add(0.02)
        base.event(pair1[1], READ, record, "read").add()
        base.event(pair2[1], WRITE, record, "write").add()
        base.loopexit(5.0)  # safety net only
        assert base.dispatch() == 0
        assert got == {"read": READ, "write": WRITE}
        assert not state["premature"]
    finally:
        for sock in (*pair1, *pair2):
            sock.close()


@pytest.mark.parametrize("how", ["close", "shutdown"])
@pytest.mark.parametrize("persist", [False, True], ids=["once", "persist"])
@pytest.mark.parametrize("et", [False, True], ids=["lt", "et"])
def test_simpleclose(base: EventBase, pair: Pair, how: str, persist: bool, et: bool) -> None:
    """main/simpleclose_{close,shutdown}[_persist][_et]: EV_CLOSED on peer close."""
    if not base.features & Feature.EARLY_CLOSE:
        pytest.skip(f"{base.method} lacks Feature.EARLY_CLOSE")
    if et and not base.features & Feature.ET:
        pytest.skip(f"{base.method} lacks Feature.ET")
    events = CLOSED | (ET if et else 0) | (PERSIST if persist else 0)
    got: list[int] = []
    ev = base.event(pair[0], events, lambda fd, what, arg: got.append(what))
    ev.add()
    if how == "close":
        pair[1].close()
    else:
        pair[1].shutdown(socket.SHUT_WR)
    if persist and not et:
        base.loopexit(0.01)  # level-triggered and persistent: it would never stop
    assert base.loop(NONBLOCK) == (0 if persist else 1)
    assert got
    assert set(got) == {events & ~PERSIST}
    if et or not persist:
        assert len(got) == 1
    ev.delete()


def test_many_events(base: EventBase) -> None:
    """main/many_events: 70 events ready at once all run."""
    many = 70
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(many)]
    try:
        called = [0] * many
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            base.event(sock, WRITE, _count, (called, i)).add()
        assert base.loop(NONBLOCK) == 1
        assert called == [1] * many
    finally:
        for sock in socks:
            sock.close()


def test_many_events_slow_add(base: EventBase) -> None:
    """main/many_events_slow_add: persistent events added one loop at a time."""
    many = 70
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(many)]
    events: list[Event] = []
    try:
        called = [0] * many
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            ev = base.event(sock, WRITE | PERSIST, _count, (called, i))
            ev.add()
            events.append(ev)
            assert base.loop(NONBLOCK | ONCE) == 0
        assert base.loop(NONBLOCK | ONCE) == 0
        assert called == [many - i + 1 for i in range(many)]
    finally:
        for ev in events:
            ev.delete()
        for sock in socks:
            sock.close()


def _count(fd: int, what: int, arg: tuple[list[int], int]) -> None:
    called, i = arg
    called[i] += 1


def test_event_closed_fd_poll(base: EventBase, pair: Pair) -> None:
    """main/event_closed_fd_poll: poll reports an fd closed behind its back as READ."""
    if base.method != "poll":
        pytest.skip("libevent checks this for the poll backend only")
    got: list[int] = []
    ev = base.event(pair[0], READ, lambda fd, what, arg: got.append(what))
    ev.add(0.5)
    assert ev.pending(READ) == READ
    pair[0].close()
    assert base.loop(ONCE) == 0
    assert got == [READ]
    ev.delete()


def test_dup_fd(base: EventBase, pair: Pair) -> None:
    """main/dup_fd: closing a dup()ed fd and dup2()ing it back (epoll's EEXIST quirk)."""
    got = {"ev1": 0, "ev2": 0}

    def record(fd: int, what: int, key: str) -> None:
        got[key] = what

    pair[0].send(b"Hello world")
    fd = pair[1].fileno()
    dfd = os.dup(fd)
    try:
        ev1 = base.event(fd, READ | PERSIST, record, "ev1")
        ev2 = base.event(dfd, READ | PERSIST, record, "ev2")
        ev1.add()
        ev2.add()
        assert base.loop(ONCE) == 0
        assert got == {"ev1": READ, "ev2": READ}

        os.close(dfd)
        ev2.delete()
        got.update(ev1=0, ev2=0)
        assert base.loop(ONCE) == 0
        assert got == {"ev1": READ, "ev2": 0}

        assert os.dup2(fd, dfd) == dfd
        ev2 = base.event(dfd, WRITE | PERSIST, record, "ev2")
        ev2.add()
        got.update(ev1=0, ev2=0)
        assert base.loop(ONCE) == 0
        assert got == {"ev1": READ, "ev2": WRITE}
        ev1.delete()
        ev2.delete()
    finally:
        try:
            os.close(dfd)
        except OSError:
            pass


# --- validation and accessors --------------------------------------------------------------


def test_bad_assign(base: EventBase, pair: Pair) -> None:
    """main/bad_assign: READ|SIGNAL is refused; assign() refuses a pending event."""
    with pytest.raises(InvalidEventError):
        base.event(-1, SIGNAL | READ, noop)
    with pytest.raises(InvalidEventError):
        base.event(2, SIGNAL | WRITE, noop)
    with pytest.raises(InvalidEventError):
        base.event(pair[0], READ, "not callable")  # type: ignore[arg-type]
    ev = base.event(pair[0], READ, noop)
    ev.add()
    with pytest.raises(EventStateError):
        ev.assign(base, pair[1], WRITE, noop)
    ev.delete()
    ev.assign(base, pair[1], WRITE, noop, "arg")
    assert (ev.fd, ev.events, ev.arg) == (pair[1].fileno(), WRITE, "arg")


@pytest.mark.parametrize("fd", [2**31 - 1, (2**31 - 1) // 2])
def test_evmap_invalid_slots(base: EventBase, fd: int) -> None:
    """main/evmap_invalid_slots: huge fds are refused when added."""
    ev = base.event(fd, READ, noop)
    with pytest.raises(InvalidFdError) as info:
        ev.add()
    assert isinstance(info.value, ReactorError)
    assert info.value.fd == fd
    assert not ev.is_pending()
    assert base.dispatch() == 1


def test_get_assignment(base: EventBase, pair: Pair) -> None:
    """main/get_assignment: every accessor returns what the event was made with."""
    arg = "foo"
    ev = base.event(pair[1], READ, noop, arg)
    assert ev.base is base
    assert ev.fd == pair[1].fileno()
    assert ev.events == READ
    assert ev.callback is noop
    assert ev.arg is arg
    assert ev.priority == 0
    assert not ev.internal
    assert base.timer(noop).fd == -1


def test_event_new_selfarg(base: EventBase) -> None:
    """main/event_new_selfarg: SELF makes the callback receive the event, which is running."""
    seen: list[Event] = []

    def on_event(fd: int, what: int, ev: Event) -> None:
        assert isinstance(ev, Event)
        assert ev.base is base
        assert base.running_event is ev
        seen.append(ev)
        base.loopexit()

    ev = base.event(-1, READ, on_event, SELF)
    assert ev.arg is ev
    ev.activate(READ)
    assert base.dispatch() == 0
    assert seen == [ev]
    assert base.running_event is None


def test_event_assign_selfarg(base: EventBase) -> None:
    """main/event_assign_selfarg."""
    seen: list[Event] = []
    ev = base.event(-1, 0, noop)
    ev.assign(base, -1, READ, lambda fd, what, arg: seen.append(arg), SELF)
    assert ev.arg is ev
    ev.activate(READ)
    assert base.dispatch() == 1
    assert seen == [ev]


# --- pending, activation -------------------------------------------------------------------


def test_event_pending(base: EventBase, pair: Pair) -> None:
    """main/event_pending: pending flags and the timeout's expiry."""
    r = base.event(pair[0], READ, noop)
    w = base.event(pair[1], WRITE, noop)
    t = base.timer(noop)
    wall_before = time.time()
    mono_before = time.monotonic()
    r.add()
    t.add(0.5)
    mono_after = time.monotonic()

    assert r.pending(READ) == READ
    assert w.pending(WRITE) == 0
    assert r.pending(WRITE) == 0
    assert r.pending(READ | WRITE) == READ
    assert r.pending(TIMEOUT) == 0
    assert t.pending(TIMEOUT) == TIMEOUT
    assert r.pending() == READ
    assert t.pending() == TIMEOUT
    assert w.pending() == 0
    assert r.is_pending() and t.is_pending() and not w.is_pending()

    assert r.deadline is None and r.expiry is None
    assert w.deadline is None and w.expiry is None
    deadline = t.deadline
    assert deadline is not None
    assert mono_before + 0.5 <= deadline <= mono_after + 0.5
    expiry = t.expiry
    assert expiry is not None
    assert expiry > wall_before
    assert wall_before + 0.5 - 0.05 <= expiry <= time.time() + 0.5 + 0.05

    r.delete()
    t.delete()
    assert r.pending() == 0
    assert t.pending() == 0
    assert t.deadline is None and t.expiry is None


def test_pending_reports_an_io_event_with_timeout(base: EventBase, pair: Pair) -> None:
    ev = base.event(pair[0], READ | WRITE, noop)
    ev.add(10)
    assert ev.pending() == READ | WRITE | TIMEOUT
    assert ev.pending(WRITE | TIMEOUT) == WRITE | TIMEOUT
    ev.delete()


def test_manipulate_active_events(base: EventBase) -> None:
    """main/manipulate_active_events: active means pending; activations accumulate."""
    ev = base.event(-1, TIMEOUT, noop)
    ev.activate(READ)
    assert ev.pending(READ | TIMEOUT | WRITE) == READ
    ev.activate(WRITE)
    assert ev.pending(READ | TIMEOUT | WRITE) == READ | WRITE
    assert ev.is_pending()
    ev.delete()
    assert ev.pending() == 0
    assert base.dispatch() == 1


def test_activation_bits_accumulate_in_the_callback(base: EventBase) -> None:
    got: list[int] = []
    ev = base.event(-1, 0, lambda fd, what, arg: got.append(what))
    ev.activate(READ)
    ev.activate(WRITE)
    ev.activate(TIMEOUT)
    assert base.dispatch() == 1
    assert got == [READ | WRITE | TIMEOUT]


def test_delete_of_an_active_event_cancels_its_callback(base: EventBase) -> None:
    got: list[int] = []
    ev = base.event(-1, 0, lambda fd, what, arg: got.append(what))
    ev.activate(READ)
    ev.delete()
    assert base.dispatch() == 1
    assert got == []


def test_active_by_fd(base: EventBase, pair: Pair) -> None:
    """main/active_by_fd: only added events on that fd, TIMEOUT only for timed ones."""
    # nonexistent and bogus fds / signals are harmless
    base.active_by_fd(1000, READ)
    base.active_by_fd(-1, READ)
    base.active_by_signal(1000)
    base.active_by_signal(-1)

    got = {"e1": 0, "e2": 0, "e3": 0, "e4": 0}

    def record(fd: int, what: int, key: str) -> None:
        got[key] = what | 0x10000

    ev1 = base.event(pair[0], READ, record, "e1")
    ev2 = base.event(pair[0], WRITE, record, "e2")
    ev3 = base.event(pair[1], READ, record, "e3")
    ev4 = base.event(pair[1], READ, record, "e4")
    ev1.add(600)
    ev2.add()
    ev3.add()
    ev4.add(600)

    base.active_by_fd(pair[0].fileno(), WRITE)
    base.active_by_fd(pair[1].fileno(), READ)
    base.active_by_fd(pair[1].fileno(), TIMEOUT)

    assert base.loop(ONCE) == 0
    assert got["e1"] == 0
    assert got["e2"] == WRITE | 0x10000
    assert got["e3"] == READ | 0x10000
    assert got["e4"] == READ | TIMEOUT | 0x10000
    ev1.delete()


def test_active_by_fd_ignores_events_not_added(base: EventBase, pair: Pair) -> None:
    got: list[int] = []
    ev = base.event(pair[0], READ, lambda fd, what, arg: got.append(what))
    base.active_by_fd(pair[0].fileno(), READ)
    assert base.dispatch() == 1
    assert got == []
    ev.add()
    base.active_by_fd(pair[0].fileno(), WRITE)  # not what it waits for
    assert base.loop(NONBLOCK) == 0
    assert got == []
    ev.delete()


def test_remove_timer_keeps_io(base: EventBase, pair: Pair) -> None:
    """main/event_remove_timeout: remove_timer() drops the timeout, keeps the fd."""
    reads: list[int] = []
    timer_fired: list[int] = []
    events: list[Event] = []

    def read_not_timeout(fd: int, what: int, arg: Any) -> None:
        assert pair[0].recv(1) == b"A"
        reads.append(what)
        if len(reads) == 2:
            events[0].delete()

    def remove_timers(fd: int, what: int, arg: Any) -> None:
        events[0].remove_timer()
        events[1].remove_timer()
        assert events[0].pending() == READ
        assert events[0].deadline is None
        assert events[1].pending() == 0

    def send_a_byte(fd: int, what: int, arg: Any) -> None:
        pair[1].send(b"A")

    events.append(base.event(pair[0], READ | PERSIST, read_not_timeout))
    events.append(base.timer(lambda fd, what, arg: timer_fired.append(what)))
    remover = base.timer(remove_timers)
    sender1 = base.timer(send_a_byte)
    sender2 = base.timer(send_a_byte)
    remover.add(0)  # runs on the first iteration, well before the 0.2 s timeouts
    sender1.add(0.02)
    events[0].add(0.2)
    events[1].add(0.2)
    sender2.add(0.05)
    assert base.dispatch() == 1
    assert timer_fired == []
    assert reads == [READ, READ]


def test_remove_timer_stops_a_persistent_interval(base: EventBase, pair: Pair) -> None:
    """remove_timer() also forgets the interval: later IO does not re-arm a timeout."""
    got: list[int] = []

    def on_read(fd: int, what: int, ev: Event) -> None:
        got.append(what)
        assert pair[0].recv(16) == b"x"
        assert ev.pending() == READ
        ev.delete()

    ev = base.event(pair[0], READ | PERSIST, on_read, SELF)
    ev.add(0.02)
    ev.remove_timer()
    assert ev.pending() == READ
    pair[1].send(b"x")
    assert base.dispatch() == 1
    assert got == [READ]


def test_active_by_fd_reaches_common_timeouts(base: EventBase, pair: Pair) -> None:
    common = base.init_common_timeout(600)
    got: list[int] = []
    ev = base.event(pair[1], READ, lambda fd, what, arg: got.append(what))
    ev.add(common)
    other = base.timer(noop)
    other.add(common)
    base.active_by_fd(pair[1].fileno(), TIMEOUT)
    assert base.loop(ONCE) == 0
    assert got == [TIMEOUT]
    assert other.pending() == TIMEOUT
    other.delete()


def test_remove_timer_on_a_pure_timer_and_on_nothing(base: EventBase) -> None:
    ev = base.timer(noop)
    ev.remove_timer()  # not scheduled: nothing happens
    ev.add(10)
    ev.remove_timer()
    assert ev.pending() == 0
    assert base.dispatch() == 1


def test_event_timeout_lost(base: EventBase, pair: Pair) -> None:
    """main/event_timeout_lost: manual READ and an expired timeout arrive together."""
    got: list[int] = []
    ev = base.event(pair[0], TIMEOUT | READ, lambda fd, what, arg: got.append(what))
    ev.add(0.0001)
    ev.activate(READ)
    time.sleep(0.005)  # let the timeout elapse
    base.loop(ONCE | NONBLOCK)
    assert got == [READ | TIMEOUT]
    ev.delete()


# --- once ----------------------------------------------------------------------------------


def test_event_once(base: EventBase, pair: Pair) -> None:
    """main/event_once: IO, timed and immediate one-shot callbacks."""
    called = [0]

    def read_called_once(fd: int, what: int, arg: Any) -> None:
        assert what == READ
        called[0] += 1

    def timeout_called_once(fd: int, what: int, arg: Any) -> None:
        assert what == TIMEOUT
        called[0] += 100

    def immediate_called_twice(fd: int, what: int, arg: Any) -> None:
        assert what == TIMEOUT
        called[0] += 1000

    base.once(pair[0], READ, read_called_once)
    base.once(-1, TIMEOUT, timeout_called_once, None, 0.02)
    base.once(-1, TIMEOUT, immediate_called_twice)
    base.once(-1, TIMEOUT, immediate_called_twice, None, 0)
    pair[1].send(TEST1)
    pair[1].shutdown(socket.SHUT_WR)
    assert base.dispatch() == 1
    assert called[0] == 2101


def test_once_refuses_signal_and_persist(base: EventBase) -> None:
    with pytest.raises(InvalidEventError):
        base.once(-1, TIMEOUT | PERSIST, noop)
    with pytest.raises(InvalidEventError):
        base.once(2, SIGNAL, noop)
    assert base.dispatch() == 1


def test_once_refuses_no_event_bits(base: EventBase) -> None:
    with pytest.raises(InvalidEventError):
        base.once(-1, 0, noop)


def test_immediate_once_keeps_scheduling_order(base: EventBase) -> None:
    order: list[int] = []
    for i in range(10):
        base.once(-1, TIMEOUT, lambda fd, what, arg: order.append(arg), i)
    assert base.dispatch() == 1
    assert order == list(range(10))


def test_once_with_io_and_timeout_times_out(base: EventBase, pair: Pair) -> None:
    got: list[int] = []
    start = time.monotonic()
    base.once(pair[0], READ, lambda fd, what, arg: got.append(what), None, 0.02)
    assert base.dispatch() == 1
    assert got == [TIMEOUT]
    assert time.monotonic() - start >= 0.02 - EPS
    assert base.num_events(COUNT_ADDED) == 0


class _Token:
    pass


def test_event_once_never(base: EventBase) -> None:
    """main/event_once_never: an unfired once is dropped by close()."""
    called: list[int] = []
    token = _Token()
    ref = weakref.ref(token)
    base.once(-1, TIMEOUT, lambda fd, what, arg: called.append(what), token, 10)
    del token
    base.loopexit(0.02)
    assert base.dispatch() == 0
    assert called == []
    gc.collect()
    assert ref() is not None  # still scheduled
    base.close()
    gc.collect()
    assert ref() is None


def test_fired_once_is_released(base: EventBase) -> None:
    token = _Token()
    ref = weakref.ref(token)
    base.once(-1, TIMEOUT, noop, token)
    del token
    assert base.dispatch() == 1
    gc.collect()
    assert ref() is None


# --- counters ------------------------------------------------------------------------------

ALL = COUNT_ACTIVE | COUNT_VIRTUAL | COUNT_ADDED


def _counts(base: EventBase) -> tuple[int, ...]:
    return tuple(
        base.num_events(which)
        for which in (
            COUNT_ACTIVE,
            COUNT_VIRTUAL,
            COUNT_ADDED,
            COUNT_ACTIVE | COUNT_VIRTUAL,
            COUNT_ACTIVE | COUNT_ADDED,
            COUNT_VIRTUAL | COUNT_ADDED,
            ALL,
        )
    )


def _selfarg_exit(fd: int, what: int, ev: Event) -> None:
    assert ev.base.running_event is ev
    ev.base.loopexit()


def test_num_events(base: EventBase) -> None:
    """main/event_base_get_num_events: libevent counts queue memberships."""
    ev = base.event(-1, READ, _selfarg_exit, SELF)
    ev.add(0.1)
    # inserted (READ, fd -1) and timer: two memberships
    assert _counts(base) == (0, 0, 2, 0, 2, 2, 2)
    ev.activate(READ)
    assert _counts(base) == (1, 0, 3, 1, 4, 3, 4)
    assert base.loop() == 0
    assert _counts(base) == (0, 0, 0, 0, 0, 0, 0)
    base.add_virtual()
    assert _counts(base) == (0, 1, 0, 1, 0, 1, 1)
    base.del_virtual()
    assert _counts(base) == (0, 0, 0, 0, 0, 0, 0)


def test_max_events(base: EventBase) -> None:
    """main/event_base_get_max_events: high-water marks and clearing them."""
    ev = base.event(-1, READ, _selfarg_exit, SELF)
    ev2 = base.event(-1, READ, _selfarg_exit, SELF)
    ev.add(0.1)
    ev2.add(0.1)
    ev2.delete()

    def maxima(clear: tuple[bool, ...] = (False,) * 7) -> tuple[int, ...]:
        whiches = (
            COUNT_ACTIVE,
            COUNT_VIRTUAL,
            COUNT_ADDED,
            COUNT_ACTIVE | COUNT_VIRTUAL,
            COUNT_ACTIVE | COUNT_ADDED,
            COUNT_VIRTUAL | COUNT_ADDED,
            ALL,
        )
        return tuple(base.max_events(w, c) for w, c in zip(whiches, clear, strict=True))

    assert maxima() == (0, 0, 4, 0, 4, 4, 4)
    ev.activate(READ)
    assert maxima() == (1, 0, 4, 1, 5, 4, 5)
    assert base.loop() == 0
    # ACTIVE, VIRTUAL, ADDED cleared as they are read; the rest read cleared values
    assert maxima((True, True, True, False, False, False, True)) == (1, 0, 4, 0, 0, 0, 0)
    assert maxima() == (0, 0, 0, 0, 0, 0, 0)
    base.add_virtual()
    assert maxima() == (0, 1, 0, 1, 0, 1, 1)
    base.del_virtual()


def test_statistics_snapshot(base: EventBase, pair: Pair) -> None:
    ev = base.event(pair[0], READ, noop)
    ev.add(5)
    stats = base.statistics()
    assert stats.method == base.method
    assert stats.added == 2
    assert stats.timers == 1
    assert stats.fds == 1
    assert stats.active == 0
    ev.delete()


# --- iteration and dumps ----------------------------------------------------------------


def test_event_foreach(base: EventBase) -> None:
    """main/event_foreach: every added/active event once, and stopping early."""
    visited = [0] * 5
    evs = [base.event(-1, 0, noop, i) for i in range(5)]
    evs[0].add(10)
    evs[1].add(10)
    evs[1].activate(TIMEOUT)
    evs[2].activate(TIMEOUT)
    evs[3].add(10)
    # evs[4] is left alone

    def count(ev: Event) -> int:
        if ev.callback is not noop:
            return 0
        assert ev.base is base
        assert evs[ev.arg] is ev
        visited[ev.arg] += 1
        return 0

    assert base.foreach_event(count) == 0
    assert visited == [1, 1, 1, 1, 0]

    looked_at: list[Event] = []

    def find(ev: Event) -> int:
        looked_at.append(ev)
        if ev.callback is noop and ev.arg == 2:
            return 101
        return 0

    assert base.foreach_event(find) == 101
    assert looked_at[-1] is evs[2]
    assert len(looked_at) == len({id(e) for e in looked_at})
    for ev in evs:
        ev.delete()


def test_foreach_event_includes_internal_events(base: EventBase) -> None:
    common = base.init_common_timeout(5)
    ev = base.timer(noop)
    ev.add(common)
    seen: list[Event] = []
    base.foreach_event(lambda e: seen.append(e))
    assert ev in seen
    assert any(e.internal for e in seen)
    assert ev in list(base.events())
    assert not any(e.internal for e in base.events())
    ev.delete()


_TIMEOUT_RE = re.compile(r"Timeout=([0-9.]+)")


def _normalise_timeouts(line: str, now: float) -> str:
    def replace(match: re.Match[str]) -> str:
        t = float(match.group(1))
        if 0.9 < abs(t - now) < 1.1:
            return "Timeout=T+1"
        if 2.4 < abs(t - now) < 2.6:
            return "Timeout=T+2.5"
        return match.group(0)

    return _TIMEOUT_RE.sub(replace, line)


def test_dump_events_format(base: EventBase) -> None:
    """test-dumpevents + check-dumpevents.py (without the signal event)."""
    pair1 = socket.socketpair()
    pair2 = socket.socketpair()
    try:
        one_sec = base.init_common_timeout(1.0)
        two5_sec = base.init_common_timeout(2.5)

        ev = [
            base.event(pair1[0], WRITE, noop),
            base.event(pair1[1], READ | PERSIST, noop),
            base.event(pair2[0], WRITE | PERSIST, noop),
            base.event(pair2[1], READ, noop),
            base.timer(noop),
            base.timer(noop),
            base.timer(noop),
            base.event(-1, PERSIST, noop),
            base.event(-1, PERSIST, noop),
            base.event(-1, PERSIST, noop),
            base.event(-1, 0, noop),
            base.event(-1, 0, noop),
        ]
        ev[0].add()
        ev[1].add(1.0)
        ev[2].add(one_sec)
        ev[3].add(two5_sec)
        ev[4].add(one_sec)
        ev[5].add(one_sec)
        ev[6].add(1.0)
        ev[7].add(two5_sec)
        ev[8].add(one_sec)
        ev[9].add(2.5)
        ev[10].activate(READ)
        ev[11].activate(READ | WRITE | TIMEOUT)
        ev[1].activate(READ)
        now = time.time()

        def p(e: Event) -> str:
            return f"{id(e):#x}"

        want_inserted = {
            f"  {p(ev[0])} [fd  {pair1[0].fileno()}] Write",
            f"  {p(ev[1])} [fd  {pair1[1].fileno()}] Read Persist Timeout=T+1",
            f"  {p(ev[2])} [fd  {pair2[0].fileno()}] Write Persist Timeout=T+1",
            f"  {p(ev[3])} [fd  {pair2[1].fileno()}] Read Timeout=T+2.5",
            f"  {p(ev[4])} [fd  -1] Timeout=T+1",
            f"  {p(ev[5])} [fd  -1] Timeout=T+1",
            f"  {p(ev[6])} [fd  -1] Timeout=T+1",
            f"  {p(ev[7])} [fd  -1] Persist Timeout=T+2.5",
            f"  {p(ev[8])} [fd  -1] Persist Timeout=T+1",
            f"  {p(ev[9])} [fd  -1] Persist Timeout=T+2.5",
        }
        want_active = {
            f"  {p(ev[10])} [fd  -1, priority=0] Read active",
            f"  {p(ev[11])} [fd  -1, priority=0] Read Write Timeout active",
            f"  {p(ev[1])} [fd  {pair1[1].fileno()}, priority=0] Read active",
        }

        out = io.StringIO()
        base.dump_events(out)
        text = out.getvalue().splitlines()
        assert text[0] == "Inserted events:"
        assert "Active events:" in text
        split = text.index("Active events:")
        got_inserted = text[1:split]
        got_active = text[split + 1 :]
        internal = [line for line in got_inserted if "Internal" in line]
        cleaned = {
            _normalise_timeouts(line, now) for line in got_inserted if "Internal" not in line
        }
        assert cleaned == want_inserted
        assert len(internal) == 2  # the two common timeouts' drivers
        assert set(got_active) == want_active
        assert len(got_active) == len(want_active)
        assert len(cleaned) == len(got_inserted) - len(internal)

        for e in ev:
            e.delete()
    finally:
        for sock in (*pair1, *pair2):
            sock.close()


def test_dump_events_marks_active_later(base: EventBase) -> None:
    ev = base.event(-1, 0, noop)
    base.activate_later(ev, WRITE)
    out = io.StringIO()
    base.dump_events(out)
    assert f"  {id(ev):#x} [fd  -1, priority=0] Write active [NextTime]" in out.getvalue()
    ev.delete()
