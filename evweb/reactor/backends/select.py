"""The select backend: the portable fallback, limited to fds below FD_SETSIZE."""

from __future__ import annotations

import os
import select as _select
from collections.abc import Mapping
from typing import ClassVar

from evweb.errors import InvalidFdError
from evweb.reactor.backends.poll import check_fd
from evweb.reactor.flags import READ, WRITE, Feature

_R = 1
_W = 4
FD_SETSIZE = 1024
"""select() cannot watch fds at or above this number."""
_TRANSLATE = {_R: READ, _W: WRITE, _R | _W: READ | WRITE}


class SelectBackend:
    """``select.select`` over a read set and a write set."""

    name: ClassVar[str] = "select"
    features: ClassVar[Feature] = Feature.FDS
    need_reinit: ClassVar[bool] = False

    def __init__(self) -> None:
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self.translate: Mapping[int, int] = _TRANSLATE

    @classmethod
    def available(cls) -> bool:
        """Select exists everywhere."""
        return True

    def set(self, fd: int, old: int, new: int) -> None:
        """Move ``fd`` in or out of the read and write sets."""
        if new and not old:
            if fd >= FD_SETSIZE:
                raise InvalidFdError(
                    fd, f"the select backend only handles fds below FD_SETSIZE ({FD_SETSIZE})"
                )
            check_fd(fd)
        for wanted, fds in ((new & READ, self._readers), (new & WRITE, self._writers)):
            if wanted:
                fds.add(fd)
            else:
                fds.discard(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait for readiness; fds closed behind our back are reported ready, as poll's NVAL."""
        try:
            readable, writable, _ = _select.select(self._readers, self._writers, (), timeout)
        except OSError:
            bad = self._closed_fds()
            if not bad:
                raise
            return [(fd, _R | _W) for fd in bad]
        if not writable:
            return [(fd, _R) for fd in readable]
        masks = dict.fromkeys(readable, _R)
        for fd in writable:
            masks[fd] = masks.get(fd, 0) | _W
        return list(masks.items())

    def _closed_fds(self) -> list[int]:
        bad = []
        for fd in self._readers | self._writers:
            try:
                os.fstat(fd)
            except OSError:
                bad.append(fd)
        return bad

    def close(self) -> None:
        """Forget every fd."""
        self._readers.clear()
        self._writers.clear()
