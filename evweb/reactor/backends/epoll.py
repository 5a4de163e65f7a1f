"""The epoll backend (Linux): edge triggering, O(1), early close via EPOLLRDHUP."""

from __future__ import annotations

import errno
import select
from collections.abc import Mapping
from typing import ClassVar

from evweb.errors import InvalidFdError
from evweb.reactor.backends._interface import TranslationTable, all_combinations
from evweb.reactor.flags import CLOSED, ET, READ, WRITE, Feature

_EPOLLIN = 0x001
_EPOLLPRI = 0x002
_EPOLLOUT = 0x004
_EPOLLERR = 0x008
_EPOLLHUP = 0x010
_EPOLLRDHUP = 0x2000
_EPOLLET = 1 << 31

_INITIAL_MAX_EVENTS = 32
_MAX_EVENTS = 4096


def _wanted_mask(bits: int) -> int:
    mask = 0
    if bits & READ:
        mask |= _EPOLLIN
    if bits & WRITE:
        mask |= _EPOLLOUT
    if bits & CLOSED:
        mask |= _EPOLLRDHUP
    if bits & ET:
        mask |= _EPOLLET
    return mask


def _ready_bits(mask: int) -> int:
    # An error, or a hang-up that is not a mere half-close, wakes readers and
    # writers alike so that their next read/write reports it.
    # ET rides along on every answer: an event's own bits filter it, so only
    # edge-triggered events see it in their ``what``.
    if mask & _EPOLLERR or (mask & _EPOLLHUP and not mask & _EPOLLRDHUP):
        return READ | WRITE | ET
    bits = ET
    if mask & (_EPOLLIN | _EPOLLPRI):
        bits |= READ
    if mask & _EPOLLOUT:
        bits |= WRITE
    if mask & _EPOLLRDHUP:
        bits |= CLOSED
    return bits


_TRANSLATE = TranslationTable(
    _ready_bits,
    all_combinations((_EPOLLIN, _EPOLLOUT, _EPOLLERR, _EPOLLHUP, _EPOLLRDHUP)),
)
_WANTED = [_wanted_mask(bits) for bits in range(256)]


class EpollBackend:
    """``select.epoll``; grows its per-call event array from 32 up to 4096 as needed."""

    name: ClassVar[str] = "epoll"
    features: ClassVar[Feature] = Feature.ET | Feature.O1 | Feature.EARLY_CLOSE
    need_reinit: ClassVar[bool] = True

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._max_events = _INITIAL_MAX_EVENTS
        self.translate: Mapping[int, int] = _TRANSLATE

    @classmethod
    def available(cls) -> bool:
        """Epoll exists on Linux."""
        return hasattr(select, "epoll")

    def set(self, fd: int, old: int, new: int) -> None:
        """Register, modify or unregister ``fd``, recovering from dup()ed and reused fds."""
        try:
            if not new:
                self._epoll.unregister(fd)
            elif not old:
                self._add(fd, _WANTED[new])
            else:
                self._modify(fd, _WANTED[new])
        except OSError as exc:
            if not new and exc.errno in (errno.EBADF, errno.ENOENT, errno.EPERM):
                return  # already closed: the kernel dropped it for us
            raise _fd_error(fd, exc) from exc

    def _add(self, fd: int, mask: int) -> None:
        try:
            self._epoll.register(fd, mask)
        except FileExistsError:
            # A dup() of a closed fd may still be registered under this number.
            self._epoll.modify(fd, mask)

    def _modify(self, fd: int, mask: int) -> None:
        try:
            self._epoll.modify(fd, mask)
        except FileNotFoundError:
            # The fd was closed and reopened behind our back: register it afresh.
            self._epoll.register(fd, mask)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait for readiness; a full event array doubles for next time."""
        max_events = self._max_events
        ready = self._epoll.poll(-1 if timeout is None else timeout, max_events)
        if len(ready) == max_events and max_events < _MAX_EVENTS:
            self._max_events = max_events * 2
        return ready

    def close(self) -> None:
        """Close the epoll fd."""
        self._epoll.close()


def _fd_error(fd: int, exc: OSError) -> InvalidFdError:
    if exc.errno == errno.EPERM:
        return InvalidFdError(fd, "epoll cannot poll this kind of file (regular file?)")
    return InvalidFdError(fd, exc.strerror or str(exc))
