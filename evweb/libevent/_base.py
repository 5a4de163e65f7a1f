"""Creating, configuring, describing and freeing an ``event_base``."""

from __future__ import annotations

from evweb.errors import EvwebError
from evweb.libevent._constants import (
    EVENT_MAX_PRIORITIES,
    LIBEVENT_VERSION,
    LIBEVENT_VERSION_NUMBER,
)
from evweb.libevent._status import failed, log
from evweb.reactor import EventBase, EventConfig, supported_methods

# --- event_config -------------------------------------------------------------


def event_config_new() -> EventConfig:
    """``EventConfig()``: a configuration with every default."""
    return EventConfig()


def event_config_free(cfg: EventConfig) -> None:
    """No equivalent: the garbage collector frees an ``EventConfig``; does nothing."""


def event_config_avoid_method(cfg: EventConfig, method: str) -> int:
    """``cfg.avoid_method(method)``: never use that backend; returns 0."""
    cfg.avoid_method(method)
    return 0


def event_config_require_features(cfg: EventConfig, feature: int) -> int:
    """``cfg.require_features(feature)``: replace the required ``EV_FEATURE_*`` mask; returns 0."""
    cfg.require_features(feature)
    return 0


def event_config_set_flag(cfg: EventConfig, flag: int) -> int:
    """``cfg.set_flag(flag)``: OR in ``EVENT_BASE_FLAG_*`` bits; returns 0."""
    cfg.set_flag(flag)
    return 0


def event_config_set_num_cpus_hint(cfg: EventConfig, cpus: int) -> int:
    """No equivalent (an IOCP hint in libevent); accepted and ignored, returns 0."""
    return 0


def event_config_set_max_dispatch_interval(
    cfg: EventConfig, max_interval: float | None, max_callbacks: int, min_priority: int
) -> int:
    """``cfg.set_max_dispatch_interval(...)``; ``max_callbacks`` -1 means no limit; 0/-1."""
    # C semantics: a negative count is "no limit", a count of 0 still runs one
    # callback before re-polling, and a negative priority counts as 0.
    callbacks = None if max_callbacks < 0 else max(max_callbacks, 1)
    try:
        cfg.set_max_dispatch_interval(max_interval, callbacks, max(min_priority, 0))
    except EvwebError as exc:
        return failed("event_config_set_max_dispatch_interval", exc)
    return 0


# --- event_base lifetime ---------------------------------------------------------


def event_base_new() -> EventBase | None:
    """``EventBase()``: a base on the preferred backend, or None if none works."""
    return event_base_new_with_config(None)


def event_base_new_with_config(cfg: EventConfig | None) -> EventBase | None:
    """``EventBase(cfg)``: a base, or None when no backend satisfies ``cfg``."""
    try:
        return EventBase(cfg)
    except EvwebError as exc:
        log.debug("event_base_new_with_config failed: %s", exc)
        return None


def event_base_free(base: EventBase | None) -> None:
    """``base.close()``: delete every event, run pending finalizers, release the backend."""
    if base is None:
        log.debug("event_base_free: no base to free")
        return
    base.close()


def event_base_free_nofinalize(base: EventBase | None) -> None:
    """``base.close(run_finalizers=False)``: as event_base_free, skipping finalizers."""
    if base is None:
        log.debug("event_base_free_nofinalize: no base to free")
        return
    base.close(run_finalizers=False)


def event_reinit(base: EventBase) -> int:
    """``base.reinit()``: rebuild the backend after ``fork()``; 0/-1."""
    try:
        base.reinit()
    except EvwebError as exc:
        return failed("event_reinit", exc)
    return 0


# --- describing a base -------------------------------------------------------------


def event_get_supported_methods() -> list[str]:
    """``supported_methods()``: backend names available here, most preferred first."""
    return supported_methods()


def event_base_get_method(base: EventBase) -> str:
    """``base.method``: the backend's name ("epoll", "poll", ...)."""
    return base.method


def event_base_get_features(base: EventBase) -> int:
    """``int(base.features)``: the backend's ``EV_FEATURE_*`` bits."""
    return int(base.features)


def event_base_get_signal_method(base: EventBase) -> str:
    """``base.signal_method``: how signals reach the loop."""
    return base.signal_method


def event_get_version() -> str:
    """No equivalent: the libevent version this API mirrors, ``LIBEVENT_VERSION``."""
    return LIBEVENT_VERSION


def event_get_version_number() -> int:
    """No equivalent: the libevent version as a number, ``LIBEVENT_VERSION_NUMBER``."""
    return LIBEVENT_VERSION_NUMBER


def libevent_global_shutdown() -> None:
    """No equivalent: Python releases globals at exit; does nothing."""


# --- priorities ------------------------------------------------------------------------


def event_base_priority_init(base: EventBase, npriorities: int) -> int:
    """``base.priority_init(n)``: use ``n`` queues, 1 <= n < EVENT_MAX_PRIORITIES; 0/-1."""
    if npriorities >= EVENT_MAX_PRIORITIES:
        # libevent refuses 256 itself (``npriorities >= EVENT_MAX_PRIORITIES``).
        log.debug("event_base_priority_init failed: %d priorities, at most 255", npriorities)
        return -1
    try:
        base.priority_init(npriorities)
    except EvwebError as exc:
        return failed("event_base_priority_init", exc)
    return 0


def event_base_get_npriorities(base: EventBase) -> int:
    """``base.npriorities``: the number of priority queues."""
    return base.npriorities
