"""A player's open bets as plain data, with placement and settlement applied idempotently.

Pure logic (no Faust, no I/O) so the rules are unit-tested directly. Placement and settlement
arrive on two topics and may come in either order, or twice; the book remembers settled bet
ids for WAGERSTREAM_SETTLED_MEMORY_MS of event time so that a settlement seen before its placement
closes
the bet when the placement arrives, and a second settlement changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Positions in an open-bet entry; a list keeps the JSON changelog small. A settled entry is
# [settled_at_ms, matched]: matched once the lag has been reported.
STAKE, PLACED_AT, PRODUCT, PROVIDER, EVENT_START = range(5)
PRUNE_EVERY = 32


@dataclass(frozen=True)
class SettleLag:
    """A settlement matched to its placement: what the lag histograms observe."""

    product: str
    provider: str
    lag_ms: int
    after_start_ms: int | None


def new_book() -> dict[str, Any]:
    return {"open": {}, "settled": {}, "seq": 0, "high_ms": 0}


def _touch(book: dict[str, Any], occurred_at: int, memory_ms: int) -> None:
    book["seq"] += 1
    book["high_ms"] = max(book["high_ms"], occurred_at)
    if book["seq"] % PRUNE_EVERY == 0:
        horizon = book["high_ms"] - memory_ms
        book["settled"] = {b: s for b, s in book["settled"].items() if s[0] >= horizon}


def _lag(entry: list[Any], settled_at: int) -> SettleLag:
    start = entry[EVENT_START]
    return SettleLag(
        product=entry[PRODUCT],
        provider=entry[PROVIDER],
        lag_ms=settled_at - entry[PLACED_AT],
        after_start_ms=None if start is None else settled_at - start,
    )


def apply_placed(book: dict[str, Any], bet: dict[str, Any], memory_ms: int) -> SettleLag | None:
    """Open the bet unless it is already open or already settled (then report its lag)."""
    _touch(book, bet["occurred_at"], memory_ms)
    bet_id = bet["bet_id"]
    entry = [
        bet["stake_minor"] + bet["bonus_stake_minor"],
        bet["occurred_at"],
        bet["product"],
        bet["provider"],
        bet["event_start_at"] if bet["product"] == "sportsbook" else None,
    ]
    if bet_id in book["open"]:
        return None
    settled = book["settled"].get(bet_id)
    if settled is None:
        book["open"][bet_id] = entry
        return None
    # Settled before we saw the placement: never open, but the lag is known now (report once).
    settled_at, matched = settled
    if matched:
        return None
    settled[1] = True
    return _lag(entry, settled_at)
    return None


def apply_settled(
    book: dict[str, Any], settlement: dict[str, Any], memory_ms: int
) -> SettleLag | None:
    """Close the bet if open; remember the id either way so duplicates and late placements no-op."""
    _touch(book, settlement["occurred_at"], memory_ms)
    bet_id = settlement["bet_id"]
    settled_at = settlement["occurred_at"]
    entry = book["open"].pop(bet_id, None)
    if entry is not None:
        book["settled"][bet_id] = [settled_at, True]
        return _lag(entry, settled_at)
    book["settled"].setdefault(bet_id, [settled_at, False])
    return None


def totals(book: dict[str, Any]) -> tuple[int, int]:
    """(open_count, open_stake_minor), stake = cash + bonus part."""
    return len(book["open"]), sum(entry[STAKE] for entry in book["open"].values())
