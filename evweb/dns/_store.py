"""The store under :mod:`evweb.dns.cache`: TTL entries, RFC 2308 negative TTLs, LRU, counters.

Sans-IO: :class:`DNSCache` takes a clock and never arms a timer; an entry
is found expired when looked up, and the oldest ones are swept when new
ones are stored. See :mod:`evweb.dns.cache` for what is kept and for how long.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from evweb.dns.constants import Rcode, RecordType
from evweb.dns.records import Record
from evweb.errors import ConfigError

R = TypeVar("R")

DEFAULT_MAX_SIZE = 10_000
DEFAULT_MAX_TTL = 86_400
"""One day: the longest an answer is kept whatever its TTL."""
DEFAULT_MAX_NEGATIVE_TTL = 900
"""RFC 2308 §5 suggests one to three hours at most; 15 minutes, as several stub resolvers use."""


@dataclasses.dataclass(frozen=True)
class CacheStats:
    """Counters of a :class:`DNSCache` since it was made (or since :meth:`DNSCache.reset_stats`).

    ``hits`` served a positive answer, ``negative_hits`` a cached NXDOMAIN or
    NODATA, ``misses`` found nothing usable (including entries found expired);
    ``expired`` entries were dropped for age, ``evictions`` for room;
    ``stored`` entries were written; ``size`` is the number held now.
    """

    hits: int = 0
    negative_hits: int = 0
    misses: int = 0
    expired: int = 0
    evictions: int = 0
    stored: int = 0
    size: int = 0

    @property
    def lookups(self) -> int:
        """Hits + negative hits + misses."""
        return self.hits + self.negative_hits + self.misses

    @property
    def hit_ratio(self) -> float:
        """The share of lookups answered from the cache (0.0 before any lookup)."""
        total = self.lookups
        return (self.hits + self.negative_hits) / total if total else 0.0


class _Entry:
    __slots__ = ("expires", "negative", "result", "stored_at")

    def __init__(self, result: Any, stored_at: float, ttl: float, negative: bool) -> None:
        self.result = result
        self.stored_at = stored_at
        self.expires = stored_at + ttl
        self.negative = negative


def negative_ttl(result: Any) -> int | None:
    """RFC 2308 TTL of an NXDOMAIN/NODATA ``result``: min(SOA TTL, MINIMUM); None without SOA."""
    ttls = [
        min(rec.ttl, rec.data.minimum) for rec in result.authorities if rec.rtype == RecordType.SOA
    ]
    return min(ttls) if ttls else None


def cache_ttl(result: Any, max_ttl: float, max_negative_ttl: float) -> tuple[float, bool] | None:
    """How long ``result`` may be kept and whether it is negative; None: not cacheable.

    Negative: NXDOMAIN, or NOERROR without the records asked for (no
    answers, or only a CNAME chain: the resolver then reports an error).
    """
    if getattr(result, "from_hosts", False):
        return None
    rcode = result.rcode
    if rcode == Rcode.NXDOMAIN or (
        rcode == Rcode.NOERROR and (not result.answers or result.error is not None)
    ):
        ttl = negative_ttl(result)
        if ttl is None or ttl <= 0:
            return None
        return min(ttl, max_negative_ttl), True
    if rcode != Rcode.NOERROR or result.error is not None or result.ttl <= 0:
        return None
    return min(result.ttl, max_ttl), False


class DNSCache(Generic[R]):
    """Answers by key, each until its TTL runs out; at most ``max_size`` of them (LRU).

    ``clock`` gives seconds (monotonic); :class:`CachingResolver` passes its
    base's ``monotonic_time``. Keys are whatever the user makes them; results
    need ``ttl``, ``rcode``, ``answers``, ``authorities`` and ``error`` (a
    :class:`~evweb.dns.resolver.DNSResult` has them).
    """

    def __init__(
        self,
        max_size: int = DEFAULT_MAX_SIZE,
        *,
        max_ttl: float = DEFAULT_MAX_TTL,
        max_negative_ttl: float = DEFAULT_MAX_NEGATIVE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_size < 1:
            raise ConfigError(f"max_size must be >= 1, got {max_size}")
        if max_ttl < 0 or max_negative_ttl < 0:
            raise ConfigError("max_ttl and max_negative_ttl must be >= 0")
        self.max_size = max_size
        self.max_ttl = max_ttl
        self.max_negative_ttl = max_negative_ttl
        self.clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._hits = self._negative_hits = self._misses = 0
        self._expired = self._evictions = self._stored = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry.expires > self.clock()

    def get(self, key: Hashable) -> R | None:
        """The result stored under ``key``, aged (TTLs lowered), or None; counts a hit or a miss."""
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return None
        now = self.clock()
        if entry.expires <= now:
            del self._entries[key]
            self._expired += 1
            self._misses += 1
            return None
        self._entries.move_to_end(key)
        if entry.negative:
            self._negative_hits += 1
        else:
            self._hits += 1
        result: R = entry.result
        return aged(result, int(now - entry.stored_at))

    def get_all(self, keys: list[Hashable]) -> list[R] | None:
        """The results under every one of ``keys``, aged; None when one is missing or expired.

        All or nothing: hits are counted only when every key is held, and
        nothing is counted otherwise (the caller then asks one by one).
        """
        entries = self._entries
        found = []
        now = self.clock()
        for key in keys:
            entry = entries.get(key)
            if entry is None or entry.expires <= now:
                return None
            found.append(entry)
        results = []
        for key, entry in zip(keys, found, strict=True):
            entries.move_to_end(key)
            if entry.negative:
                self._negative_hits += 1
            else:
                self._hits += 1
            results.append(aged(entry.result, int(now - entry.stored_at)))
        return results

    def put(self, key: Hashable, result: R) -> bool:
        """Keep ``result`` under ``key`` if it may be cached (see the module doc); True if kept."""
        decision = cache_ttl(result, self.max_ttl, self.max_negative_ttl)
        if decision is None:
            return False
        ttl, negative = decision
        entries = self._entries
        entries.pop(key, None)
        entries[key] = _Entry(result, self.clock(), ttl, negative)
        self._stored += 1
        self._trim()
        return True

    def _trim(self) -> None:
        entries = self._entries
        now = self.clock()
        # The oldest entry is dropped for age first, so expired ones do not crowd out live ones.
        while entries:
            key, oldest = next(iter(entries.items()))
            if oldest.expires > now:
                break
            del entries[key]
            self._expired += 1
        while len(entries) > self.max_size:
            entries.popitem(last=False)
            self._evictions += 1

    def remove(self, key: Hashable) -> bool:
        """Forget ``key``; True if it was held."""
        return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        self._entries.clear()

    def expire(self) -> int:
        """Drop every entry whose TTL has run out; returns how many went."""
        now = self.clock()
        dead = [key for key, entry in self._entries.items() if entry.expires <= now]
        for key in dead:
            del self._entries[key]
        self._expired += len(dead)
        return len(dead)

    def statistics(self) -> CacheStats:
        """The counters now."""
        return CacheStats(
            hits=self._hits,
            negative_hits=self._negative_hits,
            misses=self._misses,
            expired=self._expired,
            evictions=self._evictions,
            stored=self._stored,
            size=len(self._entries),
        )

    def reset_stats(self) -> None:
        """Set every counter back to 0 (the entries stay)."""
        self._hits = self._negative_hits = self._misses = 0
        self._expired = self._evictions = self._stored = 0

    def __repr__(self) -> str:
        return f"<DNSCache {len(self._entries)}/{self.max_size} entries>"


def aged(result: R, age: int) -> R:
    """``result`` with its TTL and its records' TTLs lowered by ``age`` seconds (a copy)."""
    if age <= 0:
        return result
    changes: dict[str, Any] = {"ttl": max(0, getattr(result, "ttl", 0) - age)}
    for section in ("answers", "authorities"):
        records = getattr(result, section, None)
        if records:
            changes[section] = [
                Record(r.name, max(0, r.ttl - age), r.data, r.rclass) for r in records
            ]
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.replace(result, **changes)
    clone = copy.copy(result)
    for name, value in changes.items():
        setattr(clone, name, value)
    return clone
