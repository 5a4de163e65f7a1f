"""Signal delivery on the loop.

Python runs signal handlers in the main thread between bytecodes, which is
no place for user callbacks. evweb's handler only counts the signal and
writes a byte to the owning base's socketpair; the base's internal read
event then activates the signal events with the count, so callbacks run on
the loop like any other event, and a base looping in another thread wakes
up too.

Python runs its handlers only when the main thread runs bytecode, so a
signal that the kernel hands to another thread would wait until something
else woke a main thread blocked in poll. libevent's C handler writes to the
socketpair from whichever thread took the signal; the Python equivalent is
``signal.set_wakeup_fd``, which evweb points at the owning base's socketpair
whenever no one else (asyncio, say) holds it.

As in libevent, one base receives signals at a time: the one that most
recently added a signal event or started looping. The handler a signal had
before evweb took it is restored when no base has an event for it any more.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from evweb.errors import SignalError

log = logging.getLogger("evweb.reactor")

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

_receivers: list[SignalReceiver] = []  # the last one owns delivery
_saved: dict[int, _Handler] = {}
_users: dict[int, int] = {}
_unrestored: set[int] = set()  # released off the main thread: restore when we can
_wakeup_fd = -1  # the socketpair end evweb gave to signal.set_wakeup_fd, or -1


def _point_wakeup_fd(fd: int) -> None:
    """Make ``fd`` (or nothing, with -1) the C-level wake-up fd, unless another owner holds it."""
    global _wakeup_fd
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.set_wakeup_fd(-1)
    if current not in (-1, _wakeup_fd):
        signal.set_wakeup_fd(current)  # someone else's (an asyncio loop): leave it alone
        return
    if fd >= 0:
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    _wakeup_fd = fd


def _deliver(signo: int, frame: FrameType | None) -> None:
    if _users.get(signo):
        if _receivers:
            _receivers[-1].note(signo)
        return
    # Nobody watches this signal any more, but its old handler could not be
    # put back (the last event went away off the main thread). We run in the
    # main thread now: restore it and let it see this delivery.
    previous = _restore(signo)
    if callable(previous):
        previous(signo, frame)
    elif previous == signal.SIG_DFL:
        signal.raise_signal(signo)


class SignalReceiver:
    """A base's end of signal delivery: a socketpair and per-signal counts."""

    def __init__(self, base: object) -> None:
        self._base = base
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._counts: dict[int, int] = {}
        self.signals: set[int] = set()

    @property
    def fileno(self) -> int:
        """The read end, which the base watches with an internal event."""
        return self._rsock.fileno()

    def note(self, signo: int) -> None:
        """Count ``signo`` and wake the loop (runs inside the Python signal handler)."""
        self._counts[signo] = self._counts.get(signo, 0) + 1
        try:
            self._wsock.send(b"\0")
        except OSError:
            pass  # full: the loop is already woken

    def take_counts(self) -> dict[int, int]:
        """Drain the socket and return the counts gathered since the last call."""
        try:
            while self._rsock.recv(4096):
                pass
        except OSError:
            pass
        counts, self._counts = self._counts, {}
        return counts

    def watch(self, signo: int) -> None:
        """Route ``signo`` to this base, installing evweb's handler if needed."""
        if signo in self.signals:
            return
        _install(signo)
        self.signals.add(signo)
        self._claim()

    def unwatch(self, signo: int) -> None:
        """Stop routing ``signo``; restore its old handler when nobody wants it."""
        if signo in self.signals:
            self.signals.discard(signo)
            _release(signo)

    def claim(self) -> None:
        """Make this base the one that receives signals, as libevent does on loop()."""
        if self.signals:
            self._claim()

    def _claim(self) -> None:
        if _receivers and _receivers[-1] is self:
            if _wakeup_fd == -1:
                _point_wakeup_fd(self._wsock.fileno())
            return
        previous = _receivers[-1] if _receivers else None
        if previous is not None and previous.signals:
            log.warning(
                "signal event added to %r while %r has signal events: "
                "only one base receives signals at a time; it is now the newer one",
                self._base,
                previous._base,
            )
        if self in _receivers:
            _receivers.remove(self)
        _receivers.append(self)
        _point_wakeup_fd(self._wsock.fileno())

    def close(self) -> None:
        """Restore handlers, give up ownership, close the socketpair."""
        for signo in list(self.signals):
            self.unwatch(signo)
        retry_restores()
        if self in _receivers:
            _receivers.remove(self)
        if _wakeup_fd == self._wsock.fileno():
            _point_wakeup_fd(_receivers[-1]._wsock.fileno() if _receivers else -1)
        self._rsock.close()
        self._wsock.close()


def check_signal_number(signo: int) -> None:
    """Refuse numbers that are not catchable signals."""
    if not 0 < signo < signal.NSIG:
        raise SignalError(f"invalid signal number {signo}: expected 1..{signal.NSIG - 1}")
    if signo in {getattr(signal, "SIGKILL", -1), getattr(signal, "SIGSTOP", -1)}:
        raise SignalError(f"signal {signo} ({signal.Signals(signo).name}) cannot be caught")


def retry_restores() -> None:
    """Put back handlers whose restore had to wait for the main thread."""
    if threading.current_thread() is threading.main_thread():
        for signo in list(_unrestored):
            if not _users.get(signo):
                _restore(signo)


def _install(signo: int) -> None:
    _unrestored.discard(signo)
    if _users.get(signo, 0) == 0 and signo not in _saved:
        if threading.current_thread() is not threading.main_thread():
            raise SignalError(
                f"cannot watch signal {signo}: signal handlers can only be installed "
                "from the main thread"
            )
        try:
            _saved[signo] = signal.signal(signo, _deliver)
        except (OSError, ValueError) as exc:
            raise SignalError(f"cannot watch signal {signo}: {exc}") from exc
    _users[signo] = _users.get(signo, 0) + 1


def _release(signo: int) -> None:
    users = _users.get(signo, 0) - 1
    if users > 0:
        _users[signo] = users
        return
    _users.pop(signo, None)
    if threading.current_thread() is threading.main_thread():
        _restore(signo)
    else:
        _unrestored.add(signo)  # restored on the next chance in the main thread


def _restore(signo: int) -> _Handler:
    previous = _saved.pop(signo, signal.SIG_DFL)
    _unrestored.discard(signo)
    if previous is None:
        previous = signal.SIG_DFL
    try:
        signal.signal(signo, previous)
    except (OSError, ValueError) as exc:
        log.warning("could not restore the handler of signal %d: %s", signo, exc)
    return previous
