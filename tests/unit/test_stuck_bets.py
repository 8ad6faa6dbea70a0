"""Stuck bets: open 6 h (UK default) after the event started, or after placement for casino."""

from __future__ import annotations

from agents.rules.open_bets import apply_placed, apply_settled, new_book
from agents.rules.settlement import stuck_signals
from tests.unit.rules_helpers import RISK, stake, utc

MEMORY = 7 * 24 * 3600 * 1000


def _book() -> dict:
    book = new_book()
    book["player"] = "p1"
    book["who"] = ["t1", "b1", "UKGC"]
    _, sport = stake(utc("2026-06-10T17:00"), 1000, bet_id="sb-1")
    sport.update(product="sportsbook", event_start_at=utc("2026-06-10T19:00"))
    _, casino = stake(utc("2026-06-10T20:00"), 500, bet_id="cs-1")
    apply_placed(book, sport, MEMORY)
    apply_placed(book, casino, MEMORY)
    return book


def test_open_six_hours_after_kick_off_is_stuck_once() -> None:
    book = _book()
    assert stuck_signals(book, utc("2026-06-11T01:00"), RISK) == []  # exactly 6 h: not yet
    signals = stuck_signals(book, utc("2026-06-11T01:00:01"), RISK)
    assert [(s.code, s.window, s.value_minor, s.topic) for s in signals] == [
        ("stuck_bet", "bet:sb-1", 1000, "settlement.alert")
    ]
    assert stuck_signals(book, utc("2026-06-11T01:30"), RISK) == []
    # the casino round counts from its placement (20:00)
    assert [s.window for s in stuck_signals(book, utc("2026-06-11T02:00:01"), RISK)] == ["bet:cs-1"]


def test_a_settled_bet_is_never_stuck() -> None:
    book = _book()
    _, settled = stake(utc("2026-06-10T21:00"), 0, bet_id="sb-1")
    settled.update(outcome="won", payout_minor=2000)
    apply_settled(book, settled, MEMORY)
    assert [s.window for s in stuck_signals(book, utc("2026-06-11T03:00"), RISK)] == ["bet:cs-1"]
