"""MultiDict: last value wins for lookups, every value in order for get_all."""

from __future__ import annotations

import pytest

from evweb.http.multidict import MultiDict


def test_last_value_wins_and_order_of_first_appearance() -> None:
    q = MultiDict([("a", "1"), ("b", "2"), ("a", "3")])
    assert q["a"] == "3" and q.get("a") == "3" and q.get("z") is None
    assert q.get_all("a") == ["1", "3"] and q.get_all("z") == []
    assert list(q) == ["a", "b"] and len(q) == 2
    assert list(q.items()) == [("a", "3"), ("b", "2")]
    assert list(q.values()) == ["3", "2"]
    assert "a" in q and "z" not in q and object() not in q
    assert q.items_all() == [("a", "1"), ("b", "2"), ("a", "3")]
    with pytest.raises(KeyError):
        q["z"]


def test_case_sensitive() -> None:
    q = MultiDict([("A", "1"), ("a", "2")])
    assert q["A"] == "1" and q["a"] == "2" and len(q) == 2


def test_add_invalidates_lookups() -> None:
    q = MultiDict()
    assert len(q) == 0 and "a" not in q
    q.add("a", "1")
    assert q["a"] == "1"
    q.add("a", "2")
    assert q["a"] == "2" and q.get_all("a") == ["1", "2"] and len(q) == 1


def test_from_query() -> None:
    q = MultiDict.from_query("a=1&b=%20x+y&a=3&c&d=&=e&f=%E2%82%AC&g=%ff")
    assert q.items_all() == [
        ("a", "1"),
        ("b", " x y"),
        ("a", "3"),
        ("c", ""),
        ("d", ""),
        ("", "e"),
        ("f", "€"),
        ("g", "\ufffd"),
    ]
    assert MultiDict.from_query("") == MultiDict()
    assert MultiDict.from_query("&&a=1&&") == MultiDict([("a", "1")])


def test_construct_from_mappings_and_multidicts() -> None:
    assert MultiDict({"a": "1", "b": "2"}).items_all() == [("a", "1"), ("b", "2")]
    src = MultiDict([("a", "1"), ("a", "2")])
    copy = MultiDict(src)
    copy.add("b", "3")
    assert src.items_all() == [("a", "1"), ("a", "2")]
    assert copy.items_all() == [("a", "1"), ("a", "2"), ("b", "3")]
    assert MultiDict(iter([("x", "1")]))["x"] == "1"


def test_equality_and_repr() -> None:
    q = MultiDict([("a", "1"), ("a", "2")])
    assert q == MultiDict([("a", "1"), ("a", "2")])
    assert q != MultiDict([("a", "2"), ("a", "1")])
    assert q == {"a": "2"} and q != {"a": "1"}
    assert q != 5
    assert repr(q) == "MultiDict([('a', '1'), ('a', '2')])"
    with pytest.raises(TypeError):
        hash(q)


def test_many_keys_are_not_quadratic() -> None:
    q = MultiDict((f"k{i}", str(i)) for i in range(50_000))
    assert dict(q.items())["k49999"] == "49999"
    assert q == {f"k{i}": str(i) for i in range(50_000)}
