"""The kqueue backend (BSD, macOS): edge triggering (EV_CLEAR) and O(1).

Written against the documented ``select.kqueue`` API; it cannot run on Linux,
so its tests run only where kqueue exists. Each direction is its own filter,
so one fd may come back twice from one poll; the base ORs the two activations.
"""

from __future__ import annotations

import select
from collections.abc import Mapping
from typing import Any, ClassVar

from evweb.errors import InvalidFdError
from evweb.reactor.flags import ET, READ, WRITE, Feature

_sel: Any = select  # kqueue names exist only on BSD-like platforms
_MAX_EVENTS = 4096


class KqueueBackend:
    """``select.kqueue`` with one read and one write filter per fd."""

    name: ClassVar[str] = "kqueue"
    features: ClassVar[Feature] = Feature.ET | Feature.O1 | Feature.FDS
    need_reinit: ClassVar[bool] = True

    def __init__(self) -> None:
        self._kq = _sel.kqueue()
        self.translate: Mapping[int, int] = {
            _sel.KQ_FILTER_READ: READ | ET,
            _sel.KQ_FILTER_WRITE: WRITE | ET,
        }
        self._nfds = 0

    @classmethod
    def available(cls) -> bool:
        """Kqueue exists on the BSDs and macOS."""
        return hasattr(select, "kqueue")

    def set(self, fd: int, old: int, new: int) -> None:
        """Add or delete the read and write filters whose wish changed."""
        changes = []
        clear = _sel.KQ_EV_CLEAR if new & ET else 0
        for bit, kfilter in ((READ, _sel.KQ_FILTER_READ), (WRITE, _sel.KQ_FILTER_WRITE)):
            if new & bit and (not old & bit or (old ^ new) & ET):
                changes.append(_sel.kevent(fd, kfilter, _sel.KQ_EV_ADD | clear))
            elif old & bit and not new & bit:
                changes.append(_sel.kevent(fd, kfilter, _sel.KQ_EV_DELETE))
        if not changes:
            return
        self._nfds += (not old) - (not new)
        try:
            self._kq.control(changes, 0, 0)
        except OSError as exc:
            if new:
                raise InvalidFdError(fd, exc.strerror or str(exc)) from exc

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait for readiness; each kevent yields ``(fd, filter)``."""
        events = self._kq.control(None, min(max(self._nfds * 2, 1), _MAX_EVENTS), timeout)
        return [(kev.ident, kev.filter) for kev in events]

    def close(self) -> None:
        """Close the kqueue fd."""
        self._kq.close()
