"""evweb.libevent: libevent's C names over the reactor.

The first tests check the names and constants against event.h and watch.h;
the rest port small tests of libevent's test/regress.c through the C names
(same structure and numbers, Python callbacks).
"""

from __future__ import annotations

import inspect
import io
import logging
import os
import signal
import socket
import time
from typing import Any

import pytest

import evweb.libevent as le
from evweb.libevent import (
    EV_PERSIST,
    EV_READ,
    EV_SIGNAL,
    EV_TIMEOUT,
    EV_WRITE,
    EVENT_BASE_COUNT_ACTIVE,
    EVENT_BASE_COUNT_ADDED,
    EVLOOP_NONBLOCK,
    EVLOOP_ONCE,
)
from evweb.reactor import Event, EventBase, supported_methods

Pair = tuple[socket.socket, socket.socket]
TEST1 = b"this is a test\0"

REQUIRED = [
    "event_base_new", "event_base_new_with_config", "event_base_free",
    "event_base_free_nofinalize", "event_reinit", "event_config_new", "event_config_free",
    "event_config_avoid_method", "event_config_require_features", "event_config_set_flag",
    "event_config_set_max_dispatch_interval", "event_get_supported_methods",
    "event_base_get_method", "event_base_get_features", "event_base_get_signal_method",
    "event_get_version", "event_get_version_number", "event_new", "event_assign", "event_free",
    "event_add", "event_del", "event_del_noblock", "event_del_block", "event_remove_timer",
    "event_active", "event_pending", "event_initialized", "event_get_fd", "event_get_base",
    "event_get_events", "event_get_callback", "event_get_callback_arg", "event_get_priority",
    "event_self_cbarg", "event_priority_set", "event_base_priority_init",
    "event_base_get_npriorities", "event_base_dispatch", "event_base_loop", "event_base_loopexit",
    "event_base_loopbreak", "event_base_loopcontinue", "event_base_got_exit",
    "event_base_got_break", "event_base_once", "event_base_init_common_timeout",
    "event_base_dump_events", "event_base_foreach_event", "event_base_get_num_events",
    "event_base_get_max_events", "event_base_get_running_event", "event_base_gettimeofday_cached",
    "event_base_update_cache_time", "event_gettime_monotonic", "event_base_active_by_fd",
    "event_base_active_by_signal", "event_finalize", "event_free_finalize", "evtimer_new",
    "evtimer_assign", "evtimer_add", "evtimer_del", "evtimer_pending", "evtimer_initialized",
    "evsignal_new", "evsignal_assign", "evsignal_add", "evsignal_del", "evsignal_pending",
    "evuser_new", "evuser_trigger", "evuser_del", "evuser_pending", "evwatch_prepare_new",
    "evwatch_check_new", "evwatch_free", "evwatch_base", "evwatch_prepare_get_timeout",
]

# Values from libevent's include/event2/event.h (2.2.1-alpha-dev).
CONSTANTS = {
    "EV_TIMEOUT": 0x01,
    "EV_READ": 0x02,
    "EV_WRITE": 0x04,
    "EV_SIGNAL": 0x08,
    "EV_PERSIST": 0x10,
    "EV_ET": 0x20,
    "EV_FINALIZE": 0x40,
    "EV_CLOSED": 0x80,
    "EVLOOP_ONCE": 0x01,
    "EVLOOP_NONBLOCK": 0x02,
    "EVLOOP_NO_EXIT_ON_EMPTY": 0x04,
    "EV_FEATURE_ET": 0x01,
    "EV_FEATURE_O1": 0x02,
    "EV_FEATURE_FDS": 0x04,
    "EV_FEATURE_EARLY_CLOSE": 0x08,
    "EVENT_BASE_FLAG_NOLOCK": 0x01,
    "EVENT_BASE_FLAG_IGNORE_ENV": 0x02,
    "EVENT_BASE_FLAG_STARTUP_IOCP": 0x04,
    "EVENT_BASE_FLAG_NO_CACHE_TIME": 0x08,
    "EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST": 0x10,
    "EVENT_BASE_FLAG_PRECISE_TIMER": 0x20,
    "EVENT_BASE_FLAG_EPOLL_DISALLOW_TIMERFD": 0x40,
    "EVENT_BASE_FLAG_USE_SIGNALFD": 0x80,
    "EVENT_BASE_COUNT_ACTIVE": 1,
    "EVENT_BASE_COUNT_VIRTUAL": 2,
    "EVENT_BASE_COUNT_ADDED": 4,
    "EVENT_MAX_PRIORITIES": 256,
    "LIBEVENT_VERSION_NUMBER": 0x02020100,
}


def noop(fd: int, what: int, arg: Any) -> None:
    pass


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="evweb.libevent")
    return caplog


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "evweb.libevent"]


# --- names and constants ---------------------------------------------------------------


def test_every_required_name_is_exported() -> None:
    missing = [name for name in REQUIRED if name not in le.__all__ or not hasattr(le, name)]
    assert missing == []
    assert all(name in le.__all__ for name in CONSTANTS)


def test___all___matches_the_module() -> None:
    public = {name for name in vars(le) if not name.startswith("_")}
    public -= {"annotations"}  # from __future__
    assert sorted(public) == sorted(le.__all__)
    assert len(set(le.__all__)) == len(le.__all__)


def test_constants_have_libevent_values() -> None:
    for name, value in CONSTANTS.items():
        constant = getattr(le, name)
        assert constant == value, name
        assert type(constant) is int, name  # plain ints, as C code ORs and compares them


def test_version() -> None:
    assert le.LIBEVENT_VERSION == le.event_get_version() == "2.2.1-alpha-dev"
    assert le.event_get_version_number() == le.LIBEVENT_VERSION_NUMBER


def test_every_function_has_a_one_line_docstring_naming_the_equivalent() -> None:
    functions = [getattr(le, n) for n in le.__all__ if inspect.isfunction(getattr(le, n))]
    assert len(functions) >= len(REQUIRED)
    for fn in functions:
        doc = fn.__doc__ or ""
        assert doc and "\n" not in doc.strip(), fn.__name__
        assert "``" in doc or "No equivalent" in doc, fn.__name__


def test_supported_methods_and_features(base: EventBase) -> None:
    assert le.event_get_supported_methods() == supported_methods()
    assert le.event_base_get_method(base) in le.event_get_supported_methods()
    assert le.event_base_get_features(base) == int(base.features)
    assert isinstance(le.event_base_get_signal_method(base), str)


# --- regress.c: main/simpleread, main/simpletimeout, main/event_base_new -----------------


def test_simpleread(base: EventBase, pair: Pair) -> None:
    state = {"called": 0, "ok": False}

    def simple_read_cb(fd: int, event: int, arg: Event) -> None:
        data = os.read(fd, 256)
        if data:
            if not state["called"]:
                assert le.event_add(arg, None) == 0
        elif state["called"] == 1:
            state["ok"] = True
        state["called"] += 1

    pair[0].send(TEST1)
    pair[0].shutdown(socket.SHUT_WR)
    ev = le.event_new(base, pair[1].fileno(), EV_READ, simple_read_cb, le.event_self_cbarg())
    assert ev is not None
    assert le.event_add(ev, None) == 0
    assert le.event_base_dispatch(base) == 1
    assert state["ok"]


def test_simpletimeout(base: EventBase) -> None:
    called: list[tuple[int, int, float]] = []

    def timeout_cb(fd: int, event: int, arg: Any) -> None:
        called.append((fd, event, time.monotonic()))

    ev = le.evtimer_new(base, timeout_cb, None)
    assert ev is not None
    assert le.evtimer_add(ev, 0.1) == 0
    start = time.monotonic()
    assert le.event_base_dispatch(base) == 1
    [(fd, event, when)] = called
    assert (fd, event) == (-1, EV_TIMEOUT)
    assert 0.09 <= when - start < 0.6


def test_event_base_new_with_assign(pair: Pair) -> None:
    pair[0].send(TEST1)
    pair[0].shutdown(socket.SHUT_WR)
    base = le.event_base_new()
    assert base is not None
    ev1 = le.event_struct()
    calls: list[int] = []

    def basic_read_cb(fd: int, event: int, arg: dict[str, Any]) -> None:
        data = os.read(fd, 256)
        calls.append(len(data))
        if len(calls) == 1 and data:
            return  # first call: data; go round again for the EOF
        le.event_del(arg["ev"])
        le.event_base_loopexit(arg["eb"], None)

    try:
        assert le.event_initialized(ev1) == 0
        args = {"eb": base, "ev": ev1}
        rc = le.event_assign(ev1, base, pair[1], EV_READ | EV_PERSIST, basic_read_cb, args)
        assert rc == 0
        assert le.event_initialized(ev1) == 1
        assert le.event_add(ev1, None) == 0
        assert le.event_base_loop(base, 0) == 0
        assert calls == [len(TEST1), 0]
        assert le.event_base_got_exit(base) == 1
        assert le.event_base_got_break(base) == 0
    finally:
        le.event_base_free(base)


# --- regress.c: main/event_pending ---------------------------------------------------------


def test_event_pending(base: EventBase, pair: Pair) -> None:
    r = le.event_new(base, pair[0], EV_READ, noop, None)
    w = le.event_new(base, pair[1], EV_WRITE, noop, None)
    t = le.evtimer_new(base, noop, None)
    assert r is not None and w is not None and t is not None

    now = time.time()
    le.event_add(r, None)
    le.event_add(t, 0.5)

    assert le.event_pending(r, EV_READ, None)
    assert not le.event_pending(w, EV_WRITE, None)
    assert not le.event_pending(r, EV_WRITE, None)
    assert le.event_pending(r, EV_READ | EV_WRITE, None) == EV_READ
    assert not le.event_pending(r, EV_TIMEOUT, None)
    assert le.event_pending(t, EV_TIMEOUT, None)
    tv2 = [-1.0]
    assert le.event_pending(r, EV_READ | EV_TIMEOUT, tv2) == EV_READ
    assert tv2 == [-1.0]  # no timeout: the out-parameter is left alone
    assert le.event_pending(t, EV_TIMEOUT, tv2) == EV_TIMEOUT
    assert tv2[0] > now
    assert abs(tv2[0] - now - 0.5) < 0.1
    assert le.evtimer_pending(t, None) == EV_TIMEOUT

    for ev in (r, w, t):
        assert le.event_del(ev) == 0
        le.event_free(ev)
    assert le.event_pending(t, EV_TIMEOUT, None) == 0


# --- regress.c: main/event_once, main/event_once_never ---------------------------------------


def test_event_once(base: EventBase, pair: Pair) -> None:
    called = [0]

    def read_called_once_cb(fd: int, event: int, arg: Any) -> None:
        assert event == EV_READ
        called[0] += 1

    def timeout_called_once_cb(fd: int, event: int, arg: Any) -> None:
        assert event == EV_TIMEOUT
        called[0] += 100

    def immediate_called_twice_cb(fd: int, event: int, arg: Any) -> None:
        assert (fd, event) == (-1, EV_TIMEOUT)
        called[0] += 1000

    assert le.event_base_once(base, pair[0], EV_READ, read_called_once_cb, None, None) == 0
    assert le.event_base_once(base, -1, EV_TIMEOUT, timeout_called_once_cb, None, 0.05) == 0
    assert le.event_base_once(base, -1, 0, noop, None, None) < 0
    assert le.event_base_once(base, -1, EV_TIMEOUT, immediate_called_twice_cb, None, None) == 0
    assert le.event_base_once(base, 7, EV_TIMEOUT, immediate_called_twice_cb, None, 0.0) == 0

    pair[1].send(TEST1)
    pair[1].shutdown(socket.SHUT_WR)
    assert le.event_base_dispatch(base) == 1
    assert called[0] == 2101


def test_event_once_never(base: EventBase) -> None:
    called = [0]
    assert le.event_base_once(base, -1, EV_TIMEOUT, lambda *a: called.append(1), None, 10) == 0
    assert le.event_base_loopexit(base, 0.075) == 0
    assert le.event_base_dispatch(base) == 0
    assert called == [0]


# --- regress.c: main/bad_reentrant ---------------------------------------------------------------


def test_bad_reentrant(base: EventBase, debug_log: pytest.LogCaptureFixture) -> None:
    inner: list[int] = []

    def bad_reentrant_run_loop_cb(fd: int, what: int, ptr: EventBase) -> None:
        inner.append(le.event_base_loop(ptr, 0))

    ev = le.event_struct()
    assert le.event_assign(ev, base, -1, 0, bad_reentrant_run_loop_cb, base) == 0
    le.event_active(ev, EV_WRITE, 1)
    assert le.event_base_loop(base, 0) == 1
    assert inner == [-1]
    assert any("event_base_loop failed" in m for m in _failures(debug_log))


# --- regress.c: main/event_foreach, main/get_assignment ------------------------------------------


def test_event_foreach(base: EventBase) -> None:
    visited: list[dict[str, Any]] = [{"count": 0, "ev": None} for _ in range(5)]
    maybe = [le.event_new(base, -1, 0, noop, visited[i]) for i in range(5)]
    ev = [e for e in maybe if e is not None]
    ten_sec = 10.0

    def foreach_count_cb(b: EventBase, e: Event, arg: Any) -> int:
        if le.event_get_callback(e) is not noop:
            return 0  # an internal event
        assert le.event_get_base(e) is b
        assert arg == 10.0
        h = le.event_get_callback_arg(e)
        h["ev"] = e
        h["count"] += 1
        return 0

    def foreach_find_cb(b: EventBase, e: Event, found: list[Event]) -> int:
        if le.event_get_callback(e) is not noop:
            return 0
        if le.event_get_callback_arg(e)["count"] == 99:
            found.append(e)
            return 101
        return 0

    assert len(ev) == 5
    assert le.event_base_foreach_event(base, None, None) == -1
    le.event_add(ev[0], ten_sec)
    le.event_add(ev[1], ten_sec)
    le.event_active(ev[1], EV_TIMEOUT, 1)
    le.event_active(ev[2], EV_TIMEOUT, 1)
    le.event_add(ev[3], ten_sec)

    assert le.event_base_foreach_event(base, foreach_count_cb, ten_sec) == 0
    assert [v["count"] for v in visited] == [1, 1, 1, 1, 0]
    assert [v["ev"] for v in visited[:4]] == ev[:4]

    visited[2]["count"] = 99
    found: list[Event] = []
    assert le.event_base_foreach_event(base, foreach_find_cb, found) == 101
    assert found == [ev[2]]
    for e in ev:
        le.event_free(e)


def test_get_assignment_and_accessors(base: EventBase, pair: Pair) -> None:
    text = "foo"
    ev1 = le.event_new(base, pair[1], EV_READ, noop, text)
    assert ev1 is not None
    assert le.event_get_assignment(ev1) == (base, pair[1].fileno(), EV_READ, noop, text)
    assert le.event_get_fd(ev1) == pair[1].fileno()
    assert le.event_get_events(ev1) == EV_READ
    assert le.event_get_priority(ev1) == 0

    me = le.evtimer_new(base, noop, le.event_self_cbarg())
    assert me is not None and le.event_get_callback_arg(me) is me
    sig = le.evsignal_new(base, signal.SIGUSR1, noop, None)
    assert sig is not None
    assert le.event_get_signal(sig) == signal.SIGUSR1
    assert le.event_get_events(sig) == EV_SIGNAL | EV_PERSIST


# --- regress.c: main/priorities ------------------------------------------------------------------


@pytest.mark.parametrize(("npriorities", "counts"), [(1, (3, 3)), (2, (3, 1)), (3, (3, 0))])
def test_priorities(base: EventBase, npriorities: int, counts: tuple[int, int]) -> None:
    assert le.event_base_priority_init(base, npriorities) == 0
    assert le.event_base_get_npriorities(base) == npriorities
    one = le.event_struct()
    two = le.event_struct()
    count = {id(one): 0, id(two): 0}

    def test_priorities_cb(fd: int, what: int, pri: Event) -> None:
        if count[id(pri)] == 3:
            le.event_base_loopexit(base, None)
            return
        count[id(pri)] += 1
        le.event_add(pri, 0.0)

    le.evtimer_assign(one, base, test_priorities_cb, le.event_self_cbarg())
    assert le.event_priority_set(one, 0) == 0
    le.evtimer_assign(two, base, test_priorities_cb, le.event_self_cbarg())
    assert le.event_priority_set(two, npriorities - 1) == 0
    assert le.event_add(one, 0.0) == 0
    assert le.event_add(two, 0.0) == 0
    le.event_base_dispatch(base)
    le.event_del(one)
    le.event_del(two)
    assert (count[id(one)], count[id(two)]) == counts


# --- C return codes ------------------------------------------------------------------------------


def test_failures_return_minus_one_and_log(
    base: EventBase, pair: Pair, debug_log: pytest.LogCaptureFixture
) -> None:
    ev = le.event_new(base, pair[0], EV_READ, noop, None)
    assert ev is not None
    assert le.event_add(ev, -1.0) == -1
    assert le.event_add(ev, float("nan")) == -1
    assert le.event_base_loopexit(base, -2.0) == -1
    assert le.event_base_priority_init(base, 0) == -1
    assert le.event_base_priority_init(base, le.EVENT_MAX_PRIORITIES) == -1  # C: < 256
    assert le.event_priority_set(ev, 1) == -1  # one queue only
    assert le.event_base_init_common_timeout(base, -1.0) is None

    assert le.event_add(ev, None) == 0
    assert le.event_assign(ev, base, pair[1], EV_READ, noop, None) == -1  # pending
    assert le.event_del(ev) == 0

    assert le.event_new(base, pair[0], EV_SIGNAL | EV_READ, noop, None) is None
    assert le.event_new(base, pair[0], 0x100, noop, None) is None
    assert le.evsignal_new(base, 0, noop, None) is None
    assert le.event_base_once(base, -1, EV_SIGNAL, noop, None, None) == -1
    assert le.event_base_once(base, -1, EV_TIMEOUT | EV_PERSIST, noop, None, None) == -1

    closed = socket.socket()
    stale = closed.fileno()
    closed.close()
    gone = le.event_new(base, stale, EV_READ, noop, None)
    assert gone is not None
    assert le.event_add(gone, None) == -1

    assert le.event_finalize(0, ev, lambda e, a: None) == 0
    assert le.event_add(ev, None) == -1  # being finalized
    assert le.event_finalize(0, ev, lambda e, a: None) == -1
    le.event_active(ev, EV_READ, 1)  # ignored, as libevent does
    assert le.event_base_loop(base, EVLOOP_NONBLOCK) in (0, 1)

    le.event_base_free(base)
    assert le.event_base_dispatch(base) == -1  # closed base
    assert le.event_add(gone, None) == -1

    messages = _failures(debug_log)
    assert any(m.startswith("event_add failed: invalid timeout") for m in messages)
    assert any(m.startswith("event_priority_set failed") for m in messages)
    assert all(r.levelno == logging.DEBUG for r in debug_log.records if r.name == "evweb.libevent")


def test_no_backend_gives_none() -> None:
    cfg = le.event_config_new()
    for method in le.event_get_supported_methods():
        assert le.event_config_avoid_method(cfg, method) == 0
    assert le.event_base_new_with_config(cfg) is None

    cfg = le.event_config_new()
    impossible = le.EV_FEATURE_ET | le.EV_FEATURE_FDS | le.EV_FEATURE_EARLY_CLOSE
    assert le.event_config_require_features(cfg, impossible) == 0
    assert le.event_base_new_with_config(cfg) is None
    le.event_config_free(cfg)
    le.event_base_free(None)  # tolerated, as in C


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", supported_methods())
def test_config_picks_the_method_left(method: str) -> None:
    cfg = le.event_config_new()
    for other in le.event_get_supported_methods():
        if other != method:
            le.event_config_avoid_method(cfg, other)
    assert le.event_config_set_flag(cfg, le.EVENT_BASE_FLAG_IGNORE_ENV) == 0
    assert le.event_config_set_num_cpus_hint(cfg, 4) == 0
    base = le.event_base_new_with_config(cfg)
    assert base is not None
    try:
        assert le.event_base_get_method(base) == method
        assert le.event_reinit(base) == 0
    finally:
        le.event_base_free(base)
        le.event_config_free(cfg)


def test_max_dispatch_interval_follows_c() -> None:
    cfg = le.event_config_new()
    assert le.event_config_set_max_dispatch_interval(cfg, None, 0, -1) == 0
    assert (cfg.max_dispatch_interval, cfg.max_callbacks) == (None, 1)
    assert cfg.limit_callbacks_after_priority == 0
    assert le.event_config_set_max_dispatch_interval(cfg, 0.01, -1, 1) == 0
    assert (cfg.max_dispatch_interval, cfg.max_callbacks) == (0.01, None)
    assert le.event_config_set_max_dispatch_interval(cfg, -1.0, 5, 0) == -1


# --- loop control --------------------------------------------------------------------------------


def test_loopbreak_and_got_break(base: EventBase) -> None:
    calls = [0]

    def cb(fd: int, what: int, arg: Any) -> None:
        calls[0] += 1
        le.event_base_loopbreak(base)

    ev = le.event_new(base, -1, EV_PERSIST, cb, None)
    assert ev is not None
    le.event_add(ev, 0.01)
    assert le.event_base_dispatch(base) == 0
    assert calls == [1]
    assert (le.event_base_got_break(base), le.event_base_got_exit(base)) == (1, 0)
    assert le.event_base_loopcontinue(base) == 0
    le.event_free(ev)


def test_loop_flags(base: EventBase) -> None:
    assert le.event_base_loop(base, EVLOOP_NONBLOCK) == 1  # nothing to do
    ev = le.evuser_new(base, noop, None)
    assert ev is not None
    le.evuser_trigger(ev)
    assert le.event_base_loop(base, EVLOOP_ONCE) == 0


def test_active_by_fd_and_running_event(base: EventBase, pair: Pair) -> None:
    seen: list[tuple[int, Event | None]] = []

    def cb(fd: int, what: int, arg: Event) -> None:
        seen.append((what, le.event_base_get_running_event(base)))

    ev = le.event_new(base, pair[0], EV_READ, cb, le.event_self_cbarg())
    assert ev is not None
    le.event_add(ev, None)
    le.event_base_active_by_fd(base, pair[0].fileno(), EV_READ | EV_WRITE)
    # As in C, NONBLOCK runs what is active, then finds nothing left: 1.
    assert le.event_base_loop(base, EVLOOP_NONBLOCK) == 1
    assert seen == [(EV_READ, ev)]
    assert le.event_base_get_running_event(base) is None


def test_evuser(base: EventBase) -> None:
    fired: list[int] = []
    ev = le.evuser_new(base, lambda fd, what, arg: fired.append(what), None)
    assert ev is not None
    assert le.evuser_initialized(ev) == 1
    le.evuser_trigger(ev)
    assert le.evuser_pending(ev, None) == 0  # as in libevent: the macro asks for no bits
    assert le.evuser_del(ev) == 0
    assert le.event_base_loop(base, EVLOOP_NONBLOCK) == 1
    le.evuser_trigger(ev)
    assert le.event_base_loop(base, EVLOOP_NONBLOCK) == 1  # ran it, then nothing was left
    assert fired == [0]


def test_remove_timer_and_del_variants(base: EventBase, pair: Pair) -> None:
    ev = le.event_new(base, pair[0], EV_READ, noop, None)
    assert ev is not None
    le.event_add(ev, 5.0)
    assert le.event_pending(ev, EV_READ | EV_TIMEOUT) == EV_READ | EV_TIMEOUT
    assert le.event_remove_timer(ev) == 0
    assert le.event_pending(ev, EV_READ | EV_TIMEOUT) == EV_READ
    assert le.event_del_noblock(ev) == 0
    assert le.event_pending(ev, EV_READ) == 0
    le.event_add(ev, None)
    assert le.event_del_block(ev) == 0
    assert le.event_pending(ev, EV_READ) == 0


def test_common_timeout(base: EventBase) -> None:
    common = le.event_base_init_common_timeout(base, 0.05)
    assert common is not None
    assert le.event_base_init_common_timeout(base, 0.05) is common
    fired: list[int] = []
    evs = [le.evtimer_new(base, lambda fd, what, arg: fired.append(arg), i) for i in range(3)]
    for ev in evs:
        assert ev is not None and le.evtimer_add(ev, common) == 0
    assert le.event_base_dispatch(base) == 1
    assert fired == [0, 1, 2]


# --- blank events, event_base_set ----------------------------------------------------------------


def test_blank_event() -> None:
    ev = le.event_struct()
    assert le.event_initialized(ev) == le.evtimer_initialized(ev) == 0
    assert le.event_pending(ev, EV_TIMEOUT, None) == 0
    base1, base2 = le.event_base_new(), le.event_base_new()
    assert base1 is not None and base2 is not None
    try:
        assert le.event_base_set(base1, ev) == -1
        assert le.event_assign(ev, base1, -1, EV_SIGNAL | EV_READ, noop, None) == -1
        assert le.event_initialized(ev) == 0  # a failed assign leaves it blank
        assert le.evsignal_assign(ev, base1, signal.SIGUSR2, noop, None) == 0
        assert le.evsignal_initialized(ev) == 1
        assert le.event_get_base(ev) is base1
        assert le.event_base_set(base2, ev) == 0
        assert le.event_get_base(ev) is base2
        assert le.event_get_events(ev) == EV_SIGNAL | EV_PERSIST
    finally:
        le.event_base_free(base1)
        le.event_base_free(base2)


# --- signals -------------------------------------------------------------------------------------


@pytest.mark.needs_main_thread
def test_signal(base: EventBase) -> None:
    caught: list[tuple[int, int]] = []

    def signal_cb(fd: int, what: int, arg: Event) -> None:
        caught.append((le.event_get_signal(arg), what))

    ev = le.evsignal_new(base, signal.SIGUSR1, signal_cb, le.event_self_cbarg())
    assert ev is not None
    assert le.evsignal_add(ev, None) == 0
    assert le.evsignal_pending(ev, None) == EV_SIGNAL
    os.kill(os.getpid(), signal.SIGUSR1)
    assert le.event_base_loop(base, EVLOOP_ONCE) == 0
    le.event_base_active_by_signal(base, signal.SIGUSR1)
    assert le.event_base_loop(base, EVLOOP_NONBLOCK) == 0
    assert caught == [(signal.SIGUSR1, EV_SIGNAL)] * 2
    assert le.evsignal_del(ev) == 0
    assert le.evsignal_pending(ev, None) == 0


# --- finalizers ----------------------------------------------------------------------------------


def test_finalize(base: EventBase) -> None:
    done: list[tuple[Event, Any]] = []
    ev1 = le.evtimer_new(base, noop, "one")
    ev2 = le.evtimer_new(base, noop, "two")
    assert ev1 is not None and ev2 is not None
    le.evtimer_add(ev1, 10.0)
    assert le.event_finalize(0, ev1, lambda e, a: done.append((e, a))) == 0
    assert le.event_free_finalize(0, ev2, lambda e, a: done.append((e, a))) == 0
    assert le.evtimer_pending(ev1, None) == 0
    assert le.event_base_loop(base, EVLOOP_NONBLOCK) == 1
    assert done == [(ev1, "one"), (ev2, "two")]


@pytest.mark.parametrize(
    ("free", "expected"),
    [(le.event_base_free, ["fin"]), (le.event_base_free_nofinalize, [])],
    ids=["free", "nofinalize"],
)
def test_free_runs_finalizers_unless_nofinalize(free: Any, expected: list[str]) -> None:
    base = le.event_base_new()
    assert base is not None
    ran: list[str] = []
    ev = le.evtimer_new(base, noop, None)
    assert ev is not None
    le.event_finalize(0, ev, lambda e, a: ran.append("fin"))
    free(base)
    assert ran == expected


# --- introspection and time ----------------------------------------------------------------------


def test_counts_and_dump(base: EventBase, pair: Pair) -> None:
    r = le.event_new(base, pair[0], EV_READ, noop, None)
    t = le.evtimer_new(base, noop, None)
    assert r is not None and t is not None
    le.event_add(r, None)
    le.event_add(t, 1.5)
    le.event_active(t, EV_TIMEOUT, 1)
    assert le.event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) == 1
    assert le.event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) == 3
    assert le.event_base_get_max_events(base, EVENT_BASE_COUNT_ADDED, 0) == 3

    out = io.StringIO()
    le.event_base_dump_events(base, out)
    text = out.getvalue()
    assert text.startswith("Inserted events:\n")
    assert f"[fd  {pair[0].fileno()}] Read\n" in text
    assert "Active events:\n" in text and " Timeout active" in text
    le.event_del(r)
    le.event_del(t)
    assert le.event_base_get_max_events(base, EVENT_BASE_COUNT_ADDED, 1) == 3
    assert le.event_base_get_max_events(base, EVENT_BASE_COUNT_ADDED, 0) == 0


def test_time_out_parameters(base: EventBase) -> None:
    seen: list[list[float]] = []

    def cache_time_cb(fd: int, what: int, arg: Any) -> None:
        tv: list[float] = []
        assert le.event_base_gettimeofday_cached(base, tv) == 0
        time.sleep(0.03)
        again: list[float] = []
        le.event_base_gettimeofday_cached(base, again)
        assert le.event_base_update_cache_time(base) == 0
        updated: list[float] = []
        le.event_base_gettimeofday_cached(base, updated)
        seen.append(tv + again + updated)

    ev = le.evtimer_new(base, cache_time_cb, None)
    assert ev is not None
    le.evtimer_add(ev, 0.0)
    le.event_base_dispatch(base)
    [(cached, again, updated)] = seen
    # Cached while the callback runs (evweb converts to wall-clock time on
    # each call, so allow clock-reading jitter, far below the 30 ms slept).
    assert abs(again - cached) < 0.005
    assert updated - cached >= 0.025
    assert abs(updated - time.time()) < 0.5

    mono: list[float] = []
    assert le.event_gettime_monotonic(base, mono) == 0
    assert abs(mono[0] - time.monotonic()) < 0.5


def test_watchers(base: EventBase) -> None:
    timeouts: list[tuple[int, list[float]]] = []
    checks: list[Any] = []

    def on_prepare(watcher: Any, info: Any, arg: Any) -> None:
        tv: list[float] = []
        timeouts.append((le.evwatch_prepare_get_timeout(info, tv), tv))
        assert le.evwatch_base(watcher) is base and arg == "p"

    def on_check(watcher: Any, info: Any, arg: Any) -> None:
        checks.append(arg)

    prepare = le.evwatch_prepare_new(base, on_prepare, "p")
    check = le.evwatch_check_new(base, on_check, "c")
    ev = le.evtimer_new(base, noop, None)
    assert ev is not None
    le.evtimer_add(ev, 0.05)
    assert le.event_base_dispatch(base) == 1
    assert timeouts and checks and checks[0] == "c"
    written, tv = timeouts[0]
    assert written == 1 and 0.0 <= tv[0] <= 0.05

    user = le.evuser_new(base, noop, None)
    assert user is not None
    le.evuser_trigger(user)
    timeouts.clear()
    le.event_base_loop(base, EVLOOP_NONBLOCK)
    assert timeouts == [(1, [0.0])]  # something is active: no wait

    le.evwatch_free(prepare)
    le.evwatch_free(check)
    le.evuser_trigger(user)
    timeouts.clear()
    le.event_base_loop(base, EVLOOP_NONBLOCK)
    assert timeouts == []


def test_prepare_timeout_absent_when_blocking_forever(base: EventBase, pair: Pair) -> None:
    results: list[int] = []

    def on_prepare(watcher: Any, info: Any, arg: Any) -> None:
        tv = [-1.0]
        results.append(le.evwatch_prepare_get_timeout(info, tv))
        assert tv == [-1.0] or results[-1] == 1
        pair[1].send(b"x")  # wake the poll

    def on_read(fd: int, what: int, arg: Any) -> None:
        os.read(fd, 16)

    le.evwatch_prepare_new(base, on_prepare, None)
    ev = le.event_new(base, pair[0], EV_READ, on_read, None)
    assert ev is not None
    le.event_add(ev, None)
    assert le.event_base_loop(base, EVLOOP_ONCE) == 0
    assert results[0] == 0
