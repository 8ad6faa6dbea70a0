"""The open-bets book: any order, any duplication, same result."""

from __future__ import annotations

import itertools

from agents.rules.open_bets import SettleLag, apply_placed, apply_settled, new_book, totals

DAY = 86_400_000


def placed(
    bet_id: str,
    at: int,
    stake: int = 100,
    bonus: int = 0,
    product: str = "casino",
    start: int | None = None,
) -> dict:
    return {
        "bet_id": bet_id,
        "occurred_at": at,
        "stake_minor": stake,
        "bonus_stake_minor": bonus,
        "product": product,
        "provider": "prov",
        "event_start_at": start,
    }


def settled(bet_id: str, at: int) -> dict:
    return {"bet_id": bet_id, "occurred_at": at}


def run(events: list[tuple[str, dict]], memory: int = 7 * DAY) -> tuple[dict, list[SettleLag]]:
    book, lags = new_book(), []
    for kind, e in events:
        lag = (apply_placed if kind == "p" else apply_settled)(book, e, memory)
        if lag:
            lags.append(lag)
    return book, lags


def test_place_and_settle() -> None:
    book, lags = run(
        [
            ("p", placed("a", 1000, 300, 20)),
            ("p", placed("b", 2000, 50)),
            ("s", settled("a", 61_000)),
        ]
    )
    assert totals(book) == (1, 50)
    assert lags == [SettleLag("casino", "prov", 60_000, None)]


def test_every_order_and_duplicate_gives_the_same_totals_and_one_lag_per_bet() -> None:
    events = [
        ("p", placed("a", 0, 10)),
        ("s", settled("a", 5_000)),
        ("s", settled("a", 5_000)),
        ("p", placed("b", 1, 7)),
        ("p", placed("b", 1, 7)),
    ]
    for order in itertools.permutations(events):
        book, lags = run(list(order))
        assert totals(book) == (1, 7), order
        assert [lag.lag_ms for lag in lags] == [5_000], order
        assert book["seq"] == 5


def test_settlement_before_placement_never_opens() -> None:
    book, lags = run([("s", settled("x", 9_000)), ("p", placed("x", 4_000, 999))])
    assert totals(book) == (0, 0)
    assert lags == [SettleLag("casino", "prov", 5_000, None)]


def test_sportsbook_lag_after_event_start() -> None:
    _, lags = run(
        [
            ("p", placed("f", 0, 100, product="sportsbook", start=3_600_000)),
            ("s", settled("f", 9_000_000)),
        ]
    )
    assert lags == [SettleLag("sportsbook", "prov", 9_000_000, 5_400_000)]


def test_settled_ids_are_forgotten_after_the_memory_window() -> None:
    events = [("s", settled("old", 0))]
    events += [("p", placed(f"n{i}", 2 * DAY + i)) for i in range(40)]
    book, _ = run(events, memory=DAY)
    assert "old" not in book["settled"]  # pruned at the 32nd event
    book2, _ = run(events[:5], memory=DAY)
    assert "old" in book2["settled"]  # not yet pruned
