"""The web-framework layer (evweb.http.App) through a real server and real clients."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from evweb.errors import ConfigError, HTTPException
from evweb.http import HTTPServer, Request, ServerConfig
from evweb.http.app import App, CallNext
from evweb.http.bodies import cookies, form, json_body
from evweb.http.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamResponse,
    Template,
    TextResponse,
    respond,
)
from tests.http.live import LiveServer, live_server, raw_exchange, read_response


@contextmanager
def serving(
    app: App, method: str | None = None, config: ServerConfig | None = None
) -> Iterator[LiveServer]:
    with live_server(app.attach, method=method, config=config) as srv:
        yield srv


@contextmanager
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def get(srv: LiveServer, path: str, method: str = "GET", **kwargs: Any) -> requests.Response:
    with session() as s:
        return s.request(method, srv.url + path, allow_redirects=False, timeout=5, **kwargs)


def hello_app() -> App:
    app = App()

    @app.get("/")
    def index(request: Request) -> str:
        return "Hello, World!"

    @app.get("/users/{id:int}", name="user")
    def user(request: Request) -> dict[str, Any]:
        return {"id": request.params["id"], "q": request.query.get("q")}

    @app.post("/users/{id:int}")
    def update(request: Request) -> Response:
        return JSONResponse({"updated": request.params["id"]}, status=201)

    return app


# -- basics, over every backend ----------------------------------------------------------------
def test_routes_params_404_405_on_every_backend(method: str) -> None:
    app = hello_app()
    with serving(app, method) as srv, session() as s:
        r = s.get(srv.url + "/")
        assert (r.status_code, r.text) == (200, "Hello, World!")
        assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
        r = s.get(srv.url + "/users/42?q=x%20y")
        assert r.json() == {"id": 42, "q": "x y"}
        assert r.headers["Content-Type"] == "application/json"
        r = s.post(srv.url + "/users/42")
        assert (r.status_code, r.json()) == (201, {"updated": 42})
        r = s.get(srv.url + "/users/bob")
        assert (r.status_code, r.text) == (404, "Not Found")
        r = s.delete(srv.url + "/users/42")
        assert r.status_code == 405
        assert r.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
        r = s.options(srv.url + "/users/42")
        assert r.status_code == 204 and r.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
        r = s.head(srv.url + "/")
        assert r.status_code == 200 and r.text == "" and r.headers["Content-Length"] == "13"
        r = s.get(srv.url + "/")  # the connection survived all of this
        assert r.status_code == 200


def test_pipelined_requests_over_a_raw_socket() -> None:
    with serving(hello_app()) as srv:
        reqs = b"".join(
            b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p for p in (b"/", b"/users/1", b"/nope")
        )
        reqs += b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        data = raw_exchange(srv.port, reqs)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"200", b"200", b"404", b"200"]


def test_return_values_become_responses() -> None:
    app = App()
    app.add_route("/text", lambda r: "t")
    app.add_route("/bytes", lambda r: b"\x00\x01")
    app.add_route("/list", lambda r: [1, "a", None])
    app.add_route("/html", lambda r: HTMLResponse("<b>x</b>"))
    app.add_route("/custom", lambda r: Response("c", 202, {"X-A": "1"}, content_type="text/csv"))

    @app.get("/lowlevel")
    def lowlevel(request: Request) -> None:
        request.response_headers["X-Low"] = "yes"
        request.send_reply(299, "Fine", b"by hand")

    @app.get("/later")
    def later(request: Request) -> None:
        assert app.server is not None
        app.server.base.once(-1, 0x01, lambda *_: respond(request, {"late": True}), None, 0.01)

    @app.get("/bad")
    def bad(request: Request) -> object:
        return 3.5

    with serving(app) as srv:
        assert get(srv, "/text").headers["Content-Type"] == "text/plain; charset=utf-8"
        r = get(srv, "/bytes")
        assert r.content == b"\x00\x01"
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert get(srv, "/list").text == '[1,"a",null]'
        assert get(srv, "/html").headers["Content-Type"] == "text/html; charset=utf-8"
        r = get(srv, "/custom")
        assert (r.status_code, r.text, r.headers["X-A"]) == (202, "c", "1")
        assert r.headers["Content-Type"] == "text/csv"
        r = get(srv, "/lowlevel")
        assert (r.status_code, r.reason, r.text, r.headers["X-Low"]) == (
            299,
            "Fine",
            "by hand",
            "yes",
        )
        assert get(srv, "/later").json() == {"late": True}
        assert get(srv, "/bad").status_code == 500


# -- errors ----------------------------------------------------------------------------------
def test_http_exception_and_handlers() -> None:
    app = App()

    class OopsError(Exception):
        pass

    @app.get("/teapot")
    def teapot(request: Request) -> None:
        raise HTTPException(418, "short and stout", {"X-Tea": "earl grey"})

    @app.get("/auth")
    def auth(request: Request) -> None:
        raise HTTPException(401, headers=[("WWW-Authenticate", 'Basic realm="x"')])

    @app.get("/oops")
    def oops(request: Request) -> None:
        raise OopsError("handled")

    @app.exception_handler(401)
    def unauthorized(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"error": exc.status}, 401, exc.headers)

    @app.exception_handler(404)
    def not_found(request: Request, exc: HTTPException) -> Response:
        return HTMLResponse(f"<h1>no {request.path}</h1>", 404)

    @app.exception_handler(OopsError)
    def on_oops(request: Request, exc: OopsError) -> str:
        return f"caught {exc}"

    with serving(app) as srv:
        r = get(srv, "/teapot")
        assert (r.status_code, r.text, r.headers["X-Tea"]) == (418, "short and stout", "earl grey")
        r = get(srv, "/auth")
        assert r.status_code == 401 and r.json() == {"error": 401}
        assert r.headers["WWW-Authenticate"] == 'Basic realm="x"'
        r = get(srv, "/missing")
        assert (r.status_code, r.text) == (404, "<h1>no /missing</h1>")
        assert get(srv, "/oops").text == "caught handled"


def test_unhandled_exception_is_logged_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    app = hello_app()

    @app.get("/boom")
    def boom(request: Request) -> None:
        raise RuntimeError("secret detail")

    with (
        caplog.at_level(logging.ERROR, logger="evweb.http.app"),
        serving(app) as srv,
        session() as s,
    ):
        r = s.get(srv.url + "/boom")
        assert (r.status_code, r.text) == (500, "Internal Server Error")
        assert "secret" not in r.text
        assert s.get(srv.url + "/").status_code == 200  # same connection, still served
    records = [rec for rec in caplog.records if rec.name == "evweb.http.app"]
    assert len(records) == 1 and records[0].exc_info is not None
    assert "GET /boom" in records[0].getMessage()


def test_debug_sends_the_traceback_and_500_handler(caplog: pytest.LogCaptureFixture) -> None:
    debug = App(debug=True)
    debug.add_route("/boom", lambda r: 1 / 0)
    custom = App()
    custom.add_route("/boom", lambda r: 1 / 0)

    @custom.exception_handler(500)
    def server_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": type(exc).__name__}, 500)

    with caplog.at_level(logging.CRITICAL, logger="evweb.http.app"):
        with serving(debug) as srv:
            r = get(srv, "/boom")
            assert r.status_code == 500 and "ZeroDivisionError" in r.text
        with serving(custom) as srv:
            r = get(srv, "/boom")
            assert r.status_code == 500 and r.json() == {"error": "ZeroDivisionError"}


# -- middleware -------------------------------------------------------------------------------
def test_middleware_composition_order_and_errors() -> None:
    app = hello_app()
    calls: list[str] = []

    def tag(label: str) -> Callable[[CallNext], CallNext]:
        def middleware(call_next: CallNext) -> CallNext:
            def handler(request: Request) -> Response | None:
                calls.append(f"{label}>")
                response = call_next(request)
                calls.append(f"<{label}")
                if response is not None:
                    response.headers.add("X-Seen", label)
                return response

            return handler

        return middleware

    app.add_middleware(tag("inner"))
    app.add_middleware(tag("outer"))

    @app.add_middleware
    def short_circuit(call_next: CallNext) -> CallNext:
        def handler(request: Request) -> Response | None:
            if request.headers.get("x-block"):
                return TextResponse("blocked", 403)
            return call_next(request)

        return handler

    with serving(app) as srv:
        r = get(srv, "/")
        assert r.headers["X-Seen"] == "inner, outer"
        assert calls == ["outer>", "inner>", "<inner", "<outer"]
        r = get(srv, "/nope")  # middleware sees the 404 too
        assert r.status_code == 404 and r.headers["X-Seen"] == "inner, outer"
        r = get(srv, "/", headers={"X-Block": "1"})
        assert (r.status_code, r.text) == (403, "blocked")
        with pytest.raises(ConfigError):
            app.add_middleware(tag("late"))


# -- mounts -----------------------------------------------------------------------------------
def test_mounted_app_and_handler() -> None:
    app = hello_app()
    api = App()
    seen: list[str] = []

    @api.get("/items/{name}", name="item")
    def item(request: Request) -> dict[str, Any]:
        return {
            "name": request.params["name"],
            "root": request.root_path,
            "self": api.url_for("item", name="z"),
        }

    @api.exception_handler(404)
    def api_404(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"error": "no such thing"}, 404)

    @app.add_middleware
    def outer(call_next: CallNext) -> CallNext:
        def handler(request: Request) -> Response | None:
            seen.append("app")
            return call_next(request)

        return handler

    @api.add_middleware
    def inner(call_next: CallNext) -> CallNext:
        def handler(request: Request) -> Response | None:
            seen.append("api")
            return call_next(request)

        return handler

    def raw(request: Request) -> str:
        return f"{request.method} {request.path[len(request.root_path) :]!r}"

    app.mount("/api", api, name="api")
    app.mount("/raw", raw, name="raw")
    assert app.url_for("api:item", name="a b") == "/api/items/a%20b"
    assert app.url_for("raw", path="x/y") == "/raw/x/y"
    assert api.url_for("user", id=1) == "/users/1"  # a name only the parent knows
    with pytest.raises(ConfigError):
        App().mount("/again", api)
    with pytest.raises(ConfigError):
        api.mount("/loop", app)
    with serving(app) as srv:
        r = get(srv, "/api/items/thing")
        assert r.json() == {"name": "thing", "root": "/api", "self": "/api/items/z"}
        assert seen == ["app", "api"]
        r = get(srv, "/api/nothing")
        assert r.status_code == 404 and r.json() == {"error": "no such thing"}
        assert get(srv, "/nothing").text == "Not Found"  # the parent's own 404
        assert get(srv, "/api/items/x", "POST").headers["Allow"] == "GET, HEAD, OPTIONS"
        assert get(srv, "/raw/a%20b/c", "PUT").text == "PUT '/a b/c'"
        assert get(srv, "/raw").text == "GET ''"


# -- responses -------------------------------------------------------------------------------
def test_redirects_cookies_and_request_cookies() -> None:
    app = hello_app()

    @app.get("/go")
    def go(request: Request) -> Response:
        return RedirectResponse(app.url_for("user", id=7), 303)

    @app.get("/login")
    def login(request: Request) -> Response:
        response = TextResponse("in")
        response.set_cookie("sid", "abc 123", max_age=60, httponly=True, secure=True)
        response.delete_cookie("old")
        return response

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, str]:
        return cookies(request)

    with pytest.raises(ConfigError):
        RedirectResponse("/x", 200)
    with serving(app) as srv:
        r = get(srv, "/go")
        assert r.status_code == 303 and r.headers["Location"] == "/users/7"
        r = get(srv, "/login")
        set_cookie = r.raw.headers.getlist("Set-Cookie")
        assert set_cookie[0].startswith('sid="abc 123"; HttpOnly; Max-Age=60; Path=/; SameSite=Lax')
        assert "Secure" in set_cookie[0]
        assert set_cookie[1].startswith('old=""; expires=') and "Max-Age=0" in set_cookie[1]
        r = get(srv, "/whoami", headers={"Cookie": 'a=1; b="x\\"y"; broken; c = 3'})
        assert r.json() == {"a": "1", "b": 'x"y', "": "broken", "c": "3"}


def test_file_response(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_bytes(b"<p>file</p>")
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 1000)
    app = App()
    app.add_route("/page", lambda r: FileResponse(tmp_path / "page.html"))
    app.add_route("/data", lambda r: FileResponse(tmp_path / "data.bin", filename="d é.bin"))
    app.add_route("/missing", lambda r: FileResponse(tmp_path / "nope.txt"))
    app.add_route("/dir", lambda r: FileResponse(tmp_path))
    with serving(app) as srv:
        r = get(srv, "/page")
        assert r.content == b"<p>file</p>"
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        r = get(srv, "/data")
        assert r.content == bytes(range(256)) * 1000
        assert r.headers["Content-Disposition"] == "attachment; filename*=utf-8''d%20%C3%A9.bin"
        r = get(srv, "/page", "HEAD")
        assert r.content == b"" and r.headers["Content-Length"] == "11"
        assert get(srv, "/missing").status_code == 404
        assert get(srv, "/dir").status_code == 404


def test_stream_response_chunks_and_back_pressure() -> None:
    app = App()
    produced: list[int] = []
    closed: list[bool] = []
    piece = b"x" * 65536

    def pieces(n: int) -> Iterator[bytes]:
        try:
            for i in range(n):
                produced.append(i)
                yield piece
        finally:
            closed.append(True)

    @app.get("/small")
    def small(request: Request) -> Response:
        return StreamResponse((f"line {i}\n" for i in range(3)), content_type="text/plain")

    @app.get("/big")
    def big(request: Request) -> Response:
        return StreamResponse(pieces(400))

    with serving(app) as srv:
        r = get(srv, "/small")
        assert r.text == "line 0\nline 1\nline 2\n"
        assert r.headers["Transfer-Encoding"] == "chunked"
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(1000)
            threading.Event().wait(0.3)  # the client reads nothing for a while
            # what the kernel's socket buffers hold (a few MiB on loopback), no more
            assert len(produced) < 150, "the generator ran ahead of the client"
            received = 0
            while True:  # then the whole body arrives
                data = sock.recv(1 << 20)
                received += len(data)
                if not data or data.endswith(b"0\r\n\r\n"):
                    break
        assert len(produced) == 400 and closed == [True]
        assert received > 400 * 65536
        closed.clear()
        r = get(srv, "/big", "HEAD")
        assert r.status_code == 200 and r.content == b""
        assert closed == [] and len(produced) == 400  # HEAD never started the generator


def test_stream_error_mid_body_drops_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    app = hello_app()

    def failing() -> Iterator[bytes]:
        yield b"first"
        raise RuntimeError("broken generator")

    app.add_route("/fail", lambda r: StreamResponse(failing()))
    with caplog.at_level(logging.CRITICAL), serving(app) as srv:
        data = raw_exchange(srv.port, b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 200")
        assert b"first" in data and not data.endswith(b"0\r\n\r\n")
        assert get(srv, "/").status_code == 200


def test_templates(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(
        "<h1>{{ title }}</h1><a href='{{ url_for('user', id=3) }}'>u</a>"
    )
    app = App(templates=tmp_path)

    @app.get("/users/{id:int}")
    def user(request: Request) -> str:
        return "u"

    @app.get("/a")
    def a(request: Request) -> Template:
        return Template("page.html", {"title": "<script>"}, status=201)

    @app.get("/b")
    def b(request: Request) -> Response:
        return app.render("page.html", title="B & B")

    with serving(app) as srv:
        r = get(srv, "/a")
        assert r.status_code == 201
        assert r.text == "<h1>&lt;script&gt;</h1><a href='/users/3'>u</a>"
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert get(srv, "/b").text.startswith("<h1>B &amp; B</h1>")
    with pytest.raises(ConfigError):
        App(templates=tmp_path / "nope")
    with pytest.raises(ConfigError):
        App().render("page.html")


# -- request bodies ----------------------------------------------------------------------------
def test_forms_json_and_their_errors() -> None:
    app = App()

    @app.post("/form")
    def post_form(request: Request) -> dict[str, Any]:
        data = form(request)
        upload = data.file("f")
        return {
            "fields": data.items_all(),
            "file": None if upload is None else [upload.filename, upload.size, upload.content_type],
        }

    @app.post("/json")
    def post_json(request: Request) -> dict[str, Any]:
        return {"got": json_body(request), "again": json_body(request) is json_body(request)}

    with serving(app) as srv:
        r = get(srv, "/form", "POST", data={"a": "1 2", "b": "é"})
        assert r.json() == {"fields": [["a", "1 2"], ["b", "é"]], "file": None}
        r = get(
            srv,
            "/form",
            "POST",
            data={"a": "x"},
            files={"f": ("n.bin", b"\x00\r\n--\xff", "image/png")},
        )
        assert r.json() == {"fields": [["a", "x"]], "file": ["n.bin", 6, "image/png"]}
        r = get(srv, "/form", "POST", data="a=1", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        r = get(srv, "/form", "POST", data=b"junk", headers={"Content-Type": "multipart/form-data"})
        assert r.status_code == 400
        r = get(srv, "/json", "POST", json={"x": [1, 2]})
        assert r.json() == {"got": {"x": [1, 2]}, "again": True}
        r = get(srv, "/json", "POST", data=b"{nope", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "invalid JSON" in r.text
        r = get(srv, "/json", "POST", data=b"[]")
        assert r.status_code == 415
        r = get(srv, "/json", "POST", data=b"[]", headers={"Content-Type": "application/ld+json"})
        assert r.json()["got"] == []


def test_streamed_body_and_per_route_limits(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.post("/upload", stream=True, max_body_size=None)
    def upload(request: Request) -> None:
        sizes: list[int] = []

        def on_end(req: Request) -> None:
            respond(req, {"bytes": sum(sizes), "pieces": len(sizes) > 1})

        request.read_body(lambda req, data: sizes.append(len(data)), on_end)

    @app.post("/small", max_body_size=10)
    def small(request: Request) -> str:
        return request.body.decode()

    @app.post("/wrong", stream=True)
    def wrong(request: Request) -> Any:
        return form(request)

    config = ServerConfig(max_body_size=1000)
    with serving(app, config=config) as srv:
        body = b"z" * 3_000_000
        r = get(srv, "/upload", "POST", data=iter([body[:1000000], body[1000000:]]))
        assert r.json() == {"bytes": 3_000_000, "pieces": True}
        assert get(srv, "/small", "POST", data=b"0123456789").text == "0123456789"
        assert get(srv, "/small", "POST", data=b"0123456789X").status_code == 413
        with caplog.at_level(logging.CRITICAL, logger="evweb.http.app"):
            assert get(srv, "/wrong", "POST", data=b"a=b").status_code == 500  # a bug: logged


# -- hooks and configuration -------------------------------------------------------------------
def test_startup_and_shutdown_hooks() -> None:
    app, api = App(), App()
    order: list[str] = []
    app.on_startup(lambda: order.append("app up"))
    api.on_startup(lambda: order.append("api up"))
    app.on_shutdown(lambda: order.append("app down"))

    @api.on_shutdown
    def fails() -> None:
        order.append("api down")
        raise RuntimeError("logged, not raised")

    app.mount("/api", api)
    app.startup()
    logging.getLogger("evweb.http.app").disabled = True
    try:
        app.shutdown()
    finally:
        logging.getLogger("evweb.http.app").disabled = False
    assert order == ["app up", "api up", "api down", "app down"]


def test_configuration_errors() -> None:
    app = App()
    app.add_route("/a", lambda r: "a", name="a")
    with pytest.raises(ConfigError):
        app.add_route("/b", lambda r: "b", name="a")
    with pytest.raises(ConfigError):
        app.get("/bad/{x:nope}")(lambda r: "x")
    with pytest.raises(ConfigError):
        app.mount("/x", "not a handler")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        app.exception_handler("nope")(lambda r, e: None)  # type: ignore[arg-type]
    sub = App()
    app.mount("/sub", sub)
    base_server = HTTPServer.__new__(HTTPServer)
    with pytest.raises(ConfigError):
        sub.attach(base_server)
    with pytest.raises(ConfigError):
        app.url_for("nobody")
    with pytest.raises(HTTPException) as info:
        raise HTTPException(404, "gone")
    assert info.value.status == 404 and str(info.value) == "404: gone"
    with pytest.raises(ConfigError):
        HTTPException(42)


def test_default_names_are_the_function_names() -> None:
    app = App()

    @app.get("/")
    @app.get("/index.html")
    def index(request: Request) -> str:
        return "i"

    assert app.url_for("index") == "/index.html"  # the first registration took the name


def test_set_cb_callbacks_still_come_first() -> None:
    app = hello_app()

    def setup(server: HTTPServer) -> None:
        app.attach(server)
        server.set_cb("/", lambda req: req.send_reply(200, None, b"low-level"))

    with live_server(setup) as srv, socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.settimeout(5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        _, body = read_response(sock)
        assert body == b"low-level"
        sock.sendall(b"GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        _, body = read_response(sock)
        assert json.loads(body) == {"id": 1, "q": None}
