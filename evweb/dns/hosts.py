"""The hosts file (``/etc/hosts``) as a table, both ways: names to addresses and back (sans-IO).

Each line is ``address name [alias...]``; ``#`` starts a comment anywhere
on a line. Addresses are numeric IPv4 or IPv6 (a ``%scope`` allowed), names
are checked as host names and compared ignoring case. Entries accumulate in
file order, as libevent's ``evdns_base_load_hosts`` adds them; an address
given for the same name twice counts once.

A line whose address does not parse, or that has no name, is skipped with a
warning on the ``evweb.dns`` logger naming ``file:line``; a bad name is
skipped alone, with a warning, and the line's other names still count.
"""

from __future__ import annotations

import ipaddress
import logging
import socket

from evweb.dns.names import check_hostname, reverse_name
from evweb.errors import DNSError

log = logging.getLogger("evweb.dns")

_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}


def _address(text: str) -> tuple[int, str]:
    """``(family, canonical text)`` of a numeric address; ValueError otherwise."""
    ip = ipaddress.ip_address(text)
    return _FAMILIES[ip.version], str(ip)


class HostsFile:
    """The entries of one or more hosts files: forward and reverse lookups.

    ``lookup(name, family)`` gives the addresses of a name (None when the
    name is not in the table at all, an empty list when it is but not for
    that family); ``lookup_reverse(address)`` and ``lookup_ptr(qname)`` give
    the names of an address, the first one canonical. Names come back
    normalized with a trailing dot (``localhost.``).
    """

    __slots__ = ("_forward", "_reverse")

    def __init__(self) -> None:
        # name key -> [(family, address)], file order
        self._forward: dict[str, list[tuple[int, str]]] = {}
        # reverse name key ("1.0.0.127.in-addr.arpa.") -> [name], file order
        self._reverse: dict[str, list[str]] = {}

    @classmethod
    def parse(cls, text: str, filename: str = "hosts") -> HostsFile:
        """A table of the entries in ``text`` (warnings name ``filename:line``)."""
        table = cls()
        table.update(text, filename)
        return table

    @classmethod
    def localhost(cls) -> HostsFile:
        """What libevent uses without a hosts file: ``localhost`` as 127.0.0.1 and ::1."""
        table = cls()
        table.add("127.0.0.1", ["localhost"])
        table.add("::1", ["localhost"])
        return table

    def update(self, text: str, filename: str = "hosts") -> None:
        """Add the entries in ``text`` to the table."""
        for number, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if words:
                self._line(words, filename, number)

    def _line(self, words: list[str], filename: str, number: int) -> None:
        if len(words) < 2:
            log.warning("%s:%d: an address without a name; line skipped", filename, number)
            return
        try:
            _address(words[0])
        except ValueError:
            log.warning("%s:%d: %r is not an IP address; line skipped", filename, number, words[0])
            return
        for name in words[1:]:
            try:
                self.add(words[0], [name])
            except DNSError as exc:
                log.warning("%s:%d: %s; name skipped", filename, number, exc)

    def add(self, address: str, names: list[str]) -> None:
        """Add ``address`` for each of ``names`` (the first is the canonical one for reverse).

        Raises ValueError (:class:`~evweb.errors.DNSNameError` for a bad name).
        """
        family, text = _address(address)
        ptr_key = reverse_name(text).lower()
        for name in names:
            normalized = check_hostname(name)
            entries = self._forward.setdefault(normalized.lower(), [])
            if (family, text) not in entries:
                entries.append((family, text))
            back = self._reverse.setdefault(ptr_key, [])
            if normalized not in back:
                back.append(normalized)

    def lookup(self, name: str, family: int = socket.AF_UNSPEC) -> list[str] | None:
        """The addresses of ``name`` of ``family`` (AF_INET, AF_INET6 or AF_UNSPEC).

        None when the table does not know the name; a list, perhaps empty,
        when it does.
        """
        key = name.lower()
        entries = self._forward.get(key if key.endswith(".") else key + ".")
        if entries is None:
            return None
        return [addr for fam, addr in entries if family in (socket.AF_UNSPEC, fam)]

    def lookup_ptr(self, qname: str) -> list[str] | None:
        """The names for a reverse name (``1.0.0.127.in-addr.arpa``), or None."""
        key = qname.lower()
        names = self._reverse.get(key if key.endswith(".") else key + ".")
        return None if names is None else list(names)

    def lookup_reverse(self, address: str) -> list[str] | None:
        """The names of ``address``, or None (also for text that is not an address)."""
        try:
            _, text = _address(address)
        except ValueError:
            return None
        return self.lookup_ptr(reverse_name(text))

    def entries(self) -> list[tuple[str, str]]:
        """Every ``(address, name)`` pair, names in the order first seen."""
        return [(addr, name) for name, pairs in self._forward.items() for _, addr in pairs]

    def clear(self) -> None:
        """Forget every entry (``evdns_base_clear_host_addresses``)."""
        self._forward.clear()
        self._reverse.clear()

    def __len__(self) -> int:
        """How many names the table knows."""
        return len(self._forward)

    def __repr__(self) -> str:
        return f"<HostsFile {len(self._forward)} names, {len(self._reverse)} addresses>"
