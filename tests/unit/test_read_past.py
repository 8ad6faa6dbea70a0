"""When the rapid in/out judgement may count a player's stakes as complete
(`agents.players.partition_read_past`)."""

from __future__ import annotations

from agents.players import HIGHWATER_FRESH_MS, partition_read_past

REQUEST_MS = 1_000_000.0  # when the withdrawal request was produced


def test_a_record_produced_after_the_request_was_handled() -> None:
    assert partition_read_past(REQUEST_MS + 1, 10, None, None, REQUEST_MS)


def test_everything_up_to_a_fresh_high_water_mark_was_handled() -> None:
    fresh = int(REQUEST_MS) + HIGHWATER_FRESH_MS
    assert partition_read_past(0.0, 41, 42, fresh, REQUEST_MS)
    # one record below the mark is still unhandled (read into the stream buffer, say)
    assert not partition_read_past(0.0, 40, 42, fresh, REQUEST_MS)


def test_a_high_water_mark_fetched_too_soon_after_the_request_is_not_trusted() -> None:
    """A paused partition (full stream buffer) keeps the mark of its last fetch: the stakes
    produced just before the request may lie above it, so the old test (the request is 3 s
    old) signalled a player whose stakes were still unfetched."""
    stale = int(REQUEST_MS) + HIGHWATER_FRESH_MS - 1
    assert not partition_read_past(0.0, 41, 42, stale, REQUEST_MS)
    assert not partition_read_past(0.0, 41, 42, None, REQUEST_MS)  # never fetched
    assert not partition_read_past(0.0, 41, None, int(REQUEST_MS) * 2, REQUEST_MS)
