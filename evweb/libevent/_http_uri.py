"""libevent's evhttp URI and query-string names (``evhttp_uri_*``, ``evhttp_uriencode``...).

``struct evhttp_uri`` is :class:`evweb.http.URI`; these functions return
None or -1 where libevent returns NULL or -1. Where evweb deliberately
differs from libevent is written at the top of :mod:`evweb.http.uri`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evweb.errors import EvwebError
from evweb.http import Headers
from evweb.http.uri import URI, htmlescape, parse_query_str, uridecode, uriencode
from evweb.libevent._status import failed

# --- URIs and query strings (struct evhttp_uri is evweb.http.URI) ---------------------------

EVHTTP_URI_NONCONFORMANT = 0x01
EVHTTP_URI_HOST_STRIP_BRACKETS = 0x04
EVHTTP_URI_UNIX_SOCKET = 0x08
EVHTTP_URI_QUERY_NONCONFORMANT = 0x01
EVHTTP_URI_QUERY_LAST_VAL = 0x02


def _cstr(text: str | bytes, size: int = -1) -> str | bytes:
    """``text`` as C sees it: ``size`` characters, or up to the first NUL when negative."""
    if size >= 0:
        return text[:size]
    nul = text.find("\0") if isinstance(text, str) else text.find(b"\0")
    return text if nul < 0 else text[:nul]


def evhttp_uri_new() -> URI:
    """``URI()``: every part unset, port -1."""
    return URI()


def evhttp_uri_free(uri: URI) -> None:
    """No equivalent: the garbage collector frees the URI."""


def evhttp_uri_set_flags(uri: URI, flags: int) -> None:
    """``uri.set_flags(flags)``: the ``EVHTTP_URI_*`` flags the setters validate with."""
    uri.set_flags(flags)


def evhttp_uri_parse_with_flags(source_uri: str, flags: int) -> URI | None:
    """``URI.parse(text, flags)``; None for a malformed URI."""
    try:
        return URI.parse(source_uri, flags)
    except EvwebError as exc:
        failed("evhttp_uri_parse_with_flags", exc)
        return None


def evhttp_uri_parse(source_uri: str) -> URI | None:
    """``URI.parse(text)``; None for a malformed URI."""
    return evhttp_uri_parse_with_flags(source_uri, 0)


def evhttp_uri_join(uri: URI | None, buf: list[str] | None, limit: int) -> str | None:
    """``uri.join()``, also put in ``buf`` as ``[text]``; None if it fails or is over ``limit``."""
    if uri is None or buf is None or limit <= 0:
        return None
    try:
        text = uri.join()
    except EvwebError as exc:
        failed("evhttp_uri_join", exc)
        return None
    if len(text.encode("utf-8", "surrogateescape")) + 1 > limit:  # and C's NUL
        return None
    buf[:] = [text]
    return text


def evhttp_uri_get_scheme(uri: URI) -> str | None:
    """``uri.scheme``."""
    return uri.scheme


def evhttp_uri_get_userinfo(uri: URI) -> str | None:
    """``uri.userinfo``."""
    return uri.userinfo


def evhttp_uri_get_host(uri: URI) -> str | None:
    """``uri.host``."""
    return uri.host


def evhttp_uri_get_unixsocket(uri: URI) -> str | None:
    """``uri.unixsocket``."""
    return uri.unixsocket


def evhttp_uri_get_port(uri: URI) -> int:
    """``uri.port``, -1 for None."""
    return -1 if uri.port is None else uri.port


def evhttp_uri_get_path(uri: URI) -> str:
    """``uri.path``."""
    return uri.path


def evhttp_uri_get_query(uri: URI) -> str | None:
    """``uri.query``."""
    return uri.query


def evhttp_uri_get_fragment(uri: URI) -> str | None:
    """``uri.fragment``."""
    return uri.fragment


def _set(name: str, setter: Callable[[Any], None], value: object) -> int:
    try:
        setter(value)
    except EvwebError as exc:
        return failed(name, exc)
    return 0


def evhttp_uri_set_scheme(uri: URI, scheme: str | None) -> int:
    """``uri.set_scheme(scheme)``: 0, or -1 if malformed."""
    return _set("evhttp_uri_set_scheme", uri.set_scheme, scheme)


def evhttp_uri_set_userinfo(uri: URI, userinfo: str | None) -> int:
    """``uri.set_userinfo(userinfo)``: 0, or -1 if malformed."""
    return _set("evhttp_uri_set_userinfo", uri.set_userinfo, userinfo)


def evhttp_uri_set_host(uri: URI, host: str | None) -> int:
    """``uri.set_host(host)``: 0, or -1 if malformed."""
    return _set("evhttp_uri_set_host", uri.set_host, host)


def evhttp_uri_set_unixsocket(uri: URI, unixsocket: str | None) -> int:
    """``uri.set_unixsocket(path)``: 0, or -1 if it holds ``:``, ``?``, ``#`` or NUL."""
    return _set("evhttp_uri_set_unixsocket", uri.set_unixsocket, unixsocket)


def evhttp_uri_set_port(uri: URI, port: int) -> int:
    """``uri.set_port(port)``, -1 for None: 0, or -1 outside -1..65535."""
    return _set("evhttp_uri_set_port", uri.set_port, None if port == -1 else port)


def evhttp_uri_set_path(uri: URI, path: str | None) -> int:
    """``uri.set_path(path)``: 0, or -1 if malformed."""
    return _set("evhttp_uri_set_path", uri.set_path, path)


def evhttp_uri_set_query(uri: URI, query: str | None) -> int:
    """``uri.set_query(query)``: 0, or -1 if malformed."""
    return _set("evhttp_uri_set_query", uri.set_query, query)


def evhttp_uri_set_fragment(uri: URI, fragment: str | None) -> int:
    """``uri.set_fragment(fragment)``: 0, or -1 if malformed."""
    return _set("evhttp_uri_set_fragment", uri.set_fragment, fragment)


def evhttp_uriencode(uri: str | bytes, size: int, space_as_plus: int) -> str:
    """``uriencode(text[:size], space_as_plus=...)``; a negative size stops at the first NUL."""
    return uriencode(_cstr(uri, size), space_as_plus=bool(space_as_plus))


def evhttp_encode_uri(text: str | bytes) -> str:
    """``uriencode(text)`` up to the first NUL."""
    return uriencode(_cstr(text))


def evhttp_uridecode(
    uri: str | bytes, decode_plus: int, size_out: list[int] | None = None
) -> str | bytes:
    """``uridecode(text, decode_plus=...)`` (same type back); ``size_out`` gets ``[len]``."""
    decoded = uridecode(_cstr(uri), decode_plus=bool(decode_plus))
    if size_out is not None:
        size_out[:] = [len(decoded)]
    return decoded


def evhttp_decode_uri(uri: str | bytes) -> str | bytes:
    """``uridecode(text)``, with ``+`` as a space only after the first ``?`` (deprecated in C)."""
    text = _cstr(uri)
    if isinstance(text, str):
        head, mark, tail = text.partition("?")
        return uridecode(head) + mark + uridecode(tail, decode_plus=True)
    bhead, bmark, btail = text.partition(b"?")
    return uridecode(bhead) + bmark + uridecode(btail, decode_plus=True)


def _fill_query(name: str, headers: Headers, query: str | None, flags: int) -> int:
    headers.clear()
    if query is None:
        return failed(name, ValueError("no URI or no query"))
    try:
        pairs = parse_query_str(query, flags & ~EVHTTP_URI_QUERY_LAST_VAL)
    except EvwebError as exc:
        return failed(name, exc)
    for key, value in pairs:
        if flags & EVHTTP_URI_QUERY_LAST_VAL:
            headers.discard(key)  # evkeyvalq compares keys case-insensitively
        # straight into the fields: a decoded value may hold CR or LF, as in C
        headers._names.append(key)
        headers._keys.append(key.lower())
        headers._values.append(value)
    return 0


def evhttp_parse_query_str_flags(uri: str, headers: Headers, flags: int) -> int:
    """``parse_query_str(query, flags)`` into ``headers`` (cleared): 0, or -1 if malformed."""
    return _fill_query("evhttp_parse_query_str_flags", headers, uri, flags)


def evhttp_parse_query_str(uri: str, headers: Headers) -> int:
    """``parse_query_str(query)`` into ``headers`` (cleared): 0, or -1 if malformed."""
    return _fill_query("evhttp_parse_query_str", headers, uri, 0)


def evhttp_parse_query(uri: str, headers: Headers) -> int:
    """``parse_query_str(URI.parse(uri).query or "")`` into ``headers`` (deprecated in C)."""
    parsed = evhttp_uri_parse(uri)
    query = None if parsed is None else parsed.query or ""
    return _fill_query("evhttp_parse_query", headers, query, 0)


def evhttp_htmlescape(html: str) -> str:
    """``htmlescape(html)``: ``& < > " '`` as entities."""
    return htmlescape(html)
