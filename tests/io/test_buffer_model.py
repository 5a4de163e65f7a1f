"""Random operation sequences on two Buffers against two bytearray models."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evweb.errors import EvwebBufferError
from evweb.io import EOL, Buffer

# Small alphabets make EOLs and search hits frequent.
data = st.binary(max_size=40) | st.lists(
    st.sampled_from([b"a", b"b", b"\r", b"\n", b"\0", b"ab", b"\r\n"]), max_size=12
).map(b"".join)
count = st.integers(min_value=-3, max_value=60)
which = st.integers(min_value=0, max_value=1)

ops = st.one_of(
    st.tuples(st.just("add"), which, data),
    st.tuples(st.just("add_reference"), which, data),
    st.tuples(st.just("prepend"), which, data),
    st.tuples(st.just("drain"), which, count),
    st.tuples(st.just("remove"), which, count),
    st.tuples(st.just("copyout"), which, count, count),
    st.tuples(st.just("readln"), which, st.sampled_from(list(EOL))),
    st.tuples(st.just("search"), which, data, count, count | st.none()),
    st.tuples(st.just("search_eol"), which, count, st.sampled_from(list(EOL))),
    st.tuples(st.just("add_buffer"), which),
    st.tuples(st.just("remove_buffer"), which, count),
    st.tuples(st.just("reserve_commit"), which, data, count),
    st.tuples(st.just("pullup"), which, count),
)


def eol_model(m: bytes, start: int, style: EOL) -> tuple[int, int]:
    """libevent's EOL rules, written naively."""
    if style == EOL.LF or style == EOL.NUL:
        p = m.find(b"\n" if style == EOL.LF else b"\0", start)
        return (p, 1) if p >= 0 else (-1, 0)
    if style == EOL.CRLF_STRICT:
        p = m.find(b"\r\n", start)
        return (p, 2) if p >= 0 else (-1, 0)
    if style == EOL.CRLF:
        p = m.find(b"\n", start)
        if p < 0:
            return -1, 0
        return (p - 1, 2) if p > start and m[p - 1] == 13 else (p, 1)
    hits = [p for p in (m.find(b"\r", start), m.find(b"\n", start)) if p >= 0]
    if not hits:
        return -1, 0
    p = q = min(hits)
    while q < len(m) and m[q] in b"\r\n":
        q += 1
    return p, q - p


def apply(op: tuple[Any, ...], bufs: list[Buffer], models: list[bytearray]) -> None:
    name, i = op[0], op[1]
    buf, m, other, om = bufs[i], models[i], bufs[1 - i], models[1 - i]
    if name == "add":
        buf.add(op[2])
        m += op[2]
    elif name == "add_reference":
        buf.add_reference(op[2])
        m += op[2]
    elif name == "prepend":
        buf.prepend(op[2])
        m[:0] = op[2]
    elif name == "drain":
        buf.drain(op[2])
        del m[: op[2]]
    elif name == "remove":
        assert buf.remove(op[2]) == m[: op[2]]
        del m[: op[2]]
    elif name == "copyout":
        n, start = op[2], op[3]
        assert buf.copyout(n, start) == m[start : start + n]
    elif name == "readln":
        line = buf.readln(op[2])
        p, n = eol_model(bytes(m), 0, op[2])
        assert line == (None if p < 0 else bytes(m[:p]))
        if p >= 0:
            del m[: p + n]
    elif name == "search":
        what, start, end = op[2], op[3], op[4]
        got = buf.search(what, start, end)
        stop = len(m) if end is None else end
        expected = m.find(what, start, stop) if start <= stop else -1
        assert got == expected, (bytes(m), what, start, end)
    elif name == "search_eol":
        assert buf.search_eol(op[2], op[3]) == eol_model(bytes(m), op[2], op[3])
    elif name == "add_buffer":
        buf.add_buffer(other)
        m += om
        om.clear()
    elif name == "remove_buffer":
        n = op[2]
        assert buf.remove_buffer(other, n) == len(m[:n])
        om += m[:n]
        del m[:n]
    elif name == "reserve_commit":
        chunk, n = op[2], op[3]
        space = buf.reserve(n)
        assert len(space) >= n
        k = min(len(chunk), len(space))
        space[:k] = chunk[:k]
        buf.commit(k)
        m += chunk[:k]
    elif name == "pullup":
        n = op[2]
        assert bytes(buf.pullup(n)) == (m if n < 0 else m[:n])


def valid(op: tuple[Any, ...], models: list[bytearray]) -> bool:
    """Whether the model says the arguments are in range."""
    name, m = op[0], models[op[1]]
    if name in ("drain", "remove", "remove_buffer"):
        return bool(op[2] >= 0)
    if name == "copyout":
        return bool(op[2] >= 0 and 0 <= op[3] <= len(m))
    if name == "search":
        return bool(0 <= op[3] <= len(m) and (op[4] is None or 0 <= op[4] <= len(m)))
    if name == "search_eol":
        return bool(0 <= op[2] <= len(m))
    if name == "reserve_commit":
        return bool(op[3] >= 0)
    if name == "pullup":
        return bool(op[2] <= len(m))
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, max_size=40))
def test_buffer_matches_bytearray_model(program: list[tuple[Any, ...]]) -> None:
    bufs, models = [Buffer(), Buffer()], [bytearray(), bytearray()]
    for op in program:
        if valid(op, models):
            apply(op, bufs, models)
        else:
            before = [bytes(b) for b in bufs]
            try:
                apply(op, bufs, models)
            except EvwebBufferError:
                pass
            else:
                raise AssertionError(f"{op!r} was accepted")
            assert [bytes(b) for b in bufs] == before
        for buf, m in zip(bufs, models, strict=True):
            assert len(buf) == len(m)
            assert bytes(buf) == m
    for buf in bufs:
        buf.free()
