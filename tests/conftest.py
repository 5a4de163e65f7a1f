"""Fixtures shared by the whole suite."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator

import pytest

from evweb.reactor import EventBase, EventConfig, supported_methods

METHODS = supported_methods()


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    """Each backend available here, as libevent's suite reruns under each EVENT_NO*."""
    return str(request.param)


@pytest.fixture
def base(method: str) -> Iterator[EventBase]:
    """A fresh base on each available backend; closed afterwards."""
    b = EventBase(EventConfig(method=method))
    yield b
    b.close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A non-blocking AF_UNIX socketpair (libevent's TT_NEED_SOCKETPAIR)."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.fixture(autouse=True)
def no_fd_leak() -> Iterator[None]:
    """Fail a test that leaves fds open (evweb promises no leaks)."""
    before = _open_fds()
    yield
    leaked = _open_fds() - before
    if leaked:
        pytest.fail(f"test leaked fds: {sorted(leaked)}")


def _open_fds() -> set[int]:
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except FileNotFoundError:  # not Linux: skip the check
        return set()


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def callbacks_must_not_fail() -> Iterator[None]:
    """evweb logs a callback's (or watcher's) exception and loops on; here that fails the test.

    Without it, an assert inside a callback would only be logged.
    """
    handler = _ErrorLog()
    logger = logging.getLogger("evweb")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    if handler.records:
        pytest.fail("a callback raised:\n" + "\n".join(handler.format(r) for r in handler.records))
