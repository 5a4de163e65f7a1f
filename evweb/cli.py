"""The ``evweb`` command (also ``python -m evweb``).

Subcommands arrive with the layers they drive; today: ``info``, which says
what the reactor would use on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from evweb import __version__
from evweb.errors import EvwebError
from evweb.reactor import EventBase, EventConfig, Feature, supported_methods


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``evweb``."""
    parser = argparse.ArgumentParser(
        prog="evweb", description="libevent re-created in Python: reactor, IO, HTTP, DNS, RPC."
    )
    parser.add_argument("--version", action="version", version=f"evweb {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser(
        "info", help="show the backends available here and the one evweb picks"
    )
    info.add_argument("--method", help="force a backend (as EventConfig(method=...))")
    info.add_argument(
        "--require",
        action="append",
        default=[],
        choices=[f.name for f in Feature if f.name and f is not Feature.NONE],
        help="require a backend feature (repeatable)",
    )
    return parser


def _info(args: argparse.Namespace) -> int:
    require = Feature.NONE
    for name in args.require:
        require |= Feature[name]
    config = EventConfig(method=args.method, require=require)
    print(f"evweb {__version__} on Python {sys.version.split()[0]}")
    print("backends available, most preferred first: " + ", ".join(supported_methods()))
    disabled = [k for k in sorted(os.environ) if k.startswith("EVENT_NO")]
    if disabled:
        print("disabled by the environment: " + ", ".join(disabled))
    with EventBase(config) as base:
        features = ", ".join(f.name for f in Feature if f and f in base.features and f.name)
        print(f"chosen: {base.method} (features: {features or 'none'})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``evweb`` command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "info":
            return _info(args)
    except EvwebError as exc:
        print(f"evweb: {exc}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2
