#!/usr/bin/env python3
"""HTTP/1.1 client benchmark: evweb Client vs aiohttp ClientSession vs requests.

The server is C libevent's evhttp (bench/c/evhttp_hello.c, built into bench/.build/),
pinned to CPU 0, listening on 127.0.0.1, serving GET / ("Hello, World!", keep-alive)
and a FILE_MB MiB file from a temp dir (sent with sendfile).  Each client runs in its
own subprocess pinned to CPU 1 (``--client NAME``), so one library's imports and
threads do not weigh on another; the clients take turns round by round.
  requests/s  REQUESTS GETs of / with INFLIGHT in flight over keep-alive: the evweb
              Client (a pool of INFLIGHT connections, callbacks issuing the next GET),
              aiohttp (TCPConnector(limit=INFLIGHT), INFLIGHT tasks), requests (a thread
              pool of INFLIGHT workers, one Session each).  Every answer is checked
              (status 200, 13-byte body).  Median of ROUNDS rounds.
  download    GET of the FILE_MB MiB file, the body streamed and counted, not kept:
              evweb on_chunk, aiohttp ``content.iter_any()``, requests
              ``iter_content(1 MiB)``.  MB/s (10^6 B), best of ROUNDS.
Bar: evweb >= aiohttp in requests/s and in download MB/s.  Exit status 1 iff a bar FAILs.

    python bench/http_client.py [--requests N] [--rounds R] [--file-mb M]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import build_c, headline, print_rows

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HELLO = b"Hello, World!"
FILE_NAME = "payload.bin"
SERVER_CPU, CLIENT_CPU = 0, 1
CLIENTS = ("evweb", "aiohttp", "requests")
RUN_TIMEOUT_S = 300.0


# --- the clients (each runs in its own subprocess) --------------------------------------

def run_evweb(port: int, n: int, inflight: int, path: str) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from evweb.http import Client, Limits
    from evweb.reactor import EventBase

    base = EventBase()
    client = Client(base, limits=Limits(max_connections=inflight))
    url = f"http://127.0.0.1:{port}/"
    if path:
        return _evweb_download(base, client, f"http://127.0.0.1:{port}/{path}")
    state = {"sent": 0, "done": 0, "bad": 0}

    def on_done(fut) -> None:  # type: ignore[no-untyped-def]
        state["done"] += 1
        resp = fut.result()
        if resp.status != 200 or resp.body != HELLO:
            state["bad"] += 1
        if state["sent"] < n:
            state["sent"] += 1
            client.get(url).add_done_callback(on_done)
        elif state["done"] == n:
            base.loopbreak()

    t0 = time.perf_counter()
    for _ in range(min(inflight, n)):
        state["sent"] += 1
        client.get(url).add_done_callback(on_done)
    base.loop()
    elapsed = time.perf_counter() - t0
    client.close()
    if state["bad"] or state["done"] != n:
        raise SystemExit(f"evweb: {state['bad']} bad answers, {state['done']}/{n} done")
    return {"seconds": elapsed, "count": n}


def _evweb_download(base, client, url):  # type: ignore[no-untyped-def]
    got = [0]

    def on_chunk(resp, data) -> None:  # type: ignore[no-untyped-def]
        got[0] += len(data)

    t0 = time.perf_counter()
    resp = client.get(url, on_chunk=on_chunk).wait(RUN_TIMEOUT_S)
    elapsed = time.perf_counter() - t0
    client.close()
    if resp.status != 200:
        raise SystemExit(f"evweb: download status {resp.status}")
    return {"seconds": elapsed, "count": got[0]}


def run_aiohttp(port: int, n: int, inflight: int, path: str) -> dict[str, float]:
    import asyncio

    import aiohttp

    async def main() -> dict[str, float]:
        connector = aiohttp.TCPConnector(limit=inflight)
        async with aiohttp.ClientSession(connector=connector) as session:
            if path:
                return await download(session)
            return await many(session)

    async def download(session) -> dict[str, float]:  # type: ignore[no-untyped-def]
        got = 0
        t0 = time.perf_counter()
        async with session.get(f"http://127.0.0.1:{port}/{path}") as resp:
            async for data in resp.content.iter_any():
                got += len(data)
        return {"seconds": time.perf_counter() - t0, "count": got}

    async def many(session) -> dict[str, float]:  # type: ignore[no-untyped-def]
        url = f"http://127.0.0.1:{port}/"
        todo = [n]
        bad = [0]

        async def worker() -> None:
            while todo[0] > 0:
                todo[0] -= 1
                async with session.get(url) as resp:
                    body = await resp.read()
                    if resp.status != 200 or body != HELLO:
                        bad[0] += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        elapsed = time.perf_counter() - t0
        if bad[0]:
            raise SystemExit(f"aiohttp: {bad[0]} bad answers")
        return {"seconds": elapsed, "count": n}

    return asyncio.run(main())


def run_requests(port: int, n: int, inflight: int, path: str) -> dict[str, float]:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    if path:
        got = 0
        t0 = time.perf_counter()
        with requests.Session() as s, s.get(f"http://127.0.0.1:{port}/{path}", stream=True) as r:
            for data in r.iter_content(1 << 20):
                got += len(data)
        return {"seconds": time.perf_counter() - t0, "count": got}
    local = threading.local()
    url = f"http://127.0.0.1:{port}/"

    def one(_: int) -> bool:
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
        r = s.get(url)
        return r.status_code == 200 and r.content == HELLO

    t0 = time.perf_counter()
    with ThreadPoolExecutor(inflight) as pool:
        ok = sum(pool.map(one, range(n)))
    elapsed = time.perf_counter() - t0
    if ok != n:
        raise SystemExit(f"requests: {n - ok} bad answers")
    return {"seconds": elapsed, "count": n}


RUNNERS = {"evweb": run_evweb, "aiohttp": run_aiohttp, "requests": run_requests}


# --- the harness --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(exe: Path, root: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    pin = ["taskset", "-c", str(SERVER_CPU)] if shutil.which("taskset") else []
    proc = subprocess.Popen([*pin, str(exe), "-p", str(port), "-r", root],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("the evhttp server did not start listening")


def run_client(name: str, port: int, n: int, inflight: int, path: str) -> dict[str, float] | str:
    pin = ["taskset", "-c", str(CLIENT_CPU)] if shutil.which("taskset") else []
    cmd = [*pin, sys.executable, str(Path(__file__).resolve()), "--client", name,
           "--port", str(port), "--requests", str(n), "--inflight", str(inflight)]
    if path:
        cmd += ["--path", path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    if p.returncode != 0:
        lines = (p.stderr or p.stdout).strip().splitlines() or ["?"]
        return f"failed: {lines[-1][:120]}"
    result: dict[str, float] = json.loads(p.stdout.strip().splitlines()[-1])
    return result


def available(name: str) -> str:
    mod = {"evweb": "evweb", "aiohttp": "aiohttp", "requests": "requests"}[name]
    p = subprocess.run([sys.executable, "-c", f"import {mod}"], cwd=ROOT, capture_output=True,
                       check=False, timeout=60)
    return "" if p.returncode == 0 else f"{mod} not installed"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--inflight", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--file-mb", type=int, default=100)
    ap.add_argument("--client", choices=CLIENTS)
    ap.add_argument("--port", type=int)
    ap.add_argument("--path", default="")
    args = ap.parse_args()
    if args.client:
        result = RUNNERS[args.client](args.port, args.requests, args.inflight, args.path)
        print(json.dumps(result))
        return 0

    exe, why = build_c("evhttp_hello", "event2/http.h")
    if exe is None:
        print(f"SKIP: C evhttp server unavailable ({why})")
        return 0
    skip = {name: available(name) for name in CLIENTS}
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, FILE_NAME), "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(args.file_mb):
                f.write(block)
        proc, port = start_server(exe, root)
        try:
            rps, mbs = measure(args, port, skip)
        finally:
            proc.terminate()
            proc.wait(10)
    return report(args, rps, mbs, skip)


def measure(args: argparse.Namespace, port: int,
            skip: dict[str, str]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    rps: dict[str, list[float]] = {c: [] for c in CLIENTS}
    mbs: dict[str, list[float]] = {c: [] for c in CLIENTS}
    for _ in range(args.rounds):
        for name in CLIENTS:
            if skip[name]:
                continue
            r = run_client(name, port, args.requests, args.inflight, "")
            if isinstance(r, str):
                skip[name] = r
                continue
            rps[name].append(r["count"] / r["seconds"])
            d = run_client(name, port, 0, 1, FILE_NAME)
            if isinstance(d, str):
                skip[name] = d
                continue
            if d["count"] != args.file_mb << 20:
                skip[name] = f"download got {d['count']} bytes"
                continue
            mbs[name].append(d["count"] / d["seconds"] / 1e6)
    return rps, mbs


def report(args: argparse.Namespace, rps: dict[str, list[float]], mbs: dict[str, list[float]],
           skip: dict[str, str]) -> int:
    table = [["client", "req/s median", "min-max", f"{args.file_mb} MiB MB/s best", "median"]]
    for name in CLIENTS:
        if skip[name] or not rps[name] or not mbs[name]:
            table.append([name, f"skipped ({skip[name] or 'no result'})"])
            continue
        table.append([name, f"{statistics.median(rps[name]):,.0f}",
                      f"{min(rps[name]):,.0f}-{max(rps[name]):,.0f}",
                      f"{max(mbs[name]):,.0f}", f"{statistics.median(mbs[name]):,.0f}"])
    print_rows(f"HTTP client: {args.requests} GETs, {args.inflight} in flight, against C evhttp "
               f"(python {sys.version.split()[0]}, {args.rounds} rounds)", table)
    verdicts = []
    ev_r, ai_r = rps["evweb"], rps["aiohttp"]
    if ev_r and ai_r and mbs["evweb"] and mbs["aiohttp"]:
        ratio_r = statistics.median(ev_r) / statistics.median(ai_r)
        ratio_d = max(mbs["evweb"]) / max(mbs["aiohttp"])
        for what, ratio in (("req/s", ratio_r), ("MB/s ", ratio_d)):
            print(f"evweb/aiohttp {what} {ratio:.2f} (bar >= 1.0): "
                  f"{'PASS' if ratio >= 1 else 'FAIL'}")
        if rps["requests"]:
            ratio_q = statistics.median(ev_r) / statistics.median(rps["requests"])
            print(f"evweb/requests req/s {ratio_q:.2f}")
        verdicts = [ratio_r >= 1.0, ratio_d >= 1.0]
    return headline(verdicts)


if __name__ == "__main__":
    sys.exit(main())
