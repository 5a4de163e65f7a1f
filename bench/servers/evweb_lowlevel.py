#!/usr/bin/env python3
"""evweb peer of bench/http_server.py on evweb's low-level (evhttp-style) API.

GET / -> 200 ``Hello, World!``, text/plain, keep-alive, on 127.0.0.1:``--port``;
the contract every server follows is in bench/README.md. Access log off, no
connection limit (the idle-memory case opens 10,000).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evweb.http import HTTPServer, Request, ServerConfig
from evweb.reactor import EventBase

HELLO = b"Hello, World!"


def hello(req: Request) -> None:
    req.send_reply(200, None, HELLO, "text/plain")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    opts = ap.parse_args()
    base = EventBase()
    config = ServerConfig(access_log=False, max_connections=None, keep_alive_timeout=120.0)
    server = HTTPServer(base, config)
    server.bind(("127.0.0.1", opts.port))
    server.set_cb("/", hello)
    for signo in (signal.SIGTERM, signal.SIGINT):
        base.signal(signo, lambda *_: base.loopbreak()).add()
    base.loop()
    server.close()


if __name__ == "__main__":
    main()
