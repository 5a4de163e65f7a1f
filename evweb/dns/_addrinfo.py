"""The part of getaddrinfo that needs no DNS: hints, services, numeric hosts, EAI codes.

libevent splits ``evdns_getaddrinfo`` the same way: ``evutil_getaddrinfo_common_``
checks the hints, turns the service into a port and answers a missing or
numeric host at once; only what is left goes to the resolver. Everything
here is synchronous and never touches the network: service names come from
``/etc/services`` through :func:`socket.getservbyname`, numeric hosts are
parsed with :func:`socket.inet_pton` (strict, as libevent's ``evutil_inet_pton``:
``127.1`` is a name, not an address), and ``AI_ADDRCONFIG`` looks at the
local addresses by connecting UDP sockets, which sends no packet.

Results have the shape :func:`socket.getaddrinfo` gives:
``(family, socktype, proto, canonname, sockaddr)``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

SockAddr = tuple[Any, ...]
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, SockAddr]
"""One answer, as :func:`socket.getaddrinfo` gives it."""

EAI_CANCEL = -90001
"""libevent's ``EVUTIL_EAI_CANCEL``: the request was cancelled (no system value exists)."""

_STREAM = (socket.SOCK_STREAM, int(socket.IPPROTO_TCP))
_DGRAM = (socket.SOCK_DGRAM, int(socket.IPPROTO_UDP))
_BOTH = (_STREAM, _DGRAM)
_KINDS = {int(kind): kind for kind in socket.SocketKind}
# Plain ints: "flags & socket.AI_CANONNAME" would go through enum.Flag.__and__ each time.
AI_PASSIVE = int(socket.AI_PASSIVE)
AI_CANONNAME = int(socket.AI_CANONNAME)
AI_NUMERICHOST = int(socket.AI_NUMERICHOST)
AI_NUMERICSERV = int(socket.AI_NUMERICSERV)
AI_ADDRCONFIG = int(socket.AI_ADDRCONFIG)
_FAMILIES = (socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6)
KNOWN_FLAGS = int(
    socket.AI_PASSIVE
    | socket.AI_CANONNAME
    | socket.AI_NUMERICHOST
    | socket.AI_NUMERICSERV
    | socket.AI_ADDRCONFIG
    | socket.AI_V4MAPPED  # accepted and ignored, as libevent does
    | socket.AI_ALL
)

_MESSAGES = {
    0: "no error",
    EAI_CANCEL: "request canceled",
    socket.EAI_ADDRFAMILY: "address family for nodename not supported",
    socket.EAI_AGAIN: "temporary failure in name resolution",
    socket.EAI_BADFLAGS: "invalid value for ai_flags",
    socket.EAI_FAIL: "non-recoverable failure in name resolution",
    socket.EAI_FAMILY: "ai_family not supported",
    socket.EAI_MEMORY: "memory allocation failure",
    socket.EAI_NODATA: "no address associated with nodename",
    socket.EAI_NONAME: "nodename nor servname provided, or not known",
    socket.EAI_SERVICE: "servname not supported for ai_socktype",
    socket.EAI_SOCKTYPE: "ai_socktype not supported",
    socket.EAI_SYSTEM: "system error",
}


def gai_strerror(code: int) -> str:
    """The message for an EAI code (libevent's ``evutil_gai_strerror`` wording)."""
    return _MESSAGES.get(code, "unknown error code")


class GaiFailureError(Exception):
    """Internal: an EAI code raised by the checks; turned into the public error at the boundary."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


class Hints:
    """The checked hints of one lookup: family, socktype, proto, flags and the port."""

    __slots__ = ("family", "flags", "port", "proto", "socktype")

    def __init__(self, family: int, socktype: int, proto: int, flags: int, port: int) -> None:
        self.family = family
        self.socktype = socktype
        self.proto = proto
        self.flags = flags
        self.port = port

    def kinds(self) -> tuple[tuple[socket.SocketKind, int], ...]:
        """``(socktype, proto)`` pairs each address yields: both TCP and UDP when unspecified."""
        if self.socktype == 0 and self.proto == 0:
            return _BOTH
        return ((_KINDS.get(self.socktype) or socket.SocketKind(self.socktype), self.proto),)


def make_hints(
    family: int, socktype: int, proto: int, flags: int, service: int | str | None
) -> Hints:
    """Check the hints and turn ``service`` into a port; raises :class:`GaiFailureError`.

    The protocol is inferred from the socktype and back (libevent's
    ``evutil_getaddrinfo_infer_protocols``); a service that is neither a
    port number nor a name in ``/etc/services`` is ``EAI_NONAME``, as in libevent.
    """
    if family not in _FAMILIES:
        raise GaiFailureError(socket.EAI_FAMILY, f"family {family}")
    if flags & ~KNOWN_FLAGS:
        raise GaiFailureError(socket.EAI_BADFLAGS, f"flags {flags:#x}")
    if socktype not in (0, socket.SOCK_STREAM, socket.SOCK_DGRAM):
        raise GaiFailureError(socket.EAI_SOCKTYPE, f"socktype {socktype}")
    if not proto and socktype:
        proto = socket.IPPROTO_UDP if socktype == socket.SOCK_DGRAM else socket.IPPROTO_TCP
    elif proto and not socktype:
        socktype = socket.SOCK_DGRAM if proto == socket.IPPROTO_UDP else socket.SOCK_STREAM
    port = 0 if service is None else parse_service(service, proto, flags)
    return Hints(family, socktype, proto, flags, port)


def parse_service(service: int | str, proto: int, flags: int) -> int:
    """A port from a number, a decimal string or (without AI_NUMERICSERV) a service name."""
    if isinstance(service, int):
        if 0 <= service <= 0xFFFF:
            return service
        raise GaiFailureError(socket.EAI_SERVICE, f"port {service} out of range")
    if service.isascii() and service.isdigit():
        port = int(service)
        if port <= 0xFFFF:
            return port
    elif service and not flags & AI_NUMERICSERV:
        protoname = {socket.IPPROTO_TCP: "tcp", socket.IPPROTO_UDP: "udp"}.get(proto)
        try:
            if protoname is None:
                return socket.getservbyname(service)
            return socket.getservbyname(service, protoname)
        except (OSError, UnicodeError):
            pass
    raise GaiFailureError(socket.EAI_NONAME, f"unknown service {service!r}")


def addrinfos(
    addresses: Iterable[tuple[int, str]], hints: Hints, canonname: str = ""
) -> list[AddrInfo]:
    """The answers for ``(family, address)`` pairs; ``canonname`` goes on the first only."""
    out: list[AddrInfo] = []
    port = hints.port
    kinds = hints.kinds()
    for family, address in addresses:
        if family == socket.AF_INET:
            af, sockaddr = socket.AF_INET, (address, port)
        else:
            af, sockaddr = socket.AF_INET6, _v6_sockaddr(address, port)
        for socktype, proto in kinds:
            out.append((af, socktype, proto, canonname, sockaddr))
            canonname = ""
    return out


def _v6_sockaddr(address: str, port: int) -> SockAddr:
    text, _, scope = address.partition("%")
    if not scope:
        return (text, port, 0, 0)
    scope_id = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
    return (text, port, 0, scope_id)


def no_host(hints: Hints) -> list[AddrInfo]:
    """The answer for a missing host: the wildcard with AI_PASSIVE, else loopback (IPv4 first)."""
    passive = bool(hints.flags & AI_PASSIVE)
    pairs: list[tuple[int, str]] = []
    if hints.family != socket.AF_INET6:
        pairs.append((socket.AF_INET, "0.0.0.0" if passive else "127.0.0.1"))
    if hints.family != socket.AF_INET:
        pairs.append((socket.AF_INET6, "::" if passive else "::1"))
    return addrinfos(pairs, hints)


def numeric(host: str, hints: Hints) -> list[AddrInfo] | None:
    """The answer for a numeric host of an allowed family, or None when ``host`` is a name.

    IPv6 is tried first (``%scope`` allowed), then IPv4, as in libevent; an
    address of a family the hints exclude counts as a name (libevent then
    asks the DNS, which answers NXDOMAIN: see :func:`numeric_family_mismatch`).
    """
    if not might_be_numeric(host):
        return None
    if hints.family != socket.AF_INET:
        text, percent, scope = host.partition("%")
        packed = _pton(socket.AF_INET6, text)
        if packed is not None and (not percent or _scope_ok(scope)):
            address = socket.inet_ntop(socket.AF_INET6, packed)
            return addrinfos([(socket.AF_INET6, address + percent + scope)], hints)
    if hints.family != socket.AF_INET6:
        packed = _pton(socket.AF_INET, host)
        if packed is not None:
            return addrinfos([(socket.AF_INET, socket.inet_ntop(socket.AF_INET, packed))], hints)
    return None


def might_be_numeric(host: str) -> bool:
    """False for text that cannot be an address: no ``:`` and not ending with a digit."""
    return ":" in host or host[-1:].isdigit()


def numeric_family_mismatch(host: str, hints: Hints) -> bool:
    """True when ``host`` is numeric but of the family the hints exclude."""
    if not might_be_numeric(host):
        return False
    text = host.partition("%")[0]
    if hints.family == socket.AF_INET:
        return _pton(socket.AF_INET6, text) is not None
    if hints.family == socket.AF_INET6:
        return _pton(socket.AF_INET, host) is not None
    return False


def _pton(family: int, text: str) -> bytes | None:
    try:
        return socket.inet_pton(family, text)
    except (OSError, ValueError):
        return None


def _scope_ok(scope: str) -> bool:
    if scope.isdigit():
        return True
    try:
        socket.if_nametoindex(scope)
    except OSError:
        return False
    return True


# --- AI_ADDRCONFIG ----------------------------------------------------------------------

_PROBES = ((socket.AF_INET, "18.244.0.188"), (socket.AF_INET6, "2001:4860:b002::68"))
_configured: tuple[bool, bool] | None = None


def configured_families() -> tuple[bool, bool]:
    """Whether this host has a non-local IPv4 and a non-local IPv6 address (checked once).

    As libevent's fallback in ``evutil_check_interfaces``: a UDP socket is
    connected (no packet leaves) towards a public address of each family and
    the source address the kernel picks is looked at; loopback, link-local,
    multicast, unspecified and (for IPv6) unique-local addresses do not count.
    """
    global _configured
    if _configured is None:
        v4, v6 = (_has_route(family, target) for family, target in _PROBES)
        _configured = (v4, v6)
    return _configured


def _has_route(family: int, target: str) -> bool:
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((target, 53))
            local = ipaddress.ip_address(sock.getsockname()[0].partition("%")[0])
    except OSError:
        return False
    if isinstance(local, ipaddress.IPv4Address):
        return not (
            local.is_unspecified or local.is_loopback or local.is_link_local or local.is_multicast
        )
    first = local.packed
    return not (
        first[:8] == bytes(8)
        or first[0] & 0xFE == 0xFC
        or (first[0] == 0xFE and first[1] & 0xC0 in (0x80, 0xC0))
        or first[0] == 0xFF
    )


def addrconfig_family(hints: Hints) -> int:
    """The family AI_ADDRCONFIG narrows an AF_UNSPEC lookup to (libevent's rule)."""
    if not hints.flags & AI_ADDRCONFIG or hints.family != socket.AF_UNSPEC:
        return hints.family
    v4, v6 = configured_families()
    if v4 and not v6:
        return socket.AF_INET
    if v6 and not v4:
        return socket.AF_INET6
    return socket.AF_UNSPEC
