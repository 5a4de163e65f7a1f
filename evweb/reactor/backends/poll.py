"""The poll backend: any fd; early close where the platform has POLLRDHUP."""

from __future__ import annotations

import os
import select
from collections.abc import Mapping
from typing import ClassVar

from evweb.errors import InvalidFdError
from evweb.reactor.backends._interface import TranslationTable, all_combinations, timeout_ms
from evweb.reactor.flags import CLOSED, READ, WRITE, Feature

_POLLIN = 0x001
_POLLPRI = 0x002
_POLLOUT = 0x004
_POLLERR = 0x008
_POLLHUP = 0x010
_POLLNVAL = 0x020
_POLLRDHUP: int = getattr(select, "POLLRDHUP", 0)


def _wanted_mask(bits: int) -> int:
    mask = 0
    if bits & READ:
        mask |= _POLLIN
    if bits & WRITE:
        mask |= _POLLOUT
    if bits & CLOSED:
        mask |= _POLLRDHUP
    return mask


def _ready_bits(mask: int) -> int:
    # Errors, hang-ups and closed fds (NVAL) wake both directions so the
    # callback's next read or write reports what happened.
    if mask & (_POLLERR | _POLLHUP | _POLLNVAL):
        mask |= _POLLIN | _POLLOUT
    bits = 0
    if mask & (_POLLIN | _POLLPRI):
        bits |= READ
    if mask & _POLLOUT:
        bits |= WRITE
    if _POLLRDHUP and mask & _POLLRDHUP:
        bits |= CLOSED
    return bits


_SEED_BITS = (_POLLIN, _POLLOUT, _POLLERR, _POLLHUP, _POLLNVAL) + (
    (_POLLRDHUP,) if _POLLRDHUP else ()
)
TRANSLATE = TranslationTable(_ready_bits, all_combinations(_SEED_BITS))
WANTED = [_wanted_mask(bits) for bits in range(256)]


def check_fd(fd: int) -> None:
    """Refuse an fd that is not open (poll and select would only say so later)."""
    try:
        os.fstat(fd)
    except OSError as exc:
        raise InvalidFdError(fd, exc.strerror or "not an open file descriptor") from exc


class PollBackend:
    """``select.poll``."""

    name: ClassVar[str] = "poll"
    features: ClassVar[Feature] = Feature.FDS | (
        Feature.EARLY_CLOSE if _POLLRDHUP else Feature.NONE
    )
    need_reinit: ClassVar[bool] = False

    def __init__(self) -> None:
        self._poll = select.poll()
        self.translate: Mapping[int, int] = TRANSLATE

    @classmethod
    def available(cls) -> bool:
        """Poll exists on every Unix."""
        return hasattr(select, "poll")

    def set(self, fd: int, old: int, new: int) -> None:
        """Register, modify or unregister ``fd``."""
        if not new:
            try:
                self._poll.unregister(fd)
            except KeyError:
                pass
        elif not old:
            check_fd(fd)
            self._poll.register(fd, WANTED[new])
        else:
            self._poll.modify(fd, WANTED[new])

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait for readiness (timeout rounded up to whole milliseconds)."""
        return self._poll.poll(timeout_ms(timeout))

    def close(self) -> None:
        """Nothing to release: poll keeps no kernel object."""
