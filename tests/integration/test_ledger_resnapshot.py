"""A relay that lost its slot snapshots the ledger again, and what was committed while it had
none reaches `ledger.cdc` only as snapshot rows (op r): the rules judge those rows for the
players they already follow, past the newest entry they saw, and treat the rest as history.

Worked by hand (UKGC: loss chasing is a deposit ≤ 10 min after a stake took the cash balance
below 5 % of the day's peak): deposit 100.00 at 10:00, ten stakes of 10.00 from 10:01 to 10:10
(the tenth leaves 0.00 < 5.00), deposit 50.00 at 10:13, 3 minutes later → one
`loss_chasing` in window `chase@2026-06-10T10:10:00Z`. The chaser's first seven legs stream
(op c); the snapshot then holds all twelve, so 7 are already seen and 5 are judged. The
other player has the same day only in the snapshot: 12 legs of history, no signal.
"""

from __future__ import annotations

import time
import uuid

import pytest

from sinks.read_models import model_key
from tests.integration.test_kpi_marts import Script, send_all
from tests.integration.test_risk_agents import SignalReader
from tooling.promstats import scrape

pytestmark = pytest.mark.integration
D = "2026-06-10"
STREAMED = 7  # the chaser's legs before the relay lost its slot


def chase(script: Script, player: str) -> None:
    script.post(f"{D}T10:00", player, "deposit", 10000)
    for minute in range(1, 11):
        script.post(f"{D}T10:{minute:02d}", player, "stake", 1000)
    script.post(f"{D}T10:13", player, "deposit", 5000)


def as_snapshot(script: Script, lsn: int) -> Script:
    """The same rows as a new slot's snapshot publishes them: op r, the slot's consistent
    point as lsn, no transaction."""
    snapshot = Script(script.tenant)
    snapshot.records = [
        (topic, {**record, "op": "r", "lsn": lsn, "tx_id": 0}) for topic, record in script.records
    ]
    return snapshot


def player_legs(script: Script, player: str) -> list[tuple[str, dict]]:
    return [(t, r) for t, r in script.records if r["after"]["player_id"] == player]


def snapshot_rows(port: int) -> dict[str, float]:
    return {
        labels["outcome"]: value
        for labels, value in scrape(port, "wagerstream_ledger_snapshot_rows_total")
    }


def test_snapshot_rows_the_stream_never_carried_are_judged_once(
    worker, producer, redis_client, stack, serde
) -> None:
    tenant = f"resnap{uuid.uuid4().hex[:8]}"
    chaser, newcomer = "chaser", "history"
    day = Script(tenant)
    chase(day, chaser)
    chase(day, newcomer)
    legs = player_legs(day, chaser)
    assert len(legs) == 12 and len(player_legs(day, newcomer)) == 12

    def cash(player: str) -> str | None:
        return redis_client.hget(model_key(stack.redis_prefix, tenant, "wallet", player),
                                 "cash_minor")  # fmt: skip

    def wait_cash(player: str, want: str, what: str) -> None:
        deadline = time.monotonic() + 60
        while cash(player) != want:
            assert time.monotonic() < deadline, f"{what}: {player}'s cash is {cash(player)}"
            time.sleep(0.2)

    # the stream carries the chaser's first seven transfers (both legs), then the slot is lost
    cut = day.records.index(legs[STREAMED - 1]) + 2
    streamed = Script(tenant)
    streamed.records = [r for r in day.records[:cut] if r[1]["after"]["player_id"] != newcomer]
    send_all(producer, streamed)
    wait_cash(chaser, "4000", "the streamed legs never reached the projection")
    assert snapshot_rows(worker.port).get("judged", 0) == 0

    send_all(producer, as_snapshot(day, lsn=10**10))
    wait_cash(chaser, "5000", "the snapshot never reached the projection")
    wait_cash(newcomer, "5000", "the snapshot never reached the projection")

    reader = SignalReader(stack.kafka, serde, tenant)
    reader.poll(5)
    deadline = time.monotonic() + 60
    while not reader.seen and time.monotonic() < deadline:
        reader.poll(1)
    got = [(s["topic"], s["player_id"], s["code"], s["window"]) for s in reader.seen]
    assert got == [("rg.signal", chaser, "loss_chasing", f"chase@{D}T10:10:00Z")]
    assert snapshot_rows(worker.port) == {"judged": 5, "seen": 7, "history": 12}

    # the relay killed during its snapshot publishes it again: nothing is judged twice
    send_all(producer, as_snapshot(day, lsn=10**10))
    worker.wait_caught_up(120)
    assert snapshot_rows(worker.port) == {"judged": 5, "seen": 19, "history": 24}
    reader.poll(5)
    assert len(reader.seen) == 1
