"""A DNS answer cache: TTLs, negative caching (RFC 2308), LRU eviction and statistics.

:class:`DNSCache` is the store alone (sans-IO: it takes a clock, so tests
need no waiting). :class:`CachingResolver` wraps a resolver with one and has
the resolver's shape, so :func:`evweb.dns.getaddrinfo.getaddrinfo`, the
connect adapter and any caller take either::

    resolver = CachingResolver(DNSResolver(base))
    resolver.resolve_ipv4("example.com", on_result)   # asks the nameserver
    resolver.resolve_ipv4("example.com", on_result)   # joins the query in flight
    ...                                              # later: answered from the cache

What is kept, and for how long:

* an answer with records, for its smallest TTL (``DNSResult.ttl``), at most
  ``max_ttl``;
* NXDOMAIN and NODATA (NOERROR without records of the type), for the
  negative TTL of RFC 2308 §5: the smaller of the SOA record's TTL and its
  MINIMUM field, at most ``max_negative_ttl``. A negative answer without an
  SOA is not kept (§5: "SHOULD NOT be cached");
* never: SERVFAIL, REFUSED, timeouts and other failures, hosts-file answers,
  answers with a TTL of 0.

Entries age by the clock; a hit hands back the result with ``ttl`` and
its records' TTLs lowered by the time spent in the cache, as a caching
server would. When ``max_size`` entries are held the least recently used
one goes. ``QueryFlags.NO_CACHE`` on a query bypasses the cache both ways.

libevent 2.2 caches ``evdns_getaddrinfo`` answers by node name only, for
the TTL, with no negative entries, no size bound and a timer per entry; here
the cache sits under getaddrinfo at the level of each query, so A, AAAA,
PTR and any type share it, and expiry is checked on lookup (no timers).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from evweb.dns._result import failure
from evweb.dns._soon import SoonQueue
from evweb.dns._store import (
    DEFAULT_MAX_NEGATIVE_TTL,
    DEFAULT_MAX_SIZE,
    DEFAULT_MAX_TTL,
    CacheStats,
    DNSCache,
    aged,
    cache_ttl,
    negative_ttl,
)
from evweb.dns.constants import RecordType
from evweb.errors import DNSErrorCode

__all__ = [
    "DEFAULT_MAX_NEGATIVE_TTL",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MAX_TTL",
    "CacheStats",
    "CachingResolver",
    "DNSCache",
    "aged",
    "cache_ttl",
    "negative_ttl",
]

# --- the resolver wrapper ----------------------------------------------------------------

_NO_SEARCH = 0x01  # QueryFlags.NO_SEARCH: part of the key (the search list changes the answer)
_NO_CACHE = 0x100  # QueryFlags.NO_CACHE
_A, _AAAA, _PTR = int(RecordType.A), int(RecordType.AAAA), int(RecordType.PTR)
ResultCallback = Callable[[Any], object]


class CachingResolver:
    """A resolver with a :class:`DNSCache` in front; the wrapped resolver's shape and names.

    ``query``, ``resolve_ipv4``, ``resolve_ipv6`` and ``resolve_reverse``
    answer from the cache when they can (from the loop, like any answer)
    and otherwise ask the wrapped resolver, keeping what may be kept.
    Identical lookups made while one is in flight join it instead of
    sending another query (``joined`` counts them); ``cancel()`` on a handle
    gives its callback a ``CANCEL`` error, as the resolver's own requests do,
    and the query goes when nobody waits for it any more. ``QueryFlags.NO_CACHE``
    goes straight to the wrapped resolver. Every other attribute
    (``add_nameserver``, ``set_option``, ``config``, ``hosts``...) is the
    wrapped resolver's. ``close()`` closes the wrapped resolver too.
    """

    def __init__(
        self, resolver: Any, cache: DNSCache[Any] | None = None, *, max_size: int = DEFAULT_MAX_SIZE
    ) -> None:
        self.resolver = resolver
        self.base = resolver.base
        self.cache: DNSCache[Any] = (
            cache if cache is not None else DNSCache(max_size, clock=self.base.monotonic_time)
        )
        self.joined = 0
        self._soon = SoonQueue(self.base)
        self._flights: dict[Hashable, _Flight] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resolver, name)

    def __repr__(self) -> str:
        return f"<CachingResolver {self.cache!r} over {self.resolver!r}>"

    # Named here (not through __getattr__) because getaddrinfo reads them on every call.
    @property
    def config(self) -> Any:
        """The wrapped resolver's settings."""
        return self.resolver.config

    @property
    def hosts(self) -> Any:
        """The wrapped resolver's hosts table (or None)."""
        return getattr(self.resolver, "hosts", None)

    def call_soon(self, fn: Callable[[Any], object], arg: Any) -> None:
        """Run ``fn(arg)`` from the loop, after the current callback (with the cached answers)."""
        self._soon.call(fn, arg)

    def lookup_cached(self, name: str, rtypes: tuple[int, ...], flags: int = 0) -> list[Any] | None:
        """The cached answers ``resolve_ipv4`` (A) / ``resolve_ipv6`` (AAAA) would give, in order.

        All or nothing: None (and nothing counted) unless every type asked is
        held; with ``NO_CACHE`` in ``flags``, always None. For getaddrinfo.
        """
        if flags & _NO_CACHE:
            return None
        lower, no_search = name.lower(), flags & _NO_SEARCH
        return self.cache.get_all([(rtype, lower, no_search) for rtype in rtypes])

    def query(self, name: str, rtype: int | str, callback: ResultCallback, flags: int = 0) -> Any:
        """``resolver.query``, through the cache."""
        qtype = rtype if isinstance(rtype, int) else int(RecordType[rtype.upper()])
        key = ("query", name.lower(), qtype, flags & _NO_SEARCH)
        return self._lookup(key, (name, qtype), callback, flags, self.resolver.query, qtype)

    def resolve_ipv4(self, name: str, callback: ResultCallback, flags: int = 0) -> Any:
        """``resolver.resolve_ipv4``, through the cache."""
        key = (_A, name.lower(), flags & _NO_SEARCH)
        return self._lookup(key, (name, _A), callback, flags, self.resolver.resolve_ipv4)

    def resolve_ipv6(self, name: str, callback: ResultCallback, flags: int = 0) -> Any:
        """``resolver.resolve_ipv6``, through the cache."""
        key = (_AAAA, name.lower(), flags & _NO_SEARCH)
        return self._lookup(key, (name, _AAAA), callback, flags, self.resolver.resolve_ipv6)

    def resolve_reverse(self, address: str, callback: ResultCallback, flags: int = 0) -> Any:
        """``resolver.resolve_reverse``, through the cache."""
        key = (_PTR, address.lower())
        return self._lookup(key, (address, _PTR), callback, flags, self.resolver.resolve_reverse)

    def close(self, fail_requests: bool = True) -> None:
        """Close the wrapped resolver (it ends the queries in flight) and empty the cache."""
        self.cache.clear()
        self.resolver.close(fail_requests=fail_requests)

    def _lookup(
        self,
        key: Hashable,
        asked: tuple[str, int],
        callback: ResultCallback,
        flags: int,
        start: Any,
        *more: Any,
    ) -> Any:
        name = asked[0]
        if flags & _NO_CACHE:
            return start(name, *more, callback, flags=flags)
        hit = self.cache.get(key)
        if hit is not None:
            answer = _Answer(self, asked, callback)
            answer.result = hit
            self._soon.call(_Answer.fire, answer)
            return answer
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(self, key)
            flight.request = start(name, *more, flight.on_result, flags=flags)
            self._flights[key] = flight
        else:
            self.joined += 1
        waiter = _Waiter(self, asked, callback)
        waiter.flight = flight
        flight.waiters.append(waiter)
        return waiter


class _Answer:
    """A lookup's handle and its answer on the way to the callback (a cached one here)."""

    __slots__ = ("asked", "callback", "done", "owner", "result")

    def __init__(self, owner: CachingResolver, asked: tuple[str, int], callback: ResultCallback):
        self.owner = owner
        self.asked = asked
        self.callback = callback
        self.result: Any = None
        self.done = False

    def fire(self) -> None:
        if not self.done:
            self.done = True
            self.callback(self.result)

    def cancel(self) -> None:
        """Stop the lookup: the callback gets an error with code ``CANCEL``, from the loop."""
        if self.done:
            return
        self.done = True
        self._leave()
        name, rtype = self.asked
        self.owner._soon.call(self.callback, failure(name, name, rtype, DNSErrorCode.CANCEL))

    def _leave(self) -> None:
        pass


class _Waiter(_Answer):
    """A caller waiting on a flight; cancelling the last one cancels the query."""

    __slots__ = ("flight",)

    flight: _Flight

    def _leave(self) -> None:
        self.flight.leave(self)


class _Flight:
    """One query in flight and everyone waiting for its answer."""

    __slots__ = ("key", "owner", "request", "waiters")

    def __init__(self, owner: CachingResolver, key: Hashable) -> None:
        self.owner = owner
        self.key = key
        self.request: Any = None
        self.waiters: list[_Waiter] = []

    def leave(self, waiter: _Waiter) -> None:
        self.waiters.remove(waiter)
        if not self.waiters and self.owner._flights.get(self.key) is self:
            del self.owner._flights[self.key]
            self.request.cancel()

    def on_result(self, result: Any) -> None:
        flights = self.owner._flights
        if flights.get(self.key) is not self:
            return  # cancelled: every waiter left
        del flights[self.key]
        self.owner.cache.put(self.key, result)
        waiters, self.waiters = self.waiters, []
        first, *others = waiters
        for waiter in others:  # one raising callback must not cost the others their answer
            waiter.result = result
            self.owner._soon.call(_Answer.fire, waiter)
        first.result = result
        first.fire()
