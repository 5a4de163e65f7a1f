"""EventConfig and backend selection (libevent's ``event_config``)."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

from evweb.errors import ConfigError, NoBackendError
from evweb.reactor.backends import BACKENDS, Backend
from evweb.reactor.flags import BaseFlag, Feature

log = logging.getLogger("evweb.reactor")


@dataclass
class EventConfig:
    """How to build an :class:`~evweb.reactor.EventBase`.

    ``method`` forces one backend (every other one is avoided); ``avoid``
    names backends not to use; ``require`` lists features the backend must
    have. ``threadsafe`` lets other threads add, delete and activate events
    and wake the loop. ``stop_on_error`` makes an exception raised by a
    callback stop the loop and propagate out of ``loop()`` instead of being
    logged.
    """

    method: str | None = None
    avoid: set[str] = field(default_factory=set)
    require: Feature = Feature.NONE
    flags: BaseFlag = BaseFlag.NONE
    threadsafe: bool = False
    stop_on_error: bool = False
    max_dispatch_interval: float | None = None
    max_callbacks: int | None = None
    limit_callbacks_after_priority: int = 1

    def avoid_method(self, name: str) -> EventConfig:
        """Never use backend ``name`` (repeatable)."""
        self.avoid.add(name)
        return self

    def require_features(self, features: Feature | int) -> EventConfig:
        """Require ``features`` of the backend; replaces any earlier requirement."""
        self.require = Feature(features)
        return self

    def set_flag(self, flag: BaseFlag | int) -> EventConfig:
        """Set a base flag (OR-ed with those already set)."""
        self.flags |= BaseFlag(flag)
        return self

    def set_max_dispatch_interval(
        self, interval: float | None, max_callbacks: int | None, min_priority: int
    ) -> EventConfig:
        """Re-check for new events after ``interval`` seconds or ``max_callbacks`` callbacks.

        The limit applies to priorities >= ``min_priority``; None means no limit.
        """
        if interval is not None and (not math.isfinite(interval) or interval < 0):
            raise ConfigError(f"max dispatch interval must be >= 0 seconds, got {interval!r}")
        if max_callbacks is not None and max_callbacks < 1:
            raise ConfigError(f"max_callbacks must be >= 1 or None, got {max_callbacks!r}")
        if min_priority < 0:
            raise ConfigError(f"min_priority must be >= 0, got {min_priority!r}")
        self.max_dispatch_interval = interval
        self.max_callbacks = max_callbacks
        self.limit_callbacks_after_priority = min_priority
        return self


def supported_methods() -> list[str]:
    """Names of the backends this platform offers, most preferred first."""
    return [backend.name for backend in BACKENDS if backend.available()]


def _env_disabled(name: str, config: EventConfig) -> bool:
    if config.flags & BaseFlag.IGNORE_ENV or _is_setuid():
        return False
    return f"EVENT_NO{name.upper()}" in os.environ  # set at all, even empty, as libevent


def _is_setuid() -> bool:
    getuid = getattr(os, "getuid", None)
    return getuid is not None and (os.getuid() != os.geteuid() or os.getgid() != os.getegid())


def _rejection(backend: type[Backend], config: EventConfig) -> str | None:
    """Why ``backend`` cannot serve ``config``, or None when it can."""
    name = backend.name
    if config.method is not None and name != config.method:
        return "not the requested method"
    if name in config.avoid:
        return "avoided by the config"
    if _env_disabled(name, config):
        return f"disabled by EVENT_NO{name.upper()}"
    if not backend.available():
        return "not available on this platform"
    missing = config.require & ~backend.features
    if missing:
        return f"lacks {missing!r}"
    return None


def open_backend(config: EventConfig) -> Backend:
    """Instantiate the first backend in preference order that satisfies ``config``."""
    if config.method is not None and config.method not in {b.name for b in BACKENDS}:
        known = ", ".join(b.name for b in BACKENDS)
        raise ConfigError(f"unknown method {config.method!r}; known methods: {known}")
    reasons = []
    for backend in BACKENDS:
        why = _rejection(backend, config)
        if why is None:
            try:
                instance = backend()
            except OSError as exc:
                reasons.append(f"{backend.name}: failed to start ({exc})")
                continue
            _show_method(instance, config)
            return instance
        reasons.append(f"{backend.name}: {why}")
    raise NoBackendError(f"no event mechanism satisfies {_describe(config)}: " + "; ".join(reasons))


def _show_method(backend: Backend, config: EventConfig) -> None:
    if not config.flags & BaseFlag.IGNORE_ENV and os.environ.get("EVENT_SHOW_METHOD"):
        log.info("evweb using: %s", backend.name)


def _describe(config: EventConfig) -> str:
    parts = []
    if config.method:
        parts.append(f"method={config.method!r}")
    if config.avoid:
        parts.append(f"avoid={sorted(config.avoid)}")
    if config.require:
        parts.append(f"require={config.require!r}")
    return "the config (" + (", ".join(parts) or "defaults") + ")"
