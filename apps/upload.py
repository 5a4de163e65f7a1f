"""An upload endpoint that streams request bodies to disk (evweb's low-level server API).

``POST /upload`` (or PUT) with any body: the bytes go to a temporary file in
``--dir`` as they arrive (the server never holds more than one read of
them), hashed on the way; at the end the file is renamed
``<sha256 prefix>-<name>`` (``?name=`` sanitised, default ``upload.bin``)
and the answer is JSON: ``{"bytes": N, "sha256": "...", "file": "..."}``.
Chunked bodies and ``Expect: 100-continue`` work; bodies over ``--max-bytes``
get 413 before a byte is stored; a client that goes away leaves no file.

Writing the file happens on the loop thread: fine for a local disk and an
example, not for a network filesystem under load.

    python apps/upload.py [--host 127.0.0.1] [--port 8080] [--dir uploads] [--max-bytes N]
    curl -T big.iso 'http://127.0.0.1:8080/upload?name=big.iso'
    python apps/upload.py --self-test    # upload to itself, check sizes and hashes, exit 0
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from evweb.http import HTTPServer, Request
from evweb.http.runner import run_until_signal
from evweb.reactor import EventBase

USAGE = b"POST or PUT a body to /upload (?name=FILE); the answer is its size and sha256.\n"


class Upload:
    """One body on its way to disk: a temporary file, a running hash, a byte count."""

    def __init__(self, directory: str, name: str) -> None:
        self.directory = directory
        self.name = name
        fd, self.temp = tempfile.mkstemp(prefix=".upload-", dir=directory)
        self.file = os.fdopen(fd, "wb")
        self.sha256 = hashlib.sha256()
        self.size = 0

    def on_data(self, req: Request, data: bytes) -> None:
        self.file.write(data)
        self.sha256.update(data)
        self.size += len(data)

    def on_end(self, req: Request) -> None:
        self.file.close()
        digest = self.sha256.hexdigest()
        final = f"{digest[:16]}-{self.name}"
        os.replace(self.temp, os.path.join(self.directory, final))
        body = json.dumps({"bytes": self.size, "sha256": digest, "file": final})
        req.response_headers["Content-Type"] = "application/json"
        req.send_reply(200, None, body + "\n")

    def on_error(self, req: Request, exc: BaseException) -> None:
        print(f"upload of {self.name} failed after {self.size} bytes: {exc!r}", flush=True)
        self.file.close()
        os.unlink(self.temp)


def safe_name(raw: str | None) -> str:
    """A file name that cannot leave the directory or hide (``../x`` -> ``x``)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(raw or ""))[:100].lstrip(".")
    return name or "upload.bin"


def make_upload_cb(directory: str) -> Any:
    def upload_cb(req: Request) -> None:
        if req.method not in ("POST", "PUT"):
            req.response_headers["Allow"] = "POST, PUT"
            req.send_error(405)
            return
        upload = Upload(directory, safe_name(req.query.get("name")))
        req.read_body(upload.on_data, upload.on_end, upload.on_error)

    return upload_cb


def usage_cb(req: Request) -> None:
    req.response_headers["Content-Type"] = "text/plain; charset=utf-8"
    req.send_reply(200, None, USAGE)


def serve(host: str, port: int, directory: str, max_bytes: int | None, on_ready: Any = None) -> int:
    base = EventBase()
    server = HTTPServer(base)
    server.set_cb("/upload", make_upload_cb(directory), stream=True, max_body_size=max_bytes)
    server.set_gencb(usage_cb)
    address = server.bind((host, port)).address
    url = f"http://{address[0]}:{address[1]}/upload"
    print(f"Listening on {url}, saving to {directory}", flush=True)

    run_until_signal(server, 10.0, ready=None if on_ready is None else lambda: on_ready(address))
    server.close()
    base.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--dir", default="uploads", help="where uploads go (created)")
    parser.add_argument(
        "--max-bytes", type=int, default=1 << 30, help="largest body (1 GiB); 0 for no limit"
    )
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    os.makedirs(args.dir, exist_ok=True)
    return serve(args.host, args.port, args.dir, args.max_bytes or None)


# --- self-test ----------------------------------------------------------------------------------

LIMIT = 16 << 20


def self_test() -> int:
    with tempfile.TemporaryDirectory() as directory:
        results: dict[str, bool] = {}

        def client(address: Any) -> None:
            try:
                results.update(_exercise(address[:2], directory))
            except Exception as exc:
                print(f"self-test client failed: {exc!r}", flush=True)
                results["client"] = False
            finally:
                os.kill(os.getpid(), signal.SIGINT)

        def ready(address: Any) -> None:
            threading.Thread(target=client, args=(address,)).start()

        status = serve("127.0.0.1", 0, directory, LIMIT, on_ready=ready)
        leftovers = [n for n in os.listdir(directory) if n.startswith(".upload-")]
        results["no temp files left"] = not leftovers
    ok = status == 0 and bool(results) and all(results.values())
    summary = ", ".join(f"{name}={'ok' if good else 'FAILED'}" for name, good in results.items())
    print(f"upload self-test: {'ok' if ok else 'FAILED'}: {summary}", flush=True)
    return 0 if ok else 1


def _post(address: Any, body: Any, headers: dict[str, str], name: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        encode_chunked = "Transfer-Encoding" in headers
        conn.request("POST", f"/upload?name={name}", body, headers, encode_chunked=encode_chunked)
        reply = conn.getresponse()
        result: dict[str, Any] = json.loads(reply.read())
        return result
    finally:
        conn.close()


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _exercise(address: Any, directory: str) -> dict[str, bool]:
    out: dict[str, bool] = {}
    data = os.urandom(8 << 20)
    digest = hashlib.sha256(data).hexdigest()
    got = _post(address, data, {"Content-Length": str(len(data))}, "blob.bin")
    stored = os.path.join(directory, got["file"])
    with open(stored, "rb") as f:
        on_disk = hashlib.sha256(f.read()).hexdigest()
    out["content-length"] = got["bytes"] == len(data) and got["sha256"] == digest == on_disk
    got = _post(address, _pieces(data, 100_000), {"Transfer-Encoding": "chunked"}, "../../x")
    out["chunked"] = got["bytes"] == len(data) and got["sha256"] == digest
    out["safe name"] = got["file"] == f"{digest[:16]}-x"
    with socket.create_connection(address, timeout=10) as sock:
        head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        sock.sendall(head + b"Expect: 100-continue\r\n\r\n")
        out["100-continue"] = sock.recv(100).startswith(b"HTTP/1.1 100")
        sock.sendall(b"hello")
        answer = b""
        while b"}" not in answer:
            chunk = sock.recv(1000)
            if not chunk:
                break
            answer += chunk
        out["100-continue"] = out["100-continue"] and b'"bytes": 5' in answer
    with socket.create_connection(address, timeout=10) as sock:
        head = b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1)
        sock.sendall(head)
        out["413 over the limit"] = sock.recv(100).startswith(b"HTTP/1.1 413")
    return out


if __name__ == "__main__":
    sys.exit(main())
