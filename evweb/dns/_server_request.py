"""The request object of :mod:`evweb.dns.server`: a query, its requester and the reply being built.

Kept apart from the server's sockets so that the sans-IO part (the query
in, the reply's bytes out) reads on its own: a request only knows its
*sink* (the UDP port or TCP connection the query came from), which takes
the reply's bytes or hears that there will be none.
"""

from __future__ import annotations

import enum
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from evweb.dns._codec import HEADER, write_message
from evweb.dns._server_wire import QuestionWire, opt_record, write_reply
from evweb.dns.constants import Flag, Rcode, RecordClass
from evweb.dns.message import _KEPT_IN_REPLY, _QR, Message
from evweb.dns.names import reverse_name
from evweb.dns.rdata import AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT, A, Rdata
from evweb.dns.records import Edns, Question, Record
from evweb.errors import DNSValueError, EventStateError

if TYPE_CHECKING:
    from evweb.dns.server import DNSServer

MAX_UDP_REPLY = 65507
"""The most a UDP datagram carries over IPv4: the cap on a client's EDNS payload size."""

_TC_BYTE = int(Flag.TC) >> 8  # the TC bit in the flags word's first byte
_SETTABLE = {
    "aa": int(Flag.AA),
    "ra": int(Flag.RA),
    "ad": int(Flag.AD),
    "rd": int(Flag.RD),
    "cd": int(Flag.CD),
}


class Section(enum.IntEnum):
    """The reply section a record goes to (libevent's ``EVDNS_*_SECTION`` numbers)."""

    ANSWER = 0
    AUTHORITY = 1
    ADDITIONAL = 2


ANSWER = Section.ANSWER
AUTHORITY = Section.AUTHORITY
ADDITIONAL = Section.ADDITIONAL

Handler = Callable[["ServerRequest"], object]
"""``handler(request)``: called from the loop for each well-formed query."""


class Sink(Protocol):
    """Where a message came from and where its reply goes: a UDP port or a TCP connection."""

    transport: str

    def send(self, wire: bytes, peer: Any) -> None:
        """Send a reply to ``peer``."""

    def release(self) -> None:
        """A message got no reply (dropped)."""


@dataclass
class ServerStats:
    """Live counters of a :class:`DNSServer`.

    ``queries`` well-formed queries handed to the handler, ``responses``
    replies sent (any rcode), ``formerr`` malformed queries answered FORMERR,
    ``notimpl`` other opcodes answered NOTIMP, ``dropped`` messages never
    answered (replies, short packets, :meth:`ServerRequest.drop`),
    ``truncated`` UDP replies sent with TC, ``send_errors`` replies the
    socket refused, ``tcp_accepted`` and ``tcp_refused`` TCP connections
    taken and closed at once (over ``max_tcp_clients``).
    """

    queries: int = 0
    responses: int = 0
    formerr: int = 0
    notimpl: int = 0
    dropped: int = 0
    truncated: int = 0
    send_errors: int = 0
    tcp_accepted: int = 0
    tcp_refused: int = 0


def _udp_limit(message: Message) -> int:
    edns = message.edns
    if edns is None:
        return 512
    payload = edns.payload
    return 512 if payload < 512 else MAX_UDP_REPLY if payload > MAX_UDP_REPLY else payload


def _check_address(family: socket.AddressFamily, address: str) -> None:
    try:
        socket.inet_pton(family, address)
    except (OSError, TypeError, ValueError):
        version = 4 if family == socket.AF_INET else 6
        raise DNSValueError(f"not an IPv{version} address in text: {address!r}") from None


class ServerRequest:
    """One query being answered: what was asked, by whom, and the reply being built.

    ``message`` is the parsed query, ``peer`` the requester's address and
    ``transport`` ``"udp"`` or ``"tcp"``. Add records with the ``add_*``
    builders (``section`` is :data:`ANSWER`, :data:`AUTHORITY` or
    :data:`ADDITIONAL`), then call :meth:`respond` or :meth:`drop`, exactly
    once, now or later from the loop.
    """

    __slots__ = (
        "_done",
        "_flags",
        "_question",
        "_sections",
        "_server",
        "_sink",
        "message",
        "peer",
    )

    def __init__(
        self,
        server: DNSServer,
        message: Message,
        peer: Any,
        sink: Sink,
        question: QuestionWire | None = None,
    ) -> None:
        self.message = message
        self._question = question  # the question's wire form, from read_query
        self.peer = peer
        self._server = server
        self._sink = sink
        self._flags = _QR | (message.flags & _KEPT_IN_REPLY)
        self._sections: tuple[list[Record], list[Record], list[Record]] = ([], [], [])
        self._done = False

    def __repr__(self) -> str:
        question = self.message.questions[0].to_text() if self.message.questions else "-"
        state = " done" if self._done else ""
        return f"<ServerRequest id={self.id} {question} from {self.peer!r} {self.transport}{state}>"

    # --- what was asked ---------------------------------------------------------------

    @property
    def questions(self) -> list[Question]:
        """The query's questions (at least one)."""
        return self.message.questions

    @property
    def id(self) -> int:
        """The query's transaction id."""
        return self.message.id

    @property
    def flags(self) -> int:
        """The query's flags word."""
        return self.message.flags

    @property
    def rd(self) -> bool:
        """Recursion desired, as the query says."""
        return bool(self.message.flags & Flag.RD)

    @property
    def cd(self) -> bool:
        """Checking disabled (DNSSEC), as the query says."""
        return bool(self.message.flags & Flag.CD)

    @property
    def edns_payload(self) -> int | None:
        """The query's EDNS UDP payload size; None without EDNS."""
        return self.message.edns_payload

    @property
    def transport(self) -> str:
        """``"udp"`` or ``"tcp"``."""
        return self._sink.transport

    @property
    def done(self) -> bool:
        """True once :meth:`respond` or :meth:`drop` was called (or the server closed)."""
        return self._done

    @property
    def reply_flags(self) -> int:
        """The flags word the reply will carry (without its rcode)."""
        return self._flags

    def records(self, section: int) -> list[Record]:
        """The records added so far to ``section`` (the list itself)."""
        return self._sections[_section(section)]

    # --- building the reply -----------------------------------------------------------

    def add_reply(self, section: int, record: Record) -> None:
        """Add ``record`` to ``section`` (any type: see :mod:`evweb.dns.rdata`)."""
        if not isinstance(record, Record):
            raise DNSValueError(f"add_reply takes a Record, got {record!r}")
        self._sections[_section(section)].append(record)

    def _add(self, section: int, name: str, ttl: int, data: Rdata) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= 0x7FFFFFFF:
            raise DNSValueError(f"a TTL must be an int in 0..2147483647, got {ttl!r}")
        self._sections[_section(section)].append(Record(name, ttl, data, RecordClass.IN))

    def add_a(
        self, name: str, addresses: str | Iterable[str], ttl: int, *, section: int = ANSWER
    ) -> None:
        """Add one A record per IPv4 address (text) for ``name``."""
        for address in [addresses] if isinstance(addresses, str) else addresses:
            _check_address(socket.AF_INET, address)
            self._add(section, name, ttl, A(address))

    def add_aaaa(
        self, name: str, addresses: str | Iterable[str], ttl: int, *, section: int = ANSWER
    ) -> None:
        """Add one AAAA record per IPv6 address (text) for ``name``."""
        for address in [addresses] if isinstance(addresses, str) else addresses:
            _check_address(socket.AF_INET6, address)
            self._add(section, name, ttl, AAAA(address))

    def add_cname(self, name: str, target: str, ttl: int, *, section: int = ANSWER) -> None:
        """Add a CNAME record: ``name`` is an alias of ``target``."""
        self._add(section, name, ttl, CNAME(target))

    def add_ptr(self, name: str, target: str, ttl: int, *, section: int = ANSWER) -> None:
        """Add a PTR record; ``name`` is a reverse name, or an IP address made into one."""
        try:
            ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            name = reverse_name(name)
        self._add(section, name, ttl, PTR(target))

    def add_mx(
        self, name: str, preference: int, exchange: str, ttl: int, *, section: int = ANSWER
    ) -> None:
        """Add an MX record: mail for ``name`` goes to ``exchange`` (lower preference first)."""
        self._add(section, name, ttl, MX(preference, exchange))

    def add_txt(
        self, name: str, strings: str | bytes | Iterable[str | bytes], ttl: int, *,
        section: int = ANSWER,
    ) -> None:  # fmt: skip
        """Add a TXT record of one string or several (each at most 255 bytes)."""
        if isinstance(strings, str | bytes):
            strings = [strings]
        self._add(section, name, ttl, TXT(strings))

    def add_srv(
        self, name: str, priority: int, weight: int, port: int, target: str, ttl: int, *,
        section: int = ANSWER,
    ) -> None:  # fmt: skip
        """Add an SRV record (RFC 2782): the service ``name`` runs on ``target:port``."""
        self._add(section, name, ttl, SRV(priority, weight, port, target))

    def add_ns(self, name: str, target: str, ttl: int, *, section: int = ANSWER) -> None:
        """Add an NS record: ``target`` serves the zone ``name`` (AUTHORITY for referrals)."""
        self._add(section, name, ttl, NS(target))

    def add_soa(
        self, name: str, mname: str, rname: str, serial: int, refresh: int, retry: int,
        expire: int, minimum: int, ttl: int, *, section: int = ANSWER,
    ) -> None:  # fmt: skip
        """Add an SOA record (in AUTHORITY for NXDOMAIN and NODATA answers, RFC 2308)."""
        self._add(section, name, ttl, SOA(mname, rname, serial, refresh, retry, expire, minimum))

    def set_flags(self, **flags: bool) -> None:
        """Set or clear reply flags by name: ``aa``, ``ra``, ``ad``, ``rd``, ``cd``.

        ``request.set_flags(aa=True)`` makes the answer authoritative. RD and
        CD start as the query's.
        """
        for name, value in flags.items():
            mask = _SETTABLE.get(name)
            if mask is None:
                raise DNSValueError(f"no reply flag {name!r} (one of {', '.join(_SETTABLE)})")
            self._flags = self._flags | mask if value else self._flags & ~mask

    # --- finishing ----------------------------------------------------------------------

    def respond(self, rcode: int = Rcode.NOERROR) -> None:
        """Send the reply with ``rcode`` (NOERROR, NXDOMAIN, SERVFAIL, ...).

        Raises :class:`~evweb.errors.EventStateError` if the request was
        already answered or dropped, and
        :class:`~evweb.errors.DNSValueError` if a record cannot be encoded
        (the request then stays open).
        """
        if self._done:
            raise EventStateError(f"{self!r} was already answered or dropped")
        wire = self.encode(rcode)
        self._done = True
        server = self._server
        server._pending.pop(self, None)
        stats = server.stats
        stats.responses += 1
        if wire[2] & _TC_BYTE:
            stats.truncated += 1
        self._sink.send(wire, self.peer)

    def encode(self, rcode: int = Rcode.NOERROR) -> bytes:
        """The reply's wire form as :meth:`respond` would send it (truncated for UDP)."""
        if isinstance(rcode, bool) or not isinstance(rcode, int) or not 0 <= rcode <= 0xFFF:
            raise DNSValueError(f"an rcode must be an int in 0..4095, got {rcode!r}")
        message = self.message
        if message.edns is None and rcode > 0xF:
            raise DNSValueError(f"rcode {rcode} needs EDNS0, and the query had none")
        limit = _udp_limit(message) if self._sink.transport == "udp" else None
        header = (message.id, self._flags | (rcode & 0xF))
        if self._question is not None:
            opt = b"" if message.edns is None else opt_record(rcode)
            wire = write_reply(header, self._question, self._sections, opt, limit)
            if wire is not None:
                return wire
        edns = None if message.edns is None else Edns(ext_rcode=rcode >> 4)
        return write_message(header, message.questions, self._sections, edns, limit)

    def fail(self) -> None:
        """Answer SERVFAIL, leaving out any record added (for a handler that failed)."""
        for records in self._sections:
            records.clear()
        self.respond(Rcode.SERVFAIL)

    def drop(self) -> None:
        """Send nothing (the client will time out or retry); raises if already finished."""
        if self._done:
            raise EventStateError(f"{self!r} was already answered or dropped")
        self._done = True
        self._server._pending.pop(self, None)
        self._server.stats.dropped += 1
        self._sink.release()


def _section(section: int) -> int:
    if type(section) is not int and not isinstance(section, Section):
        raise DNSValueError(f"a section must be ANSWER, AUTHORITY or ADDITIONAL, got {section!r}")
    if not 0 <= section <= 2:
        raise DNSValueError(f"a section must be ANSWER, AUTHORITY or ADDITIONAL, got {section!r}")
    return section


def header_reply(data: bytes, rcode: int) -> bytes:
    """A reply of a header alone to the query whose first bytes are ``data`` (12 or more).

    The id, opcode, RD and CD are copied, QR set, every count zero.
    """
    flags = (data[2] << 8 | data[3]) & _KEPT_IN_REPLY | _QR | rcode
    return HEADER.pack(data[0] << 8 | data[1], flags, 0, 0, 0, 0)
