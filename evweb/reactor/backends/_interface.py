"""The interface every backend implements.

A backend is a thin adapter over one of the ``select`` module's polling
primitives. It knows nothing of events: the base tells it which event bits
(:data:`READ`, :data:`WRITE`, :data:`CLOSED`, :data:`ET`) an fd wants, and
``poll`` hands back the kernel's raw ``(fd, mask)`` pairs untouched, with
``translate`` mapping each raw mask to event bits. Returning the primitive's
own list avoids a Python-level pass over every ready fd inside the backend;
the base does the one pass it must do anyway.

What differs between backends (edge triggering, early close detection) is
declared in ``features``, never discovered by asking for a name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar, Protocol

from evweb.reactor.flags import Feature


class Backend(Protocol):
    """One polling mechanism (epoll, kqueue, poll, select, devpoll)."""

    name: ClassVar[str]
    features: ClassVar[Feature]
    need_reinit: ClassVar[bool]
    """True when the kernel object does not survive ``fork`` and must be rebuilt."""

    translate: Mapping[int, int]
    """Raw mask (as returned by :meth:`poll`) → event bits READ/WRITE/CLOSED."""

    @classmethod
    def available(cls) -> bool:
        """Whether this platform offers the primitive."""
        ...

    def set(self, fd: int, old: int, new: int) -> None:
        """Change what ``fd`` is polled for from ``old`` to ``new`` event bits (0 = none)."""
        ...

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait up to ``timeout`` seconds (None = forever) and return ``(fd, raw_mask)`` pairs."""
        ...

    def close(self) -> None:
        """Release the kernel object; the backend is unusable afterwards."""
        ...


class TranslationTable(dict[int, int]):
    """A raw-mask → event-bits dict that computes and remembers unseen masks."""

    def __init__(self, convert: MaskConverter, seed: Iterator[int]) -> None:
        super().__init__()
        self._convert = convert
        for mask in seed:
            self[mask] = convert(mask)

    def __missing__(self, mask: int) -> int:
        bits = self._convert(mask)
        self[mask] = bits
        return bits


class MaskConverter(Protocol):
    """Maps one raw mask to event bits."""

    def __call__(self, mask: int) -> int: ...


def all_combinations(bits: tuple[int, ...]) -> Iterator[int]:
    """Every OR-combination of ``bits`` (for seeding a translation table)."""
    for n in range(1 << len(bits)):
        mask = 0
        for i, bit in enumerate(bits):
            if n >> i & 1:
                mask |= bit
        yield mask


def timeout_ms(timeout: float | None) -> int | None:
    """Seconds → whole milliseconds rounded up (never wake early), None stays None."""
    if timeout is None:
        return None
    ms = int(timeout * 1000)
    return ms + 1 if ms < timeout * 1000 else ms
