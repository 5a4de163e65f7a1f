#!/usr/bin/env python3
"""DNS server benchmark: evweb's zone server (`evweb dns serve`) vs dnsmasq, with dnsperf.

Both serve the same NAMES names (h0.bench.test .. h999.bench.test, each with an A and an
AAAA record, TTL 300): evweb from a generated RFC 1035 master file (SOA, NS, then the
records), dnsmasq from --host-record lines (--no-resolv --no-hosts --local=/test/
--local-ttl=300, so nothing leaves the machine).  Each server in turn runs pinned to
CPU 0 on a free port on 127.0.0.1; dnsperf runs pinned to CPU 1 for SECONDS seconds
(-l) with the query file (each name asked A then AAAA, 2,000 lines, looped), -c CLIENTS
clients and -q INFLIGHT queries outstanding, UDP.  Rounds alternate the servers; the
median round counts.  Reported: queries/s, average latency, lost queries, and the ratio
evweb / dnsmasq.
Bar: evweb >= 0.5 x dnsmasq in queries/s.  Exit status 1 iff the bar FAILs.
``--profile`` serves from this process under cProfile instead (one dnsperf run) and
prints the top entries.

    python bench/dns_server.py [--seconds S] [--clients C] [--inflight Q] [--rounds R]
                               [--profile]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import dns_answers, free_udp_tcp_port, headline, print_rows

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVER_CPU, CLIENT_CPU = 0, 1
NAMES = 1000
DOMAIN = "bench.test"
BAR = 0.5
SERVERS = ("evweb", "dnsmasq")
Result = dict[str, float]


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []


def address(i: int) -> tuple[str, str]:
    return f"10.{i >> 8}.{i & 255}.1", f"fd00::{i:x}"


def write_inputs(workdir: str) -> tuple[str, str, str]:
    """The zone file, dnsmasq's conf file and dnsperf's query file."""
    zone, conf, queries = (os.path.join(workdir, n) for n in ("bench.zone", "dnsmasq.conf",
                                                                "queries.txt"))
    with open(zone, "w") as z, open(conf, "w") as c, open(queries, "w") as q:
        z.write(f"$ORIGIN {DOMAIN}.\n$TTL 300\n"
                "@ SOA ns1 hostmaster 1 3600 600 86400 300\n  NS ns1\nns1 A 10.255.255.1\n")
        for i in range(NAMES):
            v4, v6 = address(i)
            z.write(f"h{i} A {v4}\n   AAAA {v6}\n")
            c.write(f"host-record=h{i}.{DOMAIN},{v4},{v6}\n")
            q.write(f"h{i}.{DOMAIN} A\nh{i}.{DOMAIN} AAAA\n")
    return zone, conf, queries


def server_command(name: str, port: int, zone: str, conf: str, workdir: str) -> list[str]:
    if name == "evweb":
        return [*pin(SERVER_CPU), sys.executable, "-m", "evweb", "dns", "serve", zone,
                "--port", str(port)]
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    return [*pin(SERVER_CPU), exe, "--keep-in-foreground", f"--port={port}",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
            "--local=/test/", "--local-ttl=300", f"--conf-file={conf}",
            f"--log-facility={os.path.join(workdir, 'dnsmasq.log')}", "--pid-file="]


def start(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise SystemExit(f"{cmd[len(pin(0))]} exited: {err.strip()[-300:]}")
        if dns_answers(port, f"h1.{DOMAIN}"):
            return proc
    stop(proc)
    raise SystemExit(f"{cmd} did not answer within 15 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    if proc.stderr:
        proc.stderr.close()


def dnsperf_command(port: int, queries: str, args: argparse.Namespace) -> list[str]:
    return [*pin(CLIENT_CPU), "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries,
            "-l", str(args.seconds), "-c", str(args.clients), "-q", str(args.inflight)]


def dnsperf(port: int, queries: str, args: argparse.Namespace) -> Result | str:
    cmd = dnsperf_command(port, queries, args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 60,
                       check=False)
    out = p.stdout
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    lat = re.search(r"Average Latency \(s\):\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    sent = re.search(r"Queries sent:\s+(\d+)", out)
    if p.returncode != 0 or not (qps and lat and lost and sent):
        return f"dnsperf failed: {(p.stderr or out).strip()[-200:]}"
    return {"qps": float(qps.group(1)), "latency": float(lat.group(1)),
            "lost": float(lost.group(1)), "sent": float(sent.group(1))}


def measure(args: argparse.Namespace, workdir: str) -> dict[str, list[Result]]:
    zone, conf, queries = write_inputs(workdir)
    results: dict[str, list[Result]] = {name: [] for name in SERVERS}
    for _ in range(args.rounds):
        for name in SERVERS:
            port = free_udp_tcp_port()
            proc = start(server_command(name, port, zone, conf, workdir), port)
            try:
                r = dnsperf(port, queries, args)
            finally:
                stop(proc)
            if isinstance(r, str):
                raise SystemExit(f"{name}: {r}")
            results[name].append(r)
    return results


def report(args: argparse.Namespace, results: dict[str, list[Result]]) -> int:
    med = {n: sorted(rs, key=lambda r: r["qps"])[len(rs) // 2] for n, rs in results.items()}
    table = [["server", "queries/s", "avg latency ms", "lost", "min-max qps"]]
    for name in SERVERS:
        r, all_qps = med[name], [x["qps"] for x in results[name]]
        table.append([name, f"{r['qps']:,.0f}", f"{r['latency'] * 1000:.3f}",
                      f"{r['lost']:.0f}/{r['sent']:.0f}",
                      f"{min(all_qps):,.0f}-{max(all_qps):,.0f}"])
    print_rows(f"DNS server: dnsperf -l {args.seconds} -c {args.clients} -q {args.inflight}, "
               f"{NAMES} names x (A, AAAA), server on CPU {SERVER_CPU}, dnsperf on CPU "
               f"{CLIENT_CPU} (python {sys.version.split()[0]}, {args.rounds} rounds, median)",
               table)
    ratio = med["evweb"]["qps"] / med["dnsmasq"]["qps"]
    print(f"evweb/dnsmasq queries/s {ratio:.2f} (bar >= {BAR}): "
          f"{'PASS' if ratio >= BAR else 'FAIL'}")
    pairs = zip(results["evweb"], results["dnsmasq"], strict=True)
    ratios = [e["qps"] / d["qps"] for e, d in pairs]
    print(f"median of the rounds' ratios: {statistics.median(ratios):.2f}")
    return headline([ratio >= BAR])


def profile(args: argparse.Namespace, workdir: str) -> int:
    """Serve from this process under cProfile while dnsperf runs; print the top entries."""
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT))
    from evweb.dns.zone_server import ZoneServer
    from evweb.reactor import EventBase

    zone, _, queries = write_inputs(workdir)
    base = EventBase()
    server = ZoneServer(base, [zone])
    port = server.listen("127.0.0.1", 0)[1]
    cmd = dnsperf_command(port, queries, args)
    client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base.timer(lambda *_: client.poll() is not None and base.loopbreak(), persist=True).add(0.2)
    prof = cProfile.Profile()
    prof.runcall(base.dispatch)
    out = client.communicate(timeout=30)[0]
    print("\n".join(line for line in out.splitlines() if "Queries" in line or "Latency" in line))
    server.close()
    base.close()
    pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="dnsperf -l (10)")
    parser.add_argument("--clients", type=int, default=4, help="dnsperf -c (4)")
    parser.add_argument("--inflight", type=int, default=100, help="dnsperf -q (100)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, servers alternating (1)")
    parser.add_argument("--profile", action="store_true", help="cProfile the evweb server")
    args = parser.parse_args()
    for tool in ("dnsperf", "dnsmasq"):
        if not (shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}")):
            print(f"SKIP: {tool} not installed")
            return 0
    with tempfile.TemporaryDirectory(prefix="evweb-dns-server-") as workdir:
        if args.profile:
            return profile(args, workdir)
        return report(args, measure(args, workdir))


if __name__ == "__main__":
    sys.exit(main())
