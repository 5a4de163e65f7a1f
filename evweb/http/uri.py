"""The URI toolkit: RFC 3986 parsing and joining, percent-coding, query strings, HTML escaping.

Sans-IO pure functions and one class, with libevent's semantics (evhttp_uri_*,
evhttp_uriencode/uridecode, evhttp_parse_query_str_flags, evhttp_htmlescape)::

    >>> from evweb.http.uri import URI, parse_query_str, uriencode
    >>> uri = URI.parse("http://user@example.com:8080/a/b?q=1+2#top")
    >>> uri.host, uri.port, uri.path, uri.query
    ('example.com', 8080, '/a/b', 'q=1+2')
    >>> str(uri.resolve("../c?x"))
    'http://user@example.com:8080/c?x'
    >>> parse_query_str("q=1+2&lang=en"), uriencode("a b/c")
    ([('q', '1 2'), ('lang', 'en')], 'a%20b%2Fc')

Why the parser looks as it does: libevent splits a URI-reference the way
RFC 3986's grammar does (scheme, ``//`` authority, path, ``?`` query, ``#``
fragment) and, in strict mode, refuses any character outside each part's
set; it never percent-decodes. Every rule here is one of libevent's, so its
regress_http.c table gives the same answers (tests/http/test_uri.py), with
these deliberate differences:

* A NUL character is refused in every mode (C strings end there, so libevent
  silently truncates the URI).
* ``UNIX_SOCKET``: in ``http://unix:/run/x.sock:/path`` the request path is
  ``/path``; libevent 2.2 (HEAD) cuts the string in place and ends up with the
  socket path as the request path as well.
* ``set_port`` accepts None or 0..65535 (libevent: any int >= -1), and
  :meth:`URI.join` also refuses the combinations libevent joins into text that
  would parse back differently (a port or userinfo without a host, a
  ``//`` path without an authority, a colon in the first segment of a
  relative path).
* :func:`parse_query_str` with ``LAST_VAL`` compares keys case-sensitively
  (libevent's evkeyvalq compares them case-insensitively; the
  ``evweb.libevent`` functions keep that).

Text is ``str``; percent-escapes stand for UTF-8 bytes. :func:`uriencode` and
:func:`uridecode` also take ``bytes`` for byte-exact work (``%FF`` is not UTF-8).
"""

from __future__ import annotations

import enum
import re
import socket
from typing import overload
from urllib.parse import quote_from_bytes, unquote_to_bytes

from evweb.errors import InvalidURIError
from evweb.io.sockets import is_numeric_host

__all__ = ["URI", "URIFlags", "htmlescape", "parse_query_str", "uridecode", "uriencode"]


class URIFlags(enum.IntFlag):
    """libevent's ``EVHTTP_URI_*`` flags, with the same values.

    ``NONCONFORMANT`` is also ``EVHTTP_URI_QUERY_NONCONFORMANT`` and ``LAST_VAL``
    ``EVHTTP_URI_QUERY_LAST_VAL`` for :func:`parse_query_str`.
    """

    NONE = 0
    NONCONFORMANT = 0x01  # any character in path, query and fragment
    LAST_VAL = 0x02  # parse_query_str: the last of repeated keys wins
    HOST_STRIP_BRACKETS = 0x04  # URI.host is "::1" for "[::1]"
    UNIX_SOCKET = 0x08  # http://unix:/path/to.sock:/request/path


# The character classes of RFC 3986 §2-3, ASCII only (libevent's uri_chars and SUBDELIMS).
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUBDELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_USERINFO = re.compile(rf"(?:[{_UNRESERVED}{_SUBDELIMS}:]|{_PCT})*")
_REGNAME = re.compile(rf"(?:[{_UNRESERVED}{_SUBDELIMS}]|{_PCT})*")
_IPVFUTURE = re.compile(rf"\[v[0-9A-Fa-f]+\.[{_UNRESERVED}{_SUBDELIMS}:]*\]")
_PATH = re.compile(rf"(?:[{_UNRESERVED}{_SUBDELIMS}:@/]|{_PCT})*")
_QUERY = re.compile(rf"(?:[{_UNRESERVED}{_SUBDELIMS}:@/?]|{_PCT})*")  # also the fragment
_PORT = re.compile(r"[0-9]*")
_NC_PATH = re.compile(r"[^?#]*")
_NC_QUERY = re.compile(r"[^#]*")
_ANY = re.compile(r".*", re.DOTALL)


def _ipv6_ok(text: str) -> bool:
    """``[IPv6address]`` as inet_pton reads it (no zone id; under 64 characters)."""
    inner = text[1:-1]
    return len(inner) < 64 and "%" not in inner and is_numeric_host(inner, socket.AF_INET6)


def _bracket_host_ok(host: str) -> bool:
    """An IP-literal: ``[IPv6address]`` or ``[vX.future]`` (libevent's bracket_addr_ok)."""
    if len(host) < 3 or host[0] != "[" or host[-1] != "]":
        return False
    if host[1] == "v":
        return _IPVFUTURE.fullmatch(host) is not None
    return _ipv6_ok(host)


def _parts(flags: int) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The path, query and fragment patterns for ``flags``."""
    if flags & URIFlags.NONCONFORMANT:
        return _NC_PATH, _NC_QUERY, _ANY
    return _PATH, _QUERY, _QUERY


class URI:
    """A URI-reference split into its parts (libevent's ``struct evhttp_uri``).

    ``host`` is None when there is no authority (``mailto:x``, ``/path``) and
    ``""`` for an empty one (``file:///x``); ``port`` is an int or None;
    ``path`` is always a str. Nothing is percent-decoded. The ``set_*``
    methods validate like libevent's setters; :meth:`join` (also ``str()``)
    reassembles.
    """

    __slots__ = (
        "_bracketed",
        "_flags",
        "_fragment",
        "_host",
        "_path",
        "_port",
        "_query",
        "_scheme",
        "_unixsocket",
        "_userinfo",
    )

    def __init__(
        self,
        scheme: str | None = None,
        userinfo: str | None = None,
        host: str | None = None,
        port: int | None = None,
        path: str = "",
        query: str | None = None,
        fragment: str | None = None,
        *,
        unixsocket: str | None = None,
        flags: URIFlags | int = URIFlags.NONE,
    ) -> None:
        self._flags = URIFlags(flags)
        self._scheme: str | None = None
        self._userinfo: str | None = None
        self._host: str | None = None
        self._unixsocket: str | None = None
        self._query: str | None = None
        self._fragment: str | None = None
        self._port: int | None = None
        self._path = ""
        self._bracketed = False
        self.set_scheme(scheme)
        self.set_userinfo(userinfo)
        self.set_host(host)
        self.set_unixsocket(unixsocket)
        self.set_port(port)
        self.set_path(path)
        self.set_query(query)
        self.set_fragment(fragment)

    # -- parsing ---------------------------------------------------------
    @classmethod
    def parse(cls, text: str, flags: URIFlags | int = URIFlags.NONE) -> URI:
        """Parse a URI-reference (``evhttp_uri_parse_with_flags``); raise InvalidURIError."""
        if "\0" in text:
            raise InvalidURIError(text, "NUL character")
        flags = URIFlags(flags)
        uri = cls(flags=flags)
        pos = 0
        colon = text.find(":")
        if colon > 0 and _SCHEME.fullmatch(text, 0, colon):
            uri._scheme = text[:colon]
            pos = colon + 1
        got_authority = text.startswith("//", pos)
        if got_authority:
            pos = uri._parse_authority(text, pos + 2)
        path_re, query_re, fragment_re = _parts(flags)
        end = _end(path_re.match(text, pos))
        uri._path = text[pos:end]
        if end < len(text) and text[end] == "?":
            pos, end = end + 1, _end(query_re.match(text, end + 1))
            uri._query = text[pos:end]
        if end < len(text) and text[end] == "#":
            pos, end = end + 1, _end(fragment_re.match(text, end + 1))
            uri._fragment = text[pos:end]
        if end != len(text):
            raise InvalidURIError(text, f"unexpected character {text[end]!r} at {end}")
        path = uri._path
        if got_authority and path[:1] not in ("", "/"):
            raise InvalidURIError(text, "a path after an authority must start with '/'")
        if uri._scheme is None and not got_authority and ":" in path.split("/", 1)[0]:
            raise InvalidURIError(text, "a colon in the first segment of a relative path")
        return uri

    def _parse_authority(self, text: str, start: int) -> int:
        """Parse ``[userinfo@]host[:port]`` from ``start``; return where the path starts."""
        end = start
        while end < len(text) and text[end] not in "/?#":
            end += 1
        at = text.find("@", start, end)
        host_start = start
        if at >= 0:
            if not _USERINFO.fullmatch(text, start, at):
                raise InvalidURIError(text, f"bad userinfo {text[start:at]!r}")
            self._userinfo = text[start:at]
            host_start = at + 1
        if self._flags & URIFlags.UNIX_SOCKET and text.startswith("unix:", host_start):
            close = text.find(":", host_start + 5)
            if close < 0:
                raise InvalidURIError(text, "unix: socket path without its closing ':'")
            self._unixsocket = text[host_start + 5 : close]
            return close + 1
        host_end = end
        digits = text.rfind(":", host_start, end)
        if digits >= 0 and _PORT.fullmatch(text, digits + 1, end):
            port = text[digits + 1 : end]
            if port:
                value = port.lstrip("0") or "0"
                if len(value) > 5 or int(value) > 65535:
                    raise InvalidURIError(text, f"port {port} over 65535")
                self._port = int(value)
            host_end = digits
        self._set_host(text[host_start:host_end], text)
        return end

    # -- reading ---------------------------------------------------------
    @property
    def flags(self) -> URIFlags:
        """The flags the URI was parsed or built with."""
        return self._flags

    @property
    def scheme(self) -> str | None:
        """``http``, ``mailto``...; None for a relative reference."""
        return self._scheme

    @property
    def userinfo(self) -> str | None:
        """``user:pass`` before ``@`` in the authority, or None."""
        return self._userinfo

    @property
    def host(self) -> str | None:
        """Reg-name, IPv4 or ``[IP-literal]`` (bare with HOST_STRIP_BRACKETS); None: none given."""
        return self._host

    @property
    def unixsocket(self) -> str | None:
        """The socket path of ``http://unix:/path.sock:/...`` (UNIX_SOCKET), or None."""
        return self._unixsocket

    @property
    def port(self) -> int | None:
        """The port, or None when absent or empty."""
        return self._port

    @property
    def path(self) -> str:
        """The path, possibly empty."""
        return self._path

    @property
    def query(self) -> str | None:
        """What follows ``?`` (undecoded), or None when there is no ``?``."""
        return self._query

    @property
    def fragment(self) -> str | None:
        """What follows ``#``, or None when there is no ``#``."""
        return self._fragment

    # -- setters ---------------------------------------------------------
    def set_flags(self, flags: URIFlags | int) -> None:
        """Change the flags the setters validate with (``evhttp_uri_set_flags``)."""
        self._flags = URIFlags(flags)

    def set_scheme(self, scheme: str | None) -> None:
        """``ALPHA *(ALPHA / DIGIT / + / - / .)``, or None."""
        if scheme is not None and not _SCHEME.fullmatch(scheme):
            raise InvalidURIError(scheme, "bad scheme")
        self._scheme = scheme

    def set_userinfo(self, userinfo: str | None) -> None:
        """Unreserved, sub-delims, ``:`` and %XX; or None."""
        if userinfo is not None and not _USERINFO.fullmatch(userinfo):
            raise InvalidURIError(userinfo, "bad userinfo")
        self._userinfo = userinfo

    def set_host(self, host: str | None) -> None:
        """A reg-name, an IPv4 address, ``[IPv6]`` or ``[vX.future]``; or None."""
        if host is None:
            self._host, self._bracketed = None, False
        else:
            self._set_host(host, host)

    def _set_host(self, host: str, text: str) -> None:
        if host[:1] == "[":
            if not _bracket_host_ok(host):
                raise InvalidURIError(text, f"bad IP literal {host!r}")
            self._bracketed = bool(self._flags & URIFlags.HOST_STRIP_BRACKETS)
            self._host = host[1:-1] if self._bracketed else host
        elif _REGNAME.fullmatch(host):
            self._host, self._bracketed = host, False
        else:
            raise InvalidURIError(text, f"bad host {host!r}")

    def set_unixsocket(self, unixsocket: str | None) -> None:
        """The socket path of a UNIX_SOCKET URI (no ``:``, NUL, ``?`` or ``#``); or None."""
        if unixsocket is not None and any(c in unixsocket for c in ":\0?#"):
            raise InvalidURIError(unixsocket, "a socket path cannot hold ':', '?', '#' or NUL")
        self._unixsocket = unixsocket

    def set_port(self, port: int | None) -> None:
        """0..65535, or None for no port."""
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535
        ):
            raise InvalidURIError(repr(port), "port outside 0..65535")
        self._port = port

    def set_path(self, path: str | None) -> None:
        """Pchars and ``/`` (any but ``?#`` with NONCONFORMANT); None means ``""``."""
        self._path = self._checked(path, 0) or ""

    def set_query(self, query: str | None) -> None:
        """Pchars, ``/`` and ``?`` (any but ``#`` with NONCONFORMANT); or None for no ``?``."""
        self._query = self._checked(query, 1)

    def set_fragment(self, fragment: str | None) -> None:
        """Pchars, ``/`` and ``?`` (anything with NONCONFORMANT); or None for no ``#``."""
        self._fragment = self._checked(fragment, 2)

    def _checked(self, value: str | None, part: int) -> str | None:
        if value is None:
            return None
        if "\0" in value or not _parts(self._flags)[part].fullmatch(value):
            raise InvalidURIError(value, f"bad {('path', 'query', 'fragment')[part]}")
        return value

    # -- joining ---------------------------------------------------------
    def join(self) -> str:
        """The URI as text (``evhttp_uri_join``); InvalidURIError if it would not parse back."""
        out: list[str] = []
        if self._scheme is not None:
            out += (self._scheme, ":")
        path = self._path
        has_authority = self._host is not None or self._unixsocket is not None
        if has_authority:
            out.append("//")
            if self._userinfo is not None:
                out += (self._userinfo, "@")
            if self._unixsocket is not None:
                out += ("unix:", self._unixsocket, ":")
            else:
                out.append(f"[{self._host}]" if self._bracketed else str(self._host))
                if self._port is not None:
                    out.append(f":{self._port}")
            if path[:1] not in ("", "/"):
                raise InvalidURIError(path, "a path after an authority must start with '/'")
        elif self._userinfo is not None or self._port is not None:
            raise InvalidURIError(repr(self), "userinfo or port without a host")
        elif path.startswith("//"):
            raise InvalidURIError(path, "a path starting with '//' needs an authority")
        elif self._scheme is None and ":" in path.split("/", 1)[0]:
            raise InvalidURIError(path, "a colon in the first segment of a relative path")
        out.append(path)
        if self._query is not None:
            out += ("?", self._query)
        if self._fragment is not None:
            out += ("#", self._fragment)
        return "".join(out)

    __str__ = join

    def _fields(self) -> tuple[object, ...]:
        return (
            self._scheme,
            self._userinfo,
            self._host,
            self._bracketed,
            self._unixsocket,
            self._port,
            self._path,
            self._query,
            self._fragment,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, URI):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable through the setters

    def __repr__(self) -> str:
        names = ("scheme", "userinfo", "host", "unixsocket", "port", "path", "query", "fragment")
        shown = [f"{n}={getattr(self, n)!r}" for n in names if getattr(self, n) is not None]
        return f"URI({', '.join(shown)})"

    def copy(self) -> URI:
        """An independent copy."""
        new = URI.__new__(URI)
        for name in URI.__slots__:
            setattr(new, name, getattr(self, name))
        return new

    # -- reference resolution ----------------------------------------------
    def resolve(self, reference: str | URI) -> URI:
        """The target of ``reference`` relative to this base URI (RFC 3986 §5.2: redirects)."""
        ref = reference if isinstance(reference, URI) else URI.parse(reference, self._flags)
        target = ref.copy()
        target._flags = self._flags
        if ref._scheme is not None:
            target._path = _remove_dot_segments(ref._path)
            return target
        if ref._host is not None or ref._unixsocket is not None:
            target._scheme = self._scheme
            target._path = _remove_dot_segments(ref._path)
            return target
        for name in ("_scheme", "_userinfo", "_host", "_bracketed", "_unixsocket", "_port"):
            setattr(target, name, getattr(self, name))
        if not ref._path:
            target._path = self._path
            if ref._query is None:
                target._query = self._query
        elif ref._path.startswith("/"):
            target._path = _remove_dot_segments(ref._path)
        else:
            target._path = _remove_dot_segments(self._merge(ref._path))
        return target

    def _merge(self, path: str) -> str:
        """RFC 3986 §5.2.3."""
        if (self._host is not None or self._unixsocket is not None) and not self._path:
            return "/" + path
        return self._path[: self._path.rfind("/") + 1] + path


def _end(match: re.Match[str] | None) -> int:
    """The end of a match of a pattern that matches the empty string (never None)."""
    assert match is not None
    return match.end()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4: drop ``.`` and ``..`` segments."""
    if "." not in path:
        return path
    out: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./") or path.startswith("/./"):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../") or path == "/..":
            path = "/" + path[4:]
            if out:
                out.pop()
        elif path in (".", ".."):
            path = ""
        else:
            cut = path.find("/", 1)
            cut = len(path) if cut < 0 else cut
            out.append(path[:cut])
            path = path[cut:]
    return "".join(out)


# -- percent-coding ------------------------------------------------------------------------


def uriencode(data: str | bytes, *, space_as_plus: bool = False) -> str:
    """Percent-encode all but ``A-Z a-z 0-9 - . _ ~`` (``evhttp_uriencode``), upper-case hex.

    A str is encoded as UTF-8 first (``surrogateescape``, so what
    :func:`uridecode` made of stray bytes encodes back to them); NUL is
    ``%00``. With ``space_as_plus`` a space becomes ``+``.
    """
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    if space_as_plus:
        return quote_from_bytes(raw, safe=" ").replace(" ", "+")
    return quote_from_bytes(raw, safe="")


@overload
def uridecode(text: str, *, decode_plus: bool = False) -> str: ...
@overload
def uridecode(text: bytes, *, decode_plus: bool = False) -> bytes: ...
@overload
def uridecode(text: str | bytes, *, decode_plus: bool = False) -> str | bytes: ...
def uridecode(text: str | bytes, *, decode_plus: bool = False) -> str | bytes:
    """Decode ``%XX`` escapes (``evhttp_uridecode``); malformed ones stay as they are.

    ``+`` becomes a space only with ``decode_plus``. Returns the type it is
    given: for a str the decoded bytes are read as UTF-8 (``surrogateescape``
    keeps bytes that are not UTF-8).
    """
    if isinstance(text, str):
        return _uridecode_str(text, decode_plus)
    raw = bytes(text)
    if decode_plus:
        raw = raw.replace(b"+", b" ")
    return unquote_to_bytes(raw) if b"%" in raw else raw


def _uridecode_str(text: str, decode_plus: bool) -> str:
    if decode_plus:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    return unquote_to_bytes(text.encode("utf-8", "surrogateescape")).decode(
        "utf-8", "surrogateescape"
    )


# -- query strings and HTML ----------------------------------------------------------------


def parse_query_str(query: str, flags: URIFlags | int = URIFlags.NONE) -> list[tuple[str, str]]:
    """Split ``a=1&b=x+y`` into ``[(key, value), ...]`` (``evhttp_parse_query_str_flags``).

    Values are percent-decoded with ``+`` as a space; keys are kept as they
    are. Strict by default: a pair without ``=``, an empty pair (``&&``) or an
    empty key raises InvalidURIError. ``NONCONFORMANT`` gives ``""`` to a key
    without ``=`` and skips empty keys; ``LAST_VAL`` keeps only the last value
    of a repeated key. One trailing ``&`` is ignored, as libevent does.
    ``MultiDict(parse_query_str(q))`` gives a mapping.
    """
    if not query:
        return []
    lenient = bool(flags & URIFlags.NONCONFORMANT)
    pieces = query.split("&")
    if pieces[-1] == "":
        pieces.pop()
    pairs: list[tuple[str, str]] = []
    for piece in pieces:
        key, eq, value = piece.partition("=")
        if not key or not eq:
            if not lenient:
                raise InvalidURIError(query, f"malformed pair {piece!r}")
            if not key:
                continue
        pairs.append((key, _uridecode_str(value, True)))
    if flags & URIFlags.LAST_VAL:
        last = {key: i for i, (key, _) in enumerate(pairs)}
        pairs = [pair for i, pair in enumerate(pairs) if last[pair[0]] == i]
    return pairs


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#039;"})


def htmlescape(text: str) -> str:
    """Escape ``& < > " '`` as ``&amp; &lt; &gt; &quot; &#039;`` (``evhttp_htmlescape``)."""
    return text.translate(_HTML)
