#!/usr/bin/env python3
"""Port of libevent's sample/time-test.c through evweb.libevent.

A timer fires every 2 seconds and prints the time elapsed since the last
tick. Without ``-p`` it is a one-shot timer that the callback re-adds; with
``-p`` it is an EV_PERSIST timer. SIGINT exits cleanly, as in the C sample;
unlike it, the run also ends after ``--ticks`` ticks (5). ``--self-test``
ticks 3 times at 0.05 s, then sends itself SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for evweb

from evweb.libevent import (
    EV_PERSIST,
    event_add,
    event_base_dispatch,
    event_base_free,
    event_base_loopexit,
    event_base_new,
    event_del,
    event_free,
    event_get_base,
    event_new,
    event_self_cbarg,
    evsignal_new,
)

lasttime = 0.0
event_is_persistent = False
interval = 2.0
ticks_left = 5
self_test = False


def timeout_cb(fd: int, event: int, arg: Any) -> None:
    global lasttime, ticks_left
    timeout = arg  # event_self_cbarg(): the timer event itself

    newtime = time.time()
    elapsed = newtime - lasttime

    print(f"timeout_cb called at {int(newtime)}: {elapsed:.3f} seconds elapsed.", flush=True)
    lasttime = newtime

    # Not in the C sample: stop after a bounded number of ticks.
    ticks_left -= 1
    if ticks_left <= 0:
        if event_is_persistent:
            event_del(timeout)
        if self_test:
            os.kill(os.getpid(), signal.SIGINT)  # leave through signal_cb, as on Ctrl-C
        else:
            print("Done ticking; exiting.", flush=True)
            event_base_loopexit(event_get_base(timeout), None)
        return

    if not event_is_persistent:
        event_add(timeout, interval)


def signal_cb(sig: int, events: int, user_data: Any) -> None:
    base = user_data

    print("Caught an interrupt signal; exiting cleanly.", flush=True)

    event_base_loopexit(base, None)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", action="store_true", help="use one EV_PERSIST timer")
    parser.add_argument("-i", "--interval", type=float, default=2.0, help="seconds (2)")
    parser.add_argument("-n", "--ticks", type=int, default=5, help="ticks before exiting (5)")
    parser.add_argument("--self-test", action="store_true", help="3 quick ticks, then SIGINT")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global lasttime, event_is_persistent, interval, ticks_left, self_test
    args = parse_args(argv)
    self_test = args.self_test
    interval, ticks_left = (0.05, 3) if self_test else (args.interval, args.ticks)

    if args.p:
        event_is_persistent = True
        flags = EV_PERSIST
    else:
        event_is_persistent = False
        flags = 0

    # Initialize the event library
    base = event_base_new()
    if base is None:
        print("Couldn't create an event base", file=sys.stderr)
        return 1

    # Initialize one event
    timeout = event_new(base, -1, flags, timeout_cb, event_self_cbarg())
    signal_event = evsignal_new(base, signal.SIGINT, signal_cb, base)
    if timeout is None or signal_event is None:
        print("Couldn't create event", file=sys.stderr)
        if signal_event is not None:
            event_free(signal_event)
        if timeout is not None:
            event_free(timeout)
        event_base_free(base)
        return 1

    event_add(timeout, interval)
    event_add(signal_event, None)

    lasttime = time.time()

    # The C sample unbuffers stdout and stderr here; each print() flushes instead.

    event_base_dispatch(base)

    event_free(signal_event)
    event_free(timeout)
    event_base_free(base)

    return 0


if __name__ == "__main__":
    sys.exit(main())
