"""evweb's HTTP Client, callback style: concurrent GETs over a pool, a streamed download, JSON.

Every request returns a ResponseFuture at once; its done callback runs from
the loop when the answer is in. Nothing blocks: several requests share the
loop (and, in the self-test, the loop is shared with the server answering
them).

    python apps/fetch.py URL [URL ...]             # GET them all at once: status, size, time
    python apps/fetch.py --save FILE URL           # stream one download to FILE
    python apps/fetch.py --json '{"a": 1}' URL     # POST JSON, print the JSON answer
    python apps/fetch.py --self-test               # a server in this process; check; exit 0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for evweb

from evweb.http import Client, ClientResponse, HTTPServer, Limits, Request, ResponseFuture
from evweb.reactor import EventBase

Done = Callable[[], None]


class Jobs:
    """Counts what is in flight; when nothing is left, closes the client and stops the loop."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.pending = 0

    def start(self) -> Done:
        self.pending += 1
        return self.finish

    def finish(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.client.close()  # its idle keep-alive connections
            self.client.base.loopbreak()


# -- three ways to use the Client -------------------------------------------------------------


def get_all(client: Client, urls: list[str], done: Done) -> dict[str, Any]:
    """GET every URL at once (the pool's limits decide how many run together)."""
    results: dict[str, Any] = {}
    started = time.monotonic()

    def answered(url: str, future: ResponseFuture) -> None:
        error = future.exception()
        if error is not None:
            results[url] = error
            print(f"{url}: {error}")
        else:
            response = future.result()
            results[url] = response
            took = time.monotonic() - started
            size = len(response.body)
            print(f"{url}: {response.status} {response.reason}, {size} bytes after {took:.3f} s")
        if len(results) == len(urls):
            done()

    for url in urls:
        client.get(url).add_done_callback(lambda f, url=url: answered(url, f))
    return results


def download(client: Client, url: str, path: str, done: Done) -> dict[str, Any]:
    """Stream ``url`` into ``path`` as it arrives: one piece in memory at a time."""
    state: dict[str, Any] = {"bytes": 0, "sha256": hashlib.sha256()}
    out = open(path, "wb")  # noqa: SIM115 - closed when the download ends

    def on_chunk(response: ClientResponse, data: bytes) -> None:
        out.write(data)
        state["bytes"] += len(data)
        state["sha256"].update(data)

    def finished(future: ResponseFuture) -> None:
        out.close()
        error = future.exception()
        state["status"] = error if error is not None else future.result().status
        print(f"{url} -> {path}: {state['status']}, {state['bytes']} bytes")
        done()

    client.get(url, on_chunk=on_chunk).add_done_callback(finished)
    return state


def post_json(client: Client, url: str, value: Any, done: Done) -> dict[str, Any]:
    """POST ``value`` as JSON; the parsed answer lands in the returned dict."""
    state: dict[str, Any] = {}

    def finished(future: ResponseFuture) -> None:
        try:
            response = future.result().raise_for_status()
            state["answer"] = response.json()
            print(f"{url}: {json.dumps(state['answer'])}")
        except Exception as exc:  # a typed evweb error, or a body that is not JSON
            state["error"] = exc
            print(f"{url}: {exc}")
        done()

    client.post(url, json=value).add_done_callback(finished)
    return state


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="*", metavar="URL")
    parser.add_argument("--save", metavar="FILE", help="stream the (one) URL into FILE")
    parser.add_argument("--json", metavar="VALUE", help="POST this JSON to the (one) URL")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.urls or ((args.save or args.json) and len(args.urls) != 1):
        parser.error("give URLs, or one URL with --save or --json")
    base = EventBase()
    client = Client(base, limits=Limits(max_per_origin=4))
    jobs = Jobs(client)
    if args.save:
        saved = download(client, args.urls[0], args.save, jobs.start())
    elif args.json:
        posted = post_json(client, args.urls[0], json.loads(args.json), jobs.start())
    else:
        gets = get_all(client, args.urls, jobs.start())
    base.dispatch()  # until the Jobs stop it
    base.close()
    if args.save:
        ok = saved.get("status") == 200
    elif args.json:
        ok = "answer" in posted
    else:
        ok = all(isinstance(r, ClientResponse) and r.ok for r in gets.values())
    return 0 if ok else 1


# --- self-test -----------------------------------------------------------------------------------

ITEMS, PER_ORIGIN, BLOB_CHUNKS, CHUNK = 8, 4, 80, 65536


def blob_chunk(i: int) -> bytes:
    return (b"%07d\n" % i) * (CHUNK // 8)


def serve_on(base: EventBase) -> tuple[HTTPServer, dict[str, int]]:
    """The server the self-test talks to, on the same loop as the client."""
    server = HTTPServer(base)
    stats = {"in_flight": 0, "most_in_flight": 0}

    def item(req: Request) -> None:  # answers after 0.1 s, so that requests overlap
        stats["in_flight"] += 1
        stats["most_in_flight"] = max(stats["most_in_flight"], stats["in_flight"])

        def answer(*_: Any) -> None:
            stats["in_flight"] -= 1
            req.send_reply(200, None, json.dumps({"n": int(req.query["n"])}), "application/json")

        base.timer(answer).add(0.1)

    def blob(req: Request) -> None:  # 5 MiB, each chunk sent once the previous one has left
        req.start_reply(200)
        sent = [0]

        def next_chunk(req: Request) -> None:
            if sent[0] == BLOB_CHUNKS:
                req.end_reply()
                return
            sent[0] += 1
            req.send_chunk(blob_chunk(sent[0] - 1), next_chunk)

        next_chunk(req)

    def echo(req: Request) -> None:
        got = {"got": json.loads(req.body), "content-type": req.headers.get("content-type")}
        req.send_reply(200, None, json.dumps(got), "application/json")

    server.set_cb("/item", item)
    server.set_cb("/blob", blob)
    server.set_cb("/echo", echo)
    return server, stats


def self_test() -> int:
    base = EventBase()
    server, stats = serve_on(base)
    host, port = server.bind(("127.0.0.1", 0)).address[:2]
    url = f"http://{host}:{port}"
    print(f"Listening on {url}/", flush=True)
    client = Client(base, limits=Limits(max_per_origin=PER_ORIGIN))
    jobs = Jobs(client)
    path = os.path.join(tempfile.mkdtemp(), "blob.bin")

    urls = [f"{url}/item?n={n}" for n in range(ITEMS)]
    gets = get_all(client, urls, jobs.start())
    saved = download(client, url + "/blob", path, jobs.start())
    posted = post_json(client, url + "/echo", {"name": "évweb", "list": [1, 2]}, jobs.start())
    watchdog = base.timer(lambda *_: base.loopbreak())
    watchdog.add(20)
    base.dispatch()  # until the Jobs stop it (or the watchdog does)
    watchdog.delete()
    server.close()
    base.close()

    expected = hashlib.sha256(b"".join(blob_chunk(i) for i in range(BLOB_CHUNKS))).hexdigest()
    with open(path, "rb") as f:
        on_disk = hashlib.sha256(f.read()).hexdigest()
    os.remove(path)
    os.rmdir(os.path.dirname(path))
    results = {
        "concurrent gets": all(
            isinstance(gets.get(u), ClientResponse) and gets[u].json() == {"n": n}
            for n, u in enumerate(urls)
        ),
        "pool limit": stats["most_in_flight"] == PER_ORIGIN,
        "streamed download": saved.get("status") == 200
        and saved["sha256"].hexdigest() == expected == on_disk,
        "json post": posted.get("answer")
        == {"got": {"name": "évweb", "list": [1, 2]}, "content-type": "application/json"},
    }
    ok = all(results.values())
    summary = ", ".join(f"{name}={'ok' if good else 'FAILED'}" for name, good in results.items())
    print(f"fetch self-test: {'ok' if ok else 'FAILED'}: {summary}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
