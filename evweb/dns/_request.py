"""A lookup under way (:class:`DNSRequest`), and the randomness its queries carry.

A request is one object from ``query()`` to its callback, whatever it
becomes on the way (search names, retransmissions, TCP, another server);
its private slots are the engine's books (:mod:`evweb.dns._engine`) and
only the engine changes them.

Transaction ids and the 0x20 case bits come from ``os.urandom`` (they are
what a spoofer must guess), drawn 4 KiB at a time: one system call per
thousand queries instead of one each. The case of a name is randomised with
a few operations on whole integers, not a loop over its characters.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from evweb.dns._result import DNSResult, QueryFlags

if TYPE_CHECKING:
    from evweb.dns._engine import Engine
    from evweb.dns._nameserver import Nameserver

Callback = Callable[[DNSResult], object]
"""``callback(result)``: what a lookup calls when it is over."""

# After lower(): 0x20 where a letter is, 0 elsewhere (the bit 0x20 randomisation flips).
_LETTER_BITS = bytes(0x20 if 0x61 <= b <= 0x7A else 0 for b in range(256))


class Entropy:
    """Random bytes from ``os.urandom``, drawn 4 KiB at a time (ids and 0x20 bits)."""

    __slots__ = ("_pool", "_pos")

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        """``n`` random bytes."""
        pos = self._pos
        end = pos + n
        if end > len(self._pool):
            self._pool = os.urandom(max(4096, n))
            pos, end = 0, n
        self._pos = end
        return self._pool[pos:end]

    def id16(self) -> int:
        """A random 16-bit transaction id."""
        return int.from_bytes(self.take(2), "big")

    def random_case(self, name: str) -> str:
        """``name`` (ASCII) with each letter's case chosen at random (the 0x20 defence)."""
        raw = name.encode("ascii").lower()
        size = len(raw)
        flips = int.from_bytes(raw.translate(_LETTER_BITS), "big")
        flips &= int.from_bytes(self.take(size), "big")
        return (int.from_bytes(raw, "big") ^ flips).to_bytes(size, "big").decode("ascii")


class DNSRequest:
    """A lookup under way: :meth:`cancel` it, or read what it asks.

    ``name`` and ``rtype`` are what was asked, ``qname`` the name being
    tried now (search domains change it), ``flags`` the QueryFlags.
    """

    __slots__ = (
        "_callback",
        "_candidates",
        "_done",
        "_flags",
        "_id",
        "_index",
        "_probe",
        "_reissues",
        "_resolver",
        "_sent",
        "_serial",
        "_server",
        "_tcp",
        "_tx",
        "_wire",
        "flags",
        "name",
        "qname",
        "rtype",
    )

    _index: int
    _sent: str
    _tx: int
    _reissues: int
    _tcp: bool
    _id: int

    def __init__(
        self, resolver: Engine, name: str, rtype: int, callback: Callback, flags: int
    ) -> None:
        self._resolver = resolver
        self.name = name
        self.rtype = rtype
        self._callback = callback
        self.flags = flags if type(flags) is QueryFlags else QueryFlags(flags)
        self._flags = int(flags)  # tested as a plain int: IntFlag operations are slow
        self.qname = name
        self._candidates: list[str] = []
        self._wire: bytes | None = None
        self._server: Nameserver | None = None
        self._serial = 0
        self._done = False
        self._probe: Nameserver | None = None
        # _index, _sent, _tx, _reissues, _tcp: set by Engine._start_candidate; _id by _transmit

    @property
    def done(self) -> bool:
        """True once the callback is due (answered, failed or cancelled)."""
        return self._done

    def cancel(self) -> None:
        """Stop the lookup; the callback gets an error with code ``CANCEL`` (no-op when done)."""
        self._resolver._cancel(self)

    def __repr__(self) -> str:
        state = "done" if self._done else "in flight" if self._server else "waiting"
        return f"<DNSRequest {self.qname} type {self.rtype} {state}>"
