"""The DNS resolver as the IO layer's :class:`~evweb.io.resolve.Resolver`: connects by name.

:func:`evweb.io.connect.connect_hostname` (and so
``SocketBufferEvent.connect_hostname``, the HTTP :class:`~evweb.http.Client`
and :class:`~evweb.http.HTTPConnection`) take any object with
``resolve(host, port, family, callback)``; by default they run the system's
``getaddrinfo`` in worker threads. :class:`ConnectResolver` answers the same
calls from the loop with evweb's own resolver, through
:func:`~evweb.dns.getaddrinfo.getaddrinfo` and a
:class:`~evweb.dns.cache.CachingResolver`::

    resolver = ConnectResolver(DNSResolver(base))
    bev.connect_hostname("example.com", 443, resolver=resolver)
    client = Client(base, resolver=resolver)

The callback gets ``(family, sockaddr)`` pairs for TCP (duplicates dropped,
IPv4 first as getaddrinfo gives them; the connect races them Happy Eyeballs
style) or the :class:`~evweb.errors.DNSGetaddrinfoError`, which is a
:class:`socket.gaierror` with the EAI code as ``errno``, as the IO layer
expects. ``cancel()`` on the returned handle means the callback never runs.
"""

from __future__ import annotations

import socket
from typing import Any

from evweb.dns.cache import CachingResolver
from evweb.dns.getaddrinfo import AddrInfo, GetaddrinfoRequest, getaddrinfo
from evweb.errors import DNSGetaddrinfoError
from evweb.io.resolve import ResolveCallback, connect_addresses


class Lookup:
    """What :meth:`ConnectResolver.resolve` returns: ``cancel()`` and the callback never runs."""

    __slots__ = ("cancelled", "request")

    def __init__(self) -> None:
        self.cancelled = False
        self.request: GetaddrinfoRequest | None = None

    def cancel(self) -> None:
        """Forget the lookup (idempotent); its queries are cancelled."""
        if not self.cancelled:
            self.cancelled = True
            if self.request is not None:
                self.request.cancel()


class ConnectResolver:
    """The IO layer's Resolver protocol (``resolve(host, port, family, callback)``) over evweb DNS.

    ``resolver`` is a :class:`~evweb.dns.resolver.DNSResolver` (or anything of
    its shape); unless ``cache`` is False or it already is one, it is wrapped
    in a :class:`~evweb.dns.cache.CachingResolver`, so repeated connects to
    one host ask the DNS once per TTL. Hosts-file names and numeric hosts
    (``[::1]`` brackets allowed) are answered without a query.
    :meth:`close` closes the resolver.
    """

    def __init__(self, resolver: Any, *, cache: bool = True) -> None:
        if cache and not isinstance(resolver, CachingResolver):
            resolver = CachingResolver(resolver)
        self.resolver = resolver
        self.base = resolver.base

    def __repr__(self) -> str:
        return f"<ConnectResolver over {self.resolver!r}>"

    def resolve(self, host: str, port: int, family: int, callback: ResolveCallback) -> Lookup:
        """Resolve ``host`` for a TCP connect to ``port``; ``callback`` runs from the loop."""
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        lookup = Lookup()

        def done(result: list[AddrInfo] | DNSGetaddrinfoError) -> None:
            if lookup.cancelled:
                return
            lookup.cancelled = True
            if isinstance(result, list):
                callback(connect_addresses(result))
            else:
                callback(result)

        lookup.request = getaddrinfo(
            self.resolver, host, port, done, family=family, socktype=socket.SOCK_STREAM
        )
        return lookup

    @property
    def closed(self) -> bool:
        """Whether the resolver under it was closed."""
        return bool(self.resolver.closed)

    def close(self) -> None:
        """Close the resolver (queries in flight fail or are dropped, as it decides)."""
        self.resolver.close()

    def __enter__(self) -> ConnectResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_connect_resolver(base: Any) -> ConnectResolver:
    """The resolver connects on ``base`` use by default: evweb's DNS with a cache.

    It reads ``/etc/resolv.conf`` and ``/etc/hosts`` as libevent's
    ``evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS)`` does.
    ``import evweb`` installs this as the IO layer's default factory (see
    :func:`evweb.io.resolve.set_default_factory`).
    """
    from evweb.dns.resolver import DNSResolver

    return ConnectResolver(DNSResolver(base))
