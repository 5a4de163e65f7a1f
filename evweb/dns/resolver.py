"""The asynchronous DNS resolver: libevent's evdns client on an evweb EventBase.

>>> resolver = DNSResolver(base)                      # /etc/resolv.conf and /etc/hosts
>>> resolver.resolve_ipv4("example.com", lambda result: print(result.addresses, result.ttl))
>>> resolver.query("example.com", "MX", on_mx)        # any type; result.answers holds the records
>>> base.dispatch()                                   # returns once nothing is outstanding

Every callback runs from the loop, never inside the call that started the
lookup, and gets a :class:`DNSResult`; a failed lookup has ``result.error``,
a :class:`~evweb.errors.DNSLookupError` whose ``code`` is libevent's
``DNS_ERR_*`` number (a :class:`~evweb.errors.DNSErrorCode`). Names that
cannot be looked up (empty labels, labels over 63 bytes, spaces or controls)
raise :class:`~evweb.errors.DNSNameError` before anything is sent.

The hosts file answers ``resolve_ipv4``/``resolve_ipv6``/``resolve_reverse``
and A, AAAA and PTR queries (libevent consults it in ``evdns_getaddrinfo``
only), unless ``QueryFlags.NO_HOSTS``: ``from_hosts`` tells such answers.

The sending rules (round-robin, retries, servers marked down and probed
back, REFUSED reissued, SERVFAIL as a timeout, TCP on truncation, EDNS0,
0x20) live in :mod:`evweb.dns._engine`; the per-server sockets in
:mod:`evweb.dns._nameserver` and :mod:`evweb.dns._tcp`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from typing import Any

from evweb.dns._engine import Engine
from evweb.dns._nameserver import Nameserver, format_address
from evweb.dns._request import Callback, DNSRequest
from evweb.dns._result import DNSResult, QueryFlags, failure
from evweb.dns.constants import RecordType, type_from_text
from evweb.dns.hosts import HostsFile
from evweb.dns.names import check_hostname, reverse_name
from evweb.dns.resolv_conf import (
    Address,
    ResolverConfig,
    apply_option,
    parse_nameserver,
    parse_resolv_conf,
    search_domain,
)
from evweb.errors import AddressError, DNSErrorCode, DNSLookupError, EventStateError
from evweb.reactor import EventBase

__all__ = ["DNSRequest", "DNSResolver", "DNSResult", "QueryFlags", "ResolverConfig"]

log = logging.getLogger("evweb.dns")

_A = int(RecordType.A)
_AAAA = int(RecordType.AAAA)
_PTR = int(RecordType.PTR)
_NO_HOSTS = int(QueryFlags.NO_HOSTS)
_NO_SEARCH = int(QueryFlags.NO_SEARCH)
_HOSTS_FAMILIES = {_A: socket.AF_INET, _AAAA: socket.AF_INET6}
# A name check_hostname accepts and leaves as it is (but for the final dot).
_PLAIN_NAME = re.compile(r"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?")
DEFAULT_NAMESERVER: Address = ("127.0.0.1", 53)
"""Used when ``resolv.conf`` names no nameserver or cannot be read, as libevent and glibc do."""


class DNSResolver(Engine):
    """Resolve names on ``base``'s loop (libevent's ``evdns_base``).

    ``config`` gives every setting (see :class:`ResolverConfig`); without
    it they come from ``resolv_conf`` (None: libevent's defaults and no
    nameserver). ``hosts`` is a hosts file (a path, or a ready
    :class:`~evweb.dns.hosts.HostsFile`) answering A, AAAA and PTR lookups
    without the network (None: none). With ``keep_loop_alive``
    False (libevent's ``EVDNS_BASE_DISABLE_WHEN_INACTIVE``) an idle resolver
    holds no event, so ``dispatch()`` returns once every lookup is done.
    """

    def __init__(
        self,
        base: EventBase,
        *,
        config: ResolverConfig | None = None,
        resolv_conf: str | None = "/etc/resolv.conf",
        hosts: str | HostsFile | None = "/etc/hosts",
        keep_loop_alive: bool = False,
    ) -> None:
        if config is None:
            config = ResolverConfig() if resolv_conf is None else read_resolv_conf(resolv_conf)
        self._engine_init(base, config.replace(nameservers=()), keep_loop_alive)
        self._hosts = hosts if hosts is None or isinstance(hosts, HostsFile) else read_hosts(hosts)
        for address in config.nameservers:
            try:
                self.add_nameserver(address)
            except OSError as exc:  # libevent warns and goes on with the others
                log.warning("cannot use nameserver %s: %s", format_address(address), exc)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.pending} pending"
        return f"<DNSResolver {len(self._servers)} nameservers, {state}>"

    # --- properties ---------------------------------------------------------------

    @property
    def base(self) -> EventBase:
        """The base whose loop runs the lookups and their callbacks."""
        return self._base

    @property
    def config(self) -> ResolverConfig:
        """The current settings (a frozen copy; change them with :meth:`set_option`)."""
        return self._config

    @property
    def keep_loop_alive(self) -> bool:
        """Whether an idle resolver keeps its events (and so the loop) alive."""
        return self._keep_alive

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def pending(self) -> int:
        """Lookups sent or waiting to be sent."""
        return self._inflight + len(self._waiting)

    @property
    def hosts(self) -> HostsFile | None:
        """The hosts table consulted before the network, or None."""
        return self._hosts

    # --- nameservers --------------------------------------------------------------

    @property
    def nameserver_count(self) -> int:
        """How many nameservers are configured (``evdns_base_count_nameservers``)."""
        return len(self._servers)

    @property
    def nameservers(self) -> list[Address]:
        """The nameservers' ``(ip, port)``, in the order they were added."""
        return [server.address for server in self._servers]

    def nameserver_up(self, address: str | tuple[Any, ...]) -> bool:
        """Whether the resolver thinks the nameserver at ``address`` is up."""
        wanted = _address_of(address)
        return any(server.up for server in self._servers if server.address == wanted)

    def add_nameserver(self, address: str | tuple[Any, ...]) -> bool:
        """Add a nameserver: ``"ip"``, ``"ip:port"``, ``"[v6]:port"`` or a socket address tuple.

        The port defaults to 53. Returns False when it is already there.
        Raises :class:`~evweb.errors.AddressError` for an address that is not
        numeric, and the :class:`OSError` of a socket that cannot be made.
        Waiting requests are sent unless the resolver is suspended.
        """
        self._check_open()
        key = _address_of(address)
        if any(server.address == key for server in self._servers):
            return False
        server = Nameserver(self._base, key, self._config, self)
        self._servers.append(server)
        if self._keep_alive:
            server.watch(True)
        self._config = self._config.replace(nameservers=(*self._config.nameservers, key))
        self._pump()
        return True

    def clear_nameservers(self) -> None:
        """Drop every nameserver and suspend (``evdns_base_clear_nameservers_and_suspend``).

        Requests in flight go back to the front of the waiting queue, to be
        sent from scratch after :meth:`resume` once nameservers are added.
        """
        self._requeue_inflight()
        for server in self._servers:
            self._drop_probe(server)
            server.close()
        self._servers.clear()
        self._next = 0
        self._config = self._config.replace(nameservers=())
        self._suspended = True

    def suspend(self) -> None:
        """Stop sending until :meth:`resume`; requests in flight go back to the waiting queue."""
        self._requeue_inflight()
        self._suspended = True

    def resume(self) -> None:
        """Send what waits again (``evdns_base_resume``)."""
        self._suspended = False
        self._pump()

    def _requeue_inflight(self) -> None:
        requests = [r for s in self._servers for r in s.inflight.values() if r._probe is None]
        requests.sort(key=lambda r: r._serial)
        for req in requests:
            self._unregister(req)
            req._tx = req._reissues = 0
        self._waiting.extendleft(reversed(requests))

    # --- options, search list, hosts -------------------------------------------------

    def set_option(self, name: str, value: str | None = "") -> None:
        """Set a libevent option by name (``evdns_base_set_option``), e.g. ``("ndots", "2")``.

        ``name`` may end with ``':'``. Raises :class:`~evweb.errors.ConfigError`
        for an unknown name or a value libevent refuses; numbers are clipped
        to libevent's ranges. ``bind-to`` and the socket buffer sizes apply
        to nameservers added afterwards, as in libevent.
        """
        self._config = apply_option(self._config, name, value)
        self._pump()

    def add_search(self, domain: str) -> None:
        """Append ``domain`` to the search list (libevent prepends; evweb keeps the order given)."""
        self._config = self._config.replace(search=(*self._config.search, search_domain(domain)))

    def clear_search(self) -> None:
        """Empty the search list (``evdns_base_search_clear``)."""
        self._config = self._config.replace(search=())

    def load_hosts(self, path: str | None) -> None:
        """Add a hosts file's entries (None: ``localhost`` as 127.0.0.1 and ::1, as libevent)."""
        table = HostsFile.localhost() if path is None else read_hosts(path)
        if self._hosts is None:
            self._hosts = table
        else:
            for address, name in table.entries():
                self._hosts.add(address, [name])

    def clear_hosts(self) -> None:
        """Forget every hosts entry (``evdns_base_clear_host_addresses``)."""
        self._hosts = None

    # --- lookups ----------------------------------------------------------------------

    def query(
        self,
        name: str,
        rtype: int | str,
        callback: Callback,
        flags: QueryFlags | int = QueryFlags.NONE,
    ) -> DNSRequest:
        """Look up records of type ``rtype`` (a number or a mnemonic: ``"MX"``) for ``name``.

        ``callback(result)`` runs later, from the loop. Names without a
        final dot are tried with the search domains (see ``ndots``) unless
        ``NO_SEARCH``; A, AAAA and PTR lookups are answered from the hosts
        file when it knows the name, unless ``NO_HOSTS``.
        """
        self._check_open()
        qtype = rtype if type(rtype) is int and 0 <= rtype <= 0xFFFF else type_from_text(rtype)
        normalized = checked_name(name)
        req = DNSRequest(self, name, qtype, callback, flags)
        hosts = self._hosts
        if hosts is not None and not req._flags & _NO_HOSTS and qtype in (_A, _AAAA, _PTR):
            result = self._from_hosts(hosts, req, normalized)
            if result is not None:
                req.qname = normalized
                self._deliver_later(req, result)
                return req
        req._candidates = self._candidates(name, normalized, qtype, req._flags)
        self._start_candidate(req, 0)
        self._submit(req)
        return req

    def resolve_ipv4(
        self, name: str, callback: Callback, flags: QueryFlags | int = QueryFlags.NONE
    ) -> DNSRequest:
        """Look up the A records of ``name`` (``evdns_base_resolve_ipv4``)."""
        return self.query(name, _A, callback, flags)

    def resolve_ipv6(
        self, name: str, callback: Callback, flags: QueryFlags | int = QueryFlags.NONE
    ) -> DNSRequest:
        """Look up the AAAA records of ``name`` (``evdns_base_resolve_ipv6``)."""
        return self.query(name, _AAAA, callback, flags)

    def resolve_reverse(
        self, address: str, callback: Callback, flags: QueryFlags | int = QueryFlags.NONE
    ) -> DNSRequest:
        """Look up the names of an IPv4 or IPv6 address (PTR in in-addr.arpa / ip6.arpa).

        The result's ``name`` is the reverse name asked (``4.3.2.1.in-addr.arpa.``)
        and its ``names`` the PTR targets. Raises
        :class:`~evweb.errors.DNSValueError` when ``address`` is not an address.
        """
        return self.query(reverse_name(address), _PTR, callback, flags | QueryFlags.NO_SEARCH)

    def _candidates(self, name: str, normalized: str, qtype: int, flags: int) -> list[str]:
        """The names to try in turn: libevent's search rules with ``ndots``."""
        search = self._config.search
        if not search or flags & _NO_SEARCH or name.endswith(".") or qtype == _PTR:
            return [normalized]
        stem = normalized[:-1]
        suffixed = [f"{stem}.{domain}" for domain in search if len(stem) + len(domain) < 254]
        if name.count(".") >= self._config.ndots:
            return [normalized, *suffixed]
        return [*suffixed, normalized]

    def _from_hosts(self, hosts: HostsFile, req: DNSRequest, qname: str) -> DNSResult | None:
        if req.rtype == _PTR:
            names = hosts.lookup_ptr(qname)
            if names is None:
                return None
            return DNSResult(req.name, qname, _PTR, names=names, from_hosts=True)
        addresses = hosts.lookup(qname, _HOSTS_FAMILIES[req.rtype])
        if addresses is None:
            return None
        result = DNSResult(req.name, qname, req.rtype, addresses=addresses, from_hosts=True)
        if not addresses:
            result.error = DNSLookupError(req.name, DNSErrorCode.NODATA)
        return result

    # --- lifetime -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise EventStateError("this DNSResolver is closed")

    def close(self, fail_requests: bool = True) -> None:
        """Stop and close every socket (``evdns_base_free``).

        Outstanding lookups end: with ``fail_requests`` their callbacks get
        ``SHUTDOWN`` (from the loop); without, they are dropped silently.
        """
        if self._closed:
            return
        self._closed = True
        requests = list(self._waiting)
        requests += [r for s in self._servers for r in s.inflight.values() if r._probe is None]
        self._waiting.clear()
        for req in requests:
            self._unregister(req)
            req._done = True
            if fail_requests:
                result = failure(req.name, req.qname, req.rtype, DNSErrorCode.SHUTDOWN)
                self._deliver_later(req, result)
        for server in self._servers:
            self._drop_probe(server)
            server.close()
        self._servers.clear()
        self._deadlines.clear()
        self._inflight = 0

    def __enter__(self) -> DNSResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- files ------------------------------------------------------------------------------


def checked_name(name: str) -> str:
    """``check_hostname(name)``, with a fast path for plain names (letters, digits, -, _)."""
    if len(name) - name.endswith(".") <= 253 and _PLAIN_NAME.fullmatch(name):
        return name if name.endswith(".") else name + "."
    return check_hostname(name)


def read_resolv_conf(path: str) -> ResolverConfig:
    """The configuration in the ``resolv.conf`` at ``path``, as libevent reads it at start-up.

    A file that cannot be read gives libevent's defaults; with no
    ``nameserver`` line, 127.0.0.1:53 is used (both logged at INFO).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError as exc:
        log.info("cannot read %s (%s): using the defaults", path, exc)
        text = ""
    config = parse_resolv_conf(text, path, hostname=socket.gethostname())
    if not config.nameservers:
        log.info("%s names no nameserver: using 127.0.0.1", path)
        config = config.replace(nameservers=(DEFAULT_NAMESERVER,))
    return config


def read_hosts(path: str) -> HostsFile:
    """The hosts file at ``path``; if unreadable, libevent's ``localhost`` entries."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError as exc:
        log.info("cannot read %s (%s): using localhost entries only", path, exc)
        return HostsFile.localhost()
    return HostsFile.parse(text, path)


def _address_of(address: str | tuple[Any, ...]) -> Address:
    """A nameserver's ``(ip, port)`` from text or a socket address tuple, the ip canonical."""
    if isinstance(address, str):
        host, port = parse_nameserver(address)
    elif isinstance(address, tuple) and len(address) in (2, 4):
        host, port = str(address[0]), address[1]
        if len(address) == 4 and address[3]:
            host = f"{host}%{address[3]}"
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise AddressError(str(address), f"port {port!r} is out of range 0..65535")
        port = port or 53
    else:
        raise AddressError(str(address), "expected 'ip[:port]' or an (ip, port) tuple")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise AddressError(str(address), f"{host!r} is not a numeric IP address") from None
    return str(ip), port
