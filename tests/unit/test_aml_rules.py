"""AML rules: EUR 2,000 CDD threshold (single, 24 h, session), structuring, rapid in/out,
velocity, third-party deposits, shared instruments; amounts in EUR unless said."""

from __future__ import annotations

import time

from agents.rules import aml
from tests.unit.rules_helpers import RISK, Player, deposit, session, stake, utc, withdrawal


def aml_player() -> Player:
    return Player("aml.alert")


def eur_deposit(at: str, amount: int, **kw: object) -> tuple[str, dict]:
    return deposit(utc(at), amount, "EUR", jurisdiction="MGA", **kw)  # type: ignore[arg-type]


def eur_stake(at: str, amount: int) -> tuple[str, dict]:
    return stake(utc(at), amount, "EUR", jurisdiction="MGA")


def test_single_transaction_reaching_eur_2000() -> None:
    p = aml_player()
    big = eur_deposit("2026-06-10T10:00", 200000)
    assert p.feed(big) == [("aml_threshold", f"deposit:{big[1]['event_id']}")]
    assert aml.read_model(p.state["aml"], utc("2026-06-10T10:00"), RISK.rules("t1", "MGA")) == {
        "cdd_required": 1,
        "open_alerts": 1,
        "last_code": "aml_threshold",
    }
    assert aml_player().feed(eur_deposit("2026-06-10T10:00", 199999)) == []


def test_threshold_in_pounds_is_converted_to_euros() -> None:
    # 1 GBP = 1.15 EUR in the test table: 1,740.00 GBP = 2,001.00 EUR; 1,739.12 GBP = 1,999.99 EUR
    assert aml_player().codes(deposit(utc("2026-06-10T10:00"), 174000)) == ["aml_threshold"]
    assert aml_player().codes(deposit(utc("2026-06-10T10:00"), 173912)) == []


def test_linked_stakes_within_24_hours() -> None:
    p = aml_player()
    fired = p.feed(eur_stake("2026-06-10T10:00", 100000), eur_stake("2026-06-10T20:00", 100000))
    assert fired == [("aml_threshold_24h", "24h:stake@2026-06-10T10:00:00Z")]
    assert (
        aml_player().codes(
            eur_stake("2026-06-10T10:00", 100000), eur_stake("2026-06-10T20:00", 99999)
        )
        == []
    )
    assert (
        aml_player().codes(
            eur_stake("2026-06-10T10:00", 100000), eur_stake("2026-06-11T10:00:00.001", 100000)
        )
        == []
    )


def test_linked_within_one_long_session() -> None:
    p = aml_player()
    fired = p.feed(
        session(utc("2026-06-10T08:00"), "login", jurisdiction="MGA"),
        eur_stake("2026-06-10T08:30", 100000),
        eur_stake("2026-06-11T09:00", 100000),  # 24 h 30 min later, same session
    )
    assert fired == [("aml_threshold_session", "session:s1:stake@2026-06-10T08:30:00Z")]


def test_structuring_three_deposits_between_80_and_100_percent() -> None:
    p = aml_player()
    fired = p.feed(
        eur_deposit("2026-06-10T10:00", 170000),
        eur_deposit("2026-06-10T14:00", 170000),  # 3,400 linked in 24 h
        eur_deposit("2026-06-10T18:00", 170000),  # third near-threshold deposit
    )
    assert fired == [
        ("aml_threshold_24h", "24h:deposit@2026-06-10T10:00:00Z"),
        ("structuring", "24h@2026-06-10T10:00:00Z"),
    ]
    structuring = p.signals[1]
    assert (structuring.value_minor, structuring.threshold_minor) == (510000, 200000)


def test_structuring_near_misses() -> None:
    two = aml_player()  # two deposits of 1,900 are linked, not structuring
    assert two.codes(
        eur_deposit("2026-06-10T10:00", 190000), eur_deposit("2026-06-10T11:00", 190000)
    ) == ["aml_threshold_24h"]
    low = aml_player()  # 1,599.99 is below 80 %
    assert "structuring" not in low.codes(
        *[eur_deposit(f"2026-06-10T1{h}:00", 159999) for h in range(3)]
    )


def _request(at: str, payment_id: str | None = None) -> tuple[str, dict]:
    return withdrawal(utc(at), 40000, "requested", "EUR", "MGA", payment_id=payment_id)


def _later(at: str) -> tuple[str, dict]:
    """Any event of the player, fed once the worker's clock is past the grace period."""
    return session(utc(at), "heartbeat", jurisdiction="MGA")


def grace_passed() -> int:
    """The worker's clock 31 s from now: past the default 30 s grace period."""
    return int(time.time() * 1000) + 31_000


def test_rapid_in_out_withdrawal_before_half_the_deposit_was_played() -> None:
    p = aml_player()
    fired = p.feed(
        eur_deposit("2026-06-10T10:00", 50000),
        eur_stake("2026-06-10T10:10", 24999),
        _request("2026-06-10T10:20", payment_id="w-7"),
    )
    assert fired == []  # judged after the grace period (or a watermark), in event time
    assert p.feed(_later("2026-06-10T10:22"), wall_ms=grace_passed()) == [
        ("rapid_in_out", "withdrawal:w-7")
    ]
    assert (p.signals[0].value_minor, p.signals[0].threshold_minor) == (24999, 50000)
    played = aml_player()
    played.feed(
        eur_deposit("2026-06-10T10:00", 50000),
        eur_stake("2026-06-10T10:10", 25000),
        _request("2026-06-10T10:20"),
    )
    assert played.feed(_later("2026-06-10T10:30"), wall_ms=grace_passed()) == []


def test_rapid_in_out_does_not_depend_on_arrival_order() -> None:
    # the request arrives first, the deposit and the stake (earlier in event time) after it:
    # Kafka does not order the payment topics against bet.placed; and a settlement far later
    # in event time arriving before them gives no verdict either
    p = aml_player()
    fired = p.feed(
        _request("2026-06-10T10:20", payment_id="w-8"),
        _later("2026-06-10T14:00"),
        eur_stake("2026-06-10T10:10", 25000),
        eur_deposit("2026-06-10T10:00", 50000),
    )
    assert fired == []
    assert p.feed(_later("2026-06-10T14:01"), wall_ms=grace_passed()) == []
    q = aml_player()
    q.feed(_request("2026-06-10T10:20", payment_id="w-9"), eur_deposit("2026-06-10T10:00", 50000))
    assert q.feed(_later("2026-06-10T10:23"), wall_ms=grace_passed()) == [
        ("rapid_in_out", "withdrawal:w-9")
    ]


def test_velocity_ten_deposits_in_an_hour() -> None:
    times = [f"2026-06-10T10:{m:02d}" for m in range(0, 50, 5)]  # 10:00 … 10:45
    p = aml_player()
    assert p.feed(*[eur_deposit(t, 1000) for t in times]) == [
        ("velocity", "60m@2026-06-10T10:00:00Z")
    ]
    assert aml_player().codes(*[eur_deposit(t, 1000) for t in times[:9]]) == []


def test_third_party_deposit() -> None:
    p = aml_player()
    assert p.feed(
        eur_deposit("2026-06-10T10:00", 1000, payment_id="d-3", payer_name_match=False)
    ) == [("third_party_deposit", "payment:d-3")]
    assert aml_player().codes(eur_deposit("2026-06-10T10:00", 1000, payer_name_match=None)) == []


def _use(player: str, at: str) -> dict:
    return {
        "player_id": player,
        "tenant_id": "t1",
        "brand_id": "b1",
        "jurisdiction": "MGA",
        "instrument_hash": "card-x",
        "event_id": f"e-{player}",
        "occurred_at": utc(at),
        "trace_id": None,
    }


def test_shared_instrument_three_players_within_30_days() -> None:
    cfg = RISK.rules("t1", "MGA")
    st: dict = {}
    assert aml.on_instrument_use(st, _use("a", "2026-06-01T10:00"), cfg) == []
    assert aml.on_instrument_use(st, _use("b", "2026-06-10T10:00"), cfg) == []
    hits = aml.on_instrument_use(st, _use("c", "2026-06-20T10:00"), cfg)
    assert [h["player_id"] for h in hits] == ["a", "b", "c"]
    assert hits[0]["players"] == ["a", "b", "c"]
    assert aml.on_instrument_use(st, _use("c", "2026-06-21T10:00"), cfg) == []  # each once
    assert [
        h["player_id"] for h in aml.on_instrument_use(st, _use("d", "2026-06-22T10:00"), cfg)
    ] == ["d"]
    stale: dict = {}
    aml.on_instrument_use(stale, _use("a", "2026-06-01T10:00"), cfg)
    aml.on_instrument_use(stale, _use("b", "2026-06-10T10:00"), cfg)
    assert (
        aml.on_instrument_use(stale, _use("c", "2026-07-01T10:00:01"), cfg) == []
    )  # a is 30 d + 1 s old


def test_replayed_deposits_raise_nothing_twice() -> None:
    p = aml_player()
    events = [eur_deposit("2026-06-10T10:00", 200000)]
    assert p.codes(*events) == ["aml_threshold"]
    assert p.codes(*events) == []
    # the same payment status under a new event id (an upstream retry) is not a new deposit
    retry = eur_deposit("2026-06-10T10:01", 200000, payment_id=events[0][1]["payment_id"])
    assert p.codes(retry) == []
