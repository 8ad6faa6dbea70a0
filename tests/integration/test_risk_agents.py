"""Risk agents end to end: events in Kafka → worker → signals on their topics and read models
in Redis; exact signal lists, state through kill -9 with an empty state dir, and a replay of
all input that raises nothing twice."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer

from sinks.read_models import model_key
from tests.unit.rules_helpers import deposit, limit, payout, session, stake, utc
from topics.catalogue import SIGNAL_TOPICS
from topics.serde import AvroSerde

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_env() -> dict[str, str]:
    return {"WAGERSTREAM_STUCK_SCAN_S": "2"}


def tenant_events(
    tenant: str, player: str, events: list[tuple[str, dict]]
) -> list[tuple[str, dict]]:
    topics = {
        "payment_deposit": "payment.deposit",
        "bet_placed": "bet.placed",
        "player_session": "player.session",
        "player_limit": "player.limit",
        "bet_settled": "bet.settled",
    }
    return [(topics[stem], {**e, "tenant_id": tenant, "player_id": player}) for stem, e in events]


class SignalReader:
    """Everything on the signal topics for one tenant, read from the beginning each time."""

    def __init__(self, bootstrap: str, serde: AvroSerde, tenant: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"sig-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe(list(SIGNAL_TOPICS))
        self.serde = serde
        self.tenant = tenant
        self.seen: list[dict[str, Any]] = []

    def poll(self, seconds: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            _, record = self.serde.decode(msg.value())
            if record["tenant_id"] == self.tenant:
                self.seen.append({**record, "topic": msg.topic()})
        return self.seen

    def distinct(self) -> Counter:
        """Signals per (topic, player, code), each `signal_id` once: delivery is at least
        once, so a crash may resend a signal, always under its one id (README, *Risk rules*)."""
        by_id = {s["signal_id"]: s for s in self.seen}
        return Counter((s["topic"], s["player_id"], s["code"]) for s in by_id.values())

    def wait_for(self, want: Counter, timeout: float = 120) -> Counter:
        deadline = time.monotonic() + timeout
        got = Counter()
        while time.monotonic() < deadline:
            self.poll(1)
            got = self.distinct()
            if got == want:
                return got
        return got


def wait_for_model(read: Callable[[], str | None], want: str, timeout: float = 30) -> None:
    """Until `read()` returns `want`; then the test's own assertions read the model."""
    deadline = time.monotonic() + timeout
    while read() != want and time.monotonic() < deadline:
        time.sleep(0.1)


def test_signals_and_read_models_survive_kill9_and_replay(
    machine, worker, producer, redis_client, stack, serde, tmp_path
):
    tenant = f"risk{uuid.uuid4().hex[:8]}"
    day = "2026-06-10"
    structuring = [
        deposit(utc(f"{day}T1{h}:00"), 170000, "EUR", jurisdiction="MGA") for h in (0, 4)
    ]
    third = deposit(utc(f"{day}T18:00"), 170000, "EUR", jurisdiction="MGA")
    sportsbook = stake(utc(f"{day}T09:00"), 2500, bet_id=f"{tenant}-sb")
    sportsbook[1].update(product="sportsbook", event_start_at=utc(f"{day}T10:00"))
    later = payout(utc(f"{day}T16:30"), 0, bet_id=f"{tenant}-other")  # an event, no new open bet
    quiet = stake(utc(f"{day}T09:00"), 700, bet_id=f"{tenant}-quiet")
    quiet[1].update(product="sportsbook", event_start_at=utc(f"{day}T10:00"))
    events = [
        *tenant_events(
            tenant,
            "limited",
            [
                limit(utc(f"{day}T08:00"), "deposit", "day", 10000),
                deposit(utc(f"{day}T09:00"), 6000),
                deposit(utc(f"{day}T10:00"), 4001),
            ],
        ),
        *tenant_events(tenant, "structurer", structuring),
        *[
            e
            for p in ("c1", "c2", "c3")
            for e in tenant_events(
                tenant,
                p,
                [
                    deposit(
                        utc(f"{day}T12:00"),
                        1000,
                        "EUR",
                        jurisdiction="MGA",
                        instrument=f"{tenant}-card",
                    )
                ],
            )
        ],
        *tenant_events(tenant, "punter", [sportsbook, later]),  # 6 h 30 after kick-off
        *tenant_events(tenant, "quiet", [quiet]),  # found by the timer, not by an event
        *tenant_events(
            tenant,
            "marathon",
            [session(utc(f"{day}T10:00"), "login"), session(utc(f"{day}T13:00:01"), "heartbeat")],
        ),
    ]

    def model(kind: str, player: str) -> dict[str, str]:
        return redis_client.hgetall(model_key(stack.redis_prefix, tenant, kind, player))

    # Topics are consumed in no fixed interleaving, so a limit is in force once the worker has
    # processed it, not from its occurred_at: set it first, as a player would.
    setup, events = events[:1], events[1:]
    producer.send(*setup[0])
    producer.flush()
    deadline = time.monotonic() + 60
    while model("limits", "limited").get("deposit_day_limit") != "10000":
        assert time.monotonic() < deadline, "the limit never reached the read model"
        time.sleep(0.2)
    for topic, record in events:
        producer.send(topic, record)
    producer.flush()

    reader = SignalReader(stack.kafka, serde, tenant)
    want = Counter(
        {
            ("limits.breach", "limited", "deposit_limit_day"): 1,
            ("aml.alert", "structurer", "aml_threshold_24h"): 1,
            ("aml.alert", "c1", "shared_instrument"): 1,
            ("aml.alert", "c2", "shared_instrument"): 1,
            ("aml.alert", "c3", "shared_instrument"): 1,
            ("settlement.alert", "punter", "stuck_bet"): 1,
            ("settlement.alert", "quiet", "stuck_bet"): 1,
            ("rg.signal", "marathon", "long_session"): 1,
        }
    )
    assert reader.wait_for(want) == want
    # a batch sends its signals before it writes its read models: Redis may trail the topic
    wait_for_model(lambda: model("bets", "quiet").get("stuck_count"), "1")
    wait_for_model(lambda: model("aml", "c2").get("last_code"), "shared_instrument")

    limits = model("limits", "limited")
    assert (
        limits["deposit_day_limit"],
        limits["deposit_day_used"],
        limits["deposit_day_remaining"],
    ) == ("10000", "10001", "0")
    assert limits["last_breach_code"] == "deposit_limit_day"
    assert model("bets", "quiet")["stuck_count"] == "1"  # flagged by the timer
    assert model("bets", "punter")["stuck_count"] == "1"  # flagged at the player's event
    assert model("rg", "marathon")["level"] == "1"
    assert model("rg", "marathon")["markers"] == "long_session"
    assert model("aml", "c2")["last_code"] == "shared_instrument"
    punter = next(s for s in reader.seen if s["player_id"] == "punter")
    assert (punter["window"], punter["value_minor"]) == (f"bet:{tenant}-sb", 2500)

    # kill -9 after the first two structuring deposits were processed (and committed), restart
    # on an empty state dir: the third deposit still completes the pattern, from the changelog
    time.sleep(6)  # past the commit interval
    worker.kill9()
    worker.state_dir = tmp_path / "state-after-crash"
    worker.start()
    producer.send("payment.deposit", {**third[1], "tenant_id": tenant, "player_id": "structurer"})
    producer.flush()
    want[("aml.alert", "structurer", "structuring")] = 1
    assert reader.wait_for(want) == want
    found = next(s for s in reader.seen if s["code"] == "structuring")
    assert (found["value_minor"], found["threshold_minor"], len(found["evidence"])) == (
        510000,
        200000,
        3,
    )
    assert model("aml", "structurer") == {
        **model("aml", "structurer"),
        "cdd_required": "1",
        "open_alerts": "2",
        "last_code": "structuring",
    }

    # replay all input (no crash this time): not one signal record more, read models unchanged
    before = {p: model("limits", p) for p in ("limited",)}
    records_before = len(reader.poll(3))
    for topic, record in setup + events:
        producer.send(topic, record)
    producer.flush()
    worker.wait_caught_up()
    time.sleep(3)
    assert len(reader.poll(3)) == records_before
    assert reader.distinct() == want
    # A replayed event writes its read models again from the state (the fix for a crash
    # between a state write and the Redis write after it, README *State, changelogs and
    # commits*), under this worker's version: every field is as before, the version no older.
    after = {p: model("limits", p) for p in ("limited",)}
    assert {p: {k: v for k, v in m.items() if k != "version"} for p, m in after.items()} == {
        p: {k: v for k, v in m.items() if k != "version"} for p, m in before.items()
    }
    assert int(after["limited"]["version"]) >= int(before["limited"]["version"])
