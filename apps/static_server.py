"""libevent's http-server sample on evweb: serve a directory, dump requests to /dump.

Follows sample/http-server.c: a generic callback serves documents from the
docroot (here :class:`evweb.http.static.StaticFiles`, so directories get an
HTML listing and files go out with os.sendfile, ranges and validators);
``/dump`` and every request that is neither GET nor HEAD are printed to
stdout and answered 200 OK; the chosen address is printed; Ctrl-C (or
SIGTERM) stops the server gracefully.

    python apps/static_server.py [-p PORT] [-H ADDR] [-U UNIXSOCK] [--no-listing] DOCROOT
    python apps/static_server.py --self-test     # serve a temp dir, fetch from it, exit 0
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import sys
import tempfile
import threading
import urllib.request
from typing import Any

from evweb.http import HTTPServer, Request
from evweb.http.runner import run_until_signal
from evweb.http.static import StaticFiles
from evweb.reactor import EventBase


def dump_request_cb(req: Request) -> None:
    """Print everything about the request; answer 200 OK (the sample's /dump)."""
    print(f"Received a {req.method} request for {req.target}")
    print("Headers:")
    for name, value in req.headers.items():
        print(f"  {name}: {value}")
    print("Input data: <<<")
    print(req.body.decode("utf-8", "replace"))
    print(">>>", flush=True)
    req.response_headers["Content-Type"] = "text/plain"
    req.send_reply(200, "OK", b"OK\n")


def make_document_cb(docroot: str, listing: bool) -> Any:
    """The generic callback: GET/HEAD from the docroot, anything else dumped."""
    files = StaticFiles(docroot, listing=listing)

    def send_document_cb(req: Request) -> None:
        if req.method not in ("GET", "HEAD"):
            dump_request_cb(req)
            return
        print(f"Got a {req.method} request for <{req.target}>", flush=True)
        files(req)

    return send_document_cb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docroot", nargs="?")
    parser.add_argument("-p", "--port", type=int, default=0, help="port (0: any free one)")
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("-U", "--unix", help="listen on this Unix socket instead")
    parser.add_argument("--no-listing", dest="listing", action="store_false")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if args.docroot is None:
        parser.print_usage(sys.stderr)
        print("Syntax: static_server.py <docroot>", file=sys.stderr)
        return 1
    if not os.path.isdir(args.docroot):
        print(f"{args.docroot}: not a directory", file=sys.stderr)
        return 1
    return serve(args.docroot, args.host, args.port, args.unix, args.listing)


def serve(
    docroot: str,
    host: str,
    port: int,
    unix: str | None,
    listing: bool,
    on_ready: Any = None,
) -> int:
    base = EventBase()
    http = HTTPServer(base)
    http.set_cb("/dump", dump_request_cb)
    http.set_gencb(make_document_cb(docroot, listing))
    try:
        handle = http.bind(unix if unix else (host, port))
    except OSError as exc:
        print(f"couldn't bind to {unix or f'{host}:{port}'}: {exc.strerror}. Exiting.")
        http.close()
        base.close()
        return 1
    address = handle.address
    if isinstance(address, tuple):
        print(f"Listening on {address[0]}:{address[1]}", flush=True)
    else:
        print(f"Listening on {address}", flush=True)

    def stopping(signo: int) -> None:
        print(f"Got {signal.Signals(signo).name}: stopping", flush=True)

    run_until_signal(
        http, 5.0, ready=None if on_ready is None else lambda: on_ready(address), on_signal=stopping
    )
    http.close()
    base.close()
    if unix:
        os.unlink(unix)
    return 0


# --- self-test ----------------------------------------------------------------------------------


def self_test() -> int:
    with tempfile.TemporaryDirectory() as docroot:
        data = os.urandom(1 << 20)
        with open(os.path.join(docroot, "blob.bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(docroot, "<hi>.txt"), "w") as f:
            f.write("hello\n")
        os.mkdir(os.path.join(docroot, "sub"))
        results: dict[str, Any] = {}

        def client(address: Any) -> None:
            try:
                results.update(_fetch_all(address, hashlib.sha256(data).hexdigest()))
            except Exception as exc:
                results["error"] = repr(exc)
            finally:
                os.kill(os.getpid(), signal.SIGINT)

        status = serve(
            docroot,
            "127.0.0.1",
            0,
            None,
            True,
            on_ready=lambda address: threading.Thread(target=client, args=(address,)).start(),
        )
    ok = status == 0 and "error" not in results and all(results.values())
    summary = ", ".join(f"{name}={'ok' if good else 'FAILED'}" for name, good in results.items())
    print(f"static-server self-test: {'ok' if ok else 'FAILED'}: {summary}", flush=True)
    return 0 if ok else 1


def _fetch_all(address: Any, blob_sha: str) -> dict[str, Any]:
    base = f"http://{address[0]}:{address[1]}"
    out: dict[str, Any] = {}
    with urllib.request.urlopen(base + "/") as r:
        page = r.read().decode()
        out["listing"] = "&lt;hi&gt;.txt" in page and 'href="%3Chi%3E.txt"' in page
    with urllib.request.urlopen(base + "/blob.bin") as r:
        out["sendfile"] = hashlib.sha256(r.read()).hexdigest() == blob_sha
    request = urllib.request.Request(base + "/blob.bin", headers={"Range": "bytes=10-19"})
    with urllib.request.urlopen(request) as r:
        out["range"] = r.status == 206 and len(r.read()) == 10
    with urllib.request.urlopen(base + "/sub") as r:  # redirected to /sub/
        out["redirect"] = r.url.endswith("/sub/")
    request = urllib.request.Request(base + "/dump", data=b"posted", method="POST")
    with urllib.request.urlopen(request) as r:
        out["dump"] = r.read() == b"OK\n"
    with socket.create_connection(address[:2], timeout=5) as sock:
        sock.sendall(b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")
        out["traversal"] = sock.recv(100).startswith(b"HTTP/1.1 400")
    return out


if __name__ == "__main__":
    sys.exit(main())
