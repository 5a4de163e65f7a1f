#!/usr/bin/env python3
"""Reactor benchmark: evweb vs asyncio vs C libevent, side by side.

Models (libevent's test/bench.c and test/bench_cascade.c, see README.md):
  bench    N socketpairs in a ring, persistent READ events, A bytes in flight,
           W forwards in total.  As in bench.c, only the dispatch is timed:
           all N events are added, one NONBLOCK pass runs and the A first
           bytes are written before the clock starts; then loop(ONCE|NONBLOCK)
           until every byte is read.  Events are deleted (untimed) after each
           run and re-added in the next one.  The "bare" column is a minimal
           hand-written select.epoll loop calling the same callback: the floor
           that any Python reactor pays for the callback and its syscalls.
  cascade  chain of N socketpairs, one-shot READ events with a 60 s timeout,
           one byte travels down the chain; timed = event setup + propagation.
Every cell is the median of RUNS runs (after 2 warm-ups), the peers taking
turns run by run so that the machine's drift hits all of them alike, of
microseconds per callback.  Exit status 1 iff the headline bar FAILs.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import socket
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from selectors import DefaultSelector
from time import perf_counter_ns

from _common import build_c, print_rows, raise_nofile

HERE = Path(__file__).resolve().parent
WARMUP = 2
WATCHDOG_S = 120  # hard time bound for one peer on one row
BAR = 0.8  # headline: evweb(epoll) <= BAR * asyncio at bench N=1000 A=100
Callback = Callable[[int, int, int], None]
Row = tuple[str, int, int, int]  # model, N, A, W (A/W unused for cascade)
ROWS: list[Row] = [("bench", n, a, w) for n in (100, 1000) for a in (1, 100)
                   for w in (n, 10 * n)] + [("cascade", n, 1, n) for n in (100, 1000)]
HEADLINE: list[Row] = [("bench", 1000, 100, 1000), ("bench", 1000, 100, 10000)]


class WatchdogError(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise WatchdogError(f"no result within {WATCHDOG_S} s")


class Pairs:
    """n nonblocking AF_UNIX socketpairs; rd[i] is read, wr[i] written."""

    def __init__(self, n: int) -> None:
        self.socks = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(n)]
        for pair in self.socks:
            for s in pair:
                s.setblocking(False)
        self.rd = [a.fileno() for a, _ in self.socks]
        self.wr = [b.fileno() for _, b in self.socks]

    def close(self) -> None:
        for a, b in self.socks:
            a.close()
            b.close()


def ring_callbacks(stop: Callable[[], object]) -> tuple[Callback, Callable[[int, int], None],
                                                        Callable[[], int]]:
    """bench-model callback shared verbatim by evweb and asyncio."""
    read, write = os.read, os.write
    count = writes = 0
    target = -1

    def cb(fd: int, what: int, wfd: int) -> None:
        nonlocal count, writes
        count += len(read(fd, 1))
        if writes:
            write(wfd, b"e")
            writes -= 1
        elif count == target:
            stop()

    def reset(w: int, t: int) -> None:
        nonlocal count, writes, target
        count, writes, target = 0, w, t

    return cb, reset, lambda: count


def measure(run: Callable[[], float]) -> Iterator[float]:
    """Warm up, then yield one timed run per ``next()``: the caller interleaves peers."""
    gc.collect()
    for _ in range(WARMUP):
        run()
    while True:
        yield run()


def evweb_peer(method: str, row: Row) -> Iterator[float]:
    from evweb import reactor as er

    model, n, a, w = row
    event_cls, once_flag, read_flag = er.Event, er.ONCE, er.READ
    base = er.EventBase(er.EventConfig(method=method))
    if base.method != method:
        raise RuntimeError(f"asked for {method}, got {base.method}")
    pairs = Pairs(n)
    rd, wr, write, loop = pairs.rd, pairs.wr, os.write, base.loop
    try:
        if model == "bench":
            done: list[bool] = []
            cb, reset, count = ring_callbacks(partial(done.append, True))
            flags_ev = read_flag | er.PERSIST
            evs = [event_cls(base, rd[i], flags_ev, cb, wr[(i + 1) % n]) for i in range(n)]
            starts = [wr[i * (n // a)] for i in range(a)]
            target, flags = a + w, once_flag | er.NONBLOCK

            def run() -> float:
                reset(w, target)
                done.clear()
                for ev in evs:
                    ev.add()
                loop(flags)
                for fd in starts:
                    write(fd, b"e")
                t0 = perf_counter_ns()
                for _ in range(2 * target + 100):  # each pass fires >= 1 callback
                    loop(flags)
                    if done:
                        break
                t1 = perf_counter_ns()
                for ev in evs:
                    ev.delete()
                if count() != target:
                    raise RuntimeError(f"read {count()} of {target} bytes")
                return (t1 - t0) / 1e3 / target
            yield from measure(run)

        fired = 0
        nxt = [*wr[1:], -1]

        def chain_cb(fd: int, what: int, wfd: int) -> None:
            nonlocal fired
            os.read(fd, 1)
            if wfd >= 0:
                write(wfd, b"e")
            fired += 1

        def run_chain() -> float:
            nonlocal fired
            fired = 0
            t0 = perf_counter_ns()
            evs = [event_cls(base, rd[i], read_flag, chain_cb, nxt[i]) for i in range(n)]
            for ev in evs:
                ev.add(60.0)
            write(wr[0], b"e")
            loop(0)  # like event_base_dispatch: returns when no events are left
            for _ in range(n + 10):  # fallback should loop(0) return early
                if fired >= n:
                    break
                loop(once_flag)
            t1 = perf_counter_ns()
            if fired != n:
                raise RuntimeError(f"cascade fired {fired} of {n}")
            return (t1 - t0) / 1e3 / n
        yield from measure(run_chain)
    finally:
        pairs.close()
        base.close()


def bare_peer(row: Row) -> Iterator[float]:
    """The floor: a minimal select.epoll loop calling the same bench callback."""
    import select

    model, n, a, w = row
    if model != "bench":
        raise NotImplementedError("bare loop only for the bench model")
    pairs = Pairs(n)
    rd, wr, write = pairs.rd, pairs.wr, os.write
    ep = select.epoll()
    try:
        done: list[bool] = []
        cb, reset, count = ring_callbacks(partial(done.append, True))
        nxt = {rd[i]: wr[(i + 1) % n] for i in range(n)}
        starts = [wr[i * (n // a)] for i in range(a)]
        target = a + w

        def run() -> float:
            reset(w, target)
            done.clear()
            for fd in rd:
                ep.register(fd, select.EPOLLIN)
            for fd in starts:
                write(fd, b"e")
            t0 = perf_counter_ns()
            for _ in range(2 * target + 100):
                for fd, _mask in ep.poll(0):
                    cb(fd, 2, nxt[fd])
                if done:
                    break
            t1 = perf_counter_ns()
            for fd in rd:
                ep.unregister(fd)
            if count() != target:
                raise RuntimeError(f"read {count()} of {target} bytes")
            return (t1 - t0) / 1e3 / target
        yield from measure(run)
    finally:
        ep.close()
        pairs.close()


def asyncio_peer(row: Row) -> Iterator[float]:
    model, n, a, w = row
    loop = asyncio.new_event_loop()  # SelectorEventLoop (epoll on Linux)
    pairs = Pairs(n)
    rd, wr, write = pairs.rd, pairs.wr, os.write
    add_reader, remove_reader = loop.add_reader, loop.remove_reader
    try:
        if model == "bench":
            cb, reset, count = ring_callbacks(loop.stop)
            readers = [(rd[i], wr[(i + 1) % n]) for i in range(n)]
            starts = [wr[i * (n // a)] for i in range(a)]
            target = a + w

            def run() -> float:
                reset(w, target)
                for rfd, wfd in readers:
                    add_reader(rfd, cb, rfd, 0, wfd)
                for fd in starts:
                    write(fd, b"e")
                t0 = perf_counter_ns()
                loop.run_forever()  # stopped by cb; bounded by the watchdog
                t1 = perf_counter_ns()
                for rfd, _ in readers:
                    remove_reader(rfd)
                if count() != target:
                    raise RuntimeError(f"read {count()} of {target} bytes")
                return (t1 - t0) / 1e3 / target
            yield from measure(run)

        fired = 0
        nxt = [*wr[1:], -1]
        timers: list[asyncio.TimerHandle] = []
        timeouts: list[int] = []
        stop, call_later = loop.stop, loop.call_later

        def chain_cb(fd: int, i: int, wfd: int) -> None:
            nonlocal fired
            remove_reader(fd)  # asyncio has no one-shot / timeout events:
            timers[i].cancel()  # emulate EV_READ + 60 s timeout by hand
            os.read(fd, 1)
            if wfd >= 0:
                write(wfd, b"e")
            fired += 1
            if fired == n:
                stop()

        def run_chain() -> float:
            nonlocal fired
            fired = 0
            timers.clear()
            t0 = perf_counter_ns()
            for i in range(n):
                add_reader(rd[i], chain_cb, rd[i], i, nxt[i])
                timers.append(call_later(60.0, timeouts.append, i))
            write(wr[0], b"e")
            loop.run_forever()
            t1 = perf_counter_ns()
            if fired != n or timeouts:
                raise RuntimeError(f"cascade fired {fired} of {n}")
            return (t1 - t0) / 1e3 / n
        yield from measure(run_chain)
    finally:
        for fd in rd:
            remove_reader(fd)
        pairs.close()
        loop.close()


def c_peer(exe: Path, method: str, row: Row) -> Iterator[float]:
    """One C process per sample (it warms up, then times one run)."""
    model, n, a, w = row
    cmd = [str(exe), model, "-n", str(n), "-a", str(a), "-w", str(w), "-r", "1", "-m", method]
    while True:
        p = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=WATCHDOG_S)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip() or f"exit status {p.returncode}")
        yield float(p.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 runs per cell (smoke test)")
    ap.add_argument("--runs", type=int, help="timed runs per cell, peers alternating (default 15)")
    ap.add_argument("--only", default="evweb,asyncio,bare,c",
                    help="comma list of evweb,asyncio,bare,c")
    opts = ap.parse_args()
    runs = opts.runs or (3 if opts.quick else 15)
    only = {s.strip() for s in opts.only.split(",") if s.strip()}
    if runs < 1 or not only <= {"evweb", "asyncio", "bare", "c"}:
        ap.error("--runs must be >= 1 and --only a subset of evweb,asyncio,bare,c")
    sys.path.insert(0, str(HERE.parent))  # the repo root, for `import evweb`
    raise_nofile(16384)  # every peer of a row keeps its N socketpairs open
    signal.signal(signal.SIGALRM, _alarm)

    peers: dict[str, Callable[[Row], Iterator[float]]] = {}
    na: dict[str, str] = {}  # column -> reason it is n/a
    if "evweb" in only:
        try:
            from evweb.reactor import supported_methods
            for m in supported_methods():
                peers[f"evweb:{m}"] = partial(evweb_peer, m)
        except Exception as e:  # any import problem makes it n/a
            na["evweb"] = f"{type(e).__name__}: {e}"
    if "asyncio" in only:
        peers["asyncio"] = asyncio_peer
    if "bare" in only:
        peers["bare"] = bare_peer
    if "c" in only:
        exe, why = build_c("reactor_bench", "event2/event.h")
        if exe is None:
            na["C"] = why
        else:
            methods = subprocess.run([str(exe), "-l"], check=False, capture_output=True,
                                     text=True, timeout=30).stdout.split()
            cm = "epoll" if "epoll" in methods else (methods or ["?"])[0]
            peers[f"C:{cm}"] = partial(c_peer, exe, cm)

    res: dict[tuple[Row, str], float] = {}
    notes: dict[str, list[str]] = {}
    for row in ROWS:  # peers take turns run by run, so drift hits all of them alike
        runners: dict[str, Iterator[float]] = {}
        samples: dict[str, list[float]] = {}
        for col, make in peers.items():
            if col == "bare" and row[0] != "bench":
                continue  # the bare loop exists for the bench model only
            runners[col] = make(row)
            samples[col] = []
        print(f"  {row[0]} N={row[1]} A={row[2]} W={row[3]} ...", file=sys.stderr)
        for _ in range(runs):
            for col, runner in list(runners.items()):
                signal.setitimer(signal.ITIMER_REAL, WATCHDOG_S)
                try:
                    samples[col].append(next(runner))
                except Exception as e:  # record, drop this peer for the row
                    runner.close()
                    del runners[col], samples[col]
                    msg = f"{type(e).__name__}: {e}".splitlines()[0][:160]
                    where = f"{col} {row[0]} N={row[1]} A={row[2]} W={row[3]}"
                    notes.setdefault(msg, []).append(where)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        for col, runner in runners.items():
            runner.close()
            res[row, col] = statistics.median(samples[col])

    cols = list(peers) + list(na)
    ccol = next((c for c in peers if c.startswith("C:")), "C")

    def ratio(row: Row, other: str) -> str:
        x, y = res.get((row, "evweb:epoll")), res.get((row, other))
        return f"{x / y:.2f}" if x is not None and y else "n/a"

    head = ["model", "N", "A", "W", *cols, "ep/aio", "ep/C"]
    table = [head]
    for row in ROWS:
        model, n, a, w = row
        cells = [model, str(n)] + (["-", "-"] if model == "cascade" else [str(a), str(w)])
        for col in cols:
            v = res.get((row, col))
            if col == "bare" and model != "bench":
                cells.append("-")
                continue
            cells.append("n/a" if col in na else "err" if v is None else f"{v:.3f}")
        table.append([*cells, ratio(row, "asyncio"), ratio(row, ccol)])
    print_rows(f"µs per callback (median of {runs} runs, peers alternating run by run), "
               f"python {sys.version.split()[0]}, asyncio selector {DefaultSelector.__name__}",
               table)
    for col, why in na.items():
        print(f"n/a  {col}: {why}")
    for msg, where in notes.items():
        print(f"err  {msg}  [{', '.join(where)}]")

    verdict = None
    for row in HEADLINE:  # gate on W=N (libevent's default); W=10N is shown for info
        x, y = res.get((row, "evweb:epoll")), res.get((row, "asyncio"))
        tag = f"bench N={row[1]} A={row[2]} W={row[3]}" + ("" if row == HEADLINE[0] else " (info)")
        if x is None or y is None:
            print(f"headline {tag}: not measured")
            continue
        print(f"headline {tag}: evweb epoll {x:.3f} vs asyncio {y:.3f} µs/event "
              f"= {x / y:.2f} (bar <= {BAR})")
        if row == HEADLINE[0]:
            verdict = x <= BAR * y
    if verdict is None:
        print("HEADLINE: " + ("FAIL (evweb epoll not measured)" if "evweb" in only and
                              "asyncio" in only else "SKIP (needs evweb epoll and asyncio)"))
        return 1 if "evweb" in only and "asyncio" in only else 0
    print(f"HEADLINE: {'PASS' if verdict else 'FAIL'}")
    return 0 if verdict else 1

if __name__ == "__main__":
    sys.exit(main())
