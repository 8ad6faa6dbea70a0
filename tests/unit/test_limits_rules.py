"""Limit rules on hand-built days; expected values worked out in the comments (local times)."""

from __future__ import annotations

from tests.unit.rules_helpers import Player, deposit, limit, payout, session, stake, utc


def test_deposit_day_limit_fires_once_past_the_limit_and_resets_at_local_midnight() -> None:
    p = Player("limits.breach")
    p.feed(limit(utc("2026-06-10T08:00"), "deposit", "day", 10000))
    # 60 + 40 = 100.00 is the limit, not past it
    assert (
        p.feed(deposit(utc("2026-06-10T09:00"), 6000), deposit(utc("2026-06-10T10:00"), 4000)) == []
    )
    assert p.feed(deposit(utc("2026-06-10T11:00"), 1)) == [("deposit_limit_day", "day:2026-06-10")]
    assert p.feed(deposit(utc("2026-06-10T12:00"), 500)) == []  # once per window
    # 23:30 UTC is 00:30 BST on 11 June: a new day, 100.00 used, not past
    assert p.feed(deposit(utc("2026-06-10T23:30"), 10000)) == []
    model = p.limits_model(utc("2026-06-10T23:30"))
    assert model["deposit_day_used"] == 10000
    assert model["deposit_day_remaining"] == 0
    assert model["deposit_day_resets_at_ms"] == utc("2026-06-11T23:00")  # midnight BST
    breach = p.signals[0]
    assert (breach.topic, breach.value_minor, breach.threshold_minor) == (
        "limits.breach",
        10001,
        10000,
    )


def test_germany_monthly_cap_binds_below_a_higher_own_limit() -> None:
    p = Player("limits.breach")
    p.feed(limit(utc("2026-05-01T10:00"), "deposit", "month", 200000, jurisdiction="DE"))
    assert p.feed(deposit(utc("2026-05-02T10:00"), 60000, "EUR", jurisdiction="DE")) == []
    fired = p.feed(deposit(utc("2026-05-03T10:00"), 50000, "EUR", jurisdiction="DE"))
    assert fired == [("deposit_limit_month", "month:2026-05")]
    assert (p.signals[0].value_minor, p.signals[0].threshold_minor) == (110000, 100000)
    model = p.limits_model(utc("2026-05-03T10:00"), "DE")
    assert model["deposit_month_limit"] == 100000
    assert model["deposit_month_remaining"] == 0
    assert model["deposit_remaining"] == 0
    assert model["deposit_month_resets_at_ms"] == utc("2026-05-31T22:00")  # 1 June, 00:00 CEST


def test_germany_cap_applies_without_any_own_limit_and_months_are_berlin_months() -> None:
    p = Player("limits.breach")
    # 23:30 CEST on 30 April and 00:30 CEST on 1 May: two months, 900 each, cap 1,000 → nothing
    # (in UTC both are 30 April: 1,800 would be past the cap)
    assert p.feed(deposit(utc("2026-04-30T21:30"), 90000, "EUR", jurisdiction="DE")) == []
    assert p.feed(deposit(utc("2026-04-30T22:30"), 90000, "EUR", jurisdiction="DE")) == []
    fired = p.feed(deposit(utc("2026-05-20T12:00"), 10001, "EUR", jurisdiction="DE"))
    assert fired == [("deposit_limit_month", "month:2026-05")]


def test_an_increase_waits_24_hours_a_decrease_applies_at_once() -> None:
    p = Player("limits.breach")
    p.feed(limit(utc("2026-06-10T08:00"), "deposit", "day", 10000))
    p.feed(limit(utc("2026-06-10T09:00"), "deposit", "day", 50000))  # raise: after 24 h
    assert p.feed(deposit(utc("2026-06-10T10:00"), 20000)) == [
        ("deposit_limit_day", "day:2026-06-10")
    ]
    model = p.limits_model(utc("2026-06-10T10:00"))
    assert (model["deposit_day_limit"], model["deposit_day_pending_limit"]) == (10000, 50000)
    assert model["deposit_day_pending_at_ms"] == utc("2026-06-11T09:00")
    assert p.feed(deposit(utc("2026-06-11T09:30"), 40000)) == []  # 50,000 applies now
    p.feed(limit(utc("2026-06-11T10:00"), "deposit", "day", 30000))  # lower: at once
    assert p.feed(deposit(utc("2026-06-11T10:30"), 1)) == [("deposit_limit_day", "day:2026-06-11")]


def test_sweden_increase_waits_72_hours_and_for_the_period_to_end() -> None:
    p = Player("limits.breach")
    p.feed(limit(utc("2026-03-09T10:00"), "deposit", "week", 100000, jurisdiction="SE"))
    # Tuesday 10 March: +72 h is Friday 13 March; the week ends Monday 16 March 00:00 CET
    p.feed(limit(utc("2026-03-10T10:00"), "deposit", "week", 300000, jurisdiction="SE"))
    model = p.limits_model(utc("2026-03-10T10:00"), "SE")
    assert model["deposit_week_pending_at_ms"] == utc("2026-03-15T23:00")
    # Friday 13 March: +72 h (Monday 10:00 UTC) is later than the week's end
    p.feed(limit(utc("2026-03-13T10:00"), "deposit", "week", 400000, jurisdiction="SE"))
    model = p.limits_model(utc("2026-03-13T10:00"), "SE")
    assert model["deposit_week_pending_at_ms"] == utc("2026-03-16T10:00")
    assert model["deposit_week_limit"] == 100000


def test_germany_increase_waits_seven_days() -> None:
    p = Player("limits.breach")
    p.feed(limit(utc("2026-06-01T10:00"), "wager", "day", 5000, jurisdiction="DE"))
    p.feed(limit(utc("2026-06-02T10:00"), "wager", "day", 9000, jurisdiction="DE"))
    model = p.limits_model(utc("2026-06-02T10:00"), "DE")
    assert model["wager_day_pending_at_ms"] == utc("2026-06-09T10:00")


def test_self_exclusion_blocks_until_its_end_and_cannot_be_shortened() -> None:
    p = Player("limits.breach")
    p.feed(
        limit(
            utc("2026-06-10T08:00"), "self_exclusion", "none", None, until=utc("2026-06-12T08:00")
        )
    )
    p.feed(
        limit(
            utc("2026-06-10T09:00"), "self_exclusion", "none", None, until=utc("2026-06-10T12:00")
        )
    )
    assert p.feed(stake(utc("2026-06-11T12:00"), 100)) == [("self_exclusion", "day:2026-06-11")]
    assert p.feed(session(utc("2026-06-11T13:00"), "login")) == []  # same day: once
    assert p.feed(deposit(utc("2026-06-12T09:00"), 100)) == []  # over
    assert p.limits_model(utc("2026-06-11T12:00"))["blocked_until_ms"] == utc("2026-06-12T08:00")


def test_loss_limit_counts_stakes_minus_winnings() -> None:
    p = Player("limits.breach")
    p.feed(limit(utc("2026-06-10T08:00"), "loss", "day", 5000))
    # 30 staked, 20 won back: loss 10; +40 staked: 50 = the limit; +0.01: past it
    assert (
        p.feed(
            stake(utc("2026-06-10T10:00"), 3000, bet_id="x1"),
            payout(utc("2026-06-10T10:05"), 2000, "x1"),
            stake(utc("2026-06-10T10:10"), 4000),
        )
        == []
    )
    assert p.feed(stake(utc("2026-06-10T10:20"), 1)) == [("loss_limit_day", "day:2026-06-10")]
    assert p.limits_model(utc("2026-06-10T10:20"))["loss_day_used"] == 5001


def test_session_time_is_split_at_local_midnight() -> None:
    p = Player("limits.breach")
    p.feed(limit(utc("2026-06-10T08:00"), "session_time", "day", 60))
    # login 23:30 BST; 00:20 BST: 30 min on 10 June, 20 on 11 June; 01:00 BST: 60 on 11 June
    assert (
        p.feed(
            session(utc("2026-06-10T22:30"), "login"),
            session(utc("2026-06-10T23:20"), "heartbeat"),
            session(utc("2026-06-11T00:00"), "heartbeat"),
        )
        == []
    )
    assert p.feed(session(utc("2026-06-11T00:01"), "heartbeat")) == [
        ("session_time_limit_day", "day:2026-06-11")
    ]
    assert p.state["limits"]["used"]["session_time"]["day:2026-06-10"] == 30 * 60_000
    assert p.limits_model(utc("2026-06-11T00:01"))["session_time_day_used"] == 61 * 60_000


def test_day_window_on_the_25_hour_day_when_british_summer_time_ends() -> None:
    p = Player("limits.breach")
    p.feed(limit(utc("2026-10-20T08:00"), "deposit", "day", 10000))
    # 23:30 BST on 24 Oct, then 00:30 BST on 25 Oct: two days
    assert (
        p.feed(deposit(utc("2026-10-24T22:30"), 6000), deposit(utc("2026-10-24T23:30"), 6000)) == []
    )
    # 23:30 GMT on 25 Oct is still 25 Oct (a 25-hour day): 12,000 > 10,000
    assert p.feed(deposit(utc("2026-10-25T23:30"), 6000)) == [
        ("deposit_limit_day", "day:2026-10-25")
    ]
    assert p.limits_model(utc("2026-10-25T23:30"))["deposit_day_resets_at_ms"] == utc(
        "2026-10-26T00:00"
    )


def test_week_window_across_the_spring_clock_change() -> None:
    p = Player("limits.breach")
    p.feed(limit(utc("2026-03-20T08:00"), "deposit", "week", 15000))
    # Sunday 29 March 23:30 BST and Monday 30 March 00:30 BST: two ISO weeks
    assert (
        p.feed(deposit(utc("2026-03-29T22:30"), 10000), deposit(utc("2026-03-29T23:30"), 10000))
        == []
    )
    assert p.state["limits"]["used"]["deposit"]["week:2026-03-30"] == 10000


def test_replayed_events_change_nothing() -> None:
    p = Player("limits.breach")
    events = [
        limit(utc("2026-06-10T08:00"), "deposit", "day", 10000),
        deposit(utc("2026-06-10T09:00"), 10001),
    ]
    assert p.feed(*events) == [("deposit_limit_day", "day:2026-06-10")]
    assert p.feed(*events) == []
    assert p.limits_model(utc("2026-06-10T09:00"))["deposit_day_used"] == 10001
