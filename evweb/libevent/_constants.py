"""libevent's ``#define`` and enum constants, with libevent's values.

Event and loop bits come from :mod:`evweb.reactor.flags`, whose values are
libevent's already; features and base flags are plain ``int`` here, as C code
ORs and compares them as integers.
"""

from __future__ import annotations

from typing import Final

from evweb.reactor import (
    CLOSED,
    COUNT_ACTIVE,
    COUNT_ADDED,
    COUNT_VIRTUAL,
    ET,
    FINALIZE,
    MAX_PRIORITIES,
    NO_EXIT_ON_EMPTY,
    NONBLOCK,
    ONCE,
    PERSIST,
    READ,
    SIGNAL,
    TIMEOUT,
    WRITE,
    BaseFlag,
    Feature,
)

# event.h: what an event waits for, and what its callback receives
EV_TIMEOUT: Final = TIMEOUT
EV_READ: Final = READ
EV_WRITE: Final = WRITE
EV_SIGNAL: Final = SIGNAL
EV_PERSIST: Final = PERSIST
EV_ET: Final = ET
EV_FINALIZE: Final = FINALIZE
EV_CLOSED: Final = CLOSED

# event_base_loop() flags
EVLOOP_ONCE: Final = ONCE
EVLOOP_NONBLOCK: Final = NONBLOCK
EVLOOP_NO_EXIT_ON_EMPTY: Final = NO_EXIT_ON_EMPTY

# enum event_method_feature
EV_FEATURE_ET: Final = int(Feature.ET)
EV_FEATURE_O1: Final = int(Feature.O1)
EV_FEATURE_FDS: Final = int(Feature.FDS)
EV_FEATURE_EARLY_CLOSE: Final = int(Feature.EARLY_CLOSE)

# enum event_base_config_flag
EVENT_BASE_FLAG_NOLOCK: Final = int(BaseFlag.NOLOCK)
EVENT_BASE_FLAG_IGNORE_ENV: Final = int(BaseFlag.IGNORE_ENV)
EVENT_BASE_FLAG_STARTUP_IOCP: Final = int(BaseFlag.STARTUP_IOCP)
EVENT_BASE_FLAG_NO_CACHE_TIME: Final = int(BaseFlag.NO_CACHE_TIME)
EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST: Final = int(BaseFlag.EPOLL_USE_CHANGELIST)
EVENT_BASE_FLAG_PRECISE_TIMER: Final = int(BaseFlag.PRECISE_TIMER)
EVENT_BASE_FLAG_EPOLL_DISALLOW_TIMERFD: Final = int(BaseFlag.EPOLL_DISALLOW_TIMERFD)
EVENT_BASE_FLAG_USE_SIGNALFD: Final = int(BaseFlag.USE_SIGNALFD)

# event_base_get_num_events() / event_base_get_max_events() flags
EVENT_BASE_COUNT_ACTIVE: Final = COUNT_ACTIVE
EVENT_BASE_COUNT_VIRTUAL: Final = COUNT_VIRTUAL
EVENT_BASE_COUNT_ADDED: Final = COUNT_ADDED

EVENT_MAX_PRIORITIES: Final = MAX_PRIORITIES

# The libevent release whose API this package mirrors (configure.ac of the
# reference tree: 2.2.1-alpha-dev, numeric 0x02020100).
LIBEVENT_VERSION: Final = "2.2.1-alpha-dev"
LIBEVENT_VERSION_NUMBER: Final = 0x02020100
