"""The ``evweb`` command (also ``python -m evweb``).

Subcommands arrive with the layers they drive:

* ``info`` says what the reactor would use on this machine;
* ``serve MODULE:APP`` imports ``MODULE`` from the current directory and
  serves ``APP``: an App, a ``handler(request)``, or a factory called with no
  arguments that returns either (a class counts as a factory). A target that
  is none of these is exit status 2 with a one-line reason;
* ``static DIR`` serves a directory with :class:`evweb.http.static.StaticFiles`;
* ``fetch URL`` makes one HTTP request, curl's way (:mod:`evweb._fetch`, which
  lists its exit statuses);
* ``dns lookup NAME`` asks evweb's DNS resolver, dig's way, and ``dns serve
  ZONEFILE...`` serves zone files with authority (:mod:`evweb._dns_cli`,
  which lists their exit statuses).

Both servers print ``Serving on URL`` on stdout (flushed) once they listen,
log requests to stderr, and exit 0 after a graceful stop on SIGTERM/SIGINT;
an address that cannot be bound is status 1.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from evweb import __version__, _dns_cli, _fetch
from evweb.errors import EvwebError
from evweb.reactor import EventBase, EventConfig, Feature, supported_methods

USAGE_ERROR = 2
"""Exit status for a wrong command line or serve target."""


class TargetError(EvwebError):
    """``evweb serve`` was given something it cannot serve."""


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
    _add_serve(commands)
    _add_static(commands)
    _fetch.add_parser(commands)
    _dns_cli.add_parser(commands)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def _add_listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (8080; 0 picks a free one)")
    parser.add_argument("--unix", metavar="PATH", help="listen on a Unix socket instead")
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="log each request to stderr, combined log format (on)",
    )


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve an App or a handler function: evweb serve MODULE:APP",
        description="Import MODULE from the current directory and serve APP, which may be"
        " an App, a handler(request) or a factory called with no arguments.",
    )
    serve.add_argument("target", metavar="MODULE:APP")
    _add_listen_options(serve)
    serve.add_argument("--workers", type=_positive_int, default=1, help="pre-forked processes (1)")
    serve.add_argument("--certfile", help="serve HTTPS with this certificate chain (PEM)")
    serve.add_argument("--keyfile", help="the private key (PEM), unless it is in --certfile")
    serve.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="S",
        help="seconds an idle keep-alive connection is kept and a client has to send a"
        " whole request head (ServerConfig.keep_alive_timeout and head_timeout;"
        " defaults 15 and 10)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="seconds in-flight requests get on SIGTERM/SIGINT before being cut (10)",
    )


def _add_static(commands: Any) -> None:
    static = commands.add_parser("static", help="serve the files of a directory")
    static.add_argument("directory", metavar="DIR")
    _add_listen_options(static)
    static.add_argument(
        "--no-listing",
        dest="listing",
        action="store_false",
        help="answer 404 for directories without index.html instead of listing them",
    )


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
        if args.command == "serve":
            return _serve(parser, args)
        if args.command == "static":
            return _static(args)
        if args.command == "fetch":
            return _fetch.run(args)
        if args.command == "dns":
            return _dns_cli.run(args)
    except TargetError as exc:
        print(f"evweb: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except EvwebError as exc:
        print(f"evweb: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2


# -- serve and static --------------------------------------------------------------------------


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from evweb.http import ServerConfig

    if args.keyfile and not args.certfile:
        parser.error("--keyfile needs --certfile")
    target = load_target(args.target)
    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise TargetError(f"cannot load the certificate: {exc}") from exc
    config = ServerConfig()
    if args.timeout is not None:
        config = config.replace(keep_alive_timeout=args.timeout, head_timeout=args.timeout)
    return _run(
        target,
        args,
        ssl_context=context,
        config=config,
        workers=args.workers,
        shutdown_timeout=args.shutdown_timeout,
    )


def _static(args: argparse.Namespace) -> int:
    from evweb.http.static import StaticFiles

    if not os.path.isdir(args.directory):
        raise TargetError(f"{args.directory!r} is not a directory")
    return _run(StaticFiles(args.directory, listing=args.listing), args)


def _run(target: object, args: argparse.Namespace, **options: Any) -> int:
    from evweb.http import runner

    runner.setup_logging()
    where = args.unix or f"{args.host}:{args.port}"
    try:
        return runner.serve(
            target,
            host=args.host,
            port=args.port,
            unix=args.unix,
            access_log=args.access_log,
            **options,
        )
    except OSError as exc:
        print(f"evweb: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def load_target(spec: str) -> object:
    """The App or handler ``MODULE:ATTR`` names (a factory is called); TargetError otherwise."""
    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        raise TargetError(f"expected MODULE:APP (e.g. apps.hello:app), got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise TargetError(
                f"cannot import {module_name!r}: no module named {missing!r}"
            ) from exc
        raise
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attr!r}") from None
    return _servable(obj, spec)


def _servable(obj: object, spec: str) -> object:
    if not isinstance(obj, type) and callable(getattr(obj, "attach", None)):
        return obj  # an App
    if not callable(obj):
        raise TargetError(
            f"{spec} is of type {type(obj).__name__}, not an App, a handler(request) or a factory"
        )
    required = _required_positional(obj)
    if required == 1 and not isinstance(obj, type):
        return obj  # a handler
    if required != 0:
        raise TargetError(
            f"{spec} takes {required} arguments: a handler takes one (the request), a factory none"
        )
    made = obj()
    if callable(getattr(made, "attach", None)) or (
        callable(made) and _required_positional(made) == 1
    ):
        return made
    raise TargetError(
        f"{spec}() returned a value of type {type(made).__name__}, not an App or a handler(request)"
    )


def _required_positional(fn: Any) -> int:
    """How many positional arguments ``fn`` needs (1 when it cannot be told)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = sum(1 for p in params if p.kind in kinds and p.default is p.empty)
    if required == 0 and any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 1
    return required
