"""Resolving host names for connects: the :class:`Resolver` interface and :class:`ThreadResolver`.

A resolver turns ``(host, port, family)`` into a list of ``(family,
sockaddr)`` pairs, or an exception, and hands it to a callback *from the
loop*, never inside ``resolve()`` itself; ``resolve()`` returns a handle
whose ``cancel()`` guarantees the callback will not run.
:func:`evweb.io.connect.connect_hostname` takes any object of this shape,
so the DNS layer can later plug in an asynchronous resolver.

:class:`ThreadResolver` runs ``socket.getaddrinfo`` in a small pool of
worker threads. The base it serves need not be thread-safe: workers never
touch the base. A worker appends its result to a locked queue and makes a
:class:`~evweb.reactor.notify.Notifier` readable; an internal READ event on
that notifier drains the queue on the loop thread. The notifier and its
event exist only while queries are outstanding, so an idle resolver holds
no fd and does not keep ``dispatch()`` from returning. Numeric hosts
(``1.2.3.4``, ``::1``, ``[::1]``) are parsed at once, without a thread, and
delivered on the next loop iteration.

A blocked ``getaddrinfo`` cannot be interrupted: cancelling (or the
resolver's ``timeout``) only stops its result from being delivered; the
worker finishes in the background and its result is dropped.
"""

from __future__ import annotations

import socket
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from evweb.errors import ConfigError, EventStateError
from evweb.io.sockets import is_numeric_host
from evweb.reactor import PERSIST, READ, TIMEOUT, Event, EventBase
from evweb.reactor.notify import Notifier

SockAddr = tuple[Any, ...]
Addresses = list[tuple[int, SockAddr]]
"""What a resolution yields: ``(family, sockaddr)`` pairs, in the order to try them."""
ResolveCallback = Callable[[Addresses | Exception], object]
"""``callback(addresses_or_exception)``; a failed lookup gives a :class:`socket.gaierror`."""

FAMILIES = (socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6)


class ResolveHandle(Protocol):
    """What ``resolve()`` returns."""

    def cancel(self) -> None:
        """Forget the query: its callback will not run (idempotent)."""


class Resolver(Protocol):
    """Anything that can resolve a host for a connect."""

    def resolve(
        self, host: str, port: int, family: int, callback: ResolveCallback
    ) -> ResolveHandle:
        """Start resolving; ``callback`` runs later, from the loop, unless cancelled."""


def numeric_addresses(host: str, port: int, family: int) -> Addresses | None:
    """The addresses of a numeric host (brackets allowed), or None when ``host`` is a name.

    Never blocks (``AI_NUMERICHOST``). A numeric host of the wrong family
    raises the :class:`socket.gaierror` getaddrinfo gives.
    """
    text = _unbracketed(host)
    flags = socket.AI_NUMERICHOST | getattr(socket, "AI_NUMERICSERV", 0)
    try:
        infos = socket.getaddrinfo(text, port, family, socket.SOCK_STREAM, 0, flags)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME and not is_numeric_host(text):
            return None
        raise
    return connect_addresses(infos)


def _unbracketed(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def connect_addresses(infos: list[tuple[Any, ...]]) -> Addresses:
    """``(family, sockaddr)`` from getaddrinfo's answer, duplicates dropped, order kept."""
    seen: set[tuple[int, SockAddr]] = set()
    out: Addresses = []
    for family, _type, _proto, _name, sockaddr in infos:
        key = (int(family), tuple(sockaddr))
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


class _NumericLookup:
    """The handle of a :class:`NumericResolver` answer."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        """The callback will not run."""
        self.cancelled = True


class NumericResolver:
    """Answers numeric hosts (``127.0.0.1``, ``[::1]``) from the loop; a name is EAI_NONAME.

    Connects to an address use it instead of the default resolver, so they
    need no DNS set-up at all (no import, no socket).
    """

    def __init__(self, base: EventBase) -> None:
        self._base = base

    def resolve(
        self, host: str, port: int, family: int, callback: ResolveCallback
    ) -> _NumericLookup:
        """Parse ``host``; ``callback`` gets the addresses (or the gaierror) from the loop."""
        handle = _NumericLookup()
        result: Addresses | Exception
        try:
            found = numeric_addresses(host, port, family)
            result = (
                found
                if found is not None
                else socket.gaierror(socket.EAI_NONAME, f"{host!r} is not a numeric address")
            )
        except socket.gaierror as exc:
            result = exc

        def deliver(fd: int, what: int, arg: Any) -> None:
            if not handle.cancelled:
                handle.cancelled = True
                callback(result)

        self._base.once(-1, TIMEOUT, deliver)
        return handle


class _Query:
    """One ``resolve()`` call; its own handle."""

    __slots__ = ("callback", "done", "future", "resolver", "timer")

    def __init__(self, resolver: ThreadResolver, callback: ResolveCallback) -> None:
        self.resolver = resolver
        self.callback = callback
        self.done = False
        self.future: Future[None] | None = None
        self.timer: Event | None = None

    def cancel(self) -> None:
        """Forget the query: its callback will not run."""
        if not self.done:
            self.resolver._forget(self)


class ThreadResolver:
    """``getaddrinfo`` in ``workers`` threads, results delivered on ``base``'s loop.

    ``timeout`` (seconds) bounds each lookup: past it the callback gets
    ``socket.gaierror(EAI_AGAIN)``. :meth:`close` cancels every query and
    releases the threads and fds.
    """

    def __init__(self, base: EventBase, *, workers: int = 4, timeout: float | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"ThreadResolver needs at least 1 worker, got {workers}")
        self._base = base
        self._workers = workers
        self.timeout = timeout
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # guards _results and _notifier against the workers
        self._results: deque[tuple[_Query, Addresses | Exception]] = deque()
        self._notifier: Notifier | None = None
        self._watch: Event | None = None
        self._live: set[_Query] = set()  # threaded queries whose callback is still due
        self._closed = False

    @property
    def base(self) -> EventBase:
        """The base whose loop runs the callbacks."""
        return self._base

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def pending(self) -> int:
        """Lookups running in threads whose callback is still due."""
        return len(self._live)

    def resolve(
        self, host: str, port: int, family: int, callback: ResolveCallback
    ) -> ResolveHandle:
        """Resolve ``host`` for a TCP connect to ``port``; ``callback`` runs from the loop."""
        if self._closed:
            raise EventStateError("this ThreadResolver is closed")
        if family not in FAMILIES:
            raise ConfigError(f"family must be AF_UNSPEC, AF_INET or AF_INET6, got {family}")
        if is_numeric_host(_unbracketed(host)):  # the next loop iteration, no thread
            return NumericResolver(self._base).resolve(host, port, family, callback)
        query = _Query(self, callback)
        self._start_thread(query, host, port, family)
        return query

    # --- names: a worker thread ------------------------------------------------------

    def _start_thread(self, query: _Query, host: str, port: int, family: int) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="evweb-resolve")
        self._acquire_notifier()
        self._live.add(query)
        query.future = self._pool.submit(self._work, query, host, port, family)
        if self.timeout is not None:
            query.timer = self._base.timer(self._on_timeout, query)
            query.timer.add(self.timeout)

    def _work(self, query: _Query, host: str, port: int, family: int) -> None:
        """Runs in a worker thread: never touches the base."""
        result: Addresses | Exception
        try:
            result = connect_addresses(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        except Exception as exc:  # gaierror, or UnicodeError for a malformed name
            result = exc
        with self._lock:
            if self._notifier is None:
                return  # every query was cancelled meanwhile: nobody waits for this
            self._results.append((query, result))
            self._notifier.notify()

    def _on_ready(self, fd: int, what: int, arg: Any) -> None:
        notifier = self._notifier
        if notifier is None:
            return
        notifier.drain()
        try:
            while True:
                with self._lock:
                    if not self._results:
                        break
                    query, result = self._results.popleft()
                if query in self._live:
                    self._finish(query)
                    query.callback(result)
        finally:
            self._release_if_idle()
            with self._lock:  # a callback raised: what is left waits for the next wake-up
                if self._results and self._notifier is not None:
                    self._notifier.notify()

    def _on_timeout(self, fd: int, what: int, query: _Query) -> None:
        if query in self._live:
            self._finish(query)
            self._release_if_idle()
            timeout = self.timeout
            query.callback(
                socket.gaierror(socket.EAI_AGAIN, f"name resolution timed out after {timeout}s")
            )

    def _finish(self, query: _Query) -> None:
        query.done = True
        self._live.discard(query)
        if query.timer is not None:
            query.timer.delete()
            query.timer = None
        if query.future is not None:
            query.future.cancel()  # only stops a lookup that has not started
            query.future = None

    def _forget(self, query: _Query) -> None:
        was_live = query in self._live
        self._finish(query)
        if was_live:
            self._release_if_idle()

    # --- the notifier: held only while lookups are outstanding -------------------------

    def _acquire_notifier(self) -> None:
        if self._notifier is not None:
            return
        notifier = Notifier()
        with self._lock:
            self._results.clear()  # stale answers to cancelled queries
            self._notifier = notifier
        self._watch = self._base.event(notifier.fileno, READ | PERSIST, self._on_ready)
        self._watch.add()

    def _release_if_idle(self) -> None:
        if self._live or self._notifier is None:
            return
        if self._watch is not None:
            self._watch.delete()
            self._watch = None
        with self._lock:
            notifier, self._notifier = self._notifier, None
            self._results.clear()
        notifier.close()

    def close(self) -> None:
        """Cancel every query, stop the threads (without waiting), release the notifier."""
        if self._closed:
            return
        self._closed = True
        for query in list(self._live):
            self._finish(query)
        self._release_if_idle()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ThreadResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ResolverFactory = Callable[[EventBase], Resolver]
"""``factory(base)``: the resolver connects on ``base`` use when given none."""

_defaults: weakref.WeakKeyDictionary[EventBase, Any] = weakref.WeakKeyDictionary()
_factory: ResolverFactory = ThreadResolver


def set_default_factory(factory: ResolverFactory | None) -> ResolverFactory:
    """Make ``factory`` build the default resolver of bases from now on; return the previous one.

    None restores :class:`ThreadResolver`. ``import evweb`` installs evweb's
    own DNS resolver (see :mod:`evweb.dns.connect`); a program that needs the
    system's name sources (NSS, mDNS) sets ``ThreadResolver`` back. Bases
    that already have a default resolver keep it.
    """
    global _factory
    previous = _factory
    _factory = factory if factory is not None else ThreadResolver
    return previous


def default_resolver(base: EventBase) -> Any:
    """The resolver shared by connects on ``base`` that name none (created on first use).

    It is closed when the base closes.
    """
    resolver = _defaults.get(base)
    if resolver is None or resolver.closed:
        resolver = _defaults[base] = _factory(base)
        base.call_on_close(lambda: _release_default(base))
    return resolver


def _release_default(base: EventBase) -> None:
    resolver = _defaults.pop(base, None)
    if resolver is not None:
        resolver.close()
