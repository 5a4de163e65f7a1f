"""Helpers shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from evweb.reactor import NONBLOCK, ONCE, EventBase


def spin(
    base: EventBase, until: Callable[[], object], limit: int = 5000, seconds: float = 10
) -> None:
    """Run the loop until ``until()`` holds, bounded in iterations and time."""
    deadline = time.monotonic() + seconds
    for _ in range(limit):
        if until() or time.monotonic() > deadline:
            break
        base.loop(ONCE | NONBLOCK)
        if not until():
            base.loopexit(0.002)  # let timers and sockets catch up
            base.dispatch()
    assert until(), "condition not reached"
