"""BufferEvents under a low RLIMIT_NOFILE: hundreds of connections, no fd left behind.

In the spirit of libevent's test-fdleak, one level up from the listener's
own test: each round a client BufferEvent connects to a Listener, data
crosses, and the connection ends one way or another (a close, a reset, a
half-close, a failed TLS handshake, TLS over a BufferEvent closed with its
socket, a pair of BufferEvents freed). Afterwards the process must hold
exactly the fds it held before, and no EMFILE may have happened on the way.

The rounds run in a child process (``python -c``), so that the lowered
limit cannot touch the test process; the child prints a JSON report.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import socket
import ssl
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trustme

from evweb.io import (
    BufferEvent,
    Listener,
    ListenerFlag,
    SocketBufferEvent,
    TLSBufferEvent,
    TLSFilterBufferEvent,
    TLSState,
    pair,
)
from evweb.io.bevflags import CONNECTED, EOF, BevOption
from evweb.reactor import NONBLOCK, ONCE, READ, EventBase, EventConfig

FD_LIMIT = 64
ROUNDS = 480  # 80 of each kind
ROOT = Path(__file__).resolve().parents[2]
CLOSE = BevOption.CLOSE_ON_FREE


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- the child: one round per connection ----------------------------------------------------


class Round:
    """One connection's life; ``done()`` once every BufferEvent of it is closed."""

    EXPECTED: ClassVar[dict[str, bytes]] = {"half_close": b"pingbye", "tls_fail": b""}

    def __init__(self, rig: Rig, kind: str) -> None:
        self.rig, self.kind = rig, kind
        self.bevs: list[BufferEvent] = []
        self.got = bytearray()

    def done(self) -> bool:
        count = 4 if self.kind == "pair" else 2  # both ends (and the pair under them)
        return len(self.bevs) == count and all(bev.closed for bev in self.bevs)

    def as_expected(self) -> bool:
        return self.got == self.EXPECTED.get(self.kind, b"ping")

    def keep(self, bev: BufferEvent) -> None:
        self.bevs.append(bev)

    def note(self, bev: BufferEvent, what: int, arg: Any) -> None:
        """An event callback: remember a failure that is not expected, then close."""
        self.rig.check(bev.error)
        bev.close()

    # --- the client side ------------------------------------------------------------------

    def start(self) -> None:
        rig = self.rig
        if self.kind == "pair":
            self.start_pair()
            return
        if self.kind == "tls_fail":
            client: BufferEvent = TLSBufferEvent(
                rig.base, None, rig.client_ctx, TLSState.CONNECTING, CLOSE, "wrong.example"
            )
            under: SocketBufferEvent = client  # type: ignore[assignment]
        elif self.kind == "tls_filter":
            under = SocketBufferEvent(rig.base, None, CLOSE)
            client = TLSFilterBufferEvent(
                under, rig.client_ctx, TLSState.CONNECTING, CLOSE, "localhost"
            )
        else:
            client = under = SocketBufferEvent(rig.base, None, CLOSE)
        self.keep(client)
        client.set_callbacks(self.on_client_read, None, self.on_client_event)
        client.enable(READ)
        under.connect(rig.address)

    def on_client_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        if what & CONNECTED:  # the connect, or the TLS handshake over it
            bev.write(b"ping")
            return
        if self.kind == "half_close" and what & EOF and self.got == b"pingbye":
            bev.close()  # the server's answer, then its EOF
            return
        if self.kind != "tls_fail":
            self.rig.check(bev.error)
        bev.close()  # tls_fail: the expected certificate error

    def on_client_read(self, bev: BufferEvent, arg: Any) -> None:
        self.got += bev.read()
        if self.got != b"ping":
            return
        if self.kind == "reset":
            sock = bev.socket  # type: ignore[attr-defined]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            bev.close()
        elif self.kind == "half_close":
            bev.socket.shutdown(socket.SHUT_WR)  # type: ignore[attr-defined]
        else:
            bev.close()  # close, tls_filter (close_notify first)

    # --- the server side ------------------------------------------------------------------

    def accepted(self, sock: socket.socket) -> None:
        rig = self.rig
        if self.kind.startswith("tls"):
            server: BufferEvent = TLSBufferEvent(
                rig.base, sock, rig.server_ctx, TLSState.ACCEPTING, CLOSE
            )
        else:
            server = SocketBufferEvent(rig.base, sock, CLOSE)
        self.keep(server)
        server.set_callbacks(self.on_server_read, None, self.on_server_event)
        server.enable(READ)

    def on_server_read(self, bev: BufferEvent, arg: Any) -> None:
        bev.write(bev.read())  # echo

    def on_server_event(self, bev: BufferEvent, what: int, arg: Any) -> None:
        if what & CONNECTED:  # the TLS handshake is done: wait for the ping
            return
        if self.kind == "half_close" and what & EOF:
            bev.set_callbacks(None, lambda b, a: b.close(), self.note)  # close once sent:
            bev.write(b"bye")  # our answer after the client's EOF
            return
        if self.kind not in ("reset", "tls_fail"):
            self.rig.check(bev.error)
        bev.close()

    # --- no fds at all: a pair, with TLS filters over it ------------------------------------

    def start_pair(self) -> None:
        rig = self.rig
        left, right = pair(rig.base)
        client = TLSFilterBufferEvent(left, rig.client_ctx, TLSState.CONNECTING, CLOSE, "localhost")
        server = TLSFilterBufferEvent(right, rig.server_ctx, TLSState.ACCEPTING, CLOSE)
        for bev in (left, right, client, server):
            self.keep(bev)
        server.set_callbacks(self.on_server_read, None, self.on_server_event)
        client.set_callbacks(self.on_client_read, None, self.on_client_event)
        server.enable(READ)
        client.enable(READ)
        self.rig.base.loop(NONBLOCK)


class Rig:
    """The child's base, listener and TLS contexts; runs the rounds and reports."""

    KINDS = ("close", "reset", "half_close", "tls_fail", "tls_filter", "pair")

    def __init__(self, method: str, certs: Path) -> None:
        self.base = EventBase(EventConfig(method=method))
        self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_ctx.load_cert_chain(certs / "server.pem")
        self.client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client_ctx.load_verify_locations(certs / "ca.pem")
        self.problems: list[str] = []
        self.current: Round | None = None
        flags = ListenerFlag.REUSEABLE | ListenerFlag.CLOSE_ON_FREE
        self.listener = Listener.bind(self.base, self.on_accept, ("127.0.0.1", 0), flags=flags)
        self.listener.set_error_callback(lambda lst, exc: self.check(exc, always=True))
        self.address = self.listener.address
        self.tick = self.base.timer(lambda fd, what, arg: None, persist=True)
        self.tick.add(0.01)

    def check(self, exc: BaseException | None, always: bool = False) -> None:
        """Note an unexpected error (any error when ``always``; EMFILE is always one)."""
        if exc is None:
            return
        emfile = getattr(exc, "errno", None) == errno.EMFILE
        if always or emfile or not isinstance(exc, ssl.SSLError):
            self.problems.append(f"{self.current and self.current.kind}: {exc!r}")

    def on_accept(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        if self.current is None:
            sock.close()
            self.problems.append("a connection outside any round")
            return
        self.current.accepted(sock)

    def run(self, kind: str, seconds: float = 2.0) -> None:
        """One round; a stalled one is reported and its BufferEvents closed."""
        self.current = rnd = Round(self, kind)
        try:
            rnd.start()
        except OSError as exc:
            self.check(exc, always=True)
        deadline = time.monotonic() + seconds
        while not rnd.done() and time.monotonic() < deadline:
            self.base.loop(ONCE)  # the tick bounds each wait
        if not rnd.done():
            self.problems.append(f"{kind}: stalled")
            for bev in rnd.bevs:
                bev.close()
        elif not rnd.as_expected():
            self.problems.append(f"{kind}: the client got {bytes(rnd.got)!r}")
        self.current = None

    def close(self) -> None:
        self.tick.delete()
        self.listener.close()
        self.base.close()


def child(method: str, certs: str, rounds: int) -> None:
    """The child's main: lower the limit, warm up, run the rounds, print the report."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(FD_LIMIT, hard), hard))
    rig = Rig(method, Path(certs))
    for kind in Rig.KINDS:  # first uses may open what stays open (the ssl module's files)
        rig.run(kind)
    baseline = _open_fds()
    most = baseline
    for i in range(rounds):
        rig.run(Rig.KINDS[i % len(Rig.KINDS)])
        most = max(most, _open_fds())
        if len(rig.problems) >= 10:
            break  # enough to tell, and stalled rounds are slow
    report = {"baseline": baseline, "after": _open_fds(), "most": most, "problems": rig.problems}
    rig.close()
    print(json.dumps(report))


# --- the test -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)  # quicker handshakes than RSA
    where = tmp_path_factory.mktemp("certs")
    ca.cert_pem.write_to_path(where / "ca.pem")
    ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(where / "server.pem")
    return where


def run_child(method: str, certs: Path, rounds: int) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter (from the repository: ``tests`` imports)."""
    code = f"from tests.io.test_fd_leak import child; child({method!r}, {str(certs)!r}, {rounds})"
    argv = [sys.executable, "-c", code]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to count fds"
)


@needs_proc
def test_no_fd_leak_under_a_low_fd_limit(method: str, certs: Path) -> None:
    start = time.monotonic()
    report = run_child(method, certs, ROUNDS)
    assert report["problems"] == []  # no EMFILE, no unexpected error, no stalled round
    assert report["after"] == report["baseline"], report
    assert report["most"] <= report["baseline"] + 8  # connections never piled up
    assert time.monotonic() - start < 10
