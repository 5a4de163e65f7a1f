"""Backend selection and configuration (libevent main/methods, base_features, base_environ)."""

from __future__ import annotations

import logging
import math
import re

import pytest

import evweb
from evweb.errors import ConfigError, EvwebError, NoBackendError
from evweb.reactor import (
    ALL_BITS,
    CLOSED,
    COUNT_ACTIVE,
    COUNT_ADDED,
    COUNT_VIRTUAL,
    ET,
    FINALIZE,
    NO_EXIT_ON_EMPTY,
    NONBLOCK,
    ONCE,
    PERSIST,
    READ,
    SIGNAL,
    TIMEOUT,
    WRITE,
    BaseFlag,
    EventBase,
    EventConfig,
    Feature,
    supported_methods,
)
from evweb.reactor.backends import BACKENDS

LIBEVENT_ORDER = ["evport", "kqueue", "epoll", "devpoll", "poll", "select", "win32", "wepoll"]
"""libevent's eventops[] preference order."""

METHODS = supported_methods()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No EVENT_NO* / EVENT_SHOW_METHOD from the caller's environment."""
    for name in {*LIBEVENT_ORDER, *(b.name for b in BACKENDS)}:
        monkeypatch.delenv(f"EVENT_NO{name.upper()}", raising=False)
    monkeypatch.delenv("EVENT_SHOW_METHOD", raising=False)
    return monkeypatch


def _features_of(method: str) -> Feature:
    with EventBase(EventConfig(method=method)) as base:
        return base.features


# --- methods --------------------------------------------------------------------------------


def test_methods_nonempty_and_in_libevent_order() -> None:
    assert METHODS
    assert len(set(METHODS)) == len(METHODS)
    assert all(name in LIBEVENT_ORDER for name in METHODS)
    positions = [LIBEVENT_ORDER.index(name) for name in METHODS]
    assert positions == sorted(positions)
    assert [b.name for b in BACKENDS if b.available()] == METHODS


def test_default_base_uses_the_preferred_method(clean_env: pytest.MonkeyPatch) -> None:
    with EventBase() as base:
        assert base.method == METHODS[0]
    with EventBase(EventConfig()) as base:
        assert base.method == METHODS[0]


def test_avoiding_the_first_method(clean_env: pytest.MonkeyPatch) -> None:
    """main/methods: avoid the preferred backend, the next one is used."""
    config = EventConfig().avoid_method(METHODS[0]).set_flag(BaseFlag.IGNORE_ENV)
    if len(METHODS) > 1:
        with EventBase(config) as base:
            assert base.method != METHODS[0]
            assert base.method == METHODS[1]
    else:
        with pytest.raises(NoBackendError):
            EventBase(config)


def test_avoid_method_is_repeatable_and_accepts_unknown_names() -> None:
    config = EventConfig()
    assert config.avoid_method("Nonesuch") is config
    for name in METHODS[:-1]:
        config.avoid_method(name)
    with EventBase(config) as base:
        assert base.method == METHODS[-1]
    config.avoid_method(METHODS[-1])
    with pytest.raises(NoBackendError):
        EventBase(config)


def test_method_forces_a_backend(method: str) -> None:
    with EventBase(EventConfig(method=method)) as base:
        assert base.method == method


def test_backend_features_match_libevent(method: str) -> None:
    features = _features_of(method)
    expected = {
        "epoll": Feature.ET | Feature.O1 | Feature.EARLY_CLOSE,
        "kqueue": Feature.ET | Feature.O1 | Feature.FDS,
        "devpoll": Feature.FDS | Feature.O1,
        "select": Feature.FDS,
    }
    if method == "poll":
        assert features & ~Feature.EARLY_CLOSE == Feature.FDS  # EARLY_CLOSE with POLLRDHUP
    else:
        assert features == expected[method]
    assert bool(features & Feature.ET) == (method in ("epoll", "kqueue"))


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        EventBase(EventConfig(method="waffles"))
    message = str(info.value)
    assert "waffles" in message
    for name in METHODS:
        assert name in message


# --- features ---------------------------------------------------------------------------


def test_base_features(clean_env: pytest.MonkeyPatch) -> None:
    """main/base_features: requiring ET gives a base with ET, or none at all."""
    config = EventConfig().require_features(Feature.ET)
    try:
        base = EventBase(config)
    except NoBackendError:
        with EventBase() as fallback:
            assert not fallback.features & Feature.ET
    else:
        with base:
            assert base.features & Feature.ET == Feature.ET


@pytest.mark.parametrize(
    "required",
    [
        Feature.NONE,
        Feature.ET,
        Feature.O1,
        Feature.FDS,
        Feature.EARLY_CLOSE,
        Feature.ET | Feature.EARLY_CLOSE,
        Feature.FDS | Feature.EARLY_CLOSE,
        Feature.O1 | Feature.FDS,
        Feature.ET | Feature.O1 | Feature.FDS | Feature.EARLY_CLOSE,
    ],
    ids=lambda f: repr(f),
)
def test_require_features_picks_the_first_capable_backend(
    clean_env: pytest.MonkeyPatch, required: Feature
) -> None:
    capable = [m for m in METHODS if _features_of(m) & required == required]
    config = EventConfig().require_features(required)
    if not capable:
        with pytest.raises(NoBackendError):
            EventBase(config)
        return
    with EventBase(config) as base:
        assert base.method == capable[0]
        assert base.features & required == required


def test_require_features_replaces_the_previous_requirement() -> None:
    config = EventConfig()
    config.require_features(Feature.ET | Feature.O1 | Feature.FDS | Feature.EARLY_CLOSE)
    assert config.require_features(Feature.NONE) is config
    assert config.require == Feature.NONE
    config.require_features(Feature.FDS)
    assert config.require == Feature.FDS
    with EventBase(config) as base:
        assert base.features & Feature.FDS


def test_avoid_and_require_together(clean_env: pytest.MonkeyPatch) -> None:
    for avoided in METHODS:
        features = _features_of(avoided)
        config = EventConfig().avoid_method(avoided).require_features(features)
        others = [m for m in METHODS if m != avoided and _features_of(m) & features == features]
        if others:
            with EventBase(config) as base:
                assert base.method == others[0]
        else:
            with pytest.raises(NoBackendError):
                EventBase(config)


def test_no_backend_error_names_what_was_asked(clean_env: pytest.MonkeyPatch) -> None:
    everything = Feature.ET | Feature.O1 | Feature.FDS | Feature.EARLY_CLOSE
    capable = [m for m in METHODS if _features_of(m) & everything == everything]
    if capable:
        pytest.skip(f"{capable[0]} has every feature")
    config = EventConfig().avoid_method(METHODS[0]).require_features(everything)
    with pytest.raises(NoBackendError) as info:
        EventBase(config)
    error = info.value
    assert isinstance(error, ConfigError)
    assert isinstance(error, ValueError)
    assert isinstance(error, EvwebError)
    message = str(error)
    assert "EARLY_CLOSE" in message
    assert "FDS" in message
    assert METHODS[0] in message  # the avoided method is named
    for name in METHODS:  # and why each backend was turned down
        assert name in message


def test_no_backend_error_names_a_forced_method_disabled_by_env(
    clean_env: pytest.MonkeyPatch,
) -> None:
    method = METHODS[-1]
    variable = f"EVENT_NO{method.upper()}"
    clean_env.setenv(variable, "1")
    with pytest.raises(NoBackendError) as info:
        EventBase(EventConfig(method=method))
    assert method in str(info.value)
    assert variable in str(info.value)
    with EventBase(EventConfig(method=method, flags=BaseFlag.IGNORE_ENV)) as base:
        assert base.method == method


# --- environment ----------------------------------------------------------------------------


def test_base_environ(clean_env: pytest.MonkeyPatch) -> None:
    """main/base_environ: EVENT_NO<METHOD> disables a backend unless IGNORE_ENV."""
    with EventBase() as base:
        default = base.method
    clean_env.setenv(f"EVENT_NO{default.upper()}", "1")
    if len(METHODS) == 1:
        with pytest.raises(NoBackendError):
            EventBase(EventConfig())
    else:
        with EventBase(EventConfig()) as base:
            assert base.method != default
    with EventBase(EventConfig().set_flag(BaseFlag.IGNORE_ENV)) as base:
        assert base.method == default


@pytest.mark.parametrize("name", METHODS)
def test_every_method_can_be_disabled_by_env(clean_env: pytest.MonkeyPatch, name: str) -> None:
    clean_env.setenv(f"EVENT_NO{name.upper()}", "yes")
    others = [m for m in METHODS if m != name]
    if not others:
        with pytest.raises(NoBackendError):
            EventBase()
        return
    with EventBase() as base:
        assert base.method == others[0]


def test_env_disables_all_but_the_last(clean_env: pytest.MonkeyPatch) -> None:
    for name in METHODS[:-1]:
        clean_env.setenv(f"EVENT_NO{name.upper()}", "1")
    with EventBase() as base:
        assert base.method == METHODS[-1]
    clean_env.setenv(f"EVENT_NO{METHODS[-1].upper()}", "1")
    with pytest.raises(NoBackendError):
        EventBase()
    with EventBase(EventConfig(flags=BaseFlag.IGNORE_ENV)) as base:
        assert base.method == METHODS[0]


def test_env_var_with_empty_value_disables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(f"EVENT_NO{METHODS[0].upper()}", "")
    if len(METHODS) == 1:
        with pytest.raises(NoBackendError):
            EventBase()
        return
    with EventBase() as base:
        assert base.method != METHODS[0]


def test_show_method_logs_the_backend(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    clean_env.setenv("EVENT_SHOW_METHOD", "1")
    caplog.set_level(logging.INFO, logger="evweb.reactor")
    with EventBase(EventConfig(method=method)):
        pass
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("evweb")]
    assert any(re.search(rf"\b{method}\b", m) for m in messages), messages


def test_no_method_log_without_show_method(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="evweb.reactor")
    with EventBase():
        pass
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]


# --- configuration values ---------------------------------------------------------------------


def test_version() -> None:
    """main/version: a dotted numeric version string."""
    version = evweb.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)?", version)


def test_constants_have_libevent_values() -> None:
    assert (TIMEOUT, READ, WRITE, SIGNAL, PERSIST, ET, FINALIZE, CLOSED) == (
        0x01,
        0x02,
        0x04,
        0x08,
        0x10,
        0x20,
        0x40,
        0x80,
    )
    assert ALL_BITS == 0xFF
    assert (ONCE, NONBLOCK, NO_EXIT_ON_EMPTY) == (0x01, 0x02, 0x04)
    assert (COUNT_ACTIVE, COUNT_VIRTUAL, COUNT_ADDED) == (1, 2, 4)
    assert (Feature.ET, Feature.O1, Feature.FDS, Feature.EARLY_CLOSE) == (1, 2, 4, 8)
    assert (
        BaseFlag.NOLOCK,
        BaseFlag.IGNORE_ENV,
        BaseFlag.STARTUP_IOCP,
        BaseFlag.NO_CACHE_TIME,
        BaseFlag.EPOLL_USE_CHANGELIST,
        BaseFlag.PRECISE_TIMER,
        BaseFlag.EPOLL_DISALLOW_TIMERFD,
        BaseFlag.USE_SIGNALFD,
    ) == (0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80)


@pytest.mark.parametrize(
    "flag",
    [
        BaseFlag.NOLOCK,
        BaseFlag.STARTUP_IOCP,
        BaseFlag.EPOLL_USE_CHANGELIST,
        BaseFlag.PRECISE_TIMER,
        BaseFlag.EPOLL_DISALLOW_TIMERFD,
    ],
    ids=lambda f: f.name,
)
def test_compatibility_flags_are_accepted(method: str, flag: BaseFlag) -> None:
    config = EventConfig(method=method)
    assert config.set_flag(flag) is config
    with EventBase(config) as base:
        base.timer(lambda fd, what, arg: None).add(0)
        assert base.dispatch() == 1


def test_set_flag_accumulates() -> None:
    config = EventConfig().set_flag(BaseFlag.NO_CACHE_TIME).set_flag(BaseFlag.IGNORE_ENV)
    assert config.flags == BaseFlag.NO_CACHE_TIME | BaseFlag.IGNORE_ENV


@pytest.mark.parametrize(
    ("interval", "max_callbacks", "min_priority"),
    [
        (-1.0, None, 0),
        (math.nan, None, 0),
        (math.inf, None, 0),
        (None, 0, 0),
        (None, -5, 0),
        (None, None, -1),
    ],
)
def test_max_dispatch_interval_validation(
    interval: float | None, max_callbacks: int | None, min_priority: int
) -> None:
    with pytest.raises(ConfigError):
        EventConfig().set_max_dispatch_interval(interval, max_callbacks, min_priority)


def test_max_dispatch_interval_accepts_valid_values() -> None:
    config = EventConfig()
    assert config.set_max_dispatch_interval(0.01, 10, 2) is config
    assert (config.max_dispatch_interval, config.max_callbacks) == (0.01, 10)
    assert config.limit_callbacks_after_priority == 2
    config.set_max_dispatch_interval(None, None, 0)
    with EventBase(config) as base:
        assert base.dispatch() == 1
