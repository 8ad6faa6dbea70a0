"""kill -9 between the state flush and the offset commit: table state is ahead of the committed
offsets, the restarted worker replays events its state already holds, and nothing is counted
twice or fired again."""

from __future__ import annotations

import time
import uuid

import pytest

from sinks.read_models import model_key
from tests.integration.test_risk_agents import SignalReader, tenant_events
from tests.unit.rules_helpers import deposit, limit, utc
from tooling.promstats import scrape
from topics.admin import consumer_lag

pytestmark = pytest.mark.integration

INPUTS = ("player.limit", "payment.deposit")


@pytest.fixture
def worker_env() -> dict[str, str]:
    # state written every 0.2 s, offsets committed only every 10 minutes: a wide window
    return {
        "WAGERSTREAM_WORKER_STATE_FLUSH_S": "0.2",
        "WAGERSTREAM_WORKER_COMMIT_INTERVAL_S": "600",
    }


def _flushed(port: int) -> tuple[float, float]:
    """(events not yet written back, keys written back so far) of the player agent."""
    unflushed = sum(
        v
        for labels, v in scrape(port, "wagerstream_state_unflushed_events")
        if labels["agent"] == "players"
    )
    written = sum(
        v
        for labels, v in scrape(port, "wagerstream_state_flush_keys_sum")
        if labels["agent"] == "players"
    )
    return unflushed, written


def test_kill9_after_the_state_flush_and_before_the_commit_counts_nothing_twice(
    worker, producer, redis_client, stack, serde, supervisor, tmp_path
):
    tenant = f"flush{uuid.uuid4().hex[:8]}"
    day = "2026-06-11"
    setup, *deposits = tenant_events(
        tenant,
        "limited",
        [
            limit(utc(f"{day}T08:00"), "deposit", "day", 10000),
            deposit(utc(f"{day}T09:00"), 6000),
            deposit(utc(f"{day}T10:00"), 4001),
        ],
    )
    key = model_key(stack.redis_prefix, tenant, "limits", "limited")
    reader = SignalReader(stack.kafka, serde, tenant)

    producer.send(*setup)
    producer.flush()
    supervisor.wait(
        lambda: redis_client.hget(key, "deposit_day_limit") == "10000", "the limit in Redis", 60
    )
    for topic, record in deposits:
        producer.send(topic, record)
    producer.flush()
    supervisor.wait(
        lambda: redis_client.hget(key, "deposit_day_used") == "10001", "both deposits used", 60
    )
    supervisor.wait(lambda: len(reader.poll(1)) == 1, "the breach signal", 60)

    # every handled event's state written back, no offset committed: the window
    supervisor.wait(
        lambda: _flushed(worker.port)[0] == 0 and _flushed(worker.port)[1] >= 1,
        "the state flush after the deposits",
        30,
        progress=lambda: f"(unflushed, keys written) = {_flushed(worker.port)}",
    )
    lag = consumer_lag(stack.kafka, worker.app_id, INPUTS, stack.topic_partitions)
    assert lag == 3  # the limit and both deposits: none committed
    worker.kill9()

    # restart on an empty state dir, committing as usual: the state comes back from the
    # changelog (the limit and both deposits in it), the three events are replayed over it
    worker.state_dir = tmp_path / "state-after-crash"
    worker.extra_env = {"WAGERSTREAM_WORKER_STATE_FLUSH_S": "0.2"}
    worker.start()
    supervisor.wait(
        lambda: consumer_lag(stack.kafka, worker.app_id, INPUTS, stack.topic_partitions) == 0,
        "the replayed events committed",
        180,
    )
    time.sleep(2)  # a resent signal would be on the topic by now
    signals = reader.poll(2)
    assert [(s["topic"], s["code"], s["value_minor"]) for s in signals] == [
        ("limits.breach", "deposit_limit_day", 10001)
    ]
    limits = redis_client.hgetall(key)
    assert (limits["deposit_day_used"], limits["deposit_day_remaining"]) == ("10001", "0")

    # and the state goes on from there: one more minor unit is one more, not a recount
    producer.send("payment.deposit", {**deposit(utc(f"{day}T11:00"), 1)[1],
                                      "tenant_id": tenant, "player_id": "limited"})  # fmt: skip
    producer.flush()
    supervisor.wait(
        lambda: redis_client.hget(key, "deposit_day_used") == "10002", "the third deposit", 60
    )
