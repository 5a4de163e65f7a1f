"""MultiDict: an ordered, case-sensitive multi-map (query strings and form fields).

``d[key]`` and ``get`` answer the *last* value, as evhttp's
``parse_query_str`` with ``LAST_VAL`` and most web frameworks do for a
repeated field; ``get_all`` answers every value in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import parse_qsl


class MultiDict(Mapping[str, str]):
    """Key/value pairs in order; a key may repeat.

    >>> q = MultiDict.from_query("a=1&b=2&a=3")
    >>> q["a"], q.get_all("a"), list(q)
    ('3', ['1', '3'], ['a', 'b'])
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = list(items)

    @classmethod
    def from_query(cls, query: str) -> MultiDict:
        """Parse ``a=1&b=%20x+y`` (percent and ``+`` decoded, blank values kept)."""
        if not query:
            return cls()
        return cls(parse_qsl(query, keep_blank_values=True, errors="replace"))

    def __getitem__(self, key: str) -> str:
        for k, v in reversed(self._items):
            if k == key:
                return v
        raise KeyError(key)

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` in order (empty when absent)."""
        return [v for k, v in self._items if k == key]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for k, _ in self._items))

    def __len__(self) -> int:
        return len(dict.fromkeys(k for k, _ in self._items))

    def items_all(self) -> list[tuple[str, str]]:
        """Every pair in order, repeats included."""
        return list(self._items)

    def add(self, key: str, value: str) -> None:
        """Append a pair."""
        self._items.append((key, value))

    def __repr__(self) -> str:
        return f"MultiDict({self._items!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
