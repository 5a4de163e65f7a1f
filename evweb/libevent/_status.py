"""What every C-named function shares: the logger, -1 on failure, timeval types."""

from __future__ import annotations

import logging

from evweb.reactor import CommonTimeout

log = logging.getLogger("evweb.libevent")

Timeval = float | CommonTimeout | None
"""A ``const struct timeval *`` argument: seconds, a common timeout, or None for NULL."""

TimevalOut = list[float]
"""A ``struct timeval *`` out-parameter: a list whose content is replaced by ``[seconds]``."""


def failed(function: str, exc: Exception) -> int:
    """Log why ``function`` failed (DEBUG on ``evweb.libevent``) and return C's -1."""
    log.debug("%s failed: %s", function, exc)
    return -1
