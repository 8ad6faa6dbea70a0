"""A worker frozen past its session timeout (SIGSTOP here; a paused VM, a stopped container or
a swapped-out process in production) wakes up as a zombie: the group gave its partitions to
another worker while it slept, and the table state it had not written back yet is older than
what the new owner wrote since. Written to the changelog, that stale state is what the next
owner restores, and the events the new owner handled meanwhile are lost for good: their
offsets are committed. (A busy chaos run lost a deposit this way and missed a structuring
alert.)"""

from __future__ import annotations

import signal
import uuid

import pytest

from sinks.read_models import model_key
from tests.integration.test_flush_commit import _flushed
from tests.integration.test_risk_agents import SignalReader, tenant_events
from tests.unit.rules_helpers import deposit, limit, utc
from tooling import supervisor as procs
from topics.admin import consumer_lag

pytestmark = pytest.mark.integration

INPUTS = ("player.limit", "payment.deposit")
SESSION_S = 6


@pytest.fixture
def worker_env() -> dict[str, str]:
    # a batch's state is written back at most every 30 s: the deposit below stays unwritten
    # while the worker is frozen
    return {
        "WAGERSTREAM_WORKER_STATE_FLUSH_S": "30",
        "WAGERSTREAM_SESSION_TIMEOUT_S": str(SESSION_S),
    }


def _rebalances(log: str) -> int:
    return log.count("Setting newly assigned partitions")


def test_a_worker_frozen_past_its_session_never_writes_its_stale_state_back(
    worker, producer, redis_client, stack, serde, supervisor, tmp_path
):
    tenant = f"stall{uuid.uuid4().hex[:8]}"
    day = "2026-06-11"
    setup, first, second, third = tenant_events(
        tenant,
        "limited",
        [
            limit(utc(f"{day}T08:00"), "deposit", "day", 10000),
            deposit(utc(f"{day}T09:00"), 6000),
            deposit(utc(f"{day}T10:00"), 4001),
            deposit(utc(f"{day}T11:00"), 1),
        ],
    )
    key = model_key(stack.redis_prefix, tenant, "limits", "limited")
    reader = SignalReader(stack.kafka, serde, tenant)
    lag = lambda: consumer_lag(stack.kafka, worker.app_id, INPUTS, stack.topic_partitions)  # noqa: E731

    # the limit's batch is the first after a quiet spell: written back and committed at once
    producer.send(*setup)
    producer.flush()
    supervisor.wait(lambda: lag() == 0, "the limit committed", 60, progress=lambda: f"lag {lag()}")
    producer.send(*first)
    producer.flush()
    supervisor.wait(
        lambda: redis_client.hget(key, "deposit_day_used") == "6000", "the first deposit", 60
    )
    assert _flushed(worker.port)[0] >= 1, "the first deposit's state must not be written yet"

    assert worker.child is not None
    stalled = worker.child
    stalled.signal(signal.SIGSTOP)
    try:
        # the group waits out the frozen worker's session, then the new worker owns every
        # partition: it restores the limit, handles the first deposit again, then the second
        env = {
            **worker.env(),
            "WAGERSTREAM_STATE_DIR": str(tmp_path / "second-state"),
            "WAGERSTREAM_WORKER_STATE_FLUSH_S": "0.2",
        }
        second_worker = procs.worker(
            f"second-{worker.app_id}", tmp_path / "second.log", procs.free_port(), env
        )
        supervisor.start(second_worker, timeout=180)
        producer.send(*second)
        producer.flush()
        supervisor.wait(
            lambda: redis_client.hget(key, "deposit_day_used") == "10001",
            "the second deposit, handled by the new owner",
            60,
        )
        supervisor.wait(
            lambda: lag() == 0, "the new owner's commit", 60, progress=lambda: f"lag {lag()}"
        )
    finally:
        stalled.signal(signal.SIGCONT)

    # the frozen worker wakes, finds it was dropped from the group and joins again
    before = _rebalances(stalled.log.read_text(errors="replace"))
    supervisor.wait(
        lambda: _rebalances(stalled.log.read_text(errors="replace")) > before,
        "the frozen worker back in the group",
        120,
    )
    supervisor.wait(lambda: lag() == 0, "the group caught up", 60, progress=lambda: f"lag {lag()}")
    second_worker.stop()
    worker.stop()

    # whoever owns the player next restores the table from its changelog: it must hold both
    # deposits (10,001), not the frozen worker's picture from before the second (6,000)
    worker.state_dir = tmp_path / "state-from-the-changelog"
    worker.extra_env = {"WAGERSTREAM_WORKER_STATE_FLUSH_S": "0.2"}
    worker.start()
    producer.send(*third)
    producer.flush()
    supervisor.wait(
        lambda: redis_client.hget(key, "deposit_day_used") == "10002",
        "the third deposit on top of both others",
        60,
        progress=lambda: f"deposit_day_used {redis_client.hget(key, 'deposit_day_used')}",
    )
    breaches = [(s["topic"], s["code"], s["value_minor"]) for s in reader.poll(2)]
    assert breaches[0] == ("limits.breach", "deposit_limit_day", 10001)
