"""Streaming replies: chunked transfer coding with back-pressure, and a timer-driven stream.

``GET /stream?chunks=N&size=B`` sends N chunks of B bytes, each one only
once the one before has been handed to the kernel (``send_chunk``'s
``on_flushed`` callback), so however slowly the client reads, the server
holds one chunk for it, never the whole reply. ``GET /ticks?n=N&interval=S``
sends a line every S seconds from a timer and stops early if the client
goes away. HTTP/1.1 clients get ``Transfer-Encoding: chunked``; HTTP/1.0
clients get the raw bytes and a close, which the server decides, not the
handler.

    python apps/chunked.py [--host 127.0.0.1] [--port 8080]
    curl -N 'http://127.0.0.1:8080/ticks?n=10&interval=0.5'
    python apps/chunked.py --self-test     # stream to a slow reader, check every byte, exit 0
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from evweb.http import HTTPServer, Request
from evweb.http.runner import run_until_signal
from evweb.reactor import EventBase

MAX_CHUNKS, MAX_SIZE = 100_000, 1 << 20


def chunk_bytes(index: int, size: int) -> bytes:
    """Chunk ``index``'s content: its number repeated, so a reader can check order and length."""
    pattern = b"%09d\n" % index
    return (pattern * (size // len(pattern) + 1))[:size]


class Stream:
    """One /stream reply: sends the next chunk when the previous one has left."""

    def __init__(self, req: Request, chunks: int, size: int) -> None:
        self.req = req
        self.chunks = chunks
        self.size = size
        self.sent = 0
        self.queued = 0  # chunks handed to send_chunk and not yet flushed
        self.most_queued = 0

    def start(self) -> None:
        self.req.response_headers["Content-Type"] = "text/plain"
        self.req.start_reply(200)
        self.next(self.req)

    def next(self, req: Request) -> None:
        self.queued = max(0, self.queued - 1)
        if self.sent == self.chunks:
            req.end_reply()
            print(
                f"stream: {self.chunks} chunks of {self.size} bytes sent,"
                f" at most {self.most_queued} waiting in the server",
                flush=True,
            )
            return
        self.queued += 1
        self.most_queued = max(self.most_queued, self.queued)
        data = chunk_bytes(self.sent, self.size)
        self.sent += 1
        req.send_chunk(data, self.next)


def int_arg(req: Request, name: str, default: int, limit: int) -> int:
    try:
        value = int(req.query.get(name, str(default)))
    except ValueError:
        return default
    return max(0, min(value, limit))


def stream_cb(req: Request) -> None:
    Stream(
        req, int_arg(req, "chunks", 100, MAX_CHUNKS), int_arg(req, "size", 16384, MAX_SIZE)
    ).start()


def make_ticks_cb(base: EventBase) -> Any:
    def ticks_cb(req: Request) -> None:
        count = int_arg(req, "n", 5, 1000)
        try:
            interval = min(max(float(req.query.get("interval", "0.5")), 0.001), 60.0)
        except ValueError:
            interval = 0.5
        req.response_headers["Content-Type"] = "text/plain; charset=utf-8"
        req.start_reply(200)
        started = time.monotonic()
        state = {"sent": 0}

        def tick(fd: int, what: int, arg: Any) -> None:
            if req.connection_lost:
                timer.delete()
                print(f"ticks: the client left after {state['sent']} lines", flush=True)
                return
            state["sent"] += 1
            req.send_chunk(f"tick {state['sent']} at {time.monotonic() - started:.3f} s\n")
            if state["sent"] >= count:
                timer.delete()
                req.end_reply()

        timer = base.timer(tick, persist=True)
        timer.add(interval)

    return ticks_cb


def serve(host: str, port: int, on_ready: Any = None) -> int:
    base = EventBase()
    server = HTTPServer(base)
    server.set_cb("/stream", stream_cb)
    server.set_cb("/ticks", make_ticks_cb(base))
    address = server.bind((host, port)).address
    print(f"Listening on http://{address[0]}:{address[1]}/", flush=True)

    run_until_signal(server, 5.0, ready=None if on_ready is None else lambda: on_ready(address))
    server.close()
    base.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    return serve(args.host, args.port)


# --- self-test ----------------------------------------------------------------------------------


def self_test() -> int:
    results: dict[str, bool] = {}

    def client(address: Any) -> None:
        try:
            results.update(_exercise(address[:2]))
        except Exception as exc:
            print(f"self-test client failed: {exc!r}", flush=True)
            results["client"] = False
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    def ready(address: Any) -> None:
        threading.Thread(target=client, args=(address,)).start()

    status = serve("127.0.0.1", 0, on_ready=ready)
    ok = status == 0 and bool(results) and all(results.values())
    summary = ", ".join(f"{name}={'ok' if good else 'FAILED'}" for name, good in results.items())
    print(f"chunked self-test: {'ok' if ok else 'FAILED'}: {summary}", flush=True)
    return 0 if ok else 1


def _exercise(address: Any) -> dict[str, bool]:
    out: dict[str, bool] = {}
    chunks, size = 200, 65536
    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request("GET", f"/stream?chunks={chunks}&size={size}")
    reply = conn.getresponse()
    out["chunked coding"] = reply.getheader("Transfer-Encoding") == "chunked"
    time.sleep(0.3)  # a slow reader: the server must wait for it, not buffer 12 MiB
    body = reply.read()
    conn.close()
    expected = b"".join(chunk_bytes(i, size) for i in range(chunks))
    out["every byte in order"] = body == expected
    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request("GET", "/ticks?n=5&interval=0.02")
    lines = conn.getresponse().read().decode().splitlines()
    conn.close()
    out["ticks"] = [line.split(" at ")[0] for line in lines] == [f"tick {i}" for i in range(1, 6)]
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"GET /stream?chunks=3&size=10 HTTP/1.0\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    out["http/1.0 close-delimited"] = b"chunked" not in head and rest == b"".join(
        chunk_bytes(i, 10) for i in range(3)
    )
    with socket.create_connection(address, timeout=10) as sock:  # leaves mid-stream
        sock.sendall(b"GET /ticks?n=100&interval=0.01 HTTP/1.1\r\nHost: x\r\n\r\n")
        out["client leaving"] = sock.recv(100).startswith(b"HTTP/1.1 200")
    time.sleep(0.1)
    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request("GET", "/ticks?n=1&interval=0.01")
    out["still serving"] = conn.getresponse().read().startswith(b"tick 1")
    conn.close()
    return out


if __name__ == "__main__":
    sys.exit(main())
