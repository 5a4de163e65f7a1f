"""The parts of a message: questions, resource records and the EDNS0 parameters."""

from __future__ import annotations

from collections.abc import Iterable

from evweb.dns.constants import (
    EDNS_DO,
    RecordClass,
    class_from_text,
    class_to_text,
    type_from_text,
    type_to_text,
)
from evweb.dns.rdata import Rdata


class Question:
    """A question (RFC 1035 §4.1.2): ``name``, ``qtype`` and ``qclass`` (numbers or mnemonics).

    Equality compares the name exactly, case included; use
    :func:`~evweb.dns.names.names_equal` to ignore case.
    """

    __slots__ = ("name", "qclass", "qtype")

    def __init__(self, name: str, qtype: int | str, qclass: int | str = RecordClass.IN) -> None:
        self.name = name
        self.qtype = qtype if type(qtype) is int else type_from_text(qtype)
        self.qclass = qclass if type(qclass) is int else class_from_text(qclass)

    def to_text(self) -> str:
        """``name CLASS TYPE``, as dig's question section shows it (without its ``;``)."""
        return f"{self.name} {class_to_text(self.qclass)} {type_to_text(self.qtype)}"

    def _key(self) -> tuple[str, int, int]:
        return (self.name, self.qtype, self.qclass)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Question):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<Question {self.to_text()}>"


class Record:
    """A resource record: owner ``name``, ``ttl`` in seconds, ``data`` and class ``rclass``.

    The type is the data's: ``Record("example.com.", 300, A("192.0.2.1")).rtype``
    is ``RecordType.A``. Equality compares every field exactly, name case included.
    """

    __slots__ = ("data", "name", "rclass", "ttl")

    def __init__(self, name: str, ttl: int, data: Rdata, rclass: int = RecordClass.IN) -> None:
        self.name = name
        self.ttl = ttl
        self.data = data
        self.rclass = rclass

    @property
    def rtype(self) -> int:
        """The record type, from the data."""
        return self.data.rtype

    def to_text(self) -> str:
        """``name TTL CLASS TYPE data``, as dig prints an answer (spaces between fields)."""
        head = f"{self.name} {self.ttl} {class_to_text(self.rclass)} {type_to_text(self.rtype)}"
        data = self.data.to_text()
        return f"{head} {data}" if data else head

    def _key(self) -> tuple[str, int, Rdata, int]:
        return (self.name, self.ttl, self.data, self.rclass)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<Record {self.to_text()}>"


class Edns:
    """The EDNS0 parameters of a message, carried on the wire by its OPT record (RFC 6891).

    ``payload`` is the largest UDP reply the sender accepts (the OPT
    record's class; values under 512 mean 512), ``version`` the EDNS
    version, ``flags`` the 16 flag bits (:data:`~evweb.dns.constants.EDNS_DO`
    is DNSSEC OK), ``ext_rcode`` the upper 8 bits of the 12-bit rcode and
    ``options`` a tuple of ``(code, data)``.
    """

    __slots__ = ("ext_rcode", "flags", "options", "payload", "version")

    def __init__(
        self,
        payload: int = 1232,
        version: int = 0,
        flags: int = 0,
        ext_rcode: int = 0,
        options: Iterable[tuple[int, bytes]] = (),
    ) -> None:
        self.payload = payload
        self.version = version
        self.flags = flags
        self.ext_rcode = ext_rcode
        self.options = tuple((code, bytes(data)) for code, data in options)

    @property
    def do(self) -> bool:
        """The DNSSEC OK bit (RFC 3225)."""
        return bool(self.flags & EDNS_DO)

    def to_text(self) -> str:
        """The ``; EDNS:`` line of dig's OPT pseudosection, then one line per option."""
        flags = " do" if self.do else ""
        lines = [f"; EDNS: version: {self.version}, flags:{flags}; udp: {self.payload}"]
        lines += (f"; OPT={code}: {data.hex()}" for code, data in self.options)
        return "\n".join(lines)

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, bytes], ...]]:
        return (self.payload, self.version, self.flags, self.ext_rcode, self.options)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Edns):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Edns(payload={self.payload}, version={self.version}, flags={self.flags:#06x}, "
            f"ext_rcode={self.ext_rcode}, options={self.options!r})"
        )
