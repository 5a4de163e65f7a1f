"""MultiDict: an ordered, case-sensitive multi-map (query strings and form fields).

``d[key]`` and ``get`` answer the *last* value, as evhttp's
``parse_query_str`` with ``LAST_VAL`` and most web frameworks do for a
repeated field; ``get_all`` answers every value in order. Iteration, ``len``
and the Mapping views see each key once, in the order it first appeared.

The pairs are the truth; a dict of last values is built on the first lookup
and dropped by ``add``, so a form of many fields is not searched linearly
for every key (which made ``items()`` quadratic).
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

    __slots__ = ("_items", "_last")

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        if isinstance(items, MultiDict):
            pairs = items.items_all()
        elif isinstance(items, Mapping):
            pairs = list(items.items())
        else:
            pairs = [(k, v) for k, v in items]
        self._items: list[tuple[str, str]] = pairs
        self._last: dict[str, str] | None = None

    @classmethod
    def from_query(cls, query: str) -> MultiDict:
        """Parse ``a=1&b=%20x+y`` (percent and ``+`` decoded, blank values kept)."""
        if not query:
            return cls()
        return cls(parse_qsl(query, keep_blank_values=True, errors="replace"))

    def _lookup(self) -> dict[str, str]:
        last = self._last
        if last is None:
            last = self._last = dict(self._items)
        return last

    def __getitem__(self, key: str) -> str:
        return self._lookup()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._lookup()

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` in order (empty when absent)."""
        return [v for k, v in self._items if k == key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def items_all(self) -> list[tuple[str, str]]:
        """Every pair in order, repeats included."""
        return list(self._items)

    def add(self, key: str, value: str) -> None:
        """Append a pair."""
        self._items.append((key, value))
        self._last = None

    def __repr__(self) -> str:
        return f"MultiDict({self._items!r})"

    def __eq__(self, other: object) -> bool:
        """Another MultiDict: the same pairs in order; another Mapping: the same last values."""
        if isinstance(other, MultiDict):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._lookup() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
