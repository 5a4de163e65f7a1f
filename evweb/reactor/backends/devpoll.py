"""The /dev/poll backend (Solaris, illumos): O(1) and any fd.

Written against the documented ``select.devpoll`` API; it cannot run on
Linux, so its tests run only where /dev/poll exists.
"""

from __future__ import annotations

import select
from collections.abc import Mapping
from typing import Any, ClassVar

from evweb.reactor.backends._interface import timeout_ms
from evweb.reactor.backends.poll import TRANSLATE, WANTED, check_fd
from evweb.reactor.flags import Feature

_sel: Any = select  # devpoll exists only on Solaris-like platforms


class DevpollBackend:
    """``select.devpoll``; it shares poll's masks."""

    name: ClassVar[str] = "devpoll"
    features: ClassVar[Feature] = Feature.FDS | Feature.O1
    need_reinit: ClassVar[bool] = True

    def __init__(self) -> None:
        self._devpoll = _sel.devpoll()
        self.translate: Mapping[int, int] = TRANSLATE

    @classmethod
    def available(cls) -> bool:
        """/dev/poll exists on Solaris and illumos."""
        return hasattr(select, "devpoll")

    def set(self, fd: int, old: int, new: int) -> None:
        """Register, modify or unregister ``fd``."""
        if not new:
            self._devpoll.unregister(fd)
        elif not old:
            check_fd(fd)
            self._devpoll.register(fd, WANTED[new])
        else:
            self._devpoll.modify(fd, WANTED[new])

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait for readiness."""
        result: list[tuple[int, int]] = self._devpoll.poll(timeout_ms(timeout))
        return result

    def close(self) -> None:
        """Close the /dev/poll fd."""
        self._devpoll.close()
