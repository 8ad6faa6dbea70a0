"""A bonus followed end to end on the real stack: ledger legs on ledger.cdc and stakes on
bet.placed → worker → the player's "wagered X of Y" in Redis and bonus.wagering → ClickHouse
sink → the analysts' `bonus_wagering` mart; one bonus to conversion, one to forfeit, and the
whole input redelivered without changing a figure."""

from __future__ import annotations

import time
import uuid

import pytest

from sinks.read_models import model_key
from tests.integration.test_kpi_marts import Script, send_all
from tests.unit.rules_helpers import utc

pytestmark = pytest.mark.integration
D = "2026-06-10"


def stake(script: Script, when: str, player: str, amount: int, product: str) -> None:
    script.records.append(("bet.placed", {
        "event_id": str(uuid.uuid4()), "occurred_at": utc(when), "tenant_id": script.tenant,
        "brand_id": "b1", "jurisdiction": "UKGC", "player_id": player, "trace_id": None,
        "bet_id": f"{player}-{len(script.records)}", "product": product, "provider": "evo",
        "market_id": "m", "stake_minor": amount, "bonus_stake_minor": 0, "currency": "GBP",
        "odds": None, "event_start_at": None,
    }))  # fmt: skip


def bonus_day(tenant: str) -> tuple[Script, int]:
    """UKGC terms: 10x; casino and sportsbook count 100 %, live casino 10 %. The records up
    to the returned index are the grants and stakes, the rest the ledger closing two bonuses:
    sent apart, because the worker reads ledger.cdc and bet.placed in no fixed order, and a
    stake that arrives after its bonus closed counts for nothing."""
    s = Script(tenant)
    s.post(f"{D}T09:00", "ann", "bonus_grant", 500)  # 5,000 to wager
    stake(s, f"{D}T09:10", "ann", 2000, "casino")  # 2,000
    stake(s, f"{D}T09:20", "ann", 10000, "live_casino")  # 1,000 → 3,000
    stake(s, f"{D}T09:30", "ann", 2500, "sportsbook")  # 5,000 (500 of it past the need)
    s.post(f"{D}T10:00", "ben", "bonus_grant", 300)  # 3,000 to wager
    stake(s, f"{D}T10:10", "ben", 1200, "casino")
    s.post(f"{D}T12:00", "cat", "bonus_grant", 1000)  # 10,000 to wager
    stake(s, f"{D}T12:05", "cat", 4321, "casino")
    opened = len(s.records)
    s.post(f"{D}T12:40", "ann", "bonus_convert", 500)
    s.post(f"{D}T13:00", "ben", "bonus_forfeit", 300)
    return s, opened


def send_slice(producer, script: Script, start: int, end: int | None = None) -> None:
    part = Script(script.tenant)
    part.records = script.records[start:end]
    send_all(producer, part)


WANT_MART = [
    {"player_id": "ann", "status": "converted", "bonus_minor": 500, "multiplier": 10,
     "required_minor": 5000, "wagered_minor": 5000, "remaining_minor": 0,
     "progress_ppm": 1000000, "day": D},
    {"player_id": "ben", "status": "forfeited", "bonus_minor": 300, "multiplier": 10,
     "required_minor": 3000, "wagered_minor": 1200, "remaining_minor": 1800,
     "progress_ppm": 400000, "day": D},
    {"player_id": "cat", "status": "active", "bonus_minor": 1000, "multiplier": 10,
     "required_minor": 10000, "wagered_minor": 4321, "remaining_minor": 5679,
     "progress_ppm": 432100, "day": D},
]  # fmt: skip


def test_bonus_from_grant_to_conversion_and_forfeit_in_redis_and_the_mart(
    worker,
    sink,
    producer,
    redis_client,
    stack,
):
    tenant = f"bonus{uuid.uuid4().hex[:8]}"
    script, opened = bonus_day(tenant)
    send_slice(producer, script, 0, opened)

    def model(player: str) -> dict[str, str]:
        return redis_client.hgetall(model_key(stack.redis_prefix, tenant, "bonus", player))

    def mart() -> list[dict]:
        return sink.query(
            "SELECT player_id, status, bonus_minor, multiplier, required_minor, wagered_minor,"
            " remaining_minor, progress_ppm, toString(day) AS day FROM wagerstream.bonus_wagering"
            f" WHERE tenant_id = '{tenant}' ORDER BY player_id"
        )

    def wagered() -> list[str | None]:
        return [model(p).get("wagered_minor") for p in ("ann", "ben", "cat")]

    deadline = time.monotonic() + 180
    while wagered() != ["5000", "1200", "4321"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert wagered() == ["5000", "1200", "4321"]
    assert model("ann")["status"] == "completed"
    send_slice(producer, script, opened)
    deadline = time.monotonic() + 180
    while (model("cat").get("wagered_minor") != "4321" or mart() != WANT_MART) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
    cat = model("cat")
    assert {k: cat[k] for k in ("status", "bonus_minor", "required_minor", "wagered_minor",
                                "remaining_minor", "open_bonuses", "currency")} == {
        "status": "active", "bonus_minor": "1000", "required_minor": "10000",
        "wagered_minor": "4321", "remaining_minor": "5679", "open_bonuses": "1",
        "currency": "GBP",
    }  # fmt: skip
    assert (model("ann")["status"], model("ann")["converted"]) == ("converted", "1")
    assert (model("ben")["status"], model("ben")["wagered_minor"]) == ("forfeited", "1200")
    assert model("nobody") == {}
    assert mart() == WANT_MART

    # every record again, twice (a replay): no figure moves
    send_all(producer, script)
    send_all(producer, script)
    worker.wait_caught_up(timeout=300)
    deadline = time.monotonic() + 120
    while sink.query(
        "SELECT count() AS n FROM wagerstream.bonus_progress"
        f" WHERE tenant_id = '{tenant}'"
    ) != [{"n": 3}] and time.monotonic() < deadline:  # fmt: skip
        time.sleep(1)
    assert mart() == WANT_MART
    assert model("cat")["wagered_minor"] == "4321"
