"""An authoritative DNS server for zone files: :class:`ZoneServer`, behind ``evweb dns serve``.

The glue between the sans-IO parts (:mod:`evweb.dns.zonefile` reads the
files, :mod:`evweb.dns.zone` answers) and :class:`~evweb.dns.server.DNSServer`
(the sockets).

Why reloads look like this: a reload must never leave the server half
updated or without zones. :meth:`ZoneServer.reload` parses and checks every
file into a new :class:`~evweb.dns.zone.ZoneSet` first and only then swaps
it in, as one attribute assignment; the handler reads that attribute once
per query, so each query is answered wholly from the old zones or wholly
from the new. A file with an error leaves the old zones serving and the
error logged (``file:line: reason``) on ``evweb.dns``. The reload runs on
the loop (from the SIGHUP event, :meth:`reload_on_sighup`), so queries
arriving meanwhile wait in the sockets' buffers and are answered after it:
none is dropped.

With ``query_log`` each answer is logged at INFO on ``evweb.dns.queries``:
``peer transport name type -> RCODE answers/authority/additional``.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from typing import Any

from evweb.dns.constants import Rcode, rcode_to_text, type_to_text
from evweb.dns.server import ADDITIONAL, ANSWER, AUTHORITY, DNSServer, ServerRequest
from evweb.dns.zone import Answer, ZoneSet
from evweb.dns.zonefile import load_zone_files
from evweb.errors import ZoneFileError
from evweb.reactor import Event, EventBase

__all__ = ["ZoneServer", "load_zones"]

log = logging.getLogger("evweb.dns")
query_log = logging.getLogger("evweb.dns.queries")

_FORMERR = int(Rcode.FORMERR)


def load_zones(paths: Sequence[str], origin: str | None = None) -> ZoneSet:
    """Read, parse and check zone files into a :class:`~evweb.dns.zone.ZoneSet`.

    Raises :class:`~evweb.errors.ZoneFileError` (``file:line: reason``).
    """
    return ZoneSet.from_records(load_zone_files(list(paths), origin))


class ZoneServer:
    """Serves the zones of ``paths`` with a :class:`~evweb.dns.server.DNSServer` on ``base``.

    The files are loaded at once: a bad one raises
    :class:`~evweb.errors.ZoneFileError`. Then :meth:`listen` (UDP and TCP
    on one port), :meth:`reload_on_sighup` if wanted, and run the loop.
    ``server_options`` go to :class:`~evweb.dns.server.DNSServer`.
    """

    def __init__(
        self,
        base: EventBase,
        paths: Sequence[str],
        *,
        origin: str | None = None,
        query_log: bool = False,
        **server_options: Any,
    ) -> None:
        self.base = base
        self.paths = list(paths)
        self.origin = origin
        self.query_log = query_log
        self.zones = load_zones(self.paths, origin)
        self.reloads = 0
        self.failed_reloads = 0
        self._options = server_options
        self.server = DNSServer(base, self._handle, **server_options)
        self._sighup: Event | None = None
        self._log_loaded("loaded")

    def __repr__(self) -> str:
        return f"<ZoneServer {self.zones!r} on {self.server.udp_addresses}>"

    def listen(self, host: str = "127.0.0.1", port: int = 5353) -> tuple[Any, ...]:
        """Answer on UDP and TCP at ``host:port`` (port 0: a free one, the same for both)."""
        address = self.server.listen_udp((host, port))
        try:
            self.server.listen_tcp(address)
        except OSError:
            if port:
                raise
            self.server.close()  # the UDP port was free but not its TCP twin: retry once
            self.server = DNSServer(self.base, self._handle, **self._options)
            address = self.server.listen_udp((host, 0))
            self.server.listen_tcp(address)
        return address

    def reload(self) -> bool:
        """Re-read every file and swap the new zones in; on an error keep the old ones.

        Returns whether the new zones are in use; the outcome is logged.
        """
        try:
            zones = load_zones(self.paths, self.origin)
        except ZoneFileError as exc:
            self.failed_reloads += 1
            log.error("reload failed, still serving the previous zones: %s", exc)
            return False
        self.zones = zones
        self.reloads += 1
        self._log_loaded("reloaded")
        return True

    def reload_on_sighup(self) -> None:
        """Call :meth:`reload` on each SIGHUP (main thread only, as signal events are)."""
        if self._sighup is None:
            self._sighup = self.base.signal(signal.SIGHUP, self._on_sighup)
            self._sighup.add()

    def _on_sighup(self, signo: int, what: int, arg: Any) -> None:
        log.info("SIGHUP: reloading %s", ", ".join(self.paths))
        self.reload()

    def close(self) -> None:
        """Stop serving: close the sockets and forget the SIGHUP event."""
        if self._sighup is not None:
            self._sighup.delete()
            self._sighup = None
        self.server.close()

    def __enter__(self) -> ZoneServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log_loaded(self, what: str) -> None:
        for zone in self.zones.zones.values():
            log.info("%s %s: serial %d, %d records", what, zone.origin, zone.serial, zone.records)

    def _handle(self, request: ServerRequest) -> None:
        questions = request.message.questions
        if len(questions) != 1:
            request.respond(_FORMERR)
            return
        question = questions[0]
        qname = question.name
        found = self.zones.lookup(qname, question.qtype, question.qclass)
        add = request.add_reply
        for record in found.answers_for(qname):
            add(ANSWER, record)
        for record in found.authorities:
            add(AUTHORITY, record)
        for record in found.additionals:
            add(ADDITIONAL, record)
        if found.aa:
            request.set_flags(aa=True)
        request.respond(found.rcode)
        if self.query_log:
            _log_query(request, found)


def _log_query(request: ServerRequest, found: Answer) -> None:
    question = request.message.questions[0]
    query_log.info(
        "%s %s %s %s -> %s %d/%d/%d",
        request.peer[0] if isinstance(request.peer, tuple) else request.peer,
        request.transport,
        question.name,
        type_to_text(question.qtype),
        rcode_to_text(found.rcode),
        len(found.answers),
        len(found.authorities),
        len(found.additionals),
    )
