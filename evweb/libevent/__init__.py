"""libevent's C API (``event2/event.h``, ``event2/watch.h``) over :mod:`evweb.reactor`.

For porting C code line by line: the names, constants and return codes are
libevent's, and each function is a thin call into the Pythonic reactor.

Main names and their Pythonic equivalents::

    event_base_new()                   EventBase()
    event_base_new_with_config(cfg)    EventBase(cfg)              (None if no backend fits)
    event_config_new()                 EventConfig()
    event_base_free(base)              base.close()
    event_base_dispatch(base)          base.dispatch()
    event_base_loop(base, flags)       base.loop(flags)
    event_base_loopexit(base, tv)      base.loopexit(tv)
    event_base_loopbreak(base)         base.loopbreak()
    event_base_once(base, ...)         base.once(fd, what, cb, arg, timeout)
    event_new(base, fd, what, cb, a)   base.event(fd, what, cb, a)
    evtimer_new(base, cb, arg)         base.timer(cb, arg)
    evsignal_new(base, sig, cb, arg)   base.signal(sig, cb, arg)
    event_add(ev, tv)                  ev.add(tv)
    event_del(ev)                      ev.delete()
    event_active(ev, res, ncalls)      ev.activate(res)
    event_pending(ev, what, tv)        ev.pending(what), ev.expiry
    event_priority_set(ev, pri)        ev.priority = pri
    event_self_cbarg()                 SELF
    event_finalize(0, ev, cb)          ev.finalize(cb)
    evwatch_prepare_new(base, cb, a)   base.watch_prepare(cb, a)
    EV_READ, EV_PERSIST, EVLOOP_ONCE   READ, PERSIST, ONCE

Conventions:

* A ``const struct timeval *`` argument is float seconds, or None for NULL
  (a CommonTimeout from event_base_init_common_timeout is also accepted).
* Out-parameters: where C fills a ``struct timeval *`` (event_pending,
  evtimer_pending, event_base_gettimeofday_cached, event_gettime_monotonic,
  evwatch_prepare_get_timeout), pass a list; its content is replaced by
  ``[seconds]`` when C would write the timeval, and left alone otherwise.
  Times are wall-clock (``time.time()``) except event_gettime_monotonic's
  and the prepare timeout, which is a duration. event_get_assignment
  returns its five out-parameters as a tuple.
* Functions that return ``int`` in C return 0 on success and -1 on failure:
  evweb's typed errors (:class:`evweb.errors.EvwebError`) are caught and the
  reason is logged at DEBUG on the ``evweb.libevent`` logger. Constructors
  (event_base_new, event_new, evtimer_new, ...) return None where C returns
  NULL. event_base_loop returns 0, 1 (no events left) or -1 (including a
  re-entrant call). Exceptions that are not evweb's (TypeError, or one
  raised by a callback with ``EventConfig(stop_on_error=True)``) propagate.
* Callbacks are called ``cb(fd, what, arg)``; event_base_foreach_event calls
  ``fn(base, ev, arg)``; watchers get ``cb(watcher, info, arg)``.
* C's ``struct event ev; event_assign(&ev, ...)`` becomes
  ``ev = event_struct(); event_assign(ev, ...)``; event_initialized is 0 only
  for such a blank event.

Not offered: debug mode (event_enable_debug_mode, event_debug_unassign),
log and fatal callbacks, event_set_mem_functions, event_get_struct_event_size,
and the pre-2.0 API working on a global base (event_init, event_dispatch, ...).
"""

from __future__ import annotations

from evweb.libevent._base import (
    event_base_free,
    event_base_free_nofinalize,
    event_base_get_features,
    event_base_get_method,
    event_base_get_npriorities,
    event_base_get_signal_method,
    event_base_new,
    event_base_new_with_config,
    event_base_priority_init,
    event_config_avoid_method,
    event_config_free,
    event_config_new,
    event_config_require_features,
    event_config_set_flag,
    event_config_set_max_dispatch_interval,
    event_config_set_num_cpus_hint,
    event_get_supported_methods,
    event_get_version,
    event_get_version_number,
    event_reinit,
    libevent_global_shutdown,
)
from evweb.libevent._constants import (
    EV_CLOSED,
    EV_ET,
    EV_FEATURE_EARLY_CLOSE,
    EV_FEATURE_ET,
    EV_FEATURE_FDS,
    EV_FEATURE_O1,
    EV_FINALIZE,
    EV_PERSIST,
    EV_READ,
    EV_SIGNAL,
    EV_TIMEOUT,
    EV_WRITE,
    EVENT_BASE_COUNT_ACTIVE,
    EVENT_BASE_COUNT_ADDED,
    EVENT_BASE_COUNT_VIRTUAL,
    EVENT_BASE_FLAG_EPOLL_DISALLOW_TIMERFD,
    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST,
    EVENT_BASE_FLAG_IGNORE_ENV,
    EVENT_BASE_FLAG_NO_CACHE_TIME,
    EVENT_BASE_FLAG_NOLOCK,
    EVENT_BASE_FLAG_PRECISE_TIMER,
    EVENT_BASE_FLAG_STARTUP_IOCP,
    EVENT_BASE_FLAG_USE_SIGNALFD,
    EVENT_MAX_PRIORITIES,
    EVLOOP_NO_EXIT_ON_EMPTY,
    EVLOOP_NONBLOCK,
    EVLOOP_ONCE,
    LIBEVENT_VERSION,
    LIBEVENT_VERSION_NUMBER,
)
from evweb.libevent._event import (
    event_active,
    event_add,
    event_assign,
    event_base_set,
    event_callback_fn,
    event_del,
    event_del_block,
    event_del_noblock,
    event_finalize,
    event_finalize_callback_fn,
    event_free,
    event_free_finalize,
    event_get_assignment,
    event_get_base,
    event_get_callback,
    event_get_callback_arg,
    event_get_events,
    event_get_fd,
    event_get_priority,
    event_get_signal,
    event_initialized,
    event_new,
    event_pending,
    event_priority_set,
    event_remove_timer,
    event_self_cbarg,
    event_struct,
)
from evweb.libevent._introspect import (
    event_base_dump_events,
    event_base_foreach_event,
    event_base_foreach_event_cb,
    event_base_get_max_events,
    event_base_get_num_events,
    event_base_get_running_event,
    event_base_gettimeofday_cached,
    event_base_update_cache_time,
    event_gettime_monotonic,
)
from evweb.libevent._loop import (
    event_base_active_by_fd,
    event_base_active_by_signal,
    event_base_dispatch,
    event_base_got_break,
    event_base_got_exit,
    event_base_init_common_timeout,
    event_base_loop,
    event_base_loopbreak,
    event_base_loopcontinue,
    event_base_loopexit,
    event_base_once,
)
from evweb.libevent._macros import (
    evsignal_add,
    evsignal_assign,
    evsignal_del,
    evsignal_initialized,
    evsignal_new,
    evsignal_pending,
    evtimer_add,
    evtimer_assign,
    evtimer_del,
    evtimer_initialized,
    evtimer_new,
    evtimer_pending,
    evuser_del,
    evuser_initialized,
    evuser_new,
    evuser_pending,
    evuser_trigger,
)
from evweb.libevent._watch import (
    evwatch_base,
    evwatch_check_cb,
    evwatch_check_new,
    evwatch_free,
    evwatch_prepare_cb,
    evwatch_prepare_get_timeout,
    evwatch_prepare_new,
)

__all__ = [
    # constants
    "EV_CLOSED",
    "EV_ET",
    "EV_FEATURE_EARLY_CLOSE",
    "EV_FEATURE_ET",
    "EV_FEATURE_FDS",
    "EV_FEATURE_O1",
    "EV_FINALIZE",
    "EV_PERSIST",
    "EV_READ",
    "EV_SIGNAL",
    "EV_TIMEOUT",
    "EV_WRITE",
    "EVENT_BASE_COUNT_ACTIVE",
    "EVENT_BASE_COUNT_ADDED",
    "EVENT_BASE_COUNT_VIRTUAL",
    "EVENT_BASE_FLAG_EPOLL_DISALLOW_TIMERFD",
    "EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST",
    "EVENT_BASE_FLAG_IGNORE_ENV",
    "EVENT_BASE_FLAG_NO_CACHE_TIME",
    "EVENT_BASE_FLAG_NOLOCK",
    "EVENT_BASE_FLAG_PRECISE_TIMER",
    "EVENT_BASE_FLAG_STARTUP_IOCP",
    "EVENT_BASE_FLAG_USE_SIGNALFD",
    "EVENT_MAX_PRIORITIES",
    "EVLOOP_NO_EXIT_ON_EMPTY",
    "EVLOOP_NONBLOCK",
    "EVLOOP_ONCE",
    "LIBEVENT_VERSION",
    "LIBEVENT_VERSION_NUMBER",
    # callback types
    "event_base_foreach_event_cb",
    "event_callback_fn",
    "event_finalize_callback_fn",
    "evwatch_check_cb",
    "evwatch_prepare_cb",
    # event_config and event_base
    "event_base_free",
    "event_base_free_nofinalize",
    "event_base_get_features",
    "event_base_get_method",
    "event_base_get_npriorities",
    "event_base_get_signal_method",
    "event_base_new",
    "event_base_new_with_config",
    "event_base_priority_init",
    "event_config_avoid_method",
    "event_config_free",
    "event_config_new",
    "event_config_require_features",
    "event_config_set_flag",
    "event_config_set_max_dispatch_interval",
    "event_config_set_num_cpus_hint",
    "event_get_supported_methods",
    "event_get_version",
    "event_get_version_number",
    "event_reinit",
    "libevent_global_shutdown",
    # the loop
    "event_base_active_by_fd",
    "event_base_active_by_signal",
    "event_base_dispatch",
    "event_base_got_break",
    "event_base_got_exit",
    "event_base_init_common_timeout",
    "event_base_loop",
    "event_base_loopbreak",
    "event_base_loopcontinue",
    "event_base_loopexit",
    "event_base_once",
    # introspection and time
    "event_base_dump_events",
    "event_base_foreach_event",
    "event_base_get_max_events",
    "event_base_get_num_events",
    "event_base_get_running_event",
    "event_base_gettimeofday_cached",
    "event_base_update_cache_time",
    "event_gettime_monotonic",
    # events
    "event_active",
    "event_add",
    "event_assign",
    "event_base_set",
    "event_del",
    "event_del_block",
    "event_del_noblock",
    "event_finalize",
    "event_free",
    "event_free_finalize",
    "event_get_assignment",
    "event_get_base",
    "event_get_callback",
    "event_get_callback_arg",
    "event_get_events",
    "event_get_fd",
    "event_get_priority",
    "event_get_signal",
    "event_initialized",
    "event_new",
    "event_pending",
    "event_priority_set",
    "event_remove_timer",
    "event_self_cbarg",
    "event_struct",
    # evtimer_*, evsignal_*, evuser_*
    "evsignal_add",
    "evsignal_assign",
    "evsignal_del",
    "evsignal_initialized",
    "evsignal_new",
    "evsignal_pending",
    "evtimer_add",
    "evtimer_assign",
    "evtimer_del",
    "evtimer_initialized",
    "evtimer_new",
    "evtimer_pending",
    "evuser_del",
    "evuser_initialized",
    "evuser_new",
    "evuser_pending",
    "evuser_trigger",
    # watch.h
    "evwatch_base",
    "evwatch_check_new",
    "evwatch_free",
    "evwatch_prepare_get_timeout",
    "evwatch_prepare_new",
]
