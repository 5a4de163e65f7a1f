"""``evweb dns``: DNS tools: ``lookup`` on evweb's resolver, ``serve`` for zone files.

``evweb dns lookup NAME [-t TYPE]`` asks for one record type (A by
default) and prints the answer section as dig does, one record per line
(``name TTL class type data``, :meth:`evweb.dns.Record.to_text`).
``-x ADDRESS`` asks for the PTR of an address instead. The nameservers are
``/etc/resolv.conf``'s unless ``--server IP[:PORT]`` (repeatable) names
them; the hosts file is not consulted (as dig). ``--tcp`` asks over TCP,
``--timeout S`` sets the seconds per attempt (the resolver's ``timeout``
option), ``--no-search`` asks for the name as given, without the search
domains. The query name keeps the case given (no 0x20 randomisation, as
dig), so the answer lines show it as typed.

Exit status: 0 with an answer, and also for NOERROR without records of the
type (NODATA: nothing on stdout, a note on stderr, as dig exits 0); 1 when
the server answered an error rcode (``NXDOMAIN``, ``SERVFAIL``,
``REFUSED``...; the name on stderr) or the lookup failed otherwise; 9
(dig's "no reply") when no server answered in time (``TIMEOUT`` on stderr);
2 for a wrong command line.

``evweb dns serve ZONEFILE... [--host 127.0.0.1] [--port 5353]`` answers
with authority from RFC 1035 master files or hosts-format files
(:mod:`evweb.dns.zone_server`), on UDP and TCP; it prints ``Serving DNS on
HOST:PORT`` on stdout once it listens, reloads the files on SIGHUP (keeping
the old zones if the new files are bad), logs each query on stderr with
``--query-log``, and exits 0 on SIGINT or SIGTERM; a file with an error is
status 1 with ``file:line: reason``, as is an address that cannot be bound.

More subcommands join the ``dns`` group in :func:`add_parser`: each adds
its parser to the group's subparsers and sets ``dns_run`` to the function
that runs it (``fn(args) -> exit status``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from evweb.errors import EvwebError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 9


def add_parser(commands: Any) -> None:
    """Register ``evweb dns`` and its subcommands on the ``evweb`` subparsers."""
    dns = commands.add_parser("dns", help="DNS tools: lookup, serve", description="DNS tools.")
    subcommands = dns.add_subparsers(dest="dns_command", metavar="SUBCOMMAND")
    _add_lookup(subcommands)
    _add_serve(subcommands)
    dns.set_defaults(dns_parser=dns)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0.001 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be seconds >= 0.001, got {text}")
    return value


def _add_lookup(subcommands: Any) -> None:
    lookup = subcommands.add_parser(
        "lookup",
        help="look a name up, dig style: evweb dns lookup NAME [-t TYPE]",
        description="Look NAME up (or the PTR of -x ADDRESS) and print the answer records.",
    )
    lookup.add_argument("name", nargs="?", metavar="NAME")
    lookup.add_argument("-t", "--type", default="A", metavar="TYPE", help="record type (A)")
    lookup.add_argument("-x", dest="reverse", metavar="ADDRESS", help="reverse lookup (PTR)")
    lookup.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="IP[:PORT]",
        help="nameserver to ask (repeatable; default: /etc/resolv.conf's)",
    )
    lookup.add_argument("--tcp", action="store_true", help="ask over TCP")
    lookup.add_argument(
        "--timeout", type=_seconds, metavar="S", help="seconds per attempt (5; 3 attempts)"
    )
    lookup.add_argument("--no-search", action="store_true", help="do not use the search list")
    lookup.set_defaults(dns_run=_lookup)


def _add_serve(subcommands: Any) -> None:
    serve = subcommands.add_parser(
        "serve",
        help="serve zone files with authority: evweb dns serve ZONEFILE...",
        description="Answer DNS queries (UDP and TCP) from RFC 1035 master files or"
        " hosts-format files; SIGHUP reloads them.",
    )
    serve.add_argument("zonefiles", nargs="+", metavar="ZONEFILE")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=5353, help="port (5353; 0 picks a free one)")
    serve.add_argument("--origin", help="$ORIGIN for master files that do not set one")
    serve.add_argument(
        "--query-log", action="store_true", help="log each query to stderr (evweb.dns.queries)"
    )
    serve.set_defaults(dns_run=_serve)


def run(args: argparse.Namespace) -> int:
    """Run the ``evweb dns`` subcommand ``args`` names; returns the exit status."""
    handler = getattr(args, "dns_run", None)
    if handler is None:
        args.dns_parser.print_help(sys.stderr)
        return EXIT_USAGE
    status: int = handler(args)
    return status


def _lookup(args: argparse.Namespace) -> int:
    from evweb.dns.constants import type_from_text

    if (args.name is None) == (args.reverse is None):
        print("evweb dns lookup: give a NAME or -x ADDRESS (not both)", file=sys.stderr)
        return EXIT_USAGE
    try:
        rtype = type_from_text(args.type)
        result = _ask(args, rtype)
    except (EvwebError, ValueError) as exc:
        print(f"evweb dns lookup: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return _report(args, result)


def _ask(args: argparse.Namespace, rtype: int) -> Any:
    """Make the query and run the loop until its answer; returns the DNSResult."""
    from evweb.dns.resolver import DNSResolver, QueryFlags
    from evweb.reactor import EventBase

    flags = QueryFlags.NONE
    if args.tcp:
        flags |= QueryFlags.USE_TCP
    if args.no_search:
        flags |= QueryFlags.NO_SEARCH
    got: list[Any] = []
    with EventBase() as base:
        resolv_conf = None if args.server else "/etc/resolv.conf"
        resolver = DNSResolver(base, resolv_conf=resolv_conf, hosts=None)
        try:
            resolver.set_option("randomize-case", "0")  # names print as asked, as dig's do
            for server in args.server:
                resolver.add_nameserver(server)
            if args.timeout is not None:
                resolver.set_option("timeout", repr(args.timeout))
            if args.reverse is not None:
                resolver.resolve_reverse(args.reverse, got.append, flags=flags)
            else:
                resolver.query(args.name, rtype, got.append, flags=flags)
            base.dispatch()
        finally:
            resolver.close(fail_requests=False)
    if not got:
        raise EvwebError("the lookup ended without an answer")
    return got[0]


def _report(args: argparse.Namespace, result: Any) -> int:
    from evweb.dns.constants import rcode_to_text
    from evweb.errors import DNSErrorCode, DNSTimeoutError

    for record in result.answers:
        print(record.to_text())
    error = result.error
    asked = f"{result.qname} {args.type.upper() if args.reverse is None else 'PTR'}"
    if error is None:
        return 0
    if isinstance(error, DNSTimeoutError) or error.code == DNSErrorCode.TIMEOUT:
        print(f"evweb dns lookup: TIMEOUT: no answer for {asked}", file=sys.stderr)
        return EXIT_TIMEOUT
    if error.code == DNSErrorCode.NODATA:
        print(f"evweb dns lookup: NOERROR: no {asked} records (NODATA)", file=sys.stderr)
        return 0
    what = rcode_to_text(result.rcode) if result.rcode is not None else error.code.name
    print(f"evweb dns lookup: {what}: {error.code.description} ({asked})", file=sys.stderr)
    return EXIT_ERROR


def _serve(args: argparse.Namespace) -> int:
    import signal

    from evweb.dns.zone_server import ZoneServer
    from evweb.reactor import EventBase

    _log_to_stderr()
    with EventBase() as base:
        try:
            server = ZoneServer(base, args.zonefiles, origin=args.origin, query_log=args.query_log)
        except EvwebError as exc:
            print(f"evweb dns serve: {exc}", file=sys.stderr)
            return EXIT_ERROR
        try:
            host, port = server.listen(args.host, args.port)[:2]
        except OSError as exc:
            print(
                f"evweb dns serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
            )
            server.close()
            return EXIT_ERROR
        server.reload_on_sighup()
        stops = [
            base.signal(signo, lambda *_: base.loopbreak())
            for signo in (signal.SIGINT, signal.SIGTERM)
        ]
        for stop in stops:
            stop.add()
        shown = f"[{host}]" if ":" in host else host
        print(f"Serving DNS on {shown}:{port} (UDP and TCP)", flush=True)
        try:
            base.dispatch()
        finally:
            for stop in stops:
                stop.delete()
            server.close()
    return 0


def _log_to_stderr() -> None:
    import logging

    root = logging.getLogger("evweb")
    if not any(not isinstance(h, logging.NullHandler) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("evweb[%(process)d] %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
    root.setLevel(logging.INFO)
