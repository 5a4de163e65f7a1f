"""A resolver of DNSResolver's shape with scripted answers, for getaddrinfo and cache tests.

``FakeResolver(base, {("name", "A"): ["10.0.0.1"], ...})``: each value is a
list of addresses (success), an rcode/error code (``NXDOMAIN``, ``NODATA``,
``TIMEOUT``, ...), a ready :class:`DNSResult`, or ``None`` for a query that
never gets an answer. Answers arrive from the loop after ``delay`` seconds
(per key with ``delays``). Every call is recorded in ``calls``; cancelled
requests in ``cancelled``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evweb.dns import AAAA, SOA, A, Record, RecordType
from evweb.dns._result import DNSResult
from evweb.dns.resolv_conf import ResolverConfig
from evweb.errors import DNSErrorCode, DNSLookupError, DNSTimeoutError
from evweb.reactor import TIMEOUT, EventBase

_RCODES = {"NXDOMAIN": (3, DNSErrorCode.NOTEXIST), "SERVFAIL": (2, DNSErrorCode.SERVERFAILED)}


def soa(ttl: int = 300, minimum: int = 60) -> Record:
    """An SOA record for a negative answer's authority section."""
    return Record("test.", ttl, SOA("ns.test.", "admin.test.", 1, 3600, 600, 86400, minimum))


def make_result(name: str, rtype: int, spec: Any, ttl: int = 300) -> DNSResult:
    """The DNSResult ``spec`` describes (see the module doc)."""
    if isinstance(spec, DNSResult):
        return spec
    qname = name if name.endswith(".") else name + "."
    if isinstance(spec, list):
        cls = A if rtype == RecordType.A else AAAA
        answers = [Record(qname, ttl, cls(a)) for a in spec]
        return DNSResult(
            name, qname, rtype, rcode=0, answers=answers, addresses=list(spec), ttl=ttl
        )
    if spec == "TIMEOUT":
        return DNSResult(name, qname, rtype, error=DNSTimeoutError(name, DNSErrorCode.TIMEOUT))
    if spec == "NODATA":
        err = DNSLookupError(name, DNSErrorCode.NODATA, 0)
        return DNSResult(name, qname, rtype, rcode=0, authorities=[soa()], ttl=60, error=err)
    rcode, code = _RCODES[spec]
    return DNSResult(
        name,
        qname,
        rtype,
        rcode=rcode,
        authorities=[soa()],
        error=DNSLookupError(name, code, rcode),
    )


class FakeRequest:
    """A scripted query; ``cancel()`` stops its answer."""

    def __init__(self, resolver: FakeResolver, key: tuple[str, int]) -> None:
        self.resolver = resolver
        self.key = key
        self.cancelled = False

    def cancel(self) -> None:
        """Drop the answer (no callback)."""
        if not self.cancelled:
            self.cancelled = True
            self.resolver.cancelled.append(self.key)


class FakeResolver:
    """Scripted answers from the loop; see the module doc."""

    def __init__(
        self,
        base: EventBase,
        answers: dict[tuple[str, str], Any],
        *,
        delay: float = 0.0,
        delays: dict[tuple[str, str], float] | None = None,
        skew: float = 0.05,
        hosts: Any = None,
    ) -> None:
        self.base = base
        self.answers = {(n, int(RecordType[t])): v for (n, t), v in answers.items()}
        self.delay = delay
        self.delays = {(n, int(RecordType[t])): v for (n, t), v in (delays or {}).items()}
        self.config = ResolverConfig(getaddrinfo_allow_skew=skew)
        self.hosts = hosts
        self.calls: list[tuple[str, int, int]] = []
        self.cancelled: list[tuple[str, int]] = []
        self.closed = False

    def query(
        self, name: str, rtype: int | str, callback: Callable[[DNSResult], object], flags: int = 0
    ) -> FakeRequest:
        """Answer ``name``/``rtype`` from the script."""
        qtype = rtype if isinstance(rtype, int) else int(RecordType[rtype])
        key = (name, qtype)
        self.calls.append((name, qtype, int(flags)))
        request = FakeRequest(self, key)
        if key not in self.answers:
            spec: Any = "NXDOMAIN"
        else:
            spec = self.answers[key]
        if spec is None:
            return request  # never answered

        def fire(fd: int, what: int, arg: Any) -> None:
            if not request.cancelled:
                callback(make_result(name, qtype, spec))

        self.base.once(-1, TIMEOUT, fire, None, self.delays.get(key, self.delay))
        return request

    def resolve_ipv4(self, name: str, callback: Any, flags: int = 0) -> FakeRequest:
        """An A query."""
        return self.query(name, RecordType.A, callback, flags)

    def resolve_ipv6(self, name: str, callback: Any, flags: int = 0) -> FakeRequest:
        """An AAAA query."""
        return self.query(name, RecordType.AAAA, callback, flags)

    def resolve_reverse(self, address: str, callback: Any, flags: int = 0) -> FakeRequest:
        """A PTR query for ``address`` (scripted under the address itself)."""
        return self.query(address, RecordType.PTR, callback, flags)

    def close(self, fail_requests: bool = True) -> None:
        """Mark closed."""
        self.closed = True
