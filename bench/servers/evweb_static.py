#!/usr/bin/env python3
"""evweb peer of bench/http_server.py's static download test: StaticFiles as the generic callback.

GET /NAME -> 200 and the bytes of the regular file DIR/NAME (``--root DIR``) with a
Content-Length, keep-alive, on 127.0.0.1:``--port``, sent with os.sendfile; the contract
every server follows is in bench/README.md. GET / answers ``Hello, World!`` as in the
hello servers. Access log off, as for the other peers. Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evweb.http import HTTPServer, Request, ServerConfig
from evweb.http.static import StaticFiles
from evweb.reactor import EventBase

HELLO = b"Hello, World!"


def hello(req: Request) -> None:
    req.response_headers["Content-Type"] = "text/plain"
    req.send_reply(200, None, HELLO)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", type=Path, required=True)
    opts = ap.parse_args()
    base = EventBase()
    config = ServerConfig(access_log=False, max_connections=None, keep_alive_timeout=120.0)
    server = HTTPServer(base, config)
    server.bind(("127.0.0.1", opts.port))
    server.set_cb("/", hello)
    server.set_gencb(StaticFiles(opts.root, listing=False))
    for signo in (signal.SIGTERM, signal.SIGINT):
        base.signal(signo, lambda *_: base.loopbreak()).add()
    base.loop()
    server.close()


if __name__ == "__main__":
    main()
