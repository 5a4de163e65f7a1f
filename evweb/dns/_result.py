"""What a lookup gives back, and how a reply becomes one (sans-IO).

Why answers are read by following the chain instead of taking every record
of the asked type (libevent's way): a reply may carry records for other
owners (a CNAME's target, glue, or a spoofer's extra), and only the records
owned by the name asked, or by the name a CNAME at it points to, answer the
question. Records elsewhere stay visible in ``answers`` but never become
``addresses``. A chain is followed for at most 16 links and never twice
through the same name.
"""

from __future__ import annotations

import enum
import os

from evweb.dns.constants import Rcode, RecordType
from evweb.dns.message import Message
from evweb.dns.rdata import AAAA, CNAME, PTR, SOA, A
from evweb.dns.records import Record
from evweb.errors import DNSErrorCode, DNSLookupError, DNSTimeoutError

_CNAME = int(RecordType.CNAME)
_PTR = int(RecordType.PTR)
_ANY = int(RecordType.ANY)
_ADDRESS_TYPES = (int(RecordType.A), int(RecordType.AAAA))
_ADDRESSES = (A, AAAA)
_MAX_TTL = 0x7FFFFFFF
_MAX_CHAIN = 16

RCODE_ERRORS = {
    int(Rcode.FORMERR): DNSErrorCode.FORMAT,
    int(Rcode.SERVFAIL): DNSErrorCode.SERVERFAILED,
    int(Rcode.NXDOMAIN): DNSErrorCode.NOTEXIST,
    int(Rcode.NOTIMP): DNSErrorCode.NOTIMPL,
    int(Rcode.REFUSED): DNSErrorCode.REFUSED,
}
"""The error code of each rcode libevent names; any other rcode is UNKNOWN."""


class QueryFlags(enum.IntFlag):
    """How one query is made; libevent's ``DNS_QUERY_*`` bits keep their values.

    ``NO_SEARCH``: ask the name as given, never with the search domains.
    ``USE_TCP``: send over TCP from the start (``DNS_QUERY_USEVC``).
    ``IGNORE_TC``: never retry a truncated reply over TCP; the lookup fails
    with ``TRUNCATED`` (``DNS_QUERY_IGNTC``). ``NO_CACHE``: read by the
    cache layer (the resolver itself keeps no cache). ``NO_HOSTS``: do not
    answer from the hosts file.
    """

    NONE = 0
    NO_SEARCH = 0x01
    USE_TCP = 0x02
    IGNORE_TC = 0x04
    NO_CACHE = 0x100
    NO_HOSTS = 0x200


class DNSResult:
    """The outcome of one lookup, handed to its callback.

    ``name`` is the name asked, as given; ``qname`` the name that was last
    sent (after the search list, absolute, in its original case);
    ``rtype`` the record type asked. From the reply that decided: ``rcode``
    (None when no server answered), ``answers`` and ``authorities`` (whole
    sections, as parsed) and ``server`` (its ``(ip, port)``).
    ``addresses`` holds the A/AAAA data that answers the question (the
    records at ``qname`` or at the end of its CNAME chain);
    ``canonical_name`` is that end (``qname`` without a CNAME). ``names``
    holds names from the data: the PTR targets of a PTR lookup, the target
    of a CNAME lookup, and otherwise the CNAME chain's targets in order.
    ``ttl`` is the least TTL of the records used, or for a negative answer
    the SOA's (the lesser of its TTL and minimum, RFC 2308), else 0.
    ``error`` is None on success (see :attr:`ok`), else a
    :class:`~evweb.errors.DNSLookupError`. ``from_hosts`` is True for an
    answer from the hosts file.
    """

    __slots__ = (
        "addresses",
        "answers",
        "authorities",
        "canonical_name",
        "error",
        "from_hosts",
        "name",
        "names",
        "qname",
        "rcode",
        "rtype",
        "server",
        "ttl",
    )

    def __init__(
        self,
        name: str,
        qname: str,
        rtype: int,
        *,
        rcode: int | None = None,
        answers: list[Record] | None = None,
        addresses: list[str] | None = None,
        names: list[str] | None = None,
        ttl: int = 0,
        authorities: list[Record] | None = None,
        error: DNSLookupError | None = None,
        from_hosts: bool = False,
        canonical_name: str | None = None,
        server: tuple[str, int] | None = None,
    ) -> None:
        self.name = name
        self.qname = qname
        self.rtype = rtype
        self.rcode = rcode
        self.answers = [] if answers is None else answers
        self.addresses = [] if addresses is None else addresses
        self.names = [] if names is None else names
        self.ttl = ttl
        self.authorities = [] if authorities is None else authorities
        self.error = error
        self.from_hosts = from_hosts
        self.canonical_name = qname if canonical_name is None else canonical_name
        self.server = server

    @property
    def ok(self) -> bool:
        """True when the lookup succeeded (``error`` is None)."""
        return self.error is None

    @property
    def code(self) -> DNSErrorCode:
        """``error.code``, or ``DNSErrorCode.NONE`` on success."""
        return DNSErrorCode.NONE if self.error is None else self.error.code

    def __repr__(self) -> str:
        outcome = "ok" if self.error is None else self.error.code.name
        data = self.addresses or self.names
        return f"<DNSResult {self.qname} type {self.rtype} {outcome} {data} ttl={self.ttl}>"


def lookup_error(name: str, code: int, rcode: int | None = None) -> DNSLookupError:
    """The error for ``code``: a :class:`~evweb.errors.DNSTimeoutError` for TIMEOUT."""
    if code == DNSErrorCode.TIMEOUT:
        return DNSTimeoutError(name, code, rcode)
    return DNSLookupError(name, code, rcode)


def failure(name: str, qname: str, rtype: int, code: int, rcode: int | None = None) -> DNSResult:
    """A result carrying only an error."""
    return DNSResult(name, qname, rtype, rcode=rcode, error=lookup_error(name, code, rcode))


def from_reply(
    name: str, qname: str, rtype: int, message: Message, sent: str | None = None
) -> DNSResult:
    """The result a reply (already matched to the question) gives.

    NOERROR with records answering the question is a success; NOERROR
    without is ``NODATA``; other rcodes map through :data:`RCODE_ERRORS`
    (``UNKNOWN`` for the rest). ``sent`` is the name as sent, when its case
    was randomised: names in the data that repeat it get ``qname``'s case
    back (compression copies the query's case into them).
    """
    rcode = message.rcode
    answers = message.answers
    if rcode == 0 and answers:
        if rtype in _ADDRESS_TYPES:  # the usual reply: only the addresses asked for, at the name
            owner = sent or qname
            addresses = []
            ttl = _MAX_TTL
            for record in answers:
                data = record.data
                if record.name != owner or not isinstance(data, _ADDRESSES) or data.rtype != rtype:
                    break
                addresses.append(data.address)
                if record.ttl < ttl:
                    ttl = record.ttl
            else:
                return _success(name, qname, rtype, message, addresses, [], ttl, qname)
        found = _answer(answers, sent or qname, rtype)
        if found is not None:
            return _found(name, qname, rtype, message, sent, found)
    code = DNSErrorCode.NODATA if rcode == 0 else RCODE_ERRORS.get(rcode, DNSErrorCode.UNKNOWN)
    result = DNSResult(name, qname, rtype, rcode=rcode, answers=answers)
    result.authorities = message.authorities
    result.ttl = negative_ttl(message.authorities)
    result.error = DNSLookupError(name, code, rcode)
    return result


def _found(
    name: str,
    qname: str,
    rtype: int,
    message: Message,
    sent: str | None,
    found: tuple[list[Record], list[str], str, int],
) -> DNSResult:
    records, names, owner, ttl = found
    if rtype in (_PTR, _CNAME):
        names = [r.data.target for r in records if isinstance(r.data, (PTR, CNAME))]
    if sent is not None and sent != qname:
        names = [restore_case(n, sent, qname) for n in names]
        owner = qname if owner == sent else restore_case(owner, sent, qname)
    addresses = [r.data.address for r in records if isinstance(r.data, _ADDRESSES)]
    return _success(name, qname, rtype, message, addresses, names, ttl, owner)


def _success(
    name: str,
    qname: str,
    rtype: int,
    message: Message,
    addresses: list[str],
    names: list[str],
    ttl: int,
    owner: str,
) -> DNSResult:
    result = DNSResult(name, qname, rtype)
    result.rcode = 0
    result.answers = message.answers
    result.authorities = message.authorities
    result.addresses = addresses
    result.names = names
    result.ttl = ttl
    result.canonical_name = owner
    return result


def restore_case(name: str, sent: str, qname: str) -> str:
    """``name`` with the labels it shares, case included, with ``sent`` written as in ``qname``.

    ``sent`` is ``qname`` with its letters' case randomised. A reply's names
    that end with some of ``sent``'s labels in exactly that case got them
    from compression pointing into the question; they are given back the
    case the caller used.
    """
    size = len(os.path.commonprefix((name[::-1], sent[::-1])))  # noqa: RUF071 - by character
    start = len(sent) - size
    cut = len(name) - size
    while size > 1 and not (
        (start == 0 or sent[start - 1] == ".") and (cut == 0 or name[cut - 1] == ".")
    ):
        dot = sent.find(".", start)
        if dot < 0:
            return name
        cut += dot + 1 - start
        size -= dot + 1 - start
        start = dot + 1
    if size <= 1:
        return name
    return name[:cut] + qname[start:]


def negative_ttl(authorities: list[Record]) -> int:
    """How long a negative answer may be cached: the SOA's TTL or minimum, the lesser (RFC 2308)."""
    for record in authorities:
        data = record.data
        if isinstance(data, SOA):
            return max(0, min(record.ttl, data.minimum, _MAX_TTL))
    return 0


def _answer(
    answers: list[Record], qname: str, rtype: int
) -> tuple[list[Record], list[str], str, int] | None:
    """The records answering ``rtype`` at ``qname``: ``(records, chain, owner, ttl)`` or None.

    ``chain`` lists the CNAME targets followed to reach ``owner``.
    """
    owner = qname
    key = qname.lower()
    seen = {key}
    chain: list[str] = []
    ttl = _MAX_TTL
    for _ in range(_MAX_CHAIN):
        records = [r for r in answers if r.name == owner or r.name.lower() == key]
        found = records if rtype == _ANY else [r for r in records if r.rtype == rtype]
        if found:
            return found, chain, owner, min(ttl, *(r.ttl for r in found))
        alias = next((r.data for r in records if isinstance(r.data, CNAME)), None)
        if alias is None or rtype == _CNAME:
            return None
        ttl = min(ttl, *(r.ttl for r in records if r.data is alias))
        owner = alias.target
        key = owner.lower()
        if key in seen:
            return None  # a loop
        seen.add(key)
        chain.append(owner)
    return None
