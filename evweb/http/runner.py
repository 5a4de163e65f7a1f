"""Running a server: :func:`serve` an App or a handler, in one process or pre-forked workers.

``serve(app)`` builds an :class:`~evweb.reactor.EventBase` and an
:class:`~evweb.http.server.HTTPServer`, attaches the App (or installs a
plain handler as the generic callback), listens, runs the App's startup
hooks, announces the URL and loops until SIGTERM or SIGINT. The first
signal shuts down gracefully (stop accepting, finish requests in flight,
close idle connections, force after ``shutdown_timeout``), then the
shutdown hooks run and :func:`serve` returns 0; a second signal closes
every connection at once.

Why ``workers > 1`` is shaped this way:

* **Each worker binds its own socket with SO_REUSEPORT** (TCP): the kernel
  spreads new connections evenly over the workers' accept queues, where
  one shared socket wakes every worker for each connection and lets the
  busiest grab batches of them. The supervisor binds the address first
  (SO_REUSEPORT too, but it never listens, so it gets no connections):
  a taken port fails at once with one clear error, port 0 becomes a real
  port every worker then binds, and the port stays reserved while a worker
  restarts. Unix sockets have no SO_REUSEPORT: the supervisor creates the
  listening socket once and the workers inherit and share it.
* **The supervisor has no event loop.** A forked epoll loop shares its
  epoll instance with the child, so a child closing "its" copy would
  unregister the parent's fds. The supervisor waits in ``select`` on a
  pipe that signals write to (``signal.set_wakeup_fd``) and on the pipe
  where workers report that they are ready; each worker builds its own
  loop after the fork.
* **Workers run in their own process group**, so a Ctrl-C at the terminal
  reaches only the supervisor, which forwards it: each worker sees one
  signal per signal the supervisor got (a second one still forces). A
  worker whose supervisor vanished (checked each second) stops gracefully.
* **Restarts back off.** A worker that dies unexpectedly is restarted after
  0.1 s, doubled for each further death of a worker that lived under 10 s
  (capped at 10 s), so a crash loop does not spin. A worker that dies before
  the first announcement stops everything with status 1: a boot failure
  would only repeat.
* **Stopping**: the supervisor forwards SIGTERM/SIGINT, waits up to
  ``shutdown_timeout + 5`` seconds, then SIGKILLs stragglers (status 1).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
import socket
import ssl
import stat
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any
from urllib.parse import quote

from evweb.http.config import ServerConfig
from evweb.http.server import HTTPServer
from evweb.reactor import Event, EventBase

__all__ = ["run_until_signal", "serve", "setup_logging", "url_for_address"]

log = logging.getLogger("evweb.http.runner")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
KILL_GRACE = 5.0
"""Seconds a worker gets beyond ``shutdown_timeout`` before SIGKILL."""
BACKOFF_FIRST, BACKOFF_MAX, HEALTHY_AFTER = 0.1, 10.0, 10.0
"""Restart delays (seconds) and the lifetime after which a death counts as a first one."""


def serve(
    target: object,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    unix: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    config: ServerConfig | None = None,
    workers: int = 1,
    access_log: bool = True,
    ready: Callable[[str], object] | None = None,
    shutdown_timeout: float = 10.0,
    backlog: int = 1024,
) -> int:
    """Serve ``target`` (an App, or a ``handler(request)``) until SIGTERM/SIGINT; the exit status.

    ``unix`` (a socket path) replaces ``host``/``port``. ``ready(url)`` is
    called once the server listens (default: print ``Serving on URL``).
    ``access_log`` logs each request on ``evweb.http.access`` (to stderr
    unless logging is configured). OSError when the address cannot be bound.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if config is None:  # an App may carry its own (App(config=...))
        config = getattr(target, "config", None)
        if not isinstance(config, ServerConfig):
            config = ServerConfig()
    config = config.replace(access_log=access_log)
    if access_log:
        _ensure_access_handler()
    plan = _Plan(_Target(target), host, port, unix, ssl_context, config, shutdown_timeout, backlog)
    announce = ready or _print_url
    if workers == 1:
        return _Worker(plan).run(announce)
    return _Supervisor(plan, workers, announce).run()


def run_until_signal(
    server: HTTPServer,
    shutdown_timeout: float,
    *,
    ready: Callable[[], object] | None = None,
    on_signal: Callable[[int], object] | None = None,
) -> None:
    """Loop ``server.base`` until SIGTERM/SIGINT shuts ``server`` down gracefully.

    For programs that build their HTTPServer themselves (:func:`serve` does
    this and more). ``ready()`` runs once the signals are caught, just
    before the loop; ``on_signal(signo)`` before each shutdown. Closing the
    server and the base is left to the caller.
    """
    base = server.base

    def stop(signo: int, what: int, arg: Any) -> None:
        if on_signal is not None:
            on_signal(signo)
        server.shutdown(shutdown_timeout, on_done=base.loopexit)

    events = [base.signal(signo, stop) for signo in STOP_SIGNALS]
    for ev in events:
        ev.add()
    try:
        if ready is not None:
            ready()
        base.dispatch()
    finally:
        for ev in events:
            ev.delete()


def url_for_address(address: Any, *, tls: bool = False) -> str:
    """The URL clients use for a bound address: ``http://host:port/`` or ``http+unix://%2Fpath/``."""
    scheme = "https" if tls else "http"
    if isinstance(address, str):
        return f"{scheme}+unix://{quote(address, safe='')}/"
    host, port = address[0], address[1]
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr as a command-line server does: access lines as is, others with the pid."""
    access = logging.getLogger("evweb.http.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    root = logging.getLogger("evweb")
    if not any(not isinstance(h, logging.NullHandler) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("evweb[%(process)d] %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
    root.setLevel(level)


def _ensure_access_handler() -> None:
    access = logging.getLogger("evweb.http.access")
    if not access.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
    if access.getEffectiveLevel() > logging.INFO:
        access.setLevel(logging.INFO)


def _print_url(url: str) -> None:
    print(f"Serving on {url}", flush=True)


# -- what to serve and where ---------------------------------------------------------------


class _Target:
    """An App (anything with ``attach(server)``) or a plain handler, with the App's hooks."""

    def __init__(self, target: object) -> None:
        attach = getattr(target, "attach", None)
        if callable(attach):
            self.app: Any = target
        elif callable(target):
            self.app = None
        else:
            raise TypeError(
                f"cannot serve {target!r}: expected an App (with attach()) or a handler(request)"
            )
        self.target = target

    def install(self, server: HTTPServer) -> None:
        if self.app is not None:
            self.app.attach(server)
        else:
            server.set_gencb(self.target)  # type: ignore[arg-type]

    def hook(self, name: str) -> None:
        method = getattr(self.app, name, None) if self.app is not None else None
        if callable(method):
            method()


@dataclass(frozen=True)
class _Plan:
    target: _Target
    host: str
    port: int
    unix: str | None
    ssl_context: ssl.SSLContext | None
    config: ServerConfig
    shutdown_timeout: float
    backlog: int


class _Worker:
    """One process's server: a loop, an HTTPServer, the stop signals (and a parent to watch)."""

    def __init__(
        self,
        plan: _Plan,
        *,
        shared: socket.socket | None = None,
        port: int | None = None,
        parent: int | None = None,
    ) -> None:
        self.plan = plan
        self.shared = shared  # a listening socket inherited from the supervisor
        self.port = port  # the port to bind with SO_REUSEPORT (under a supervisor)
        self.parent = parent
        self.signals = 0
        self.unix_inode: int | None = None

    def run(self, announce: Callable[[str], object]) -> int:
        plan = self.plan
        base = EventBase()
        server = HTTPServer(base, plan.config)
        events: list[Event] = []
        try:
            plan.target.install(server)
            url = self._listen(server)
            plan.target.hook("startup")
            for signo in STOP_SIGNALS:
                ev = base.signal(signo, self._on_signal, server)
                ev.add()
                events.append(ev)
            if self.parent is not None:
                watch = base.timer(self._watch_parent, server, persist=True)
                watch.add(1.0)
                events.append(watch)
            announce(url)
            base.dispatch()
            plan.target.hook("shutdown")
            return 0
        finally:
            for ev in events:
                ev.delete()
            server.close()
            base.close()
            self._unlink_unix()

    def _listen(self, server: HTTPServer) -> str:
        plan = self.plan
        if self.shared is not None:
            bound = server.accept_socket(self.shared, ssl_context=plan.ssl_context)
        elif plan.unix is not None:
            sock = unix_listener(plan.unix, plan.backlog)
            self.unix_inode = os.stat(plan.unix).st_ino
            bound = server.accept_socket(sock, ssl_context=plan.ssl_context)
        else:
            reuse = self.port is not None
            port = self.port if self.port is not None else plan.port
            bound = server.bind(
                (plan.host, port),
                ssl_context=plan.ssl_context,
                backlog=plan.backlog,
                reuse_port=reuse,
            )
        address = plan.unix if plan.unix is not None else bound.address
        return url_for_address(address, tls=plan.ssl_context is not None)

    def _on_signal(self, fd: int, what: int, server: Any) -> None:
        self.signals += 1
        self._stop(server, f"signal {signal.Signals(fd).name}")

    def _watch_parent(self, fd: int, what: int, server: Any) -> None:
        if os.getppid() != self.parent:
            self.signals += 1
            self._stop(server, "the supervisor is gone")

    def _stop(self, server: HTTPServer, why: str) -> None:
        base = server.base
        if self.signals == 1:
            log.info("%s: shutting down gracefully", why)
            server.shutdown(self.plan.shutdown_timeout, on_done=base.loopexit)
        else:
            log.info("%s again: closing every connection now", why)
            server.close()
            base.loopexit()

    def _unlink_unix(self) -> None:
        path = self.plan.unix
        if path is None or self.unix_inode is None:
            return
        try:
            if os.stat(path).st_ino == self.unix_inode:
                os.unlink(path)
        except OSError:
            pass


def unix_listener(path: str, backlog: int) -> socket.socket:
    """A listening Unix socket at ``path``; a stale socket file (nobody listening) is replaced."""
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _remove_stale_socket(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, f"{path}: a server is already listening there")


# -- the pre-fork supervisor -----------------------------------------------------------------


class _Slot:
    """One worker position: restarted in place when its process dies."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.pid = 0
        self.started = 0.0
        self.ready = False
        self.failures = 0
        self.restart_at: float | None = None


class _Supervisor:
    """Forks ``workers`` processes, restarts the ones that die, stops them on a signal."""

    def __init__(self, plan: _Plan, workers: int, announce: Callable[[str], object]) -> None:
        self.plan = plan
        self.slots = [_Slot(i) for i in range(workers)]
        self.announce = announce
        self.url = ""
        self.announced = False
        self.pending: list[int] = []
        self.stopping = False
        self.kill_at = 0.0
        self.status = 0
        self.shared: socket.socket | None = None
        self.reserved: socket.socket | None = None
        self.port: int | None = None
        self.pipes: list[int] = []

    def run(self) -> int:
        self._listen()
        wake_r, wake_w = os.pipe()
        ready_r, ready_w = os.pipe()
        self.pipes = [wake_r, wake_w, ready_r, ready_w]
        for fd in self.pipes:
            os.set_blocking(fd, False)
        saved = {signo: signal.signal(signo, self._on_signal) for signo in STOP_SIGNALS}
        saved[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, self._on_signal)
        old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        try:
            for slot in self.slots:
                self._spawn(slot, ready_w)
            while self._step(ready_w):
                self._wait([wake_r, ready_r])
                self._drain(wake_r)
                self._read_ready(ready_r)
            return self.status
        finally:
            self._kill_all()
            signal.set_wakeup_fd(old_wakeup)
            for signo, handler in saved.items():
                signal.signal(signo, handler)
            self._close_all()

    def _listen(self) -> None:
        plan = self.plan
        if plan.unix is not None:
            self.shared = unix_listener(plan.unix, plan.backlog)
            self.url = url_for_address(plan.unix, tls=plan.ssl_context is not None)
            return
        info = socket.getaddrinfo(
            plan.host, plan.port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(info[4])
        except BaseException:
            sock.close()
            raise
        self.reserved = sock
        self.port = sock.getsockname()[1]
        self.url = url_for_address((plan.host, self.port), tls=plan.ssl_context is not None)

    # -- the loop --------------------------------------------------------------------------
    def _step(self, ready_w: int) -> bool:
        """Reap, restart, stop, announce; False once every worker is gone after a stop."""
        self._reap()
        for signo in self.pending:
            self._begin_stop(signo)
        self.pending.clear()
        now = time.monotonic()
        if self.stopping:
            if not any(slot.pid for slot in self.slots):
                return False
            if now >= self.kill_at:
                log.warning("workers still running after the deadline: killing them")
                self.status = 1
                self._kill_all()
                return False
            return True
        for slot in self.slots:
            if slot.restart_at is not None and now >= slot.restart_at:
                self._spawn(slot, ready_w)
        if not self.announced and all(slot.ready for slot in self.slots):
            self.announced = True
            log.info("%d workers ready: %s", len(self.slots), [s.pid for s in self.slots])
            self.announce(self.url)
        return True

    def _wait(self, fds: list[int]) -> None:
        now = time.monotonic()
        deadlines = [s.restart_at for s in self.slots if s.restart_at is not None]
        if self.stopping:
            deadlines.append(self.kill_at)
        timeout = max(0.0, min([now + 1.0, *deadlines]) - now)
        select.select(fds, [], [], timeout)

    def _on_signal(self, signo: int, frame: FrameType | None) -> None:
        if signo != signal.SIGCHLD:
            self.pending.append(signo)

    def _begin_stop(self, signo: int) -> None:
        if not self.stopping:
            log.info("signal %s: stopping %d workers", signal.Signals(signo).name, len(self.slots))
            self.stopping = True
            self.kill_at = time.monotonic() + self.plan.shutdown_timeout + KILL_GRACE
        for slot in self.slots:
            slot.restart_at = None
            if slot.pid:
                _kill(slot.pid, signo)

    # -- workers ---------------------------------------------------------------------------
    def _spawn(self, slot: _Slot, ready_w: int) -> None:
        slot.restart_at = None
        slot.ready = False
        slot.started = time.monotonic()
        sys.stdout.flush()  # or the child would write the parent's buffered output again
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured by the CLI tests
            self._child(ready_w)
        slot.pid = pid
        try:
            os.setpgid(pid, pid)  # also done by the child: whichever runs first wins the race
        except OSError:
            pass
        log.info("worker %d started (pid %d)", slot.index, pid)

    def _child(self, ready_w: int) -> None:  # pragma: no cover - runs in the child
        status = 1
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            for signo in (*STOP_SIGNALS, signal.SIGCHLD):
                signal.signal(signo, signal.SIG_DFL)
            for fd in self.pipes:
                if fd != ready_w:
                    os.close(fd)
            if self.reserved is not None:
                self.reserved.close()
            worker = _Worker(self.plan, shared=self.shared, port=self.port, parent=os.getppid())
            if self.shared is not None:
                worker.unix_inode = None  # the supervisor owns the socket file

            def ready(url: str) -> None:
                os.write(ready_w, b"%d\n" % os.getpid())
                os.close(ready_w)

            status = worker.run(ready)
        except BaseException:
            print(f"evweb: worker {os.getpid()} failed:", file=sys.stderr)
            traceback.print_exc()  # not only logged: nobody may have configured logging
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)

    def _read_ready(self, ready_r: int) -> None:
        try:
            data = os.read(ready_r, 4096)
        except BlockingIOError:
            return
        pids = {int(word) for word in data.split()}
        for slot in self.slots:
            if slot.pid in pids:
                slot.ready = True

    def _reap(self) -> None:
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for slot in self.slots:
                if slot.pid == pid:
                    self._died(slot, wait_status)

    def _died(self, slot: _Slot, wait_status: int) -> None:
        slot.pid = 0
        how = _describe(wait_status)
        if self.stopping:
            log.info("worker %d %s", slot.index, how)
            return
        if not slot.ready and not self.announced:
            log.error("worker %d %s before it was ready: stopping", slot.index, how)
            self.status = 1
            self._begin_stop(signal.SIGTERM)
            return
        now = time.monotonic()
        young = now - slot.started < HEALTHY_AFTER
        slot.failures = slot.failures + 1 if young else 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (slot.failures - 1))
        slot.restart_at = now + delay
        log.warning("worker %d %s: restarting in %.1f s", slot.index, how, delay)

    def _kill_all(self) -> None:
        for slot in self.slots:
            if slot.pid:
                _kill(slot.pid, signal.SIGKILL)
                try:
                    os.waitpid(slot.pid, 0)
                except ChildProcessError:
                    pass
                slot.pid = 0

    def _close_all(self) -> None:
        for fd in self.pipes:
            try:
                os.close(fd)
            except OSError:
                pass
        self.pipes = []
        if self.reserved is not None:
            self.reserved.close()
        if self.shared is not None:
            self.shared.close()
            if self.plan.unix is not None:
                try:
                    os.unlink(self.plan.unix)
                except OSError:
                    pass

    @staticmethod
    def _drain(fd: int) -> None:
        try:
            while os.read(fd, 4096):
                pass
        except BlockingIOError:
            pass


def _kill(pid: int, signo: int) -> None:
    try:
        os.kill(pid, signo)
    except ProcessLookupError:
        pass


def _describe(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"was killed by {signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(wait_status)}"
