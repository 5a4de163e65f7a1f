"""Polling backends, one module each, in libevent's order of preference."""

from __future__ import annotations

from evweb.reactor.backends._interface import Backend
from evweb.reactor.backends.devpoll import DevpollBackend
from evweb.reactor.backends.epoll import EpollBackend
from evweb.reactor.backends.kqueue import KqueueBackend
from evweb.reactor.backends.poll import PollBackend
from evweb.reactor.backends.select import SelectBackend

BACKENDS: tuple[type[Backend], ...] = (
    KqueueBackend,
    EpollBackend,
    DevpollBackend,
    PollBackend,
    SelectBackend,
)
"""Every backend evweb has, most preferred first (libevent's order, less evport)."""

__all__ = ["BACKENDS", "Backend"]
