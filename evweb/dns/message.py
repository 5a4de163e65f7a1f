"""A DNS message (RFC 1035 §4.1) as an object, and queries straight to bytes."""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterable
from typing import overload

from evweb.dns._codec import HEADER, read_message, write_message
from evweb.dns._wire import check_range
from evweb.dns.constants import (
    Flag,
    Rcode,
    RecordClass,
    class_from_text,
    opcode_to_text,
    rcode_to_text,
    type_from_text,
)
from evweb.dns.names import name_to_wire
from evweb.dns.records import Edns, Question, Record
from evweb.errors import DNSValueError

_QUESTION = struct.Struct("!HH")
_OPT_HEAD = struct.Struct("!BHHIH")  # root name, type, payload size, TTL, rdlength
_FLAG_NAMES = ("qr", "aa", "tc", "rd", "ra", "ad", "cd")
_QR = int(Flag.QR)
_KEPT_IN_REPLY = 0x7800 | int(Flag.RD) | int(Flag.CD)  # the opcode, RD and CD


class _Bit:
    """A boolean view of one bit of a message's flags word."""

    def __init__(self, mask: int, doc: str) -> None:
        self.mask = int(mask)
        self.__doc__ = doc

    @overload
    def __get__(self, message: None, owner: type) -> _Bit: ...
    @overload
    def __get__(self, message: Message, owner: type) -> bool: ...
    def __get__(self, message: Message | None, owner: type) -> _Bit | bool:
        if message is None:
            return self
        return bool(message.flags & self.mask)

    def __set__(self, message: Message, value: bool) -> None:
        if value:
            message.flags |= self.mask
        else:
            message.flags &= ~self.mask


class Message:
    """A DNS message: header fields, the four sections and the EDNS0 parameters.

    ``flags`` is the header's 16-bit word (QR, opcode, AA, TC, RD, RA, AD,
    CD, low rcode bits), also readable and settable through the ``qr``,
    ``aa``, ``tc``, ``rd``, ``ra``, ``ad``, ``cd``, ``opcode`` and
    ``rcode`` properties. ``edns`` is None when the message has no OPT
    record; the OPT record never appears in ``additionals``.

    ``Message.parse(data)`` reads one from the wire and ``to_wire()``
    writes it, compressing names.
    """

    __slots__ = ("additionals", "answers", "authorities", "edns", "flags", "id", "questions")

    qr = _Bit(Flag.QR, "A response (True) or a query.")
    aa = _Bit(Flag.AA, "Authoritative answer.")
    tc = _Bit(Flag.TC, "Truncated: the reply did not fit (retry over TCP).")
    rd = _Bit(Flag.RD, "Recursion desired.")
    ra = _Bit(Flag.RA, "Recursion available.")
    ad = _Bit(Flag.AD, "Authentic data (DNSSEC, RFC 4035).")
    cd = _Bit(Flag.CD, "Checking disabled (DNSSEC, RFC 4035).")

    def __init__(
        self,
        id: int = 0,
        flags: int = 0,
        questions: Iterable[Question] = (),
        answers: Iterable[Record] = (),
        authorities: Iterable[Record] = (),
        additionals: Iterable[Record] = (),
        edns: Edns | None = None,
    ) -> None:
        self.id = id
        self.flags = flags
        self.questions = list(questions)
        self.answers = list(answers)
        self.authorities = list(authorities)
        self.additionals = list(additionals)
        self.edns = edns

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Message:
        """Read a message from its wire form (one whole message: no TCP length prefix).

        Raises :class:`~evweb.errors.DNSFormatError` for anything RFC 1035,
        2181 or 6891 forbids: truncated parts, lengths or counts that do
        not match the data, bad compression pointers, over-long names,
        trailing bytes, a misplaced or repeated OPT record.
        """
        ident, flags, sections = read_message(data if type(data) is bytes else bytes(data))
        message = cls(ident, flags)
        message.questions, message.answers, message.authorities, message.additionals = sections[:4]
        message.edns = sections[4]
        return message

    def to_wire(self, max_size: int | None = None) -> bytes:
        """The message's wire form, names compressed.

        With ``max_size`` (512 for plain UDP, or the peer's EDNS payload
        size) the records that do not fit are left out, whole, from the
        first that does not fit on; TC is set if any but additional records
        were. Raises :class:`~evweb.errors.DNSValueError` for a field out of
        range or a message over 65535 bytes.
        """
        sections = (self.answers, self.authorities, self.additionals)
        return write_message((self.id, self.flags), self.questions, sections, self.edns, max_size)

    @property
    def opcode(self) -> int:
        """The header's 4-bit opcode (:class:`~evweb.dns.constants.Opcode`)."""
        return (self.flags >> 11) & 0xF

    @opcode.setter
    def opcode(self, value: int) -> None:
        check_range(value, 4, "opcode")
        self.flags = (self.flags & ~0x7800) | value << 11

    @property
    def rcode(self) -> int:
        """The rcode: the header's 4 bits, and EDNS0's upper 8 bits when there is an OPT record."""
        low = self.flags & 0xF
        return low if self.edns is None else self.edns.ext_rcode << 4 | low

    @rcode.setter
    def rcode(self, value: int) -> None:
        check_range(value, 12, "rcode")
        if value > 0xF and self.edns is None:
            raise DNSValueError(f"rcode {value} needs EDNS0 (set edns first)")
        self.flags = (self.flags & ~0xF) | (value & 0xF)
        if self.edns is not None:
            self.edns.ext_rcode = value >> 4

    @property
    def edns_payload(self) -> int | None:
        """The largest UDP message the sender accepts, per its OPT record; None without one."""
        return None if self.edns is None else self.edns.payload

    def reply(self, rcode: int = Rcode.NOERROR) -> Message:
        """A response skeleton for this query: same id, opcode, RD and questions; QR set.

        Answers are for the caller to add. The reply carries EDNS0 (with a
        1232-byte payload) when the query did, as RFC 6891 §7 asks.
        """
        flags = _QR | (self.flags & _KEPT_IN_REPLY)
        edns = Edns() if self.edns is not None else None
        reply = Message(self.id, flags, self.questions, edns=edns)
        reply.rcode = rcode
        return reply

    def to_text(self) -> str:
        """The message as dig shows it: header, OPT pseudosection, then each section."""
        counts = (len(self.questions), len(self.answers), len(self.authorities))
        additional = len(self.additionals) + (self.edns is not None)
        flags = " ".join(name for name in _FLAG_NAMES if getattr(self, name))
        lines = [
            f";; ->>HEADER<<- opcode: {opcode_to_text(self.opcode)}, "
            f"status: {rcode_to_text(self.rcode)}, id: {self.id}",
            f";; flags: {flags}; QUERY: {counts[0]}, ANSWER: {counts[1]}, "
            f"AUTHORITY: {counts[2]}, ADDITIONAL: {additional}",
        ]
        if self.edns is not None:
            lines += ["", ";; OPT PSEUDOSECTION:", self.edns.to_text()]
        if self.questions:
            lines += ["", ";; QUESTION SECTION:"]
            lines += (";" + question.to_text() for question in self.questions)
        for title, records in zip(
            ("ANSWER", "AUTHORITY", "ADDITIONAL"),
            (self.answers, self.authorities, self.additionals),
            strict=True,
        ):
            if records:
                lines += ["", f";; {title} SECTION:"]
                lines += (record.to_text() for record in records)
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        flags = " ".join(name for name in _FLAG_NAMES if getattr(self, name))
        return (
            f"<Message id={self.id} {opcode_to_text(self.opcode)} {rcode_to_text(self.rcode)}"
            f" [{flags}] {len(self.questions)}q {len(self.answers)}an"
            f" {len(self.authorities)}ns {len(self.additionals)}ar>"
        )


def make_query(
    name: str,
    qtype: int | str,
    id: int | None = None,
    *,
    rd: bool = True,
    edns_udp_size: int | None = None,
    qclass: int | str = RecordClass.IN,
) -> bytes:
    """The wire form of a query for ``name`` and ``qtype`` (a number or a mnemonic).

    ``id`` defaults to a random one (from :mod:`secrets`: ids are part of
    the defence against spoofed replies). ``edns_udp_size`` (512..65535)
    adds an OPT record announcing that UDP payload size (RFC 6891). The
    name keeps its case, so a resolver can randomise it (0x20).
    """
    ident = secrets.randbits(16) if id is None else check_range(id, 16, "the query id")
    flags = 0x0100 if rd else 0  # RD
    wire = name_to_wire(name)
    question = _QUESTION.pack(type_from_text(qtype), class_from_text(qclass))
    if edns_udp_size is None:
        return HEADER.pack(ident, flags, 1, 0, 0, 0) + wire + question
    if not isinstance(edns_udp_size, int) or not 512 <= edns_udp_size <= 0xFFFF:
        raise DNSValueError(f"edns_udp_size must be in 512..65535, got {edns_udp_size!r}")
    opt = _OPT_HEAD.pack(0, 41, edns_udp_size, 0, 0)
    return HEADER.pack(ident, flags, 1, 0, 0, 1) + wire + question + opt
