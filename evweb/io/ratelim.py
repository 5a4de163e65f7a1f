"""Rate limits for BufferEvents: token buckets per connection and per group.

libevent's ``bufferevent_ratelim.c`` with Pythonic names. Why it is built
the way it is:

* Time is cut into ticks of ``cfg.tick`` seconds, numbered from the
  monotonic clock's zero. A :class:`TokenBucket` holds a byte allowance per
  direction and remembers the tick it was last brought up to date; when it
  is next looked at it adds ``rate`` per elapsed tick, capped at ``burst``.
  It starts at ``rate``, not ``burst``, so a new connection cannot begin
  with a burst.
* No timer runs while traffic flows: the budget of each read or write is
  computed on demand from the base's cached monotonic time. Only when a
  bucket runs dry is the direction suspended, and one timer, set for the
  start of the next tick, refills the bucket and resumes it.
* A :class:`RateLimitGroup` has one bucket for all its members. A member
  may move at most the group's allowance divided by the number of members,
  but never less than ``min_share``: when many members share a small
  allowance, the first ones served in a tick take ``min_share`` each, the
  group runs dry and every member waits for the next tick. The group
  resumes its members starting from a random one so that the lucky ones
  change from tick to tick.
* Allowances may go negative (a read may take a whole ``min_share`` from a
  group holding less, and the decrement functions take any amount); later
  ticks pay the debt.
* The BufferEvent's :meth:`_read_budget`/:meth:`_write_budget` ask the
  limiter for the budget and :meth:`_note_read`/:meth:`_note_written`
  charge it, so any transport routing its IO through those four methods
  (plain sockets, TLS) honours the limits. Bandwidth suspension is a reason
  of its own, separate from the high watermark's: the bev's own bucket
  (``BW``) and its group's (``BW_GROUP``) are tracked apart, as in libevent.

Closing a bev releases its limiter (:meth:`RateLimiter.release`): it leaves
its group at once and its refill timer stops.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evweb.errors import ConfigError

if TYPE_CHECKING:
    from evweb.io.socket_bev import SocketBufferEvent
    from evweb.reactor import EventBase

RATE_LIMIT_MAX = sys.maxsize
"""The largest rate, burst or share accepted (libevent's ``EV_RATE_LIMIT_MAX``, SSIZE_MAX)."""
MAX_TICK_SECONDS = (2**31 - 1) // 1000
"""The whole seconds of a tick may not exceed this (libevent: INT_MAX / 1000)."""
DEFAULT_MIN_SHARE = 64
"""A group member's smallest share per tick, unless changed."""

_R, _W = 0, 1  # indexes of the read and write sides
_BW = 1  # suspended by the bev's own bucket
_BW_GROUP = 2  # suspended by its group's bucket
_SLACK = 0.0005  # refill timers fire this long after a tick starts, so that it surely has


class RateLimitConfigError(ConfigError):
    """A rate-limit value is invalid; ``name`` and ``value`` say which."""

    def __init__(self, name: str, value: object, reason: str) -> None:
        super().__init__(f"invalid {name}={value!r}: {reason}")
        self.name = name
        self.value = value


# --- configuration ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenBucketConfig:
    """Rates and bursts in bytes per tick, and the tick in seconds (``ev_token_bucket_cfg``).

    Validated as libevent does: every amount is an int from 1 to
    :data:`RATE_LIMIT_MAX`, a rate no larger than its burst, the tick
    positive; fractions of a millisecond in the tick are dropped.
    """

    read_rate: int
    read_burst: int
    write_rate: int
    write_burst: int
    tick: float = 1.0
    msec_per_tick: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("read_rate", "read_burst", "write_rate", "write_burst"):
            _check_amount(name, getattr(self, name), 1)
        for side in ("read", "write"):
            rate, burst = getattr(self, f"{side}_rate"), getattr(self, f"{side}_burst")
            if rate > burst:
                raise RateLimitConfigError(f"{side}_rate", rate, f"exceeds {side}_burst={burst}")
        msec = _tick_msec(self.tick)
        object.__setattr__(self, "tick", msec / 1000)
        object.__setattr__(self, "msec_per_tick", msec)

    def tick_at(self, now: float) -> int:
        """The number of the tick ``now`` (seconds) falls in."""
        return int(now * 1000) // self.msec_per_tick

    def next_tick_in(self, now: float) -> float:
        """Seconds from ``now`` until the next tick has surely begun."""
        start = (self.tick_at(now) + 1) * self.msec_per_tick / 1000
        return max(start - now, 0.0) + _SLACK


def _check_amount(name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RateLimitConfigError(name, value, "expected an int")
    if value < low:
        raise RateLimitConfigError(name, value, f"must be at least {low}")
    if value > RATE_LIMIT_MAX:
        raise RateLimitConfigError(name, value, f"exceeds RATE_LIMIT_MAX={RATE_LIMIT_MAX}")


def _tick_msec(tick: object) -> int:
    if not isinstance(tick, (int, float)) or isinstance(tick, bool):
        raise RateLimitConfigError("tick", tick, "expected seconds as a number")
    if not math.isfinite(tick) or tick <= 0:
        raise RateLimitConfigError("tick", tick, "expected a finite number of seconds > 0")
    if int(tick) > MAX_TICK_SECONDS:
        raise RateLimitConfigError("tick", tick, f"longer than {MAX_TICK_SECONDS} s")
    msec = round(tick * 1_000_000) // 1000
    if msec == 0:
        raise RateLimitConfigError("tick", tick, "shorter than a millisecond")
    return msec


# --- the bucket ------------------------------------------------------------------------


class TokenBucket:
    """Read and write allowances: start at ``rate``, gain ``rate`` per tick, capped at ``burst``.

    Pure arithmetic over the times it is given, so it can be tested with
    any clock. ``read``/``write`` may be negative (debt).
    """

    __slots__ = ("_burst", "_rate", "cfg", "last_tick", "level")

    def __init__(self, cfg: TokenBucketConfig, now: float) -> None:
        self.cfg = cfg
        self._rate = (cfg.read_rate, cfg.write_rate)
        self._burst = (cfg.read_burst, cfg.write_burst)
        self.level = [cfg.read_rate, cfg.write_rate]
        self.last_tick = cfg.tick_at(now)

    @property
    def read(self) -> int:
        """Bytes that may be read now (as of the last update)."""
        return self.level[_R]

    @property
    def write(self) -> int:
        """Bytes that may be written now (as of the last update)."""
        return self.level[_W]

    def update(self, now: float) -> bool:
        """Add what the ticks elapsed up to ``now`` bring; False if none did (or time went back)."""
        tick = self.cfg.tick_at(now)
        ticks = tick - self.last_tick
        if ticks <= 0:
            return False
        level, rate, burst = self.level, self._rate, self._burst
        for i in (_R, _W):
            if level[i] < burst[i]:
                level[i] = min(burst[i], level[i] + ticks * rate[i])
        self.last_tick = tick
        return True

    def reconfigure(self, cfg: TokenBucketConfig, now: float) -> None:
        """Switch to ``cfg``: credit the old ticks, then only clip down to the new bursts."""
        self.update(now)
        self.cfg = cfg
        self._rate = (cfg.read_rate, cfg.write_rate)
        self._burst = (cfg.read_burst, cfg.write_burst)
        self.level = [min(self.level[i], self._burst[i]) for i in (_R, _W)]
        self.last_tick = cfg.tick_at(now)


# --- one BufferEvent's limiter -----------------------------------------------------------


class RateLimiter:
    """The rate limits of one BufferEvent: its own bucket, its group, or both.

    Made by :func:`set_rate_limit` or :meth:`RateLimitGroup.add`; found with
    :func:`rate_limiter`.
    """

    __slots__ = ("_bev", "_bucket", "_group", "_refill", "_suspended")

    def __init__(self, bev: SocketBufferEvent) -> None:
        self._bev = bev
        self._bucket: TokenBucket | None = None
        self._group: RateLimitGroup | None = None
        self._refill = bev.base.timer(self._on_refill)
        self._suspended = [0, 0]  # per side: _BW | _BW_GROUP

    @property
    def config(self) -> TokenBucketConfig | None:
        """The bev's own limits (``bufferevent_get_token_bucket_cfg``), or None."""
        return self._bucket.cfg if self._bucket is not None else None

    @property
    def group(self) -> RateLimitGroup | None:
        """The group the bev belongs to, if any."""
        return self._group

    @property
    def read_suspended(self) -> bool:
        """True while reading waits for a bucket to refill."""
        return bool(self._suspended[_R])

    @property
    def write_suspended(self) -> bool:
        """True while writing waits for a bucket to refill."""
        return bool(self._suspended[_W])

    def get_read_limit(self) -> int:
        """What the bev's own bucket allows reading now (RATE_LIMIT_MAX without one)."""
        return self._level(_R)

    def get_write_limit(self) -> int:
        """What the bev's own bucket allows writing now (RATE_LIMIT_MAX without one)."""
        return self._level(_W)

    def decrement_read_limit(self, n: int) -> None:
        """Take ``n`` bytes (negative: give) from the read allowance; suspends or resumes."""
        self._decrement(_R, n)

    def decrement_write_limit(self, n: int) -> None:
        """Take ``n`` bytes (negative: give) from the write allowance; suspends or resumes."""
        self._decrement(_W, n)

    # --- what the BufferEvent calls ---

    def budget(self, side: int) -> int:
        """Bytes the next read (0) or write (1) may move; suspends the side when it is 0."""
        most = RATE_LIMIT_MAX
        bucket = self._bucket
        if bucket is not None:
            bucket.update(self._now())
            most = bucket.level[side]
            if most <= 0:
                self._suspend_bw(side)
        group = self._group
        if group is not None:
            share = group._share(side)
            if share <= 0:
                group._suspend(side)
                self._flag(side, _BW_GROUP, True)
            most = min(most, share)
        return max(most, 0)

    def charge(self, side: int, n: int) -> None:
        """``n`` bytes were moved: take them from the buckets, suspending emptied sides."""
        bucket = self._bucket
        if bucket is not None:
            bucket.level[side] -= n
            if bucket.level[side] <= 0:
                self._suspend_bw(side)
            elif self._suspended[side] & _BW:
                self._resume_bw(side)
        if self._group is not None:
            self._group._charge(side, n)

    # --- internals ---

    def _now(self) -> float:
        return self._bev.base.monotonic_time()

    def _level(self, side: int) -> int:
        bucket = self._bucket
        if bucket is None:
            return RATE_LIMIT_MAX
        bucket.update(self._now())
        return bucket.level[side]

    def _decrement(self, side: int, n: int) -> None:
        bucket = self._bucket
        if bucket is None:
            raise RateLimitConfigError("config", None, "the BufferEvent has no rate limit")
        bucket.update(self._now())
        old = bucket.level[side]
        new = bucket.level[side] = old - n
        if old > 0 >= new:
            self._suspend_bw(side)
        elif new > 0 >= old:
            self._resume_bw(side)

    def release(self) -> None:
        """The bev is closing: leave the group and stop the refill timer."""
        if self._group is not None:
            self._group.remove(self._bev)
        self._refill.delete()

    def _configure(self, cfg: TokenBucketConfig | None) -> None:
        if cfg is None:
            self._bucket = None
            self._refill.delete()
            self._flag(_R, _BW, False)
            self._flag(_W, _BW, False)
            return
        if self._bucket is not None and self._bucket.cfg is cfg:
            return
        now = self._now()
        if self._bucket is None:
            self._bucket = TokenBucket(cfg, now)
        else:
            self._bucket.reconfigure(cfg, now)
        self._refill.delete()
        for side in (_R, _W):
            if self._bucket.level[side] > 0:
                self._flag(side, _BW, False)
            else:
                self._suspend_bw(side)

    def _suspend_bw(self, side: int) -> None:
        self._flag(side, _BW, True)
        assert self._bucket is not None
        self._refill.add(self._bucket.cfg.next_tick_in(self._now()))

    def _resume_bw(self, side: int) -> None:
        if not self._suspended[1 - side] & _BW:
            self._refill.delete()
        self._flag(side, _BW, False)

    def _on_refill(self, fd: int, what: int, arg: Any) -> None:
        bucket = self._bucket
        if bucket is None or self._bev.closed:
            return
        bucket.update(self._now())
        again = False
        for side in (_R, _W):
            if self._suspended[side] & _BW:
                if bucket.level[side] > 0:
                    self._flag(side, _BW, False)
                else:
                    again = True
        if again:
            self._refill.add(bucket.cfg.next_tick_in(self._now()))

    def _flag(self, side: int, reason: int, on: bool) -> None:
        old = self._suspended[side]
        new = old | reason if on else old & ~reason
        if new != old:
            self._suspended[side] = new
            if not old or not new:
                self._bev._update_io()


def set_rate_limit(bev: SocketBufferEvent, cfg: TokenBucketConfig | None) -> RateLimiter:
    """Limit ``bev`` by ``cfg``, or lift its own limit with None (``bufferevent_set_rate_limit``).

    A new bucket starts at the rates; replacing a config keeps the current
    allowance, clipped to the new bursts. Group membership is unaffected.
    """
    limiter = _limiter(bev)
    limiter._configure(cfg)
    return limiter


def rate_limiter(bev: SocketBufferEvent) -> RateLimiter | None:
    """The limiter of ``bev``, or None if it never had a limit or a group."""
    limiter: RateLimiter | None = bev._ratelim
    return limiter


def _limiter(bev: SocketBufferEvent) -> RateLimiter:
    limiter: RateLimiter | None = bev._ratelim
    if limiter is None:
        limiter = bev._ratelim = RateLimiter(bev)
    return limiter


# --- groups --------------------------------------------------------------------------------


class RateLimitGroup:
    """One token bucket shared by many BufferEvents (``bufferevent_rate_limit_group``).

    A bev belongs to at most one group: adding it to another moves it.
    """

    def __init__(self, base: EventBase, cfg: TokenBucketConfig) -> None:
        self._base = base
        self._bucket = TokenBucket(cfg, base.monotonic_time())
        self._members: list[RateLimiter] = []
        self._suspended = [False, False]
        self._totals = [0, 0]
        self._configured_min_share = self._min_share = DEFAULT_MIN_SHARE
        self._refill = base.timer(self._on_refill)
        self._random = random.Random()
        self._closed = False
        self.set_min_share(DEFAULT_MIN_SHARE)

    @property
    def config(self) -> TokenBucketConfig:
        """The group's rates, bursts and tick."""
        return self._bucket.cfg

    @property
    def min_share(self) -> int:
        """The min share as configured (the one in force is at most the smaller rate)."""
        return self._configured_min_share

    def __len__(self) -> int:
        return len(self._members)

    def set_config(self, cfg: TokenBucketConfig) -> None:
        """Use ``cfg`` from now on; the allowance is only clipped down to the new bursts."""
        self._bucket.reconfigure(cfg, self._base.monotonic_time())
        self.set_min_share(self._configured_min_share)
        if self._refill.is_pending():
            self._schedule()

    def set_min_share(self, share: int) -> None:
        """Each member may move at least ``share`` bytes per tick (default 64; 0 = no minimum).

        The share in force never exceeds the group's smaller rate, so that
        at least one member can move each tick.
        """
        _check_amount("min_share", share, 0)
        self._configured_min_share = share
        cfg = self._bucket.cfg
        self._min_share = min(share, cfg.read_rate, cfg.write_rate)

    def add(self, bev: SocketBufferEvent) -> None:
        """Make ``bev`` a member, moving it out of any other group."""
        self._check_open()
        limiter = _limiter(bev)
        if limiter._group is self:
            return
        if limiter._group is not None:
            limiter._group.remove(bev)
        self._members.append(limiter)
        limiter._group = self
        for side in (_R, _W):
            if self._suspended[side]:
                limiter._flag(side, _BW_GROUP, True)

    def remove(self, bev: SocketBufferEvent) -> None:
        """Take ``bev`` out of the group (nothing happens if it is not a member)."""
        limiter: RateLimiter | None = bev._ratelim
        if limiter is None or limiter._group is not self:
            return
        self._members.remove(limiter)
        limiter._group = None
        limiter._flag(_R, _BW_GROUP, False)
        limiter._flag(_W, _BW_GROUP, False)

    def get_read_limit(self) -> int:
        """The group's read allowance now (may be negative)."""
        self._bucket.update(self._base.monotonic_time())
        return self._bucket.level[_R]

    def get_write_limit(self) -> int:
        """The group's write allowance now (may be negative)."""
        self._bucket.update(self._base.monotonic_time())
        return self._bucket.level[_W]

    def decrement_read(self, n: int) -> None:
        """Take ``n`` bytes (negative: give) from the group's read allowance."""
        self._decrement(_R, n)

    def decrement_write(self, n: int) -> None:
        """Take ``n`` bytes (negative: give) from the group's write allowance."""
        self._decrement(_W, n)

    def totals(self) -> tuple[int, int]:
        """``(read, written)``: bytes the members moved since creation or :meth:`reset_totals`."""
        return self._totals[_R], self._totals[_W]

    def reset_totals(self) -> None:
        """Start counting :meth:`totals` from zero."""
        self._totals = [0, 0]

    def close(self) -> None:
        """Stop the group's timer (``bufferevent_rate_limit_group_free``); it must be empty."""
        if self._members:
            raise RateLimitConfigError(
                "group", self, f"still has {len(self._members)} members; remove them first"
            )
        self._refill.delete()
        self._closed = True

    free = close

    def __repr__(self) -> str:
        return f"<RateLimitGroup {self._bucket.cfg!r} members={len(self._members)}>"

    # --- internals ---

    def _check_open(self) -> None:
        if self._closed:
            raise RateLimitConfigError("group", self, "is closed")

    def _share(self, side: int) -> int:
        if self._suspended[side]:
            return 0
        self._bucket.update(self._base.monotonic_time())
        share = self._bucket.level[side] // max(len(self._members), 1)
        return max(share, self._min_share)

    def _charge(self, side: int, n: int) -> None:
        self._totals[side] += n
        level = self._bucket.level
        level[side] -= n
        if level[side] <= 0:
            self._suspend(side)
        elif self._suspended[side]:
            self._resume(side)

    def _decrement(self, side: int, n: int) -> None:
        self._bucket.update(self._base.monotonic_time())
        old = self._bucket.level[side]
        new = self._bucket.level[side] = old - n
        if old > 0 >= new:
            self._suspend(side)
        elif new > 0 >= old:
            self._resume(side)

    def _suspend(self, side: int) -> None:
        if not self._suspended[side]:
            self._suspended[side] = True
            for limiter in self._members:
                limiter._flag(side, _BW_GROUP, True)
        self._schedule()

    def _resume(self, side: int) -> None:
        self._suspended[side] = False
        members = self._members
        if members:  # from a random member on, so the first served changes each tick
            start = self._random.randrange(len(members))
            for limiter in members[start:] + members[:start]:
                limiter._flag(side, _BW_GROUP, False)
        if not any(self._suspended):
            self._refill.delete()

    def _schedule(self) -> None:
        if not self._closed:
            self._refill.add(self._bucket.cfg.next_tick_in(self._base.monotonic_time()))

    def _on_refill(self, fd: int, what: int, arg: Any) -> None:
        self._bucket.update(self._base.monotonic_time())
        for side in (_R, _W):
            if self._suspended[side] and self._bucket.level[side] >= self._min_share:
                self._resume(side)
        if any(self._suspended):
            self._schedule()
