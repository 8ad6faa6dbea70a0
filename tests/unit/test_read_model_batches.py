"""Read models from the player agent's handler: one write per key per batch, computed from
the state the batch ends with (agents/players.py, agents/settlement.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from agents import players
from agents.runner import BatchState
from tests.samples import event
from tests.unit.rules_helpers import handler_batch, player_tables_as_dicts
from topics.deadletter import decode_checked
from topics.serde import AvroSerde

SERDE = AvroSerde()
NOW_MS = int(time.time() * 1000)


@pytest.fixture(autouse=True)
def dict_tables() -> Iterator[None]:
    with player_tables_as_dicts():
        yield


def _batch() -> BatchState:
    return handler_batch(NOW_MS)


def _handle(batch: BatchState, stem: str, topic: str, **fields: object):
    record = event(stem, occurred_at=NOW_MS - 60_000, **fields)
    schema, decoded = decode_checked(SERDE, topic, SERDE.encode(topic, record), b"p1", 300_000)
    return players.handle(batch, schema, decoded)


def _resolved(*outcomes) -> dict[str, object]:
    """What the runner sends: the newest write per key, resolved at the end of the batch."""
    newest = {}
    for outcome in outcomes:
        for write in outcome.writes:
            newest[write.key] = write
    return {key: write.resolved() for key, write in newest.items()}


def test_a_players_second_event_in_a_batch_gets_the_same_writes_computed_from_the_end_state():
    batch = _batch()
    first = _handle(batch, "bet_placed", "bet.placed", bet_id="b-1", stake_minor=1000)
    second = _handle(batch, "bet_placed", "bet.placed", bet_id="b-2", stake_minor=2500)
    assert [id(w) for w in first.writes] == [id(w) for w in second.writes]
    writes = _resolved(first, second)
    bets = writes["ws:t1:bets:p1"]
    # two open bets of 10.00 and 25.00 after the batch, not the one bet the first event saw
    assert (bets.fields["open_count"], bets.fields["open_stake_minor"]) == (2, 3500)
    limits = writes["ws:t1:limits:p1"]
    assert limits.version % 10**12 == 2  # the player's sequence after both events
    assert bets.version % 10**12 == 2  # the book's sequence: one step per placed bet


def test_a_new_batch_builds_its_writes_again():
    first_batch, second_batch = _batch(), _batch()
    one = _handle(first_batch, "bet_placed", "bet.placed", bet_id="b-1", stake_minor=1000)
    two = _handle(second_batch, "bet_placed", "bet.placed", bet_id="b-2", stake_minor=1000)
    assert not {id(w) for w in one.writes} & {id(w) for w in two.writes}
