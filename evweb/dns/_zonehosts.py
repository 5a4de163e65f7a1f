"""Hosts-format files (``address name [alias...]``) as zone records, sans-IO.

Each name gets an A or AAAA record per address and each address one PTR
record, to the first name it was given with. A hosts file has no SOA, so
one is made up per zone: the zones are the parents of the names (a
one-label name is its own zone), and a zone under another one folds into
it; these SOAs are ``implicit``, and :mod:`evweb.dns.zone` drops one when a
master file already holds a zone covering it. Unlike the resolver's lenient
:class:`~evweb.dns.hosts.HostsFile`, a bad line is an error here: a server
would otherwise answer NXDOMAIN, with authority, for a name meant to exist.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import NamedTuple

from evweb.dns.names import check_hostname, parent_name, reverse_name
from evweb.dns.rdata import AAAA, PTR, SOA, A
from evweb.dns.records import Record
from evweb.errors import DNSError, ZoneFileError


class SourceRecord(NamedTuple):
    """A record and where it was read: ``file`` and ``line`` (1-based).

    ``implicit`` marks a SOA made up for a hosts-format file.
    """

    record: Record
    file: str
    line: int
    implicit: bool = False


HOSTS_TTL = 300
"""The TTL of records read from hosts-format files, which cannot say one."""


def looks_like_hosts(text: str) -> bool:
    """Whether the first line that is not blank or a comment starts with an IP address."""
    for line in text.splitlines():
        words = line.split()
        if not words or words[0][:1] in ("#", ";"):
            continue
        try:
            ipaddress.ip_address(words[0].split("%", 1)[0])
        except ValueError:
            return False
        return True
    return False


def parse_hosts(
    text: str, *, filename: str = "<hosts>", ttl: int = HOSTS_TTL
) -> list[SourceRecord]:
    """The records of hosts-format ``text``, then one implicit SOA per zone.

    Raises :class:`~evweb.errors.ZoneFileError` for a line whose address is
    not an IP address, that has no name, or whose name is invalid.
    """
    records: list[SourceRecord] = []
    ptr_done: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        address, names = _line(words, filename, number)
        data = A(address) if ":" not in address else AAAA(address)
        records += (SourceRecord(Record(name, ttl, data), filename, number) for name in names)
        if address not in ptr_done:
            ptr_done.add(address)
            ptr = Record(reverse_name(address), ttl, PTR(names[0]))
            records.append(SourceRecord(ptr, filename, number))
    origins = _origins(r.record.name for r in records)
    first_line = records[0].line if records else 0
    for origin in origins:
        soa = SOA(origin, "hostmaster." + origin, 1, 3600, 600, 86400, ttl)
        records.append(SourceRecord(Record(origin, ttl, soa), filename, first_line, True))
    return records


def _line(words: list[str], filename: str, number: int) -> tuple[str, list[str]]:
    try:
        ip = ipaddress.ip_address(words[0])
    except ValueError:
        raise ZoneFileError(filename, number, f"{words[0]!r} is not an IP address") from None
    if len(words) < 2:
        raise ZoneFileError(filename, number, f"address {words[0]} without a name")
    try:
        names = [check_hostname(word) for word in words[1:]]
    except DNSError as exc:
        raise ZoneFileError(filename, number, str(exc)) from None
    return str(ip), names


def _parent(name: str) -> str:
    """The name without its first label; a one-label name stays itself."""
    rest = parent_name(name)
    return name if rest == "." else rest


def _origins(names: Iterable[str]) -> list[str]:
    """The zones for ``names``: their parents, those under another parent folded into it."""
    parents = sorted({_parent(n).lower() for n in names}, key=lambda n: n.count("."))
    kept: list[str] = []
    for parent in parents:
        if not any(parent == k or parent.endswith("." + k) for k in kept):
            kept.append(parent)
    return kept
