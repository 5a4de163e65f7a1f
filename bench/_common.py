"""Helpers shared by the bench scripts: the C peers' build, fd limits, tables.

The scripts run as ``python bench/NAME.py``, so ``bench/`` is on ``sys.path``
and they import this module as ``_common``.
"""
from __future__ import annotations

import resource
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / ".build"  # gitignored


def build_c(name: str, header: str,
            libs: Sequence[str] = ("-levent_core", "-levent")) -> tuple[Path | None, str]:
    """Build ``bench/c/NAME.c`` into ``bench/.build/NAME`` with gcc -O2 unless up to date.

    Returns ``(exe, "")`` or ``(None, why)``. ``header`` (under /usr/include) is checked
    first for a clear message; ``libs`` are tried in turn (one ``-l`` option each).
    """
    src, exe = HERE / "c" / f"{name}.c", BUILD / name
    gcc = shutil.which("gcc")
    if gcc is None:
        return None, "gcc not found"
    if not (Path("/usr/include") / header).exists():
        return None, f"/usr/include/{header} missing (apt install libevent-dev)"
    if exe.exists() and exe.stat().st_mtime >= src.stat().st_mtime:
        return exe, ""
    BUILD.mkdir(exist_ok=True)
    err = "?"
    for lib in libs:
        cmd = [gcc, "-O2", "-Wall", "-o", str(exe), str(src), lib]
        p = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
        if p.returncode == 0:
            return exe, ""
        err = (p.stderr.strip().splitlines() or ["?"])[-1]
    return None, f"gcc failed: {err}"


def raise_nofile(need: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``need`` (capped by the hard
    limit); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        soft = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def print_rows(title: str, table: Sequence[Sequence[str]]) -> None:
    """Print ``title`` after a blank line, then the rows: first column left-aligned,
    the others right-aligned, two spaces apart.  A shorter row (e.g. a name and
    "skipped (why)") is aligned up to its last cell, which is printed as it is."""
    ncols = max(len(r) for r in table)
    widths = [max(len(r[i]) for r in table if i < len(r) - (len(r) < ncols))
              for i in range(ncols)]
    print(f"\n{title}")
    for r in table:
        last = len(r) - 1 if len(r) < ncols else -1
        print("  ".join(c if i == last else c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                        enumerate(zip(r, widths[:len(r)], strict=True))))


def headline(verdicts: Sequence[bool]) -> int:
    """Print the HEADLINE line over the bars' verdicts; return the exit status,
    1 iff a bar FAILed (no bar measured: SKIP, 0)."""
    if not verdicts:
        print("HEADLINE: SKIP (no bar measured)")
        return 0
    print(f"HEADLINE: {'PASS' if all(verdicts) else 'FAIL'} ({sum(verdicts)}/{len(verdicts)} bars)")
    return 0 if all(verdicts) else 1


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (a DNS server binds both)."""
    import socket

    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            try:
                with socket.socket() as tcp:
                    tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no port free for both UDP and TCP on 127.0.0.1")


def dns_answers(port: int, name: str) -> bool:
    """Whether the DNS server on 127.0.0.1:``port`` answers an A query for ``name``."""
    import socket
    import sys

    sys.path.insert(0, str(HERE.parent))
    from evweb.dns import Message, make_query

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.sendto(make_query(name, "A", id=7), ("127.0.0.1", port))
        try:
            reply = Message.parse(s.recv(512))
        except OSError:
            return False
    return reply.id == 7 and bool(reply.answers)
