r"""Buffered IO: libevent's evbuffer, bufferevent and evconnlistener with Pythonic names.

>>> from evweb.io import Buffer, EOL
>>> buf = Buffer()
>>> buf.add(b"hello\r\nworld")
>>> buf.readln(EOL.CRLF)
b'hello'
>>> len(buf)
5

Errors are the :class:`~evweb.errors.EvwebBufferError` subtree documented in
:mod:`evweb.errors`.
"""

from __future__ import annotations

from evweb.io._callbacks import EOL, BufferCallback, CallbackHandle, CallbackInfo
from evweb.io._core import DRAINS_TO_FD, MAX_READ_DEFAULT, BytesLike
from evweb.io._file_segment import (
    CLOSE_ON_FREE,
    DISABLE_LOCKING,
    DISABLE_MMAP,
    DISABLE_SENDFILE,
    FileSegment,
    FileSegmentCleanup,
)
from evweb.io._tls_session import TLSSession
from evweb.io.bevflags import BevEvent, BevOption, Flush
from evweb.io.buffer import Buffer
from evweb.io.bufferevent import BufferEvent
from evweb.io.connect import HostnameConnect, connect_hostname
from evweb.io.filter import Filter, FilterBufferEvent, FilterError, FilterResult
from evweb.io.listener import Listener, ListenerFlag
from evweb.io.pair_bev import BufferEventPair, PairBufferEvent, pair
from evweb.io.ratelim import (
    RATE_LIMIT_MAX,
    RateLimitConfigError,
    RateLimiter,
    RateLimitGroup,
    TokenBucketConfig,
    rate_limiter,
    set_rate_limit,
)
from evweb.io.resolve import Resolver, ThreadResolver
from evweb.io.socket_bev import SocketBufferEvent
from evweb.io.tls import TLSBufferEvent, TLSFlag, TLSState
from evweb.io.tls_filter import TLSFilterBufferEvent
from evweb.io.zlib_filter import zlib_filters

__all__ = [
    "BevEvent",
    "BevOption",
    "Buffer",
    "BufferEvent",
    "BufferCallback",
    "BytesLike",
    "CallbackHandle",
    "CallbackInfo",
    "CLOSE_ON_FREE",
    "DISABLE_LOCKING",
    "DISABLE_MMAP",
    "DISABLE_SENDFILE",
    "DRAINS_TO_FD",
    "EOL",
    "FileSegment",
    "FileSegmentCleanup",
    "Flush",
    "Listener",
    "ListenerFlag",
    "MAX_READ_DEFAULT",
    "SocketBufferEvent",
    # rate limits
    "RATE_LIMIT_MAX",
    "RateLimitConfigError",
    "RateLimiter",
    "RateLimitGroup",
    "TokenBucketConfig",
    "rate_limiter",
    "set_rate_limit",
    # TLS
    "TLSBufferEvent",
    "TLSFilterBufferEvent",
    "TLSFlag",
    "TLSSession",
    "TLSState",
    # pairs and filters
    "BufferEventPair",
    "Filter",
    "FilterBufferEvent",
    "FilterError",
    "FilterResult",
    "PairBufferEvent",
    "pair",
    "zlib_filters",
    # connecting by name
    "connect_hostname",
    "HostnameConnect",
    "Resolver",
    "ThreadResolver",
]
