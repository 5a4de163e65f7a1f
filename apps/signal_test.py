#!/usr/bin/env python3
"""Port of libevent's sample/signal-test.c through evweb.libevent.

Catches SIGINT and prints each delivery; on the Nth (3, as in the C sample)
the signal event is deleted, the loop runs out of events and the program
exits. ``--self-test`` waits for 2 and sends itself SIGINT twice from a
timer, so it finishes on its own.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for evweb

from evweb.libevent import (
    event_add,
    event_base_dispatch,
    event_base_free,
    event_base_new,
    event_del,
    event_free,
    event_get_signal,
    event_self_cbarg,
    evsignal_new,
    evtimer_add,
    evtimer_new,
)

SELF_TEST_SIGNALS = 2
SELF_TEST_INTERVAL = 0.05

called = 0
limit = 3


def signal_cb(fd: int, event: int, arg: Any) -> None:
    global called
    signal_event = arg  # event_self_cbarg(): the callback gets its own event

    print(f"signal_cb: got signal {event_get_signal(signal_event)}", flush=True)

    # The C sample deletes the event on the third signal (called >= 2).
    if called >= limit - 1:
        event_del(signal_event)

    called += 1


def send_sigint_cb(fd: int, event: int, arg: Any) -> None:
    """Self-test only: a one-shot timer that raises SIGINT and re-arms itself."""
    sent = arg["sent"] = arg["sent"] + 1
    os.kill(os.getpid(), signal.SIGINT)
    if sent < SELF_TEST_SIGNALS:
        evtimer_add(arg["timer"], SELF_TEST_INTERVAL)


def main(argv: list[str] | None = None) -> int:
    global limit
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=3, help="signals to catch (3)")
    parser.add_argument("--self-test", action="store_true", help="send SIGINT to itself twice")
    args = parser.parse_args(argv)
    limit = SELF_TEST_SIGNALS if args.self_test else max(args.count, 1)
    signal_int = None
    timer = None
    ret = 0

    # Initialize the event library
    base = event_base_new()
    if base is None:
        return 1

    # Initialize one event
    signal_int = evsignal_new(base, signal.SIGINT, signal_cb, event_self_cbarg())
    if signal_int is None:
        ret = 2
    else:
        event_add(signal_int, None)

        if args.self_test:
            state: dict[str, Any] = {"sent": 0}
            timer = state["timer"] = evtimer_new(base, send_sigint_cb, state)
            if timer is None or evtimer_add(timer, SELF_TEST_INTERVAL) == -1:
                ret = 3
        else:
            print(f"Press Ctrl-C {limit} times to exit (pid {os.getpid()}).", flush=True)

        if ret == 0:
            event_base_dispatch(base)

    if timer is not None:
        event_free(timer)
    if signal_int is not None:
        event_free(signal_int)
    event_base_free(base)
    return ret


if __name__ == "__main__":
    sys.exit(main())
