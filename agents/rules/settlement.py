"""Settlement: a player's book of open bets, its `bets` read model and stuck bets.

A bet is stuck when it is still open `stuck_after_hours` after its event started (sportsbook)
or after it was placed (other products). The check runs at the player's events (event time)
and at a tick (`wagerstream.bet-ticks`) the worker's timer sends to players who went quiet,
so the check, and the state that remembers the signal, happen inside the player's own stream.
The book itself (`open_bets`) applies placements and settlements idempotently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.rules.config import RiskConfig
from agents.rules.open_bets import (
    EVENT_START,
    PLACED_AT,
    STAKE,
    SettleLag,
    apply_placed,
    apply_settled,
    new_book,
    totals,
)
from agents.rules.rule import Event, State
from agents.rules.signals import Emitter, Signal, prune_fired
from foundation.units import DAY_MS, HOUR_MS

__all__ = ["TOPIC", "BookChange", "apply", "new_book", "read_model", "stuck_signals"]
TOPIC = "settlement.alert"
SCAN_EVERY_MS = 60_000


@dataclass
class BookChange:
    """What one event did to a book: whether its read model changed, signals, a settle lag."""

    changed: bool = False
    signals: list[Signal] = field(default_factory=list)
    lag: SettleLag | None = None


def _started(entry: list[Any]) -> int:
    start = entry[EVENT_START]
    return entry[PLACED_AT] if start is None else start


def _after_ms(book: State, risk: RiskConfig) -> int:
    tenant, _, jurisdiction = book["who"]
    return int(risk.rules(tenant, jurisdiction).settlement.stuck_after_hours * HOUR_MS)


def stuck_signals(book: State, now: int, risk: RiskConfig) -> list[Signal]:
    """Signals for open bets past their stuck deadline, each bet once (`book["fired"]`)."""
    who = book.get("who")
    if who is None or not book["open"]:
        return []
    tenant, brand, jurisdiction = who
    after_ms = _after_ms(book, risk)
    fired = book.setdefault("fired", {})
    prune_fired(fired, now)
    subject = {
        "player_id": book["player"],
        "tenant_id": tenant,
        "brand_id": brand,
        "jurisdiction": jurisdiction,
        "occurred_at": now,
    }
    emit = Emitter(fired, TOPIC, subject)
    for bet_id, entry in sorted(book["open"].items()):
        started = _started(entry)
        if now - started > after_ms:
            emit.fire(
                "stuck_bet",
                f"bet:{bet_id}",
                "medium",
                forget_after_ms=now + 30 * DAY_MS,
                value_minor=entry[STAKE],
                threshold_minor=None,
                evidence=[bet_id],
            )
    book["scanned"] = now
    return emit.signals


def stuck_count(book: State) -> int:
    """Open bets already signalled as stuck (the `bets` read model shows them)."""
    fired = book.get("fired", {})
    return sum(f"stuck_bet|bet:{bet_id}" in fired for bet_id in book["open"])


def has_unsignalled_stuck_bet(book: State, now: int, risk: RiskConfig) -> bool:
    """A bet past its deadline at `now` (the wall clock) that no signal has named yet."""
    if book.get("who") is None or not book["open"]:
        return False
    after_ms = _after_ms(book, risk)
    fired = book.get("fired", {})
    return any(
        now - _started(entry) > after_ms and f"stuck_bet|bet:{bet_id}" not in fired
        for bet_id, entry in book["open"].items()
    )


def read_model(book: State) -> dict[str, str | int]:
    """`ws:{tenant}:bets:{player}` fields (DESIGN.md)."""
    count, stake = totals(book)
    return {"open_count": count, "open_stake_minor": stake, "stuck_count": stuck_count(book)}


def _tick(book: State, event: Event, risk: RiskConfig, memory_ms: int) -> BookChange:
    signals = stuck_signals(book, event["occurred_at"], risk)
    if not signals:
        return BookChange()
    book["seq"] += 1  # the read model changes (stuck_count): a newer version
    return BookChange(changed=True, signals=signals)


def _bet(
    apply_to_book: Callable[[State, Event, int], SettleLag | None],
) -> Callable[[State, Event, RiskConfig, int], BookChange]:
    def handler(book: State, event: Event, risk: RiskConfig, memory_ms: int) -> BookChange:
        book["player"] = event["player_id"]
        book["who"] = [event["tenant_id"], event["brand_id"], event["jurisdiction"]]
        lag = apply_to_book(book, event, memory_ms)
        now = event["occurred_at"]
        signals = (
            stuck_signals(book, now, risk) if now - book.get("scanned", 0) >= SCAN_EVERY_MS else []
        )
        return BookChange(changed=True, signals=signals, lag=lag)

    return handler


# event type → what it does to the book
HANDLERS: dict[str, Callable[[State, Event, RiskConfig, int], BookChange]] = {
    "bet_placed": _bet(apply_placed),
    "bet_settled": _bet(apply_settled),
    "bet_tick": _tick,
}
STEMS = tuple(HANDLERS)


def apply(book: State, stem: str, event: Event, risk: RiskConfig, memory_ms: int) -> BookChange:
    """The effect of one bet event (or tick) on a player's book; `memory_ms`: how long
    settled bet ids are remembered (event time)."""
    return HANDLERS[stem](book, event, risk, memory_ms)
