"""The evbuffer_* names: C return conventions over evweb.io.Buffer."""

from __future__ import annotations

import socket
from typing import Any

from evweb import libevent as ev
from evweb.io import Buffer, CallbackInfo


def test_add_remove_and_status_codes() -> None:
    buf = ev.evbuffer_new()
    assert ev.evbuffer_add(buf, b"hello\r\nworld") == 0
    assert ev.evbuffer_add_printf(buf, " %d!", 42) == 4
    assert ev.evbuffer_get_length(buf) == 16
    assert ev.evbuffer_readln(buf, ev.EVBUFFER_EOL_CRLF) == (b"hello", 5)
    assert ev.evbuffer_readln(buf, ev.EVBUFFER_EOL_CRLF) == (None, 0)
    assert ev.evbuffer_search(buf, b"42") == 6
    assert ev.evbuffer_search_range(buf, b"42", 0, 7) == -1
    assert ev.evbuffer_search_eol(buf, None, ev.EVBUFFER_EOL_LF) == (-1, 0)
    assert ev.evbuffer_ptr_set(buf, 0, 9, ev.EVBUFFER_PTR_SET) == 9
    assert ev.evbuffer_ptr_set(buf, 9, 3, ev.EVBUFFER_PTR_ADD) == -1
    assert ev.evbuffer_pullup(buf, 100) is None
    assert ev.evbuffer_drain(buf, -1) == -1
    assert ev.evbuffer_copyout(buf, 5) == b"world"
    assert ev.evbuffer_remove(buf, 6) == b"world "
    ev.evbuffer_freeze(buf, 1)
    assert ev.evbuffer_drain(buf, 1) == -1
    assert ev.evbuffer_prepend(buf, b"x") == -1
    ev.evbuffer_unfreeze(buf, 1)
    vec = ev.evbuffer_reserve_space(buf, 4)
    vec[0][:2] = b"ok"
    assert ev.evbuffer_commit_space(buf, [vec[0][:2]]) == 0
    assert ev.evbuffer_commit_space(buf, [vec[0][:2]]) == -1
    assert bytes(buf) == b"42!ok"
    ev.evbuffer_free(buf)


def test_callbacks_and_reference() -> None:
    buf = Buffer()
    log: list[tuple[int, int, int, Any]] = []
    freed: list[int] = []

    def cb(b: Buffer, info: CallbackInfo, arg: Any) -> None:
        log.append((info.orig_size, info.n_added, info.n_deleted, arg))

    ent = ev.evbuffer_add_cb(buf, cb, "a")
    ev.evbuffer_add_reference(buf, b"abc", lambda data, n, arg: freed.append(n), None)
    ev.evbuffer_cb_clear_flags(buf, ent, ev.EVBUFFER_CB_ENABLED)
    ev.evbuffer_drain(buf, 1)
    ev.evbuffer_cb_set_flags(buf, ent, ev.EVBUFFER_CB_ENABLED)
    ev.evbuffer_drain(buf, 2)
    assert freed == [3]
    assert ev.evbuffer_remove_cb(buf, cb, "b") == -1
    assert ev.evbuffer_remove_cb(buf, cb, "a") == 0
    assert ev.evbuffer_remove_cb_entry(buf, ent) == -1
    assert log == [(0, 3, 0, "a"), (2, 0, 2, "a")]


def test_read_write(pair: tuple[socket.socket, socket.socket]) -> None:
    out, inp = Buffer(b"ping"), Buffer()
    assert ev.evbuffer_write(out, pair[0]) == 4
    assert ev.evbuffer_read(inp, pair[1], -1) == 4
    assert ev.evbuffer_read(inp, pair[1], -1) == -1  # EAGAIN
    assert bytes(inp) == b"ping"
    assert ev.evbuffer_set_max_read(inp, 0) == -1
    assert ev.evbuffer_get_max_read(inp) == 4096
