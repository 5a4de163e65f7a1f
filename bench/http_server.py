#!/usr/bin/env python3
"""HTTP/1.1 server benchmark: evweb vs aiohttp, tornado and C libevent's evhttp.

Every server under test is a subprocess started from a command line (bench/servers/,
and bench/c/evhttp_hello.c built into bench/.build/), pinned to CPU 0 with taskset and
listening on 127.0.0.1:PORT; the harness waits until a connect succeeds.  GET / answers
200 "Hello, World!" (13 bytes, text/plain) with keep-alive; a raw-socket check asks it
twice on one connection before any load.  A server that exits before it listens (the
evweb entries, until evweb's HTTP server exists) is shown as skipped, with the last
line it wrote as the reason.  Clients run on CPU 1.
  throughput  wrk -c 50 -t 1 -d 5s --latency; ROUNDS rounds after a WARMUP s run, the
              servers taking turns round by round (all of them running, idle but one).
              req/s: median and min-max of the rounds; p99 latency: median.
  idle        the server's VmRSS before and after IDLE connections (opened by one
              selectors client, 64 at a time), each having made one keep-alive GET and
              read the answer, all of them idle: (after - before) / IDLE, KB per conn.
  static      a FILE_MB MiB file in a temp dir, GET /payload.bin over one keep-alive
              connection, the client reading into a reusable 1 MiB buffer (the first
              download checks the bytes, untimed); MB/s (10^6 B), best of ROUNDS.
Exit status 1 iff a bar FAILs.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import hashlib
import os
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import IO, TypeVar

from _common import build_c, headline, print_rows, raise_nofile

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # the repo root: the servers' working directory
HELLO = b"Hello, World!"
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
FILE_NAME = "payload.bin"
SERVER_CPU, CLIENT_CPU = 0, 1
START_S = 15.0  # a server must listen within this
STOP_S = 5.0  # SIGTERM, then SIGKILL after this
IO_TIMEOUT_S = 10.0  # any one recv/send of the checks and the static client
IDLE_INFLIGHT = 64  # idle client: connections being opened at once (< listen backlogs)
IDLE_DEADLINE_S = 120.0  # idle client: all connections answered within this
IDLE_SETTLE_S = 1.0  # pause before each RSS reading
STATIC_DEADLINE_S = 60.0  # one download
CASES = ("throughput", "idle", "static")
PY = "{python}"  # stands for sys.executable in the command templates
# Command templates: {port}, {root}; {evhttp} is the built C server.
HELLO_SERVERS: dict[str, list[str]] = {
    "evweb-lowlevel": [PY, "bench/servers/evweb_lowlevel.py", "--port", "{port}"],
    "evweb-app": [PY, "bench/servers/evweb_app.py", "--port", "{port}"],
    "aiohttp": [PY, "bench/servers/aiohttp_hello.py", "--port", "{port}"],
    "tornado": [PY, "bench/servers/tornado_hello.py", "--port", "{port}"],
    "evhttp": ["{evhttp}", "-p", "{port}"],
}
STATIC_SERVERS: dict[str, list[str]] = {
    "evweb-static": [PY, "bench/servers/evweb_static.py", "--port", "{port}", "--root", "{root}"],
    "aiohttp": [PY, "bench/servers/aiohttp_hello.py", "--port", "{port}", "--root", "{root}"],
    "evhttp": ["{evhttp}", "-p", "{port}", "-r", "{root}"],
}
# (x, y, bar): ratio x / y of req/s, a bar when not None
RATIOS: list[tuple[str, str, float | None]] = [
    ("evweb-app", "aiohttp", 1.5), ("evweb-app", "evhttp", 0.5),
    ("evweb-lowlevel", "evhttp", None), ("evweb-lowlevel", "aiohttp", None),
    ("evweb-app", "evweb-lowlevel", None), ("evweb-app", "tornado", None),
    ("aiohttp", "evhttp", None), ("tornado", "evhttp", None)]
IDLE_BAR_KB = 4.0  # each evweb hello server: <= this per idle connection
STATIC_BAR = 1.0  # evweb-static >= this x aiohttp
_T = TypeVar("_T")


@dataclass
class Cfg:
    duration: int = 5
    rounds: int = 3
    warmup: int = 1
    connections: int = 50
    idle: int = 10_000
    file_mb: int = 100
    pin: list[str] = field(default_factory=list)  # taskset prefix for the servers
    client_pin: list[str] = field(default_factory=list)  # ... and for wrk
    evhttp: str = ""  # the built C server, or "" when it could not be built
    evhttp_why: str = ""


# --- HTTP on raw sockets ---------------------------------------------------------------

def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def response_end(buf: bytes | bytearray) -> int | None:
    """Length of the complete response at the start of ``buf``, None while it is not
    complete.  Content-Length framing only (chunked replies raise ValueError)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    _, headers = parse_head(bytes(buf[:end]))
    if "content-length" not in headers:
        raise ValueError("response without Content-Length")
    total = end + 4 + int(headers["content-length"])
    return total if len(buf) >= total else None


def get(sock: socket.socket, request: bytes = REQUEST) -> tuple[int, dict[str, str], bytes]:
    """One request on a blocking socket: (status, headers, body)."""
    sock.sendall(request)
    buf = bytearray()
    while (total := response_end(buf)) is None:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"EOF after {len(buf)} bytes of the response")
        buf += data
    if total != len(buf):
        raise ValueError(f"{len(buf) - total} unexpected bytes after the response")
    end = buf.find(b"\r\n\r\n")
    status, headers = parse_head(bytes(buf[:end]))
    return status, headers, bytes(buf[end + 4:])


def check_hello(port: int) -> str:
    """Two GET / on one connection; "" when both are right, else what is wrong."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as s:
            for i in (1, 2):
                status, headers, body = get(s)
                ctype = headers.get("content-type", "")
                if status != 200 or body != HELLO or not ctype.startswith("text/plain"):
                    return (f"GET / #{i}: status {status}, Content-Type {ctype!r}, "
                            f"body {body[:40]!r}")
                if headers.get("connection", "").lower() == "close":
                    return f"GET / #{i}: Connection: close (no keep-alive)"
    except (OSError, ValueError) as e:
        return f"GET /: {type(e).__name__}: {e}"
    return ""


# --- servers -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_setup(nofile: int) -> None:
    """In the server child, before exec: the fd limit, and SIGTERM if the harness dies."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    """One server subprocess: ``start()`` returns "" once it listens, else why not."""

    def __init__(self, name: str, argv: list[str], pin: list[str], nofile: int = 4096) -> None:
        self.name, self.argv, self.pin, self.nofile = name, argv, pin, nofile
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None

    def start(self) -> str:
        self.port = free_port()
        cmd = self.pin + [a.replace("{port}", str(self.port)) for a in self.argv]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        try:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=subprocess.STDOUT,
                                         preexec_fn=partial(_child_setup, self.nofile))
        except OSError as e:
            self.stop()
            return f"cannot run {cmd[0]}: {e.strerror}"
        deadline = time.monotonic() + START_S
        while True:
            rc = self.proc.poll()
            if rc is not None:
                why = f"{self.last_output()}; exit status {rc}"
                self.stop()
                return why
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return ""
            if time.monotonic() > deadline:
                self.stop()
                return f"not listening after {START_S:g} s"
            time.sleep(0.02)

    def last_output(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0, os.SEEK_END)
        self.log.seek(max(0, self.log.tell() - 4096))
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1].strip()[:200] if lines else "no output"

    def rss_kb(self) -> int:
        """VmRSS of the server and of its descendants, in KiB."""
        assert self.proc is not None
        total, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                m = re.search(r"^VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
                total += int(m[1]) if m else 0
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
        return total

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(STOP_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(STOP_S)
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


def server_argv(template: list[str], cfg: Cfg, root: str = "") -> tuple[list[str], str]:
    """The command line of a template (``{port}`` left in), or ([], why not)."""
    if "{evhttp}" in template and not cfg.evhttp:
        return [], cfg.evhttp_why
    subst = {PY: sys.executable, "{evhttp}": cfg.evhttp, "{root}": root}
    return [subst.get(a, a) for a in template], ""


def shown(argv: Sequence[str]) -> str:
    """A command line as a reader would type it from the repo root."""
    out = []
    for a in argv:
        a = "python" if a == sys.executable else a
        with contextlib.suppress(ValueError):
            a = str(Path(a).relative_to(ROOT)) if a.startswith("/") else a
        out.append(a)
    return shlex.join(out)


@contextlib.contextmanager
def started(templates: dict[str, list[str]], cfg: Cfg, skipped: dict[str, str],
            root: str = "", nofile: int = 4096,
            check: Callable[[int], str] | None = check_hello) -> Iterator[dict[str, Server]]:
    """Start each server; those that fail to start or fail ``check`` go to ``skipped``.
    All are stopped on the way out, whatever happens."""
    with contextlib.ExitStack() as stack:
        running: dict[str, Server] = {}
        for name, template in templates.items():
            argv, why = server_argv(template, cfg, root)
            if not why:
                srv = Server(name, argv, cfg.pin, nofile)
                stack.callback(srv.stop)
                why = srv.start()
                if not why and check is not None and (bad := check(srv.port)):
                    why = f"bad answer: {bad}"
                    srv.stop()
            if why:
                skipped[name] = why
            else:
                running[name] = srv
        yield running


# --- throughput ----------------------------------------------------------------------------

def parse_wrk(out: str) -> tuple[float, float, int]:
    """(req/s, p99 latency in ms, errors) from ``wrk --latency`` output."""
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if rps is None or p99 is None:
        raise ValueError("no Requests/sec or 99% line in wrk's output: "
                         + " | ".join(out.strip().splitlines()[-3:]))
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99[2]]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    n = sum(map(int, errors.groups())) if errors else 0
    return float(rps[1]), float(p99[1]) * scale, n + (int(non2xx[1]) if non2xx else 0)


def wrk_argv(cfg: Cfg, seconds: int, port: int | str) -> list[str]:
    return [*cfg.client_pin, "wrk", "-c", str(cfg.connections), "-t", "1", "-d", f"{seconds}s",
            "--latency", "--timeout", "5s", f"http://127.0.0.1:{port}/"]


def run_wrk(cfg: Cfg, seconds: int, port: int) -> tuple[float, float, int]:
    p = subprocess.run(wrk_argv(cfg, seconds, port), check=False, capture_output=True,
                       text=True, timeout=seconds + 30)
    if p.returncode != 0:
        raise RuntimeError(f"wrk exit status {p.returncode}: {p.stderr.strip()[:160]}")
    return parse_wrk(p.stdout)


def throughput(cfg: Cfg, names: list[str], skipped: dict[str, str],
               notes: list[str]) -> dict[str, list[tuple[float, float, int]]]:
    if shutil.which("wrk") is None:
        skipped.update((n, "wrk not found (apt install wrk)") for n in names)
        return {}
    samples: dict[str, list[tuple[float, float, int]]] = {}
    with started({n: HELLO_SERVERS[n] for n in names}, cfg, skipped) as running:
        for name, srv in list(running.items()):  # warm-up, not counted
            print(f"  throughput {name}: warm-up", file=sys.stderr)
            try:
                if cfg.warmup:
                    run_wrk(cfg, cfg.warmup, srv.port)
                samples[name] = []
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                skipped[name] = f"warm-up: {e}"
                srv.stop()
        active = list(samples)
        for r in range(cfg.rounds):  # the servers take turns round by round
            for name in list(active):
                print(f"  throughput round {r + 1}/{cfg.rounds}: {name}", file=sys.stderr)
                try:
                    samples[name].append(run_wrk(cfg, cfg.duration, running[name].port))
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                    drop(name, f"throughput round {r + 1}: {e}", active, samples, skipped, notes)
                    running[name].stop()
    return samples


def drop(name: str, why: str, active: list[str], samples: dict[str, list[_T]],
         skipped: dict[str, str], notes: list[str]) -> None:
    """A server failed a round: no more rounds; skipped if it has no sample yet."""
    active.remove(name)
    notes.append(f"{name} {why}")
    if not samples[name]:
        del samples[name]
        skipped[name] = why


def throughput_report(cfg: Cfg, names: list[str], samples: dict[str, list[tuple[float, float,
                      int]]], skipped: dict[str, str]) -> dict[str, float]:
    med = {n: statistics.median(s[0] for s in v) for n, v in samples.items()}
    table = [["server", "req/s", "min-max", "p99 ms", "errors", "/aiohttp", "/evhttp"]]
    for name in names:
        if name in skipped:
            table.append([name, f"skipped ({skipped[name]})"])
            continue
        rps = [s[0] for s in samples[name]]
        rel = [f"{med[name] / med[o]:.2f}" if o in med else "n/a" for o in ("aiohttp", "evhttp")]
        table.append([name, f"{med[name]:.0f}", f"{min(rps):.0f}-{max(rps):.0f}",
                      f"{statistics.median(s[1] for s in samples[name]):.2f}",
                      str(sum(s[2] for s in samples[name])), *rel])
    print_rows(f"throughput: req/s, `{shown(wrk_argv(cfg, cfg.duration, 'PORT'))}`, median of "
               f"{cfg.rounds} round(s) after a {cfg.warmup} s warm-up, servers alternating round "
               "by round", table)
    ratios = [["ratio", "value", "bar"]]
    for x, y, bar in RATIOS:
        if x in names and y in names:
            value = f"{med[x] / med[y]:.2f}" if x in med and y in med else "n/a"
            ratios.append([f"{x} / {y}", value, f">= {bar}" if bar is not None else "info"])
    if len(ratios) > 1:
        print_rows("throughput ratios (of the medians):", ratios)
    return med


# --- idle keep-alive memory -----------------------------------------------------------------

def open_idle(port: int, n: int, deadline: float) -> list[socket.socket]:
    """``n`` connections, each having sent one GET and read the full answer (bounded by
    ``deadline``, a time.monotonic() value).  Raises on any failure, closing them all."""
    sel = selectors.DefaultSelector()
    done: list[socket.socket] = []
    bufs: dict[socket.socket, bytearray] = {}
    opened = 0
    try:
        while len(done) < n:
            while opened < n and len(bufs) < IDLE_INFLIGHT:
                s = socket.socket()
                bufs[s] = bytearray()
                s.setblocking(False)
                err = s.connect_ex(("127.0.0.1", port))
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, f"connect #{opened + 1}: {os.strerror(err)}")
                sel.register(s, selectors.EVENT_WRITE)
                opened += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(done)} of {n} connections answered in time")
            for key, events in sel.select(min(left, 1.0)):
                s = key.fileobj  # type: ignore[assignment]
                if events & selectors.EVENT_WRITE:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, f"connect: {os.strerror(err)}")
                    s.send(REQUEST)  # a few bytes into an empty send buffer
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(65536)
                if not data:
                    raise ConnectionError(f"server closed connection #{len(done) + 1} early")
                buf = bufs[s]
                buf += data
                if (total := response_end(buf)) is not None:
                    if total != len(buf) or not buf.startswith(b"HTTP/1.1 200 "):
                        raise ValueError(f"unexpected answer {bytes(buf[:40])!r}")
                    sel.unregister(s)
                    del bufs[s]
                    done.append(s)
    except BaseException:
        for s in [*done, *bufs]:
            s.close()
        raise
    finally:
        sel.close()
    return done


def still_open(conns: list[socket.socket]) -> int:
    alive = 0
    for s in conns:
        try:
            alive += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def idle(cfg: Cfg, names: list[str], skipped: dict[str, str]) -> dict[str, tuple[int, int, int,
                                                                                   float]]:
    """Per server: (RSS before KiB, RSS after KiB, connections still open, seconds)."""
    have = raise_nofile(cfg.idle + 256)
    if have != resource.RLIM_INFINITY and have < cfg.idle + 256:
        skipped.update((n, f"RLIMIT_NOFILE hard limit {have} < {cfg.idle + 256}") for n in names)
        return {}
    res = {}
    for name in names:  # one at a time: each gets the machine to itself
        print(f"  idle {name}: {cfg.idle} connections", file=sys.stderr)
        with started({name: HELLO_SERVERS[name]}, cfg, skipped,
                     nofile=cfg.idle + 1024) as running:
            if name not in running:
                continue
            srv = running[name]
            time.sleep(IDLE_SETTLE_S)
            before = srv.rss_kb()
            t0 = time.monotonic()
            try:
                conns = open_idle(srv.port, cfg.idle, t0 + IDLE_DEADLINE_S)
            except (OSError, ValueError) as e:
                skipped[name] = f"{type(e).__name__}: {e}"
                continue
            opened_s = time.monotonic() - t0
            try:
                time.sleep(IDLE_SETTLE_S)
                after = srv.rss_kb()
                alive = still_open(conns)
                srv.stop()  # before the clients close: TIME_WAIT stays on the server's side
            finally:
                for s in conns:
                    s.close()
            res[name] = (before, after, alive, opened_s)
    return res


def idle_report(cfg: Cfg, names: list[str], res: dict[str, tuple[int, int, int, float]],
                skipped: dict[str, str]) -> dict[str, float]:
    per = {n: (v[1] - v[0]) / cfg.idle for n, v in res.items()}
    table = [["server", "RSS before MB", "RSS after MB", "KB/conn", "still open", "open s"]]
    for name in names:
        if name in skipped:
            table.append([name, f"skipped ({skipped[name]})"])
            continue
        before, after, alive, secs = res[name]
        table.append([name, f"{before / 1024:.1f}", f"{after / 1024:.1f}", f"{per[name]:.2f}",
                      f"{alive}", f"{secs:.1f}"])
    print_rows(f"idle keep-alive memory: {cfg.idle} connections, each idle after one GET; "
               "VmRSS of the server, KB = 1024 B", table)
    return per


# --- static download -------------------------------------------------------------------------

def make_payload(directory: str, mib: int) -> tuple[int, str]:
    """DIR/payload.bin of ``mib`` MiB of random bytes: (size, sha256)."""
    digest, block = hashlib.sha256(), os.urandom(1 << 20)
    with open(os.path.join(directory, FILE_NAME), "wb") as f:
        for i in range(mib):
            chunk = i.to_bytes(8, "big") + block[8:]  # no two MiB alike
            f.write(chunk)
            digest.update(chunk)
    return mib << 20, digest.hexdigest()


def download(sock: socket.socket, buf: bytearray, size: int,
             digest: hashlib._Hash | None = None) -> float:
    """One GET /payload.bin on a keep-alive connection: MB/s (10^6 B) from the request
    to the last byte.  ``digest`` (untimed runs) is fed every byte of the body."""
    t0 = time.perf_counter()
    sock.sendall(f"GET /{FILE_NAME} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = bytearray()
    while (end := head.find(b"\r\n\r\n")) < 0:
        data = sock.recv(65536)
        if not data or len(head) > 65536:
            raise ConnectionError("no response head")
        head += data
    status, headers = parse_head(bytes(head[:end]))
    length = headers.get("content-length")
    if status != 200 or length != str(size):
        raise ValueError(f"status {status}, Content-Length {length} (want 200, {size})")
    got = len(head) - end - 4
    if digest is not None:
        digest.update(head[end + 4:])
    view = memoryview(buf)
    while got < size:
        n = sock.recv_into(view, min(len(buf), size - got))
        if n == 0:
            raise ConnectionError(f"EOF after {got} of {size} bytes")
        if digest is not None:
            digest.update(view[:n])
        got += n
        if time.perf_counter() - t0 > STATIC_DEADLINE_S:
            raise TimeoutError(f"{got} of {size} bytes in {STATIC_DEADLINE_S:g} s")
    return size / (time.perf_counter() - t0) / 1e6


def static(cfg: Cfg, names: list[str], skipped: dict[str, str],
           notes: list[str]) -> dict[str, list[float]]:
    tmp = tempfile.mkdtemp(prefix="evweb-http-")
    try:
        if shutil.disk_usage(tmp).free < (cfg.file_mb + 100) << 20:
            skipped.update((n, f"less than {cfg.file_mb + 100} MiB free in {tmp}") for n in names)
            return {}
        size, sha = make_payload(tmp, cfg.file_mb)
        buf = bytearray(1 << 20)
        samples: dict[str, list[float]] = {}
        with started({n: STATIC_SERVERS[n] for n in names}, cfg, skipped, root=tmp,
                     check=None) as running, contextlib.ExitStack() as socks:
            conns: dict[str, socket.socket] = {}
            for name, srv in running.items():  # a checked, untimed download first
                try:
                    conns[name] = socks.enter_context(
                        socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT_S))
                    digest = hashlib.sha256()
                    download(conns[name], buf, size, digest)
                    if digest.hexdigest() != sha:
                        raise ValueError("the downloaded bytes differ from the file")
                    samples[name] = []
                except (OSError, ValueError) as e:
                    skipped[name] = f"first download: {type(e).__name__}: {e}"
            active = list(samples)
            for r in range(cfg.rounds):  # the servers take turns download by download
                for name in list(active):
                    print(f"  static round {r + 1}/{cfg.rounds}: {name}", file=sys.stderr)
                    try:
                        samples[name].append(download(conns[name], buf, size))
                    except (OSError, ValueError) as e:
                        why = f"static round {r + 1}: {type(e).__name__}: {e}"
                        drop(name, why, active, samples, skipped, notes)
        return samples
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def static_report(cfg: Cfg, names: list[str], samples: dict[str, list[float]],
                  skipped: dict[str, str]) -> dict[str, float]:
    best = {n: max(v) for n, v in samples.items()}
    table = [["server", "MB/s best", "all", "/aiohttp", "/evhttp"]]
    for name in names:
        if name in skipped:
            table.append([name, f"skipped ({skipped[name]})"])
            continue
        rel = [f"{best[name] / best[o]:.2f}" if o in best else "n/a" for o in ("aiohttp", "evhttp")]
        table.append([name, f"{best[name]:.0f}", " ".join(f"{v:.0f}" for v in samples[name]),
                      *rel])
    print_rows(f"static: GET of a {cfg.file_mb} MiB file over one keep-alive connection, "
               f"MB/s (10^6 B), best of {cfg.rounds}, servers alternating", table)
    return best


# --- main ----------------------------------------------------------------------------------

def versions(cfg: Cfg) -> str:
    out = [f"python {sys.version.split()[0]}"]
    for dist in ("aiohttp", "tornado"):
        try:
            v = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        if dist == "aiohttp":
            try:
                from aiohttp import http_parser
                c = http_parser.HttpRequestParser.__module__ == "aiohttp._http_parser"
                v += " (C parser)" if c else " (pure-Python parser)"
            except Exception:  # informational only
                pass
        out.append(f"{dist} {v}")
    if cfg.evhttp:
        p = subprocess.run([cfg.evhttp, "-V"], check=False, capture_output=True, text=True,
                           timeout=10)
        out.append(f"libevent {p.stdout.strip()}")
    if wrk := shutil.which("wrk"):
        p = subprocess.run([wrk, "-v"], check=False, capture_output=True, text=True, timeout=10)
        out.append(" ".join(p.stdout.split()[:2]))
    return ", ".join(out)


def pick(names: Sequence[str], only: set[str]) -> list[str]:
    """``--only evweb`` selects every evweb-* entry; an empty set selects all."""
    return [n for n in names if not only or n in only or n.split("-")[0] in only]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 s x 1 round")
    ap.add_argument("--duration", type=int, help="seconds per wrk run (default 5)")
    ap.add_argument("--rounds", type=int,
                    help="throughput rounds and timed static downloads per server (default 3)")
    ap.add_argument("--warmup", type=int, help="seconds of untimed wrk first (default 1)")
    ap.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    ap.add_argument("--idle", type=int, default=10_000, help="idle connections (default 10000)")
    ap.add_argument("--file-mb", type=int, default=100, help="static file size in MiB")
    ap.add_argument("--only", default="", help="comma list of servers: " + ", ".join(
        dict.fromkeys([*HELLO_SERVERS, *STATIC_SERVERS])) + " (evweb = all evweb-*)")
    ap.add_argument("--case", default="", help="comma list of " + ", ".join(CASES))
    opts = ap.parse_args()
    cfg = Cfg(duration=1, rounds=1) if opts.quick else Cfg()
    cfg.duration = opts.duration or cfg.duration
    cfg.rounds = opts.rounds or cfg.rounds
    cfg.warmup = cfg.warmup if opts.warmup is None else opts.warmup
    cfg.connections, cfg.idle, cfg.file_mb = opts.connections, opts.idle, opts.file_mb
    only = {s.strip() for s in opts.only.split(",") if s.strip()}
    cases = [c for c in CASES if c in {s.strip() for s in opts.case.split(",")}] or list(CASES)
    known = {*HELLO_SERVERS, *STATIC_SERVERS, "evweb"}
    if not only <= known or not {s for s in opts.case.split(",") if s} <= set(CASES):
        ap.error("see --help for --only and --case")
    if min(cfg.duration, cfg.rounds, cfg.connections, cfg.idle, cfg.file_mb) < 1 or cfg.warmup < 0:
        ap.error("--duration, --rounds, --connections, --idle, --file-mb must be >= 1")

    cpus = os.sched_getaffinity(0)
    if {SERVER_CPU, CLIENT_CPU} <= cpus and shutil.which("taskset"):
        cfg.pin = ["taskset", "-c", str(SERVER_CPU)]
        cfg.client_pin = ["taskset", "-c", str(CLIENT_CPU)]
        os.sched_setaffinity(0, {CLIENT_CPU})  # the Python clients of idle and static
        pinning = f"servers on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU}"
    else:
        pinning = f"not pinned (CPUs {sorted(cpus)}, taskset {shutil.which('taskset')})"
    hello = pick(list(HELLO_SERVERS), only)
    statics = pick(list(STATIC_SERVERS), only)
    if "evhttp" in hello + statics:
        exe, cfg.evhttp_why = build_c("evhttp_hello", "event2/http.h", ("-levent",))
        cfg.evhttp = str(exe or "")

    print(f"command: {shown([sys.executable, *sys.argv])}")
    print(f"{versions(cfg)}; {pinning}; load average {os.getloadavg()[0]:.2f} at the start "
          "(other busy processes make the figures noisy)", flush=True)
    for case in cases:
        if not (statics if case == "static" else hello):
            print(f"\n{case}: none of the selected servers takes part ({', '.join(only)})")
    notes: list[str] = []
    bars: list[tuple[str, float | None, float | None, float, bool]] = []  # what, x, y, bar, >=
    skipped: dict[str, str] = {}
    if "throughput" in cases and hello:
        samples = throughput(cfg, hello, skipped, notes)
        med = throughput_report(cfg, hello, samples, skipped)
        bars += [(f"throughput {x} >= {b} x {y} (req/s)", med.get(x), med.get(y), b, True)
                 for x, y, b in RATIOS if b is not None and x in hello and y in hello]
    if "idle" in cases and hello:
        skipped = {}
        per = idle_report(cfg, hello, idle(cfg, hello, skipped), skipped)
        bars += [(f"idle {n} <= {IDLE_BAR_KB} KB/conn", per.get(n), 1.0, IDLE_BAR_KB, False)
                 for n in hello if n.startswith("evweb")]
    if "static" in cases and statics:
        skipped = {}
        best = static_report(cfg, statics, static(cfg, statics, skipped, notes), skipped)
        if "evweb-static" in statics and "aiohttp" in statics:
            bars.append((f"static evweb-static >= {STATIC_BAR} x aiohttp (MB/s)",
                         best.get("evweb-static"), best.get("aiohttp"), STATIC_BAR, True))

    print("\nservers (N: a free port, DIR: the static case's temp dir):")
    shown_cases = [("", HELLO_SERVERS, hello)] if {"throughput", "idle"} & set(cases) else []
    shown_cases += [(" (static)", STATIC_SERVERS, statics)] if "static" in cases else []
    for tag, templates, names in shown_cases:
        for name in names:
            argv, why = server_argv(templates[name], cfg, "DIR")
            cmd = shown([*cfg.pin, *(a.replace("{port}", "N") for a in argv)]) if argv else why
            print(f"  {name}{tag}: {cmd}")
    for note in notes:
        print(f"err  {note}")
    verdicts = []
    for what, x, y, bar, at_least in bars:
        if x is None or y is None:
            print(f"bar  {what}: not measured  SKIP")
            continue
        value = x / y
        verdicts.append(value >= bar if at_least else value <= bar)
        print(f"bar  {what}: {value:.2f}  {'PASS' if verdicts[-1] else 'FAIL'}")
    return headline(verdicts)


if __name__ == "__main__":
    sys.exit(main())
