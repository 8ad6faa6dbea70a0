"""How long this worker may still act as the owner of the partitions it was assigned.

Without transactions (faust-streaming's exactly_once has open bugs) nothing on the broker stops
a worker that was dropped from the group from writing its tables' changelogs. A worker frozen
past its session timeout (SIGSTOP, a paused VM, a stopped container) wakes up still believing
it owns its partitions; until its next heartbeat is refused it would handle the events in its
buffers over state another worker has moved on from, and write that older state back over the
new owner's. Whoever restores the partition next gets the old state, and the events the new
owner handled meanwhile are lost: their offsets are committed.

The group coordinator keeps a member for `session timeout` after each heartbeat it receives.
A heartbeat answered without error was therefore received after it was sent, so the member was
alive in the group until at least `sent + session timeout`; the lease ends a safety margin
before that (`LEASE_SHARE`). It is renewed by every heartbeat the coordinator accepts and by
every assignment, and void once a heartbeat is refused because the member or its generation
is unknown. A worker holding no lease neither handles events nor writes state; when the
rebalance that follows revokes its partitions it gives its unwritten state up instead of
writing it, and the next owner replays those events from the committed offsets (at least once,
as after a crash). This is the lease idea of Chubby and ZooKeeper, on Kafka's heartbeats.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

LEASE_SHARE = 0.8  # of the session timeout: 2 s to spare at the 10 s default


class MembershipLease:
    """Until when the group coordinator certainly still counts this worker as a member of
    the generation it was assigned in. Renewed from the consumer's thread, read from the
    worker's loop: two floats and an int, each assignment atomic."""

    def __init__(self, duration_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.duration_s = duration_s
        self._clock = clock
        self._generation: int | None = None
        self._until = -math.inf

    def renew(self, sent: float, generation: int) -> None:
        """The coordinator knew this member in `generation` when a request sent at `sent`
        (monotonic seconds) reached it: a heartbeat it accepted, or the join that assigned
        the generation. A late answer for an older generation renews nothing."""
        if self._generation is not None and generation < self._generation:
            return
        until = sent + self.duration_s
        if generation != self._generation:
            self._generation, self._until = generation, until
        elif until > self._until:
            self._until = until

    def void(self) -> None:
        """The coordinator refused a heartbeat: this member (or its generation) is gone."""
        self._until = -math.inf

    def holds(self, generation: int) -> bool:
        """Whether this worker may act as the owner of what it was assigned in
        `generation` (the generation its handled events were fetched in)."""
        return generation == self._generation and self._clock() < self._until

    def left_s(self) -> float:
        """Seconds of lease left (negative once lapsed), for logs."""
        return self._until - self._clock()
