"""The resolver's configuration, and ``resolv.conf`` text turned into one (sans-IO).

:class:`ResolverConfig` holds every setting libevent's evdns has, with
libevent's defaults. :func:`apply_option` is ``evdns_base_set_option``: one
``name``/``value`` pair, parsed and clipped with libevent's rules, giving a
new config (configs are frozen). :func:`parse_resolv_conf` reads the text of
a ``resolv.conf``: ``nameserver``, ``domain``, ``search`` and ``options``
lines, every option libevent recognises plus glibc's ``rotate`` and
``edns0``.

Why the parser warns where libevent is silent: a resolver that quietly drops
``nameserver 10.0.0.300`` or ``options ndots:two`` leaves its user guessing.
Each line that cannot be used is skipped with a warning on the
``evweb.dns`` logger naming ``file:line``, and the rest of the file still
applies. Keywords and options other resolvers know (glibc's ``sortlist``,
``single-request``, BSD's ``lookup``...) are skipped without a word.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evweb.dns.names import check_hostname
from evweb.errors import ConfigError, DNSError
from evweb.io.sockets import parse_sockaddr_port

log = logging.getLogger("evweb.dns")

DNS_PORT = 53
EDNS0_UDP_SIZE = 1232
"""The payload glibc's ``options edns0`` advertises here (DNS flag day 2020's safe size)."""

Address = tuple[str, int]


@dataclass(frozen=True)
class ResolverConfig:
    """Every setting of the resolver, with libevent's defaults (times in seconds).

    ``nameservers`` are ``(ip, port)`` pairs and ``search`` the domains
    tried for short names (see ``ndots``). The rest are libevent's options
    under their Python names (``max-timeouts`` is ``max_timeouts``):
    ``timeout`` per transmission, ``attempts`` transmissions per request,
    ``max_timeouts`` consecutive timeouts before a nameserver is marked
    down, ``max_inflight`` requests on the wire (the rest wait),
    ``randomize_case`` (the 0x20 defence), ``bind_to`` (source address for
    nameservers added later), the probing of down servers
    (``initial_probe_timeout``, ``max_probe_timeout``,
    ``probe_backoff_factor``), socket buffer sizes (0: the system's),
    ``tcp_idle_timeout``, ``use_vc`` (TCP only), ``ignore_tc`` (never fall
    back to TCP), ``edns_udp_size`` (over 512 adds an EDNS0 OPT record) and
    ``getaddrinfo_allow_skew``. ``rotate`` (glibc's option) spreads requests
    round-robin over the servers that are up, as libevent always does; with
    it off the first server that is up takes every request.
    """

    nameservers: tuple[Address, ...] = ()
    search: tuple[str, ...] = ()
    ndots: int = 1
    timeout: float = 5.0
    attempts: int = 3
    max_timeouts: int = 3
    max_inflight: int = 64
    randomize_case: bool = True
    bind_to: Address | None = None
    initial_probe_timeout: float = 10.0
    max_probe_timeout: float = 3600.0
    probe_backoff_factor: int = 3
    so_rcvbuf: int = 0
    so_sndbuf: int = 0
    tcp_idle_timeout: float = 5.0
    use_vc: bool = False
    ignore_tc: bool = False
    edns_udp_size: int = 512
    rotate: bool = True
    getaddrinfo_allow_skew: float = 3.0

    def __post_init__(self) -> None:
        for name, low, high in _INT_RANGES:
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name} must be an int in {low}..{high}, got {value!r}")
        for name in _SECONDS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.001 <= value < math.inf:
                raise ConfigError(f"{name} must be seconds >= 0.001, got {value!r}")

    def replace(self, **changes: Any) -> ResolverConfig:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)


_INT_RANGES = (
    ("ndots", 0, 255),
    ("attempts", 0, 255),
    ("max_timeouts", 1, 255),
    ("max_inflight", 1, 65000),
    ("probe_backoff_factor", 1, 10),
    ("so_rcvbuf", 0, 1 << 31),
    ("so_sndbuf", 0, 1 << 31),
    ("edns_udp_size", 512, 65535),
)
_SECONDS = (
    "timeout",
    "initial_probe_timeout",
    "max_probe_timeout",
    "tcp_idle_timeout",
    "getaddrinfo_allow_skew",
)


# --- option values, parsed with libevent's rules ---------------------------------------


def _integer(text: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise ValueError(f"{text!r} is not a decimal integer")
    return int(text)


def _count(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    return value


def _clipped(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        return min(max(_integer(text), low), high)

    return parse


_DECIMAL = "0123456789.eE+-"


def _seconds(text: str) -> float:
    """Seconds as ``evdns_strtotimeval`` reads them: a decimal number of seconds, at least 1 ms."""
    if not text or text.strip(_DECIMAL):
        raise ValueError(f"{text!r} is not a number of seconds")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0.001:
        raise ValueError(f"{text!r} is not a number of seconds >= 0.001")
    return value


def _flag(text: str) -> bool:
    if text:
        raise ValueError(f"takes no value, got {text!r}")
    return True


_Setter = Callable[[ResolverConfig, str], dict[str, Any]]


def _field(name: str, parse: Callable[[str], Any]) -> _Setter:
    return lambda config, text: {name: parse(text)}


def _max_probe(config: ResolverConfig, text: str) -> dict[str, Any]:
    limit = float(_clipped(1, 3600)(text))
    return {
        "max_probe_timeout": limit,
        "initial_probe_timeout": min(config.initial_probe_timeout, limit),
    }


_OPTIONS: dict[str, _Setter] = {
    "ndots": _field("ndots", _clipped(0, 255)),
    "timeout": _field("timeout", _seconds),
    "getaddrinfo-allow-skew": _field("getaddrinfo_allow_skew", _seconds),
    "max-timeouts": _field("max_timeouts", _clipped(1, 255)),
    "max-inflight": _field("max_inflight", _clipped(1, 65000)),
    "attempts": _field("attempts", lambda text: min(_count(text), 255)),
    "randomize-case": _field("randomize_case", lambda text: bool(_count(text))),
    "bind-to": _field("bind_to", parse_sockaddr_port),
    "initial-probe-timeout": _field("initial_probe_timeout", lambda t: min(_seconds(t), 3600.0)),
    "max-probe-timeout": _max_probe,
    "probe-backoff-factor": _field("probe_backoff_factor", _clipped(1, 10)),
    "so-rcvbuf": _field("so_rcvbuf", lambda text: min(_count(text), 1 << 31)),
    "so-sndbuf": _field("so_sndbuf", lambda text: min(_count(text), 1 << 31)),
    "tcp-idle-timeout": _field("tcp_idle_timeout", _seconds),
    "use-vc": _field("use_vc", _flag),
    "ignore-tc": _field("ignore_tc", _flag),
    "edns-udp-size": _field("edns_udp_size", _clipped(512, 65535)),
    "rotate": _field("rotate", _flag),
    "edns0": lambda config, text: (
        {"edns_udp_size": max(config.edns_udp_size, EDNS0_UDP_SIZE)} if _flag(text) else {}
    ),
}
OPTION_NAMES = tuple(_OPTIONS)
"""The names :func:`apply_option` takes: libevent's, and glibc's ``rotate`` and ``edns0``."""

# resolv.conf words other resolvers use: skipped without a warning.
_FOREIGN_OPTIONS = frozenset(
    (
        "debug",
        "inet6",
        "ip6-bytestring",
        "ip6-dotint",
        "no-ip6-dotint",
        "no-check-names",
        "no-tld-query",
        "single-request",
        "single-request-reopen",
        "no-reload",
        "trust-ad",
        "no-aaaa",
        "insecure1",
        "insecure2",
        "tcp",
    )
)
_FOREIGN_KEYWORDS = frozenset(("sortlist", "lookup", "family"))


def apply_option(config: ResolverConfig, name: str, value: str | None = "") -> ResolverConfig:
    """``config`` with one option set, as ``evdns_base_set_option(name, value)`` sets it.

    ``name`` may end with ``':'``; ``value`` None means empty. Numbers are
    clipped to libevent's ranges (``max-inflight:0`` is 1); a value libevent
    refuses (``ndots:foo``, ``timeout:0``, ``use-vc:1``) or an unknown name
    raises :class:`~evweb.errors.ConfigError` naming both.
    """
    key = name[:-1] if name.endswith(":") else name
    setter = _OPTIONS.get(key)
    if setter is None:
        raise ConfigError(f"unknown resolver option {name!r}")
    text = "" if value is None else value
    try:
        return config.replace(**setter(config, text))
    except (ValueError, DNSError) as exc:  # AddressError and ConfigError are ValueErrors
        raise ConfigError(f"bad value {text!r} for resolver option {key!r}: {exc}") from None


def parse_nameserver(text: str) -> Address:
    """A nameserver's ``(ip, port)`` from ``ip``, ``ip:port``, ``[v6]:port`` or ``v6``.

    The port defaults to 53. Raises :class:`~evweb.errors.AddressError`
    (a :class:`~evweb.errors.ConfigError`) for anything else.
    """
    host, port = parse_sockaddr_port(text)
    return host, port or DNS_PORT


def search_domain(text: str) -> str:
    """A search domain checked and normalized (``example.com.``); DNSNameError if invalid."""
    return check_hostname(text)


# --- the file --------------------------------------------------------------------------


def parse_resolv_conf(
    text: str,
    filename: str = "resolv.conf",
    *,
    hostname: str | None = None,
    base: ResolverConfig | None = None,
) -> ResolverConfig:
    """The configuration ``text`` (a ``resolv.conf``) describes, over ``base``'s settings.

    ``nameserver ADDR`` adds a server (``ip``, ``ip:port`` or ``[v6]:port``;
    repeats are dropped), ``domain D`` and ``search D1 D2...`` replace the
    search list (the last such line wins), ``options opt[:value]...`` go
    through :func:`apply_option`. Lines starting with ``#`` or ``;`` are
    comments. Without ``domain`` or ``search`` lines the domain part of
    ``hostname`` (when it has one) is the search list, as in libevent.
    Lines that cannot be used are skipped with a warning naming
    ``filename:line``.
    """
    state = _Parse(base or ResolverConfig(), filename)
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if words and words[0][0] not in "#;":
            state.line(number, words)
    config = state.config.replace(nameservers=tuple(state.nameservers))
    if state.search is not None:
        return config.replace(search=tuple(state.search))
    if hostname and "." in hostname.strip("."):
        try:
            return config.replace(search=(search_domain(hostname.split(".", 1)[1]),))
        except DNSError:
            pass
    return config


class _Parse:
    """What the lines read so far say."""

    def __init__(self, config: ResolverConfig, filename: str) -> None:
        self.config = config
        self.filename = filename
        self.nameservers: list[Address] = list(config.nameservers)
        self.search: list[str] | None = None

    def warn(self, number: int, message: str, skipped: str = "line") -> None:
        log.warning("%s:%d: %s; %s skipped", self.filename, number, message, skipped)

    def line(self, number: int, words: list[str]) -> None:
        keyword, args = words[0], words[1:]
        if keyword == "nameserver":
            self.nameserver(number, args)
        elif keyword in ("domain", "search"):
            self.domains(number, keyword, args)
        elif keyword == "options":
            for option in args:
                self.option(number, option)
        elif keyword not in _FOREIGN_KEYWORDS:
            self.warn(number, f"unknown keyword {keyword!r}")

    def nameserver(self, number: int, args: list[str]) -> None:
        if not args:
            self.warn(number, "'nameserver' without an address")
            return
        try:
            address = parse_nameserver(args[0])
        except ConfigError as exc:
            self.warn(number, str(exc))
            return
        if address not in self.nameservers:
            self.nameservers.append(address)

    def domains(self, number: int, keyword: str, args: list[str]) -> None:
        if not args:
            self.warn(number, f"{keyword!r} without a domain")
            return
        if keyword == "domain":
            args = args[:1]
        domains: list[str] = []
        for arg in args:
            if arg == ".":
                continue  # the root: nothing to append
            try:
                domain = search_domain(arg)
            except DNSError as exc:
                self.warn(number, str(exc))
                return
            if domain not in domains:
                domains.append(domain)
        self.search = domains

    def option(self, number: int, option: str) -> None:
        name, _, value = option.partition(":")
        if name not in _OPTIONS:
            if name not in _FOREIGN_OPTIONS:
                self.warn(number, f"unknown option {name!r}", "option")
            return
        try:
            self.config = apply_option(self.config, name, value)
        except ConfigError as exc:
            self.warn(number, str(exc), "option")
