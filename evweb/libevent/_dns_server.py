"""``evdns_*`` (``event2/dns.h``, the server side) over :class:`evweb.dns.server.DNSServer`.

C shapes become Python ones:

* ``evdns_add_server_port_with_base(base, sock, flags, cb, arg)`` takes a
  bound UDP socket (a socket object or an fd, which the port then owns and
  closes, as libevent does) and returns an :class:`EvdnsServerPort`, a
  :class:`~evweb.dns.server.DNSServer`; ``evdns_add_server_port_with_listener``
  does the same for an evconnlistener (TCP).
* The callback gets ``(req, arg)``; ``req`` is the
  :class:`~evweb.dns.server.ServerRequest`: C's ``req->flags`` is
  ``req.flags``, ``req->nquestions`` is ``len(req.questions)`` and each
  question has ``name`` (ending in a dot), ``qtype`` and ``qclass`` where C
  has ``name``, ``type`` and ``dns_question_class``.
* Functions returning ``int`` give 0 on success and -1 on failure (the
  reason logged at DEBUG on ``evweb.libevent``).
* ``evdns_server_request_get_requesting_addr(req)`` returns the address
  (a ``(host, port)`` tuple) where C fills a ``struct sockaddr``.
* Addresses may be text or packed bytes (``n`` of them, 4 or 16 bytes each,
  as C's arrays).

``EVDNS_FLAGS_RD`` is 0x080 in libevent, which is the header's RA bit, not
RD (0x100); ``evdns_server_request_set_flags`` sets that bit as libevent
does, so a reply built with it says "recursion available".

Pythonic equivalents::

    evdns_add_server_port_with_base(b, s, 0, cb, a)    DNSServer(b, handler).add_socket(s)
    evdns_server_request_add_a_reply(r, n, 1, a, ttl)  request.add_a(n, [a], ttl)
    evdns_server_request_respond(r, DNS_ERR_NONE)      request.respond()
    evdns_close_server_port(port)                      server.close()
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from evweb.dns._wire import Writer
from evweb.dns.rdata import CNAME, NS, PTR, Opaque, Rdata
from evweb.dns.records import Record
from evweb.dns.server import DNSServer, ServerRequest
from evweb.errors import EvwebError
from evweb.io import Listener
from evweb.libevent._status import failed
from evweb.reactor import EventBase

EVDNS_ANSWER_SECTION = 0
EVDNS_AUTHORITY_SECTION = 1
EVDNS_ADDITIONAL_SECTION = 2
EVDNS_FLAGS_AA = 0x400
EVDNS_FLAGS_RD = 0x080
EVDNS_SOPT_TCP_MAX_CLIENTS = 0
EVDNS_SOPT_TCP_IDLE_TIMEOUT = 1
EVDNS_TYPE_A = 1
EVDNS_TYPE_NS = 2
EVDNS_TYPE_CNAME = 5
EVDNS_TYPE_SOA = 6
EVDNS_TYPE_PTR = 12
EVDNS_TYPE_MX = 15
EVDNS_TYPE_TXT = 16
EVDNS_TYPE_AAAA = 28
EVDNS_QTYPE_AXFR = 252
EVDNS_QTYPE_ALL = 255
EVDNS_CLASS_INET = 1

evdns_request_callback_fn_type = Callable[[ServerRequest, Any], object]
"""``cb(req, arg)``: called for each query."""

EvdnsServerPort = DNSServer
"""``struct evdns_server_port``."""

_NAME_TYPES: dict[int, type[CNAME | NS | PTR]] = {2: NS, 5: CNAME, 12: PTR}


_FAILURES = (EvwebError, ValueError, TypeError, OSError)
"""What a C-named function turns into -1 (or NULL)."""


def _status(function: str, action: Callable[[], object]) -> int:
    try:
        action()
    except _FAILURES as exc:
        return failed(function, exc)
    return 0


def _adopt(sock: socket.socket | int) -> socket.socket:
    return sock if isinstance(sock, socket.socket) else socket.socket(fileno=sock)


# --- ports ----------------------------------------------------------------------------------


def evdns_add_server_port_with_base(
    base: EventBase,
    socket_: socket.socket | int,
    flags: int,
    callback: evdns_request_callback_fn_type,
    user_data: Any,
) -> EvdnsServerPort | None:
    """``DNSServer(base, handler).add_socket(sock)`` for a bound UDP socket; None on failure."""
    try:
        server = DNSServer(base, lambda req: callback(req, user_data))
        server.add_socket(_adopt(socket_))
    except _FAILURES as exc:
        failed("evdns_add_server_port_with_base", exc)
        return None
    return server


def evdns_add_server_port_with_listener(
    base: EventBase,
    listener: Listener,
    flags: int,
    callback: evdns_request_callback_fn_type,
    user_data: Any,
) -> EvdnsServerPort | None:
    """``DNSServer(base, handler).add_listener(listener)``: DNS over TCP; None on failure."""
    try:
        server = DNSServer(base, lambda req: callback(req, user_data))
        server.add_listener(listener)
    except _FAILURES as exc:
        failed("evdns_add_server_port_with_listener", exc)
        return None
    return server


def evdns_close_server_port(port: EvdnsServerPort) -> None:
    """``server.close()``: unanswered requests get SERVFAIL, the sockets are closed."""
    port.close()


def evdns_server_port_set_option(port: EvdnsServerPort, option: int, value: int) -> int:
    """Set ``EVDNS_SOPT_TCP_MAX_CLIENTS`` or ``EVDNS_SOPT_TCP_IDLE_TIMEOUT`` (seconds)."""

    def apply() -> None:
        if option == EVDNS_SOPT_TCP_MAX_CLIENTS:
            port.max_tcp_clients = value
        elif option == EVDNS_SOPT_TCP_IDLE_TIMEOUT:
            port.tcp_idle_timeout = value
        else:
            raise ValueError(f"unknown server option {option!r}")

    return _status("evdns_server_port_set_option", apply)


# --- building replies -------------------------------------------------------------------------


def evdns_server_request_add_reply(
    req: ServerRequest,
    section: int,
    name: str,
    type: int,
    dns_class: int,
    ttl: int,
    datalen: int,
    is_name: int,
    data: str | bytes | None,
) -> int:
    """Add any record: ``data`` is a name (``is_name``) or ``datalen`` bytes of record data."""

    def apply() -> None:
        req.add_reply(section, Record(name, ttl, _rdata(type, datalen, is_name, data), dns_class))

    return _status("evdns_server_request_add_reply", apply)


def _rdata(rtype: int, datalen: int, is_name: int, data: str | bytes | None) -> Rdata:
    if is_name:
        target = data.decode("ascii") if isinstance(data, bytes) else data or "."
        cls = _NAME_TYPES.get(rtype)
        return cls(target) if cls is not None else _NameData(rtype, target)
    raw = data.encode("latin-1") if isinstance(data, str) else data or b""
    if datalen >= 0:
        raw = raw[:datalen]
    return Opaque(rtype, raw)


class _NameData(Rdata):
    """A name as the data of a record of any type (``is_name`` with a type C leaves open)."""

    __slots__ = ("rtype", "target")
    _fields = ("rtype", "target")

    def __init__(self, rtype: int, target: str) -> None:
        self.rtype = rtype
        self.target = target

    def write(self, w: Writer) -> None:
        """Append the name, compressed (as libevent does for ``is_name`` data)."""
        w.name(self.target)

    def to_text(self) -> str:
        """The name."""
        return self.target


def _addresses(n: int, addrs: bytes | Sequence[str | bytes], family: int) -> list[str]:
    size = 4 if family == socket.AF_INET else 16
    if isinstance(addrs, bytes):
        if len(addrs) < n * size:
            raise ValueError(f"{n} addresses need {n * size} bytes, got {len(addrs)}")
        return [socket.inet_ntop(family, addrs[i * size : (i + 1) * size]) for i in range(n)]
    if len(addrs) < n:
        raise ValueError(f"{n} addresses asked for, {len(addrs)} given")
    return [socket.inet_ntop(family, a) if isinstance(a, bytes) else a for a in list(addrs)[:n]]


def evdns_server_request_add_a_reply(
    req: ServerRequest, name: str, n: int, addrs: bytes | Sequence[str | bytes], ttl: int
) -> int:
    """``request.add_a(name, addresses, ttl)``: ``n`` addresses, text or 4 packed bytes each."""
    return _status(
        "evdns_server_request_add_a_reply",
        lambda: req.add_a(name, _addresses(n, addrs, socket.AF_INET), ttl),
    )


def evdns_server_request_add_aaaa_reply(
    req: ServerRequest, name: str, n: int, addrs: bytes | Sequence[str | bytes], ttl: int
) -> int:
    """``request.add_aaaa(name, addresses, ttl)``: text or 16 packed bytes each."""
    return _status(
        "evdns_server_request_add_aaaa_reply",
        lambda: req.add_aaaa(name, _addresses(n, addrs, socket.AF_INET6), ttl),
    )


def evdns_server_request_add_ptr_reply(
    req: ServerRequest,
    in_: str | bytes | None,
    inaddr_name: str | None,
    hostname: str,
    ttl: int,
) -> int:
    """``request.add_ptr(name, hostname, ttl)``; the name is ``in_``'s (IPv4) if given."""

    def apply() -> None:
        if in_ is not None:
            address = socket.inet_ntop(socket.AF_INET, in_) if isinstance(in_, bytes) else in_
            socket.inet_pton(socket.AF_INET, address)
            req.add_ptr(address, hostname, ttl)
        elif inaddr_name is not None:
            req.add_ptr(inaddr_name, hostname, ttl)
        else:
            raise ValueError("give in_ or inaddr_name")

    return _status("evdns_server_request_add_ptr_reply", apply)


def evdns_server_request_add_cname_reply(
    req: ServerRequest, name: str, cname: str, ttl: int
) -> int:
    """``request.add_cname(name, cname, ttl)``."""
    return _status("evdns_server_request_add_cname_reply", lambda: req.add_cname(name, cname, ttl))


def evdns_server_request_set_flags(req: ServerRequest, flags: int) -> None:
    """Set the reply's AA bit and libevent's "RD" bit (0x080: RA on the wire) from ``flags``."""
    req.set_flags(aa=bool(flags & EVDNS_FLAGS_AA), ra=bool(flags & EVDNS_FLAGS_RD))


# --- finishing --------------------------------------------------------------------------------


def evdns_server_request_respond(req: ServerRequest, err: int) -> int:
    """``request.respond(err)``; ``err`` is an rcode, 0..15 as in C."""

    def apply() -> None:
        if not 0 <= err <= 15:
            raise ValueError(f"rcode {err} is not in 0..15")
        req.respond(err)

    return _status("evdns_server_request_respond", apply)


def evdns_server_request_drop(req: ServerRequest) -> int:
    """``request.drop()``: no reply."""
    return _status("evdns_server_request_drop", req.drop)


def evdns_server_request_get_requesting_addr(req: ServerRequest) -> Any:
    """The requester's address (C fills a ``struct sockaddr`` and returns its length)."""
    return req.peer
