"""Responsible-gambling rules: each fires on its scenario and not on the near miss beside it."""

from __future__ import annotations

from agents.rules import rg
from tests.unit.rules_helpers import (
    RISK,
    Player,
    deposit,
    ledger,
    session,
    stake,
    utc,
    withdrawal,
)


def rg_player() -> Player:
    return Player("rg.signal")


def test_uk_financial_vulnerability_at_150_pounds_net_not_149_99() -> None:
    p = rg_player()
    assert (
        p.codes(deposit(utc("2026-06-01T10:00"), 10000), deposit(utc("2026-06-15T10:00"), 4999))
        == []
    )
    assert p.feed(deposit(utc("2026-06-20T10:00"), 1)) == [
        ("financial_vulnerability", "30d@2026-06-01T10:00:00Z")
    ]
    assert (p.signals[0].value_minor, p.signals[0].threshold_minor) == (15000, 15000)


def test_withdrawals_count_against_net_deposits() -> None:
    p = rg_player()
    # 100 in, 50.01 paid out, 100 in: net 149.99
    assert (
        p.codes(
            deposit(utc("2026-06-01T10:00"), 10000),
            withdrawal(utc("2026-06-02T10:00"), 5001, "paid"),
            deposit(utc("2026-06-03T10:00"), 10000),
        )
        == []
    )
    assert p.codes(deposit(utc("2026-06-04T10:00"), 1)) == ["financial_vulnerability"]


def test_financial_vulnerability_window_is_30_rolling_days_and_uk_only() -> None:
    p = rg_player()
    # 30 days and 1 second apart: the first deposit has left the window
    assert (
        p.codes(deposit(utc("2026-06-01T10:00"), 10000), deposit(utc("2026-07-01T10:00:01"), 5000))
        == []
    )
    malta = rg_player()
    assert malta.codes(deposit(utc("2026-06-01T10:00"), 50000, "EUR", jurisdiction="MGA")) == []


def test_loss_chasing_deposit_within_10_minutes_of_falling_below_5_percent() -> None:
    p = rg_player()
    fired = p.feed(
        ledger(utc("2026-06-10T10:00"), "deposit", 10000),  # the day's peak: 100.00
        ledger(utc("2026-06-10T10:05"), "stake", 600),  # 6 %: not yet
        ledger(utc("2026-06-10T10:06"), "stake", 499),  # below 5.00
        ledger(utc("2026-06-10T10:15"), "deposit", 5499),  # 9 minutes later
    )
    assert fired == [("loss_chasing", "chase@2026-06-10T10:06:00Z")]


def test_loss_chasing_near_misses() -> None:
    late = rg_player()
    assert (
        late.codes(
            ledger(utc("2026-06-10T10:00"), "deposit", 10000),
            ledger(utc("2026-06-10T10:06"), "stake", 499),
            ledger(utc("2026-06-10T10:16:01"), "deposit", 5499),
        )
        == []
    )
    exactly_five = rg_player()
    assert (
        exactly_five.codes(
            ledger(utc("2026-06-10T10:00"), "deposit", 10000),
            ledger(utc("2026-06-10T10:06"), "stake", 500),
            ledger(utc("2026-06-10T10:08"), "deposit", 5500),
        )
        == []
    )


def _daily_deposits(per_day: list[str]) -> list:
    """One small deposit at each time of day, 1-30 May (MGA, EUR: no UK check)."""
    return [
        deposit(utc(f"2026-05-{day:02d}T{hour}"), 1000, "EUR", jurisdiction="MGA")
        for day in range(1, 31)
        for hour in per_day
    ]


def test_deposit_escalation_three_times_the_daily_average_and_at_least_five() -> None:
    p = rg_player()
    assert "deposit_escalation" not in p.codes(*_daily_deposits(["12:00"]))
    burst = [
        deposit(utc(f"2026-06-01T{h:02d}:00"), 1000, "EUR", jurisdiction="MGA")
        for h in range(8, 13)
    ]
    # at 12:00 on 1 June: 5 in the last 24 h; baseline (1 May 12:00, 31 May 12:00] holds 29
    # deposits, 5 x 30 = 150 >= 3 x 29 = 87
    assert [c for c in p.codes(*burst) if c == "deposit_escalation"] == ["deposit_escalation"]


def test_deposit_escalation_near_miss_with_two_a_day_baseline() -> None:
    p = rg_player()
    p.codes(*_daily_deposits(["06:00", "18:00"]))
    burst = [
        deposit(utc(f"2026-06-01T{h:02d}:00"), 1000, "EUR", jurisdiction="MGA")
        for h in range(8, 13)
    ]
    # baseline 59 deposits: 5 x 30 = 150 < 177
    assert "deposit_escalation" not in p.codes(*burst)
    # a sixth at 13:00: 6 x 30 = 180 >= 3 x 59 = 177
    assert p.codes(deposit(utc("2026-06-01T13:00"), 1000, "EUR", jurisdiction="MGA")) == [
        "deposit_escalation"
    ]


def _history() -> list:
    return [stake(utc(f"2026-06-10T10:0{i}"), 1000, "EUR", jurisdiction="MGA") for i in range(10)]


def test_stake_escalation_three_times_three_x_median_within_an_hour() -> None:
    p = rg_player()
    fired = p.feed(
        *_history(),  # median 10.00
        stake(utc("2026-06-10T10:10"), 3000, "EUR", jurisdiction="MGA"),
        stake(utc("2026-06-10T10:15"), 2999, "EUR", jurisdiction="MGA"),  # < 3x: no
        stake(utc("2026-06-10T10:20"), 3000, "EUR", jurisdiction="MGA"),
        stake(utc("2026-06-10T11:09:59"), 3000, "EUR", jurisdiction="MGA"),
    )
    assert fired == [("stake_escalation", "60m@2026-06-10T10:10:00Z")]


def test_stake_escalation_needs_the_three_within_the_hour() -> None:
    p = rg_player()
    assert (
        p.codes(
            *_history(),
            stake(utc("2026-06-10T10:10"), 3000, "EUR", jurisdiction="MGA"),
            stake(utc("2026-06-10T10:20"), 3000, "EUR", jurisdiction="MGA"),
            stake(utc("2026-06-10T11:10"), 3000, "EUR", jurisdiction="MGA"),
        )
        == []
    )


def test_night_play_more_than_half_of_the_day_in_local_night() -> None:
    p = rg_player()
    # Malta is UTC+2 in June: 01:00 and 12:00 local on 10 June; 100.00 of 199.99 at night
    fired = p.feed(
        stake(utc("2026-06-09T23:00"), 10000, "EUR", jurisdiction="MGA"),
        stake(utc("2026-06-10T10:00"), 9999, "EUR", jurisdiction="MGA"),
        stake(utc("2026-06-10T22:30"), 100, "EUR", jurisdiction="MGA"),  # 00:30 on 11 June
    )
    assert fired == [("night_play", "day:2026-06-10")]
    half = rg_player()
    assert (
        half.codes(
            stake(utc("2026-06-09T23:00"), 10000, "EUR", jurisdiction="MGA"),
            stake(utc("2026-06-10T10:00"), 10000, "EUR", jurisdiction="MGA"),
            stake(utc("2026-06-10T22:30"), 100, "EUR", jurisdiction="MGA"),
        )
        == []
    )


def test_night_play_on_the_day_clocks_go_forward() -> None:
    p = rg_player()
    # 29 March in Malta: 00:30 UTC is 01:30 CET (night); 04:30 UTC is 06:30 CEST (day), so half
    # the stakes are at night, not more (with a fixed UTC+1, 04:30 UTC would look like 05:30)
    assert (
        p.codes(
            stake(utc("2026-03-29T00:30"), 5000, "EUR", jurisdiction="MGA"),
            stake(utc("2026-03-29T04:30"), 5000, "EUR", jurisdiction="MGA"),
            stake(utc("2026-03-30T10:00"), 100, "EUR", jurisdiction="MGA"),
        )
        == []
    )


def test_long_session_over_three_hours_without_logout() -> None:
    p = rg_player()
    assert (
        p.codes(
            session(utc("2026-06-10T10:00"), "login"), session(utc("2026-06-10T13:00"), "heartbeat")
        )
        == []
    )
    assert p.feed(session(utc("2026-06-10T13:00:01"), "heartbeat")) == [
        ("long_session", "session:s1")
    ]
    assert p.codes(session(utc("2026-06-10T13:30"), "heartbeat")) == []


def test_withdrawal_reversal_when_half_the_cancelled_amount_is_staked() -> None:
    p = rg_player()
    assert (
        p.codes(
            withdrawal(utc("2026-06-10T10:00"), 10000, "cancelled", payment_id="w-9"),
            stake(utc("2026-06-10T10:30"), 3000),
        )
        == []
    )
    assert p.feed(stake(utc("2026-06-10T11:00"), 2000)) == [
        ("withdrawal_reversal", "withdrawal:w-9")
    ]
    later = rg_player()
    assert (
        later.codes(
            withdrawal(utc("2026-06-10T10:00"), 10000, "cancelled"),
            stake(utc("2026-06-11T10:00:01"), 10000),
        )
        == []
    )


def test_three_failed_deposits_within_an_hour() -> None:
    p = rg_player()
    fired = p.feed(
        *[
            deposit(utc(t), 1000, status="failed")
            for t in ("2026-06-10T10:00", "2026-06-10T10:30", "2026-06-10T10:59:59")
        ]
    )
    assert fired == [("failed_deposits", "60m@2026-06-10T10:00:00Z")]
    spread = rg_player()
    assert (
        spread.codes(
            *[
                deposit(utc(t), 1000, status="failed")
                for t in ("2026-06-10T10:00", "2026-06-10T10:30", "2026-06-10T11:00")
            ]
        )
        == []
    )


def test_level_sums_the_active_markers() -> None:
    p = rg_player()
    p.codes(
        deposit(utc("2026-06-01T10:00"), 15000),  # financial vulnerability: weight 2
        session(utc("2026-06-01T11:00"), "login"),
        session(utc("2026-06-01T14:30"), "heartbeat"),
    )  # long session: weight 1
    model = rg.read_model(p.state["rg"], utc("2026-06-01T15:00"), RISK.rules("t1", "UKGC"))
    assert model["level"] == 3
    assert model["markers"] == "financial_vulnerability,long_session"
    # 30 days later both markers have expired
    later = rg.read_model(p.state["rg"], utc("2026-07-02T15:00"), RISK.rules("t1", "UKGC"))
    assert (later["level"], later["markers"]) == (0, "")


def test_replay_fires_nothing_twice() -> None:
    p = rg_player()
    events = [deposit(utc("2026-06-01T10:00"), 15000)]
    assert p.codes(*events) == ["financial_vulnerability"]
    assert p.codes(*events) == []
