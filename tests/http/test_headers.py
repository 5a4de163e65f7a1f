"""Headers: order and duplicates kept, case-insensitive lookup, validation, wire form."""

from __future__ import annotations

import pytest

from evweb.errors import BadRequestError
from evweb.http.headers import Headers, check_field


def test_order_duplicates_and_case() -> None:
    h = Headers([("Set-Cookie", "a=1"), ("Host", "x"), ("set-cookie", "b=2")])
    assert h.items() == [("Set-Cookie", "a=1"), ("Host", "x"), ("set-cookie", "b=2")]
    assert list(h) == h.keys() == ["Set-Cookie", "Host", "set-cookie"]
    assert h.values() == ["a=1", "x", "b=2"]
    assert len(h) == 3 and bool(h)
    assert h["SET-COOKIE"] == "a=1" and h.get("set-COOKIE") == "a=1"
    assert h.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert h.get_all("nope") == [] and h.get("nope") is None and h.get("nope", "d") == "d"
    assert "HOST" in h and "nope" not in h and 3 not in h
    with pytest.raises(KeyError):
        h["nope"]


def test_from_mapping_and_extend() -> None:
    h = Headers({"A": "1", "B": "2"})
    h.extend([("a", "3")])
    h.extend({"C": "4"})
    assert h.items() == [("A", "1"), ("B", "2"), ("a", "3"), ("C", "4")]
    assert not Headers() and len(Headers(None)) == 0


def test_add_strips_and_converts() -> None:
    h = Headers()
    h.add("X", "  v \t")
    h.add("N", 5)  # type: ignore[arg-type]
    assert h.items() == [("X", "v"), ("N", "5")]


def test_setitem_replaces_every_field_at_the_end() -> None:
    h = Headers([("A", "1"), ("B", "2"), ("a", "3")])
    h["A"] = "9"
    assert h.items() == [("B", "2"), ("A", "9")]


def test_setdefault() -> None:
    h = Headers([("A", "1")])
    assert h.setdefault("a", "2") == "1"
    assert h.setdefault("B", " 3 ") == "3"
    assert h.items() == [("A", "1"), ("B", "3")]


def test_remove_discard_del_clear() -> None:
    h = Headers([("A", "1"), ("B", "2"), ("a", "3")])
    h.remove("A")
    assert h.items() == [("B", "2"), ("a", "3")]
    with pytest.raises(KeyError):
        h.remove("nope")
    h.discard("nope")
    h.add("A", "4")
    h.discard("a")
    assert h.items() == [("B", "2")]
    with pytest.raises(KeyError):
        del h["a"]
    del h["b"]
    assert h.items() == []
    h.add("C", "1")
    h.clear()
    assert len(h) == 0 and "c" not in h


def test_get_list_and_has_token() -> None:
    h = Headers([("Connection", "keep-alive, Upgrade"), ("connection", " , close ,"), ("TE", "")])
    assert h.get_list("connection") == ["keep-alive", "Upgrade", "close"]
    assert h.has_token("Connection", "upgrade") and h.has_token("CONNECTION", "CLOSE")
    assert not h.has_token("connection", "keep")
    assert h.get_list("te") == [] and h.get_list("nope") == []


def test_copy_is_independent_and_equality() -> None:
    h = Headers([("A", "1")])
    c = h.copy()
    c.add("B", "2")
    assert h.items() == [("A", "1")]
    assert Headers([("A", "1")]) == Headers([("a", "1")])
    assert Headers([("A", "1")]) != Headers([("A", "2")])
    assert Headers([("A", "1"), ("B", "2")]) != Headers([("B", "2"), ("A", "1")])
    assert Headers() != {}
    with pytest.raises(TypeError):
        hash(Headers())
    assert repr(h) == "Headers([('A', '1')])"


def test_encode() -> None:
    assert Headers().encode() == b""
    assert Headers([("A", "1")]).encode() == b"A: 1\r\n"
    assert (
        Headers([("A", "1"), ("b", ""), ("C", "é\xff")]).encode()
        == b"A: 1\r\nb: \r\nC: \xe9\xff\r\n"
    )


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("", "v", "name"),
        ("A B", "v", "name"),
        ("A:B", "v", "name"),
        ("A\r\nB", "v", "name"),
        ("Ä", "v", "name"),
        ("A", "v\r\nB: c", "value"),
        ("A", "v\n", "value"),
        ("A", "\rv", "value"),
        ("A", "v\x00", "value"),
        ("A", "v\x7f", "value"),
        ("A", "v\x1f", "value"),
        ("A", "€", "value"),
    ],
)
def test_invalid_fields_refused(name: str, value: str, fragment: str) -> None:
    with pytest.raises(BadRequestError, match=fragment) as info:
        check_field(name, value)
    assert info.value.value in (name, value)
    h = Headers([("Keep", "1")])
    with pytest.raises(BadRequestError):
        h.add(name, value)
    with pytest.raises(BadRequestError):
        h[name] = value
    assert h.items() == [("Keep", "1")]


def test_valid_fields() -> None:
    check_field("X!#$%&'*+-.^_`|~09az", "\t a b ~ \x80\xff")
    check_field("X", "")
