"""The resolver's sending rules: where a request goes, what a reply does to it, when it is retried.

Why one module holds every rule. A request's life has many exits (an
answer, an error answer that moves to the next search name, a truncated
reply that moves to TCP, REFUSED that moves to another server, SERVFAIL or
silence that retransmit, a lost TCP connection, cancel, shutdown) and each
must leave the same books balanced: the server's id table, the in-flight
count that gates the waiting queue, the deadline queue and the events that
keep the loop alive. ``_transmit`` and ``_unregister`` are the only places
that change those books; every rule below is written in terms of them.

The rules are libevent's (see ``evdns.c``): round-robin over servers that
are up; retransmit on timeout to the next server until ``attempts``; mark a
server down after more than ``max_timeouts`` timeouts in a row, when a
request gives up on it, or on REFUSED/NOTIMPL (then reissue the request
once to another server); treat SERVFAIL as a timeout; retry a truncated
reply over TCP; probe down servers. Where evweb differs, on purpose: a
malformed reply, or one whose question differs from what was asked, is
ignored rather than failing the request (a spoofer cannot end a lookup);
with 0x20 on, the reply's question must repeat the sent name's case exactly
(libevent compares ignoring case then, which defeats the defence, and
exactly when it is off; evweb ignores case only when it is off); answers
are the records at the name asked or at the end of its CNAME chain; a TCP
retry goes to the server that truncated (RFC 7766); a lookup that ends on
SERVFAIL reports SERVERFAILED rather than TIMEOUT; a timeout counts against
the server that timed out (libevent charges the next one).

The hot path, per lookup: one query built (:func:`~evweb.dns._fastwire.query_wire`,
``make_query`` with the name's wire form cached), one ``send``, one ``recv``,
one dict lookup of the request by id in the server's table before any
parsing (datagrams nobody asked for are dropped unread), one parse (past the
echoed question when it matches byte for byte). Timeouts use no timer per
request: see :mod:`evweb.dns._deadlines`.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import deque

from evweb.dns._deadlines import Deadlines
from evweb.dns._fastwire import query_wire, question_end, read_echoing_reply
from evweb.dns._nameserver import Nameserver, format_address
from evweb.dns._request import DNSRequest, Entropy
from evweb.dns._result import DNSResult, QueryFlags, failure, from_reply
from evweb.dns._soon import SoonQueue
from evweb.dns.constants import Flag, Rcode, RecordType
from evweb.dns.message import Message
from evweb.dns.resolv_conf import ResolverConfig
from evweb.errors import DNSError, DNSErrorCode, DNSFormatError
from evweb.reactor import EventBase

log = logging.getLogger("evweb.dns")

PROBE_NAME = "google.com."
"""What libevent asks a down server to see whether it is back."""
MAX_REISSUES = 1
_ID = struct.Struct("!H")
_QR = int(Flag.QR)
_TC = int(Flag.TC)
_QR_TC = _QR | _TC
_USE_TCP = int(QueryFlags.USE_TCP)
_IGNORE_TC = int(QueryFlags.IGNORE_TC)
_SERVFAIL = int(Rcode.SERVFAIL)
_REFUSED = int(Rcode.REFUSED)
_REISSUE_RCODES = (int(Rcode.NOTIMP), _REFUSED)
_PROBE_OK_RCODES = (int(Rcode.NOERROR), int(Rcode.NXDOMAIN))
_QUESTIONLESS_RCODES = (int(Rcode.FORMERR), int(Rcode.SERVFAIL), int(Rcode.NOTIMP), _REFUSED)


class Engine:
    """The request state machine :class:`~evweb.dns.resolver.DNSResolver` is built on."""

    _base: EventBase
    _config: ResolverConfig
    _keep_alive: bool

    def _engine_init(self, base: EventBase, config: ResolverConfig, keep_alive: bool) -> None:
        self._base = base
        self._config = config
        self._keep_alive = keep_alive
        self._servers: list[Nameserver] = []
        self._next = 0  # round-robin position
        self._inflight = 0  # requests on the wire (probes not counted)
        self._waiting: deque[DNSRequest] = deque()
        self._deadlines: Deadlines[DNSRequest] = Deadlines(base, self._expired)
        self._serial = 0
        self._soon = SoonQueue(base)
        self._active = False
        self._suspended = False
        self._closed = False
        self._entropy = Entropy()

    # --- choosing a server and sending ----------------------------------------------

    def _pick(self) -> Nameserver:
        """The next server that is up, round-robin (or the first, without ``rotate``)."""
        servers = self._servers
        count = len(servers)
        if count == 1:
            return servers[0]
        start = self._next if self._config.rotate else 0
        for step in range(count):
            index = (start + step) % count
            if servers[index].up:
                self._next = (index + 1) % count
                return servers[index]
        server = servers[self._next % count]  # all down: go round them all
        self._next = (self._next + 1) % count
        return server

    def _submit(self, req: DNSRequest) -> None:
        """Send a new request, or queue it (max-inflight reached, no server, suspended)."""
        if self._inflight < self._config.max_inflight and self._servers and not self._suspended:
            self._transmit(req, self._pick())
        else:
            self._waiting.append(req)
        if not self._active:
            self._update_active()

    def _pump(self) -> None:
        """Send waiting requests while there is room."""
        waiting = self._waiting
        if not waiting or self._suspended or not self._servers:
            return
        limit = self._config.max_inflight
        while waiting and self._inflight < limit:
            self._transmit(waiting.popleft(), self._pick())

    def _transmit(self, req: DNSRequest, server: Nameserver) -> None:
        """Register ``req`` with ``server`` under a fresh id, arm its deadline, send it."""
        config = self._config
        inflight = server.inflight
        ident = self._entropy.id16()
        while ident in inflight:
            ident = self._entropy.id16()
        wire = req._wire
        if wire is None:
            edns = config.edns_udp_size if config.edns_udp_size > 512 else None
            wire = query_wire(req._sent, req.rtype, ident, edns)
        else:
            wire = _ID.pack(ident) + wire[2:]
        req._wire = wire
        req._id = ident
        req._server = server
        req._tx += 1
        inflight[ident] = req
        if req._probe is None:
            self._inflight += 1
        if len(inflight) == 1 and not self._keep_alive:
            server.watch(True)
        self._serial += 1
        req._serial = serial = self._serial
        self._deadlines.push(time.monotonic() + config.timeout, serial, req)
        if req._tcp:
            server.tcp_pending += 1
            server.send_tcp(wire, config, self._keep_alive)
            if server.tcp_pending == 1:
                server.tcp_busy(True, config.tcp_idle_timeout)
        else:
            server.send(wire)

    def _unregister(self, req: DNSRequest) -> None:
        """Take ``req`` off its server (late replies to it are then ignored)."""
        server = req._server
        if server is None:
            return
        req._server = None
        req._serial = 0
        server.inflight.pop(req._id, None)
        if req._probe is None:
            self._inflight -= 1
        if req._tcp:
            server.tcp_pending -= 1
            if not server.tcp_pending:
                server.tcp_busy(False, self._config.tcp_idle_timeout)
        if not server.inflight and not self._keep_alive:
            server.watch(False)
        self._deadlines.drop_stale()

    # --- timeouts ----------------------------------------------------------------------

    def _expired(self, req: DNSRequest) -> None:
        """No reply in time: retry; over TCP the connection goes too (libevent)."""
        server = req._server
        if not req._tcp or server is None or req._probe is not None:
            self._retry(req)
            return
        others = [r for r in server.inflight.values() if r._tcp and r is not req]
        server.drop_tcp()
        self._retry(req)
        for other in others:
            self._retry(other, count=False)

    # --- replies ----------------------------------------------------------------------

    def _on_reply(self, server: Nameserver, data: bytes, via_tcp: bool) -> None:
        """A message from ``server``: find its request, check it answers it, act on it.

        A reply that repeats the query's question byte for byte (the usual
        case) is read past its question only (:mod:`evweb.dns._fastwire`);
        anything else goes through the full parse.
        """
        if len(data) < 12:
            return
        req = server.inflight.get(data[0] << 8 | data[1])
        if req is None or req._tcp != via_tcp:
            return  # nothing asked under this id here: not even parsed
        wire = req._wire
        msg = None if wire is None else read_echoing_reply(data, wire, req._sent, req.rtype)
        if msg is None:  # not the question sent, byte for byte: parse in full, then check
            msg = self._parse(server, data, via_tcp)
            if msg is None or not self._answers(req, msg):
                return
        if not msg.flags & _QR or msg.opcode:
            return
        server.timeouts = 0
        self._decide(req, server, msg, via_tcp)

    def _parse(self, server: Nameserver, data: bytes, via_tcp: bool) -> Message | None:
        try:
            return Message.parse(data)
        except DNSFormatError as exc:
            self._on_malformed(server, data, exc, via_tcp)
        except (DNSError, ValueError) as exc:  # not the codec's promise, but never a crash
            log.debug("ignored an unreadable reply from %s: %r", server, exc)
        return None

    def _answers(self, req: DNSRequest, msg: Message) -> bool:
        """Whether ``msg`` asks ``req``'s question (0x20 on: in the exact case sent)."""
        questions = msg.questions
        if not questions:  # an answer must say what it answers; some error replies do not
            return bool(msg.flags & _TC or msg.rcode in _QUESTIONLESS_RCODES)
        if len(questions) != 1:
            return False
        question = questions[0]
        name, sent = question.name, req._sent
        if name != sent and (self._config.randomize_case or name.lower() != sent.lower()):
            return False
        return question.qtype == req.rtype and question.qclass == 1

    def _on_malformed(
        self, server: Nameserver, data: bytes, exc: DNSFormatError, via_tcp: bool
    ) -> None:
        """A reply that does not parse counts only as a truncated one: TC set, question intact."""
        req = server.inflight.get(exc.id) if exc.id is not None else None
        flags = exc.flags or 0
        wire = req._wire if req is not None else None
        if req is None or wire is None or via_tcp or req._tcp or flags & _QR_TC != _QR_TC:
            log.debug("ignored a malformed reply from %s: %s", server, exc)
            return
        end = question_end(wire)
        got, sent = data[12:end], wire[12:end]
        if data[4:6] != b"\x00\x01" or not (
            got == sent or (not self._config.randomize_case and got.lower() == sent.lower())
        ):
            return
        server.timeouts = 0
        self._truncated(req, server, flags & 0xF)

    def _decide(self, req: DNSRequest, server: Nameserver, msg: Message, via_tcp: bool) -> None:
        rcode = msg.rcode
        if req._probe is not None:
            self._probe_done(req, rcode in _PROBE_OK_RCODES or bool(msg.flags & _TC))
            return
        if msg.flags & _TC and not via_tcp:
            self._truncated(req, server, rcode)
            return
        if rcode == _SERVFAIL:
            self._retry(req, servfail=True)
            return
        if rcode in _REISSUE_RCODES:
            if self._reissue(req, server, rcode):
                return
        else:
            self._server_up(server)
        result = from_reply(req.name, req.qname, req.rtype, msg, req._sent)
        result.server = server.address
        if result.error is not None and self._next_candidate(req):
            return
        self._complete(req, result)

    def _truncated(self, req: DNSRequest, server: Nameserver, rcode: int) -> None:
        """TC: retry over TCP, or fail with TRUNCATED when told to ignore TC."""
        self._server_up(server)
        if req._flags & _IGNORE_TC or self._config.ignore_tc:
            result = failure(req.name, req.qname, req.rtype, DNSErrorCode.TRUNCATED, rcode)
            result.server = server.address
            self._complete(req, result)
            return
        self._unregister(req)
        req._tcp = True
        req._tx = 0
        self._transmit(req, server)

    def _reissue(self, req: DNSRequest, server: Nameserver, rcode: int) -> bool:
        """REFUSED/NOTIMPL: the server is marked down and the request tried once elsewhere."""
        if req._reissues >= MAX_REISSUES:
            return False
        self._server_down(server, f"answered {Rcode(rcode).name}")
        other = self._pick()
        if other is server:
            return False
        req._reissues += 1
        self._unregister(req)
        req._tx = 0
        self._transmit(req, other)
        return True

    # --- retries ----------------------------------------------------------------------

    def _retry(self, req: DNSRequest, count: bool = True, servfail: bool = False) -> None:
        """Retransmit after a timeout (or SERVFAIL), or give up after ``attempts``."""
        if req._done or self._closed:
            return
        server = req._server
        self._unregister(req)
        if req._probe is not None:
            if req._tx < max(1, self._config.attempts) and not req._probe.closed:
                self._transmit(req, req._probe)
            else:
                self._probe_done(req, False)
            return
        config = self._config
        if server is not None and count:
            server.timeouts += 1
        if req._tx >= config.attempts:
            if server is not None:
                self._server_down(server, "a request timed out")
            code = DNSErrorCode.SERVERFAILED if servfail else DNSErrorCode.TIMEOUT
            rcode = _SERVFAIL if servfail else None
            self._complete(req, failure(req.name, req.qname, req.rtype, code, rcode))
            return
        if server is not None and server.timeouts > config.max_timeouts:
            server.timeouts = 0
            self._server_down(server, f"more than {config.max_timeouts} timeouts in a row")
        if req._tcp and server is not None and not server.closed:
            self._transmit(req, server)
        elif self._servers and not self._suspended:
            self._transmit(req, self._pick())
        else:
            self._waiting.appendleft(req)

    def _retry_tcp(self, server: Nameserver, count: bool) -> None:
        """Retry every request waiting on ``server``'s TCP connection."""
        for req in [r for r in server.inflight.values() if r._tcp]:
            self._retry(req, count=count)

    def _on_tcp_lost(self, server: Nameserver) -> None:
        """The server closed the connection or it failed: retry its requests at once."""
        self._retry_tcp(server, count=False)

    def _on_server_error(self, server: Nameserver, exc: OSError) -> None:
        """Reading failed (an ICMP error, typically): down, and retry its requests now."""
        self._server_down(server, f"{type(exc).__name__}: {exc}")
        for req in [r for r in server.inflight.values() if not r._tcp]:
            self._retry(req)

    def _on_send_error(self, server: Nameserver, exc: OSError) -> None:
        """Sending failed: down; the request's deadline retries it (no recursion from here)."""
        self._server_down(server, f"{type(exc).__name__}: {exc}")

    def _next_candidate(self, req: DNSRequest) -> bool:
        """Move a search to its next name; False when there is none."""
        index = req._index + 1
        if index >= len(req._candidates):
            return False
        self._unregister(req)
        self._start_candidate(req, index)
        self._transmit(req, self._pick())
        return True

    def _start_candidate(self, req: DNSRequest, index: int) -> None:
        config = self._config
        req._index = index
        req.qname = qname = req._candidates[index]
        req._sent = self._entropy.random_case(qname) if config.randomize_case else qname
        req._wire = None
        req._tx = 0
        req._reissues = 0
        req._tcp = bool(req._flags & _USE_TCP) or config.use_vc

    # --- servers up and down, probes ---------------------------------------------------

    def _server_down(self, server: Nameserver, reason: str) -> None:
        if not server.up or server.closed:
            return
        server.up = False
        server.failed_times = 1
        log.warning("nameserver %s is down: %s", format_address(server.address), reason)
        delay = self._config.initial_probe_timeout
        server.arm_probe(delay, self._active or self._keep_alive)

    def _server_up(self, server: Nameserver) -> None:
        if server.up:
            return
        server.up = True
        server.failed_times = 0
        server.cancel_probe_timer()
        self._drop_probe(server)
        log.info("nameserver %s is up", format_address(server.address))

    def _drop_probe(self, server: Nameserver) -> None:
        """Forget ``server``'s probe in flight, if any."""
        probe = server.probe
        if probe is not None:
            server.probe = None
            self._unregister(probe)
            probe._done = True

    def _on_probe_due(self, server: Nameserver) -> None:
        if server.closed or server.up or server.probe is not None:
            return
        server.probe_due = None
        probe = DNSRequest(self, PROBE_NAME, int(RecordType.A), _ignore, QueryFlags.NO_SEARCH)
        probe._probe = server
        probe._candidates = [PROBE_NAME]
        self._start_candidate(probe, 0)
        probe._tcp = False
        server.probe = probe
        self._transmit(probe, server)

    def _probe_done(self, probe: DNSRequest, ok: bool) -> None:
        server = probe._probe
        self._unregister(probe)
        probe._done = True
        if server is None or server.probe is not probe or server.closed:
            return
        server.probe = None
        if ok:
            self._server_up(server)
            return
        delay = server.next_probe_delay(self._config)
        server.failed_times += 1
        server.arm_probe(delay, self._active or self._keep_alive)

    # --- finishing ----------------------------------------------------------------------

    def _complete(self, req: DNSRequest, result: DNSResult) -> None:
        """The request is over: free its slot, send what waits, run its callback."""
        self._unregister(req)
        req._done = True
        self._pump()
        if self._active and not self._inflight and not self._waiting:
            self._update_active()
        req._callback(result)

    def _deliver_later(self, req: DNSRequest, result: DNSResult) -> None:
        """Run the callback from the loop (for outcomes decided outside a loop callback)."""
        req._done = True
        self._soon.call(req._callback, result)

    def _update_active(self) -> None:
        """Track whether requests are outstanding; probes wait while none is (no keep-alive)."""
        active = bool(self._inflight or self._waiting)
        if active == self._active:
            return
        self._active = active
        if self._keep_alive:
            return
        for server in self._servers:
            if not server.up:
                if active:
                    server.resume_probe()
                else:
                    server.pause_probe()

    def _cancel(self, req: DNSRequest) -> None:
        """``req.cancel()``: off the wire or out of the queue; CANCEL from the loop."""
        if req._done or req._probe is not None:
            return
        if req._server is not None:
            self._unregister(req)
            self._pump()
        else:
            try:
                self._waiting.remove(req)
            except ValueError:
                pass
        self._deliver_later(req, failure(req.name, req.qname, req.rtype, DNSErrorCode.CANCEL))
        self._update_active()


def _ignore(result: DNSResult) -> None:
    """The callback of probes: their outcome is read by the engine."""
