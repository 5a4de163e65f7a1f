"""Authoritative answers from zones, sans-IO: a query's question in, an :class:`Answer` out.

A :class:`ZoneSet` is built once, from the records of one or more zone files
(:mod:`evweb.dns.zonefile`), and never changes: a reload builds a new one
and swaps it in whole. Why so much work at build time: the answer to a
question for a name and type the zone holds is computed at load, so such a
query costs one dict lookup by ``(lower-cased name, type)`` and no loop over
records. Everything else (CNAME chains, NODATA, NXDOMAIN, wildcards) is
worked out the first time it is asked, by walking up the query name's
labels, and remembered in a bounded memo.

What the answers follow:

* every zone starts at a SOA; a name under several apexes belongs to the
  deepest; a record under no SOA is refused at build, as is a CNAME beside
  other data at its name (RFC 1034 §3.6.2, RFC 2181 §10.1); duplicate
  records count once and an RRset's TTLs become the lowest (RFC 2181 §5);
* answers carry AA; a name outside every zone is REFUSED (no AA), as is
  a class other than IN (or ANY) and a zone transfer (AXFR, IXFR);
* a name that does not exist is NXDOMAIN, a name that does (an empty
  non-terminal too, RFC 8020) without the type is NODATA; both put the
  zone's SOA in the authority section with the TTL RFC 2308 §5 asks for,
  the lower of the SOA's TTL and its minimum field;
* CNAMEs are followed inside the zone (at most :data:`MAX_CHAIN` links, a
  loop stops the chain); the rcode is the last name's (RFC 6604); a chain
  leaving the zone stops there, NOERROR, for the resolver to go on;
* a wildcard (``*.example.com.``) answers for names under its parent that
  do not exist (RFC 4592), with the query's name as owner;
* ANY gets every RRset at the name (a choice: the zones served here are
  small and UDP replies are cut at the client's size with TC anyway);
* MX, NS and SRV answers carry the A and AAAA records of their targets in
  the additional section when a zone here holds them;
* the owner of the records at the query name is spelt as the query spelt
  it (case kept, for resolvers using 0x20); a zone lookup ignores case.

Delegations (NS below an apex) are not given as referrals: such NS records
are served as ordinary data.
"""

from __future__ import annotations

from collections.abc import Iterable

from evweb.dns._zonebuild import Build
from evweb.dns.constants import Opcode, Rcode, RecordClass, RecordType
from evweb.dns.message import Message
from evweb.dns.names import parent_name
from evweb.dns.records import Record
from evweb.dns.zonefile import SourceRecord

__all__ = ["MAX_CHAIN", "Answer", "Zone", "ZoneSet"]

MAX_CHAIN = 16
"""The most CNAME links followed for one query."""
MEMO_SIZE = 8192
"""How many worked-out answers a :class:`ZoneSet` remembers (cleared when full)."""

_IN, _ANY_CLASS = int(RecordClass.IN), int(RecordClass.ANY)
_ANY, _CNAME = int(RecordType.ANY), int(RecordType.CNAME)
_REFUSED_TYPES = frozenset((int(RecordType.AXFR), int(RecordType.IXFR)))


class Answer:
    """What a question gets: ``rcode``, ``aa`` and the three sections' records.

    The first ``head`` answer records are at the query name, spelt
    ``owner``; :meth:`answers_for` respells them as a query did. Shared
    between queries: copy the lists before changing them.
    """

    __slots__ = ("aa", "additionals", "answers", "authorities", "head", "owner", "rcode")

    def __init__(
        self,
        rcode: int,
        answers: list[Record] | None = None,
        authorities: list[Record] | None = None,
        additionals: list[Record] | None = None,
        *,
        aa: bool = True,
        head: int = 0,
        owner: str = "",
    ) -> None:
        self.rcode = rcode
        self.aa = aa
        self.answers = answers if answers is not None else []
        self.authorities = authorities if authorities is not None else []
        self.additionals = additionals if additionals is not None else []
        self.head = head
        self.owner = owner

    def answers_for(self, qname: str) -> list[Record]:
        """The answer records, those at the query name spelt ``qname``."""
        if qname == self.owner or not self.head:
            return self.answers
        head = [Record(qname, r.ttl, r.data, r.rclass) for r in self.answers[: self.head]]
        return head + self.answers[self.head :]

    def __repr__(self) -> str:
        return (
            f"<Answer {Rcode(self.rcode).name}{' aa' if self.aa else ''} {len(self.answers)}an"
            f" {len(self.authorities)}ns {len(self.additionals)}ar>"
        )


REFUSED = Answer(Rcode.REFUSED, aa=False)
"""The answer for names outside every zone."""


class Zone:
    """One zone: its ``origin``, its ``soa`` record and how many ``records`` it holds."""

    __slots__ = ("negative", "origin", "records", "soa")

    def __init__(self, soa: Record, records: int) -> None:
        self.soa = soa
        self.origin = soa.name
        self.records = records
        minimum = getattr(soa.data, "minimum", soa.ttl)
        # RFC 2308 §5: the negative answer's SOA lives min(TTL, MINIMUM).
        self.negative = Record(soa.name, min(soa.ttl, minimum), soa.data, soa.rclass)

    @property
    def serial(self) -> int:
        """The SOA serial."""
        return int(getattr(self.soa.data, "serial", 0))

    def __repr__(self) -> str:
        return f"<Zone {self.origin} serial {self.serial}, {self.records} records>"


class ZoneSet:
    """The zones a server answers for, built once (:meth:`from_records`), then read only.

    :meth:`lookup` answers one question, :meth:`answer` a whole query message.
    """

    __slots__ = ("_answers", "_memo", "_rrsets", "_types", "_zone_of", "zones")

    def __init__(self, build: Build) -> None:
        self.zones: dict[str, Zone] = build.zones
        self._rrsets = build.rrsets
        self._types = build.types
        self._zone_of = build.zone_of
        self._answers = {key: self._positive(key[0], key[1]) for key in self._rrsets}
        self._memo: dict[tuple[str, int], Answer] = {}

    @classmethod
    def from_records(cls, records: Iterable[SourceRecord | Record]) -> ZoneSet:
        """Zones from parsed records (each SOA starts one); checks them as the module says.

        Raises :class:`~evweb.errors.ZoneFileError` naming the record's file and line.
        """
        sourced = [
            r if isinstance(r, SourceRecord) else SourceRecord(r, "<records>", 0) for r in records
        ]
        return cls(Build(sourced))

    def __len__(self) -> int:
        """How many records the zones hold."""
        return sum(zone.records for zone in self.zones.values())

    def __repr__(self) -> str:
        return f"<ZoneSet {', '.join(self.zones) or 'empty'}: {len(self)} records>"

    def lookup(self, qname: str, qtype: int, qclass: int = _IN) -> Answer:
        """The answer for one question (``qname`` as read from the wire)."""
        key = (qname.lower(), qtype)
        answer = self._answers.get(key)
        if answer is not None and qclass == _IN:
            return answer
        if qclass not in (_IN, _ANY_CLASS) or qtype in _REFUSED_TYPES:
            return REFUSED
        if answer is not None:
            return answer
        answer = self._memo.get(key)
        if answer is None:
            answer = self._resolve(qname, key[0], qtype)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = answer
        return answer

    def answer(self, query: Message) -> Message:
        """The reply to ``query``: NOTIMP for an opcode but QUERY, FORMERR without one question."""
        if query.opcode != Opcode.QUERY:
            return query.reply(Rcode.NOTIMP)
        if len(query.questions) != 1:
            return query.reply(Rcode.FORMERR)
        question = query.questions[0]
        found = self.lookup(question.name, question.qtype, question.qclass)
        reply = query.reply(found.rcode)
        reply.aa = found.aa
        reply.answers = list(found.answers_for(question.name))
        reply.authorities = list(found.authorities)
        reply.additionals = list(found.additionals)
        return reply

    # --- built at load ---------------------------------------------------------------

    def _positive(self, lname: str, rtype: int) -> Answer:
        rrset = self._rrsets[(lname, rtype)]
        owner = rrset[0].name
        return Answer(Rcode.NOERROR, rrset, None, self._glue(rrset), head=len(rrset), owner=owner)

    def _glue(self, rrset: list[Record]) -> list[Record]:
        glue: list[Record] = []
        for record in rrset:
            data = record.data
            target = getattr(data, "exchange", None) or getattr(data, "target", None)
            if target is None or data.rtype == _CNAME or data.rtype == RecordType.PTR:
                continue
            for rtype in (RecordType.A, RecordType.AAAA):
                glue += self._rrsets.get((target.lower(), rtype), ())
        return glue

    # --- worked out on first use ----------------------------------------------------

    def _locate(self, lname: str) -> tuple[str | None, str | None]:
        """``(apex, node)``: the zone of ``lname`` and the name holding its data.

        The node is ``lname`` when it exists, the wildcard of its closest
        encloser when that exists, else None (NXDOMAIN); the apex is None
        outside every zone.
        """
        apex = self._zone_of.get(lname)
        if apex is not None:
            return apex, lname
        name = lname
        while name != ".":
            name = parent_name(name)
            apex = self._zone_of.get(name)
            if apex is not None:
                wildcard = "*." + name if name != "." else "*."
                return apex, wildcard if wildcard in self._zone_of else None
        return None, None

    def _rrset_at(self, node: str, qtype: int, spelt: str) -> list[Record]:
        """The records of ``qtype`` (all for ANY) at ``node``, their owner spelt ``spelt``."""
        if qtype == _ANY:
            records = [r for t in self._types.get(node, ()) for r in self._rrsets[(node, t)]]
        else:
            records = self._rrsets.get((node, qtype), [])
        if records and records[0].name != spelt:
            return [Record(spelt, r.ttl, r.data, r.rclass) for r in records]
        return records

    def _resolve(self, qname: str, lname: str, qtype: int) -> Answer:
        apex, node = self._locate(lname)
        if apex is None:
            return REFUSED
        answers: list[Record] = []
        spelt, seen, head = qname, {lname}, -1
        while True:
            if node is None:
                return self._negative(apex, Rcode.NXDOMAIN, answers, head, qname)
            found = self._rrset_at(node, qtype, spelt)
            if found:
                answers += found
                head = len(answers) if head < 0 else head
                return Answer(
                    Rcode.NOERROR, answers, None, self._glue(found), head=head, owner=qname
                )
            cname = self._rrsets.get((node, _CNAME)) if qtype != _CNAME else None
            if cname is None:
                return self._negative(apex, Rcode.NOERROR, answers, head, qname)
            answers += self._rrset_at(node, _CNAME, spelt)
            head = len(answers) if head < 0 else head
            spelt = cname[0].data.target  # type: ignore[attr-defined]
            target = spelt.lower()
            if target in seen or len(seen) > MAX_CHAIN:
                return Answer(Rcode.NOERROR, answers, head=head, owner=qname)
            seen.add(target)
            target_apex, node = self._locate(target)
            if target_apex != apex:
                return Answer(Rcode.NOERROR, answers, head=head, owner=qname)

    def _negative(
        self, apex: str, rcode: int, answers: list[Record], head: int, qname: str
    ) -> Answer:
        negative = [self.zones[apex].negative]
        return Answer(rcode, answers, negative, None, head=max(head, 0), owner=qname)
