"""Rate limits: configs, bucket arithmetic, per-bev limiters and groups (test-ratelim)."""

from __future__ import annotations

import dataclasses
import math
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from evweb.errors import ConfigError
from evweb.io import BufferEvent, SocketBufferEvent
from evweb.io.bevflags import BevOption
from evweb.io.ratelim import (
    DEFAULT_MIN_SHARE,
    RATE_LIMIT_MAX,
    RateLimitConfigError,
    RateLimitGroup,
    TokenBucket,
    TokenBucketConfig,
    rate_limiter,
    set_rate_limit,
)
from evweb.libevent import (
    EV_RATE_LIMIT_MAX,
    bufferevent_add_to_rate_limit_group,
    bufferevent_decrement_read_limit,
    bufferevent_decrement_write_limit,
    bufferevent_get_read_limit,
    bufferevent_get_token_bucket_cfg,
    bufferevent_get_write_limit,
    bufferevent_rate_limit_group_decrement_read,
    bufferevent_rate_limit_group_free,
    bufferevent_rate_limit_group_get_read_limit,
    bufferevent_rate_limit_group_get_totals,
    bufferevent_rate_limit_group_get_write_limit,
    bufferevent_rate_limit_group_new,
    bufferevent_rate_limit_group_reset_totals,
    bufferevent_rate_limit_group_set_cfg,
    bufferevent_rate_limit_group_set_min_share,
    bufferevent_remove_from_rate_limit_group,
    bufferevent_set_rate_limit,
    ev_token_bucket_cfg_free,
    ev_token_bucket_cfg_new,
)
from evweb.reactor import READ, WRITE, EventBase, EventConfig, supported_methods

# --- TokenBucketConfig ------------------------------------------------------------------


def test_config_defaults_to_a_one_second_tick() -> None:
    cfg = TokenBucketConfig(10, 20, 30, 40)
    assert (cfg.read_rate, cfg.read_burst, cfg.write_rate, cfg.write_burst) == (10, 20, 30, 40)
    assert cfg.tick == 1.0 and cfg.msec_per_tick == 1000
    assert repr(cfg) == (
        "TokenBucketConfig(read_rate=10, read_burst=20, write_rate=30, write_burst=40, tick=1.0)"
    )


def test_config_is_frozen_and_compares_by_value() -> None:
    cfg = TokenBucketConfig(1, 1, 1, 1, 0.25)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.read_rate = 5  # type: ignore[misc]
    assert cfg == TokenBucketConfig(1, 1, 1, 1, 0.25)
    assert hash(cfg) == hash(TokenBucketConfig(1, 1, 1, 1, 0.25))


@pytest.mark.parametrize(
    ("tick", "msec"),
    [(0.1, 100), (0.1005, 100), (1.0019, 1001), (0.001, 1), (2, 2000), (0.001999, 1)],
)
def test_fractions_of_a_millisecond_are_dropped(tick: float, msec: int) -> None:
    cfg = TokenBucketConfig(1, 1, 1, 1, tick)
    assert cfg.msec_per_tick == msec
    assert cfg.tick == msec / 1000


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((11, 10, 1, 1), "read_rate"),
        ((1, 1, 11, 10), "write_rate"),
        ((0, 10, 1, 1), "read_rate"),
        ((1, 1, 0, 1), "write_rate"),
        ((1, 0, 1, 1), "read_burst"),
        ((-1, 1, 1, 1), "read_rate"),
        ((1, RATE_LIMIT_MAX + 1, 1, 1), "read_burst"),
        ((1, 1, 1, RATE_LIMIT_MAX + 1), "write_burst"),
        ((1.5, 2, 1, 1), "read_rate"),
        ((True, 2, 1, 1), "read_rate"),
    ],
)
def test_invalid_amounts_are_refused_by_name(args: tuple[Any, ...], name: str) -> None:
    with pytest.raises(RateLimitConfigError) as info:
        TokenBucketConfig(*args)
    assert info.value.name == name
    assert name in str(info.value)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "tick", [0, 0.0, 0.0009, -1.0, math.nan, math.inf, 2147484.0, "1", None, False]
)
def test_invalid_ticks_are_refused(tick: Any) -> None:
    with pytest.raises(RateLimitConfigError) as info:
        TokenBucketConfig(1, 1, 1, 1, tick)
    assert info.value.name == "tick"


def test_the_largest_values_are_accepted() -> None:
    cfg = TokenBucketConfig(RATE_LIMIT_MAX, RATE_LIMIT_MAX, 1, RATE_LIMIT_MAX, 2147483.5)
    assert cfg.read_burst == RATE_LIMIT_MAX
    assert EV_RATE_LIMIT_MAX == RATE_LIMIT_MAX


def test_c_cfg_new_returns_none_where_libevent_returns_null() -> None:
    cfg = ev_token_bucket_cfg_new(100, 200, 300, 400, None)
    assert cfg == TokenBucketConfig(100, 200, 300, 400, 1.0)
    assert ev_token_bucket_cfg_new(100, 200, 300, 400, 0.05) == TokenBucketConfig(
        100, 200, 300, 400, 0.05
    )
    assert ev_token_bucket_cfg_new(201, 200, 300, 400, None) is None
    assert ev_token_bucket_cfg_new(0, 200, 300, 400, None) is None
    assert ev_token_bucket_cfg_new(1, 1, 1, 1, 0.0) is None
    assert ev_token_bucket_cfg_new(1, 1, 1, EV_RATE_LIMIT_MAX + 1, None) is None
    ev_token_bucket_cfg_free(cfg)


# --- TokenBucket with a controlled clock ---------------------------------------------------


def test_bucket_starts_at_rate_not_burst() -> None:
    bucket = TokenBucket(TokenBucketConfig(10, 100, 20, 200, 1.0), now=50.2)
    assert (bucket.read, bucket.write) == (10, 20)
    assert bucket.last_tick == 50


def test_bucket_gains_rate_per_elapsed_tick_capped_at_burst() -> None:
    bucket = TokenBucket(TokenBucketConfig(10, 35, 20, 200, 1.0), now=50.2)
    assert not bucket.update(50.999)  # same tick
    assert (bucket.read, bucket.write) == (10, 20)
    assert bucket.update(51.0)
    assert (bucket.read, bucket.write) == (20, 40)
    assert bucket.update(53.5)
    assert (bucket.read, bucket.write) == (35, 80)  # read capped at its burst
    assert bucket.update(1000.0)
    assert (bucket.read, bucket.write) == (35, 200)


def test_bucket_debt_is_paid_by_later_ticks() -> None:
    bucket = TokenBucket(TokenBucketConfig(10, 20, 10, 20, 0.1), now=0.0)
    bucket.level[0] -= 35  # a read took more than there was
    assert bucket.read == -25
    bucket.update(0.1)
    assert bucket.read == -15
    bucket.update(0.35)
    assert bucket.read == 5
    assert bucket.write == 20


def test_bucket_ignores_time_going_back() -> None:
    bucket = TokenBucket(TokenBucketConfig(10, 100, 10, 100, 1.0), now=10.0)
    bucket.update(12.0)
    assert not bucket.update(5.0)
    assert bucket.read == 30 and bucket.last_tick == 12
    bucket.update(13.0)
    assert bucket.read == 40


def test_bucket_ticks_follow_the_tick_length() -> None:
    bucket = TokenBucket(TokenBucketConfig(1, 1000, 1, 1000, 0.25), now=0.0)
    bucket.update(0.999)
    assert bucket.read == 4  # ticks 1, 2 and 3 have begun
    assert TokenBucketConfig(1, 1, 1, 1, 0.25).tick_at(0.999) == 3


def test_bucket_reconfigure_credits_then_only_clips_down() -> None:
    bucket = TokenBucket(TokenBucketConfig(10, 100, 10, 100, 1.0), now=0.0)
    bucket.update(5.0)
    assert bucket.read == 60
    bucket.reconfigure(TokenBucketConfig(5, 30, 50, 500, 0.5), now=5.7)
    assert (bucket.read, bucket.write) == (30, 60)  # read clipped; write not raised
    bucket.update(6.0)
    assert (bucket.read, bucket.write) == (30, 110)


def test_next_tick_timer_lands_just_after_the_boundary() -> None:
    cfg = TokenBucketConfig(1, 1, 1, 1, 0.1)
    delay = cfg.next_tick_in(12.34)
    assert 0.06 < delay < 0.062
    assert cfg.tick_at(12.34 + delay) == cfg.tick_at(12.34) + 1


# --- per-bev limiter (no traffic) ----------------------------------------------------------


@pytest.fixture
def bevs(base: EventBase) -> Iterator[list[SocketBufferEvent]]:
    made: list[SocketBufferEvent] = []
    pairs = [socket.socketpair() for _ in range(4)]
    for a, b in pairs:
        made.append(SocketBufferEvent(base, a, BevOption.CLOSE_ON_FREE))
        made.append(SocketBufferEvent(base, b, BevOption.CLOSE_ON_FREE))
    yield made
    for bev in made:
        bev.close()


def test_limiter_reports_and_decrements_its_bucket(bevs: list[SocketBufferEvent]) -> None:
    bev = bevs[0]
    assert rate_limiter(bev) is None
    assert bufferevent_get_read_limit(bev) == EV_RATE_LIMIT_MAX
    cfg = TokenBucketConfig(100, 200, 300, 400, 60.0)
    limiter = set_rate_limit(bev, cfg)
    assert rate_limiter(bev) is limiter and limiter.config is cfg
    assert bufferevent_get_token_bucket_cfg(bev) is cfg
    assert (limiter.get_read_limit(), limiter.get_write_limit()) == (100, 300)
    limiter.decrement_read_limit(30)
    limiter.decrement_write_limit(-50)
    assert (bufferevent_get_read_limit(bev), bufferevent_get_write_limit(bev)) == (70, 350)
    assert bufferevent_decrement_read_limit(bev, 70) == 0
    assert limiter.read_suspended and not limiter.write_suspended
    assert bufferevent_decrement_read_limit(bev, -1) == 0
    assert limiter.get_read_limit() == 1 and not limiter.read_suspended
    assert bufferevent_decrement_write_limit(bev, 400) == 0
    assert limiter.write_suspended


def test_bandwidth_suspension_stops_reading_apart_from_watermarks(
    bevs: list[SocketBufferEvent],
) -> None:
    bev = bevs[0]
    bev.enable(READ)
    assert bev._reading
    limiter = set_rate_limit(bev, TokenBucketConfig(10, 10, 10, 10, 60.0))
    limiter.decrement_read_limit(10)
    assert not bev._reading and bev.enabled & READ
    limiter.decrement_read_limit(-5)
    assert bev._reading
    limiter.decrement_read_limit(5)
    assert not bev._reading
    set_rate_limit(bev, None)  # lifting the limit resumes
    assert bev._reading and limiter.config is None
    assert limiter.get_read_limit() == RATE_LIMIT_MAX


def test_decrementing_without_a_limit_fails(bevs: list[SocketBufferEvent]) -> None:
    bev = bevs[0]
    assert bufferevent_decrement_read_limit(bev, 1) == -1
    assert bufferevent_decrement_write_limit(bev, 1) == -1
    limiter = set_rate_limit(bev, None)
    with pytest.raises(RateLimitConfigError):
        limiter.decrement_read_limit(1)
    assert bufferevent_set_rate_limit(BufferEvent(bev.base), None) == -1


def test_budget_is_the_smallest_of_caps_bucket_and_share(bevs: list[SocketBufferEvent]) -> None:
    bev = bevs[0]
    bev.max_single_read = 16384  # below the bucket, so the cap is what limits
    assert bev._read_budget() == bev.max_single_read
    set_rate_limit(bev, TokenBucketConfig(100_000, 100_000, 500, 500, 60.0))
    assert bev._read_budget() == bev.max_single_read
    assert bev._write_budget() == 500
    group = RateLimitGroup(bev.base, TokenBucketConfig(1000, 1000, 300, 300, 60.0))
    group.add(bev)
    group.add(bevs[1])
    assert bev._read_budget() == 500  # 1000 shared by two
    assert bev._write_budget() == 150
    group.remove(bev)
    group.remove(bevs[1])
    group.close()


def test_new_bucket_config_keeps_the_allowance(bevs: list[SocketBufferEvent]) -> None:
    bev = bevs[0]
    limiter = set_rate_limit(bev, TokenBucketConfig(100, 200, 100, 200, 60.0))
    limiter.decrement_read_limit(40)
    set_rate_limit(bev, TokenBucketConfig(10, 50, 1000, 2000, 60.0))
    assert (limiter.get_read_limit(), limiter.get_write_limit()) == (50, 100)


# --- groups (no traffic) ----------------------------------------------------------------------


def test_group_share_uses_min_share_when_smaller(bevs: list[SocketBufferEvent]) -> None:
    base = bevs[0].base
    group = RateLimitGroup(base, TokenBucketConfig(256, 256, 256, 256, 60.0))
    assert group.min_share == DEFAULT_MIN_SHARE
    for bev in bevs:
        group.add(bev)
    assert len(group) == 8
    assert [bev._read_budget() for bev in bevs] == [64] * 8  # 256 / 8 = 32 < 64
    group.set_min_share(0)
    assert bevs[0]._read_budget() == 32
    group.set_min_share(10_000)  # in force: capped at the smaller rate
    assert group.min_share == 10_000 and bevs[0]._read_budget() == 256
    group.set_min_share(64)
    for bev in bevs[:4]:  # the first four served take the whole tick
        bev._note_read(64)
    assert group.get_read_limit() == 0
    assert all(rate_limiter(bev).read_suspended for bev in bevs)  # type: ignore[union-attr]
    assert not any(rate_limiter(bev).write_suspended for bev in bevs)  # type: ignore[union-attr]
    assert group.totals() == (256, 0)
    for bev in bevs:
        group.remove(bev)
    assert not rate_limiter(bevs[0]).read_suspended  # type: ignore[union-attr]
    group.close()


def test_group_decrement_suspends_and_resumes_members(bevs: list[SocketBufferEvent]) -> None:
    base = bevs[0].base
    group = RateLimitGroup(base, TokenBucketConfig(100, 100, 100, 100, 60.0))
    group.add(bevs[0])
    limiter = rate_limiter(bevs[0])
    assert limiter is not None
    group.decrement_write(100)
    assert limiter.write_suspended and group.get_write_limit() == 0
    group.add(bevs[1])  # a newcomer joins the suspension
    assert rate_limiter(bevs[1]).write_suspended  # type: ignore[union-attr]
    group.decrement_write(-1)
    assert not limiter.write_suspended and group.get_write_limit() == 1
    assert group.totals() == (0, 0)  # decrements are not traffic
    group.remove(bevs[0])
    group.remove(bevs[1])
    group.close()


def test_a_bev_is_in_at_most_one_group(bevs: list[SocketBufferEvent]) -> None:
    base = bevs[0].base
    cfg = TokenBucketConfig(100, 100, 100, 100, 60.0)
    g1, g2 = RateLimitGroup(base, cfg), RateLimitGroup(base, cfg)
    g1.add(bevs[0])
    g1.add(bevs[0])
    assert len(g1) == 1
    g2.add(bevs[0])
    assert (len(g1), len(g2)) == (0, 1)
    assert rate_limiter(bevs[0]).group is g2  # type: ignore[union-attr]
    g1.remove(bevs[0])  # not a member: nothing happens
    assert len(g2) == 1
    with pytest.raises(RateLimitConfigError):
        g2.close()
    bevs[0].close()  # a closed bev leaves its group
    g2.close()
    g1.close()
    with pytest.raises(RateLimitConfigError):
        g1.add(bevs[1])


def test_group_c_api(bevs: list[SocketBufferEvent]) -> None:
    base = bevs[0].base
    cfg = ev_token_bucket_cfg_new(1000, 2000, 3000, 4000, 60.0)
    assert cfg is not None
    group = bufferevent_rate_limit_group_new(base, cfg)
    assert group is not None
    assert bufferevent_add_to_rate_limit_group(bevs[0], group) == 0
    assert bufferevent_rate_limit_group_get_read_limit(group) == 1000
    assert bufferevent_rate_limit_group_get_write_limit(group) == 3000
    assert bufferevent_rate_limit_group_decrement_read(group, 400) == 0
    assert bufferevent_rate_limit_group_get_read_limit(group) == 600
    smaller = ev_token_bucket_cfg_new(10, 500, 10, 500, 60.0)
    assert bufferevent_rate_limit_group_set_cfg(group, smaller) == 0
    assert bufferevent_rate_limit_group_get_read_limit(group) == 500
    assert bufferevent_rate_limit_group_set_cfg(group, None) == -1
    assert bufferevent_rate_limit_group_set_min_share(group, -1) == -1
    assert bufferevent_rate_limit_group_set_min_share(group, 5) == 0
    bevs[0]._note_read(7)
    bevs[0]._note_written(9)
    assert bufferevent_rate_limit_group_get_totals(group) == (7, 9)
    bufferevent_rate_limit_group_reset_totals(group)
    assert bufferevent_rate_limit_group_get_totals(group) == (0, 0)
    assert bufferevent_add_to_rate_limit_group(bevs[1], group) == 0
    assert bufferevent_add_to_rate_limit_group(bevs[1], None) == 0
    assert bufferevent_remove_from_rate_limit_group(bevs[0]) == 0
    assert bufferevent_remove_from_rate_limit_group(bevs[0]) == 0
    assert len(group) == 0
    bufferevent_rate_limit_group_free(group)


# --- traffic over socketpairs (test-ratelim), epoll only ---------------------------------

TICK = 0.1
DURATION = 1.5
TOLERANCE = 0.25


@pytest.fixture
def ebase() -> Iterator[EventBase]:
    if "epoll" not in supported_methods():
        pytest.skip("timing tests run on epoll only")
    b = EventBase(EventConfig(method="epoll"))
    yield b
    b.close()


class Echo:
    """N loud clients, each connected to an echo server bev; counts what moves."""

    def __init__(self, base: EventBase, n: int, echo: bool = True) -> None:
        self.base = base
        self.clients: list[SocketBufferEvent] = []
        self.servers: list[SocketBufferEvent] = []
        self.read = [0] * n  # by each server
        self.echoed = [0] * n  # back at each client
        self.largest_read = 0
        chunk = b"x" * 4096
        for i in range(n):
            a, b = socket.socketpair()
            client = SocketBufferEvent(base, a, BevOption.CLOSE_ON_FREE)
            server = SocketBufferEvent(base, b, BevOption.CLOSE_ON_FREE)
            client.set_watermark(WRITE, 16384)
            client.set_callbacks(read=self._client_read, write=self._fill, arg=i)
            server.set_callbacks(read=self._server_read, arg=(i, echo))
            client.enable(READ | WRITE)
            server.enable(READ | WRITE)
            client.write(chunk * 8)
            self.clients.append(client)
            self.servers.append(server)
        self._chunk = chunk

    def _fill(self, bev: Any, arg: Any) -> None:
        bev.write(self._chunk * 4)

    def _client_read(self, bev: Any, i: int) -> None:
        self.echoed[i] += len(bev.input)
        bev.input.drain(len(bev.input))

    def _server_read(self, bev: Any, arg: tuple[int, bool]) -> None:
        i, echo = arg
        n = len(bev.input)
        self.read[i] += n
        self.largest_read = max(self.largest_read, n)
        if echo:
            bev.output.add_buffer(bev.input)
        else:
            bev.input.drain(n)

    def run(self, seconds: float) -> float:
        start = time.monotonic()
        self.base.loopexit(seconds)
        self.base.dispatch()
        return time.monotonic() - start

    def close(self) -> None:
        for bev in self.clients + self.servers:
            bev.close()


def expected_bytes(rate: int, elapsed: float, tick: float = TICK) -> float:
    """Rate per tick over ``elapsed``: the bucket starts at ``rate``, plus ``rate`` per tick."""
    return rate * (elapsed / tick + 1)


def within(value: float, expected: float, tolerance: float = TOLERANCE) -> bool:
    return (1 - tolerance) * expected <= value <= (1 + tolerance) * expected


def test_connection_limit_holds_per_connection(ebase: EventBase) -> None:
    rate = 8000
    echo = Echo(ebase, 4)
    cfg = TokenBucketConfig(rate, 2 * rate, rate, 2 * rate, TICK)
    try:
        for server in echo.servers:
            set_rate_limit(server, cfg)
        elapsed = echo.run(DURATION)
        want = expected_bytes(rate, elapsed)
        assert all(within(n, want) for n in echo.read), (echo.read, want)
        assert all(within(n, want) for n in echo.echoed), (echo.echoed, want)
        assert echo.largest_read <= 2 * rate
    finally:
        echo.close()


def test_group_limit_holds_for_the_group_and_is_shared(ebase: EventBase) -> None:
    rate = 30000
    echo = Echo(ebase, 5)
    group = RateLimitGroup(ebase, TokenBucketConfig(rate, 2 * rate, rate, 2 * rate, TICK))
    try:
        for server in echo.servers:
            group.add(server)
        elapsed = echo.run(DURATION)
        total_read, total_written = group.totals()
        want = expected_bytes(rate, elapsed)
        assert total_read == sum(echo.read)
        assert within(total_read, want), (total_read, want)
        assert within(total_written, want), (total_written, want)
        mean = total_read / len(echo.read)
        assert all(0.5 * mean <= n <= 1.5 * mean for n in echo.read), echo.read
        group.reset_totals()
        assert group.totals() == (0, 0)
    finally:
        echo.close()
        group.close()


def test_min_share_serves_a_random_subset_each_tick(ebase: EventBase) -> None:
    rate, tick = 256, 0.05
    echo = Echo(ebase, 8, echo=False)
    group = RateLimitGroup(ebase, TokenBucketConfig(rate, 2 * rate, rate, 2 * rate, tick))
    try:
        for server in echo.servers:
            group.add(server)
        elapsed = echo.run(1.0)
        want = expected_bytes(rate, elapsed, tick)
        assert within(sum(echo.read), want), (sum(echo.read), want)
        assert echo.largest_read == DEFAULT_MIN_SHARE  # 256 / 8 < 64: each gets 64
        assert all(n > 0 for n in echo.read), echo.read  # the lucky ones change
    finally:
        echo.close()
        group.close()
