"""The first slice end to end: bets in Kafka → settlement agent → Redis `bets` read model."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from loadgen.bets import generate
from sinks.read_models import model_key

pytestmark = pytest.mark.integration


def expected_open(events: list[tuple[str, dict]]) -> dict[str, tuple[int, int]]:
    """Worked out without the agent's logic: open = placed ids minus settled ids."""
    placed = {r["bet_id"]: r for t, r in events if t == "bet.placed"}
    settled = {r["bet_id"] for t, r in events if t == "bet.settled"}
    out: dict[str, tuple[int, int]] = {}
    for bet_id, r in placed.items():
        if bet_id in settled:
            continue
        count, stake = out.get(r["player_id"], (0, 0))
        out[r["player_id"]] = (count + 1, stake + r["stake_minor"] + r["bonus_stake_minor"])
    return out


def read_bets(redis_client, settings, tenant, players) -> dict[str, tuple[int, int]]:
    pipe = redis_client.pipeline(transaction=False)
    for p in players:
        pipe.hmget(
            model_key(settings.redis_prefix, tenant, "bets", p), "open_count", "open_stake_minor"
        )
    got = {}
    for p, (count, stake) in zip(players, pipe.execute(), strict=True):
        if count is not None and (int(count), int(stake)) != (0, 0):
            got[p] = (int(count), int(stake))
    return got


def wait_for(redis_client, settings, tenant, want, players, timeout=180.0):
    deadline = time.monotonic() + timeout
    got = read_bets(redis_client, settings, tenant, players)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.5)
        got = read_bets(redis_client, settings, tenant, players)
    for p in sorted(set(got) | set(want)):  # shown by pytest when the assertion fails
        if got.get(p) != want.get(p):
            key = model_key(settings.redis_prefix, tenant, "bets", p)
            print("differs", p, got.get(p), want.get(p), redis_client.hget(key, "version"))
    return got


def send(producer, events):
    for topic, record in events:
        producer.send(topic, record)
    producer.flush()


def test_open_bets_exact_and_survive_kill9_and_lost_local_state(
    worker, producer, redis_client, stack, tmp_path
):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    first = generate(tenant, bets=1500, players=60, seed=11)
    # a second batch for the same players: new bets, plus settlements of first-batch open bets
    second = generate(tenant, bets=1500, players=60, seed=12, start_ms=1_767_312_000_000)
    second.events = [(t, {**r, "bet_id": r["bet_id"] + "-b"}) for t, r in second.events]
    first_open = [
        r
        for t, r in first.events
        if t == "bet.placed"
        and r["bet_id"] not in {s["bet_id"] for tt, s in first.events if tt == "bet.settled"}
    ]
    late_settles = [
        (
            "bet.settled",
            {
                "event_id": str(uuid.uuid4()),
                "occurred_at": r["occurred_at"] + 10_000,
                "tenant_id": tenant,
                "brand_id": r["brand_id"],
                "jurisdiction": r["jurisdiction"],
                "player_id": r["player_id"],
                "trace_id": None,
                "bet_id": r["bet_id"],
                "outcome": "lost",
                "payout_minor": 0,
                "currency": r["currency"],
            },
        )
        for r in first_open[: len(first_open) // 2]
    ]
    second.events += late_settles

    kinds = Counter(t for t, _ in first.events)
    settled_ids = [r["bet_id"] for t, r in first.events if t == "bet.settled"]
    assert len(settled_ids) > len(set(settled_ids)), "traffic must contain duplicate settlements"
    positions = {(t, r["bet_id"]): i for i, (t, r) in enumerate(first.events)}
    early = [
        b
        for (t, b), i in positions.items()
        if t == "bet.settled" and positions.get(("bet.placed", b), -1) > i
    ]
    assert early, "traffic must contain settlements sent before their placement"
    assert kinds["bet.placed"] == 1500

    players = sorted({r["player_id"] for _, r in first.events + second.events})
    want1 = expected_open(first.events)
    send(producer, first.events)
    assert wait_for(redis_client, stack, tenant, want1, players) == want1

    # kill -9 while the second batch is being consumed, then restart on an EMPTY state dir:
    # the table can only come back from its changelog topic.
    send(producer, second.events)
    time.sleep(1.0)
    worker.kill9()
    worker.state_dir = tmp_path / "state-after-crash"
    worker.start()
    want2 = expected_open(first.events + second.events)
    assert want2 != want1
    assert wait_for(redis_client, stack, tenant, want2, players) == want2

    # replaying everything again changes nothing
    send(producer, first.events + second.events)
    time.sleep(5)
    assert read_bets(redis_client, stack, tenant, players) == want2

    # the table's changelog is compacted
    admin = AdminClient({"bootstrap.servers": stack.kafka})
    resource = ConfigResource("topic", f"{worker.app_id}-open_bets-changelog")
    config = admin.describe_configs([resource])[resource].result()
    assert config["cleanup.policy"].value == "compact"
