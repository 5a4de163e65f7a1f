#!/usr/bin/env python3
"""Buffered IO benchmark: evweb SocketBufferEvent vs asyncio vs C libevent bufferevents.

Loopback only (AF_UNIX socketpair, 127.0.0.1 TCP with TCP_NODELAY, as asyncio sets it):
  echo      the client keeps 4 x 64 KiB chunks in flight, the server echoes; after
            ECHO_S s the client stops writing and waits for every byte.  MB/s echoed.
  pingpong  1 byte back and forth, PP_COUNT round trips or PP_CAP_S s.  Round trips/s.
  file      a FILE_MB temp file sent over TCP to a receiver subprocess (recv_into 1 MiB,
            answers the byte count): evweb Buffer.add_file (sendfile) vs a blocking
            read(64 KiB)+sendall loop; socket.sendfile for information (the ceiling).
Every echo/pingpong peer runs client and server in ONE process on ONE loop over a
pre-connected pair, the client logic being class Pace: evweb = 2 SocketBufferEvents on
one EventBase (server: output.add_buffer(input)); evweb-sink = the same with bytes handed
to a data sink as read (set_data_sink, asyncio's data_received model; the echo bar is
judged on it, like for like with the Protocol); asyncio Protocol =
connect_accepted_socket + create_connection(sock=); asyncio streams = open_connection(
sock=) on both ends (server: read(64 KiB), write, drain); C = bench/c/io_bench.c, one
process per sample.  Cells: median of RUNS samples after 1 warm-up, peers taking turns
sample by sample.  Exit status 1 iff a bar FAILs.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import Any

from _common import build_c, headline, print_rows

HERE = Path(__file__).resolve().parent
CHUNK = 64 * 1024
WINDOW = 4 * CHUNK
WATCHDOG_S = 60  # hard bound for one sample
SECTIONS = ("echo", "pingpong", "file")
TRANSPORTS = ("socketpair", "tcp")
STREAM_PEERS = ("evweb", "sink", "proto", "streams", "c")
FILE_PEERS = ("evweb", "readsend", "sendfile")
Runner = Generator[float, None, None]


@dataclass
class Cfg:
    runs: int = 5
    echo_s: float = 1.5
    pp_count: int = 20_000
    pp_cap_s: float = 5.0
    file_mb: int = 100


def _alarm(signum: int, frame: object) -> None:
    raise TimeoutError(f"no sample within {WATCHDOG_S} s")


def make_pair(transport: str) -> tuple[socket.socket, socket.socket]:
    """Two connected non-blocking sockets (client, server)."""
    if transport == "socketpair":
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        with socket.create_server(("127.0.0.1", 0)) as ls:
            a = socket.create_connection(ls.getsockname()[:2])
            b, _ = ls.accept()
        for s in (a, b):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for s in (a, b):
        s.setblocking(False)
    return a, b


class Pace:
    """The client's logic, shared verbatim by every Python peer."""

    def __init__(self, kind: str, cfg: Cfg) -> None:
        self.pingpong = kind == "pingpong"
        self.payload = b"x" if self.pingpong else b"x" * CHUNK
        self.seconds = cfg.pp_cap_s if self.pingpong else cfg.echo_s
        self.count = cfg.pp_count
        self.start()

    def start(self) -> int:
        """Reset; return how many payloads to write first."""
        self.sent = self.recvd = self.rts = 0
        self.stopping = self.done = False
        self.t0 = self.t_end = perf_counter()
        self.deadline = self.t0 + self.seconds
        return self.on_data(0) if not self.pingpong else self._more(1)

    def _more(self, k: int) -> int:
        self.sent += k * len(self.payload)
        return k

    def on_data(self, n: int) -> int:
        """``n`` bytes came back; return how many payloads to write now."""
        self.recvd += n
        if self.pingpong:
            self.rts += 1
            self.done = self.rts >= self.count or perf_counter() >= self.deadline
        else:
            self.stopping = self.stopping or perf_counter() >= self.deadline
            self.done = self.stopping and self.recvd == self.sent
        if self.done:
            self.t_end = perf_counter()
            return 0
        if self.pingpong:
            return self._more(1)
        gap = WINDOW - (self.sent - self.recvd)
        return 0 if self.stopping or gap <= 0 else self._more(-(-gap // CHUNK))

    def result(self) -> float:
        if not self.done or self.recvd != self.sent:
            raise RuntimeError(f"unfinished: sent {self.sent}, got back {self.recvd}")
        dt = self.t_end - self.t0
        return self.rts / dt if self.pingpong else self.recvd / dt / 1e6


def measure(run: Callable[[], float]) -> Runner:
    run()  # warm-up
    while True:
        yield run()


def evweb_peer(kind: str, transport: str, cfg: Cfg, sink: bool = False) -> Runner:
    from evweb.io import BevOption, BufferEvent, SocketBufferEvent
    from evweb.reactor import READ, TIMEOUT, WRITE, Event, EventBase

    base = EventBase()
    a, b = make_pair(transport)
    cli = SocketBufferEvent(base, a, BevOption.CLOSE_ON_FREE)
    srv = SocketBufferEvent(base, b, BevOption.CLOSE_ON_FREE)
    pace = Pace(kind, cfg)
    payload, failed = pace.payload, []

    def srv_read(bev: BufferEvent, arg: Any) -> None:
        bev.output.add_buffer(bev.input)

    def cli_read(bev: BufferEvent, arg: Any) -> None:
        inp = bev.input
        n = len(inp)
        inp.drain(n)
        for _ in range(pace.on_data(n)):
            bev.write(payload)
        if pace.done:
            base.loopbreak()

    def on_event(bev: BufferEvent, what: int, arg: Any) -> None:
        failed.append(f"event {what:#x}: {bev.error}")
        base.loopbreak()

    cli.set_callbacks(read=cli_read, event=on_event)
    srv.set_callbacks(read=srv_read, event=on_event)
    if sink:  # bytes handed to a callback as read, as asyncio's data_received
        def cli_data(bev: SocketBufferEvent, data: bytes) -> None:
            for _ in range(pace.on_data(len(data))):
                bev.write(payload)
            if pace.done:
                base.loopbreak()

        srv.set_data_sink(lambda bev, data: bev.write(data))
        cli.set_data_sink(cli_data)
    cli.enable(READ | WRITE)
    srv.enable(READ | WRITE)
    guard = Event(base, -1, TIMEOUT, lambda fd, what, arg: base.loopbreak())

    def run() -> float:
        guard.add(pace.seconds + 10)
        for _ in range(pace.start()):
            cli.write(payload)
        base.dispatch()
        guard.delete()
        if failed:
            raise RuntimeError(failed[0])
        return pace.result()

    try:
        yield from measure(run)
    finally:
        cli.close()
        srv.close()
        base.close()


def asyncio_peer(kind: str, transport: str, cfg: Cfg, streams: bool) -> Runner:
    loop = asyncio.new_event_loop()  # SelectorEventLoop (epoll)
    a, b = make_pair(transport)
    pace = Pace(kind, cfg)
    payload = pace.payload
    box: dict[str, Any] = {}

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.write = transport.write  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            self.write(data)

    class Client(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            write = box["tr"].write
            for _ in range(pace.on_data(len(data))):
                write(payload)
            if pace.done:
                box["fut"].set_result(None)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        write = writer.write
        for _ in range(pace.start()):
            write(payload)
        await writer.drain()
        while not pace.done:
            data = await reader.read(WINDOW)
            if not data:
                raise ConnectionError("EOF")
            for _ in range(pace.on_data(len(data))):
                write(payload)
            await writer.drain()

    async def setup() -> None:
        if streams:
            box["cr"], box["cw"] = await asyncio.open_connection(sock=a)
            sr, box["sw"] = await asyncio.open_connection(sock=b)
            box["task"] = loop.create_task(echo(sr, box["sw"]))
        else:
            box["st"], _ = await loop.connect_accepted_socket(Server, b)
            box["tr"], _ = await loop.create_connection(Client, sock=a)

    def run() -> float:
        if streams:
            coro = client(box["cr"], box["cw"])
        else:
            box["fut"] = loop.create_future()
            for _ in range(pace.start()):
                box["tr"].write(payload)
            coro = box["fut"]
        loop.run_until_complete(asyncio.wait_for(coro, pace.seconds + 10))
        return pace.result()

    try:
        loop.run_until_complete(setup())
        yield from measure(run)
    finally:
        for key in ("cw", "sw", "tr", "st"):
            if key in box:
                box[key].close()
        if "task" in box:
            box["task"].cancel()
        loop.run_until_complete(asyncio.sleep(0.01))
        loop.close()


def c_peer(exe: Path, kind: str, transport: str, cfg: Cfg) -> Runner:
    secs = cfg.pp_cap_s if kind == "pingpong" else cfg.echo_s
    cmd = [str(exe), kind, "unix" if transport == "socketpair" else "tcp",
           "-d", str(secs), "-n", str(cfg.pp_count)]
    while True:
        p = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=WATCHDOG_S)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip() or f"exit status {p.returncode}")
        yield float(p.stdout)


def receiver(max_conns: int) -> None:
    """``--receiver``: drain each connection, answer with its byte count."""
    with socket.create_server(("127.0.0.1", 0)) as ls:
        print(ls.getsockname()[1], flush=True)
        ls.settimeout(WATCHDOG_S)
        buf = bytearray(1 << 20)
        for _ in range(max_conns):
            try:
                conn, _ = ls.accept()
            except TimeoutError:
                return
            with conn:
                conn.settimeout(WATCHDOG_S)
                total = 0
                while n := conn.recv_into(buf):
                    total += n
                conn.sendall(total.to_bytes(8, "big"))


def _count(s: socket.socket) -> int:
    s.shutdown(socket.SHUT_WR)
    got = b""
    while len(got) < 8 and (part := s.recv(8 - len(got))):
        got += part
    return int.from_bytes(got, "big")


def file_peer(how: str, path: str, port: int) -> Runner:
    size = os.path.getsize(path)

    def blocking() -> float:
        with socket.create_connection(("127.0.0.1", port)) as s:
            t0 = perf_counter()
            with open(path, "rb", buffering=0) as f:
                if how == "sendfile":
                    s.sendfile(f)
                else:
                    while chunk := f.read(CHUNK):
                        s.sendall(chunk)
            n = _count(s)
            t1 = perf_counter()
        if n != size:
            raise RuntimeError(f"receiver got {n} of {size} bytes")
        return size / (t1 - t0) / 1e6

    if how != "evweb":
        yield from measure(blocking)
        return
    from evweb.io import BevOption, BufferEvent, SocketBufferEvent
    from evweb.reactor import READ, TIMEOUT, Event, EventBase

    base = EventBase()
    guard = Event(base, -1, TIMEOUT, lambda fd, what, arg: base.loopbreak())
    failed: list[str] = []

    def on_write(bev: BufferEvent, arg: socket.socket) -> None:  # the output is empty
        arg.shutdown(socket.SHUT_WR)
        bev.enable(READ)

    def on_read_or_event(bev: BufferEvent, *what: Any) -> None:
        if len(what) > 1:
            failed.append(f"event {what[0]:#x}: {bev.error}")
        if len(what) > 1 or len(bev.input) >= 8:
            base.loopbreak()

    def run() -> float:
        s = socket.create_connection(("127.0.0.1", port))
        t0 = perf_counter()
        bev = SocketBufferEvent(base, s, BevOption.CLOSE_ON_FREE)
        bev.set_callbacks(on_read_or_event, on_write, on_read_or_event, s)
        bev.output.add_file(os.open(path, os.O_RDONLY))
        guard.add(WATCHDOG_S)
        base.dispatch()
        t1 = perf_counter()
        guard.delete()
        n = int.from_bytes(bev.input.remove(8), "big")
        bev.close()
        if failed or n != size:
            raise RuntimeError(failed[0] if failed else f"receiver got {n} of {size} bytes")
        return size / (t1 - t0) / 1e6

    try:
        yield from measure(run)
    finally:
        base.close()


def sample_rows(rows: Mapping[str, Mapping[str, Callable[[], Runner]]], runs: int,
                notes: dict[str, list[str]]) -> dict[tuple[str, str], float]:
    """Median per (row, peer); the peers of a row take turns sample by sample."""
    res: dict[tuple[str, str], float] = {}
    for row, makers in rows.items():
        print(f"  {row} ...", file=sys.stderr)
        runners = {col: make() for col, make in makers.items()}
        samples: dict[str, list[float]] = {col: [] for col in runners}
        for _ in range(runs):
            for col, runner in list(runners.items()):
                signal.setitimer(signal.ITIMER_REAL, WATCHDOG_S * 3)  # incl. the warm-up
                try:
                    samples[col].append(next(runner))
                except Exception as e:  # record, drop this peer for the row
                    runner.close()
                    del runners[col], samples[col]
                    msg = f"{type(e).__name__}: {e}".splitlines()[0][:160]
                    notes.setdefault(msg, []).append(f"{col} {row}")
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        for col, runner in runners.items():
            runner.close()
            res[row, col] = statistics.median(samples[col])
    return res


def print_table(title: str, rows: list[str], cols: list[str], res: dict[tuple[str, str], float],
                na: dict[str, str], ratios: list[tuple[str, str, str]]) -> None:
    table = [["row", *cols, *(name for name, _, _ in ratios)]]
    for row in rows:
        cells = [row] + ["n/a" if c in na else f"{res[row, c]:.1f}" if (row, c) in res else "err"
                         for c in cols]
        for _, x, y in ratios:
            vx, vy = res.get((row, x)), res.get((row, y))
            cells.append(f"{vx / vy:.2f}" if vx is not None and vy else "n/a")
        table.append(cells)
    print_rows(title, table)


@contextmanager
def payload_file(cfg: Cfg) -> Iterator[tuple[str, int]]:
    """A FILE_MB file in a temp dir and a receiver subprocess; both gone afterwards."""
    tmp = tempfile.mkdtemp(prefix="evweb-io-")
    proc = None
    try:
        path, block = os.path.join(tmp, "payload.bin"), os.urandom(1 << 20)
        with open(path, "wb") as f:
            for _ in range(cfg.file_mb):
                f.write(block)
        proc = subprocess.Popen([sys.executable, __file__, "--receiver"],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        yield path, int(proc.stdout.readline())
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def profile(case: str, cfg: Cfg) -> None:
    """``--profile echo:tcp`` etc.: cProfile of RUNS evweb samples, top 15 by tottime."""
    kind, _, transport = case.partition(":")
    with payload_file(cfg) if kind == "file" else nullcontext(("", 0)) as (path, port):
        runner = file_peer("evweb", path, port) if kind == "file" else \
            evweb_peer(kind, transport or "socketpair", cfg)
        next(runner)  # warm-up + one sample, not profiled
        prof = cProfile.Profile()
        prof.enable()
        values = [next(runner) for _ in range(cfg.runs)]
        prof.disable()
        runner.close()
    print(f"evweb {case}: {', '.join(f'{v:.1f}' for v in values)}")
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


NAMES = {"evweb": "evweb", "sink": "evweb-sink", "proto": "aio-protocol",
         "streams": "aio-streams", "c": "C-libevent", "readsend": "read+send",
         "sendfile": "sock.sendfile"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: short runs, 1 sample")
    ap.add_argument("--runs", type=int, help="samples per cell after a warm-up (default 5)")
    ap.add_argument("--only", default="", help="comma list of sections (echo,pingpong,file) "
                    "and/or peers (evweb,proto,streams,c,readsend,sendfile)")
    ap.add_argument("--profile", metavar="CASE", help="cProfile evweb on echo:socketpair, "
                    "echo:tcp, pingpong:socketpair, pingpong:tcp or file")
    ap.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.receiver:
        receiver(1000)
        return 0
    cfg = Cfg(runs=1, echo_s=0.3, pp_count=2000, pp_cap_s=2.0, file_mb=20) if opts.quick else Cfg()
    cfg.runs = opts.runs or cfg.runs
    only = {s.strip() for s in opts.only.split(",") if s.strip()}
    if cfg.runs < 1 or not only <= {*SECTIONS, *NAMES}:
        ap.error("--runs must be >= 1; see --help for --only")
    sections = [s for s in SECTIONS if s in only] or list(SECTIONS)
    peers = [p for p in NAMES if p in only] or list(NAMES)
    sys.path.insert(0, str(HERE.parent))  # the repo root, for `import evweb`
    signal.signal(signal.SIGALRM, _alarm)
    if opts.profile:
        profile(opts.profile, cfg)
        return 0

    na: dict[str, str] = {}  # column -> why it is n/a
    try:
        import evweb.io  # noqa: F401
    except Exception as e:  # any import problem makes it n/a
        na["evweb"] = f"{type(e).__name__}: {e}"
    exe, why = build_c("io_bench", "event2/bufferevent.h", ("-levent_core",)) \
        if "c" in peers else (None, "")
    if exe is None and why:
        na["C-libevent"] = why
    makers: dict[str, Callable[[str, str], Runner]] = {
        "evweb": partial(evweb_peer, cfg=cfg),
        "sink": partial(evweb_peer, cfg=cfg, sink=True),
        "proto": partial(asyncio_peer, cfg=cfg, streams=False),
        "streams": partial(asyncio_peer, cfg=cfg, streams=True)}
    if exe is not None:
        makers["c"] = partial(c_peer, exe, cfg=cfg)
    cols = [NAMES[p] for p in STREAM_PEERS if p in peers]
    rows = {f"{k} {t}": {NAMES[p]: partial(makers[p], k, t) for p in STREAM_PEERS
                         if p in peers and p in makers and NAMES[p] not in na}
            for k in sections if k != "file" for t in TRANSPORTS}
    notes: dict[str, list[str]] = {}
    res = sample_rows(rows, cfg.runs, notes)
    frow, fcols = f"file {cfg.file_mb} MB tcp", [NAMES[p] for p in FILE_PEERS if p in peers]
    if "file" in sections:
        with payload_file(cfg) as (path, port):
            res |= sample_rows({frow: {NAMES[p]: partial(file_peer, p, path, port)
                                       for p in FILE_PEERS if p in peers and NAMES[p] not in na}},
                               cfg.runs, notes)

    print_table(f"echo: MB/s, pingpong: round trips/s (median of {cfg.runs} samples, peers "
                f"alternating), python {sys.version.split()[0]}", list(rows), cols, res, na,
                [("ev/proto", "evweb", "aio-protocol"),
                 ("sink/proto", "evweb-sink", "aio-protocol"),
                 ("ev/streams", "evweb", "aio-streams"),
                 ("ev/C", "evweb", "C-libevent")])
    if "file" in sections:
        print_table("file: MB/s", [frow], fcols, res, na, [
            ("ev/read+send", "evweb", "read+send"), ("ev/sendfile", "evweb", "sock.sendfile")])
    for col, why in na.items():
        print(f"n/a  {col}: {why}")
    for msg, where in notes.items():
        print(f"err  {msg}  [{', '.join(where)}]")

    # echo: like for like, bytes handed to a callback as read (the data sink, which the
    # HTTP server and client use) against asyncio's data_received; the input-Buffer
    # column is shown beside it for information.
    bars = [(f"echo {t}", "evweb-sink", "aio-protocol", 1.0) for t in TRANSPORTS
            if "echo" in sections]
    bars += [(f"pingpong {t}", "evweb", "aio-streams", 1.0) for t in TRANSPORTS
             if "pingpong" in sections]
    bars += [(frow, "evweb", "read+send", 1.5)] if "file" in sections else []
    verdicts = []
    for row, mine, other, factor in bars:
        x, y = res.get((row, mine)), res.get((row, other))
        if x is None or y is None:
            print(f"bar  {row}: {mine} >= {factor} x {other}: not measured  SKIP")
            continue
        verdicts.append(x >= factor * y)
        print(f"bar  {row}: {mine} {x:.1f} vs {other} {y:.1f} = {x / y:.2f} "
              f"(bar >= {factor})  {'PASS' if verdicts[-1] else 'FAIL'}")
    return headline(verdicts)


if __name__ == "__main__":
    sys.exit(main())
