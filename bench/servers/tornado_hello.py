#!/usr/bin/env python3
"""tornado peer of bench/http_server.py: one RequestHandler on 127.0.0.1:PORT.

GET / answers 200 ``Hello, World!`` with ``Content-Type: text/plain``; keep-alive is
tornado's HTTP/1.1 default.  Tornado's defaults otherwise (it adds an Etag), request
logging off.  Runs until SIGTERM or SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio

import tornado.web

HELLO = b"Hello, World!"


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(HELLO)


def no_log(handler: tornado.web.RequestHandler) -> None:
    pass


async def serve(port: int) -> None:
    app = tornado.web.Application([("/", Hello)], log_function=no_log)
    app.listen(port, address="127.0.0.1")
    await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    try:
        asyncio.run(serve(ap.parse_args().port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
