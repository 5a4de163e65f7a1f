"""Look names up all at once with evweb's DNS resolver: libevent's sample/dns-example.c, ported.

Every name on the command line is asked at the same time and each answer is
printed when it arrives, one line per address, name or record: the lines
come in the order the answers do.

    python apps/dns_lookup.py NAME [NAME ...]            # A records (CNAMEs followed)
    python apps/dns_lookup.py -t MX NAME ...             # any type: AAAA, MX, NS, SOA, TXT, SRV...
    python apps/dns_lookup.py -x 192.0.2.1 2001:db8::1   # reverse lookups (PTR)
    python apps/dns_lookup.py --getaddrinfo NAME ...     # getaddrinfo, cached; then the cache stats
    python apps/dns_lookup.py --server 9.9.9.9 -T NAME   # ask this nameserver only, over TCP
    python apps/dns_lookup.py --self-test                # a hosts file, then dnsmasq if installed

The nameservers are /etc/resolv.conf's (``-c FILE`` for another) unless
``--server IP[:PORT]`` (repeatable) names them; /etc/hosts answers A, AAAA and
PTR lookups first (``--hosts FILE`` for another, ``--hosts ''`` for none).
``--getaddrinfo`` asks through a :class:`~evweb.dns.CachingResolver` and does
it ``--rounds`` times (1): from the second round on, the answers come from the
cache. ``-v`` shows the resolver's log on stderr (INFO; ``-vv``: DEBUG);
warnings show anyway, as with the C sample's log function.

Where it differs from dns-example.c: ``-T`` asks over TCP (``DNS_QUERY_USEVC``,
as ``host -T``) where the C sample starts a toy DNS server on port 10053;
``-x`` takes IPv6 addresses too; ``-t`` takes any type; the exit status is 1
when a name got no answer (the C sample always exits 0), 2 for a wrong
command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for evweb

from evweb.dns import (
    CacheStats,
    CachingResolver,
    DNSResolver,
    DNSResult,
    Message,
    QueryFlags,
    RecordType,
    getaddrinfo,
    make_query,
    names_equal,
    type_from_text,
    type_to_text,
)
from evweb.errors import DNSGetaddrinfoError, EvwebError
from evweb.reactor import EventBase

Answers = list[tuple[str, Any]]  # (name asked, DNSResult | addrinfo list | DNSGetaddrinfoError)
_A, _AAAA, _PTR = int(RecordType.A), int(RecordType.AAAA), int(RecordType.PTR)
_ADDRESS_TYPES = (_A, _AAAA)
log = logging.getLogger("dns_lookup")


# -- printing ----------------------------------------------------------------------------------


def result_lines(name: str, result: DNSResult) -> list[str]:
    """One line per address, name or record a resolver answer holds, or one for its error."""
    if result.error is not None:
        code = result.error.code
        return [f"{name}: no answer: {code.description} ({code.name})"]
    rtype = type_to_text(result.rtype)
    where = "from hosts" if result.from_hosts else f"ttl={result.ttl}"
    if result.rtype in _ADDRESS_TYPES:
        lines = [f"{name}: {target} (CNAME)" for target in result.names]
        return lines + [f"{name}: {address} ({rtype} {where})" for address in result.addresses]
    if result.rtype == _PTR:
        return [f"{name}: {target} (PTR {where})" for target in result.names]
    records = [
        r
        for r in result.answers
        if r.rtype == result.rtype and names_equal(r.name, result.canonical_name)
    ]
    return [f"{name}: {r.data.to_text()} ({rtype} ttl={r.ttl})" for r in records]


def addrinfo_lines(name: str, outcome: list[Any] | DNSGetaddrinfoError) -> list[str]:
    """One line per address getaddrinfo gave (the canonical name first), or one for its error."""
    if isinstance(outcome, DNSGetaddrinfoError):
        return [f"{name}: {outcome.strerror} (EAI {outcome.eai})"]
    canon = next((info[3] for info in outcome if info[3]), "")
    lines = [f"{name}: canonical name {canon}"] if canon and canon != name else []
    for i, (family, _type, _proto, _canon, sockaddr) in enumerate(outcome):
        kind = "IPv6" if family == socket.AF_INET6 else "IPv4"
        lines.append(f"[{i}] {name}: {sockaddr[0]} ({kind})")
    return lines


def stats_line(stats: CacheStats, joined: int) -> str:
    """The cache's counters on one line."""
    return (
        f"cache: {stats.lookups} lookups, {stats.hits} hits, {stats.negative_hits} negative hits,"
        f" {stats.misses} misses, {stats.stored} stored, {stats.size} held,"
        f" {joined} joined in flight (hit ratio {stats.hit_ratio:.0%})"
    )


def show(lines: list[str], out: Callable[[str], object]) -> None:
    for line in lines:
        out(line)


# -- looking up --------------------------------------------------------------------------------


def make_resolver(
    base: EventBase, servers: list[str], resolv_conf: str | None, hosts: str | None
) -> DNSResolver:
    """A resolver asking ``servers`` (when given, else the resolv.conf's), ``hosts`` first."""
    resolver = DNSResolver(base, resolv_conf=None if servers else resolv_conf, hosts=hosts or None)
    for server in servers:
        resolver.add_nameserver(server)
    return resolver


def lookup_all(
    resolver: DNSResolver,
    names: list[str],
    rtype: int,
    flags: QueryFlags,
    reverse: bool = False,
    out: Callable[[str], object] = print,
) -> Answers:
    """Ask for every name at once (PTR of addresses with ``reverse``); the answers as they came."""
    answers: Answers = []
    for name in names:

        def done(result: DNSResult, name: str = name) -> None:
            answers.append((name, result))
            show(result_lines(name, result), out)

        log.info("resolving %s...", name)
        try:
            if reverse:
                resolver.resolve_reverse(name, done, flags)
            else:
                resolver.query(name, rtype, done, flags)
        except EvwebError as exc:  # not an address (-x), or not a name that can be asked
            print(f"skipping {name}: {exc}", file=sys.stderr)
    resolver.base.dispatch()  # returns once every answer is in
    return answers


def getaddrinfo_all(
    resolver: CachingResolver,
    names: list[str],
    flags: QueryFlags,
    rounds: int = 1,
    out: Callable[[str], object] = print,
) -> Answers:
    """getaddrinfo for every name at once, ``rounds`` times; the answers as they came."""
    answers: Answers = []
    for _ in range(rounds):
        for name in names:

            def done(outcome: list[Any] | DNSGetaddrinfoError, name: str = name) -> None:
                answers.append((name, outcome))
                show(addrinfo_lines(name, outcome), out)

            getaddrinfo(
                resolver,
                name,
                None,
                done,
                socktype=socket.SOCK_STREAM,
                flags=socket.AI_CANONNAME,
                query_flags=flags,
            )
        resolver.base.dispatch()
    return answers


def succeeded(outcome: Any) -> bool:
    """Whether a resolver or getaddrinfo answer is not an error."""
    return isinstance(outcome, list) or (isinstance(outcome, DNSResult) and outcome.ok)


def answered(answers: Answers, names: list[str], rounds: int = 1) -> bool:
    """Whether each name got an answer that is not an error (in every round)."""
    good = sum(succeeded(outcome) for _, outcome in answers)
    return len(answers) == good == len(names) * rounds


# -- the command line --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("-x", dest="reverse", action="store_true", help="reverse lookups (PTR)")
    parser.add_argument("-t", "--type", default="A", help="record type to ask for (A)")
    parser.add_argument("-g", "--getaddrinfo", action="store_true", help="getaddrinfo, cached")
    parser.add_argument("--rounds", type=int, default=1, help="getaddrinfo rounds (1)")
    parser.add_argument("-T", dest="tcp", action="store_true", help="ask over TCP")
    parser.add_argument("-s", "--server", action="append", default=[], metavar="IP[:PORT]")
    parser.add_argument("-c", dest="resolv_conf", default="/etc/resolv.conf", metavar="FILE")
    parser.add_argument("--hosts", default="/etc/hosts", metavar="FILE")
    parser.add_argument("-v", dest="verbose", action="count", default=0, help="log (-vv: more)")
    parser.add_argument("--self-test", action="store_true", help="check, without the network")
    args = parser.parse_args(argv)
    if not args.self_test and not args.names:
        parser.error("give at least one NAME (or --self-test)")
    if args.getaddrinfo and (args.reverse or args.type.upper() != "A"):
        parser.error("--getaddrinfo asks for addresses: no -x or -t with it")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def run(args: argparse.Namespace) -> int:
    flags = QueryFlags.USE_TCP if args.tcp else QueryFlags.NONE
    with EventBase() as base:
        try:
            rtype = type_from_text(args.type)
            resolver = make_resolver(base, args.server, args.resolv_conf, args.hosts)
        except (EvwebError, ValueError) as exc:
            print(f"dns_lookup: {exc}", file=sys.stderr)
            return 2
        if not args.getaddrinfo:
            with resolver:
                answers = lookup_all(resolver, args.names, rtype, flags, args.reverse)
            return 0 if answered(answers, args.names) else 1
        caching = CachingResolver(resolver)
        try:
            answers = getaddrinfo_all(caching, args.names, flags, args.rounds)
            print(stats_line(caching.cache.statistics(), caching.joined))
        finally:
            caching.close()
        return 0 if answered(answers, args.names, args.rounds) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s: %(message)s")
    return self_test() if args.self_test else run(args)


# -- self-test ---------------------------------------------------------------------------------

DNSMASQ = "/usr/sbin/dnsmasq"
HOSTS = "192.0.2.10 alpha.test alpha\n192.0.2.11 beta.test\n2001:db8::11 beta.test\n"
RECORDS = {"www.selftest.example": "192.0.2.1", "mail.selftest.example": "192.0.2.3"}


class Checks:
    """Prints ``self-test: ok/FAIL label`` lines and remembers the failures."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, label: str, ok: bool) -> None:
        print(f"self-test: {'ok  ' if ok else 'FAIL'} {label}", flush=True)
        if not ok:
            self.failures.append(label)


def found(answers: Answers) -> dict[str, list[str]]:
    """What each name resolved to: addresses (or PTR names); the error code name on failure."""
    out: dict[str, list[str]] = {}
    for name, outcome in answers:
        if isinstance(outcome, list):
            got = [str(info[4][0]) for info in outcome]
        elif isinstance(outcome, DNSGetaddrinfoError):
            got = [f"EAI {outcome.eai}"]
        elif outcome.error is not None:
            got = [outcome.error.code.name]
        else:
            got = outcome.addresses or outcome.names
        out.setdefault(name, []).extend(got)
    return out


def check_hosts(check: Checks, hosts: str) -> None:
    """Resolve through the hosts file alone: no nameserver, so nothing leaves the machine."""
    with EventBase() as base, make_resolver(base, [], None, hosts) as resolver:
        got = found(lookup_all(resolver, ["alpha", "beta.test"], _A, QueryFlags.NONE))
        check(
            "hosts: A of alpha and beta.test",
            got == {"alpha": ["192.0.2.10"], "beta.test": ["192.0.2.11"]},
        )
        got = found(
            lookup_all(resolver, ["192.0.2.10", "2001:db8::11"], _PTR, QueryFlags.NONE, True)
        )
        check(
            "hosts: -x of an IPv4 and an IPv6 address",
            got == {"192.0.2.10": ["alpha.test.", "alpha."], "2001:db8::11": ["beta.test."]},
        )
        caching = CachingResolver(resolver)
        got = found(getaddrinfo_all(caching, ["beta.test"], QueryFlags.NONE))
        check(
            "hosts: getaddrinfo gives both families",
            got == {"beta.test": ["192.0.2.11", "2001:db8::11"]},
        )


def check_dnsmasq(check: Checks, server: str) -> None:
    """Resolve through a real nameserver: UDP, TCP, reverse, NXDOMAIN, getaddrinfo and the cache."""
    names = [*RECORDS, "missing.selftest.example"]
    expected = {**{name: [address] for name, address in RECORDS.items()}, names[-1]: ["NOTEXIST"]}
    with EventBase() as base, make_resolver(base, [server], None, None) as resolver:
        got = found(lookup_all(resolver, names, _A, QueryFlags.NONE))
        check("dnsmasq: A records and an NXDOMAIN, concurrently", got == expected)
        got = found(lookup_all(resolver, names, _A, QueryFlags.USE_TCP))
        check("dnsmasq: the same over TCP (-T)", got == expected)
        got = found(lookup_all(resolver, ["192.0.2.1"], _PTR, QueryFlags.NONE, True))
        check("dnsmasq: -x 192.0.2.1", got == {"192.0.2.1": ["www.selftest.example."]})
        caching = CachingResolver(resolver)
        got = found(getaddrinfo_all(caching, list(RECORDS), QueryFlags.NONE, rounds=2))
        check("dnsmasq: getaddrinfo, twice", got == {n: [a, a] for n, a in RECORDS.items()})
        stats = caching.cache.statistics()
        print(stats_line(stats, caching.joined))
        check("dnsmasq: the second round came from the cache", stats.hits >= len(RECORDS))
    argv = ["-s", server, "--hosts", "", "-T", "-g", "--rounds", "2", *RECORDS]
    check("dnsmasq: the command line (-s IP:PORT -T -g --rounds 2)", run(parse_args(argv)) == 0)
    check("dnsmasq: exit status 1 for an NXDOMAIN", run(parse_args(["-s", server, names[-1]])) == 1)


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


def start_dnsmasq(workdir: str) -> tuple[subprocess.Popen[bytes], int]:
    """dnsmasq on 127.0.0.1 answering RECORDS only (any other name: NXDOMAIN); waits till up."""
    port = free_port()
    command = [
        DNSMASQ,
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        f"--port={port}",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--local=/#/",
        "--local-ttl=300",
        "--pid-file=",
        f"--user={pwd.getpwuid(os.geteuid()).pw_name}",  # as root it would become nobody
        f"--log-facility={os.path.join(workdir, 'dnsmasq.log')}",
        *(f"--host-record={name},{address}" for name, address in RECORDS.items()),
    ]
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(command, stdin=quiet, stdout=quiet, stderr=quiet)
    try:
        wait_ready(process, port)
    except BaseException:
        stop(process)
        raise
    return process, port


def wait_ready(process: subprocess.Popen[bytes], port: int, seconds: float = 5.0) -> None:
    """Until dnsmasq answers a query (sent with the codec alone, blocking)."""
    query = make_query(next(iter(RECORDS)), "A", id=7)
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.05)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"dnsmasq exited with status {process.returncode}")
            sock.sendto(query, ("127.0.0.1", port))
            try:
                if Message.parse(sock.recv(4096)).id == 7:
                    return
            except (TimeoutError, ConnectionRefusedError):
                continue
    raise RuntimeError(f"dnsmasq did not answer within {seconds:g} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def self_test() -> int:
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="dns_lookup-") as workdir:
        hosts = os.path.join(workdir, "hosts")
        Path(hosts).write_text(HOSTS)
        check_hosts(check, hosts)
        if not os.access(DNSMASQ, os.X_OK):
            print(f"self-test: skip dnsmasq part: {DNSMASQ} is not installed (dnsmasq-base)")
        else:
            try:
                process, port = start_dnsmasq(workdir)
            except (OSError, RuntimeError) as exc:
                check(f"dnsmasq starts ({exc})", False)
            else:
                try:
                    check_dnsmasq(check, f"127.0.0.1:{port}")
                finally:
                    stop(process)
    failures = check.failures
    print(f"self-test: {'passed' if not failures else 'FAILED: ' + ', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
