"""``bufferevent_pair_*`` and ``bufferevent_filter_new`` (``event2/bufferevent.h``) over evweb.io.

C shapes become Python ones: bufferevent_pair_new returns the two ends as a
tuple (C fills ``pair[2]`` and returns 0), or None where C returns -1.
Filter callbacks keep C's shape ``f(src, dst, dst_limit, mode, ctx)`` and
return ``BEV_OK``, ``BEV_NEED_MORE`` or ``BEV_ERROR``; ``free_ctx(ctx)``
runs when the filter BufferEvent is freed. Pythonic equivalents::

    bufferevent_pair_new(base, opts)         evweb.io.pair(base, opts)  (module evweb.io.pair_bev)
    bufferevent_pair_get_partner(bev)        bev.partner
    bufferevent_filter_new(u, i, o, opts, ...)  FilterBufferEvent(u, i, o, opts)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evweb.errors import EvwebError
from evweb.io.bevflags import BevOption, Flush
from evweb.io.buffer import Buffer
from evweb.io.bufferevent import BufferEvent
from evweb.io.filter import Filter, FilterBufferEvent, FilterResult
from evweb.io.pair_bev import PairBufferEvent, pair
from evweb.libevent._status import failed
from evweb.reactor import EventBase

BEV_OK = int(FilterResult.OK)
BEV_NEED_MORE = int(FilterResult.NEED_MORE)
BEV_ERROR = int(FilterResult.ERROR)
BEV_NORMAL = int(Flush.NORMAL)
BEV_FLUSH = int(Flush.FLUSH)
BEV_FINISHED = int(Flush.FINISHED)

bufferevent_filter_cb = Callable[[Buffer, Buffer, int, int, Any], int]
"""``f(src, dst, dst_limit, mode, ctx) -> BEV_OK | BEV_NEED_MORE | BEV_ERROR``."""


def bufferevent_pair_new(
    base: EventBase, options: int
) -> tuple[PairBufferEvent, PairBufferEvent] | None:
    """``pair(base, options)`` as a plain tuple; None for invalid options."""
    try:
        ends = pair(base, BevOption(options))
    except (EvwebError, ValueError) as exc:
        failed("bufferevent_pair_new", exc)
        return None
    return ends.first, ends.second


def bufferevent_pair_get_partner(bev: BufferEvent) -> PairBufferEvent | None:
    """The other end of a pair; None when ``bev`` is not a pair end or is unlinked."""
    return bev.partner if isinstance(bev, PairBufferEvent) else None


def bufferevent_filter_new(
    underlying: BufferEvent | None,
    input_filter: bufferevent_filter_cb | None,
    output_filter: bufferevent_filter_cb | None,
    options: int,
    free_context: Callable[[Any], object] | None,
    ctx: Any,
) -> FilterBufferEvent | None:
    """``FilterBufferEvent(underlying, ...)``; None when ``underlying`` is None."""
    if underlying is None:
        return None
    cleanup = None if free_context is None else (lambda: free_context(ctx))
    return FilterBufferEvent(
        underlying,
        _bind(input_filter, ctx),
        _bind(output_filter, ctx),
        BevOption(options),
        cleanup,
    )


def _bind(f: bufferevent_filter_cb | None, ctx: Any) -> Filter | None:
    if f is None:
        return None

    def bound(src: Buffer, dst: Buffer, dst_limit: int, mode: Flush) -> int:
        return f(src, dst, dst_limit, int(mode), ctx)

    return bound
