#!/usr/bin/env python3
"""DNS resolver benchmark: evweb DNSResolver vs aiodns (c-ares) vs dnspython vs C libevent evdns.

One dnsmasq, started by this script on 127.0.0.1 at a free port and pinned to CPU 0,
answers from NAMES --host-record entries (h0.bench.test .. h999.bench.test, each with
an A and an AAAA record, TTL 300; --no-resolv, so nothing leaves the machine).  Each
client runs in its own subprocess pinned to CPU 1 (``--client NAME``) and sends COUNT
A lookups (query k asks for name k % NAMES: 1,000 names x 10) with INFLIGHT of them
outstanding, each answer starting the next; every answer is checked (an address, no
error).  An untimed warm-up of INFLIGHT lookups comes first.  Median of ROUNDS rounds,
the clients taking turns round by round.
  evweb        DNSResolver.resolve_ipv4 (no cache: the resolver has none), NO_SEARCH,
               max-inflight raised to INFLIGHT, other options at their defaults
               (0x20 case randomisation on, as in libevent)
  aiodns       DNSResolver(nameservers=[...]).query_dns(name, "A"), INFLIGHT tasks
  dnspython    dns.asyncresolver.Resolver(configure=False).resolve(name, "A",
               search=False), INFLIGHT tasks (its cache is off by default)
  c-evdns      bench/c/evdns_bench.c on libevent's evdns_base_resolve_ipv4 (built here)
  evweb-gai    for information: evweb getaddrinfo(AF_UNSPEC) through a CachingResolver
               (cache on: after the first 1,000 names every lookup is a cache hit)
Bars: evweb >= 1.0 x aiodns and >= 8 x dnspython in lookups/s.  Exit status 1 iff a bar
FAILs.  ``--profile`` runs the evweb client under cProfile in this process instead.

    python bench/dns.py [--count N] [--inflight K] [--rounds R] [--profile]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import build_c, dns_answers, free_udp_tcp_port, headline, print_rows

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVER_CPU, CLIENT_CPU = 0, 1
NAMES = 1000
DOMAIN = "bench.test"
CLIENTS = ("evweb", "aiodns", "dnspython", "c-evdns", "evweb-gai")
RUN_TIMEOUT_S = 180.0
Result = dict[str, float]


def names(n: int) -> list[str]:
    return [f"h{i}.{DOMAIN}" for i in range(n)]


# --- the clients (each runs in its own subprocess) --------------------------------------

def run_evweb(port: int, count: int, inflight: int, gai: bool = False) -> Result:
    sys.path.insert(0, str(ROOT))
    from evweb.dns.cache import CachingResolver
    from evweb.dns.getaddrinfo import getaddrinfo
    from evweb.dns.resolver import DNSResolver, QueryFlags
    from evweb.reactor import EventBase

    base = EventBase()
    resolver = DNSResolver(base, resolv_conf=None, hosts=None)
    resolver.add_nameserver(f"127.0.0.1:{port}")
    resolver.set_option("max-inflight", str(max(inflight, 64)))
    todo = names(NAMES)
    state = {"started": 0, "done": 0, "failed": 0, "count": 0}
    if gai:
        cached = CachingResolver(resolver)

        def start(name: str) -> None:
            getaddrinfo(cached, name, None, on_gai, socktype=socket.SOCK_STREAM)

        def on_gai(result: Any) -> None:
            finish(isinstance(result, list) and len(result) == 2)
    else:
        resolve, flags = resolver.resolve_ipv4, QueryFlags.NO_SEARCH

        def start(name: str) -> None:
            resolve(name, on_answer, flags)

        def on_answer(result: Any) -> None:
            finish(result.error is None and bool(result.addresses))

    def finish(ok: bool) -> None:
        state["done"] += 1
        if not ok:
            state["failed"] += 1
        if state["started"] < state["count"]:
            state["started"] += 1
            start(todo[state["started"] % NAMES])
        elif state["done"] == state["count"]:
            base.loopbreak()

    def batch(n: int) -> float:
        state.update(started=0, done=0, count=n)
        t0 = time.perf_counter()
        for _ in range(min(inflight, n)):
            state["started"] += 1
            start(todo[state["started"] % NAMES])
        base.dispatch()
        return time.perf_counter() - t0

    batch(inflight)  # warm-up
    state["failed"] = 0
    elapsed = batch(count)
    resolver.close()
    base.close()
    return {"seconds": elapsed, "count": state["done"], "failed": state["failed"]}


def run_aiodns(port: int, count: int, inflight: int) -> Result:
    import asyncio

    import aiodns

    todo = names(NAMES)

    async def main() -> Result:
        resolver = aiodns.DNSResolver(nameservers=["127.0.0.1"], tcp_port=port, udp_port=port)
        query = getattr(resolver, "query_dns", None) or resolver.query
        failed = [0]

        async def batch(n: int) -> float:
            left = [n]

            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    res = await query(todo[left[0] % NAMES], "A")
                    if not (getattr(res, "answer", res)):
                        failed[0] += 1

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(inflight)))
            return time.perf_counter() - t0

        await batch(inflight)
        failed[0] = 0
        elapsed = await batch(count)
        return {"seconds": elapsed, "count": count, "failed": failed[0]}

    return asyncio.run(main())


def run_dnspython(port: int, count: int, inflight: int) -> Result:
    import asyncio

    # This script is bench/dns.py: its directory must not shadow dnspython's "dns" package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    import dns.asyncresolver

    todo = names(NAMES)

    async def main() -> Result:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = port
        failed = [0]

        async def batch(n: int) -> float:
            left = [n]

            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    answer = await resolver.resolve(todo[left[0] % NAMES], "A", search=False)
                    if not answer.rrset:
                        failed[0] += 1

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(inflight)))
            return time.perf_counter() - t0

        await batch(inflight)
        failed[0] = 0
        elapsed = await batch(count)
        return {"seconds": elapsed, "count": count, "failed": failed[0]}

    return asyncio.run(main())


RUNNERS: dict[str, Callable[[int, int, int], Result]] = {
    "evweb": run_evweb,
    "aiodns": run_aiodns,
    "dnspython": run_dnspython,
    "evweb-gai": lambda port, count, inflight: run_evweb(port, count, inflight, gai=True),
}


# --- the harness --------------------------------------------------------------------------

def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []






def start_dnsmasq(workdir: str) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq")
                                      else None)
    if exe is None:
        raise SystemExit("SKIP: dnsmasq not installed")
    conf = os.path.join(workdir, "dnsmasq.conf")
    with open(conf, "w") as f:
        for i in range(NAMES):
            f.write(f"host-record=h{i}.{DOMAIN},10.{i >> 8}.{i & 255}.1,fd00::{i:x}\n")
    port = free_udp_tcp_port()
    cmd = [*pin(SERVER_CPU), exe, "--keep-in-foreground", f"--port={port}",
           "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
           "--local=/test/", "--local-ttl=300", f"--conf-file={conf}",
           f"--log-facility={os.path.join(workdir, 'dnsmasq.log')}", "--pid-file="]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise SystemExit(f"dnsmasq exited: {err.strip()[-200:]}")
        if dns_answers(port, f"h1.{DOMAIN}"):
            return proc, port
    proc.kill()
    proc.wait(5)
    raise SystemExit("dnsmasq did not answer within 10 s")


def run_client(name: str, port: int, count: int, inflight: int, c_exe: Path | None) -> Result | str:
    if name == "c-evdns":
        if c_exe is None:
            return "skipped"
        cmd = [*pin(CLIENT_CPU), str(c_exe), "-s", f"127.0.0.1:{port}", "-n", str(NAMES),
               "-c", str(count), "-i", str(inflight), "-p", DOMAIN]
    else:
        cmd = [*pin(CLIENT_CPU), sys.executable, str(Path(__file__).resolve()), "--client",
               name, "--port", str(port), "--count", str(count), "--inflight", str(inflight)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                           check=False)
    except subprocess.TimeoutExpired:
        return f"failed: over {RUN_TIMEOUT_S:.0f} s"
    if p.returncode != 0:
        lines = (p.stderr or p.stdout).strip().splitlines() or ["?"]
        return f"failed: {lines[-1][:120]}"
    result: Result = json.loads(p.stdout.strip().splitlines()[-1])
    if result["failed"] or result["count"] != count:
        return f"failed: {result['failed']:.0f} bad answers, {result['count']:.0f}/{count} done"
    return result


def available(name: str) -> str:
    mod = {"aiodns": "aiodns", "dnspython": "dns.asyncresolver"}.get(name, "evweb.dns.resolver")
    p = subprocess.run([sys.executable, "-c", f"import {mod}"], cwd=ROOT, capture_output=True,
                       check=False, timeout=60)
    return "" if p.returncode == 0 else f"{mod.split('.')[0]} not installed"


def measure(args: argparse.Namespace, port: int, c_exe: Path | None,
            skip: dict[str, str]) -> dict[str, list[float]]:
    qps: dict[str, list[float]] = {c: [] for c in CLIENTS}
    for _ in range(args.rounds):
        for name in CLIENTS:
            if skip[name]:
                continue
            r = run_client(name, port, args.count, args.inflight, c_exe)
            if isinstance(r, str):
                skip[name] = r
                continue
            qps[name].append(r["count"] / r["seconds"])
    return qps


def report(args: argparse.Namespace, qps: dict[str, list[float]], skip: dict[str, str]) -> int:
    med = {name: statistics.median(v) for name, v in qps.items() if v and not skip[name]}
    table = [["client", "lookups/s median", "min-max", "evweb / client"]]
    for name in CLIENTS:
        if name not in med:
            table.append([name, f"skipped ({skip[name] or 'no result'})"])
            continue
        ratio = f"{med['evweb'] / med[name]:.2f}" if "evweb" in med else "-"
        table.append([name, f"{med[name]:,.0f}", f"{min(qps[name]):,.0f}-{max(qps[name]):,.0f}",
                      ratio])
    print_rows(f"DNS: {args.count} A lookups ({NAMES} names), {args.inflight} in flight, "
               f"against dnsmasq (python {sys.version.split()[0]}, {args.rounds} rounds)", table)
    verdicts = []
    if "evweb" in med and "aiodns" in med:
        ratio = med["evweb"] / med["aiodns"]
        print(f"evweb/aiodns lookups/s {ratio:.2f} (bar >= 1.0): "
              f"{'PASS' if ratio >= 1 else 'FAIL'}")
        verdicts.append(ratio >= 1.0)
    if "evweb" in med and "dnspython" in med:
        ratio = med["evweb"] / med["dnspython"]
        print(f"evweb/dnspython lookups/s {ratio:.2f} (bar >= 8.0): "
              f"{'PASS' if ratio >= 8 else 'FAIL'}")
        verdicts.append(ratio >= 8.0)
    if "evweb" in med and "c-evdns" in med:
        print(f"evweb/C evdns lookups/s {med['evweb'] / med['c-evdns']:.2f} (information)")
    if "evweb-gai" in med and "evweb" in med:
        print(f"evweb getaddrinfo cached / evweb resolve_ipv4 {med['evweb-gai'] / med['evweb']:.2f}"
              " (information)")
    return headline(verdicts)


def profile(args: argparse.Namespace, port: int) -> None:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    result = run_evweb(port, args.count, args.inflight)
    prof.disable()
    print(f"\nevweb under cProfile: {result['count'] / result['seconds']:,.0f} lookups/s")
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--count", type=int, default=10 * NAMES)
    ap.add_argument("--inflight", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--client", choices=[c for c in CLIENTS if c != "c-evdns"])
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.client:
        print(json.dumps(RUNNERS[args.client](args.port, args.count, args.inflight)))
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        proc, port = start_dnsmasq(workdir)
        try:
            if args.profile:
                profile(args, port)
                return 0
            c_exe, why = build_c("evdns_bench", "event2/dns.h")
            skip = {name: available(name) for name in CLIENTS}
            if c_exe is None:
                skip["c-evdns"] = why
            qps = measure(args, port, c_exe, skip)
        finally:
            proc.terminate()
            proc.wait(10)
    return report(args, qps, skip)


if __name__ == "__main__":
    sys.exit(main())
