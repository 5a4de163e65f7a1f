#!/usr/bin/env python3
"""aiohttp peer of bench/http_server.py: a plain aiohttp.web app on 127.0.0.1:PORT.

GET / answers 200 ``Hello, World!`` with ``Content-Type: text/plain``; keep-alive is
aiohttp's HTTP/1.1 default.  One route, the default asyncio loop, access log off.
With ``--root DIR`` a second route, GET /NAME, answers ``web.FileResponse(DIR/NAME)``
for the static download test.  Runs until SIGTERM or SIGINT.
"""
from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

HELLO = b"Hello, World!"


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=HELLO, content_type="text/plain")


def static_handler(root: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]  # {name} never holds a '/'
        path = root / name
        if name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)
    return static


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", type=Path, help="serve the files of DIR as GET /NAME")
    opts = ap.parse_args()
    app = web.Application()
    app.router.add_get("/", hello)
    if opts.root is not None:
        app.router.add_get("/{name}", static_handler(opts.root.resolve()))
    web.run_app(app, host="127.0.0.1", port=opts.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
