"""libevent's becat sample, on evweb: netcat over a BufferEvent.

Connects to HOST PORT (or, with ``-l``, listens there and takes one client)
and copies stdin to the socket and the socket to stdout. Follows
sample/becat.c:

* the socket is a SocketBufferEvent (a TLSBufferEvent with ``-S``) with
  ``CLOSE_ON_FREE``, ``-b`` as its largest single read and ``-t``/``-T`` as
  its read and write timeouts (0: none);
* the end of the connection (EOF, ERROR, TIMEOUT) is reported on stderr as
  ``Got 0x.. event on fd=N. Terminating connection`` and ends the program;
* the end of stdin ends it too, once what was read from it has been sent.

Exit status: 0 when the peer or stdin closed, 1 on an error or a timeout
(becat exits 0 for those too; here a script can tell them apart).

stdin and stdout are not sockets, so they are not BufferEvents as in
becat: stdin is watched with a plain reactor READ event on fd 0 (a regular
file or /dev/null, which epoll cannot watch, is read from a zero timer
instead: it is always readable), and what arrives from the socket is
written to stdout with ``os.write``, which blocks while stdout is full.
The socket's output gets the back-pressure instead: past ``HIGH_WATER``
bytes waiting, stdin is not read until half of it is sent.

    python apps/becat.py example.org 80
    python apps/becat.py -l 127.0.0.1 10024
    python apps/becat.py -S --cafile ca.pem localhost 10025
    python apps/becat.py -l -S --certfile cert.pem --keyfile key.pem 127.0.0.1 10025
    python apps/becat.py --self-test [-S --certfile ... --keyfile ... --cafile ...]

TLS: becat generates a throw-away key and certificate when it listens with
``-S``; the Python standard library cannot, so ``--certfile`` and
``--keyfile`` are required. The client side verifies the server against
``--cafile`` (or the system's CAs) unless ``--insecure`` is given.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from evweb.errors import InvalidFdError
from evweb.io import (
    BevEvent,
    BevOption,
    BufferEvent,
    Listener,
    ListenerFlag,
    SocketBufferEvent,
    TLSBufferEvent,
    TLSState,
)
from evweb.reactor import PERSIST, READ, WRITE, Event, EventBase

STDIN_READ = 16 * 1024  # stdin bytes per read unless -b says otherwise
HIGH_WATER = 256 * 1024  # socket output at which stdin stops being read
EXIT_OK, EXIT_FAILURE = 0, 1
SELF_TEST_DEADLINE = 10.0  # seconds


def error(message: str) -> None:
    """becat's error(): a line on stderr."""
    print(message, file=sys.stderr, flush=True)


class Cat:
    """One becat: a connection, an input fd copied to it, an output fd it is copied to."""

    def __init__(
        self,
        base: EventBase,
        args: argparse.Namespace,
        ssl_ctx: ssl.SSLContext | None,
        *,
        in_fd: int = 0,
        out_fd: int = 1,
        on_done: Callable[[Cat], object] | None = None,
        name: str = "",
    ) -> None:
        self.base = base
        self.args = args
        self.ssl_ctx = ssl_ctx
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.on_done = on_done
        self.prefix = f"{name}: " if name else ""
        self.max_read = args.max_read if args.max_read > 0 else STDIN_READ
        self.bev: SocketBufferEvent | None = None
        self.listener: Listener | None = None
        self.stdin_ev: Event | None = None
        self.stdin_open = True
        self.stdin_watched = False
        self.stdin_is_file = False  # watched with a zero timer instead of a READ event
        self.status: int | None = None  # the exit status once done

    def info(self, message: str) -> None:
        """becat's info(): only with -v, and on stderr here (stdout carries the data)."""
        if self.args.verbose:
            error(self.prefix + message)

    # --- setting up ------------------------------------------------------------------

    def listen(self, address: tuple[str, int]) -> tuple[str, int]:
        """Listen for one client; returns the address actually bound."""
        self.listener = Listener.bind(
            self.base, self.accept_cb, address, flags=ListenerFlag.REUSEABLE
        )
        host, port = self.listener.address[:2]
        self.info(f"Listening on {host}:{port}")
        return host, port

    def connect(self, address: tuple[str, int]) -> None:
        """Connect (non-blocking) and start copying stdin at once; it waits in the output."""
        self.info(f"Connecting to {address[0]}:{address[1]}")
        bev = self.new_bev(None, TLSState.CONNECTING, server_hostname=address[0])
        self.bev = bev
        bev.set_callbacks(self.read_cb, self.write_cb, self.event_cb)
        bev.enable(READ | WRITE)
        self.set_timeouts(bev)
        bev.connect(address)
        self.watch_stdin()

    def new_bev(
        self, sock: socket.socket | None, state: TLSState, server_hostname: str | None = None
    ) -> SocketBufferEvent:
        """``be_new``: a plain or TLS BufferEvent that owns its socket."""
        bev: SocketBufferEvent
        if self.ssl_ctx is not None:
            bev = TLSBufferEvent(
                self.base,
                sock,
                self.ssl_ctx,
                state,
                BevOption.CLOSE_ON_FREE,
                server_hostname=server_hostname,
            )
        else:
            bev = SocketBufferEvent(self.base, sock, BevOption.CLOSE_ON_FREE)
        if self.args.max_read > 0:
            bev.max_single_read = self.args.max_read
        bev.set_watermark(WRITE, HIGH_WATER // 2)
        return bev

    def set_timeouts(self, bev: BufferEvent) -> None:
        read, write = self.args.read_timeout, self.args.write_timeout
        self.info(f"Set timeout to (read={read:g}, write={write:g})")
        bev.set_timeouts(read or None, write or None)

    def accept_cb(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        """The one client: stop listening, wrap it, start copying."""
        listener.close()  # becat without -k: one connection only
        self.listener = None
        self.info(f"Accepting {address[0]}:{address[1]} (fd={sock.fileno()})")
        bev = self.new_bev(sock, TLSState.ACCEPTING)
        self.bev = bev
        bev.set_callbacks(self.read_cb, self.write_cb, self.event_cb)
        bev.enable(READ | WRITE)
        self.set_timeouts(bev)
        self.watch_stdin()

    # --- stdin -> socket -----------------------------------------------------------------

    def watch_stdin(self) -> None:
        """Start (or resume) reading stdin: a READ event, or a zero timer for a file."""
        if not self.stdin_open or self.stdin_watched:
            return
        if self.stdin_ev is None:
            ev = self.base.event(self.in_fd, READ | PERSIST, self.stdin_cb)
            try:
                ev.add()
            except InvalidFdError:  # a regular file or /dev/null: always readable
                self.stdin_is_file = True
                self.stdin_ev = self.base.timer(self.stdin_cb, persist=True)
                self.stdin_ev.add(0.0)
            else:
                self.stdin_ev = ev
        else:
            self.stdin_ev.add(0.0 if self.stdin_is_file else None)
        self.stdin_watched = True

    def unwatch_stdin(self) -> None:
        if self.stdin_ev is not None and self.stdin_watched:
            self.stdin_ev.delete()
        self.stdin_watched = False

    def stdin_cb(self, fd: int, what: int, arg: Any) -> None:
        """stdin has data (or its end): queue it on the socket, within the high water mark."""
        bev = self.bev
        if bev is None or bev.closed:
            self.unwatch_stdin()
            return
        try:
            data = os.read(self.in_fd, self.max_read)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            error(f"{self.prefix}read from stdin: {exc}")
            data = b""
        if not data:
            self.stdin_eof()
            return
        bev.write(data)
        if len(bev.output) >= HIGH_WATER:
            self.unwatch_stdin()  # write_cb resumes once half of it is sent

    def stdin_eof(self) -> None:
        """No more input: close once the socket's output is flushed (becat closes at once)."""
        self.info("End of input")
        self.unwatch_stdin()
        self.stdin_open = False
        self.stdin_ev = None
        bev = self.bev
        if bev is not None and not bev.output:
            self.finish(EXIT_OK)

    def write_cb(self, bev: BufferEvent, arg: Any) -> None:
        """The socket's output drained to the low water mark."""
        if not self.stdin_open:
            if not bev.output:
                self.finish(EXIT_OK)
        else:
            self.watch_stdin()

    # --- socket -> stdout -----------------------------------------------------------------

    def read_cb(self, bev: BufferEvent, arg: Any) -> None:
        """Data from the peer: write all of it to stdout."""
        data = bev.read()
        try:
            write_all(self.out_fd, data)
        except OSError as exc:  # e.g. BrokenPipeError: nobody reads stdout any more
            error(f"{self.prefix}write to stdout: {exc}")
            self.finish(EXIT_FAILURE)

    def event_cb(self, bev: BufferEvent, what: int, arg: Any) -> None:
        """``event_cb_``: CONNECTED is news, anything else ends the connection."""
        if what & BevEvent.CONNECTED:
            self.info("Connected")
            return
        if what & BevEvent.ERROR:
            for err in getattr(bev, "tls_errors", ()):
                error(f"{self.prefix}ssl/err={err.errno}/{err.reason} in {err.library}")
            if bev.error is not None:
                error(f"{self.prefix}error: {bev.error}")
        if what & BevEvent.TIMEOUT:
            kind = "read" if what & BevEvent.READING else "write"
            error(f"{self.prefix}{kind} timeout")
        fd = bev.fileno() if isinstance(bev, SocketBufferEvent) else -1
        error(f"{self.prefix}Got {what:#x} event on fd={fd}. Terminating connection")
        failed = bool(what & (BevEvent.ERROR | BevEvent.TIMEOUT))
        self.finish(EXIT_FAILURE if failed else EXIT_OK)

    # --- the end -----------------------------------------------------------------------------

    def finish(self, status: int) -> None:
        """Free everything and tell the owner (once)."""
        if self.status is not None:
            return
        self.status = status
        self.unwatch_stdin()
        if self.bev is not None:
            self.info(f"Freeing bufferevent with fd={self.bev.fileno()}")
            self.bev.close()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.on_done is not None:
            self.on_done(self)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is out (waiting if ``fd`` is non-blocking and full)."""
    view = memoryview(data)
    for _ in range(len(data) + 1):  # each pass writes at least a byte, or waits
        if not view:
            return
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
    raise OSError("stdout does not take the data")


# --- command line --------------------------------------------------------------------------


def make_context(args: argparse.Namespace, server: bool) -> ssl.SSLContext | None:
    """The TLS context for -S: a server with the given certificate, or a verifying client."""
    if not args.ssl:
        return None
    if server:
        if not (args.certfile and args.keyfile):
            raise SystemExit("becat: -l -S needs --certfile and --keyfile")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.certfile, args.keyfile)
        return ctx
    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def resolve(host: str, port: int) -> tuple[str, int]:
    """becat's make_address: the first address getaddrinfo gives (it blocks, as in becat)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
    found = infos[0][4]
    return str(found[0]), int(found[1])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-l", dest="listen", action="store_true", help="listen for one client")
    parser.add_argument("-S", dest="ssl", action="store_true", help="connect or listen with TLS")
    parser.add_argument("-t", dest="read_timeout", type=float, default=0, help="read timeout (s)")
    parser.add_argument("-T", dest="write_timeout", type=float, default=0, help="write timeout")
    parser.add_argument("-b", dest="max_read", type=int, default=-1, help="largest single read")
    parser.add_argument("-v", dest="verbose", action="count", default=0, help="tell more")
    parser.add_argument("--certfile", help="certificate for -l -S (PEM)")
    parser.add_argument("--keyfile", help="private key for -l -S (PEM)")
    parser.add_argument("--cafile", help="CA bundle to verify the server with (-S)")
    parser.add_argument("--insecure", action="store_true", help="-S without verification")
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("port", nargs="?", type=int, default=10024)
    args = parser.parse_args(argv)
    if args.read_timeout < 0 or args.write_timeout < 0:
        parser.error("timeouts must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.self_test:
        return self_test(args)
    base = EventBase()
    cat = Cat(base, args, make_context(args, server=args.listen), on_done=lambda c: base.loopexit())

    def do_term(signo: int, what: int, arg: Any) -> None:
        error("Interrupt signal received. Terminating")
        cat.finish(EXIT_OK)

    term = base.signal(signal.SIGINT, do_term)
    term.add()
    try:
        address = resolve(args.host, args.port)
        if args.listen:
            cat.listen(address)
        else:
            cat.connect(address)
    except OSError as exc:
        error(
            f"Cannot {'listen on' if args.listen else 'connect to'} {args.host}:{args.port}: {exc}"
        )
        cat.finish(EXIT_FAILURE)
    else:
        base.dispatch()
    term.delete()
    base.close()
    return cat.status if cat.status is not None else EXIT_FAILURE


# --- self-test ----------------------------------------------------------------------------------

LISTENER_SAYS = b"hello from the listener\n"
CONNECTOR_SAYS = b"hello from the connector\n"


def self_test(args: argparse.Namespace) -> int:
    """A listening and a connecting Cat on one loop, their stdin and stdout being pipes."""
    base = EventBase()
    done: list[Cat] = []

    def on_done(cat: Cat) -> None:
        done.append(cat)
        if len(done) == 2:
            base.loopexit()

    pipes = {name: os.pipe() for name in ("l_in", "l_out", "c_in", "c_out")}
    server = Cat(
        base,
        args,
        make_context(args, server=True),
        in_fd=pipes["l_in"][0],
        out_fd=pipes["l_out"][1],
        on_done=on_done,
        name="listener",
    )
    client_ctx = make_context(args, server=False)
    client = Cat(
        base,
        args,
        client_ctx,
        in_fd=pipes["c_in"][0],
        out_fd=pipes["c_out"][1],
        on_done=on_done,
        name="connector",
    )
    address = server.listen(("127.0.0.1", 0))
    client.connect(address)
    heard: dict[str, bytes] = {}
    feeder = threading.Thread(target=converse, args=(pipes, heard), daemon=True)
    feeder.start()
    started = time.monotonic()

    def deadline(fd: int, what: int, arg: Any) -> None:
        error("becat self-test: deadline passed")
        base.loopexit()

    timer = base.timer(deadline)
    timer.add(SELF_TEST_DEADLINE)
    base.dispatch()
    timer.delete()
    feeder.join(1.0)
    base.close()
    for read_end, write_end in pipes.values():
        for fd in (read_end, write_end):
            try:
                os.close(fd)
            except OSError:
                pass  # converse() closed it already
    ok = (
        heard.get("listener") == CONNECTOR_SAYS
        and heard.get("connector") == LISTENER_SAYS
        and server.status == EXIT_OK
        and client.status == EXIT_OK
    )
    print(
        f"becat self-test: {'ok' if ok else 'FAILED'}:"
        f" listener printed {heard.get('listener')!r}, connector printed"
        f" {heard.get('connector')!r} over {address[0]}:{address[1]}"
        f" ({'TLS' if args.ssl else 'plain TCP'}), exit statuses {server.status}/{client.status},"
        f" {time.monotonic() - started:.2f} s",
        flush=True,
    )
    return 0 if ok else 1


def converse(pipes: dict[str, tuple[int, int]], heard: dict[str, bytes]) -> None:
    """Type into both stdins, read both stdouts, then end the connector's stdin."""
    os.write(pipes["c_in"][1], CONNECTOR_SAYS)
    os.write(pipes["l_in"][1], LISTENER_SAYS)
    heard["listener"] = read_line(pipes["l_out"][0])
    heard["connector"] = read_line(pipes["c_out"][0])
    os.close(pipes["c_in"][1])  # the connector sees the end of its input and hangs up


def read_line(fd: int, timeout: float = 5.0) -> bytes:
    """Bytes from ``fd`` up to a newline, or what came before ``timeout``."""
    got = b""
    deadline = time.monotonic() + timeout
    while not got.endswith(b"\n") and len(got) < 4096:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        got += chunk
    return got


if __name__ == "__main__":
    sys.exit(main())
