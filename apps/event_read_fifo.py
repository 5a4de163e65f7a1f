#!/usr/bin/env python3
"""Port of libevent's sample/event-read-fifo.c through evweb.libevent.

Creates the named pipe ``event.fifo`` and prints whatever is written to it
until the last writer closes it (or SIGINT arrives); try
``echo hello > event.fifo`` from another shell. ``--self-test`` uses a fifo
in a temporary directory and writes two messages to it from a thread.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for evweb

from evweb.libevent import (
    EV_PERSIST,
    EV_READ,
    event_add,
    event_base_dispatch,
    event_base_free,
    event_base_loopbreak,
    event_base_new,
    event_del,
    event_free,
    event_get_base,
    event_new,
    event_self_cbarg,
    evsignal_new,
    libevent_global_shutdown,
)

SELF_TEST_MESSAGES = (b"hello from the writer thread", b"and goodbye")


def perror(what: str, exc: OSError | None = None) -> None:
    """C's perror(): ``what: strerror(errno)`` on stderr."""
    reason = exc.strerror if exc is not None and exc.strerror else "failed"
    print(f"{what}: {reason}", file=sys.stderr, flush=True)


def fifo_read(fd: int, event: int, arg: Any) -> None:
    ev = arg  # event_self_cbarg(): the fifo's own event

    print(f"fifo_read called with fd: {fd}, event: {event}, arg: {id(arg):#x}", file=sys.stderr)
    try:
        buf: bytes | None = os.read(fd, 255 - 1)
    except OSError as exc:
        buf = None
        perror("read", exc)

    if not buf:
        if buf is not None:
            print("Connection closed", file=sys.stderr, flush=True)
        event_del(ev)
        event_base_loopbreak(event_get_base(ev))
        return

    print(f"Read: {buf.decode(errors='replace')}", flush=True)


def signal_cb(fd: int, event: int, arg: Any) -> None:
    """On SIGINT leave the loop, so that event.fifo is cleaned up."""
    base = arg
    event_base_loopbreak(base)


def write_fifo(fifo: str) -> None:
    """Self-test only: the writer on the other end, from a thread."""
    with open(fifo, "wb", buffering=0) as out:  # the reader has it open: no blocking
        for message in SELF_TEST_MESSAGES:
            out.write(message)
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fifo", help="path of the fifo (event.fifo)")
    parser.add_argument("--self-test", action="store_true", help="write to it from a thread")
    args = parser.parse_args(argv)
    tmpdir = tempfile.mkdtemp() if args.self_test and args.fifo is None else None
    fifo = os.path.join(tmpdir, "event.fifo") if tmpdir else args.fifo or "event.fifo"
    try:
        return read_fifo(fifo, args.self_test)
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def read_fifo(fifo: str, self_test: bool) -> int:
    signal_int = None
    evfifo = None
    writer = None

    try:
        if stat.S_ISREG(os.lstat(fifo).st_mode):
            print("lstat: File exists", file=sys.stderr)
            return 1
    except FileNotFoundError:
        pass

    with contextlib.suppress(FileNotFoundError):
        os.unlink(fifo)
    try:
        os.mkfifo(fifo, 0o600)
    except OSError as exc:
        perror("mkfifo", exc)
        return 1

    try:
        socket = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        perror("open", exc)
        return 1

    print(f"Write data to {fifo}", file=sys.stderr, flush=True)

    # Initialize the event library
    base = event_base_new()

    ret = 1
    if base is not None:
        # catch SIGINT so that event.fifo can be cleaned up
        signal_int = evsignal_new(base, signal.SIGINT, signal_cb, base)
        if signal_int is None:
            perror("evsignal_new")
        else:
            event_add(signal_int, None)

            evfifo = event_new(base, socket, EV_READ | EV_PERSIST, fifo_read, event_self_cbarg())
            if evfifo is None:
                perror("event_new")
            else:
                # Add it to the active events, without a timeout
                event_add(evfifo, None)

                if self_test:
                    writer = threading.Thread(target=write_fifo, args=(fifo,))
                    writer.start()

                event_base_dispatch(base)
                ret = 0

    if writer is not None:
        writer.join()
    if signal_int is not None:
        event_free(signal_int)
    if evfifo is not None:
        event_free(evfifo)
    event_base_free(base)
    os.close(socket)
    os.unlink(fifo)
    libevent_global_shutdown()
    return ret


if __name__ == "__main__":
    sys.exit(main())
