"""Headers: an ordered, case-insensitive multi-map of HTTP header fields.

Order and duplicates are kept exactly as received (``Set-Cookie`` may come
several times and a proxy must pass them on in order); lookups ignore case.
A request has a handful of fields, so three parallel lists (names as given,
lowered names, values) searched by the list methods in C beat a dict that
would have to be built for every message. The parser fills them directly
(:meth:`Headers._trusted`); everything else goes through :meth:`Headers.add`,
which refuses what could inject a line into a message (CR, LF, NUL and the
other controls, a name that is not a token).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from evweb.errors import BadRequestError

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]
"""What :class:`Headers` accepts to start from: a mapping or (name, value) pairs."""


def is_token(text: str) -> bool:
    """Whether ``text`` is an RFC 9110 token (a method, a field name)."""
    return _TOKEN.fullmatch(text) is not None


def is_field_value(value: str) -> bool:
    """Whether ``value`` may be sent as a field value (see :func:`check_field`)."""
    return _FIELD_VALUE.fullmatch(value) is not None


def check_field(name: str, value: str) -> None:
    """Raise :class:`~evweb.errors.BadRequestError` unless ``name: value`` is a legal field.

    The name must be an RFC 9110 token; the value may hold only HTAB, visible
    ASCII, SP and obs-text (0x80-0xFF): no CR, LF, NUL or other control
    character (header injection), nothing that latin-1 cannot carry.
    """
    if not is_token(name):
        raise BadRequestError("invalid header name", name)
    if not is_field_value(value):
        raise BadRequestError("invalid header value (control or non-latin-1 character)", value)


class Headers:
    """Header fields in order, looked up case-insensitively.

    >>> h = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    >>> h["SET-COOKIE"], h.get_all("Set-Cookie")
    ('a=1', ['a=1', 'b=2'])
    """

    __slots__ = ("_keys", "_names", "_values")

    def __init__(self, fields: HeaderInput | None = None) -> None:
        self._names: list[str] = []
        self._keys: list[str] = []
        self._values: list[str] = []
        if fields is not None:
            self.extend(fields)

    @classmethod
    def _trusted(cls, names: list[str], keys: list[str], values: list[str]) -> Headers:
        """Build from already validated parallel lists (the parser's fast path)."""
        headers = cls.__new__(cls)
        headers._names = names
        headers._keys = keys
        headers._values = values
        return headers

    # -- reading ---------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        key = name.lower()
        keys = self._keys
        if key in keys:
            return self._values[keys.index(key)]
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order (empty when absent)."""
        key = name.lower()
        keys = self._keys
        if key not in keys:
            return []
        return [v for k, v in zip(keys, self._values, strict=True) if k == key]

    def get_list(self, name: str) -> list[str]:
        """Every comma-separated element of every ``name`` field, stripped, empties dropped."""
        out: list[str] = []
        for value in self.get_all(name):
            for part in value.split(","):
                part = part.strip(" \t")
                if part:
                    out.append(part)
        return out

    def has_token(self, name: str, token: str) -> bool:
        """Whether a comma-list field (``Connection``, ``TE``...) holds ``token`` (any case)."""
        token = token.lower()
        return any(part.lower() == token for part in self.get_list(name))

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._keys

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def items(self) -> list[tuple[str, str]]:
        """(name, value) pairs in order, names as they were given."""
        return list(zip(self._names, self._values, strict=True))

    def keys(self) -> list[str]:
        """Field names in order, duplicates included."""
        return list(self._names)

    def values(self) -> list[str]:
        """Field values in order."""
        return list(self._values)

    # -- writing ---------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        """Append a field, keeping any with the same name (``evhttp_add_header``).

        The value is converted with ``str`` and its surrounding spaces and tabs
        are dropped; an illegal name or value raises
        :class:`~evweb.errors.BadRequestError` (see :func:`check_field`).
        """
        value = str(value)
        check_field(name, value)
        self._names.append(name)
        self._keys.append(name.lower())
        self._values.append(value.strip(" \t"))

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every field called ``name`` with one (at the end)."""
        self.discard(name)
        self.add(name, value)

    def setdefault(self, name: str, value: str) -> str:
        """The first value of ``name``, adding ``name: value`` first when absent."""
        current = self.get(name)
        if current is None:
            self.add(name, value)
            return self._values[-1]
        return current

    def remove(self, name: str) -> None:
        """Remove the first field called ``name`` (``evhttp_remove_header``); KeyError if none."""
        try:
            i = self._keys.index(name.lower())
        except ValueError:
            raise KeyError(name) from None
        del self._names[i], self._keys[i], self._values[i]

    def discard(self, name: str) -> None:
        """Remove every field called ``name``; nothing happens when there is none."""
        key = name.lower()
        keys = self._keys
        if key not in keys:
            return
        kept = [i for i, k in enumerate(keys) if k != key]
        self._names = [self._names[i] for i in kept]
        self._keys = [keys[i] for i in kept]
        self._values = [self._values[i] for i in kept]

    def __delitem__(self, name: str) -> None:
        if name.lower() not in self._keys:
            raise KeyError(name)
        self.discard(name)

    def clear(self) -> None:
        """Remove every field (``evhttp_clear_headers``)."""
        self._names.clear()
        self._keys.clear()
        self._values.clear()

    def extend(self, fields: HeaderInput) -> None:
        """Append every field of a mapping or of (name, value) pairs."""
        pairs = fields.items() if isinstance(fields, Mapping) else fields
        for name, value in pairs:
            self.add(name, value)

    def copy(self) -> Headers:
        """An independent copy."""
        return Headers._trusted(list(self._names), list(self._keys), list(self._values))

    # -- output ----------------------------------------------------------
    def encode(self) -> bytes:
        r"""The fields as wire lines (``Name: value\r\n`` each), latin-1; empty when none."""
        names = self._names
        if not names:
            return b""
        if len(names) == 1:
            return f"{names[0]}: {self._values[0]}\r\n".encode("latin-1")
        lines = "\r\n".join(map(": ".join, zip(names, self._values, strict=True)))
        return (lines + "\r\n").encode("latin-1")

    def __eq__(self, other: object) -> bool:
        """Same fields in the same order; names compare case-insensitively."""
        if isinstance(other, Headers):
            return self._keys == other._keys and self._values == other._values
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"
