"""Cross-thread use of a thread-safe base.

A thread-safe base (``EventConfig(threadsafe=True)``) owns a :class:`Notifier`
watched by an internal event. Another thread never touches the base's
structures: it queues a closure in a mailbox and wakes the loop, and the
loop thread runs the closure between callbacks. That gives libevent's
guarantees without a lock on the dispatch path: ``delete`` from another
thread returns only once the loop has processed it, so the event's callback
is not running and will not run (unless the event has FINALIZE, which does
not wait); add and activate take effect before the loop polls again.

While no thread is inside ``loop()``, a call from any thread runs at once,
under the lock that ``loop()`` takes to start.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from evweb.errors import EventStateError
from evweb.reactor._schedule import Scheduler
from evweb.reactor.event import Event
from evweb.reactor.notify import Notifier

log = logging.getLogger("evweb.reactor")

Mail = tuple[Callable[[], object], threading.Event | None]


class ThreadBridge(Scheduler):
    """The mailbox through which other threads reach a thread-safe base."""

    _threadsafe: bool
    _running: bool
    _loop_thread: int | None
    _mailbox: deque[Mail]
    _mailbox_lock: threading.RLock
    _notifier: Notifier | None
    _notify_event: Event | None

    def _start_notifier(self) -> None:
        self._notifier = Notifier()
        self._notify_event = self._internal_reader(self._notifier.fileno, self._on_notify)

    def _stop_notifier(self) -> None:
        if self._notify_event is not None:
            self._delete(self._notify_event)
            self._notify_event = None
        if self._notifier is not None:
            self._notifier.close()
            self._notifier = None

    def _on_notify(self, fd: int, what: int, arg: Any) -> None:
        if self._notifier is not None:
            self._notifier.drain()
        self._drain_mailbox()

    def _is_foreign(self) -> bool:
        """True unless called from the thread running this base's loop."""
        return self._loop_thread != threading.get_ident()

    def _post(self, fn: Callable[[], object], wait: bool) -> None:
        """Run ``fn`` on the loop thread; with ``wait``, return once it has run.

        When no loop runs, ``fn`` runs here, holding the lock that ``loop()``
        takes to start, so a loop cannot start half-way through it.
        """
        done = threading.Event() if wait else None
        with self._mailbox_lock:
            if not self._running:
                fn()
                return
            self._mailbox.append((fn, done))
        if self._notifier is not None:
            self._notifier.notify()
        if done is not None:
            done.wait()

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop thread, from any thread; the loop wakes up for it."""
        if self._notifier is None:
            raise EventStateError(
                "this base is not thread-safe: create it with EventConfig(threadsafe=True)"
            )
        with self._mailbox_lock:
            self._mailbox.append((lambda: fn(*args), None))
        self._notifier.notify()

    def _drain_mailbox(self) -> None:
        mailbox = self._mailbox
        while mailbox:
            fn, done = mailbox.popleft()
            try:
                fn()
            except Exception:
                log.exception("cross-thread call %r failed", fn)
            finally:
                if done is not None:
                    done.set()

    def _enter_loop(self) -> None:
        """Mark the loop running on this thread (thread-safe bases only)."""
        with self._mailbox_lock:
            self._running = True
            self._loop_thread = threading.get_ident()

    def _exit_loop(self) -> None:
        """Mark the loop stopped and run what other threads posted meanwhile."""
        with self._mailbox_lock:
            self._running = False
            self._loop_thread = None
        self._drain_mailbox()
