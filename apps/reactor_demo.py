"""A line-based chat server on evweb's reactor alone: fd events, timers, signals.

Every line a client sends is broadcast to every client. Idle clients are
dropped after --idle seconds, a persistent timer prints statistics, and
SIGINT/SIGTERM stop the loop cleanly. Try it with ``nc 127.0.0.1 9995``.

    python apps/reactor_demo.py [--host 127.0.0.1] [--port 9995] [--idle 60]
    python apps/reactor_demo.py --self-test     # connect two clients, chat, exit 0
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from typing import Any

from evweb.reactor import PERSIST, READ, TIMEOUT, WRITE, Event, EventBase


class Client:
    """One connection: a read event, a write event when output is pending."""

    def __init__(self, server: ChatServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        host, port = sock.getpeername()[:2]
        self.name = f"{host}:{port}"
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        base = server.base
        self.reader = Event(base, sock, READ | PERSIST, self.on_readable)
        self.writer = Event(base, sock, WRITE | PERSIST, self.on_writable)
        self.reader.add(server.idle)

    def on_readable(self, fd: int, what: int, arg: Any) -> None:
        if what & TIMEOUT:
            self.send(b"* idle too long, bye\n")
            return self.close()
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return self.close()
        self.server.bytes_in += len(data)
        self.inbuf += data
        while (end := self.inbuf.find(b"\n")) >= 0:
            line = bytes(self.inbuf[: end + 1])
            del self.inbuf[: end + 1]
            self.server.broadcast(f"[{self.name}] ".encode() + line)

    def send(self, data: bytes) -> None:
        if not self.outbuf:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                return self.close()
            data = data[sent:]
        if data:
            self.outbuf += data
            self.writer.add()

    def on_writable(self, fd: int, what: int, arg: Any) -> None:
        try:
            sent = self.sock.send(self.outbuf)
        except BlockingIOError:
            return
        except OSError:
            return self.close()
        del self.outbuf[:sent]
        if not self.outbuf:
            self.writer.delete()

    def close(self) -> None:
        self.reader.delete()
        self.writer.delete()
        self.sock.close()
        self.server.clients.discard(self)


class ChatServer:
    """The listening socket, the clients, a statistics timer and the stop signals."""

    def __init__(self, base: EventBase, host: str, port: int, idle: float) -> None:
        self.base = base
        self.idle = idle
        self.clients: set[Client] = set()
        self.bytes_in = 0
        self.listener = socket.create_server((host, port), reuse_port=False)
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()[:2]
        self.accept_event = base.event(self.listener, READ | PERSIST, self.on_accept)
        self.accept_event.add()
        self.stats = base.timer(self.on_stats, persist=True)
        self.stats.add(5.0)
        self.signals = [base.signal(s, self.on_signal) for s in (signal.SIGINT, signal.SIGTERM)]
        for ev in self.signals:
            ev.add()

    def on_accept(self, fd: int, what: int, arg: Any) -> None:
        while True:  # drain the backlog, as libevent's listener does
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            client = Client(self, sock)
            self.clients.add(client)
            client.send(f"* welcome {client.name}; {len(self.clients)} here\n".encode())

    def broadcast(self, line: bytes) -> None:
        for client in list(self.clients):
            client.send(line)

    def on_stats(self, fd: int, what: int, arg: Any) -> None:
        print(f"stats: {len(self.clients)} clients, {self.bytes_in} bytes in", flush=True)

    def on_signal(self, signo: int, what: int, arg: Any) -> None:
        print(f"got {signal.Signals(signo).name}, stopping", flush=True)
        self.broadcast(b"* server shutting down\n")
        self.base.loopexit(0.1)  # let the goodbye lines go out

    def close(self) -> None:
        for client in list(self.clients):
            client.close()
        for ev in (self.accept_event, self.stats, *self.signals):
            ev.delete()
        self.listener.close()


def self_test(address: tuple[str, int]) -> None:
    """Two clients chat, then the server is told to stop (runs in a thread)."""
    with (
        socket.create_connection(address, timeout=5) as a,
        socket.create_connection(address, timeout=5) as b,
    ):
        a.recv(100)  # welcome
        b.recv(100)
        a.sendall(b"hello from a\n")
        got = b""
        while b"hello from a" not in got:
            got += b.recv(100)
        print("self-test: b received:", got.decode().strip().splitlines()[-1], flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9995)
    parser.add_argument("--idle", type=float, default=60.0, help="idle timeout in seconds")
    parser.add_argument("--self-test", action="store_true", help="chat with itself and exit")
    args = parser.parse_args()
    with EventBase() as base:
        server = ChatServer(base, args.host, 0 if args.self_test else args.port, args.idle)
        host, port = server.address
        print(f"evweb reactor demo ({base.method}) listening on {host}:{port}", flush=True)
        print(f"try: nc {host} {port}   (Ctrl-C stops)", flush=True)
        if args.self_test:
            tester = threading.Thread(target=self_test, args=(server.address,))
            tester.start()
            watchdog = base.timer(lambda *_: base.loopexit())
            watchdog.add(10.0)

            def check(fd: int, what: int, arg: Any) -> None:
                if not tester.is_alive():
                    base.loopexit()

            poller = base.timer(check, persist=True)
            poller.add(0.02)
            base.dispatch()
            tester.join(5)
            poller.delete()
            watchdog.delete()
        else:
            base.dispatch()
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
