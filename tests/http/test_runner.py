"""evweb.http.runner.serve in this process: ready, requests, graceful stop on a signal, hooks."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from evweb.http import HTTPServer, Request
from evweb.http.runner import serve, url_for_address
from tests.http.live import read_response

pytestmark = pytest.mark.needs_main_thread
ROOT = Path(__file__).resolve().parents[2]
WATCHDOG = 20.0  # seconds: a serve() still running then is stopped, so no test can hang


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    """Stop a serve() that did not stop (SIGTERM, then SIGTERM again to force)."""
    done = threading.Event()

    def bark() -> None:
        for _ in range(2):
            if done.wait(WATCHDOG if _ == 0 else 1.0):
                return
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=bark, daemon=True)
    thread.start()
    yield
    done.set()
    thread.join()


def hello(req: Request) -> None:
    req.response_headers["Content-Type"] = "text/plain"
    req.send_reply(200, None, "hello " + req.path)


class FakeApp:
    """What serve() needs of an App: attach(server), startup(), shutdown()."""

    def __init__(self, handler: Callable[[Request], object] = hello) -> None:
        self.handler = handler
        self.events: list[str] = []
        self.server: HTTPServer | None = None

    def attach(self, server: HTTPServer) -> None:
        self.events.append("attach")
        self.server = server
        server.set_gencb(self.handler)

    def startup(self) -> None:
        self.events.append("startup")

    def shutdown(self) -> None:
        self.events.append("shutdown")


def in_background(
    client: Callable[[str], object], signo: int = signal.SIGTERM
) -> tuple[Callable[[str], None], dict[str, Any]]:
    """A ready(url) callback running ``client(url)`` in a thread, then signalling this process."""
    box: dict[str, Any] = {}

    def run(url: str) -> None:
        try:
            box["result"] = client(url)
        except BaseException as exc:
            box["error"] = exc
        finally:
            os.kill(os.getpid(), signo)

    def ready(url: str) -> None:
        box["url"] = url
        thread = threading.Thread(target=run, args=(url,))
        box["thread"] = thread
        thread.start()

    return ready, box


def finish(box: dict[str, Any]) -> Any:
    box["thread"].join(10)
    if "error" in box:
        raise box["error"]
    return box["result"]


def test_serves_a_handler_and_stops_on_sigterm() -> None:
    ready, box = in_background(lambda url: requests.get(url + "x").text)
    assert serve(hello, port=0, ready=ready, access_log=False) == 0
    assert finish(box) == "hello /x"
    assert box["url"].startswith("http://127.0.0.1:") and box["url"].endswith("/")


def test_sigint_is_graceful_too() -> None:
    ready, box = in_background(lambda url: requests.get(url).status_code, signal.SIGINT)
    assert serve(hello, port=0, ready=ready, access_log=False) == 0
    assert finish(box) == 200


def test_app_hooks_run_in_order() -> None:
    app = FakeApp()

    def client(url: str) -> int:
        app.events.append("ready")
        return requests.get(url).status_code

    ready, box = in_background(client)
    assert serve(app, port=0, ready=ready, access_log=False) == 0
    assert finish(box) == 200
    assert app.events == ["attach", "startup", "ready", "shutdown"]


def test_request_in_flight_finishes_during_shutdown() -> None:
    app = FakeApp()

    def slow(req: Request) -> None:
        assert app.server is not None
        os.kill(os.getpid(), signal.SIGTERM)  # the stop begins while this request waits
        app.server.base.timer(lambda *_: req.send_reply(200, None, b"late")).add(0.3)

    app.handler = slow
    box: dict[str, Any] = {}

    def client(url: str) -> None:
        box["reply"] = requests.get(url).content

    def ready(url: str) -> None:
        box["thread"] = threading.Thread(target=client, args=(url,))
        box["thread"].start()

    assert serve(app, port=0, ready=ready, access_log=False) == 0
    box["thread"].join(10)
    assert box["reply"] == b"late"
    assert app.events[-1] == "shutdown"


def test_second_signal_forces_the_stop() -> None:
    def never(req: Request) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)

    box: dict[str, Any] = {}

    def client(url: str) -> None:
        try:
            requests.get(url, timeout=10)
        except requests.ConnectionError as exc:
            box["error"] = exc

    def ready(url: str) -> None:
        box["thread"] = threading.Thread(target=client, args=(url,))
        box["thread"].start()

    start = time.monotonic()
    assert serve(never, port=0, ready=ready, access_log=False, shutdown_timeout=30) == 0
    assert time.monotonic() - start < 10  # not the 30 s of the graceful deadline
    box["thread"].join(10)
    assert "error" in box  # the connection was cut


def test_access_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="evweb.http.access")
    ready, box = in_background(lambda url: requests.get(url + "logged").status_code)
    assert serve(hello, port=0, ready=ready) == 0
    finish(box)
    lines = [r.getMessage() for r in caplog.records if r.name == "evweb.http.access"]
    assert any('"GET /logged HTTP/1.1" 200 13' in line for line in lines), lines


def test_no_access_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="evweb.http.access")
    ready, box = in_background(lambda url: requests.get(url).status_code)
    assert serve(hello, port=0, ready=ready, access_log=False) == 0
    finish(box)
    assert not [r for r in caplog.records if r.name == "evweb.http.access"]


def test_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")

    def client(url: str) -> bytes:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(b"GET /u HTTP/1.1\r\nHost: x\r\n\r\n")
            return read_response(sock)[1]

    ready, box = in_background(client)
    assert serve(hello, unix=path, ready=ready, access_log=False) == 0
    assert finish(box) == b"hello /u"
    assert box["url"] == "http+unix://" + path.replace("/", "%2F") + "/"
    assert not os.path.exists(path)  # removed on the way out


def test_stale_unix_socket_is_replaced_but_not_a_file(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(path)  # a socket file nobody listens on
    ready, box = in_background(lambda url: "ok")
    assert serve(hello, unix=path, ready=ready, access_log=False) == 0
    finish(box)
    regular = tmp_path / "file"
    regular.write_text("keep me")
    with pytest.raises(OSError, match="not a socket"):
        serve(hello, unix=str(regular), ready=lambda url: None)
    assert regular.read_text() == "keep me"


def test_startup_failure_propagates_and_closes_everything() -> None:
    class Broken(FakeApp):
        def startup(self) -> None:
            raise RuntimeError("no database")

    with pytest.raises(RuntimeError, match="no database"):
        serve(Broken(), port=0, ready=lambda url: None)


def test_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            serve(hello, port=taken.getsockname()[1], ready=lambda url: None)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="expected an App"):
        serve(42, port=0)
    with pytest.raises(ValueError, match="workers"):
        serve(hello, workers=0)


def test_url_for_address() -> None:
    assert url_for_address(("127.0.0.1", 80)) == "http://127.0.0.1:80/"
    assert url_for_address(("::1", 8443, 0, 0), tls=True) == "https://[::1]:8443/"
    assert url_for_address("/tmp/a b.sock") == "http+unix://%2Ftmp%2Fa%20b.sock/"


# -- pre-forked workers, driven through a small script ---------------------------------------

SUPERVISED = """
import sys
from evweb.http.runner import serve, setup_logging
setup_logging()

def hello(req):
    req.send_reply(200, None, b"worker")

class BootFails:
    def attach(self, server):
        server.set_gencb(hello)
    def startup(self):
        raise SystemExit(3)

target = BootFails() if sys.argv[1] == "broken" else hello
sys.exit(serve(target, port=0, workers=2, access_log=False, shutdown_timeout=2))
"""


def run_script(tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "supervised.py"
    script.write_text(SUPERVISED)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_supervisor_boot_failure_stops_with_status_1(tmp_path: Path) -> None:
    proc = run_script(tmp_path, "broken")
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, err
    assert out == ""  # never announced
    assert "before it was ready: stopping" in err


def test_supervisor_serves_and_stops(tmp_path: Path) -> None:
    proc = run_script(tmp_path, "ok")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Serving on http://127.0.0.1:"), line
        url = line.split()[-1]
        with requests.Session() as http:
            assert all(http.get(url).content == b"worker" for _ in range(3))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
