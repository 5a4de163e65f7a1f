"""Building a :class:`~evweb.dns.zone.ZoneSet`'s tables from parsed records, with the checks.

Kept apart from the answering code: this runs once per load and may loop
over every record; nothing here runs per query. Keys are lower-cased
absolute names in presentation form (the form names read from the wire
have), so a query name needs only ``.lower()`` to be looked up.
"""

from __future__ import annotations

from evweb.dns.constants import RecordType
from evweb.dns.names import parent_name
from evweb.dns.records import Record
from evweb.dns.zonefile import SourceRecord
from evweb.errors import ZoneFileError

_SOA, _CNAME = int(RecordType.SOA), int(RecordType.CNAME)


def _error(where: SourceRecord, reason: str) -> ZoneFileError:
    return ZoneFileError(where.file, where.line, reason)


class Build:
    """The tables of a zone set: ``zones``, ``rrsets``, ``types`` and ``zone_of``.

    ``rrsets`` maps ``(name key, type)`` to the records, ``types`` a name key
    to its types, ``zone_of`` every name that exists (empty non-terminals
    included) to its zone's apex key.
    """

    def __init__(self, records: list[SourceRecord]) -> None:
        from evweb.dns.zone import Zone

        apexes = self._apexes(records)
        self.rrsets: dict[tuple[str, int], list[Record]] = {}
        self.where: dict[tuple[str, int], SourceRecord] = {}
        self.zone_of: dict[str, str] = {}
        self._spelling: dict[str, str] = {}
        for source in records:
            key = source.record.name.lower()
            if source.record.rtype == _SOA and apexes[key] is not source:
                continue  # a made-up SOA another zone overrides, or a repeat
            self._add(source, self._zone_for(key, apexes))
        self._finish(apexes)
        self.types: dict[str, tuple[int, ...]] = {}
        for name, rtype in self.rrsets:
            self.types[name] = (*self.types.get(name, ()), rtype)
        self._check_cnames()
        counts: dict[str, int] = {}
        for (name, _), rrset in self.rrsets.items():
            counts[self.zone_of[name]] = counts.get(self.zone_of[name], 0) + len(rrset)
        self.zones = {
            apex: Zone(self.rrsets[(apex, _SOA)][0], counts.get(apex, 0)) for apex in apexes
        }

    @staticmethod
    def _apexes(records: list[SourceRecord]) -> dict[str, SourceRecord]:
        """Each zone's apex key and its SOA; a master file's first, then the made-up ones."""
        apexes: dict[str, SourceRecord] = {}
        for source in records:
            key = source.record.name.lower()
            if source.record.rtype != _SOA or source.implicit:
                continue
            first = apexes.get(key)
            if first is not None:
                raise _error(
                    source, f"a second SOA for {key} (the first: {first.file}:{first.line})"
                )
            apexes[key] = source
        explicit = dict(apexes)
        for source in records:
            key = source.record.name.lower()
            if source.implicit and key not in apexes and Build._zone_for(key, explicit) is None:
                apexes[key] = source
        return apexes

    @staticmethod
    def _zone_for(key: str, apexes: dict[str, SourceRecord]) -> str | None:
        while True:
            if key in apexes:
                return key
            if key == ".":
                return None
            key = parent_name(key)

    def _add(self, source: SourceRecord, apex: str | None) -> None:
        record = source.record
        key = record.name.lower()
        if apex is None:
            raise _error(source, f"{record.name} is outside every zone (no SOA above it)")
        spelt = self._spelling.setdefault(key, record.name)
        rrset = self.rrsets.setdefault((key, record.rtype), [])
        self.where.setdefault((key, record.rtype), source)
        if record.rtype == _SOA and rrset:
            return
        if any(r.data == record.data for r in rrset):
            return  # RFC 2181 §5: an RRset holds no duplicates
        ttl = min([record.ttl, *(r.ttl for r in rrset)])
        rrset[:] = [Record(spelt, ttl, r.data, r.rclass) for r in [*rrset, record]]
        self._mark(key, apex)

    def _mark(self, key: str, apex: str) -> None:
        """``key`` and its ancestors up to the apex exist (empty non-terminals, RFC 8020)."""
        while key not in self.zone_of:
            self.zone_of[key] = apex
            if key == apex or key == ".":
                return
            key = parent_name(key)

    def _finish(self, apexes: dict[str, SourceRecord]) -> None:
        """The names between a zone's apex and the zone around it exist in that zone."""
        for apex in apexes:
            if apex != ".":
                outer = self._zone_for(parent_name(apex), apexes)
                if outer is not None:
                    self._mark(parent_name(apex), outer)

    def _check_cnames(self) -> None:
        for name, types in self.types.items():
            if _CNAME not in types:
                continue
            where = self.where[(name, _CNAME)]
            if len(types) > 1:
                others = ", ".join(RecordType(t).name for t in types if t != _CNAME)
                raise _error(
                    where, f"{name} has a CNAME and other data ({others}; RFC 1034 §3.6.2)"
                )
            if len(self.rrsets[(name, _CNAME)]) > 1:
                raise _error(where, f"{name} has more than one CNAME")
