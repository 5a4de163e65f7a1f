"""Bad input and misbehaving callbacks: clear errors naming the value, a loop that survives."""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.errors import (
    EventStateError,
    EvwebError,
    InvalidEventError,
    InvalidFdError,
    InvalidPriorityError,
    InvalidTimeoutError,
    ReactorError,
)
from evweb.reactor import (
    NONBLOCK,
    PERSIST,
    READ,
    SIGNAL,
    TIMEOUT,
    WRITE,
    Event,
    EventBase,
    EventConfig,
    supported_methods,
)

Pair = tuple[socket.socket, socket.socket]


def nothing(fd: int, what: int, arg: Any) -> None:
    """A callback that does nothing."""


# --- fds -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fd", [-2, -5, -1024])
def test_negative_fd_refused(base: EventBase, fd: int) -> None:
    with pytest.raises(InvalidFdError, match=str(fd)) as info:
        base.event(fd, READ, nothing)
    assert info.value.fd == fd
    assert isinstance(info.value, ValueError)  # callers that know nothing of evweb


def test_object_without_fileno_refused(base: EventBase) -> None:
    with pytest.raises(InvalidFdError):
        base.event(object(), READ, nothing)


def test_closed_fd_refused_at_add(base: EventBase) -> None:
    a, b = socket.socketpair()
    fd = b.fileno()
    b.close()
    a.close()
    ev = base.event(fd, READ, nothing)
    with pytest.raises(InvalidFdError, match=rf"\b{fd}\b") as info:
        ev.add()
    assert info.value.fd == fd
    assert ev.pending() == 0
    assert list(base.events()) == []
    # the base still works
    calls: list[int] = []
    base.timer(lambda fd, what, arg: calls.append(what)).add(0)
    assert base.dispatch() == 1
    assert calls == [TIMEOUT]


def test_closed_fd_refused_for_write_too(base: EventBase) -> None:
    a, b = socket.socketpair()
    fd = a.fileno()
    a.close()
    b.close()
    with pytest.raises(InvalidFdError, match=rf"\b{fd}\b"):
        base.event(fd, WRITE | PERSIST, nothing).add()


def test_closed_socket_object_refused(base: EventBase) -> None:
    a, b = socket.socketpair()
    b.close()
    a.close()
    with pytest.raises(InvalidFdError):
        base.event(b, READ, nothing).add()


def test_fd_minus_one_is_a_manual_event(base: EventBase) -> None:
    """libevent accepts fd -1 with READ: the event only fires when activated."""
    calls: list[int] = []
    ev = base.event(-1, READ, lambda fd, what, arg: calls.append(what))
    ev.activate(READ)
    base.loop(NONBLOCK)
    assert calls == [READ]


@pytest.mark.parametrize("persist", [False, True], ids=["oneshot", "persist"])
def test_fd_closed_after_add_does_not_kill_the_loop(base: EventBase, persist: bool) -> None:
    a, b = socket.socketpair()
    fired: list[int] = []

    def on_ready(fd: int, what: int, arg: Any) -> None:
        fired.append(what)
        if len(fired) >= 100:
            ev.delete()  # a closed fd may keep reporting ready: stop spinning

    ev = base.event(b.fileno(), READ | (PERSIST if persist else 0), on_ready)
    ev.add()
    b.close()  # behind the base's back
    base.loopexit(0.05)
    try:
        assert base.dispatch() == 0  # returned through loopexit, no exception
        assert base.got_exit()
        # whatever the backend said about the dead fd, only READ-side bits were delivered
        assert all(what & ~(READ | WRITE) == 0 for what in fired)
    finally:
        ev.delete()
        a.close()
    # the base keeps working afterwards
    calls: list[int] = []
    base.timer(lambda fd, what, arg: calls.append(what)).add(0)
    assert base.dispatch() == 1
    assert calls == [TIMEOUT]


def test_fd_closed_after_add_other_events_still_run(base: EventBase, pair: Pair) -> None:
    x, y = socket.socketpair()
    dead = base.event(y.fileno(), READ | PERSIST, lambda fd, what, arg: dead.delete())
    dead.add()
    y.close()
    got: list[bytes] = []

    def on_read(fd: int, what: int, arg: Any) -> None:
        got.append(pair[1].recv(16))
        base.loopbreak()

    live = base.event(pair[1], READ, on_read)
    live.add()
    pair[0].send(b"alive")
    base.loopexit(2.0)  # safety
    try:
        base.dispatch()
        assert got == [b"alive"]
    finally:
        dead.delete()
        x.close()


def _free_fd_at_or_above(low: int) -> int | None:
    try:
        import resource
    except ImportError:
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = soft if soft != resource.RLIM_INFINITY else 1 << 20
    for fd in range(low, min(limit, low + 64)):
        try:
            os.fstat(fd)
        except OSError:
            return fd
    return None


@pytest.fixture
def high_fd(pair: Pair) -> Iterator[int]:
    """pair[1] duplicated onto an fd number >= 1024 (FD_SETSIZE)."""
    target = _free_fd_at_or_above(1024)
    if target is None:
        pytest.skip("RLIMIT_NOFILE too low for an fd >= 1024")
    fd = os.dup2(pair[1].fileno(), target)
    yield fd
    os.close(fd)


def test_high_fd_on_select_is_refused_at_add(high_fd: int, pair: Pair) -> None:
    with EventBase(EventConfig(method="select")) as base:
        ev = base.event(high_fd, READ, nothing)
        with pytest.raises(InvalidFdError, match=str(high_fd)) as info:
            ev.add()
        assert info.value.fd == high_fd
        assert ev.pending() == 0
        pair[0].send(b"x")
        base.loopexit(0.01)
        assert base.dispatch() == 0  # polling later does not crash


@pytest.mark.parametrize("method", [m for m in supported_methods() if m != "select"])
def test_high_fd_works_on_other_backends(method: str, high_fd: int, pair: Pair) -> None:
    with EventBase(EventConfig(method=method)) as base:
        calls: list[int] = []
        base.event(high_fd, READ, lambda fd, what, arg: calls.append(fd)).add(2.0)
        pair[0].send(b"x")
        assert base.dispatch() == 1
        assert calls == [high_fd]


# --- timeouts ----------------------------------------------------------------------------------

BAD_TIMEOUTS = [-1, -0.5, math.nan, math.inf, -math.inf, "soon"]
BAD_IDS = ["minus_one", "negative_half", "nan", "inf", "minus_inf", "string"]


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=BAD_IDS)
def test_bad_timeout_on_add(base: EventBase, timeout: Any) -> None:
    ev = base.timer(nothing)
    with pytest.raises(InvalidTimeoutError) as info:
        ev.add(timeout)
    assert repr(timeout) in str(info.value)
    assert info.value.timeout is timeout or info.value.timeout == timeout
    assert isinstance(info.value, ValueError)
    assert ev.pending() == 0


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=BAD_IDS)
def test_bad_timeout_keeps_earlier_timeout(base: EventBase, timeout: Any) -> None:
    ev = base.timer(nothing)
    ev.add(10.0)
    deadline = ev.deadline
    with pytest.raises(InvalidTimeoutError):
        ev.add(timeout)
    assert ev.pending(TIMEOUT) == TIMEOUT
    assert ev.deadline == deadline
    ev.delete()


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=BAD_IDS)
def test_bad_timeout_elsewhere(base: EventBase, timeout: Any) -> None:
    with pytest.raises(InvalidTimeoutError, match="invalid timeout"):
        base.loopexit(timeout)
    with pytest.raises(InvalidTimeoutError):
        base.once(-1, TIMEOUT, nothing, None, timeout)
    with pytest.raises(InvalidTimeoutError):
        base.init_common_timeout(timeout)
    assert list(base.events()) == []


def test_zero_and_none_timeouts_are_fine(base: EventBase) -> None:
    calls: list[int] = []
    base.timer(lambda fd, what, arg: calls.append(what)).add(0)
    base.timer(lambda fd, what, arg: calls.append(what)).add(0.0)
    ev = base.event(-1, 0, nothing)
    ev.add(None)
    assert base.dispatch() == 1
    assert calls == [TIMEOUT, TIMEOUT]


# --- priorities ----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, -1, 257, 10_000])
def test_bad_number_of_priorities(base: EventBase, count: int) -> None:
    with pytest.raises(InvalidPriorityError, match=str(count)):
        base.priority_init(count)
    assert base.npriorities == 1


@pytest.mark.parametrize("priority", [-1, 3, 100])
def test_out_of_range_priority(base: EventBase, priority: int) -> None:
    base.priority_init(3)
    ev = base.timer(nothing)
    before = ev.priority
    with pytest.raises(InvalidPriorityError, match=str(priority)):
        ev.priority = priority
    assert ev.priority == before
    ev.priority = 2  # the top of the range is fine
    assert ev.priority == 2


# --- impossible flag combinations ----------------------------------------------------------


def test_signal_with_read_refused(base: EventBase) -> None:
    with pytest.raises(InvalidEventError, match="SIGNAL"):
        base.event(10, SIGNAL | READ, nothing)


def test_signal_with_write_refused(base: EventBase) -> None:
    with pytest.raises(InvalidEventError):
        base.event(10, SIGNAL | WRITE | PERSIST, nothing)


def test_unknown_event_bits_refused(base: EventBase) -> None:
    with pytest.raises(InvalidEventError, match="0x100"):
        base.event(-1, 0x100, nothing)


def test_signal_without_signal_number_refused(base: EventBase) -> None:
    with pytest.raises(InvalidEventError):
        base.event(-1, SIGNAL, nothing)


def test_callback_must_be_callable(base: EventBase) -> None:
    with pytest.raises(InvalidEventError):
        base.event(-1, 0, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("what", [SIGNAL, PERSIST | TIMEOUT], ids=["SIGNAL", "PERSIST"])
def test_once_refuses_signal_and_persist(base: EventBase, what: int) -> None:
    with pytest.raises(InvalidEventError):
        base.once(-1, what, nothing, None, 0)


def test_every_error_is_an_evweb_reactor_error() -> None:
    for cls in (InvalidFdError, InvalidTimeoutError, InvalidPriorityError, InvalidEventError):
        assert issubclass(cls, ReactorError) and issubclass(cls, EvwebError)
        assert issubclass(cls, ValueError)
    assert issubclass(EventStateError, RuntimeError)


# --- event state ---------------------------------------------------------------------------------


def test_adding_finalized_event_refused(base: EventBase) -> None:
    ev = base.timer(nothing)
    ev.finalize(lambda e, arg: None)
    with pytest.raises(EventStateError):
        ev.add(1.0)
    with pytest.raises(EventStateError):
        ev.add()
    base.dispatch()


def test_closed_base_refuses_add_and_loop(method: str) -> None:
    base = EventBase(EventConfig(method=method))
    ev = base.timer(nothing)
    base.close()
    with pytest.raises(EventStateError):
        ev.add(1.0)
    with pytest.raises(EventStateError):
        base.loop()
    base.close()  # closing twice is harmless


def test_assign_pending_event_refused(base: EventBase) -> None:
    ev = base.timer(nothing)
    ev.add(10.0)
    with pytest.raises(EventStateError):
        ev.assign(base, -1, 0, nothing)
    ev.delete()


# --- callbacks that raise -------------------------------------------------------------------------


class BoomError(Exception):
    """Raised on purpose by a callback."""


def test_raising_callback_is_logged_and_loop_goes_on(
    base: EventBase, caplog: pytest.LogCaptureFixture
) -> None:
    order: list[str] = []
    raised = 0

    def bad(fd: int, what: int, arg: Any) -> None:
        nonlocal raised
        raised += 1
        order.append("bad")
        if raised == 2:
            bad_ev.delete()
            base.timer(good).add(0)
        raise BoomError(f"boom {raised}")

    def good(fd: int, what: int, arg: Any) -> None:
        order.append("good")

    bad_ev = base.timer(bad, persist=True)
    bad_ev.add(0.001)
    with caplog.at_level(logging.ERROR, logger="evweb.reactor"):
        assert base.dispatch() == 1
    assert order == ["bad", "bad", "good"]  # it kept firing, and the others ran
    records = [r for r in caplog.records if r.name == "evweb.reactor" and r.exc_info]
    assert len(records) == 2
    for n, record in enumerate(records, 1):
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], BoomError)
        assert str(record.exc_info[1]) == f"boom {n}"
        assert "Traceback" in caplog.text
    assert "boom 1" in caplog.text


def test_raising_io_callback_is_logged(
    base: EventBase, pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    def bad(fd: int, what: int, arg: Any) -> None:
        pair[1].recv(16)
        raise BoomError("io boom")

    ev = base.event(pair[1], READ, bad)
    ev.add()
    pair[0].send(b"x")
    with caplog.at_level(logging.ERROR, logger="evweb.reactor"):
        assert base.dispatch() == 1
    assert any(
        r.name == "evweb.reactor" and r.exc_info and isinstance(r.exc_info[1], BoomError)
        for r in caplog.records
    )


def test_stop_on_error_propagates_and_base_loops_again(method: str) -> None:
    with EventBase(EventConfig(method=method, stop_on_error=True)) as base:
        order: list[str] = []

        def bad(fd: int, what: int, arg: Any) -> None:
            order.append("bad")
            raise BoomError("stop here")

        base.timer(bad).add(0)
        base.timer(lambda fd, what, arg: order.append("later")).add(0.02)
        with pytest.raises(BoomError, match="stop here"):
            base.loop()
        assert order == ["bad"]
        assert not base.running
        # the base is intact: loop again and the remaining event runs
        assert base.dispatch() == 1
        assert order == ["bad", "later"]
        # and it can go through the whole cycle once more
        base.timer(bad).add(0)
        with pytest.raises(BoomError):
            base.dispatch()
        assert base.dispatch() == 1


def test_stop_on_error_with_persistent_event_keeps_it_added(method: str, pair: Pair) -> None:
    with EventBase(EventConfig(method=method, stop_on_error=True)) as base:
        calls = 0

        def bad(fd: int, what: int, arg: Any) -> None:
            nonlocal calls
            calls += 1
            pair[1].recv(16)
            raise BoomError("persist")

        ev = base.event(pair[1], READ | PERSIST, bad)
        ev.add()
        pair[0].send(b"1")
        with pytest.raises(BoomError):
            base.loop()
        assert ev.pending(READ) == READ
        pair[0].send(b"2")
        with pytest.raises(BoomError):
            base.loop()
        assert calls == 2
        ev.delete()


def test_exception_handler_receives_base_event_exc(base: EventBase) -> None:
    seen: list[tuple[EventBase, Event, Exception]] = []
    base.set_exception_handler(lambda b, ev, exc: seen.append((b, ev, exc)))
    order: list[str] = []

    def bad(fd: int, what: int, arg: Any) -> None:
        order.append("bad")
        raise BoomError("handled")

    ev = base.timer(bad)
    ev.add(0)
    base.timer(lambda fd, what, arg: order.append("good")).add(0.01)
    assert base.dispatch() == 1
    assert order == ["bad", "good"]
    assert len(seen) == 1
    got_base, got_ev, got_exc = seen[0]
    assert got_base is base
    assert got_ev is ev
    assert isinstance(got_exc, BoomError) and str(got_exc) == "handled"


def test_exception_handler_replaces_logging_and_none_restores_it(
    base: EventBase, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Exception] = []
    base.set_exception_handler(lambda b, ev, exc: seen.append(exc))

    def bad(fd: int, what: int, arg: Any) -> None:
        raise BoomError("x")

    with caplog.at_level(logging.ERROR, logger="evweb.reactor"):
        base.timer(bad).add(0)
        base.dispatch()
        assert len(seen) == 1
        assert not [r for r in caplog.records if r.name == "evweb.reactor"]
        base.set_exception_handler(None)
        base.timer(bad).add(0)
        base.dispatch()
    assert len(seen) == 1
    assert [r for r in caplog.records if r.name == "evweb.reactor" and r.exc_info]


def test_exception_handler_that_raises_stops_the_loop(base: EventBase) -> None:
    class HandlerFailedError(Exception):
        pass

    def handler(b: EventBase, ev: Event, exc: Exception) -> None:
        raise HandlerFailedError("from the handler") from exc

    base.set_exception_handler(handler)

    def bad(fd: int, what: int, arg: Any) -> None:
        raise BoomError("inner")

    later: list[str] = []
    base.timer(bad).add(0)
    base.timer(lambda fd, what, arg: later.append("later")).add(0.01)
    with pytest.raises(HandlerFailedError):
        base.dispatch()
    assert later == []
    assert base.dispatch() == 1  # and the base still works
    assert later == ["later"]


def test_raising_watcher_is_logged_and_loop_goes_on(
    base: EventBase, caplog: pytest.LogCaptureFixture
) -> None:
    def bad_watcher(watcher: Any, info: Any, arg: Any) -> None:
        raise BoomError("watcher")

    watcher = base.watch_prepare(bad_watcher)
    calls: list[int] = []
    base.timer(lambda fd, what, arg: calls.append(what)).add(0)
    with caplog.at_level(logging.ERROR, logger="evweb.reactor"):
        assert base.dispatch() == 1
    assert calls == [TIMEOUT]
    assert any(
        r.name == "evweb.reactor" and r.exc_info and isinstance(r.exc_info[1], BoomError)
        for r in caplog.records
    )
    watcher.free()
