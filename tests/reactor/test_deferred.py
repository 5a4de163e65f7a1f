"""DeferredCallback: libevent's deferred callbacks (main/active_later's cap of 32)."""

from __future__ import annotations

from typing import Any

import pytest

from evweb.reactor import COUNT_ACTIVE, NONBLOCK, ONCE, EventBase

pytestmark = pytest.mark.usefixtures("callbacks_must_not_fail")


def test_runs_from_the_loop_once_per_schedule_burst(base: EventBase) -> None:
    calls: list[Any] = []
    deferred = base.deferred(calls.append, "x")
    deferred.schedule()
    deferred.schedule()  # coalesced
    assert deferred.scheduled and calls == []
    assert base.loop(ONCE) == 0  # a deferred callback counts as a callback run
    assert calls == ["x"] and not deferred.scheduled


def test_hidden_from_listings_and_counts(base: EventBase) -> None:
    deferred = base.deferred(lambda arg: None)
    deferred.schedule()
    assert list(base.events()) == []
    assert base.num_events(COUNT_ACTIVE) == 1  # it is active all the same
    deferred.cancel()
    assert not deferred.scheduled
    assert base.loop(NONBLOCK) == 1


def test_at_most_32_per_iteration_the_rest_next_time(base: EventBase) -> None:
    rounds = {"n": 0}
    ran_in_round: list[int] = []

    def count_round(watcher: Any, info: Any, arg: Any) -> None:
        rounds["n"] += 1

    base.watch_check(count_round)
    deferreds = [base.deferred(lambda arg: ran_in_round.append(rounds["n"])) for _ in range(40)]

    def schedule_all(arg: Any) -> None:
        for d in deferreds:
            d.schedule()

    starter = base.deferred(schedule_all)
    starter.schedule()
    base.loop(ONCE)  # ONCE goes on while deferred callbacks wait for the next round
    assert len(ran_in_round) == 40
    first = ran_in_round[0]
    assert ran_in_round.count(first) == 32  # the cap; the starter was scheduled before the loop
    assert set(ran_in_round) == {first, first + 1}


def test_a_storm_of_deferreds_does_not_starve_fd_events(base: EventBase, pair: Any) -> None:
    from evweb.reactor import PERSIST, READ

    got: list[bytes] = []
    ev = base.event(pair[0], READ | PERSIST, lambda fd, what, arg: got.append(pair[0].recv(10)))
    ev.add()
    respawn = {"left": 500}

    def again(arg: Any) -> None:
        if respawn["left"]:
            respawn["left"] -= 1
            for d in storm:
                d.schedule()

    storm = [base.deferred(again) for _ in range(40)]
    storm[0].schedule()
    pair[1].send(b"ping")
    for _ in range(50):
        base.loop(ONCE | NONBLOCK)
        if got:
            break
    ev.delete()
    for d in storm:
        d.cancel()
    assert got == [b"ping"]
