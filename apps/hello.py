"""The evweb hello app: routes, path parameters, a query, a JSON API, a template, static files.

    python apps/hello.py [--host 127.0.0.1] [--port 8080]
    python apps/hello.py --self-test          # serve on a free port, fetch every page, exit 0
    evweb serve apps.hello:app                # the same app through the CLI

What it shows:

* ``/``: a jinja2 page (apps/templates/) with a visit counter in a cookie;
* ``/hello/{name}?greeting=Hi``: a path parameter and a query parameter;
* ``/api/items``: a JSON API in its own App mounted under ``/api``, with
  its own 404 answer (JSON) and ``url_for`` across the mount;
* ``/static/...``: apps/static/ served by :class:`evweb.http.static.StaticFiles`;
* ``/count/{n:int}``: a streamed (chunked) response from a generator;
* ``POST /upload``: a request body streamed to the handler piece by piece;
* a middleware adding ``X-Response-Time`` to every answer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evweb.errors import HTTPException
from evweb.http import Request, ServerConfig
from evweb.http.app import App, CallNext
from evweb.http.bodies import cookies, json_body
from evweb.http.responses import JSONResponse, Response, StreamResponse, respond
from evweb.http.runner import serve
from evweb.http.static import StaticFiles

HERE = Path(__file__).resolve().parent

app = App(templates=HERE / "templates", config=ServerConfig(max_body_size=1 << 20))
api = App()
items: dict[int, dict[str, Any]] = {}


# -- pages -----------------------------------------------------------------------------------
@app.get("/")
def index(request: Request) -> Response:
    visits = int(cookies(request).get("visits", "0") or 0) + 1
    name = request.query.get("name", "stranger")
    page = app.render("index.html", name=name, visits=visits, items=list(items.values()))
    page.set_cookie("visits", str(visits), max_age=3600, httponly=True)
    return page


@app.get("/hello/{name}", name="greet")
def greet(request: Request) -> str:
    greeting = request.query.get("greeting", "Hello")
    return f"{greeting}, {request.params['name']}!\n"


@app.get("/count/{n:int}", name="count")
def count(request: Request) -> Response:
    n = request.params["n"]
    if n > 100_000:
        raise HTTPException(400, "n must be at most 100000")

    def lines() -> Iterator[str]:
        for i in range(1, n + 1):
            yield f"{i}\n"

    return StreamResponse(lines(), content_type="text/plain; charset=utf-8")


@app.post("/upload", stream=True, max_body_size=100 << 20)
def upload(request: Request) -> None:
    digest = hashlib.sha256()
    size = 0

    def on_data(req: Request, data: bytes) -> None:
        nonlocal size
        size += len(data)
        digest.update(data)

    def on_end(req: Request) -> None:
        respond(req, {"bytes": size, "sha256": digest.hexdigest()})

    request.read_body(on_data, on_end)


@app.add_middleware
def response_time(call_next: CallNext) -> CallNext:
    def handler(request: Request) -> Response | None:
        start = time.perf_counter()
        response = call_next(request)
        if response is not None:
            response.headers.add("X-Response-Time", f"{(time.perf_counter() - start) * 1e3:.3f}ms")
        return response

    return handler


# -- the JSON API, an App of its own ----------------------------------------------------------
@api.get("/items")
def list_items(request: Request) -> list[dict[str, Any]]:
    return list(items.values())


@api.post("/items")
def create_item(request: Request) -> Response:
    data = json_body(request)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise HTTPException(422, 'expected {"name": "..."}')
    item = {"id": max(items, default=0) + 1, "name": data["name"]}
    items[item["id"]] = item
    return JSONResponse(item, 201, {"Location": api.url_for("get_item", id=item["id"])})


@api.get("/items/{id:int}")
def get_item(request: Request) -> dict[str, Any]:
    item = items.get(request.params["id"])
    if item is None:
        raise HTTPException(404, "no such item")
    return item


@api.delete("/items/{id:int}")
def delete_item(request: Request) -> Response:
    if items.pop(request.params["id"], None) is None:
        raise HTTPException(404, "no such item")
    return Response(b"", 204)


@api.exception_handler(404)
def api_not_found(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": exc.detail or "not found"}, 404)


@app.on_startup
def seed() -> None:
    items.setdefault(1, {"id": 1, "name": "a first item"})


app.mount("/api", api, name="api")
app.mount("/static", StaticFiles(HERE / "static"), name="static")


# -- running and self-testing -------------------------------------------------------------------
def fetch(url: str, method: str = "GET", body: bytes | None = None, **headers: str) -> Any:
    """(status, headers, body) of one request with urllib; HTTP errors are answers too."""
    req = urllib.request.Request(url, body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read()


def self_test(url: str) -> list[str]:
    """Fetch every kind of page; the list of failures (empty: all good)."""
    base = url.rstrip("/")
    failures: list[str] = []

    def check(label: str, ok: bool) -> None:
        print(f"self-test: {'ok  ' if ok else 'FAIL'} {label}", flush=True)
        if not ok:
            failures.append(label)

    status, headers, body = fetch(base + "/?name=tester")
    check("GET / renders the template", status == 200 and b"Hello, tester!" in body)
    check("GET / sets the visits cookie", "visits=1" in (headers["Set-Cookie"] or ""))
    check("GET / passes the middleware", bool(headers["X-Response-Time"]))
    status, _, body = fetch(base + "/", Cookie="visits=41")
    check("the cookie is read back", b"visitor number 42" in body)
    status, _, body = fetch(base + "/hello/world?greeting=Bonjour")
    check("GET /hello/world?greeting=Bonjour", (status, body) == (200, b"Bonjour, world!\n"))
    data = json.dumps({"name": "from the self-test"}).encode()
    status, headers, body = fetch(
        base + "/api/items", "POST", data, **{"Content-Type": "application/json"}
    )
    created = json.loads(body) if status == 201 else {}
    check("POST /api/items creates", created.get("name") == "from the self-test")
    status, _, body = fetch(base + headers["Location"] if created else base + "/api/items/0")
    check("GET /api/items/{id} finds it", status == 200 and json.loads(body) == created)
    status, _, body = fetch(base + "/api/items")
    check("GET /api/items lists both", status == 200 and len(json.loads(body)) == 2)
    status, _, body = fetch(base + "/api/items/999")
    check(
        "a missing item is a JSON 404",
        (status, json.loads(body)) == (404, {"error": "no such item"}),
    )
    status, headers, _ = fetch(base + "/api/items", "PUT", b"")
    check("PUT /api/items is 405 with Allow", status == 405 and "POST" in headers["Allow"])
    status, headers, body = fetch(base + "/static/style.css")
    check("GET /static/style.css", status == 200 and headers["Content-Type"].startswith("text/css"))
    status, headers, body = fetch(base + "/count/3")
    check("GET /count/3 streams", (status, body) == (200, b"1\n2\n3\n"))
    check("... chunked", headers["Transfer-Encoding"] == "chunked")
    blob = os.urandom(300_000)
    status, _, body = fetch(base + "/upload", "POST", blob)
    expected = {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    check("POST /upload streams the body", status == 200 and json.loads(body) == expected)
    status, _, _ = fetch(base + "/nowhere")
    check("GET /nowhere is 404", status == 404)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--self-test", action="store_true", help="fetch every page, then exit")
    args = parser.parse_args()
    if not args.self_test:
        return serve(app, host=args.host, port=args.port, config=app.config)

    failures: list[str] = ["the server never started"]

    def run_tests(url: str) -> None:
        try:
            failures[:] = self_test(url)
        except Exception as exc:  # a crash is a failure too
            failures[:] = [f"self-test crashed: {exc!r}"]
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a graceful stop, as on Ctrl-C

    def ready(url: str) -> None:
        print(f"evweb hello app listening on {url}", flush=True)
        threading.Thread(target=run_tests, args=(url,), daemon=True).start()

    status = serve(app, host="127.0.0.1", port=0, config=app.config, access_log=False, ready=ready)
    print(f"self-test: {'passed' if not failures else 'FAILED: ' + ', '.join(failures)}")
    return status or (1 if failures else 0)


if __name__ == "__main__":
    sys.exit(main())
