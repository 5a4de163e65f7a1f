"""fork(): the child calls ``base.reinit()`` and keeps using the base (regress.c, main/fork).

The child reports through a pipe and leaves with ``os._exit`` so that it never
runs pytest's teardown; the parent bounds its wait for the child.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from evweb.reactor import NONBLOCK, PERSIST, READ, SIGNAL, EventBase, EventConfig

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is unavailable")

WAIT = 10.0

Pair = tuple[socket.socket, socket.socket]


def run_in_child(child: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Fork; the child runs ``child`` and sends back its result (or its error) as JSON."""
    rfd, wfd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns when forking a process that has threads; none are ours.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(rfd)
            try:
                outcome = child()
            except BaseException as exc:
                outcome = {"error": f"{type(exc).__name__}: {exc}"}
                code = 1
            os.write(wfd, json.dumps(outcome).encode())
            os.close(wfd)
        finally:
            os._exit(code)
    os.close(wfd)
    try:
        data = _read_all(rfd, pid)
    finally:
        os.close(rfd)
    _reap(pid)
    assert data, "the child reported nothing"
    report: dict[str, Any] = json.loads(data)
    assert "error" not in report, report["error"]
    return report


def _read_all(fd: int, pid: int) -> bytes:
    chunks: list[bytes] = []
    deadline = time.monotonic() + WAIT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
            pytest.fail("the child did not report in time")
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _reap(pid: int) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def test_child_reinit_keeps_io_and_timer_events(base: EventBase, pair: Pair) -> None:
    got: list[str] = []

    def on_read(fd: int, what: int, arg: Any) -> None:
        got.append(pair[1].recv(16).decode())

    reader = base.event(pair[1], READ | PERSIST, on_read)
    reader.add()

    def child() -> dict[str, Any]:
        base.reinit()
        ticks: list[int] = []
        timer = base.timer(lambda fd, what, arg: ticks.append(what))
        timer.add(0.01)
        pair[0].send(b"child")
        stop = base.timer(lambda fd, what, arg: base.loopbreak())
        stop.add(1.0)

        def check_done(fd: int, what: int, arg: Any) -> None:
            if got and ticks:
                base.loopbreak()

        poller = base.timer(check_done, persist=True)
        poller.add(0.01)
        base.dispatch()
        return {"got": got, "ticks": len(ticks), "method": base.method}

    report = run_in_child(child)
    assert report == {"got": ["child"], "ticks": 1, "method": base.method}

    # The parent's base is untouched by what the child did.
    assert got == []
    pair[0].send(b"parent")
    base.loop(NONBLOCK)
    assert got == ["parent"]
    reader.delete()


def test_child_can_add_new_io_events_after_reinit(base: EventBase) -> None:
    def child() -> dict[str, Any]:
        base.reinit()
        a, b = socket.socketpair()
        got: list[bytes] = []
        ev = base.event(b, READ, lambda fd, what, arg: got.append(b.recv(16)))
        ev.add(2.0)
        a.send(b"new")
        base.dispatch()
        return {"got": [x.decode() for x in got]}

    assert run_in_child(child) == {"got": ["new"]}


def test_threadsafe_base_reinit_in_child(method: str) -> None:
    with EventBase(EventConfig(method=method, threadsafe=True)) as base:

        def child() -> dict[str, Any]:
            base.reinit()
            calls: list[str] = []
            base.call_soon_threadsafe(calls.append, "soon")
            ev = base.timer(lambda fd, what, arg: calls.append("timer"))
            ev.add(0.01)
            base.dispatch()
            return {"calls": calls}

        assert run_in_child(child) == {"calls": ["soon", "timer"]}


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals needed")
def test_signal_events_work_in_child_after_reinit(base: EventBase) -> None:
    before = signal.getsignal(signal.SIGUSR1)
    calls: list[int] = []
    ev = base.event(signal.SIGUSR1, SIGNAL | PERSIST, lambda fd, what, arg: calls.append(what))
    ev.add()
    try:

        def child() -> dict[str, Any]:
            base.reinit()
            # a second event on the signal ends the loop after this round of callbacks
            base.signal(signal.SIGUSR1, lambda fd, what, arg: base.loopexit()).add()
            stop = base.timer(lambda fd, what, arg: base.loopbreak())
            stop.add(2.0)
            os.kill(os.getpid(), signal.SIGUSR1)
            base.dispatch()
            return {"calls": calls}

        assert run_in_child(child) == {"calls": [SIGNAL]}
        assert calls == []  # the child's signal never reached the parent
    finally:
        ev.delete()
    assert signal.getsignal(signal.SIGUSR1) == before
