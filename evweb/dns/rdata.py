r"""Record data: one small class per type, each knowing its wire and text forms.

Known types: :class:`A`, :class:`AAAA`, :class:`NS`, :class:`CNAME`,
:class:`PTR`, :class:`MX`, :class:`SOA`, :class:`TXT`, :class:`SRV` and
:class:`OPT` (EDNS0); any other type, or a class-IN-only type in another
class, is :class:`Opaque` bytes, shown as RFC 3597's ``\# <length> <hex>``.

Values are stored as given and checked when the record is encoded, so
parsing builds objects without checking twice; a value that does not fit
raises :class:`~evweb.errors.DNSValueError` from ``to_wire``. Reading checks
every length: data shorter or longer than its type needs is a
:class:`~evweb.errors.DNSFormatError`. Names in NS, CNAME, PTR, MX and SOA
data are compressed when written (RFC 1035's types); SRV's never are
(RFC 2782), though a compressed one is accepted when read.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from typing import ClassVar

from evweb.dns._wire import Reader, Writer, check_range
from evweb.dns.constants import RecordType
from evweb.errors import DNSFormatError, DNSValueError

_U16 = struct.Struct("!H")
_SRV = struct.Struct("!HHH")
_SOA = struct.Struct("!IIIII")
_OPTION = struct.Struct("!HH")
_TXT_ESCAPES = {b: f"\\{b:03d}" for b in range(256) if b < 0x20 or b > 0x7E} | {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


class Rdata:
    """The data of one resource record; ``rtype`` is its record type."""

    __slots__ = ()
    rtype: int
    in_only: ClassVar[bool] = False  # defined in class IN only (A, AAAA, SRV)
    _fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def read(cls, r: Reader, pos: int, end: int) -> Rdata:
        """Decode the data at ``r.data[pos:end]``."""
        raise NotImplementedError

    def write(self, w: Writer) -> None:
        """Append the data's wire form to ``w``."""
        raise NotImplementedError

    def to_text(self) -> str:
        """The presentation form, as in a zone file or dig's answer lines."""
        raise NotImplementedError

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, field) for field in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Rdata):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        args = ", ".join(f"{field}={getattr(self, field)!r}" for field in self._fields)
        return f"{type(self).__name__}({args})"


def _exact_size(pos: int, end: int, size: int, what: str) -> None:
    if end - pos != size:
        raise DNSFormatError(f"{what} data is {end - pos} bytes, not {size}", pos)


def _end_of(pos: int, after: int, end: int, what: str) -> None:
    if after != end:
        raise DNSFormatError(f"{what} data has {end - after} bytes after its last field", after)


def _packed_address(family: socket.AddressFamily, address: str, what: str) -> bytes:
    try:
        return socket.inet_pton(family, address)
    except (OSError, TypeError, ValueError):
        raise DNSValueError(f"{what} address must be an address in text, got {address!r}") from None


class _AddressRdata(Rdata):
    """Data that is one address, ``address``, in text."""

    __slots__ = ("address",)
    in_only = True
    _fields = ("address",)
    _family: ClassVar[socket.AddressFamily]
    _size: ClassVar[int]

    def __init__(self, address: str) -> None:
        self.address = address

    @classmethod
    def read(cls, r: Reader, pos: int, end: int) -> Rdata:
        """Decode the address's bytes (IPv6 in RFC 5952's compressed text)."""
        _exact_size(pos, end, cls._size, cls.__name__)
        return cls(socket.inet_ntop(cls._family, r.data[pos:end]))

    def write(self, w: Writer) -> None:
        """Append the address's bytes."""
        w.buf += _packed_address(self._family, self.address, type(self).__name__)

    def to_text(self) -> str:
        """The address."""
        return self.address


class A(_AddressRdata):
    """An IPv4 address in dotted text (RFC 1035 §3.4.1): ``A("192.0.2.1")``."""

    __slots__ = ()
    rtype = RecordType.A
    _family = socket.AF_INET
    _size = 4


class AAAA(_AddressRdata):
    """An IPv6 address in text (RFC 3596): ``AAAA("2001:db8::1")``."""

    __slots__ = ()
    rtype = RecordType.AAAA
    _family = socket.AF_INET6
    _size = 16


class _NameRdata(Rdata):
    """Data that is one domain name, ``target``."""

    __slots__ = ("target",)
    _fields = ("target",)

    def __init__(self, target: str) -> None:
        self.target = target

    @classmethod
    def read(cls, r: Reader, pos: int, end: int) -> Rdata:
        """Decode the name, which must fill the data."""
        target, after = r.name(pos, end)
        _end_of(pos, after, end, cls.__name__)
        return cls(target)

    def write(self, w: Writer) -> None:
        """Append the name, compressed."""
        w.name(self.target)

    def to_text(self) -> str:
        """The name."""
        return self.target


class NS(_NameRdata):
    """An authoritative name server for the owner name (RFC 1035 §3.3.11): ``NS(target)``."""

    __slots__ = ()
    rtype = RecordType.NS


class CNAME(_NameRdata):
    """The canonical name the owner name is an alias of (RFC 1035 §3.3.1): ``CNAME(target)``."""

    __slots__ = ()
    rtype = RecordType.CNAME


class PTR(_NameRdata):
    """The name an address's reverse name points to (RFC 1035 §3.3.12): ``PTR(target)``."""

    __slots__ = ()
    rtype = RecordType.PTR


class MX(Rdata):
    """A mail exchanger and its ``preference`` (lower first; RFC 1035 §3.3.9)."""

    __slots__ = ("exchange", "preference")
    rtype = RecordType.MX
    _fields = ("preference", "exchange")

    def __init__(self, preference: int, exchange: str) -> None:
        self.preference = preference
        self.exchange = exchange

    @classmethod
    def read(cls, r: Reader, pos: int, end: int) -> Rdata:
        """Decode a 16-bit preference and a name."""
        if end - pos < 3:
            raise DNSFormatError(f"MX data is {end - pos} bytes, too short", pos)
        exchange, after = r.name(pos + 2, end)
        _end_of(pos, after, end, "MX")
        return cls(_U16.unpack_from(r.data, pos)[0], exchange)

    def write(self, w: Writer) -> None:
        """Append the preference and the name, compressed."""
        w.buf += _U16.pack(check_range(self.preference, 16, "MX preference"))
        w.name(self.exchange)

    def to_text(self) -> str:
        """``preference exchange``."""
        return f"{self.preference} {self.exchange}"


class SOA(Rdata):
    """The start of a zone of authority (RFC 1035 §3.3.13); times are in seconds.

    ``mname`` is the primary server, ``rname`` the mailbox of the person in
    charge (its first label is the local part).
    """

    __slots__ = ("expire", "minimum", "mname", "refresh", "retry", "rname", "serial")
    rtype = RecordType.SOA
    _fields = ("mname", "rname", "serial", "refresh", "retry", "expire", "minimum")

    def __init__(
        self,
        mname: str,
        rname: str,
        serial: int,
        refresh: int,
        retry: int,
        expire: int,
        minimum: int,
    ) -> None:
        self.mname = mname
        self.rname = rname
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum

    @classmethod
    def read(cls, r: Reader, pos: int, end: int) -> Rdata:
        """Decode two names and five 32-bit numbers."""
        mname, after = r.name(pos, end)
        rname, after = r.name(after, end)
        if end - after != _SOA.size:
            raise DNSFormatError(f"SOA data has {end - after} bytes after its names, not 20", after)
        return cls(mname, rname, *_SOA.unpack_from(r.data, after))

    def write(self, w: Writer) -> None:
        """Append the names, compressed, and the numbers."""
        w.name(self.mname)
        w.name(self.rname)
        numbers = (self.serial, self.refresh, self.retry, self.expire, self.minimum)
        fields = self._fields[2:]
        w.buf += _SOA.pack(
            *(check_range(n, 32, f"SOA {f}") for n, f in zip(numbers, fields, strict=True))
        )

    def to_text(self) -> str:
        """``mname rname serial refresh retry expire minimum``."""
        return " ".join(str(value) for value in self._values())


class TXT(Rdata):
    """One or more text strings (RFC 1035 §3.3.14), each up to 255 bytes; ``str`` goes as UTF-8."""

    __slots__ = ("strings",)
    rtype = RecordType.TXT
    _fields = ("strings",)

    def __init__(self, strings: Iterable[bytes | str]) -> None:
        self.strings = tuple(s.encode() if isinstance(s, str) else bytes(s) for s in strings)

    @classmethod
    def read(cls, r: Reader, pos: int, end: int) -> Rdata:
        """Decode length-prefixed strings filling the data."""
        data = r.data
        strings = []
        while pos < end:
            stop = pos + 1 + data[pos]
            if stop > end:
                raise DNSFormatError("a TXT string runs past the end of its data", pos)
            strings.append(data[pos + 1 : stop])
            pos = stop
        if not strings:
            raise DNSFormatError("TXT data holds no string (it needs one or more)", pos)
        return cls(strings)

    def write(self, w: Writer) -> None:
        """Append each string after its length byte."""
        if not self.strings:
            raise DNSValueError("TXT data needs at least one string")
        buf = w.buf
        for string in self.strings:
            if len(string) > 0xFF:
                raise DNSValueError(f"a TXT string of {len(string)} bytes (at most 255)")
            buf.append(len(string))
            buf += string

    def to_text(self) -> str:
        r"""Each string quoted, ``"`` and ``\`` escaped, other bytes as ``\DDD``."""
        return " ".join(f'"{s.decode("latin-1").translate(_TXT_ESCAPES)}"' for s in self.strings)


class SRV(Rdata):
    """A server of a service (RFC 2782): ``priority``, ``weight``, ``port``, ``target``.

    Lower priorities come first; ``weight`` shares a priority's load. The
    target is never compressed when written.
    """

    __slots__ = ("port", "priority", "target", "weight")
    rtype = RecordType.SRV
    in_only = True
    _fields = ("priority", "weight", "port", "target")

    def __init__(self, priority: int, weight: int, port: int, target: str) -> None:
        self.priority = priority
        self.weight = weight
        self.port = port
        self.target = target

    @classmethod
    def read(cls, r: Reader, pos: int, end: int) -> Rdata:
        """Decode three 16-bit numbers and a name."""
        if end - pos < 7:
            raise DNSFormatError(f"SRV data is {end - pos} bytes, too short", pos)
        target, after = r.name(pos + 6, end)
        _end_of(pos, after, end, "SRV")
        priority, weight, port = _SRV.unpack_from(r.data, pos)
        return cls(priority, weight, port, target)

    def write(self, w: Writer) -> None:
        """Append the numbers and the target, not compressed (RFC 2782)."""
        w.buf += _SRV.pack(
            check_range(self.priority, 16, "SRV priority"),
            check_range(self.weight, 16, "SRV weight"),
            check_range(self.port, 16, "SRV port"),
        )
        w.name(self.target, compress=False)

    def to_text(self) -> str:
        """``priority weight port target``."""
        return f"{self.priority} {self.weight} {self.port} {self.target}"


class OPT(Rdata):
    """EDNS0 options (RFC 6891 §6.1.2): ``options`` is a tuple of ``(code, data)``."""

    __slots__ = ("options",)
    rtype = RecordType.OPT
    _fields = ("options",)

    def __init__(self, options: Iterable[tuple[int, bytes]] = ()) -> None:
        self.options = tuple((code, bytes(data)) for code, data in options)

    @classmethod
    def read(cls, r: Reader, pos: int, end: int) -> Rdata:
        """Decode ``code, length, data`` triples filling the data."""
        data = r.data
        options = []
        while pos < end:
            if end - pos < 4:
                raise DNSFormatError("an EDNS option header runs past the end of its data", pos)
            code, size = _OPTION.unpack_from(data, pos)
            stop = pos + 4 + size
            if stop > end:
                raise DNSFormatError(f"EDNS option {code} runs past the end of its data", pos)
            options.append((code, data[pos + 4 : stop]))
            pos = stop
        return cls(options)

    def write(self, w: Writer) -> None:
        """Append each option."""
        for code, data in self.options:
            check_range(len(data), 16, f"the length of EDNS option {code}")
            w.buf += _OPTION.pack(check_range(code, 16, "EDNS option code"), len(data))
            w.buf += data

    def to_text(self) -> str:
        """Each option as ``code:hex``."""
        return " ".join(f"{code}:{data.hex()}" for code, data in self.options)


class Opaque(Rdata):
    r"""Data of a type evweb does not decode, kept as bytes: ``Opaque(rtype, data)``.

    Also the data of A, AAAA and SRV records outside class IN, and of any
    record in the NONE and ANY classes of dynamic update (RFC 2136).
    """

    __slots__ = ("data", "rtype")
    _fields = ("rtype", "data")

    def __init__(self, rtype: int, data: bytes) -> None:
        self.rtype = rtype
        self.data = bytes(data)

    @classmethod
    def read(cls, r: Reader, pos: int, end: int) -> Rdata:
        """Not used: the parser builds these with the type."""
        raise NotImplementedError

    def write(self, w: Writer) -> None:
        """Append the bytes."""
        check_range(self.rtype, 16, "record type")
        w.buf += self.data

    def to_text(self) -> str:
        r"""RFC 3597's generic form: ``\# <length> <hex>``."""
        return f"\\# {len(self.data)} {self.data.hex()}".rstrip()
