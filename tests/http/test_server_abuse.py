"""Bad input in bulk: hostile clients leak no connections or fds; others keep being served."""

from __future__ import annotations

import os
import random
import socket
import time

import requests

from evweb.http import HTTPServer, Request, ServerConfig
from tests.http.live import live_server

_ATTACKS = [
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",  # cut mid-body
    b"GET / HTTP/1.1\r\nHost: a\r\n",  # head never ends
    b"\r\n\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX:" + b"y" * 40_000,
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /\x00 HTTP/1.1\r\n\r\n",
    bytes(range(256)),
]


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_hostile_clients_leave_nothing_behind() -> None:
    def setup(server: HTTPServer) -> None:
        def ok(req: Request) -> None:
            req.send_reply(200, None, b"ok")

        server.set_gencb(ok)

    config = ServerConfig(head_timeout=0.5, body_timeout=0.5, linger_time=0.3, max_body_size=1000)
    rng = random.Random(7)
    with live_server(setup, config=config) as srv:
        requests.get(srv.url + "/").raise_for_status()
        baseline = _fds()
        socks = []
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", srv.port))
            attack = rng.choice(_ATTACKS)
            try:
                s.sendall(attack[: rng.randint(1, len(attack))])
            except OSError:
                pass
            if i % 3 == 0:
                s.close()  # abrupt close, sometimes with unread replies: a reset
            else:
                socks.append(s)
            if i % 50 == 0:  # a well-behaved client is served meanwhile
                assert requests.get(srv.url + "/x").text == "ok"
        for s in socks:
            s.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if srv.call(lambda: len(srv.server.connections) + len(srv.server._refusing)) == 0:
                break
            time.sleep(0.05)
        assert srv.call(lambda: len(srv.server.connections)) == 0
        assert _fds() <= baseline
        assert requests.get(srv.url + "/").text == "ok"
