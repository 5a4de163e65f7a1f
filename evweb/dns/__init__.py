r"""DNS: a sans-IO wire codec (messages, records, names) and the resolver built on it.

Queries go to bytes and replies come back as :class:`Message` objects::

    >>> from evweb.dns import Message, make_query, Record, A, RecordType
    >>> wire = make_query("example.com", "A", id=4242, edns_udp_size=1232)
    >>> query = Message.parse(wire)
    >>> query.id, query.rd, query.questions[0].to_text(), query.edns_payload
    (4242, True, 'example.com. IN A', 1232)
    >>> reply = query.reply()
    >>> reply.answers.append(Record("example.com.", 300, A("192.0.2.1")))
    >>> answer = Message.parse(reply.to_wire(max_size=512)).answers[0]
    >>> answer.to_text(), answer.rtype == RecordType.A
    ('example.com. 300 IN A 192.0.2.1', True)

Names are ``str`` in presentation form (``"www.example.com."``, escapes as
``\.`` and ``\DDD``), their case kept both ways (see :mod:`evweb.dns.names`).
Malformed wire data raises :class:`~evweb.errors.DNSFormatError` (rcode
FORMERR, with ``.offset``, ``.id`` and ``.flags``); bad names given in text,
:class:`~evweb.errors.DNSNameError`; values that cannot be encoded,
:class:`~evweb.errors.DNSValueError`.

The resolver (:class:`DNSResolver`, libevent's ``evdns_base``) runs lookups
on an :class:`~evweb.reactor.EventBase` and hands each callback a
:class:`DNSResult`, from the loop. Here a hosts table answers and no
nameserver is configured, so nothing leaves the machine::

    >>> from evweb.dns import DNSResolver, HostsFile
    >>> from evweb.reactor import EventBase
    >>> base = EventBase()
    >>> hosts = HostsFile.parse("192.0.2.7 intranet.example intranet\n")
    >>> resolver = DNSResolver(base, resolv_conf=None, hosts=hosts)
    >>> answers = []
    >>> request = resolver.resolve_ipv4("intranet", answers.append)
    >>> answers                          # nothing yet: callbacks run from the loop
    []
    >>> base.dispatch()                  # 1, as libevent: it ran out of events
    1
    >>> answers[0].addresses, answers[0].from_hosts, answers[0].qname
    (['192.0.2.7'], True, 'intranet.')
    >>> resolver.close(); base.close()

The same resolver feeds :func:`getaddrinfo` (libevent's ``evdns_getaddrinfo``),
a :class:`CachingResolver` (TTLs, negative answers, a :class:`DNSCache`) and
:class:`ConnectResolver` (connects by name); their modules say more.
"""

from __future__ import annotations

from evweb.dns._wire import Reader as _Reader
from evweb.dns.cache import CacheStats, CachingResolver, DNSCache
from evweb.dns.connect import ConnectResolver
from evweb.dns.constants import (
    EDNS_DO,
    Flag,
    Opcode,
    Rcode,
    RecordClass,
    RecordType,
    class_from_text,
    class_to_text,
    opcode_to_text,
    rcode_to_text,
    type_from_text,
    type_to_text,
)

# Binding the function ``getaddrinfo`` here hides the submodule of that name as
# an attribute of this package: reach the module by ``from evweb.dns.getaddrinfo
# import ...``, not as ``evweb.dns.getaddrinfo.<name>``.
from evweb.dns.getaddrinfo import GetaddrinfoRequest, getaddrinfo
from evweb.dns.hosts import HostsFile
from evweb.dns.message import Message, make_query
from evweb.dns.names import (
    check_hostname,
    name_key,
    name_to_wire,
    names_equal,
    normalize_name,
    reverse_name,
)
from evweb.dns.rdata import AAAA, CNAME, MX, NS, OPT, PTR, SOA, SRV, TXT, A, Opaque, Rdata
from evweb.dns.records import Edns, Question, Record
from evweb.dns.resolver import (
    DNSRequest,
    DNSResolver,
    DNSResult,
    QueryFlags,
    ResolverConfig,
    read_hosts,
    read_resolv_conf,
)
from evweb.dns.server import ADDITIONAL, ANSWER, AUTHORITY, DNSServer, ServerRequest


def name_from_wire(data: bytes, offset: int = 0) -> tuple[str, int]:
    """Read the (possibly compressed) name at ``offset`` of a message's bytes.

    Returns the name and the offset after its own bytes. Raises
    :class:`~evweb.errors.DNSFormatError` as :meth:`Message.parse` would.
    """
    return _Reader(bytes(data)).name(offset, len(data))


__all__ = [
    "ADDITIONAL",
    "ANSWER",
    "AUTHORITY",
    "DNSServer",
    "ServerRequest",
    "AAAA",
    "CNAME",
    "EDNS_DO",
    "MX",
    "NS",
    "OPT",
    "PTR",
    "SOA",
    "SRV",
    "TXT",
    "A",
    "CacheStats",
    "CachingResolver",
    "ConnectResolver",
    "DNSCache",
    "DNSRequest",
    "DNSResolver",
    "DNSResult",
    "Edns",
    "Flag",
    "GetaddrinfoRequest",
    "HostsFile",
    "Message",
    "Opaque",
    "Opcode",
    "QueryFlags",
    "Question",
    "Rcode",
    "Rdata",
    "Record",
    "RecordClass",
    "RecordType",
    "ResolverConfig",
    "check_hostname",
    "class_from_text",
    "class_to_text",
    "getaddrinfo",
    "make_query",
    "name_from_wire",
    "name_key",
    "name_to_wire",
    "names_equal",
    "normalize_name",
    "opcode_to_text",
    "rcode_to_text",
    "read_hosts",
    "read_resolv_conf",
    "reverse_name",
    "type_from_text",
    "type_to_text",
]
