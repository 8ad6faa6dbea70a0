"""Bonus wagering followed from grant to conversion and to forfeit, worked out by hand with
the packaged terms (risk.toml): UKGC 10x, MGA 35x; sportsbook and casino count 100 %, live
casino 10 %, poker nothing."""

from __future__ import annotations

import tomllib

import pytest

from agents.rules import wagering
from agents.rules.config import DEFAULT_FILE, ConfigError, RiskConfig
from tests.unit.rules_helpers import Player, bonus_leg, payout, stake, utc

DAY = "2026-06-10"


def bet(ts: int, amount: int, product: str, bet_id: str, currency: str = "GBP",
        jurisdiction: str = "UKGC", bonus_part: int = 0) -> tuple[str, dict]:  # fmt: skip
    stem, event = stake(ts, amount, currency=currency, jurisdiction=jurisdiction, bet_id=bet_id)
    event.update(product=product, bonus_stake_minor=bonus_part)
    return stem, event


def void(ts: int, bet_id: str) -> tuple[str, dict]:
    stem, event = payout(ts, 0, bet_id)
    event["outcome"] = "void"
    return stem, event


def progress(p: Player) -> list[tuple[str, int, int, int]]:
    """(status, wagered, required, revision) of every bonus.wagering record, in order."""
    return [
        (r.value["status"], r.value["wagered_minor"], r.value["required_minor"],
         r.value["revision"])
        for r in p.sends if r.topic == wagering.TOPIC
    ]  # fmt: skip


def model(p: Player) -> dict:
    st = p.state["bonus"]
    return wagering.read_model(st, 0, None, None)  # type: ignore[arg-type]


def test_a_ukgc_bonus_from_grant_to_conversion() -> None:
    p = Player()
    p.feed(
        bonus_leg(utc(f"{DAY}T09:00"), "bonus_grant", 1000),  # GBP 10, 10x: GBP 100 to wager
        bet(utc(f"{DAY}T08:59"), 5000, "casino", "early"),  # before the grant: counts nothing
        bet(utc(f"{DAY}T09:10"), 3000, "casino", "c1"),  # 100 %: 3,000
        bet(utc(f"{DAY}T09:20"), 4000, "live_casino", "l1", bonus_part=500),  # 10 % of 4,500
        bet(utc(f"{DAY}T09:30"), 9000, "poker", "p1"),  # 0 %: no record at all
        bet(utc(f"{DAY}T09:40"), 5000, "sportsbook", "s1"),  # 3,450 + 5,000 = 8,450
    )
    assert model(p) == {
        "bonus_id": p.state["bonus"]["bonuses"][0]["id"], "status": "active", "currency": "GBP",
        "bonus_minor": 1000, "required_minor": 10000, "wagered_minor": 8450,
        "remaining_minor": 1550, "open_bonuses": 1, "converted": 0, "forfeited": 0,
        "updated_at_ms": utc(f"{DAY}T09:40"),
    }  # fmt: skip
    p.feed(
        bet(utc(f"{DAY}T10:00"), 2000, "casino", "c2"),  # fills 1,550 of it: completed
        bet(utc(f"{DAY}T10:05"), 2000, "casino", "c3"),  # nothing open: counts nothing
        bonus_leg(utc(f"{DAY}T10:10"), "bonus_convert", -1000),
    )
    assert progress(p) == [
        ("active", 0, 10000, 1),
        ("active", 3000, 10000, 2),
        ("active", 3450, 10000, 3),
        ("active", 8450, 10000, 4),
        ("completed", 10000, 10000, 5),
        ("converted", 10000, 10000, 6),
    ]
    assert (model(p)["status"], model(p)["converted"], model(p)["open_bonuses"]) == (
        "converted", 1, 0)  # fmt: skip


def test_a_void_gives_its_part_back_and_a_forfeit_closes_the_bonus() -> None:
    p = Player()
    p.feed(
        bonus_leg(utc(f"{DAY}T09:00"), "bonus_grant", 200),  # 10x: 2,000
        bet(utc(f"{DAY}T09:05"), 1500, "sportsbook", "s1"),
        bet(utc(f"{DAY}T09:06"), 800, "casino", "c1"),  # 500 of it: completed
        void(utc(f"{DAY}T09:07"), "c1"),  # back to 1,500: active again
        void(utc(f"{DAY}T09:08"), "c1"),  # the same settlement again: a duplicate, nothing
        bonus_leg(utc(f"{DAY}T09:30"), "bonus_forfeit", -200),
        void(utc(f"{DAY}T09:31"), "s1"),  # after the forfeit: the bonus stays as it closed
    )
    assert progress(p) == [
        ("active", 0, 2000, 1),
        ("active", 1500, 2000, 2),
        ("completed", 2000, 2000, 3),
        ("active", 1500, 2000, 4),
        ("forfeited", 1500, 2000, 5),
    ]
    assert (model(p)["status"], model(p)["forfeited"]) == ("forfeited", 1)


def test_bonuses_are_wagered_one_at_a_time_oldest_first() -> None:
    p = Player()
    p.feed(
        bonus_leg(utc(f"{DAY}T09:00"), "bonus_grant", 100, currency="EUR", jurisdiction="MGA"),
        bonus_leg(utc(f"{DAY}T09:01"), "bonus_grant", 50, currency="EUR", jurisdiction="MGA"),
        # MGA 35x: 3,500 then 1,750; 4,000 fills the first and its excess counts for nothing
        bet(utc(f"{DAY}T09:02"), 4000, "casino", "c1", currency="EUR", jurisdiction="MGA"),
        bet(utc(f"{DAY}T09:03"), 700, "casino", "c2", currency="EUR", jurisdiction="MGA"),
        bet(utc(f"{DAY}T09:04"), 700, "casino", "c3", currency="GBP", jurisdiction="MGA"),
    )
    bonuses = [(b["status"], b["wagered"], b["required"]) for b in p.state["bonus"]["bonuses"]]
    assert bonuses == [("completed", 3500, 3500), ("active", 700, 1750)]
    # the model shows the bonus being wagered: the second one
    assert (model(p)["open_bonuses"], model(p)["wagered_minor"], model(p)["required_minor"]) == (
        2, 700, 1750)  # fmt: skip


def test_a_replayed_grant_opens_nothing_twice() -> None:
    p = Player()
    grant = bonus_leg(utc(f"{DAY}T09:00"), "bonus_grant", 100)
    p.feed(grant, grant, bet(utc(f"{DAY}T09:05"), 300, "casino", "c1"), grant)
    assert progress(p) == [("active", 0, 1000, 1), ("active", 300, 1000, 2)]


def _raw() -> dict:
    return tomllib.loads(DEFAULT_FILE.read_text())


def test_a_multiplier_above_the_jurisdictions_cap_is_refused_at_load() -> None:
    raw = _raw()
    raw["tenant"] = {"white": {"jurisdiction": {"UKGC": {"wagering": {"multiplier": 20}}}}}
    with pytest.raises(ConfigError) as refused:
        RiskConfig(raw, "risk.toml")
    assert str(refused.value) == (
        "risk config risk.toml for tenant 'white', jurisdiction 'UKGC': wagering.multiplier 20 "
        "is above the jurisdiction's cap of 10 ([wagering_caps]): lower it to 10 or less"
    )
    raw["tenant"]["white"]["jurisdiction"]["UKGC"]["wagering"]["multiplier"] = 8
    raw["tenant"]["white"]["jurisdiction"]["MGA"] = {"wagering": {"multiplier": 50}}
    loaded = RiskConfig(raw, "risk.toml")  # no cap in MGA; 8x within the UKGC's
    assert loaded.rules("white", "UKGC").wagering.multiplier == 8
    assert loaded.rules("white", "MGA").wagering.multiplier == 50


def test_a_grant_that_arrives_after_its_stakes_claims_them() -> None:
    """Grants and stakes come on different topics: handled in this order, the stakes dated
    after the grant count once it arrives, oldest first; one dated before it never does, nor
    one that arrived more than 60 minutes (event time) behind the player's newest event."""
    p = Player()
    p.feed(
        bet(utc(f"{DAY}T08:50"), 700, "casino", "before"),  # dated before the grant
        bet(utc(f"{DAY}T09:05"), 600, "casino", "c1"),
        bet(utc(f"{DAY}T09:10"), 300, "live_casino", "l1"),  # 10 %: 30
        bet(utc(f"{DAY}T10:30"), 200, "casino", "c3"),
        bet(utc(f"{DAY}T09:20"), 5000, "casino", "stale"),  # 70 min behind 10:30: forgotten
        bonus_leg(utc(f"{DAY}T09:00"), "bonus_grant", 100),  # 10x: 1,000
        bet(utc(f"{DAY}T10:40"), 1000, "casino", "c4"),  # 170 of it completes the bonus
    )
    assert progress(p) == [
        ("active", 0, 1000, 1),
        ("active", 600, 1000, 2),
        ("active", 630, 1000, 3),
        ("active", 830, 1000, 4),
        ("completed", 1000, 1000, 5),
    ]
    p.feed(void(utc(f"{DAY}T10:45"), "c1"), void(utc(f"{DAY}T10:46"), "stale"))
    assert progress(p)[5:] == [("active", 400, 1000, 6)]
