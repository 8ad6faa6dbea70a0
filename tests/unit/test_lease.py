"""The membership lease: until when a worker may act on what it was assigned."""

from __future__ import annotations

import asyncio

from agents.lease import MembershipLease
from agents.transport import watch_heartbeats


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_lease_runs_from_when_the_accepted_request_was_sent_not_when_it_was_answered():
    clock = Clock()
    lease = MembershipLease(8.0, clock)
    assert not lease.holds(3)  # nothing assigned yet
    lease.renew(100.0, 3)
    clock.now = 107.9
    assert lease.holds(3)
    clock.now = 108.0
    assert not lease.holds(3)
    assert lease.left_s() == 0.0


def test_a_lease_holds_only_for_the_generation_it_was_renewed_in():
    clock = Clock()
    lease = MembershipLease(8.0, clock)
    lease.renew(100.0, 3)
    assert not lease.holds(2)
    assert not lease.holds(4)
    lease.renew(101.0, 4)  # a new assignment
    assert lease.holds(4)
    assert not lease.holds(3)


def test_a_late_answer_never_shortens_or_moves_a_lease_back():
    clock = Clock()
    lease = MembershipLease(8.0, clock)
    lease.renew(100.0, 4)
    lease.renew(99.0, 4)  # an earlier heartbeat answered late
    lease.renew(105.0, 3)  # a heartbeat of the ended generation
    clock.now = 107.5
    assert lease.holds(4)
    assert lease.left_s() == 0.5


def test_a_refused_heartbeat_ends_the_lease_at_once_until_the_next_assignment():
    clock = Clock()
    lease = MembershipLease(8.0, clock)
    lease.renew(100.0, 4)
    lease.void()
    assert not lease.holds(4)
    lease.renew(101.0, 4)  # still generation 4: only an accepted heartbeat renews it
    assert lease.holds(4)


class Coordinator:
    """Only what the heartbeat watch touches of aiokafka's GroupCoordinator."""

    def __init__(self, answers: list[str]) -> None:
        self.generation = 5
        self.answers = answers

    async def _do_heartbeat(self) -> bool:
        answer = self.answers.pop(0)
        if answer == "unknown member":  # aiokafka resets the generation, then returns False
            self.generation = -1
        return answer in ("ok", "rebalancing")


def test_the_heartbeat_watch_renews_on_accepted_heartbeats_and_voids_on_a_reset():
    lease = MembershipLease(8.0)
    coordinator = Coordinator(["ok", "rebalancing", "broker away", "unknown member"])
    watch_heartbeats(coordinator, lease)
    watch_heartbeats(coordinator, lease)  # once per coordinator: not wrapped twice

    async def beats() -> list[tuple[bool, bool]]:
        out = []
        for _ in range(4):
            accepted = await coordinator._do_heartbeat()
            out.append((accepted, lease.holds(5)))
        return out

    assert asyncio.run(beats()) == [
        (True, True),
        (True, True),  # a rebalance in progress keeps the member in the group
        (False, True),  # no answer: the lease runs on until it lapses
        (False, False),  # dropped from the group
    ]
    assert coordinator.answers == []
