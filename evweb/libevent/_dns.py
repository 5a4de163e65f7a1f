"""``evdns_*`` (``event2/dns.h``, the resolver side) over :mod:`evweb.dns`.

C shapes become Python ones:

* ``evdns_base_new(base, flags)`` returns an :class:`EvdnsBase`: the
  :class:`~evweb.dns.resolver.DNSResolver` behind libevent 2.2's getaddrinfo
  cache (a :class:`~evweb.dns.cache.CachingResolver`; ``EVDNS_BASE_NO_CACHE``
  turns it off). It is also an IO-layer resolver, so it can be passed as the
  ``dns_base`` of ``bufferevent_socket_connect_hostname`` and the evhttp
  client functions. A plain ``DNSResolver`` is accepted wherever an
  ``evdns_base`` is.
* Resolve callbacks keep C's shape ``cb(result, type, count, ttl, addresses,
  arg)``; ``addresses`` is a list of address strings (A, AAAA) or of one
  name without its final dot (PTR, where C passes a ``char **``), None on
  error. They run from the loop, as libevent's deferred callbacks do.
* ``evdns_getaddrinfo(dns_base, node, service, hints, cb, arg)`` calls
  ``cb(result, res, arg)`` with ``res`` a list shaped like
  :func:`socket.getaddrinfo`'s (C's ``struct evutil_addrinfo`` chain) or
  None. As in C, what needs no query (numeric hosts, hosts-file names,
  errors in the hints) is answered inside the call, which then returns
  None; otherwise the request is returned (a cache hit is answered from the
  loop, through the request).
* Functions returning ``int`` give 0 on success and -1 on failure (the
  reason logged at DEBUG on ``evweb.libevent``); constructors and requests
  are None where C returns NULL.

Pythonic equivalents::

    evdns_base_new(base, flags)              DNSResolver(base, ...) [+ CachingResolver]
    evdns_base_nameserver_ip_add(b, "ip")    resolver.add_nameserver("ip")
    evdns_base_set_option(b, "ndots:", "2")  resolver.set_option("ndots", "2")
    evdns_base_resolve_ipv4(b, n, f, cb, a)  resolver.resolve_ipv4(n, cb, flags=f)
    evdns_cancel_request(b, req)             req.cancel()
    evdns_getaddrinfo(b, n, s, h, cb, a)     evweb.dns.getaddrinfo.getaddrinfo(...)
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from evweb.dns.cache import CachingResolver
from evweb.dns.connect import ConnectResolver, Lookup
from evweb.dns.getaddrinfo import EAI_CANCEL, AddrInfo, GetaddrinfoRequest, answer_now, lookup
from evweb.dns.resolv_conf import parse_resolv_conf
from evweb.dns.resolver import DNSRequest, DNSResolver, DNSResult
from evweb.errors import DNSErrorCode, DNSGetaddrinfoError, EvwebError
from evweb.io.resolve import ResolveCallback
from evweb.libevent._status import failed, log
from evweb.reactor import EventBase

DNS_ERR_NONE = 0
DNS_ERR_FORMAT = 1
DNS_ERR_SERVERFAILED = 2
DNS_ERR_NOTEXIST = 3
DNS_ERR_NOTIMPL = 4
DNS_ERR_REFUSED = 5
DNS_ERR_TRUNCATED = 65
DNS_ERR_UNKNOWN = 66
DNS_ERR_TIMEOUT = 67
DNS_ERR_SHUTDOWN = 68
DNS_ERR_CANCEL = 69
DNS_ERR_NODATA = 70
DNS_IPv4_A = 1
DNS_PTR = 2
DNS_IPv6_AAAA = 3
DNS_CNAME = 4
DNS_QUERY_NO_SEARCH = DNS_NO_SEARCH = 0x01
DNS_QUERY_USEVC = DNS_QUERY_USETCP = 0x02
DNS_QUERY_IGNTC = 0x04
DNS_CNAME_CALLBACK = 0x80
DNS_OPTION_SEARCH = 1
DNS_OPTION_NAMESERVERS = 2
DNS_OPTION_MISC = 4
DNS_OPTION_HOSTSFILE = 8
DNS_OPTIONS_ALL = 15
DNS_OPTION_NAMESERVERS_NO_DEFAULT = 16
EVDNS_BASE_INITIALIZE_NAMESERVERS = 1
EVDNS_BASE_NO_CACHE = 0x10
EVDNS_BASE_DISABLE_WHEN_INACTIVE = 0x8000
EVDNS_BASE_NAMESERVERS_NO_DEFAULT = 0x10000
EVDNS_ERROR_NONE = 0
EVDNS_ERROR_FAILED_TO_OPEN_FILE = 1
EVDNS_ERROR_FAILED_TO_STAT_FILE = 2
EVDNS_ERROR_FILE_TOO_LARGE = 3
EVDNS_ERROR_OUT_OF_MEMORY = 4
EVDNS_ERROR_SHORT_READ_FROM_FILE = 5
EVDNS_ERROR_NO_NAMESERVERS_CONFIGURED = 6
EVUTIL_EAI_CANCEL = EAI_CANCEL

_ALL_BASE_FLAGS = (
    EVDNS_BASE_INITIALIZE_NAMESERVERS
    | EVDNS_BASE_NO_CACHE
    | EVDNS_BASE_DISABLE_WHEN_INACTIVE
    | EVDNS_BASE_NAMESERVERS_NO_DEFAULT
)
_RESOLV_CONF = "/etc/resolv.conf"
_HOSTS = "/etc/hosts"
_MAX_RESOLV_CONF = 65535  # libevent's evutil_read_file_ limit for resolv.conf

evdns_callback_type = Callable[[int, int, int, int, list[str] | None, Any], object]
"""``cb(result, type, count, ttl, addresses, arg)``."""
evdns_getaddrinfo_cb = Callable[[int, list[AddrInfo] | None, Any], object]
"""``cb(result, res, arg)``: ``result`` 0 or an EVUTIL_EAI_* code."""


class EvdnsBase(CachingResolver):
    """What :func:`evdns_base_new` returns: a resolver, its getaddrinfo cache, an IO resolver.

    ``resolver`` is the :class:`~evweb.dns.resolver.DNSResolver`;
    ``cache_enabled`` is False with ``EVDNS_BASE_NO_CACHE``. ``resolve(host,
    port, family, callback)`` makes it usable wherever evweb.io takes a
    resolver (``bufferevent_socket_connect_hostname``).
    """

    def __init__(self, resolver: DNSResolver, *, cache_enabled: bool = True) -> None:
        super().__init__(resolver)
        self.cache_enabled = cache_enabled
        self._connect = ConnectResolver(self if cache_enabled else resolver, cache=False)

    def resolve(self, host: str, port: int, family: int, callback: ResolveCallback) -> Lookup:
        """The IO layer's resolver call: connect addresses through evdns_getaddrinfo's path."""
        return self._connect.resolve(host, port, family, callback)


class evutil_addrinfo:  # noqa: N801 - C's name
    """The hints of :func:`evdns_getaddrinfo` (``struct evutil_addrinfo``'s ``ai_*`` fields)."""

    __slots__ = ("ai_family", "ai_flags", "ai_protocol", "ai_socktype")

    def __init__(
        self, ai_flags: int = 0, ai_family: int = 0, ai_socktype: int = 0, ai_protocol: int = 0
    ) -> None:
        self.ai_flags = ai_flags
        self.ai_family = ai_family
        self.ai_socktype = ai_socktype
        self.ai_protocol = ai_protocol


def _resolver(dns_base: Any) -> DNSResolver:
    """The DNSResolver under an evdns_base (itself when it is one)."""
    return dns_base.resolver if isinstance(dns_base, CachingResolver) else dns_base  # type: ignore[no-any-return]


def _status(function: str, action: Callable[[], object]) -> int:
    try:
        action()
    except (EvwebError, ValueError, OSError) as exc:
        return failed(function, exc)
    return 0


# --- the base -------------------------------------------------------------------------------


def evdns_base_new(event_base: EventBase, flags: int) -> EvdnsBase | None:
    """``DNSResolver(base)`` + getaddrinfo cache; INITIALIZE_NAMESERVERS reads resolv.conf."""
    # As in libevent: unknown flag bits mean INITIALIZE_NAMESERVERS (with a warning), and
    # without DISABLE_WHEN_INACTIVE the resolver keeps the loop alive.
    if flags & ~_ALL_BASE_FLAGS:
        log.warning("evdns_base_new: unknown flags %#x; taken as INITIALIZE_NAMESERVERS", flags)
        flags = EVDNS_BASE_INITIALIZE_NAMESERVERS
    keep = not flags & EVDNS_BASE_DISABLE_WHEN_INACTIVE
    try:
        resolver = DNSResolver(event_base, resolv_conf=None, hosts=None, keep_loop_alive=keep)
    except (EvwebError, OSError) as exc:
        failed("evdns_base_new", exc)
        return None
    dns_base = EvdnsBase(resolver, cache_enabled=not flags & EVDNS_BASE_NO_CACHE)
    if flags & EVDNS_BASE_INITIALIZE_NAMESERVERS:
        options = DNS_OPTIONS_ALL
        if flags & EVDNS_BASE_NAMESERVERS_NO_DEFAULT:
            options |= DNS_OPTION_NAMESERVERS_NO_DEFAULT
        evdns_base_resolv_conf_parse(dns_base, options, _RESOLV_CONF)
    return dns_base


def evdns_base_free(dns_base: Any, fail_requests: int) -> None:
    """``resolver.close(fail_requests)``: outstanding requests get DNS_ERR_SHUTDOWN if asked."""
    dns_base.close(fail_requests=bool(fail_requests))


def evdns_base_nameserver_ip_add(dns_base: Any, ip_as_string: str) -> int:
    """``resolver.add_nameserver("ip[:port]")``: 0, 3 if already there, -1 if invalid."""
    try:
        added = _resolver(dns_base).add_nameserver(ip_as_string)
    except (EvwebError, ValueError, OSError) as exc:
        return failed("evdns_base_nameserver_ip_add", exc)
    return 0 if added else 3


def evdns_base_nameserver_sockaddr_add(
    dns_base: Any, sa: tuple[Any, ...], len: int = 0, flags: int = 0
) -> int:
    """``resolver.add_nameserver((ip, port))`` (``len`` and ``flags`` unused, as in C)."""
    try:
        added = _resolver(dns_base).add_nameserver(tuple(sa))
    except (EvwebError, ValueError, OSError) as exc:
        return failed("evdns_base_nameserver_sockaddr_add", exc)
    return 0 if added else 3


def evdns_base_count_nameservers(dns_base: Any) -> int:
    """``resolver.nameserver_count``: how many nameservers are configured."""
    return _resolver(dns_base).nameserver_count


def evdns_base_clear_nameservers_and_suspend(dns_base: Any) -> int:
    """``resolver.clear_nameservers()``: none left, requests held until a resume."""
    return _status(
        "evdns_base_clear_nameservers_and_suspend", _resolver(dns_base).clear_nameservers
    )


def evdns_base_resume(dns_base: Any) -> int:
    """``resolver.resume()``: send the requests held since a suspend."""
    return _status("evdns_base_resume", _resolver(dns_base).resume)


def evdns_base_set_option(dns_base: Any, option: str, val: str | None) -> int:
    """``resolver.set_option(name, value)``: 0, or -1 for an unknown option or a bad value."""
    return _status("evdns_base_set_option", lambda: _resolver(dns_base).set_option(option, val))


def evdns_base_search_add(dns_base: Any, domain: str) -> None:
    """``resolver.add_search(domain)`` (an invalid domain is logged and skipped)."""
    _status("evdns_base_search_add", lambda: _resolver(dns_base).add_search(domain))


def evdns_base_search_clear(dns_base: Any) -> None:
    """``resolver.clear_search()``: empty the search list."""
    _resolver(dns_base).clear_search()


def evdns_base_search_ndots_set(dns_base: Any, ndots: int) -> None:
    """``resolver.set_option("ndots", str(ndots))`` (clipped to 0..255)."""
    _status(
        "evdns_base_search_ndots_set", lambda: _resolver(dns_base).set_option("ndots", str(ndots))
    )


def evdns_base_load_hosts(dns_base: Any, hosts_fname: str | None) -> int:
    """``resolver.load_hosts(path)`` (None: localhost as 127.0.0.1 and ::1): 0 or -1."""
    return _status("evdns_base_load_hosts", lambda: _resolver(dns_base).load_hosts(hosts_fname))


def evdns_base_resolv_conf_parse(dns_base: Any, flags: int, filename: str | None) -> int:
    """``DNS_OPTION_*`` parts of a resolv.conf applied to the resolver; an EVDNS_ERROR_* code."""
    resolver = _resolver(dns_base)
    add_default = flags & DNS_OPTION_NAMESERVERS and not flags & DNS_OPTION_NAMESERVERS_NO_DEFAULT
    if flags & DNS_OPTION_HOSTSFILE:
        evdns_base_load_hosts(resolver, _HOSTS)
    text = _read(filename)
    if isinstance(text, int):
        if text == EVDNS_ERROR_FAILED_TO_OPEN_FILE:
            if flags & DNS_OPTION_SEARCH:
                _search_from_hostname(resolver)
            if add_default:
                resolver.add_nameserver("127.0.0.1")
        return text
    parsed = parse_resolv_conf(text, filename or "", hostname=socket.gethostname())
    if flags & DNS_OPTION_NAMESERVERS:
        for address in parsed.nameservers:
            resolver.add_nameserver(address)
    if flags & DNS_OPTION_SEARCH:
        resolver.clear_search()
        for domain in parsed.search:
            resolver.add_search(domain)
    if flags & DNS_OPTION_MISC:
        _apply_options(resolver, text)
    if add_default and not resolver.nameserver_count:
        resolver.add_nameserver("127.0.0.1")
        return EVDNS_ERROR_NO_NAMESERVERS_CONFIGURED
    return EVDNS_ERROR_NONE


def _read(filename: str | None) -> str | int:
    if filename is None:
        return EVDNS_ERROR_FAILED_TO_OPEN_FILE
    try:
        with open(filename, "rb") as file:
            data = file.read(_MAX_RESOLV_CONF + 1)
    except FileNotFoundError:
        return EVDNS_ERROR_FAILED_TO_OPEN_FILE
    except OSError:
        return EVDNS_ERROR_FAILED_TO_STAT_FILE
    if len(data) > _MAX_RESOLV_CONF:
        return EVDNS_ERROR_FILE_TOO_LARGE
    return data.decode("utf-8", "replace")


def _apply_options(resolver: DNSResolver, text: str) -> None:
    """The ``options`` lines, each option through set_option (bad ones skipped, as in C)."""
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == "options":
            for option in words[1:]:
                name, _, value = option.partition(":")
                try:
                    resolver.set_option(name, value)
                except (EvwebError, ValueError) as exc:
                    failed("evdns_base_resolv_conf_parse", exc)


def _search_from_hostname(resolver: DNSResolver) -> None:
    hostname = socket.gethostname()
    resolver.clear_search()
    if "." in hostname.strip("."):
        _status(
            "evdns_base_resolv_conf_parse", lambda: resolver.add_search(hostname.split(".", 1)[1])
        )


# --- lookups --------------------------------------------------------------------------------

_TYPES = {1: DNS_IPv4_A, 28: DNS_IPv6_AAAA, 12: DNS_PTR}


def _adapter(callback: evdns_callback_type, arg: Any, flags: int) -> Callable[[DNSResult], None]:
    """A DNSResult callback calling ``callback`` with libevent's arguments."""

    def deliver(result: DNSResult) -> None:
        kind = _TYPES.get(result.rtype, 0)
        if result.error is not None:
            callback(int(result.error.code), kind, 0, result.ttl, None, arg)
            return
        if kind == DNS_PTR:
            data = [result.names[0].rstrip(".")] if result.names else []
        else:
            data = list(result.addresses)
        callback(DNS_ERR_NONE, kind, len(data), result.ttl, data, arg)
        if flags & DNS_CNAME_CALLBACK and kind != DNS_PTR and result.names:
            cname = [result.canonical_name.rstrip(".")]
            callback(DNS_ERR_NONE, DNS_CNAME, 1, result.ttl, cname, arg)

    return deliver


def _address(value: str | bytes, family: int) -> str:
    return socket.inet_ntop(family, value) if isinstance(value, bytes) else value


def _resolve(
    function: str,
    start: Callable[[str, Callable[[DNSResult], None], int], DNSRequest],
    target: str | bytes,
    family: int | None,
    flags: int,
    callback: evdns_callback_type,
    ptr: Any,
) -> DNSRequest | None:
    """``start(target, cb, flags)`` with C's callback; an address of ``family`` may be packed."""
    deliver = _adapter(callback, ptr, flags)
    try:
        text: Any = target if family is None else _address(target, family)
        return start(text, deliver, flags & 0x07)
    except (EvwebError, ValueError) as exc:
        failed(function, exc)
        return None


def evdns_base_resolve_ipv4(
    dns_base: Any, name: str, flags: int, callback: evdns_callback_type, ptr: Any
) -> DNSRequest | None:
    """``resolver.resolve_ipv4(name, cb, flags)``; None (no callback) for an invalid name."""
    start = _resolver(dns_base).resolve_ipv4
    return _resolve("evdns_base_resolve_ipv4", start, name, None, flags, callback, ptr)


def evdns_base_resolve_ipv6(
    dns_base: Any, name: str, flags: int, callback: evdns_callback_type, ptr: Any
) -> DNSRequest | None:
    """``resolver.resolve_ipv6(name, cb, flags)``; None (no callback) for an invalid name."""
    start = _resolver(dns_base).resolve_ipv6
    return _resolve("evdns_base_resolve_ipv6", start, name, None, flags, callback, ptr)


def evdns_base_resolve_reverse(
    dns_base: Any, in_: str | bytes, flags: int, callback: evdns_callback_type, ptr: Any
) -> DNSRequest | None:
    """``resolver.resolve_reverse(address, cb, flags)``: text or 4 packed bytes (``in_addr``)."""
    start = _resolver(dns_base).resolve_reverse
    return _resolve("evdns_base_resolve_reverse", start, in_, socket.AF_INET, flags, callback, ptr)


def evdns_base_resolve_reverse_ipv6(
    dns_base: Any, in_: str | bytes, flags: int, callback: evdns_callback_type, ptr: Any
) -> DNSRequest | None:
    """``resolver.resolve_reverse(address, cb, flags)``: text or 16 packed bytes."""
    start = _resolver(dns_base).resolve_reverse
    return _resolve(
        "evdns_base_resolve_reverse_ipv6", start, in_, socket.AF_INET6, flags, callback, ptr
    )


def evdns_cancel_request(dns_base: Any, req: DNSRequest) -> None:
    """``req.cancel()``: the callback gets DNS_ERR_CANCEL (nothing if it already ran)."""
    req.cancel()


def evdns_err_to_string(err: int) -> str:
    """``DNSErrorCode(err).description`` (``"[Unknown error code]"`` for other numbers)."""
    try:
        return DNSErrorCode(err).description
    except ValueError:
        return "[Unknown error code]"


def evdns_getaddrinfo(
    dns_base: Any,
    nodename: str | None,
    servname: str | None,
    hints_in: evutil_addrinfo | None,
    cb: evdns_getaddrinfo_cb,
    arg: Any,
) -> GetaddrinfoRequest | None:
    """``getaddrinfo(resolver, node, service, cb)``; None when ``cb`` ran inside the call."""
    hints = hints_in or evutil_addrinfo()
    resolver = dns_base if getattr(dns_base, "cache_enabled", False) else _resolver(dns_base)
    try:
        answer = answer_now(
            resolver,
            nodename,
            servname,
            family=hints.ai_family,
            socktype=hints.ai_socktype,
            proto=hints.ai_protocol,
            flags=hints.ai_flags,
        )
    except DNSGetaddrinfoError as exc:
        cb(exc.eai, None, arg)
        return None
    if isinstance(answer, list):
        cb(0, answer, arg)
        return None

    def deliver(result: list[AddrInfo] | DNSGetaddrinfoError) -> None:
        if isinstance(result, list):
            cb(0, result, arg)
        else:
            cb(result.eai, None, arg)

    return lookup(resolver, nodename or "", answer, deliver)


def evdns_getaddrinfo_cancel(req: GetaddrinfoRequest | None) -> None:
    """``request.cancel()``: the callback gets EVUTIL_EAI_CANCEL (nothing if it already ran)."""
    if req is not None:
        req.cancel()


def evutil_freeaddrinfo(ai: object) -> None:
    """No equivalent: nothing to free in Python (kept so ported code runs unchanged)."""
