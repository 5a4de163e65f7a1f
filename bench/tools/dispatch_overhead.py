"""Pure dispatch overhead of evweb's loop, without syscalls: a fake backend.

The fake backend returns the same ready list on every poll and the callback
does nothing, so what is timed is the reactor alone: per event (100 ready fds
per iteration) and per loop(ONCE | NONBLOCK) call (one ready fd). The "bare"
figure is a hand-written ``for fd, mask in ready: cb(fd, 2, arg)`` loop; the
asyncio figure runs asyncio's own loop over a selector that returns a fixed
ready list in the same way (its selector's per-fd work is skipped, so
asyncio's real overhead is higher).

    python bench/tools/dispatch_overhead.py
"""

from __future__ import annotations

import asyncio
import selectors
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evweb.reactor import NONBLOCK, ONCE, PERSIST, READ, EventBase


class FakeBackend:
    name = "fake"
    need_reinit = False

    def __init__(self, ready: list[tuple[int, int]]) -> None:
        self.ready = ready
        self.translate = {1: READ}

    def set(self, fd: int, old: int, new: int) -> None:
        pass

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        return self.ready

    def close(self) -> None:
        pass


def noop(fd: int, what: int, arg: Any) -> None:
    pass


def measure(nready: int, iterations: int) -> tuple[float, float]:
    base = EventBase()
    base._backend.close()
    ready = [(fd, 1) for fd in range(nready)]
    base._backend = FakeBackend(ready)  # type: ignore[assignment]
    base._translate = base._backend.translate
    events = [base.event(fd, READ | PERSIST, noop) for fd in range(nready)]
    for ev in events:
        ev.add()
    loop = base.loop
    start = time.perf_counter()
    for _ in range(iterations):
        loop(ONCE | NONBLOCK)
    evweb = time.perf_counter() - start
    args = dict.fromkeys(range(nready))
    start = time.perf_counter()
    for _ in range(iterations):
        for fd, _mask in ready:
            noop(fd, 2, args[fd])
    bare = time.perf_counter() - start
    for ev in events:
        ev.delete()
    return evweb, bare


def best(nready: int, iterations: int, repeats: int = 7) -> tuple[float, float]:
    results = [measure(nready, iterations) for _ in range(repeats)]
    return min(r[0] for r in results), min(r[1] for r in results)


class FakeSelector(selectors.BaseSelector):
    """Returns the same ready keys on every select()."""

    def __init__(self) -> None:
        self.keys: dict[Any, selectors.SelectorKey] = {}
        self.ready: list[tuple[selectors.SelectorKey, int]] | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = selectors.SelectorKey(fileobj, fileobj, events, data)
        self.keys[fileobj] = key
        self.ready = None
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        self.ready = None
        return self.keys.pop(fileobj)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.ready is None:  # asyncio's self-pipe stays quiet
            self.ready = [(k, selectors.EVENT_READ) for k in self.keys.values() if k.fd >= 1000]
        return self.ready

    def get_map(self) -> Any:
        return self.keys


def measure_asyncio(nready: int, iterations: int) -> float:
    loop = asyncio.SelectorEventLoop(FakeSelector())
    for fd in range(1000, 1000 + nready):
        loop.add_reader(fd, noop, 0, 0, None)
    left = [iterations]

    def tick() -> None:  # one callback per iteration ends the run
        left[0] -= 1
        if left[0] <= 0:
            loop.stop()
        else:
            loop.call_soon(tick)

    loop.call_soon(tick)
    start = time.perf_counter()
    loop.run_forever()
    elapsed = time.perf_counter() - start
    for fd in range(1000, 1000 + nready):
        loop.remove_reader(fd)
    loop.close()
    return elapsed


def report(label: str, nready: int, iterations: int) -> None:
    evweb, bare = best(nready, iterations)
    aio = min(measure_asyncio(nready, iterations) for _ in range(7))
    n = nready * iterations if nready > 1 else iterations
    print(
        f"{label:34} evweb {evweb / n * 1e9:5.0f} ns   asyncio {aio / n * 1e9:5.0f} ns"
        f"   bare {bare / n * 1e9:4.0f} ns"
    )


def main() -> None:
    report("per event (100 ready per poll):", 100, 5000)
    report("per iteration (1 ready fd):", 1, 50000)


if __name__ == "__main__":
    main()
