"""libevent's le-proxy sample, on evweb: a TCP (optionally TLS) proxy built from BufferEvents.

Every client accepted on LISTEN_ADDR gets its own connection to
CONNECT_ADDR, and bytes are copied both ways. Follows sample/le-proxy.c:

* both BufferEvents run with ``DEFER_CALLBACKS`` and ``CLOSE_ON_FREE``;
* back-pressure: when a destination's output reaches ``--max-output``
  (512 KiB), reading from the source stops and the destination's write low
  watermark becomes half of that; once the output drains to it, the source
  is read again and the watermark reset;
* when one side reports EOF or ERROR, what it already delivered is passed
  on, the other side is closed once its output is flushed, and the side
  that ended is closed at once.

    python apps/le_proxy.py 127.0.0.1:8888 example.org:80
    python apps/le_proxy.py -s 127.0.0.1:8888 example.org:443      # TLS to the backend
    python apps/le_proxy.py -W --certfile c.pem --keyfile k.pem 127.0.0.1:8443 127.0.0.1:80
    python apps/le_proxy.py --self-test [-s] [-W --certfile ... --keyfile ... --cafile ...]

Differences from le-proxy: ``-s`` verifies the backend's certificate
against ``--cafile`` (or the system's CAs; ``--insecure`` skips the check,
which is what le-proxy does), with CONNECT_ADDR's host as the expected
name. ``-W`` here means "speak TLS to the clients" with ``--certfile`` and
``--keyfile``; in le-proxy it only selects OpenSSL's socket BufferEvent
instead of its filter BufferEvent for ``-s``, a distinction evweb does not
have (its TLSBufferEvent always owns the socket).
"""

from __future__ import annotations

import argparse
import hashlib
import selectors
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
from evweb.reactor import READ, WRITE, EventBase

MAX_OUTPUT = 512 * 1024
OPTIONS = BevOption.CLOSE_ON_FREE | BevOption.DEFER_CALLBACKS
SELF_TEST_BYTES = 4 * 1024 * 1024
SELF_TEST_DEADLINE = 15.0  # seconds
SMALL_SOCKET_BUFFER = 64 * 1024
READ_AT_THE_LATEST = 5.0  # seconds: the self-test client reads even if no back-pressure came


def parse_address(text: str, *, bare_port_ok: bool = False) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or (for the listen address, as le-proxy) a bare port."""
    if bare_port_ok and text.isdigit():
        host, port_text = "127.0.0.1", text
    elif text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.rpartition(":")
    if not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"not an address: {text!r}")
    return host, int(port_text)


@dataclass
class Stats:
    """What the proxy did, for the summary line."""

    accepted: int = 0
    open_bevs: int = 0
    throttled: int = 0
    peak_output: int = 0
    errors: list[str] = field(default_factory=list)


class Proxy:
    """The accept callback and the copying callbacks, with le-proxy's settings."""

    def __init__(
        self,
        base: EventBase,
        connect_to: tuple[str, int],
        *,
        backend_ctx: ssl.SSLContext | None = None,
        client_ctx: ssl.SSLContext | None = None,
        max_output: int = MAX_OUTPUT,
        backend_hostname: str | None = None,
    ) -> None:
        self.base = base
        self.connect_to = connect_to
        self.backend_hostname = backend_hostname or connect_to[0]
        self.backend_ctx = backend_ctx
        self.client_ctx = client_ctx
        self.max_output = max_output
        self.stats = Stats()

    # --- accepting ------------------------------------------------------------------

    def accept_cb(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        """A client arrived: connect a partner BufferEvent to the backend and link the two."""
        self.stats.accepted += 1
        b_in: SocketBufferEvent
        b_out: SocketBufferEvent
        if self.client_ctx is not None:
            b_in = TLSBufferEvent(self.base, sock, self.client_ctx, TLSState.ACCEPTING, OPTIONS)
        else:
            b_in = SocketBufferEvent(self.base, sock, OPTIONS)
        if self.backend_ctx is not None:
            b_out = TLSBufferEvent(
                self.base,
                None,
                self.backend_ctx,
                TLSState.CONNECTING,
                OPTIONS,
                server_hostname=self.backend_hostname,
            )
        else:
            b_out = SocketBufferEvent(self.base, None, OPTIONS)
        self.stats.open_bevs += 2
        try:
            b_out.connect(self.connect_to)
        except OSError as exc:
            print(f"connect: {exc}", file=sys.stderr, flush=True)
            self.free(b_out)
            self.free(b_in)
            return
        b_in.set_callbacks(self.readcb, None, self.eventcb, b_out)
        b_out.set_callbacks(self.readcb, None, self.eventcb, b_in)
        b_in.enable(READ | WRITE)
        b_out.enable(READ | WRITE)

    def free(self, bev: BufferEvent) -> None:
        """``bufferevent_free`` and count it."""
        if not bev.closed:
            bev.close()
            self.stats.open_bevs -= 1

    # --- copying ----------------------------------------------------------------------

    def readcb(self, bev: BufferEvent, partner: BufferEvent | None) -> None:
        """Move everything read to the partner's output; throttle when that grows too big."""
        if partner is None:
            bev.input.drain(len(bev.input))
            return
        dst = partner.output
        dst.add_buffer(bev.input)
        self.stats.peak_output = max(self.stats.peak_output, len(dst))
        if len(dst) >= self.max_output:
            # The partner cannot pass the data on as fast as it comes: stop
            # reading here until its output is down to half.
            self.stats.throttled += 1
            partner.set_callbacks(self.readcb, self.drained_writecb, self.eventcb, bev)
            partner.set_watermark(WRITE, self.max_output // 2, self.max_output)
            bev.disable(READ)

    def drained_writecb(self, bev: BufferEvent, partner: BufferEvent | None) -> None:
        """Our output drained to the low watermark: read from the partner again."""
        bev.set_callbacks(self.readcb, None, self.eventcb, partner)
        bev.set_watermark(WRITE, 0, 0)
        if partner is not None:
            partner.enable(READ)

    def close_on_finished_writecb(self, bev: BufferEvent, arg: Any) -> None:
        """The partner is gone; close once everything it sent us is flushed."""
        if not bev.output:
            self.free(bev)

    def eventcb(self, bev: BufferEvent, what: int, partner: BufferEvent | None) -> None:
        """EOF or ERROR on one side: flush what is left to the other side, then close both."""
        if not what & (BevEvent.EOF | BevEvent.ERROR):
            return  # CONNECTED: nothing to do
        if what & BevEvent.ERROR:
            for err in getattr(bev, "tls_errors", ()):
                self.report(f"{err.reason or err} in {err.library or 'ssl'}")
            if bev.error is not None and bev.error not in getattr(bev, "tls_errors", ()):
                self.report(f"connection error: {bev.error}")
        if partner is not None:
            self.readcb(bev, partner)  # pass on what is still in our input
            if partner.output:
                # Flush what the partner still has to send, then close it.
                partner.set_callbacks(None, self.close_on_finished_writecb, self.eventcb, None)
                partner.disable(READ)
            else:
                self.free(partner)
        self.free(bev)

    def report(self, message: str) -> None:
        """Print an error and keep it for the summary."""
        self.stats.errors.append(message)
        print(message, file=sys.stderr, flush=True)


# --- command line ----------------------------------------------------------------------


def build_contexts(args: argparse.Namespace) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """The backend (client-side) and client-facing (server-side) TLS contexts asked for."""
    backend_ctx = client_ctx = None
    if args.s:
        backend_ctx = ssl.create_default_context(cafile=args.cafile)
        if args.insecure:
            backend_ctx.check_hostname = False
            backend_ctx.verify_mode = ssl.CERT_NONE
    if args.W:
        if not (args.certfile and args.keyfile):
            raise SystemExit("le-proxy: -W needs --certfile and --keyfile")
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        client_ctx.load_cert_chain(args.certfile, args.keyfile)
    return backend_ctx, client_ctx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Example: le_proxy.py 127.0.0.1:8888 1.2.3.4:80",
    )
    parser.add_argument("-s", action="store_true", help="speak TLS to the backend")
    parser.add_argument("-W", action="store_true", help="speak TLS to the clients")
    parser.add_argument("--certfile", help="certificate for -W (PEM)")
    parser.add_argument("--keyfile", help="private key for -W (PEM)")
    parser.add_argument("--cafile", help="CA bundle to verify the backend with (-s)")
    parser.add_argument("--insecure", action="store_true", help="-s without verification")
    parser.add_argument("--max-output", type=int, default=MAX_OUTPUT, help="bytes (512 KiB)")
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("listen", nargs="?", help="LISTEN_ADDR: host:port or a port")
    parser.add_argument("connect", nargs="?", help="CONNECT_ADDR: host:port")
    args = parser.parse_args(argv)
    if args.max_output <= 1:
        parser.error("--max-output must be at least 2")
    backend_ctx, client_ctx = build_contexts(args)
    if args.self_test:
        return self_test(args, backend_ctx, client_ctx)
    if args.listen is None or args.connect is None:
        parser.error("LISTEN_ADDR and CONNECT_ADDR are required")
    try:
        listen_on = parse_address(args.listen, bare_port_ok=True)
        backend_name, backend_port = parse_address(args.connect)
        # once, at start-up (le-proxy takes numeric addresses only): no blocking per client
        info = socket.getaddrinfo(backend_name, backend_port, type=socket.SOCK_STREAM)
        connect_to = str(info[0][4][0]), int(info[0][4][1])
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.error(f"cannot resolve {args.connect}: {exc}")

    base = EventBase()
    proxy = Proxy(
        base,
        connect_to,
        backend_ctx=backend_ctx,
        client_ctx=client_ctx,
        max_output=args.max_output,
        backend_hostname=backend_name,
    )
    try:
        listener = Listener.bind(base, proxy.accept_cb, listen_on, flags=ListenerFlag.REUSEABLE)
    except OSError as exc:
        print(f"Couldn't open listener: {exc}", file=sys.stderr)
        base.close()
        return 1

    def on_sigint(signo: int, what: int, arg: Any) -> None:
        base.loopbreak()

    sigint = base.signal(signal.SIGINT, on_sigint)
    sigint.add()
    host, port = listener.address[:2]
    print(f"proxying {host}:{port} -> {connect_to[0]}:{connect_to[1]}", flush=True)
    base.dispatch()
    sigint.delete()
    listener.close()
    base.close()
    return 0


# --- self-test ----------------------------------------------------------------------------


class EchoBackend:
    """The backend for the self-test: echoes everything, with the same back-pressure."""

    def __init__(self, base: EventBase, ctx: ssl.SSLContext | None, max_output: int) -> None:
        self.base = base
        self.ctx = ctx
        self.max_output = max_output
        self.open_bevs = 0
        self.echoed = 0

    def accept_cb(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        bev: SocketBufferEvent
        if self.ctx is not None:
            bev = TLSBufferEvent(self.base, sock, self.ctx, TLSState.ACCEPTING, OPTIONS)
        else:
            bev = SocketBufferEvent(self.base, sock, OPTIONS)
        self.open_bevs += 1
        bev.set_callbacks(self.readcb, self.writecb, self.eventcb)
        bev.set_watermark(WRITE, self.max_output // 2)
        bev.enable(READ | WRITE)

    def readcb(self, bev: BufferEvent, arg: Any) -> None:
        self.echoed += len(bev.input)
        bev.output.add_buffer(bev.input)
        if len(bev.output) >= self.max_output:
            bev.disable(READ)

    def writecb(self, bev: BufferEvent, arg: Any) -> None:
        if not bev.enabled & READ and not bev.closed:
            bev.enable(READ)

    def eventcb(self, bev: BufferEvent, what: int, arg: Any) -> None:
        if what & (BevEvent.EOF | BevEvent.ERROR) and not bev.closed:
            bev.close()
            self.open_bevs -= 1


@dataclass
class ClientResult:
    """What the self-test client saw."""

    sent: int = 0
    received: int = 0
    matched: bool = False
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def self_test(
    args: argparse.Namespace,
    backend_ctx: ssl.SSLContext | None,
    client_ctx: ssl.SSLContext | None,
) -> int:
    base = EventBase()
    backend_server_ctx = None
    if backend_ctx is not None:
        if not (args.certfile and args.keyfile):
            raise SystemExit("le-proxy: --self-test -s needs --certfile and --keyfile")
        backend_server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        backend_server_ctx.load_cert_chain(args.certfile, args.keyfile)
    echo = EchoBackend(base, backend_server_ctx, args.max_output)
    backend = Listener.bind(base, echo.accept_cb, ("127.0.0.1", 0))
    proxy = Proxy(
        base,
        backend.address[:2],  # the echo backend
        backend_ctx=backend_ctx,
        client_ctx=client_ctx,
        max_output=args.max_output,
    )

    def accept_with_small_buffers(listener: Listener, sock: socket.socket, address: Any) -> None:
        # Loopback sockets can buffer megabytes by themselves; keep the kernel's
        # share small so that the proxy's own back-pressure has to do the work.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_SOCKET_BUFFER)
        proxy.accept_cb(listener, sock, address)

    listener = Listener.bind(base, accept_with_small_buffers, ("127.0.0.1", 0))
    proxy_addr = listener.address[:2]
    backend_addr = backend.address[:2]

    wrap = None
    if client_ctx is not None:
        wrap = ssl.create_default_context(cafile=args.cafile)
        if args.insecure or not args.cafile:
            wrap.check_hostname = False
            wrap.verify_mode = ssl.CERT_NONE
    result = ClientResult()
    client = threading.Thread(
        target=run_client,
        args=(proxy_addr, wrap, result, lambda: proxy.stats.throttled > 0),
        daemon=True,
    )
    started = time.monotonic()
    client.start()

    def check(fd: int, what: int, arg: Any) -> None:
        finished = result.done.is_set() and proxy.stats.open_bevs == 0 and echo.open_bevs == 0
        if finished or time.monotonic() - started > SELF_TEST_DEADLINE:
            base.loopexit()

    ticker = base.timer(check, persist=True)
    ticker.add(0.02)
    base.dispatch()
    ticker.delete()
    client.join(1.0)
    listener.close()
    backend.close()
    base.close()

    elapsed = time.monotonic() - started
    closed = proxy.stats.open_bevs == 0 and echo.open_bevs == 0
    ok = result.matched and closed and result.error is None and not proxy.stats.errors
    tls = "+".join(
        name for name, on in (("client TLS", client_ctx), ("backend TLS", backend_ctx)) if on
    )
    print(
        f"le-proxy self-test: {'ok' if ok else 'FAILED'}: {result.received} of {result.sent} bytes"
        f" echoed {'intact' if result.matched else 'CORRUPTED'} through {proxy_addr[0]}:"
        f"{proxy_addr[1]} -> {backend_addr[0]}:{backend_addr[1]}"
        f" ({tls or 'plain TCP'}), back-pressure engaged {proxy.stats.throttled} times"
        f" (largest output {proxy.stats.peak_output // 1024} KiB),"
        f" {'all connections closed' if closed else 'connections LEFT OPEN'}, {elapsed:.2f} s",
        flush=True,
    )
    if result.error:
        print(f"client: {result.error}", file=sys.stderr)
    return 0 if ok else 1


def run_client(
    address: tuple[str, int],
    wrap: ssl.SSLContext | None,
    result: ClientResult,
    throttled: Callable[[], bool],
) -> None:
    """Push SELF_TEST_BYTES through the proxy and read them back, from one thread.

    The client reads nothing until the proxy has throttled a connection
    (``throttled()``, polled across threads): with nobody reading, the
    echo fills the proxy's output to the client (the kernel buffers on that
    path are kept small), so the back-pressure must engage well before
    4 MiB; the summary line then shows it did, deterministically.
    READ_AT_THE_LATEST bounds the wait if it never does.
    """
    try:
        _run_client(address, wrap, result, throttled)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.done.set()


def _run_client(
    address: tuple[str, int],
    wrap: ssl.SSLContext | None,
    result: ClientResult,
    throttled: Callable[[], bool],
) -> None:
    payload = bytes(range(256)) * (SELF_TEST_BYTES // 256)
    expected = hashlib.sha256(payload).digest()
    got = hashlib.sha256()
    deadline = time.monotonic() + SELF_TEST_DEADLINE - 2
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_SOCKET_BUFFER)
    raw.settimeout(5)
    raw.connect(address)
    sock: socket.socket = raw
    if wrap is not None:
        sock = wrap.wrap_socket(raw, server_hostname=address[0])  # handshakes, blocking
    sock.setblocking(False)
    started = time.monotonic()
    reading = False
    view = memoryview(payload)
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_WRITE)
        for _ in range(1_000_000):
            if result.received >= len(payload) or time.monotonic() > deadline:
                break
            if result.sent < len(payload):
                try:
                    result.sent += sock.send(view[result.sent : result.sent + 65536])
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            reading = reading or throttled() or time.monotonic() - started >= READ_AT_THE_LATEST
            if reading:
                for _ in range(64):
                    try:
                        chunk = sock.recv(65536)
                    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        break
                    if not chunk:
                        raise ConnectionError("the proxy closed the connection early")
                    got.update(chunk)
                    result.received += len(chunk)
            interest = 0
            if result.sent < len(payload):
                interest |= selectors.EVENT_WRITE
            if reading:
                interest |= selectors.EVENT_READ
            if interest:
                sel.modify(sock, interest)
                sel.select(0.01)
            else:
                time.sleep(0.01)
        sel.unregister(sock)
    result.matched = result.received == len(payload) and got.digest() == expected
    if isinstance(sock, ssl.SSLSocket):
        try:
            sock.unwrap()  # sends close_notify; the proxy's answer is not waited for
        except (ssl.SSLError, OSError):
            pass
    sock.close()
    raw.close()


if __name__ == "__main__":
    sys.exit(main())
