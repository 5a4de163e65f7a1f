"""``evweb serve`` and ``evweb static`` as subprocesses: the URL, requests, a graceful exit."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

import evweb
from tests.http.live import read_response

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 15.0
STOP_TIMEOUT = 20.0

MODULE = '''
import os

def handler(req):
    req.response_headers["Content-Type"] = "text/plain"
    req.send_reply(200, None, f"{req.path} from {os.getpid()}")

def factory():
    return handler

class App:
    """Stands in for evweb's App: attach(server), startup(), shutdown()."""

    def __init__(self):
        self.server = None

    def attach(self, server):
        self.server = server
        server.set_cb("/slow", self.slow)
        server.set_gencb(handler)

    def startup(self):
        print("startup hook", flush=True)

    def shutdown(self):
        print("shutdown hook", flush=True)

    def slow(self, req):
        self.server.base.timer(lambda *_: req.send_reply(200, None, b"slow done")).add(0.5)

app = App()
number = 42

def two(a, b):
    return None

def bad_factory():
    return 42
'''


def evweb_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "evweb", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "webmod.py").write_text(MODULE)
    return tmp_path


def read_line(proc: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> str:
    """The next stdout line of ``proc`` within ``timeout`` (raw fd reads, no buffering)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    got = b""
    deadline = time.monotonic() + timeout
    while not got.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no line from {proc.args} within {timeout} s: {got!r}")
        byte = os.read(fd, 1)
        if not byte:
            raise AssertionError(f"{proc.args} closed stdout: {got!r}, status {proc.poll()}")
        got += byte
    return got.decode()


class Running:
    """A started ``evweb`` process and the URL it printed."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.before: list[str] = []  # what the target printed first (startup hooks)
        line = read_line(proc)
        while not line.startswith("Serving on ") and len(self.before) < 10:
            self.before.append(line)
            line = read_line(proc)
        match = re.fullmatch(r"Serving on (\S+)\n", line)
        assert match, line
        self.url = match[1]

    def stop(self, signo: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(signo)
        out, err = self.proc.communicate(timeout=STOP_TIMEOUT)
        return self.proc.returncode, out.decode(), err.decode()


@contextmanager
def running(*args: str, cwd: Path) -> Iterator[Running]:
    proc = subprocess.Popen(
        evweb_cmd(*args), cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        yield Running(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        evweb_cmd(*args), cwd=cwd, env=env(), capture_output=True, text=True, timeout=30
    )


# -- the existing commands still work -----------------------------------------------------------


def test_version_and_info(tmp_path: Path) -> None:
    out = run("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"evweb {evweb.__version__}"
    out = run("info", cwd=tmp_path)
    assert out.returncode == 0 and "chosen: " in out.stdout
    assert run(cwd=tmp_path).returncode == 2


# -- evweb serve --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["webmod:handler", "webmod:factory", "webmod:App"])
def test_serve_a_handler_or_factory(project: Path, target: str) -> None:
    with running("serve", target, "--port", "0", cwd=project) as srv:
        assert srv.url.startswith("http://127.0.0.1:") and srv.url.endswith("/")
        r = requests.get(srv.url + "hi")
        assert r.status_code == 200 and r.text.startswith("/hi from ")
        status, _, err = srv.stop()
    assert status == 0, err
    assert '"GET /hi HTTP/1.1" 200' in err  # the access log, on stderr


def test_serve_an_app_runs_hooks_and_finishes_requests_in_flight(project: Path) -> None:
    with running("serve", "webmod:app", "--port", "0", cwd=project) as srv:
        with socket.create_connection(("127.0.0.1", int(srv.url.rsplit(":", 1)[1][:-1]))) as c:
            c.settimeout(10)
            c.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.1)  # the request is in the handler now
            srv.proc.send_signal(signal.SIGTERM)
            head, body = read_response(c)
        assert head.startswith(b"HTTP/1.1 200") and body == b"slow done"
        out, err = srv.proc.communicate(timeout=STOP_TIMEOUT)
    assert srv.proc.returncode == 0, err
    assert srv.before == ["startup hook\n"]
    assert out.decode().splitlines() == ["shutdown hook"]
    assert "shutting down gracefully" in err.decode()


def test_sigint_is_graceful(project: Path) -> None:
    with running("serve", "webmod:handler", "--port", "0", cwd=project) as srv:
        assert requests.get(srv.url).status_code == 200
        status, _, err = srv.stop(signal.SIGINT)
    assert status == 0, err


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("webmod", "expected MODULE:APP"),
        ("nosuchmodule:app", "no module named 'nosuchmodule'"),
        ("webmod:missing", "has no attribute 'missing'"),
        ("webmod:number", "is of type int, not an App"),
        ("webmod:two", "takes 2 arguments"),
        ("webmod:bad_factory", "returned a value of type int"),
    ],
)
def test_wrong_targets_exit_2(project: Path, target: str, message: str) -> None:
    out = run("serve", target, "--port", "0", cwd=project)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_bad_options_exit_2(project: Path) -> None:
    assert run("serve", "webmod:app", "--workers", "0", cwd=project).returncode == 2
    assert run("serve", "webmod:app", "--keyfile", "k.pem", cwd=project).returncode == 2
    assert run("serve", "webmod:app", "--timeout", "-1", cwd=project).returncode == 2
    out = run("serve", "webmod:app", "--certfile", "missing.pem", cwd=project)
    assert out.returncode == 2 and "cannot load the certificate" in out.stderr


def test_port_in_use_exits_1(project: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        out = run("serve", "webmod:handler", "--port", port, cwd=project)
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr


def test_no_access_log(project: Path) -> None:
    with running("serve", "webmod:handler", "--port", "0", "--no-access-log", cwd=project) as srv:
        assert requests.get(srv.url + "quiet").status_code == 200
        status, _, err = srv.stop()
    assert status == 0
    assert "/quiet" not in err


def test_timeout_closes_idle_keep_alive_connections(project: Path) -> None:
    with running("serve", "webmod:handler", "--port", "0", "--timeout", "0.5", cwd=project) as srv:
        port = int(srv.url.rsplit(":", 1)[1][:-1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            read_response(c)
            start = time.monotonic()
            assert c.recv(100) == b""  # closed by the server, idle
            assert 0.3 < time.monotonic() - start < 5
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(b"GET / HTTP/1.1\r\n")  # a head that never ends
            start = time.monotonic()
            reply = c.recv(1000)
            assert reply.startswith(b"HTTP/1.1 408") or reply == b""
            assert time.monotonic() - start < 5
        status, _, err = srv.stop()
    assert status == 0, err


def test_unix_socket(project: Path) -> None:
    path = project / "web.sock"
    with running("serve", "webmod:handler", "--unix", str(path), cwd=project) as srv:
        assert srv.url == "http+unix://" + str(path).replace("/", "%2F") + "/"
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(10)
            c.connect(str(path))
            c.sendall(b"GET /unix HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(c)[1].startswith(b"/unix from ")
        status, _, err = srv.stop()
    assert status == 0, err
    assert not path.exists()


def test_https(project: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(project / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(project / "key.pem"))
    ca.cert_pem.write_to_path(str(project / "ca.pem"))
    args = ("--certfile", "cert.pem", "--keyfile", "key.pem")
    with running("serve", "webmod:handler", "--port", "0", *args, cwd=project) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        r = requests.get(srv.url + "tls", verify=str(project / "ca.pem"))
        assert r.text.startswith("/tls from ")
        status, _, err = srv.stop()
    assert status == 0, err


# -- workers ------------------------------------------------------------------------------------


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("needs /proc/PID/task/PID/children (Linux) to find the workers")
    return {int(p) for p in path.read_text().split()}


def wait_for(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_workers_share_the_port_and_are_restarted(project: Path) -> None:
    with running("serve", "webmod:handler", "--port", "0", "--workers", "2", cwd=project) as srv:
        workers = children(srv.proc.pid)
        assert len(workers) == 2
        pids = set()
        for _ in range(40):  # new connections spread over the workers
            pids.add(int(requests.get(srv.url).text.rsplit(" ", 1)[1]))
        assert pids <= workers and pids
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in children(srv.proc.pid) and len(children(srv.proc.pid)) == 2)
        assert requests.get(srv.url).status_code == 200
        now = children(srv.proc.pid)
        status, _, err = srv.stop()
    assert status == 0, err
    assert "was killed by SIGKILL: restarting in 0.1 s" in err
    for pid in now:  # every worker is gone too
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


def test_workers_share_a_unix_socket(project: Path) -> None:
    path = project / "w.sock"
    args = ("serve", "webmod:handler", "--unix", str(path), "--workers", "2")
    with running(*args, cwd=project) as srv:
        assert len(children(srv.proc.pid)) == 2
        for _ in range(4):
            with socket.socket(socket.AF_UNIX) as c:
                c.settimeout(10)
                c.connect(str(path))
                c.sendall(b"GET /w HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_response(c)[1].startswith(b"/w from ")
        status, _, err = srv.stop()
    assert status == 0, err
    assert not path.exists()


def test_workers_stop_gracefully_on_sigint(project: Path) -> None:
    with running("serve", "webmod:app", "--port", "0", "--workers", "2", cwd=project) as srv:
        assert requests.get(srv.url).status_code == 200
        status, out, err = srv.stop(signal.SIGINT)
    assert status == 0, err
    assert "".join(srv.before).count("startup hook") == 2  # each worker runs the hooks
    assert out.count("shutdown hook") == 2
    assert err.count("SIGINT: shutting down gracefully") == 2


# -- evweb static -------------------------------------------------------------------------------


def test_static(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello static\n")
    (tmp_path / "dir").mkdir()
    with running("static", str(tmp_path), "--port", "0", cwd=tmp_path) as srv:
        r = requests.get(srv.url + "hello.txt")
        assert r.text == "hello static\n"
        assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert 'href="dir/"' in requests.get(srv.url).text
        status, _, err = srv.stop()
    assert status == 0, err


def test_static_without_listing(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with running("static", str(tmp_path), "--port", "0", "--no-listing", cwd=tmp_path) as srv:
        assert requests.get(srv.url + "dir/").status_code == 404
        status, _, _ = srv.stop()
    assert status == 0


def test_static_needs_a_directory(tmp_path: Path) -> None:
    out = run("static", str(tmp_path / "missing"), cwd=tmp_path)
    assert out.returncode == 2
    assert "is not a directory" in out.stderr


def test_help_mentions_the_options(tmp_path: Path) -> None:
    out = run("serve", "--help", cwd=tmp_path)
    for option in ("--workers", "--certfile", "--keyfile", "--no-access-log", "--timeout"):
        assert option in out.stdout
    assert textwrap.dedent(out.stdout)  # readable
