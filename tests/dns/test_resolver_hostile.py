"""Hostile replies: garbage, cut or altered messages never crash the resolver nor answer wrongly.

The scripted server first sends the hostile bytes, then (10 ms later) the
genuine answer. Whatever the bytes, the lookup must end with the genuine
answer or an error (never other addresses), a lookup beside it must not be
disturbed, and no callback may raise (``callbacks_must_not_fail``).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evweb.dns.resolver import DNSResult, QueryFlags
from tests.dns.resolver_support import Harness
from tests.dns.scripted_server import Delayed, Query, answer

pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")

GENUINE = ["192.0.2.1"]
HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def run_pair(hostile: Any, flags: QueryFlags = QueryFlags.NONE, **options: str) -> list[DNSResult]:
    """Look up a target (which gets ``hostile(query)`` first) and a bystander; both results."""
    harness = Harness()
    try:

        def handler(query: Query) -> Any:
            genuine = answer(query, "A", *GENUINE)
            if query.name.lower() != "target.example.com":
                return genuine
            return [hostile(query), Delayed(0.01, genuine)]

        server = harness.server(handler)
        resolver = harness.resolver(server, **{"attempts": "2", "timeout": "0.5", **options})
        results: dict[str, DNSResult] = {}
        for name in ("target.example.com", "bystander.example.com"):
            resolver.query(name, "A", lambda r: results.setdefault(r.name, r), flags)
        harness.run_until(lambda: len(results) == 2, 5)
        return [results["target.example.com"], results["bystander.example.com"]]
    finally:
        harness.close()


def check(results: list[DNSResult], bystander_served: bool = True) -> None:
    """The target's answer is the genuine one or an error; the bystander is served."""
    target, bystander = results
    assert not target.ok or target.addresses == GENUINE
    if bystander_served:
        assert bystander.ok and bystander.addresses == GENUINE
    else:
        assert not bystander.ok or bystander.addresses == GENUINE


@HYPOTHESIS
@given(tail=st.binary(max_size=600))
def test_random_bytes_after_the_right_id(tail):
    check(run_pair(lambda q: struct.pack("!H", q.message.id) + tail))


@HYPOTHESIS
@given(data=st.binary(max_size=600))
def test_random_bytes(data):
    check(run_pair(lambda q: data))


@HYPOTHESIS
@given(cut=st.integers(min_value=0, max_value=200), tc=st.booleans())
def test_cut_replies(cut, tc):
    def hostile(query: Query) -> bytes:
        wire = bytearray(answer(query, "A", "6.6.6.6", "6.6.6.7").to_wire())
        if tc:
            wire[2] |= 0x02
        return bytes(wire[: max(0, len(wire) - 1 - cut)])

    results = run_pair(hostile)
    check(results)


@HYPOTHESIS
@given(position=st.integers(min_value=0, max_value=60), value=st.integers(0, 255))
def test_altered_header_or_question(position, value):
    # a byte changed in the header (but the id) or question: ignored or an error, never 6.6.6.6
    def hostile(query: Query) -> bytes:
        wire = bytearray(answer(query, "A", "6.6.6.6").to_wire())
        question_end = 12 + len(query.message.question[0].name.to_wire()) + 4
        index = 2 + position % (question_end - 2)
        if wire[index] == value or index in (2, 3):  # flags: a changed rcode is not an answer
            return b""
        wire[index] = value
        return bytes(wire)

    check(run_pair(hostile))


@HYPOTHESIS
@given(data=st.binary(max_size=300), framed=st.booleans())
def test_random_bytes_over_tcp(data, framed):
    # bytes that break the framing break the connection both lookups share: they may fail
    payload = (struct.pack("!H", len(data)) + data) if framed else data
    results = run_pair(lambda q: payload, QueryFlags.USE_TCP, timeout="0.1")
    check(results, bystander_served=framed and bool(data))


def test_question_less_success_is_not_an_answer():
    def hostile(query: Query) -> bytes:
        reply = answer(query, "A", "6.6.6.6")
        reply.question = []
        return bytes(reply.to_wire())

    check(run_pair(hostile))
