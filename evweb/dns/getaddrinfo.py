"""Asynchronous getaddrinfo over the DNS resolver: libevent's ``evdns_getaddrinfo``.

::

    def done(result):
        if isinstance(result, DNSGetaddrinfoError):
            print("failed:", result.eai, result)
        else:
            for family, socktype, proto, canonname, sockaddr in result:
                ...

    request = getaddrinfo(resolver, "example.com", "https", done, socktype=socket.SOCK_STREAM)
    request.cancel()     # if the answer is no longer wanted: ``done`` gets EAI_CANCEL

``resolver`` is a :class:`~evweb.dns.resolver.DNSResolver` or anything of its
shape, such as a :class:`~evweb.dns.cache.CachingResolver`. The callback
gets a list shaped like :func:`socket.getaddrinfo`'s, or a
:class:`~evweb.errors.DNSGetaddrinfoError` (a :class:`socket.gaierror`
whose ``errno`` is the ``EAI_*`` code). It always runs from the loop.

How an answer is found, in libevent's order:

1. the hints and the service are checked (a port number, or a name from
   ``/etc/services``; ``AI_NUMERICSERV`` forbids names);
2. no host: the wildcard address with ``AI_PASSIVE``, else loopback;
3. a numeric host (IPv6 with an optional ``%scope``, then dotted-quad IPv4)
   is its own answer; with ``AI_NUMERICHOST`` a name is ``EAI_NONAME``;
4. a name in the resolver's hosts table is answered from it alone
   (``EAI_ADDRFAMILY`` when the table has it for the other family only);
5. with a :class:`~evweb.dns.cache.CachingResolver` holding every family
   asked for the name (positive or negative), the answer comes from the
   cache alone, as libevent's ``evdns_cache_lookup``;
6. otherwise A and AAAA queries go out in parallel (one of them for
   ``AF_INET`` or ``AF_INET6``; ``AI_ADDRCONFIG`` narrows ``AF_UNSPEC`` to
   the families this host has addresses of). When the first answers, the
   other gets ``getaddrinfo-allow-skew`` more seconds (3 by default); past
   that it is cancelled and what arrived is delivered. IPv4 answers come
   first, as in libevent.

Steps 1 to 5 answer "at once": on the next loop iteration, without any
query. Errors: NXDOMAIN is ``EAI_NONAME``, NOERROR without addresses
``EAI_NODATA``, a timeout or SERVFAIL ``EAI_AGAIN`` (libevent says
``EAI_FAIL``, as its own source admits "XXX Do this better": a retry may
well work, which is what ``EAI_AGAIN`` tells the caller), anything else
``EAI_FAIL``. When both families fail, the later error is reported, as in
libevent. Where evweb answers differently from libevent: a numeric address
of a family the hints exclude is ``EAI_ADDRFAMILY`` at once (libevent asks
the DNS for it as a name), and an empty or invalid host is ``EAI_NONAME``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from evweb.dns._addrinfo import (
    AI_CANONNAME,
    AI_NUMERICHOST,
    EAI_CANCEL,
    AddrInfo,
    GaiFailureError,
    Hints,
    addrconfig_family,
    addrinfos,
    gai_strerror,
    make_hints,
    no_host,
    numeric,
    numeric_family_mismatch,
)
from evweb.dns._skew import SkewTimers, skew_timers
from evweb.errors import DNSError, DNSErrorCode, DNSGetaddrinfoError
from evweb.reactor import TIMEOUT, EventBase

__all__ = [
    "EAI_CANCEL",
    "AddrInfo",
    "GetaddrinfoCallback",
    "GetaddrinfoRequest",
    "answer_now",
    "gai_strerror",
    "getaddrinfo",
    "lookup",
]

GetaddrinfoCallback = Callable[[list[AddrInfo] | DNSGetaddrinfoError], object]
"""``callback(addrinfos_or_error)``."""

DEFAULT_SKEW = 3.0
_A, _AAAA = 1, 28
_INET, _INET6 = socket.AF_INET, socket.AF_INET6

_AGAIN_CODES = frozenset((DNSErrorCode.TIMEOUT, DNSErrorCode.SERVERFAILED))


def error(
    name: str,
    eai: int,
    detail: str = "",
    code: int = DNSErrorCode.UNKNOWN,
    rcode: int | None = None,
) -> DNSGetaddrinfoError:
    """The error object for ``eai`` (``detail`` is added to the standard message)."""
    message = gai_strerror(eai) + (f" ({detail})" if detail else "")
    return DNSGetaddrinfoError(name, eai, message, code, rcode)


def eai_of(result: Any) -> int:
    """The EAI code for a resolver result: 0 when it carries addresses."""
    err = result.error
    if err is None:
        return 0 if result.addresses else socket.EAI_NODATA
    code = err.code
    if code == DNSErrorCode.NOTEXIST:
        return socket.EAI_NONAME
    if code == DNSErrorCode.NODATA:
        return socket.EAI_NODATA
    if code == DNSErrorCode.CANCEL:
        return EAI_CANCEL
    return socket.EAI_AGAIN if code in _AGAIN_CODES else socket.EAI_FAIL


def answer_now(
    resolver: Any,
    host: str | None,
    service: int | str | None,
    *,
    family: int = socket.AF_UNSPEC,
    socktype: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[AddrInfo] | Hints:
    """Steps 1 to 4 of the module doc: the answer, or the checked Hints when the DNS must be asked.

    Raises :class:`~evweb.errors.DNSGetaddrinfoError` for an answer that is an error.
    ``Hints.family`` is then the family to ask for (after ``AI_ADDRCONFIG``).
    """
    name = host or ""
    try:
        if host is None and service is None:
            raise GaiFailureError(socket.EAI_NONAME, "neither host nor service")
        hints = make_hints(family, socktype, proto, flags, service)
        if host is None:
            return no_host(hints)
        hints.family = addrconfig_family(hints)
        answer = numeric(host, hints)
        if answer is not None:
            return answer
        if numeric_family_mismatch(host, hints):
            raise GaiFailureError(socket.EAI_ADDRFAMILY)
        if hints.flags & AI_NUMERICHOST or not host.strip("."):
            raise GaiFailureError(socket.EAI_NONAME)
        from_hosts = _from_hosts(resolver, host, hints)
    except GaiFailureError as exc:
        raise error(name, exc.code, exc.detail) from None
    return hints if from_hosts is None else from_hosts


def _from_hosts(resolver: Any, host: str, hints: Hints) -> list[AddrInfo] | None:
    table = getattr(resolver, "hosts", None)
    if table is None:
        return None
    try:
        found = table.lookup(host)
    except (DNSError, ValueError):
        return None
    if found is None:
        return None
    pairs = [(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in found]
    if hints.family != socket.AF_UNSPEC:
        pairs = [pair for pair in pairs if pair[0] == hints.family]
    if not pairs:
        raise GaiFailureError(socket.EAI_ADDRFAMILY, "the hosts file has the other family")
    canon = host.rstrip(".") if hints.flags & AI_CANONNAME else ""
    return addrinfos(pairs, hints, canon)


def getaddrinfo(
    resolver: Any,
    host: str | None,
    service: int | str | None,
    callback: GetaddrinfoCallback,
    *,
    family: int = socket.AF_UNSPEC,
    socktype: int = 0,
    proto: int = 0,
    flags: int = 0,
    query_flags: int = 0,
) -> GetaddrinfoRequest:
    """Resolve ``host`` and ``service`` as :func:`socket.getaddrinfo` would, without blocking.

    ``callback`` runs once, from the loop, with the list of
    ``(family, socktype, proto, canonname, sockaddr)`` or a
    :class:`~evweb.errors.DNSGetaddrinfoError` (``EAI_CANCEL`` when the
    returned request is cancelled first). ``query_flags`` (``QueryFlags``) go on the
    A/AAAA queries (``NO_SEARCH``, ``USE_TCP``, ``NO_CACHE``...).
    """
    request = GetaddrinfoRequest(resolver, host or "", callback)
    try:
        answer = answer_now(
            resolver, host, service, family=family, socktype=socktype, proto=proto, flags=flags
        )
    except DNSGetaddrinfoError as exc:
        request._deliver_soon(exc)
        return request
    if isinstance(answer, list):
        request._deliver_soon(answer)
    elif not request._from_cache(answer, query_flags):
        request._start(answer, query_flags)
    return request


def lookup(
    resolver: Any, host: str, hints: Hints, callback: GetaddrinfoCallback, *, query_flags: int = 0
) -> GetaddrinfoRequest:
    """The cache, else the DNS, for ``host`` with the Hints :func:`answer_now` gave."""
    request = GetaddrinfoRequest(resolver, host, callback)
    if not request._from_cache(hints, query_flags):
        request._start(hints, query_flags)
    return request


Outcome = list[AddrInfo] | DNSGetaddrinfoError


class GetaddrinfoRequest:
    """One :func:`getaddrinfo` in progress: :meth:`cancel` it, or wait for its callback.

    ``result`` holds what the callback got once it ran (None before);
    ``done`` is True once it ran or the request was cancelled. ``skew_at``
    is the deadline of the skew wait while one runs.
    """

    __slots__ = (
        "_base",
        "_callback",
        "_canon",
        "_hints",
        "_pending",
        "_pending_error",
        "_resolver",
        "_skews",
        "_v4",
        "_v6",
        "done",
        "host",
        "result",
        "skew_at",
    )

    def __init__(self, resolver: Any, host: str, callback: GetaddrinfoCallback) -> None:
        self._resolver = resolver
        self._base: EventBase = resolver.base
        self._callback: GetaddrinfoCallback | None = callback
        self.host = host
        self.done = False
        self.result: Outcome | None = None
        self._hints: Hints | None = None
        self._v4: Any = None  # the A query while in flight
        self._v6: Any = None  # the AAAA query while in flight
        self._pending: list[AddrInfo] | None = None  # the first family's answer
        self._pending_error: DNSGetaddrinfoError | None = None
        self._canon = ""
        self._skews: SkewTimers | None = None
        self.skew_at: float | None = None

    def __repr__(self) -> str:
        state = "done" if self.done else "in flight"
        return f"<GetaddrinfoRequest {self.host!r} {state}>"

    # --- the outcome ------------------------------------------------------------------

    def _finish(self, result: Outcome) -> None:
        callback = self._callback
        self._stop()
        self.result = result
        if callback is not None:
            callback(result)

    def _deliver_soon(self, result: Outcome) -> None:
        """Hand ``result`` over from the loop (a CachingResolver's queue, else a one-shot event)."""
        call_soon = getattr(self._resolver, "call_soon", None)
        if call_soon is not None:
            call_soon(self._deliver, result)
        else:
            self._base.once(-1, TIMEOUT, lambda fd, what, arg: self._deliver(arg), result)

    def _deliver(self, result: Outcome) -> None:
        if not self.done:
            self._finish(result)

    def _stop(self) -> None:
        self.done = True
        self._callback = None
        if self.skew_at is not None and self._skews is not None:
            self._skews.discard(self)
        v4, v6 = self._v4, self._v6
        self._v4 = self._v6 = None
        if v4 is not None:
            v4.cancel()
        if v6 is not None:
            v6.cancel()

    def cancel(self) -> None:
        """Stop the lookup: the callback gets ``EAI_CANCEL``, from the loop (no-op once done).

        As libevent's ``evdns_getaddrinfo_cancel``; the queries in flight are
        cancelled.
        """
        if self.done:
            return
        callback = self._callback
        self._stop()
        self.result = error(self.host, EAI_CANCEL, code=DNSErrorCode.CANCEL)
        if callback is not None:
            self._base.once(-1, TIMEOUT, lambda fd, what, arg: callback(arg), self.result)

    # --- the cache: both families at once, as libevent's evdns_cache_lookup -------------

    def _from_cache(self, hints: Hints, query_flags: int) -> bool:
        """Answer from the resolver's cache when it holds every family asked; False otherwise."""
        peek = getattr(self._resolver, "lookup_cached", None)
        if peek is None:
            return False
        family = hints.family
        rtypes = (_A,) if family == _INET else (_AAAA,) if family == _INET6 else (_A, _AAAA)
        results = peek(self.host, rtypes, query_flags)
        if results is None:
            return False
        self._hints = hints
        infos: list[AddrInfo] = []
        failure: DNSGetaddrinfoError | None = None
        for rtype, result in zip(rtypes, results, strict=True):
            eai = eai_of(result)
            if eai:
                failure = self._failure(result, eai)
            else:
                infos += self._addrinfos(result, rtype == _A)
        if infos:
            self._name_first(infos)
        self._deliver_soon(infos if infos or failure is None else failure)
        return True

    # --- the queries ------------------------------------------------------------------

    def _start(self, hints: Hints, query_flags: int) -> None:
        self._hints = hints
        resolver, name = self._resolver, self.host
        try:
            if hints.family != _INET6:
                self._v4 = resolver.resolve_ipv4(name, self._on_v4, flags=query_flags)
            if hints.family != _INET:
                self._v6 = resolver.resolve_ipv6(name, self._on_v6, flags=query_flags)
        except (DNSError, ValueError) as exc:  # an invalid name, a closed resolver
            for query in (self._v4, self._v6):
                if query is not None:
                    query.cancel()
            self._v4 = self._v6 = None
            self._deliver_soon(error(name, socket.EAI_NONAME, str(exc)))

    def _on_v4(self, result: Any) -> None:
        if self._v4 is not None:
            self._v4 = None
            self._answered(result, True)

    def _on_v6(self, result: Any) -> None:
        if self._v6 is not None:
            self._v6 = None
            self._answered(result, False)

    def _answered(self, result: Any, is_v4: bool) -> None:
        if self.done:
            return
        eai = eai_of(result)
        waiting = self._v6 is not None if is_v4 else self._v4 is not None
        if eai:
            failure = self._failure(result, eai)
            if waiting:
                self._pending_error = failure
                self._arm_skew()
            elif self._pending is not None:
                self._succeed(self._pending)
            else:
                self._finish(failure)
            return
        infos = self._addrinfos(result, is_v4)
        if waiting:
            self._pending = infos
            self._arm_skew()
            return
        pending = self._pending or []
        self._succeed(infos + pending if is_v4 else pending + infos)

    def _failure(self, result: Any, eai: int) -> DNSGetaddrinfoError:
        err = result.error
        code = DNSErrorCode.NODATA if err is None else err.code
        rcode = result.rcode
        return error(self.host, eai, "" if err is None else code.description, code, rcode)

    def _addrinfos(self, result: Any, is_v4: bool) -> list[AddrInfo]:
        hints = self._hints
        assert hints is not None
        if hints.flags & AI_CANONNAME and not self._canon:
            self._canon = (getattr(result, "canonical_name", "") or self.host).rstrip(".")
        family = _INET if is_v4 else _INET6
        return addrinfos([(family, a) for a in result.addresses], hints)

    def _name_first(self, infos: list[AddrInfo]) -> None:
        """AI_CANONNAME: the canonical name goes on the first entry."""
        if self._canon:
            first = infos[0]
            infos[0] = (first[0], first[1], first[2], self._canon, first[4])

    def _succeed(self, infos: list[AddrInfo]) -> None:
        if infos:
            self._name_first(infos)
        self._finish(infos)

    # --- the skew wait ------------------------------------------------------------------

    def _arm_skew(self) -> None:
        resolver = self._resolver
        config = getattr(resolver, "config", None)
        delay = getattr(config, "getaddrinfo_allow_skew", DEFAULT_SKEW)
        if self._skews is None:
            try:
                self._skews = skew_timers(resolver)
            except TypeError:  # a resolver without weak references: timers of its own
                self._skews = SkewTimers(self._base)
        self._skews.add(self, delay)

    def on_skew(self) -> None:
        """The other family did not answer within the allowed skew: give what there is."""
        if self.done:
            return
        if self._pending is not None:
            self._succeed(self._pending)
        elif self._pending_error is not None:
            self._finish(self._pending_error)
        else:
            self._finish(error(self.host, socket.EAI_AGAIN))
