"""Rate limiting from ``event2/bufferevent.h`` over :mod:`evweb.io.ratelim`.

``struct ev_token_bucket_cfg`` is a :class:`~evweb.io.TokenBucketConfig`
and ``tick_len`` is float seconds (None for C's NULL, one second);
``struct bufferevent_rate_limit_group`` is a
:class:`~evweb.io.RateLimitGroup`. Constructors return None where C returns
NULL and int functions 0 / -1, the reason logged at DEBUG on
``evweb.libevent``. ``bufferevent_rate_limit_group_get_totals`` returns
``(total_read, total_written)`` instead of filling two pointers. As in
libevent, only socket BufferEvents (and TLS ones built on them) honour
limits; other kinds are refused with -1. Freeing a group that still has
members is an assertion failure in C and raises
:class:`~evweb.io.RateLimitConfigError` here.
"""

from __future__ import annotations

from evweb.errors import EvwebError
from evweb.io import BufferEvent, SocketBufferEvent
from evweb.io.ratelim import (
    RATE_LIMIT_MAX,
    RateLimitConfigError,
    RateLimiter,
    RateLimitGroup,
    TokenBucketConfig,
    rate_limiter,
    set_rate_limit,
)
from evweb.libevent._status import failed, log
from evweb.reactor import EventBase

EV_RATE_LIMIT_MAX = RATE_LIMIT_MAX


def ev_token_bucket_cfg_new(
    read_rate: int,
    read_burst: int,
    write_rate: int,
    write_burst: int,
    tick_len: float | None = None,
) -> TokenBucketConfig | None:
    """``TokenBucketConfig(rr, rb, wr, wb, tick)``; None where libevent refuses the values."""
    try:
        return TokenBucketConfig(
            read_rate, read_burst, write_rate, write_burst, 1.0 if tick_len is None else tick_len
        )
    except EvwebError as exc:
        log.debug("ev_token_bucket_cfg_new failed: %s", exc)
        return None


def ev_token_bucket_cfg_free(cfg: TokenBucketConfig) -> None:
    """No equivalent: configs are immutable values, nothing to release."""


def _socket_bev(function: str, bev: BufferEvent) -> SocketBufferEvent | None:
    if isinstance(bev, SocketBufferEvent):
        return bev
    log.debug("%s failed: %r does not support rate limits", function, bev)
    return None


def _limiter_of(bev: BufferEvent) -> RateLimiter | None:
    return rate_limiter(bev) if isinstance(bev, SocketBufferEvent) else None


def bufferevent_set_rate_limit(bev: BufferEvent, cfg: TokenBucketConfig | None) -> int:
    """``set_rate_limit(bev, cfg)``: 0, or -1 for a bev that cannot be limited."""
    sock_bev = _socket_bev("bufferevent_set_rate_limit", bev)
    if sock_bev is None:
        return -1
    set_rate_limit(sock_bev, cfg)
    return 0


def bufferevent_get_token_bucket_cfg(bev: BufferEvent) -> TokenBucketConfig | None:
    """``rate_limiter(bev).config``, or None."""
    limiter = _limiter_of(bev)
    return limiter.config if limiter is not None else None


def bufferevent_get_read_limit(bev: BufferEvent) -> int:
    """``rate_limiter(bev).get_read_limit()``; EV_RATE_LIMIT_MAX without a limit."""
    limiter = _limiter_of(bev)
    return limiter.get_read_limit() if limiter is not None else RATE_LIMIT_MAX


def bufferevent_get_write_limit(bev: BufferEvent) -> int:
    """``rate_limiter(bev).get_write_limit()``; EV_RATE_LIMIT_MAX without a limit."""
    limiter = _limiter_of(bev)
    return limiter.get_write_limit() if limiter is not None else RATE_LIMIT_MAX


def bufferevent_decrement_read_limit(bev: BufferEvent, decr: int) -> int:
    """``rate_limiter(bev).decrement_read_limit(decr)``: 0, or -1 without a limit."""
    limiter = _limiter_of(bev)
    try:
        if limiter is None:
            raise RateLimitConfigError("bev", bev, "has no rate limit")
        limiter.decrement_read_limit(decr)
    except EvwebError as exc:
        return failed("bufferevent_decrement_read_limit", exc)
    return 0


def bufferevent_decrement_write_limit(bev: BufferEvent, decr: int) -> int:
    """``rate_limiter(bev).decrement_write_limit(decr)``: 0, or -1 without a limit."""
    limiter = _limiter_of(bev)
    try:
        if limiter is None:
            raise RateLimitConfigError("bev", bev, "has no rate limit")
        limiter.decrement_write_limit(decr)
    except EvwebError as exc:
        return failed("bufferevent_decrement_write_limit", exc)
    return 0


# --- groups ----------------------------------------------------------------------------


def bufferevent_rate_limit_group_new(
    base: EventBase, cfg: TokenBucketConfig
) -> RateLimitGroup | None:
    """``RateLimitGroup(base, cfg)`` (min share 64)."""
    return RateLimitGroup(base, cfg)


def bufferevent_rate_limit_group_set_cfg(
    group: RateLimitGroup | None, cfg: TokenBucketConfig | None
) -> int:
    """``group.set_config(cfg)``: 0, or -1 for a None group or config."""
    if group is None or cfg is None:
        log.debug("bufferevent_rate_limit_group_set_cfg failed: NULL argument")
        return -1
    group.set_config(cfg)
    return 0


def bufferevent_rate_limit_group_set_min_share(group: RateLimitGroup, share: int) -> int:
    """``group.set_min_share(share)``: 0, or -1 for a negative or too large share."""
    try:
        group.set_min_share(share)
    except EvwebError as exc:
        return failed("bufferevent_rate_limit_group_set_min_share", exc)
    return 0


def bufferevent_rate_limit_group_free(group: RateLimitGroup) -> None:
    """``group.close()``; the group must be empty."""
    group.close()


def bufferevent_add_to_rate_limit_group(bev: BufferEvent, group: RateLimitGroup | None) -> int:
    """``group.add(bev)`` (a None group: leave the current one); 0 or -1."""
    sock_bev = _socket_bev("bufferevent_add_to_rate_limit_group", bev)
    if sock_bev is None:
        return -1
    if group is None:
        return bufferevent_remove_from_rate_limit_group(sock_bev)
    try:
        group.add(sock_bev)
    except EvwebError as exc:
        return failed("bufferevent_add_to_rate_limit_group", exc)
    return 0


def bufferevent_remove_from_rate_limit_group(bev: BufferEvent) -> int:
    """``rate_limiter(bev).group.remove(bev)`` if it is in a group; 0."""
    if isinstance(bev, SocketBufferEvent):
        limiter = rate_limiter(bev)
        if limiter is not None and limiter.group is not None:
            limiter.group.remove(bev)
    return 0


def bufferevent_rate_limit_group_get_read_limit(group: RateLimitGroup) -> int:
    """``group.get_read_limit()``."""
    return group.get_read_limit()


def bufferevent_rate_limit_group_get_write_limit(group: RateLimitGroup) -> int:
    """``group.get_write_limit()``."""
    return group.get_write_limit()


def bufferevent_rate_limit_group_decrement_read(group: RateLimitGroup, decr: int) -> int:
    """``group.decrement_read(decr)``: 0."""
    group.decrement_read(decr)
    return 0


def bufferevent_rate_limit_group_decrement_write(group: RateLimitGroup, decr: int) -> int:
    """``group.decrement_write(decr)``: 0."""
    group.decrement_write(decr)
    return 0


def bufferevent_rate_limit_group_get_totals(group: RateLimitGroup) -> tuple[int, int]:
    """``group.totals()``: ``(total_read, total_written)`` instead of two out-pointers."""
    return group.totals()


def bufferevent_rate_limit_group_reset_totals(group: RateLimitGroup) -> None:
    """``group.reset_totals()``."""
    group.reset_totals()
