"""Cross-thread wake-up: an eventfd where the OS has one, a socketpair elsewhere."""

from __future__ import annotations

import os
import socket


class Notifier:
    """A readable fd that another thread can make ready with :meth:`notify`."""

    def __init__(self) -> None:
        self._efd = -1
        self._pair: tuple[socket.socket, socket.socket] | None = None
        eventfd = getattr(os, "eventfd", None)
        if eventfd is not None:
            self._efd = eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:
            self._pair = socket.socketpair()
            for sock in self._pair:
                sock.setblocking(False)

    @property
    def fileno(self) -> int:
        """The fd to watch for READ."""
        return self._efd if self._pair is None else self._pair[0].fileno()

    def notify(self) -> None:
        """Make the fd readable (safe from any thread; never blocks)."""
        try:
            if self._pair is None:
                os.eventfd_write(self._efd, 1)
            else:
                self._pair[1].send(b"\0")
        except OSError:
            pass  # counter or buffer full: the loop is already woken

    def drain(self) -> None:
        """Make the fd unreadable again."""
        try:
            if self._pair is None:
                os.eventfd_read(self._efd)
            else:
                while self._pair[0].recv(4096):
                    pass
        except OSError:
            pass

    def close(self) -> None:
        """Close the fd(s)."""
        if self._pair is None:
            if self._efd >= 0:
                os.close(self._efd)
                self._efd = -1
        else:
            for sock in self._pair:
                sock.close()
