"""DNS numbers by name: record types, classes, opcodes, rcodes and header flags.

The enums are ``IntEnum``/``IntFlag``, so a member is also its number and
compares equal to the plain ``int`` a parsed message holds. The ``*_to_text``
and ``*_from_text`` helpers give and take the presentation forms dig prints,
including RFC 3597's ``TYPE65280`` and ``CLASS42`` for numbers without a name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from evweb.errors import DNSValueError


class RecordType(enum.IntEnum):
    """Resource record types (RFC 1035 §3.2.2 and later), with the query-only ones."""

    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    NULL = 10
    WKS = 11
    PTR = 12
    HINFO = 13
    MINFO = 14
    MX = 15
    TXT = 16
    RP = 17
    AFSDB = 18
    AAAA = 28
    LOC = 29
    SRV = 33
    NAPTR = 35
    KX = 36
    CERT = 37
    DNAME = 39
    OPT = 41
    APL = 42
    DS = 43
    SSHFP = 44
    IPSECKEY = 45
    RRSIG = 46
    NSEC = 47
    DNSKEY = 48
    DHCID = 49
    NSEC3 = 50
    NSEC3PARAM = 51
    TLSA = 52
    SMIMEA = 53
    CDS = 59
    CDNSKEY = 60
    OPENPGPKEY = 61
    CSYNC = 62
    ZONEMD = 63
    SVCB = 64
    HTTPS = 65
    SPF = 99
    TKEY = 249
    TSIG = 250
    IXFR = 251
    AXFR = 252
    MAILB = 253
    MAILA = 254
    ANY = 255
    URI = 256
    CAA = 257


class RecordClass(enum.IntEnum):
    """Record and query classes (RFC 1035 §3.2.4, RFC 2136 for NONE)."""

    IN = 1
    CH = 3
    HS = 4
    NONE = 254
    ANY = 255


class Opcode(enum.IntEnum):
    """The 4-bit header opcode (RFC 1035, RFC 1996, RFC 2136)."""

    QUERY = 0
    IQUERY = 1
    STATUS = 2
    NOTIFY = 4
    UPDATE = 5


class Rcode(enum.IntEnum):
    """Response codes; values over 15 need EDNS0's extended rcode bits (RFC 6891)."""

    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5
    YXDOMAIN = 6
    YXRRSET = 7
    NXRRSET = 8
    NOTAUTH = 9
    NOTZONE = 10
    BADVERS = 16


class Flag(enum.IntFlag):
    """Bits of the header's flags word (the opcode and rcode fields are not flags)."""

    QR = 0x8000
    AA = 0x0400
    TC = 0x0200
    RD = 0x0100
    RA = 0x0080
    AD = 0x0020
    CD = 0x0010


EDNS_DO = 0x8000
"""The DNSSEC OK bit of the EDNS0 flags (RFC 3225)."""

# Plain dicts keyed by number: a lookup costs what a dict costs, while calling
# the enum (``RecordType(1)``) goes through its metaclass.
_TYPES: dict[int, RecordType] = {int(t): t for t in RecordType}
_CLASSES: dict[int, RecordClass] = {int(c): c for c in RecordClass}
_OPCODES: dict[int, Opcode] = {int(o): o for o in Opcode}
_RCODES: dict[int, Rcode] = {int(r): r for r in Rcode}
_MAX16 = 0xFFFF


def type_to_text(rtype: int) -> str:
    """The mnemonic of a record type, or ``TYPE<n>`` (RFC 3597) when it has none."""
    known = _TYPES.get(rtype)
    return known.name if known is not None else f"TYPE{rtype}"


def class_to_text(rclass: int) -> str:
    """The mnemonic of a class, or ``CLASS<n>`` (RFC 3597) when it has none."""
    known = _CLASSES.get(rclass)
    return known.name if known is not None else f"CLASS{rclass}"


def opcode_to_text(opcode: int) -> str:
    """The mnemonic of an opcode, or its number."""
    known = _OPCODES.get(opcode)
    return known.name if known is not None else str(opcode)


def rcode_to_text(rcode: int) -> str:
    """The mnemonic of an rcode, or ``RCODE<n>``."""
    known = _RCODES.get(rcode)
    return known.name if known is not None else f"RCODE{rcode}"


def type_from_text(value: int | str) -> int:
    """A record type from its mnemonic (any case), ``TYPE<n>``, or a number.

    Raises :class:`~evweb.errors.DNSValueError` for an unknown mnemonic or a
    number outside 0..65535.
    """
    return _from_text(value, RecordType.__members__, "TYPE", "record type")


def class_from_text(value: int | str) -> int:
    """A class from its mnemonic (any case), ``CLASS<n>``, or a number."""
    return _from_text(value, RecordClass.__members__, "CLASS", "class")


def _from_text(value: int | str, members: Mapping[str, int], prefix: str, what: str) -> int:
    if isinstance(value, int):
        number = value
    else:
        upper = value.upper()
        known = members.get(upper)
        if known is not None:
            return int(known)
        digits = upper[len(prefix) :] if upper.startswith(prefix) else ""
        if not (digits.isascii() and digits.isdigit()):
            raise DNSValueError(f"unknown {what} {value!r}")
        number = int(digits)
    if not 0 <= number <= _MAX16:
        raise DNSValueError(f"{what} {value!r} is outside 0..65535")
    return number
